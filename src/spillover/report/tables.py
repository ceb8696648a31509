"""One regression table model, many renderers.

:meth:`Table.from_results` takes any list of fitted models -- spillover's
spatial results, linearmodels panel/IV results, statsmodels OLS results --
turns each into one column record (duck typing, see :func:`column_record`)
and lays the table out once as rows of cells::

    header      column names; model; dependent variable
    coef        regressors (intercept last)
    wx          W*x terms, labelled "W × <label>"
    spatial     rho, lambda
    impacts     direct / indirect / total effect per x (optional)
    indicator   unit effects, time effects, method, W
    stat        observations, N, T, R-squared (one row per kind), log-likelihood, AIC

Each estimate is followed by a row holding its standard error (``stat="se"``)
or t/z statistic (``stat="t"``) in parentheses; stars mark p-values below the
``stars`` levels and a legend is added to the notes. The renderers
(:meth:`Table.to_latex`, :meth:`~Table.to_html`, :meth:`~Table.to_markdown`,
:meth:`~Table.to_csv`, :meth:`~Table.to_excel`, :meth:`~Table.to_docx`) read
the same layout, so every format shows the same cells; :meth:`Table.numbers`
returns the unrounded numbers behind them as a tidy frame (what
``spillover verify`` compares).

The layout follows the conventions of Stata's ``esttab``, R's
``modelsummary`` and pyfixest's ``etable``; :func:`compare` is the
one-call form (like linearmodels' ``compare``).

Examples
--------
>>> table = Table.from_results([ols, sar, sdm], ["OLS", "SAR", "SDM"],
...                            impacts=dict(draws=1000, seed=0), labels={"logp": "Price"})
>>> table.write(Path("results/tables/baseline"))   # .tex .html .md .csv .xlsx .docx
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sp_stats

from spillover.errors import SpecificationError, format_error
from spillover.report.adapters import (  # noqa: F401 -- ColumnRecord and column_record are public here too
    EFFECTS,
    ColumnRecord,
    _impacts_frame,
    _impacts_note,
    _num,
    _resolve_impacts,
    column_record,
)

__all__ = ["Cell", "ColumnRecord", "Row", "Table", "column_record", "compare", "FORMATS"]

#: File formats :meth:`Table.write` knows, by file extension.
FORMATS = ("tex", "html", "md", "csv", "xlsx", "docx")

#: Names treated as the intercept (moved to the end of the regressor block).
INTERCEPT_NAMES = ("Intercept", "const", "(Intercept)", "_cons")

#: Parameters of the spatial block, in display order.
SPATIAL_PARAMS = ("rho", "lambda")


#: Default labels of the fixed rows; any key can be overridden through ``labels``.
DEFAULT_LABELS: dict[str, str] = {
    "model": "Model",
    "depvar": "Dependent variable",
    "intercept": "Constant",
    "direct": "Direct effects",
    "indirect": "Indirect effects",
    "total": "Total effects",
    "unit_effects": "Unit effects",
    "time_effects": "Time effects",
    "method": "Method",
    "w": "W",
    "nobs": "Observations",
    "N": "N",
    "T": "T",
    "llf": "Log-likelihood",
    "aic": "AIC",
    "yes": "Yes",
    "no": "No",
    "random": "Random",
}

#: Mark on every cell fed by a flagged estimate (not converged, at a bound, outside the stable region).
FLAG_MARK = "†"

#: Block names, in display order.
BLOCKS = ("header", "coef", "wx", "spatial", "impacts", "indicator", "stat")
#: Blocks drawn together between two rules.
_GROUP = {"header": 0, "coef": 1, "wx": 1, "spatial": 1, "impacts": 2, "indicator": 3, "stat": 4}


# ---------------------------------------------------------------- layout
@dataclass(frozen=True)
class Cell:
    """One table cell.

    Attributes
    ----------
    text : str
        The formatted number or text, without stars (``"0.123"``, ``"(0.045)"``, ``"Yes"``).
    value : float or None
        The unrounded number behind ``text`` (None for text cells).
    stars : str
        ``"*"``, ``"**"``, ... for estimates; empty otherwise.
    kind : str
        ``"coef"``, ``"se"``, ``"t"``, ``"int"``, ``"float"`` or ``"text"``.
    se, t, p : float or None
        Inference of an estimate (``kind="coef"``), kept for :meth:`Table.numbers`.
    """

    text: str = ""
    value: float | None = None
    stars: str = ""
    kind: str = "text"
    se: float | None = None
    t: float | None = None
    p: float | None = None

    @property
    def full(self) -> str:
        """The text with its stars."""
        return self.text + self.stars


@dataclass(frozen=True)
class Row:
    """One table row: ``key`` identifies it (``"logp"``, ``"logp|se"``, ``"direct:logp"``, ``"stat:nobs"``)."""

    key: str
    label: str
    block: str
    cells: tuple[Cell, ...]
    subhead: bool = False

    @property
    def is_beneath(self) -> bool:
        """True for the parenthesised SE/t row under an estimate."""
        return self.key.endswith("|se") or self.key.endswith("|t")


def format_number(value: float | None, digits: int) -> str:
    """``value`` with ``digits`` decimals; ``""`` for missing values; no negative zero."""
    if value is None or not math.isfinite(value):
        return ""
    text = f"{value:.{digits}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return text


def star_string(p: float | None, levels: Sequence[float]) -> str:
    """One star per level in ``levels`` that ``p`` is below (``p < level``)."""
    if p is None or not math.isfinite(p):
        return ""
    return "*" * sum(p < lv for lv in levels)


def _level_text(level: float) -> str:
    text = f"{level:.2f}"
    return text if float(text) == level else f"{level:g}"


def star_legend(levels: Sequence[float]) -> str:
    """E.g. ``"* p<0.10, ** p<0.05, *** p<0.01"`` for levels sorted from loosest to strictest."""
    return ", ".join(f"{'*' * (i + 1)} p<{_level_text(lv)}" for i, lv in enumerate(levels))


def _estimate_rows(key: str, label: str, block: str, entries: list, *, stat: str, digits: int,
                   levels: Sequence[float]) -> list[Row]:
    """The estimate row and the parenthesised row beneath it; ``entries`` holds (coef, se, t, p) or None."""
    top, below = [], []
    for e in entries:
        if e is None:
            top.append(Cell())
            below.append(Cell())
            continue
        coef, se, t, p = (_num(v) for v in e)
        top.append(Cell(format_number(coef, digits), coef, star_string(p, levels), "coef", se, t, p))
        second = se if stat == "se" else t
        txt = format_number(second, digits)
        below.append(Cell(f"({txt})" if txt else "", second, "", stat))
    return [Row(key, label, block, tuple(top)), Row(f"{key}|{stat}", "", block, tuple(below))]


def _ordered_union(lists: list[list[str]]) -> list[str]:
    seen: dict[str, None] = {}
    for names in lists:
        for n in names:
            seen.setdefault(n, None)
    return list(seen)


def _split_params(names: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Regressors (intercept last), W*x terms and spatial parameters."""
    spatial = [n for n in SPATIAL_PARAMS if n in names]
    wx = [n for n in names if n.startswith("W*")]
    rest = [n for n in names if n not in spatial and n not in wx]
    coef = [n for n in rest if n not in INTERCEPT_NAMES] + [n for n in rest if n in INTERCEPT_NAMES]
    return coef, wx, spatial


class _Labeller:
    """Display labels: user ``labels`` first, then the defaults; ``W*x`` -> ``"W × <label of x>"``."""

    def __init__(self, labels: Mapping[str, str] | None):
        self.user = dict(labels or {})

    def __call__(self, key: str) -> str:
        if key in self.user:
            return str(self.user[key])
        if key.startswith("W*"):
            return f"W × {self(key[2:])}"
        if key in INTERCEPT_NAMES:
            return self("intercept")
        base, sep, tail = key.rpartition(" (")
        if sep and tail.endswith(")") and base in self.user:  # "x (short run)" with x labelled: keep the qualifier
            return f"{self(base)}, {tail[:-1]}"
        return DEFAULT_LABELS.get(key, key)

    def rsquared(self, label: str) -> str:
        if label in self.user:
            return str(self.user[label])
        return "R²" + label[2:] if label.startswith("R2") else label


def _fe_flags(fe: str | None) -> tuple[str | None, str | None]:
    """(unit effects, time effects) keys for a ``fe`` value."""
    if fe is None:
        return None, None
    unit = {"entity": "yes", "twoways": "yes", "random": "random"}.get(fe, "no")
    time = "yes" if fe in ("time", "twoways") else "no"
    return unit, time


def _layout(records: list[ColumnRecord], imps: list[pd.DataFrame | None], *, stat: str, digits: int,
            levels: Sequence[float], lab: _Labeller) -> list[Row]:
    rows: list[Row] = []

    def text_row(key: str, values: list[str | None], block: str) -> None:
        if any(values):
            rows.append(Row(key, lab(key), block, tuple(Cell(v or "") for v in values)))

    text_row("model", [r.model for r in records], "header")
    text_row("depvar", [lab(r.depvar) if r.depvar else None for r in records], "header")

    names = _ordered_union([list(r.coefs.index) for r in records])
    coef, wx, spatial = _split_params(names)
    for block, keys in (("coef", coef), ("wx", wx), ("spatial", spatial)):
        for k in keys:
            entries = [tuple(r.coefs.loc[k, ["coef", "se", "t", "p"]].astype(float)) if k in r.coefs.index else None
                       for r in records]
            rows += _estimate_rows(k, lab(k), block, entries, stat=stat, digits=digits, levels=levels)

    if any(t is not None for t in imps):
        xs = _ordered_union([list(map(str, t.index)) for t in imps if t is not None])
        for eff in EFFECTS:
            rows.append(Row(eff, lab(eff), "impacts", tuple(Cell() for _ in records), subhead=True))
            for x in xs:
                entries = []
                for t in imps:
                    if t is None or x not in t.index.astype(str):
                        entries.append(None)
                        continue
                    r = t.loc[t.index.astype(str) == x].iloc[0]
                    coef_, se_ = _num(r[eff]), _num(r.get(f"{eff}_se"))
                    z = _num(r.get(f"{eff}_z", r.get(f"{eff}_t")))
                    if z is None and coef_ is not None and se_:
                        z = coef_ / se_
                    p = _num(r.get(f"{eff}_p"))
                    if p is None and z is not None:
                        p = float(2 * sp_stats.norm.sf(abs(z)))
                    entries.append((coef_, se_, z, p))
                rows += _estimate_rows(f"{eff}:{x}", lab(x), "impacts", entries, stat=stat, digits=digits,
                                       levels=levels)

    flags = [_fe_flags(r.fe) for r in records]
    text_row("unit_effects", [lab(u) if u else None for u, _ in flags], "indicator")
    text_row("time_effects", [lab(t) if t else None for _, t in flags], "indicator")
    text_row("method", [r.method for r in records], "indicator")
    text_row("w", [r.w_label for r in records], "indicator")

    def stat_row(key: str, label: str, values: list[float | None], kind: str) -> None:
        if any(v is not None for v in values):
            cells = tuple(Cell("" if v is None else (f"{v:.0f}" if kind == "int" else format_number(v, digits)),
                               v, "", kind) for v in values)
            rows.append(Row(key, label, "stat", cells))

    for key, kind in (("nobs", "int"), ("N", "int"), ("T", "int")):
        stat_row(f"stat:{key}", lab(key), [r.stats.get(key) for r in records], kind)
    r2_labels = _ordered_union([[r.stats["rsquared_label"]] for r in records
                                if r.stats.get("rsquared") is not None])
    for rl in r2_labels:
        values = [r.stats.get("rsquared") if r.stats.get("rsquared_label") == rl else None for r in records]
        stat_row(f"stat:rsquared:{rl}", lab.rsquared(rl), values, "float")
    stat_row("stat:llf", lab("llf"), [r.stats.get("llf") for r in records], "float")
    stat_row("stat:aic", lab("aic"), [r.stats.get("aic") for r in records], "float")
    for key in _ordered_union([list(r.stats.get("extra", {})) for r in records]):
        stat_row(f"stat:{key}", lab(key), [r.stats.get("extra", {}).get(key) for r in records], "float")
    return rows


def _mark_row(row: Row, columns: list[int]) -> Row:
    """``row`` with :data:`FLAG_MARK` after the stars of its estimates (and its model name) in ``columns``."""
    if not columns or not (row.key == "model" or any(c.kind == "coef" for c in row.cells)):
        return row
    cells = list(row.cells)
    for j in columns:
        c = cells[j]
        if row.key == "model":
            cells[j] = replace(c, text=c.text + FLAG_MARK)
        elif c.kind == "coef":
            cells[j] = replace(c, stars=c.stars + FLAG_MARK)
    return replace(row, cells=tuple(cells))


# ---------------------------------------------------------------- the table
@dataclass(frozen=True, eq=False)
class Table:
    """A laid-out regression table (build it with :meth:`from_results` or :func:`compare`).

    Attributes
    ----------
    columns : tuple of str
        Column (model) names.
    rows : tuple of Row
        Header, estimate, indicator and statistic rows, in display order.
    title : str or None
    notes : tuple of str
        User notes followed by the statistic and star legends.
    digits : int
    stat : {"se", "t"}
    stars : tuple of float
        Significance levels, loosest first.
    """

    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    title: str | None = None
    notes: tuple[str, ...] = ()
    digits: int = 3
    stat: str = "se"
    stars: tuple[float, ...] = (0.10, 0.05, 0.01)

    # -- construction ------------------------------------------------------
    @classmethod
    def from_results(
        cls,
        results: Sequence,
        names: Sequence[str] | None = None,
        *,
        stat: str = "se",
        stars: Sequence[float] | None = (0.10, 0.05, 0.01),
        digits: int = 3,
        impacts: Sequence | Mapping | bool | None = None,
        labels: Mapping[str, str] | None = None,
        title: str | None = None,
        notes: str | Sequence[str] | None = None,
    ) -> Table:
        """Lay out a table with one column per fitted model.

        Parameters
        ----------
        results : sequence
            Fitted models: spillover spatial results, linearmodels results
            (PanelOLS, PooledOLS, RandomEffects, IV), statsmodels results, or
            :class:`ColumnRecord` objects (see :func:`column_record`).
        names : sequence of str, optional
            Column names (unique); default ``"(1)", "(2)", ...``.
        stat : {"se", "t"}
            What goes in parentheses beneath each estimate: standard errors or
            t (z for maximum likelihood) statistics.
        stars : sequence of float or None
            Significance levels; a coefficient gets one star per level its
            p-value is below. Default ``(0.10, 0.05, 0.01)``; ``None`` or ``()``
            for no stars.
        digits : int
            Decimals of estimates, SEs/t and fit statistics.
        impacts : sequence, mapping, bool or None
            Direct/indirect/total effects block. A sequence gives one entry per
            result: an impacts object (``res.impacts(...)``), its ``.table``,
            or None. ``True`` or a mapping of keyword arguments
            (e.g. ``dict(draws=1000, seed=0, method="simulation")``) computes
            them here, once per column, for the results that have impacts.
        labels : mapping of str to str, optional
            Display labels by variable name (also ``W*x`` names, R-squared
            kinds such as ``"R2 (within)"`` and the fixed row keys ``model``,
            ``depvar``, ``intercept``, ``direct``, ``indirect``, ``total``,
            ``unit_effects``, ``time_effects``, ``method``, ``w``, ``nobs``,
            ``N``, ``T``, ``llf``, ``aic``, ``yes``, ``no``, ``random``). Spatial
            lags are labelled ``"W × <label>"`` unless ``W*x`` has its own label.
        title : str, optional
        notes : str or sequence of str, optional
            Printed below the table, before the legends.

        Returns
        -------
        Table
        """
        results = list(results)
        if not results:
            raise SpecificationError(format_error("no results to tabulate", option="results"))
        if stat not in ("se", "t"):
            raise SpecificationError(format_error(f"stat={stat!r} is not supported", option="stat",
                                                  hint="choose 'se' or 't'"))
        if int(digits) != digits or digits < 0:
            raise SpecificationError(format_error(f"digits={digits!r} must be a non-negative integer", option="digits"))
        names = [f"({i + 1})" for i in range(len(results))] if names is None else [str(n) for n in names]
        if len(names) != len(results):
            raise SpecificationError(format_error(f"{len(names)} names for {len(results)} results", option="names"))
        if len(set(names)) != len(names):
            raise SpecificationError(format_error("column names must be unique", option="names", names=names))
        levels = tuple(sorted((float(s) for s in (stars or ())), reverse=True))
        if any(not 0 < lv < 1 for lv in levels):
            raise SpecificationError(format_error("star levels must lie in (0, 1)", option="stars", stars=levels))

        records = [column_record(r) for r in results]
        imp_objs = _resolve_impacts(impacts, results, records)
        imps = [_impacts_frame(o) for o in imp_objs]
        rows = _layout(records, imps, stat=stat, digits=int(digits), levels=levels, lab=_Labeller(labels))
        flagged = [j for j, r in enumerate(records) if r.flags]
        rows = [_mark_row(r, flagged) for r in rows]

        all_notes = [notes] if isinstance(notes, str) else list(notes or [])
        all_notes += [f"{FLAG_MARK} {names[j]}: {'; '.join(records[j].flags)}; read its estimates with care."
                      for j in flagged]
        all_notes.append("Standard errors in parentheses." if stat == "se"
                         else "t statistics (z for maximum likelihood) in parentheses.")
        all_notes += list(dict.fromkeys(n for n in map(_impacts_note, imp_objs) if n))
        if levels:
            all_notes.append(star_legend(levels) + ".")
        return cls(columns=tuple(names), rows=tuple(rows), title=title, notes=tuple(all_notes), digits=int(digits),
                   stat=stat, stars=levels)

    # -- data views ----------------------------------------------------------
    @property
    def header_rows(self) -> list[Row]:
        """Rows of the header block (model, dependent variable), shown under the column names."""
        return [r for r in self.rows if r.block == "header"]

    def body_groups(self) -> list[list[Row]]:
        """Body rows in groups separated by rules: estimates, impacts, indicators, statistics."""
        groups: dict[int, list[Row]] = {}
        for r in self.rows:
            if r.block != "header":
                groups.setdefault(_GROUP[r.block], []).append(r)
        return [groups[k] for k in sorted(groups)]

    def to_frame(self) -> pd.DataFrame:
        """The formatted cells (stars included) as strings: index = row labels, columns = column names."""
        data = [[c.full for c in r.cells] for r in self.rows]
        return pd.DataFrame(data, index=pd.Index([r.label for r in self.rows], name=""), columns=list(self.columns))

    def numbers(self) -> pd.DataFrame:
        """The unrounded numbers behind the table, tidy.

        Returns
        -------
        pandas.DataFrame
            One row per (column, estimate) with columns ``column``, ``row``
            (parameter name, ``"direct:x"`` for impacts, ``"stat:nobs"`` ...
            for fit statistics), ``block``, ``label``, ``coef``, ``se``, ``t``,
            ``p``. Fit statistics carry their value in ``coef``.
        """
        def nan(v: float | None) -> float:
            return np.nan if v is None else v

        recs = []
        for row in self.rows:
            if row.block in ("header", "indicator") or row.subhead or row.is_beneath:
                continue
            for col, cell in zip(self.columns, row.cells):
                if cell.value is None:
                    continue
                recs.append({"column": col, "row": row.key, "block": row.block, "label": row.label,
                             "coef": cell.value, "se": nan(cell.se), "t": nan(cell.t), "p": nan(cell.p)})
        return pd.DataFrame(recs, columns=["column", "row", "block", "label", "coef", "se", "t", "p"])

    # -- renderers -------------------------------------------------------------
    def to_latex(self, *, star_style: str = "sup", label: str | None = None, float_env: bool = True) -> str:
        """LaTeX (booktabs) source; see :func:`spillover.report._render_text.latex`."""
        from spillover.report._render_text import latex

        return latex(self, star_style=star_style, label=label, float_env=float_env)

    def to_html(self, *, full: bool = False) -> str:
        """An HTML ``<table>`` and notes (``full=True``: a complete UTF-8 document)."""
        from spillover.report._render_text import html

        return html(self, full=full)

    def to_markdown(self) -> str:
        """A GitHub-flavoured Markdown pipe table with the title above and notes below."""
        from spillover.report._render_text import markdown

        return markdown(self)

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the formatted table as UTF-8 CSV with a BOM (``utf-8-sig``, so Excel reads Chinese); atomic."""
        from spillover.report._render_office import write_csv

        return write_csv(self, Path(path))

    def to_excel(self, path: str | os.PathLike[str]) -> Path:
        """Write an .xlsx workbook (sheet ``table`` with numeric cells, sheet ``numbers`` tidy); atomic."""
        from spillover.report._render_office import write_xlsx

        return write_xlsx(self, Path(path))

    def to_docx(self, path: str | os.PathLike[str]) -> Path:
        """Write a Word document with a three-line table, title above and notes below; atomic."""
        from spillover.report._render_office import write_docx

        return write_docx(self, Path(path))

    def write(self, stem: str | os.PathLike[str], formats: Sequence[str] = FORMATS) -> list[Path]:
        """Write ``stem.<ext>`` for each format, each atomically (temporary file + ``os.replace``).

        Parameters
        ----------
        stem : path
            Output path without extension; its folder is created.
        formats : sequence of str
            Any of ``"tex"``, ``"html"``, ``"md"``, ``"csv"``, ``"xlsx"``, ``"docx"``.

        Returns
        -------
        list of pathlib.Path
            The files written, in the order of ``formats``.
        """
        from spillover.io import atomic_write_text

        stem = Path(stem)
        unknown = [f for f in formats if f not in FORMATS]
        if unknown:
            raise SpecificationError(format_error("unknown table format", option="formats", format=unknown[0],
                                                  hint=f"choose from {list(FORMATS)}"))
        writers = {
            "tex": lambda p: atomic_write_text(p, self.to_latex()),
            "html": lambda p: atomic_write_text(p, self.to_html(full=True)),
            "md": lambda p: atomic_write_text(p, self.to_markdown()),
            "csv": self.to_csv,
            "xlsx": self.to_excel,
            "docx": self.to_docx,
        }
        out = []
        for fmt in dict.fromkeys(formats):
            path = stem.with_name(f"{stem.name}.{fmt}")
            writers[fmt](path)
            out.append(path)
        return out

    def __str__(self) -> str:
        return self.to_markdown()


def compare(results: Sequence | Mapping, names: Sequence[str] | None = None, **kwargs) -> Table:
    """Side-by-side table of fitted models (like linearmodels' ``compare`` or pyfixest's ``etable``).

    Parameters
    ----------
    results : sequence or mapping
        Fitted models; a mapping gives ``{column name: result}``.
    names : sequence of str, optional
        Column names when ``results`` is a sequence.
    **kwargs
        Passed to :meth:`Table.from_results` (``stat``, ``stars``, ``digits``,
        ``impacts``, ``labels``, ``title``, ``notes``).

    Returns
    -------
    Table
    """
    if isinstance(results, Mapping):
        if names is not None:
            raise SpecificationError(format_error("names given twice", option="names",
                                                  hint="pass a mapping or a list with names, not both"))
        names, results = list(results.keys()), list(results.values())
    return Table.from_results(list(results), names, **kwargs)
