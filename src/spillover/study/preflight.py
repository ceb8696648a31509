"""Before any estimation: every column a study names exists in the panel, and is numeric where it must be.

:func:`check_columns` reads the whole study once the panel is built (its
derived columns and indices included) and collects every problem into one
:class:`~spillover.errors.SpecificationError`, each line naming the spec
entry, the key and the column, with the panel's columns that come closest.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator

import pandas as pd

from spillover.errors import SpecificationError
from spillover.formula import variables
from spillover.study.spec import Study

#: (entry, key) of the spec, a column it reads, and whether the column must be numeric
Need = tuple[str, str, str, bool]


def _formula(entry: str, formula: str) -> Iterator[Need]:
    found = variables(formula)
    if not found and "~" in formula:
        yield entry, "formula", f"<unreadable formula {formula!r}>", False
    for name in sorted(found):
        yield entry, "formula", name, False  # the formula layer names a text column itself


def _names(entry: str, key: str, names: Iterable[str | None], numeric: bool) -> Iterator[Need]:
    for name in names:
        if name:
            yield entry, key, name, numeric


def needs(study: Study) -> Iterator[Need]:
    """Every (entry, key, column, numeric?) the study reads from the panel."""
    d = study.data
    yield from _names("[data]", "group", [d.group], False)
    yield from _names("[data]", "describe", d.describe, True)
    yield from _names("[data]", "check", d.check, True)
    yield from _names("[data]", "unit_names", d.unit_names.values(), False)
    for name, w in study.weights.items():
        yield from _names(f"[weights.{name}]", "variable", [w.variable], True)
        yield from _names(f"[weights.{name}]", "coords", w.coords or [], True)
    for e in study.estimate:
        yield from _formula(f"[[estimate]] {e.name!r}", e.formula)
        yield from _names(f"[[estimate]] {e.name!r}", "lag", e.lag, True)
    for m in study.moran:
        yield from _names(f"[[moran]] {m.name!r}", "variables", m.variables, True)
    for g in study.diagnose:
        yield from _formula(f"[[diagnose]] {g.name!r}", g.formula)
    for m in study.mediation:
        yield from _formula(f"[[mediation]] {m.name!r}", m.formula)
        yield from _names(f"[[mediation]] {m.name!r}", "treatment", [m.treatment], True)
        yield from _names(f"[[mediation]] {m.name!r}", "mediators", m.mediators, True)
    for t in study.threshold:
        yield from _formula(f"[[threshold]] {t.name!r}", t.formula)
        yield from _names(f"[[threshold]] {t.name!r}", "threshold_var", [t.threshold_var], True)
        yield from _names(f"[[threshold]] {t.name!r}", "regime_vars", t.regime_vars, True)
    for r in study.regime:
        yield from _formula(f"[[regime]] {r.name!r}", r.formula)
        yield from _names(f"[[regime]] {r.name!r}", "var", [r.var], True)
        yield from _names(f"[[regime]] {r.name!r}", "regime_col", [r.regime_col], False)
    for g in study.grid:
        yield from _formula(f"[[grid]] {g.name!r}", g.formula)
    for ix in study.index:
        yield from _names(f"[[index]] {ix.name!r}", "indicators", ix.indicators, True)
    yield from _descriptive_needs(study)
    for f in study.figure:  # an impacts figure plots an estimate's impacts, not a column
        if f.kind in ("choropleth", "trends"):  # one panel per variable of a comma list
            yield from _names(f"[[figure]] {f.name!r}", "variable", [v.strip() for v in f.variable.split(",")], True)
        elif f.kind != "impacts":
            yield from _names(f"[[figure]] {f.name!r}", "variable", [f.variable.strip()], True)


def _descriptive_needs(study: Study) -> Iterator[Need]:
    """Columns of the [[gaps]], [[density]], [[convergence]], [[coupling]] and [[markov]] entries."""
    for g in study.gaps:
        yield from _names(f"[[gaps]] {g.name!r}", "variables", g.variables, True)
        yield from _names(f"[[gaps]] {g.name!r}", "group", [g.group], False)
    for k in study.density:
        yield from _names(f"[[density]] {k.name!r}", "variables", k.variables, True)
    for c in study.convergence:
        yield from _names(f"[[convergence]] {c.name!r}", "variable", [c.variable], True)
        yield from _names(f"[[convergence]] {c.name!r}", "controls", c.controls, True)
    for c in study.coupling:
        yield from _names(f"[[coupling]] {c.name!r}", "systems", c.systems, True)
        yield from _names(f"[[coupling]] {c.name!r}", "group", [c.group], False)
    for m in study.markov:
        yield from _names(f"[[markov]] {m.name!r}", "variables", m.variables, True)


def _values(study: Study, panel: pd.DataFrame) -> Iterator[str]:
    """Group values the study names ([[estimate]] groups, [[grid]] samples) that the group column lacks."""
    group = study.data.group
    if group is None or group not in panel.columns:
        return
    have = sorted(panel[group].dropna().astype(str).unique())
    named = [(f"[[estimate]] {e.name!r}", "groups", e.groups) for e in study.estimate]
    named += [(f"[[grid]] {g.name!r}", f"samples.{s}", v) for g in study.grid for s, v in g.samples.items()]
    for entry, key, values in named:
        absent = [v for v in values if v not in have]
        if absent:
            where = f"{entry}.{key}" + (f" ({study.origins[entry]})" if entry in study.origins else "")
            yield f"{where}: {absent} are not values of [data] group = {group!r}; its values: {have[:20]}"


def check_indicators(study: Study, catalog_ids: Iterable[str] | None) -> None:
    """``drop_interpolated`` of each [[estimate]] names indicators of the study's catalog (a catalog study only)."""
    ids = None if catalog_ids is None else sorted(catalog_ids)
    problems = []
    for e in study.estimate:
        if not e.drop_interpolated:
            continue
        entry = f"[[estimate]] {e.name!r}"
        where = f"{entry}.drop_interpolated" + (f" ({study.origins[entry]})" if entry in study.origins else "")
        if ids is None:
            problems.append(f"{where}: only a [data] catalog study has interpolated (flagged) cells; this study "
                            "reads a panel file")
            continue
        unknown = [v for v in e.drop_interpolated if v not in ids]
        if unknown:
            close = {v: difflib.get_close_matches(v, ids, n=2, cutoff=0.6) for v in unknown}
            problems.append(f"{where}: {unknown} are not indicators of the catalog"
                            + "".join(f" (did you mean {c} for {v!r}?)" for v, c in close.items() if c))
    if problems:
        raise SpecificationError(f"{len(problems)} problem(s) with the indicators the study names (nothing was "
                                 "estimated):\n  " + "\n  ".join(problems))


def check_columns(study: Study, panel: pd.DataFrame, *, coming: Iterable[str] = ()) -> None:
    """Raise one :class:`SpecificationError` listing every missing or non-numeric column the study names.

    ``coming`` are columns added later (the ``[[index]]`` scores): they count as present and numeric.
    """
    columns = [str(c) for c in panel.columns]
    coming = set(coming)
    problems: list[str] = []
    for entry, key, name, numeric in needs(study):
        where = f"{entry}.{key}" + (f" ({study.origins[entry]})" if entry in study.origins else "")
        if name in coming and name not in panel.columns:
            continue
        if name.startswith("<unreadable"):
            problems.append(f"{where}: {name[1:-1]}; write it as 'y ~ x1 + x2'")
        elif name not in panel.columns:
            close = difflib.get_close_matches(name, columns, n=3, cutoff=0.6)
            problems.append(f"{where}: {name!r} is not a column of the panel"
                            + (f" (did you mean {close}?)" if close else ""))
        elif numeric and not pd.api.types.is_numeric_dtype(panel[name]):
            first = panel[name].dropna().astype(str).head(1).tolist()
            problems.append(f"{where}: column {name!r} is not numeric (e.g. {first[0]!r})" if first else
                            f"{where}: column {name!r} holds no values")
    problems += list(_values(study, panel))
    if problems:
        raise SpecificationError(
            f"{len(problems)} problem(s) with the columns the study names (nothing was estimated):\n  "
            + "\n  ".join(dict.fromkeys(problems))
            + f"\nHint: the panel's columns are {columns[:40]}" + (" ..." if len(columns) > 40 else "")
            + "; add a column with [data] derive = {name = 'expression'}")
