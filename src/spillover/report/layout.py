"""Layout of a regression table: cells, rows and the order of blocks, independent of any file format.

:func:`layout` turns column records (:mod:`spillover.report.adapters`) and
impacts frames into rows of :class:`Cell`; :class:`spillover.report.tables.Table`
holds them, and the renderers (:mod:`spillover.report.render_text`,
:mod:`spillover.report.write_office`) draw the same rows in every format.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import pandas as pd
from scipy import stats as sp_stats

from spillover.labels import METHOD_TEXT
from spillover.report.adapters import EFFECTS, ColumnRecord, _num

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

#: How each estimation method is written for readers (``"lee-yu, QML"`` -> ``"Lee-Yu transformation, QML"``);
#: a ``labels`` entry ``"method:<name>"`` overrides one.
METHOD_LABELS: dict[str, str] = METHOD_TEXT

#: What a log-likelihood (and so an AIC) is the likelihood of, by method; the table gives each kind its own
#: row, because likelihoods of differently transformed data cannot be compared.
LIKELIHOOD_KINDS: dict[str, str] = {
    "lee-yu": "Lee-Yu transformed",
    "direct": "demeaned",
    "direct-unbalanced": "demeaned",
    "within": "within",
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
        inner = tail[:-1]
        if sep and tail.endswith(")") and (inner in self.user or inner.startswith("W*")):
            return f"{self(base)} ({self(inner)})"  # "First stage: partial F (x)" or "(W*x)": label the x
        if key.endswith("(t-1)") and key[:-5] in self.user:  # the lagged dependent variable of a dynamic model
            return f"{self(key[:-5])} (t-1)"
        return DEFAULT_LABELS.get(key, key)

    def method(self, method: str | None) -> str | None:
        """A method for readers: ``"lee-yu, bias-corrected"`` -> ``"Lee-Yu transformation, bias-corrected"``."""
        if method is None:
            return None
        if f"method:{method}" in self.user:
            return str(self.user[f"method:{method}"])
        head, sep, tail = method.partition(", ")
        return METHOD_LABELS.get(head, head) + sep + tail

    def qualified(self, key: str, kind: str | None) -> str:
        """``"Log-likelihood (Lee-Yu transformed)"``: a statistic's label with the kind of data it is of."""
        return self(key) if not kind else f"{self(key)} ({kind})"

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


def likelihood_kind(record: ColumnRecord) -> str:
    """The transformation the column's log-likelihood is of (a :data:`LIKELIHOOD_KINDS` key; ``""``: none)."""
    if record.fe in (None, "none", "random"):
        return ""
    head = (record.method or "").partition(", ")[0]
    return head if head in LIKELIHOOD_KINDS else ""


def layout(records: list[ColumnRecord], imps: list[pd.DataFrame | None], *, stat: str, digits: int,
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
    text_row("method", [lab.method(r.method) for r in records], "indicator")
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
    kinds = [likelihood_kind(r) for r in records]
    for kind in _ordered_union([[k] for k, r in zip(kinds, records) if r.stats.get("llf") is not None]):
        for key in ("llf", "aic"):
            values = [r.stats.get(key) if k == kind else None for k, r in zip(kinds, records)]
            stat_row(f"stat:{key}" + (f":{kind}" if kind else ""), lab.qualified(key, LIKELIHOOD_KINDS.get(kind)),
                     values, "float")
    for key in _ordered_union([list(r.stats.get("extra", {})) for r in records]):
        stat_row(f"stat:{key}", lab(key), [r.stats.get("extra", {}).get(key) for r in records], "float")
    return rows


def mark_row(row: Row, columns: list[int]) -> Row:
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
