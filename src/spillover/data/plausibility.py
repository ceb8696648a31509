"""Plausibility rules of a panel: sign and range, relations between columns, year-on-year jumps.

A :class:`Rule` is declared per catalog indicator (``check = {min = 0,
jump = 2}``) or per column of a user's panel (``[data.check] gdp = {min =
0}``); a relation such as ``"urban_pop <= pop"`` compares two columns cell by
cell. A value outside its range and a broken relation are errors naming the
cells; a jump (a unit's value changing by more than the stated factor between
two consecutive observed periods, either way) is reported as a
:class:`Finding`, and is an error where the rule says ``strict = true``. The
checks never change a number.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from spillover.errors import DataError, format_error

#: cells listed in one message
SHOWN = 5
_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
_RELATION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")


class Rule(BaseModel):
    """What values of one column are plausible.

    Attributes
    ----------
    min, max : float, optional
        Closed range of the stored values (e.g. ``min = 0`` for a count,
        ``max = 1`` for a share).
    jump : float, optional
        Largest plausible factor between a unit's values in two consecutive
        observed periods (``2``: neither doubling nor halving). A jump rule
        declares a positive quantity: a 0 next to a positive value (a
        placeholder for a missing cell) is an infinite factor; pairs with a
        negative value are not compared.
    strict : bool
        A jump beyond ``jump`` is an error (default: reported).
    positive : bool
        Every value must be above 0 (``min`` is inclusive: ``min = 0``
        accepts a 0): declares a strictly positive quantity, where a 0 is a
        placeholder for a missing cell or a garbled one, never a level.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float | None = None
    max: float | None = None
    jump: float | None = Field(None, gt=1.0)
    strict: bool = False
    positive: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Rule:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        if self.positive and self.max is not None and self.max <= 0:
            raise ValueError(f"positive = true but max {self.max:g} is not above 0")
        return self


@dataclass(frozen=True)
class Relation:
    """``left op right`` between two columns, e.g. ``urban_pop <= pop``."""

    left: str
    op: str
    right: str

    @classmethod
    def parse(cls, text: str) -> Relation:
        m = _RELATION.match(text)
        if m is None:
            raise ValueError(f"relation {text!r} must read 'column OP column' with OP one of <=, <, >=, >")
        return cls(m[1], m[2], m[3])

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@dataclass(frozen=True)
class Finding:
    """A reported (not strict) jump: the unit, the period, the value and the one before."""

    column: str
    unit: str
    period: int
    value: float
    previous: float
    previous_period: int
    factor: float
    limit: float

    def text(self) -> str:
        if np.isinf(self.factor):
            return (f"{self.column} goes from {self.previous:g} in {self.previous_period} to {self.value:g} in "
                    f"{self.period}: a 0 next to a positive value is an infinite jump (limit {self.limit:g}; a 0 "
                    "written for a missing value?)")
        return (f"{self.column} changes by a factor {self.factor:.3g} (limit {self.limit:g}) from "
                f"{self.previous:g} in {self.previous_period} to {self.value:g} in {self.period}")


def _cells(frame: pd.DataFrame, mask: np.ndarray, entity: str, time: str, show: Sequence[str]) -> str:
    sel = frame.loc[mask]
    parts = [f"({r[entity]}, {r[time]}): " + ", ".join(f"{c} = {r[c]:g}" for c in show)
             for _, r in sel.head(SHOWN).iterrows()]
    more = len(sel) - SHOWN
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def check(frame: pd.DataFrame, rules: Mapping[str, Rule], relations: Sequence[str | Relation] = (), *,
          entity: str, time: str, where: Mapping[str, object] | None = None,
          scale: Mapping[str, float] | None = None) -> list[Finding]:
    """Check ``frame`` (one row per unit and period) against ``rules`` and ``relations``.

    Parameters
    ----------
    frame : DataFrame
        Columns ``entity``, ``time`` and those the rules name.
    rules : mapping column -> Rule
    relations : sequence of "a <= b" (or :class:`Relation`)
    entity, time : str
        Key columns; they name the cells in messages.
    where : mapping, optional
        Locators for the messages (file, catalog, ...).
    scale : mapping column -> float, optional
        Factor to a common unit, applied before comparing a relation's two
        sides (a catalog's units); messages show the stored values.

    Returns
    -------
    list of Finding
        Jumps beyond a non-strict rule's limit.

    Raises
    ------
    DataError
        A rule or relation names a missing column; a value outside its range; a
        broken relation; a jump beyond a strict rule's limit. The message names
        up to five cells (unit, period, value) and how many more there are.
    """
    where = dict(where or {})
    scale = dict(scale or {})
    missing = [c for c in rules if c not in frame.columns]
    rels = [r if isinstance(r, Relation) else Relation.parse(r) for r in relations]
    missing += [c for r in rels for c in (r.left, r.right) if c not in frame.columns]
    if missing:
        raise DataError(format_error(f"plausibility rules name columns that do not exist: {sorted(set(missing))}",
                                     **where, hint=f"columns: {sorted(map(str, frame.columns))[:30]}"))
    findings: list[Finding] = []
    for col, rule in rules.items():
        x = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        for bound, bad, word in ((rule.min, lambda b: x < b, "below the declared minimum {:g}"),
                                 (rule.max, lambda b: x > b, "above the declared maximum {:g}"),
                                 (0.0 if rule.positive else None, lambda b: x <= b,
                                  "not above {:g} (the rule declares positive = true)")):
            if bound is None:
                continue
            mask = bad(bound)
            if mask.any():
                raise DataError(format_error(
                    f"{int(mask.sum())} value(s) of {col!r} {word.format(bound)}: "
                    f"{_cells(frame, mask, entity, time, [col])}", **where, column=col,
                    hint="a wrong unit or scale, a sign error, a 0 written for a missing value or a garbled "
                    "cell in the source; fix the entry (unit, column) or the rule, never the raw file"))
        if rule.jump is not None:
            findings += _jumps(frame, col, rule, entity, time, where)
    for rel in rels:
        a = pd.to_numeric(frame[rel.left], errors="coerce").to_numpy(dtype=float) * scale.get(rel.left, 1.0)
        b = pd.to_numeric(frame[rel.right], errors="coerce").to_numpy(dtype=float) * scale.get(rel.right, 1.0)
        both = np.isfinite(a) & np.isfinite(b)
        mask = both & ~_OPS[rel.op](np.where(both, a, 0.0), np.where(both, b, 0.0))
        if mask.any():
            raise DataError(format_error(
                f"{int(mask.sum())} cell(s) break the relation {rel}: "
                f"{_cells(frame, mask, entity, time, [rel.left, rel.right])}", **where, column=rel.left,
                hint="one of the two columns is wrong (unit, scale, swapped columns); fix the source entry"))
    return findings


def _jumps(frame: pd.DataFrame, col: str, rule: Rule, entity: str, time: str, where: dict) -> list[Finding]:
    assert rule.jump is not None
    obs = frame[[entity, time, col]].dropna(subset=[col]).sort_values([entity, time], kind="stable")
    prev = obs.groupby(entity, sort=False)[[col, time]].shift()
    v, p = obs[col].to_numpy(dtype=float), prev[col].to_numpy(dtype=float)
    ok = (v > 0) & (p > 0)
    factor = np.where(ok, np.maximum(v, p) / np.where(ok, np.minimum(v, p), 1.0), 1.0)
    # a 0 next to a positive value: a placeholder, not a level (the factor is infinite)
    factor = np.where(((v == 0) & (p > 0)) | ((v > 0) & (p == 0)), np.inf, factor)
    hit = factor > rule.jump
    found = [Finding(col, str(u), int(t), float(val), float(pv), int(pt), float(f), float(rule.jump))
             for u, t, val, pv, pt, f in zip(obs[entity][hit], obs[time][hit], v[hit], p[hit],
                                             prev[time][hit], factor[hit])]
    if found and rule.strict:
        shown = "; ".join(f"({f.unit}, {f.period}): {f.text()}" for f in found[:SHOWN])
        more = len(found) - SHOWN
        raise DataError(format_error(
            f"{len(found)} year-on-year jump(s) of {col!r} beyond the strict limit {rule.jump:g}: {shown}"
            + (f"; and {more} more" if more > 0 else ""), **where, column=col,
            hint="a truncated or shifted cell, or a change of unit between years; check the source"))
    return found


def findings_frame(findings: Sequence[Finding], entity: str = "unit", time: str = "period") -> pd.DataFrame:
    """Findings as a table (one row per reported cell)."""
    return pd.DataFrame([{"column": f.column, entity: f.unit, time: f.period, "value": f.value,
                          "previous": f.previous, f"previous_{time}": f.previous_period, "factor": f.factor,
                          "limit": f.limit} for f in findings],
                        columns=["column", entity, time, "value", "previous", f"previous_{time}", "factor", "limit"])
