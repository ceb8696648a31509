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

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

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
from spillover.report.layout import (  # noqa: F401 -- Cell, Row and the legends are public here too
    _GROUP,
    FLAG_MARK,
    Cell,
    Row,
    _Labeller,
    layout,
    mark_row,
    star_legend,
    star_string,
)

__all__ = ["Cell", "ColumnRecord", "Row", "Table", "column_record", "compare", "FORMATS"]

#: File formats :meth:`Table.write` knows, by file extension.
FORMATS = ("tex", "html", "md", "csv", "xlsx", "docx")

def _inference_note(stat: str, records: Sequence[ColumnRecord], names: Sequence[str]) -> str:
    """What the parentheses hold and how each column's standard errors were computed."""
    head = "Standard errors in parentheses" if stat == "se" else "t statistics (z for maximum likelihood) in parentheses"
    groups: dict[str, list[str]] = {}
    for rec, name in zip(records, names):
        if rec.cov:
            groups.setdefault(rec.cov, []).append(name)
    if not groups:
        return head + "."
    if len(groups) == 1:
        return f"{head}; standard errors: {next(iter(groups))}."
    return f"{head}; standard errors: " + "; ".join(f"{cov} ({', '.join(cols)})" for cov, cols in groups.items()) + "."


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.;])\s+", text) if s.strip()]


def once(notes: Sequence[str]) -> tuple[str, ...]:
    """The notes with every sentence said once: a sentence an earlier note already says is dropped.

    A generated note ("Standard errors in parentheses.") repeated in the
    study's own note, or the same impacts note for several columns, is
    printed once; a note left without sentences disappears.
    """
    seen: set[str] = set()
    out = []
    for note in notes:
        kept = [s for s in _sentences(note) if s.casefold() not in seen]
        seen.update(s.casefold() for s in _sentences(note))
        if kept:
            out.append(" ".join(kept))
    return tuple(out)


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
        rows = layout(records, imps, stat=stat, digits=int(digits), levels=levels, lab=_Labeller(labels))
        if all(r.model.lower() in n.lower() for r, n in zip(records, names)):
            rows = [r for r in rows if r.key != "model"]  # the column headers already name every model
        flagged = [j for j, r in enumerate(records) if r.flags]
        rows = [mark_row(r, flagged) for r in rows]

        all_notes = [notes] if isinstance(notes, str) else list(notes or [])
        all_notes += [f"{FLAG_MARK} {names[j]}: {'; '.join(records[j].flags)}; read its estimates with care."
                      for j in flagged]
        all_notes += [f"{names[j]}: {n}." for j, r in enumerate(records) for n in r.notes]
        all_notes.append(_inference_note(stat, records, names))
        all_notes += [n for n in map(_impacts_note, imp_objs) if n]
        if levels:
            all_notes.append(star_legend(levels) + ".")
        return cls(columns=tuple(names), rows=tuple(rows), title=title, notes=once(all_notes), digits=int(digits),
                   stat=stat, stars=levels)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        digits: int | Mapping[str, int] = 3,
        labels: Mapping[str, str] | None = None,
        title: str | None = None,
        notes: str | Sequence[str] | None = None,
    ) -> Table:
        """Lay out a frame of numbers (a descriptive result, not fitted models) as a table.

        Parameters
        ----------
        frame : pandas.DataFrame
            Index = row keys; columns = column names as shown. A two-level
            index groups the rows under a subhead per value of the first
            level (row key ``"first|second"``). Float cells are rounded to
            ``digits``, integer columns printed exactly, text cells kept, NaN
            left empty.
        digits : int or mapping of str to int
            Decimals, for every column or per column name (default 3).
        labels : mapping of str to str, optional
            Display label of a row key (either level); default the key itself.
        title : str, optional
        notes : str or sequence of str, optional

        Returns
        -------
        Table
            :meth:`numbers` gives each number under its row key and column name.
        """
        from spillover.report.layout import format_number

        if frame.columns.has_duplicates:
            raise SpecificationError(format_error("column names must be unique", option="frame",
                                                  names=list(frame.columns)))
        labels = labels or {}
        places = {str(c): int(digits.get(str(c), 3) if isinstance(digits, Mapping) else digits)
                  for c in frame.columns}

        def cell(value, column: str) -> Cell:
            if isinstance(value, str):
                return Cell(text=value)
            if value is None or pd.isna(value):
                return Cell()
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                return Cell(text=f"{int(value):d}", value=float(value), kind="int")
            return Cell(text=format_number(float(value), places[column]), value=float(value), kind="float")

        def row(key: str, name: str, values) -> Row:
            return Row(key=key, label=labels.get(name, name), block="coef",
                       cells=tuple(cell(v, str(c)) for v, c in zip(values, frame.columns)))

        rows: list[Row] = []
        head = None
        for idx, values in zip(frame.index, frame.itertuples(index=False)):
            if frame.index.nlevels == 2:
                if str(idx[0]) != head:
                    head = str(idx[0])
                    rows.append(Row(key=head, label=labels.get(head, head), block="coef",
                                    cells=tuple(Cell() for _ in frame.columns), subhead=True))
                rows.append(row(f"{idx[0]}|{idx[1]}", str(idx[1]), values))
            else:
                rows.append(row(str(idx), str(idx), values))
        note_list = [notes] if isinstance(notes, str) else list(notes or [])
        return cls(columns=tuple(str(c) for c in frame.columns), rows=tuple(rows), title=title,
                   notes=once(note_list), digits=max(places.values(), default=3), stat="se", stars=())

    def translated(self, tr: Callable[[str], str]) -> Table:
        """This table with every text run through ``tr`` (:class:`spillover.report.i18n.Translator`).

        Numbers, stars, row keys and the order of rows are untouched, so
        :meth:`numbers` keys stay those of the original; only the title,
        column names, row labels, text cells and notes change. Pass the
        variable labels of the target language to :meth:`from_results` and
        translate the rest here. LaTeX of a Chinese table needs a CJK-capable
        preamble (``xeCJK`` or ``ctex``).
        """
        rows = tuple(replace(r, label=tr(r.label) if r.label else r.label,
                             cells=tuple(replace(c, text=tr(c.text)) if c.kind == "text" and c.text else c
                                         for c in r.cells)) for r in self.rows)
        return replace(self, columns=tuple(tr(c) for c in self.columns), rows=rows,
                       title=tr(self.title) if self.title else self.title, notes=tuple(tr(n) for n in self.notes))

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
        """LaTeX (booktabs) source; see :func:`spillover.report.render_text.latex`."""
        from spillover.report.render_text import latex

        return latex(self, star_style=star_style, label=label, float_env=float_env)

    def to_html(self, *, full: bool = False) -> str:
        """An HTML ``<table>`` and notes (``full=True``: a complete UTF-8 document)."""
        from spillover.report.render_text import html

        return html(self, full=full)

    def to_markdown(self) -> str:
        """A GitHub-flavoured Markdown pipe table with the title above and notes below."""
        from spillover.report.render_text import markdown

        return markdown(self)

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the formatted table as UTF-8 CSV with a BOM (``utf-8-sig``, so Excel reads Chinese); atomic."""
        from spillover.report.write_office import write_csv

        return write_csv(self, Path(path))

    def to_excel(self, path: str | os.PathLike[str]) -> Path:
        """Write an .xlsx workbook (sheet ``table`` with numeric cells, sheet ``numbers`` tidy); atomic."""
        from spillover.report.write_office import write_xlsx

        return write_xlsx(self, Path(path))

    def to_docx(self, path: str | os.PathLike[str]) -> Path:
        """Write a Word document with a three-line table, title above and notes below; atomic."""
        from spillover.report.write_office import write_docx

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
