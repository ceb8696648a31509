"""The study's descriptive entries: regional gaps, densities, convergence, coupling, obstacles, Markov chains.

Each ``[[gaps]]``, ``[[density]]``, ``[[convergence]]``, ``[[coupling]]``,
``[[obstacles]]`` and ``[[markov]]`` entry is computed once by :mod:`spillover.analysis`
(:func:`step_descriptive`; the result is kept in ``run.analyses`` under
``"<kind>:<name>"``), its tables are written in the study's language and
again in every rendering (:func:`write_tables`), and its figures by the
figures step (:func:`figures`). Every number goes to ``numbers.csv`` once,
keyed by the English table's rows and columns.

A kind is one :class:`Kind` in :data:`KINDS` (compute, tables, figure); a
further descriptive analysis is one more entry there and one more spec
section.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from spillover.errors import SpecificationError, format_error


# ---------------------------------------------------------------- shared
def _labels(run) -> dict[str, str]:
    from spillover.study.runner import variable_labels

    return variable_labels(run)


def _label(run, name: str) -> str:
    return _labels(run).get(name, name)


def _group_column(run, entry) -> str:
    return entry.group or run.study.data.group


def group_order(panel: pd.DataFrame, group: str, entity: str) -> list[str]:
    """The groups in the order of their first unit in the panel sorted by unit (the order trends figures use)."""
    first = panel.sort_values([entity], kind="mergesort").drop_duplicates(entity)
    return [str(g) for g in pd.unique(first[group].astype(str))]


def unit_names(run) -> dict[str, str]:
    """Display name of each unit in the language rendered (``[data] unit_names``), else the unit itself."""
    d = run.study.data
    col = d.unit_names.get(run.lang) or d.unit_names.get("en")
    units = run.panel.drop_duplicates(d.entity)
    if col is None:
        return {str(u): str(u) for u in units[d.entity]}
    return {str(u): str(n) for u, n in zip(units[d.entity], units[col])}


def write_table(run, stem: str, frame: pd.DataFrame, *, title: str, notes: list[str] | str | None = None,
                digits: int | Mapping[str, int] = 3, labels: Mapping[str, str] | None = None,
                formats=("tex", "html", "md", "csv", "xlsx", "docx")) -> None:
    """``tables/<stem>.<fmt>`` in the language rendered; numbers.csv rows from the study's own language only."""
    from spillover.report.tables import Table

    table = Table.from_frame(frame, digits=digits, labels=labels, title=title, notes=notes)
    if not run.render_dir:
        nums = table.numbers()
        run.numbers.append(pd.DataFrame({"output": stem, "row": nums["row"].astype(str),
                                         "column": nums["column"].astype(str), "value": nums["coef"]}))
    table = table.translated(run.tr)
    run.files.extend(Path(p) for p in table.write(run.out / run.render_dir / "tables" / stem, formats=formats))


def _list_sep(run) -> str:
    """How the language rendered separates the items of a list of labels."""
    return "\u3001" if run.lang == "zh" else ", "


# ---------------------------------------------------------------- regional gaps
@dataclass(frozen=True)
class GapsResult:
    """Per column: the Dagum decomposition, the Theil decomposition and the coefficient of variation by period."""

    group: str
    groups: list[str]
    dagum: dict
    theil: dict
    cv: dict

    def series(self, variable: str, measure: str, time: str) -> pd.DataFrame:
        """The per-period series ``measure`` of ``variable`` (columns ``time`` and ``measure``), for a trend test."""
        theil = {"T": "T", "theil_within": "within", "theil_between": "between"}
        if measure in theil:
            frame, col = self.theil[variable].summary, theil[measure]
        elif measure == "cv":
            frame, col = self.cv[variable], "cv"
        else:
            frame, col = self.dagum[variable].summary, measure
        return frame[[time, col]].rename(columns={col: measure})


def compute_gaps(run, g) -> GapsResult:
    from spillover.analysis import dagum, theil, variation

    d = run.study.data
    group = _group_column(run, g)
    panel = run.panel.assign(**{group: run.panel[group].astype(str)})
    return GapsResult(group, group_order(panel, group, d.entity),
                      {v: dagum(panel, v, group, d.time) for v in g.variables},
                      {v: theil(panel, v, group, d.time) for v in g.variables},
                      {v: variation(panel, v, d.time) for v in g.variables})


def _by_variable(frames: dict, time: str, columns: dict[str, str], scale: dict[str, float] | None = None):
    """One frame indexed (variable, period) from per-variable frames, ``columns`` renamed (machine -> shown)."""
    parts = []
    for var, f in frames.items():
        part = f.set_index(time)[list(columns)].rename(columns=columns)
        for col, k in (scale or {}).items():
            part[columns[col]] = part[columns[col]] * k
        part.index = pd.MultiIndex.from_arrays([[var] * len(part), [str(t) for t in part.index]])
        parts.append(part)
    return pd.concat(parts)


def _pairs_frame(res: GapsResult, var: str, time: str, names: dict[str, str]) -> pd.DataFrame:
    """Between-group Gini of every pair in the fixed group order (the pair's Gini is symmetric)."""
    b = res.dagum[var].between
    order = {g: k for k, g in enumerate(res.groups)}
    first = [min(j, h, key=order.get) for j, h in zip(b["group_j"].astype(str), b["group_h"].astype(str))]
    second = [max(j, h, key=order.get) for j, h in zip(b["group_j"].astype(str), b["group_h"].astype(str))]
    b = b.assign(pair=[f"{names.get(a, a)}\u2013{names.get(c, c)}" for a, c in zip(first, second)],
                 rank=[order[a] * 100 + order[c] for a, c in zip(first, second)])
    cols = b.sort_values("rank", kind="mergesort")["pair"].drop_duplicates().tolist()
    return b.pivot(index=time, columns="pair", values="gini")[cols].reset_index()


def gaps_tables(run, g) -> None:
    res: GapsResult = run.analyses[f"gaps:{g.name}"]
    time, L, labels = run.study.data.time, (lambda v: _label(run, v)), _labels(run)
    by = L(res.group)
    counts = run.panel.drop_duplicates(run.study.data.entity)[res.group].astype(str).value_counts()
    groups_note = "Groups and their numbers of units: " + _list_sep(run).join(f"{L(x)} {counts[x]}"
                                                                              for x in res.groups) + "."
    pct = {"share_w": 100.0, "share_nb": 100.0, "share_t": 100.0}
    shown = {"G": "Gini G", "G_w": "Within G_w", "G_nb": "Net between G_nb", "G_t": "Transvariation G_t",
             "share_w": "Within (%)", "share_nb": "Net between (%)", "share_t": "Transvariation (%)"}
    frame = _by_variable({v: r.summary for v, r in res.dagum.items()}, time, shown, pct)
    write_table(run, f"{g.name}_dagum", frame, labels=labels, formats=g.formats,
                digits={c: 2 if c.endswith("(%)") else 4 for c in frame.columns},
                title=f"Dagum (1997) Gini decomposition by {by}",
                notes=["G = G_w + G_nb + G_t: the Gini within groups, the net Gini between groups and the "
                       "transvariation (overlap of the groups' distributions); contributions are shares of G in "
                       "percent.", groups_note])
    within = {v: r.within.assign(group=r.within["group"].astype(str)).pivot(index=time, columns="group",
                                                                             values="gini")[res.groups]
              .rename(columns=L).reset_index() for v, r in res.dagum.items()}
    frame = _by_variable(within, time, {L(x): L(x) for x in res.groups})
    write_table(run, f"{g.name}_within", frame, labels=labels, formats=g.formats, digits=4,
                title=f"Gini within each group ({by})", notes=[groups_note])
    pairs = {v: _pairs_frame(res, v, time, {x: L(x) for x in res.groups}) for v in res.dagum}
    cols = list(next(iter(pairs.values())).columns[1:])
    write_table(run, f"{g.name}_between", _by_variable(pairs, time, {c: c for c in cols}), labels=labels,
                formats=g.formats, digits=4, title=f"Gini between each pair of groups ({by})",
                notes=["G_jh: mean absolute difference between the units of two groups over the sum of their "
                       "means (Dagum 1997).", groups_note])
    theil = {v: r.summary.merge(res.cv[v][[time, "cv"]], on=time) for v, r in res.theil.items()}
    shown = {"T": "Theil T", "within": "Within groups", "between": "Between groups",
             "share_within": "Within groups (%)", "share_between": "Between groups (%)", "cv": "CV"}
    frame = _by_variable(theil, time, shown, {"share_within": 100.0, "share_between": 100.0})
    write_table(run, f"{g.name}_theil", frame, labels=labels, formats=g.formats,
                digits={c: 2 if c.endswith("(%)") else 4 for c in frame.columns},
                title=f"Theil decomposition by {by} and coefficient of variation",
                notes=["Theil index T (GE(1)) = within + between (Shorrocks 1980); contributions are shares of T in "
                       "percent. CV: standard deviation (population) over the mean.", groups_note])


def gaps_figure(run, g):
    from spillover.report.descriptive_figures import gini_components

    res: GapsResult = run.analyses[f"gaps:{g.name}"]
    return gini_components({v: r.summary for v, r in res.dagum.items()}, time=run.study.data.time,
                           labels=_labels(run), language=run.lang, group_label=run.tr(_label(run, res.group)))


# ---------------------------------------------------------------- kernel densities
def compute_density(run, k) -> dict[str, pd.DataFrame]:
    from spillover.analysis import kernel_density

    time = run.study.data.time
    return {v: kernel_density(run.panel, v, time, grid=k.points, bandwidth=k.bandwidth) for v in k.variables}


def bandwidth_rule(bandwidth) -> str:
    """The bandwidth rule in words (English; the renderings translate it)."""
    if bandwidth == "scott":
        return "h = n^(-1/5) \u00d7 SD (Scott 1992)"
    if bandwidth == "silverman":
        return "h = (3n/4)^(-1/5) \u00d7 SD (Silverman 1986, scipy's form)"
    return f"h = {float(bandwidth):g} \u00d7 SD (fixed factor)"


def density_summary(frame: pd.DataFrame, panel: pd.DataFrame, time: str) -> pd.DataFrame:
    """Per period: units, bandwidth, the grid point of the highest density (mode) and that density."""
    rows = []
    for t, part in frame.groupby(time, sort=True):
        top = part.loc[part["density"].idxmax()]
        rows.append({time: t, "n": int((panel[time] == t).sum()), "h": frame.attrs["bandwidth"][t],
                     "mode": float(top["x"]), "peak": float(top["density"])})
    return pd.DataFrame(rows)


def density_tables(run, k) -> None:
    time = run.study.data.time
    frames = run.analyses[f"density:{k.name}"]
    summary = {v: density_summary(f, run.panel, time) for v, f in frames.items()}
    shown = {"n": "Units", "h": "Bandwidth h", "mode": "Mode", "peak": "Peak density"}
    frame = _by_variable(summary, time, shown)
    frame["Units"] = frame["Units"].astype(int)
    write_table(run, k.name, frame, labels=_labels(run), formats=k.formats, digits=4,
                title="Kernel density estimates by year: bandwidth, mode and peak",
                notes=[f"Gaussian kernel; bandwidth {bandwidth_rule(k.bandwidth)}, per year; densities on one grid "
                       f"of {k.points} points; the mode is the grid point of the highest density."])


def density_figure(run, k):
    from spillover.report.descriptive_figures import density_ridges

    return density_ridges(run.analyses[f"density:{k.name}"], time=run.study.data.time, labels=_labels(run),
                          language=run.lang, note=run.tr(f"Gaussian kernel, bandwidth {bandwidth_rule(k.bandwidth)} "
                                                         "per year."))


# ---------------------------------------------------------------- convergence
def compute_convergence(run, c) -> dict:
    from spillover.analysis import convergence

    d = run.study.data
    out = {"sigma_cv": convergence(run.panel, c.variable, d.entity, d.time, kind="sigma", measure="cv"),
           "sigma_gini": convergence(run.panel, c.variable, d.entity, d.time, kind="sigma", measure="gini"),
           "beta_absolute": convergence(run.panel, c.variable, d.entity, d.time, kind="beta", fe=c.fe)}
    if c.controls:
        out["beta_conditional"] = convergence(run.panel, c.variable, d.entity, d.time, kind="beta", fe=c.fe,
                                              controls=c.controls)
    for wn in c.weights:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            out[f"beta_spatial_{wn}"] = convergence(run.panel, c.variable, d.entity, d.time, kind="spatial_beta",
                                                    w=run.weights[wn], model=c.model, fe=c.fe, method=c.method)
    return out


def _spatial_parameter(res) -> float:
    params = getattr(res.model, "params", None) if res.model is not None else None
    for name in ("rho", "lambda"):
        if params is not None and name in params.index:
            return float(params[name])
    return float("nan")


def convergence_tables(run, c) -> None:
    from spillover.labels import FE_TEXT, METHOD_TEXT

    results, time = run.analyses[f"convergence:{c.name}"], run.study.data.time
    L = lambda v: _label(run, v)  # noqa: E731
    names = {"sigma_cv": "Sigma: trend of the CV", "sigma_gini": "Sigma: trend of the Gini",
             "beta_absolute": "Absolute beta", "beta_conditional": "Conditional beta"}
    names.update({f"beta_spatial_{wn}": f"Spatial beta, {run.weights[wn].spillover_meta['label']}"
                  for wn in c.weights})
    rows = {key: {"Estimate": r.beta, "SE": r.se, "p": r.p, "Spatial parameter": _spatial_parameter(r),
                  "Speed (% per period)": 100 * r.speed, "Half-life (periods)": r.half_life,
                  "Observations": int(getattr(r.model, "nobs", len(r.table)) if r.model is not None else
                                      len(r.table))} for key, r in results.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame["Observations"] = frame["Observations"].astype(int)
    controls = _list_sep(run).join(L(x) for x in c.controls)
    notes = ["Sigma: OLS slope of the dispersion on the year (negative: the gap narrows).",
             f"Beta: growth ln x(t) - ln x(t-1) on ln x(t-1) with {FE_TEXT.get(c.fe, c.fe)} (negative: "
             "convergence)" + (f"; conditional: with {controls} at t-1" if controls else "") + ".",
             f"Spatial beta: the same regression as an {c.model.upper()} under each W "
             f"({METHOD_TEXT.get(c.method, c.method)}); spatial parameter: rho (SAR, SDM) or lambda (SEM).",
             "Speed s = -ln(1 + beta) per period and half-life ln 2 / s in periods (Barro & Sala-i-Martin 1992).",
             "Observations: years for sigma, unit-years of growth for beta."]
    write_table(run, c.name, frame, labels=names, formats=c.formats,
                digits={"Estimate": 4, "SE": 4, "p": 3, "Spatial parameter": 3, "Speed (% per period)": 2,
                        "Half-life (periods)": 2},
                title=f"Convergence of {L(c.variable)}: sigma, beta and spatial beta", notes=notes)
    sigma = results["sigma_cv"].table.set_index(time)[["mean", "sd", "cv", "gini"]].rename(
        columns={"mean": "Mean", "sd": "SD", "cv": "CV", "gini": "Gini"})
    sigma.index = [str(t) for t in sigma.index]
    write_table(run, f"{c.name}_sigma", sigma, formats=c.formats, digits=4,
                title=f"Sigma convergence of {L(c.variable)}: dispersion by year",
                notes=["SD: population standard deviation; CV = SD / mean; Gini as in Dagum (1997)."])


# ---------------------------------------------------------------- coupling coordination
def compute_coupling(run, c) -> pd.DataFrame:
    from spillover.analysis import coupling

    d = run.study.data
    group = _group_column(run, c)
    out = coupling(run.panel, c.systems[0], c.systems[1], d.entity, d.time, weights=c.contributions)
    return out.assign(**{group: run.panel[group].astype(str).to_numpy()})


def coupling_means(frame: pd.DataFrame, group: str, groups: list[str], time: str) -> pd.DataFrame:
    """Mean C, T and D over all units and mean D by group, per period."""
    overall = frame.groupby(time)[["C", "T", "D"]].mean()
    by = frame.pivot_table(index=time, columns=group, values="D", aggfunc="mean")[groups]
    return overall.join(by)


def coupling_tables(run, c) -> None:
    from spillover.analysis import COORDINATION_CLASSES

    d, frame = run.study.data, run.analyses[f"coupling:{c.name}"]
    group = _group_column(run, c)
    groups = group_order(run.panel.assign(**{group: run.panel[group].astype(str)}), group, d.entity)
    L = lambda v: _label(run, v)  # noqa: E731
    a, b = c.systems
    means = coupling_means(frame, group, groups, d.time)
    everyone = _labels(run).get("national", "All units")
    means.columns = ["Coupling C", "Development T", f"Coordination D, {everyone}"] + [L(x) for x in groups]
    means.index = [str(t) for t in means.index]
    formula = (f"C = 2 sqrt(U1 U2) / (U1 + U2) with U1 = {L(a)} and U2 = {L(b)}, T = {c.contributions[0]:g} U1 + "
               f"{c.contributions[1]:g} U2, D = sqrt(C T) (Liu, Li & Song 2005).")
    write_table(run, c.name, means, formats=c.formats, digits=4,
                title=f"Coupling coordination of {L(a)} and {L(b)}: means by year",
                notes=[formula, f"Group columns: mean D of the units in each {L(group)}."])
    counts = pd.crosstab(pd.Categorical(frame["class"], categories=list(COORDINATION_CLASSES)), frame[d.time],
                         dropna=False)
    counts.index, counts.columns = [str(x) for x in counts.index], [str(t) for t in counts.columns]
    write_table(run, f"{c.name}_classes", counts.astype(int), formats=c.formats,
                title=f"Units in each coordination class by year ({L(a)} and {L(b)})",
                notes=["Classes of D in steps of 0.1, from extreme disorder [0, 0.1) to high-quality coordination "
                       "[0.9, 1]."])
    units = unit_names(run)
    rows = frame.assign(unit=frame[d.entity].astype(str), period=frame[d.time].astype(str))
    order = {g: k for k, g in enumerate(groups)}
    rows = rows.sort_values([group, d.entity, d.time], key=lambda s: s.map(order) if s.name == group else s,
                            kind="mergesort")
    table = rows.set_index(["unit", "period"])[["C", "T", "D", "class"]].rename(columns={"class": "Class"})
    write_table(run, f"{c.name}_units", table, formats=c.formats, digits=4, labels=units,
                title=f"Coupling coordination of {L(a)} and {L(b)} by unit and year", notes=[formula])


def coupling_figure(run, c):
    from spillover.report.descriptive_figures import coupling_heatmap

    d, frame = run.study.data, run.analyses[f"coupling:{c.name}"]
    group = _group_column(run, c)
    groups = group_order(run.panel.assign(**{group: run.panel[group].astype(str)}), group, d.entity)
    from spillover.analysis import COORDINATION_CLASSES

    return coupling_heatmap(frame, entity=d.entity, time=d.time, group=group, groups=groups, names=unit_names(run),
                            labels=_labels(run), language=run.lang, systems=c.systems,
                            classes=[run.tr(x) for x in COORDINATION_CLASSES])


# ---------------------------------------------------------------- obstacle degrees
def index_result(run, name: str, entry: str = ""):
    """The fitted composite index ``name``: an ``[[index]]`` of the study, else one the data catalog builds."""
    res = run.analyses.get(f"index:{name}")
    built = getattr(getattr(run, "built", None), "indices", {}) or {}
    if res is None:
        res = built.get(name)
    if res is None:
        known = [ix.name for ix in run.study.index] + list(built)
        raise SpecificationError(format_error(f"{entry}: index {name!r} is not a composite index of the study",
                                              option="index", hint=f"indices: {known} ([[index]] entries and "
                                                                   "the catalog's)"))
    return res


def obstacle_frame(res, panel: pd.DataFrame, entity: str, time: str, level: str) -> pd.DataFrame:
    """Obstacle degrees per unit-period with ``time`` as a column, restricted to the panel's unit-periods."""
    O = res.obstacle_degree(level)
    if entity in O.index.names and time in O.index.names:
        O = O.reset_index()
        O[entity] = O[entity].astype(str)
        keep = panel[[entity, time]].assign(**{entity: panel[entity].astype(str)})
        return O.merge(keep, on=[entity, time], how="inner")
    return O.join(panel[[entity, time]], how="inner")


def _by_period(frame: pd.DataFrame, columns: list[str], time: str) -> pd.DataFrame:
    """Mean of each column by period, in percent, rows = columns, plus the mean over every unit-period."""
    out = 100 * frame.groupby(time)[columns].mean().T
    out.columns = [str(t) for t in out.columns]
    out["Mean"] = 100 * frame[columns].mean()
    return out


def compute_obstacles(run, o) -> dict:
    d = run.study.data
    res = index_result(run, o.index, f"[[obstacles]] {o.name!r}")
    return {"result": res, "indicator": obstacle_frame(res, run.panel, d.entity, d.time, "indicator"),
            "dimension": obstacle_frame(res, run.panel, d.entity, d.time, "dimension")}


def obstacle_tables(run, o) -> None:
    from spillover.study.readme import _indicator_names

    time, parts = run.study.data.time, run.analyses[f"obstacles:{o.name}"]
    weights = parts["result"].weights.drop_duplicates("indicator")
    dims = list(dict.fromkeys(weights["dimension"].astype(str)))
    order = weights.assign(dim=weights["dimension"].astype(str).map({x: k for k, x in enumerate(dims)}))
    order = order.sort_values("dim", kind="mergesort")
    names = {**_labels(run), **_indicator_names(run)}
    L = lambda v: _label(run, v)  # noqa: E731
    ind = _by_period(parts["indicator"], list(order["indicator"]), time)
    ind.index = pd.MultiIndex.from_arrays([order["dimension"].astype(str).tolist(), list(ind.index)])
    note = ("Obstacle degree O_ij = w_j (1 - z_ij) / sum_k w_k (1 - z_ik), with w_j the index weight and z_ij the "
            "min-max normalised value (direction applied); means over the units of each year, in percent; a "
            "dimension's degree is the sum of its indicators'.")
    write_table(run, f"{o.name}_indicators", ind, labels=names, formats=o.formats, digits=2,
                title=f"Obstacle degrees of the {L(o.index)} indicators by year (%)", notes=[note])
    dim = _by_period(parts["dimension"], [x for x in parts["dimension"].columns if x in dims], time)
    write_table(run, f"{o.name}_dimensions", dim, formats=o.formats, digits=2,
                title=f"Obstacle degrees of the {L(o.index)} dimensions by year (%)", notes=[note])

# ---------------------------------------------------------------- Markov chains
#: English names of k classes, lowest first (the renderings translate them); another k: "class 1", ...
CLASS_NAMES = {2: ("low", "high"), 3: ("low", "middle", "high"),
               4: ("low", "lower-middle", "upper-middle", "high"),
               5: ("low", "lower-middle", "middle", "upper-middle", "high")}

#: Row labels of the Markov tests (keys of :attr:`spillover.analysis.MarkovResult.tests`).
MARKOV_TESTS = {"LR": "LR (spatial homogeneity)", "Q": "Q (spatial homogeneity)",
                "lisa_chi2": "LISA Markov chi-squared (independence)"}


def class_names(k: int) -> list[str]:
    """Names of ``k`` classes, lowest first."""
    return list(CLASS_NAMES.get(k, [f"class {j}" for j in range(1, k + 1)]))


def compute_markov(run, m) -> dict:
    """Per variable the :func:`spillover.analysis.markov` result (spatial and LISA chains with a W)."""
    from spillover.analysis import markov

    d = run.study.data
    w = run.weights[m.weights] if m.weights else None
    return {v: markov(run.panel, v, d.time, k=m.k, w=w, entity=d.entity, classes=m.classes) for v in m.variables}


def transition_frame(matrix, names: list[str]) -> pd.DataFrame:
    """``n`` (an integer column) and the probabilities of a :class:`TransitionMatrix`, rows and columns by class."""
    out = matrix.probabilities.set_axis(names, axis=0).set_axis(names, axis=1)
    out.insert(0, "n", matrix.n.astype(object).to_numpy())
    return out


def classic_frame(res, names: list[str]) -> pd.DataFrame:
    """The classic chain's transition table with its steady state as a last row."""
    frame = transition_frame(res.classic, names)
    steady = pd.DataFrame([[None, *res.classic.steady_state.to_numpy()]], index=["Steady state"],
                          columns=frame.columns)
    return pd.concat([frame.astype({"n": object}), steady])


def neighbours(name: str) -> str:
    """Subhead of the spatial Markov matrix of one class of the neighbours."""
    return f"Neighbours' class: {name}"


def spatial_frame(res, names: list[str]) -> pd.DataFrame:
    """The spatial Markov matrices stacked by the neighbours' class (two-level index: neighbours, class at t)."""
    parts = []
    for lag, matrix in res.spatial.matrices.items():
        part = transition_frame(matrix, names)
        part.index = pd.MultiIndex.from_arrays([[neighbours(names[lag - 1])] * len(names), names])
        parts.append(part)
    return pd.concat(parts)


def _bounds(cuts: pd.DataFrame) -> str:
    return ", ".join(f"{c:.4f}" for c in cuts.iloc[0])


def classes_note(res) -> str:
    """How the values were classed, with the class bounds (English; the renderings translate it)."""
    if res.rule == "pooled":
        return f"Classes: quantiles of all periods pooled; class bounds {_bounds(res.cuts)}."
    if res.rule == "period":
        return "Classes: quantiles of each period."
    return f"Classes: fixed cut points {_bounds(res.cuts)}."


def lag_classes_note(res) -> str:
    """How the neighbours' average was classed (the rule of :func:`classes_note`)."""
    lag = "Spatial lag: the neighbours' average under W (row-standardised) at t (Rey 2001)."
    if res.rule == "pooled":
        return f"{lag} Neighbours' classes: quantiles of the spatial lag of all periods pooled; class bounds " \
               f"{_bounds(res.spatial.lag_cuts)}."
    if res.rule == "period":
        return f"{lag} Neighbours' classes: quantiles of each period's spatial lag."
    return f"{lag} Neighbours' classes: the same cut points."


TRANSITIONS_NOTE = ("Rows: class in period t; columns: class in period t+1; n: transitions out of the row's class; "
                    "probabilities: the shares of those transitions that end in each column's class (Anderson & "
                    "Goodman 1957).")


def markov_tables(run, m) -> None:
    results = run.analyses[f"markov:{m.name}"]
    names, L = class_names(m.k), (lambda v: _label(run, v))
    digits = {c: 4 for c in ("n", *names)}
    for v, res in results.items():
        write_table(run, f"{m.name}_{v}", classic_frame(res, names), formats=m.formats, digits=digits,
                    title=f"Classic Markov transition probabilities of {L(v)} ({m.k} classes)",
                    notes=[TRANSITIONS_NOTE + " Steady state: the ergodic distribution of the chain.",
                           classes_note(res)])
        if res.spatial is not None:
            wl = run.weights[m.weights].spillover_meta["label"]
            write_table(run, f"{m.name}_{v}_spatial", spatial_frame(res, names), formats=m.formats, digits=digits,
                        title=f"Spatial Markov transition probabilities of {L(v)} by the neighbours' class (W: {wl})",
                        notes=[TRANSITIONS_NOTE, classes_note(res), lag_classes_note(res)])
    if m.weights:
        write_table(run, f"{m.name}_tests", markov_tests_frame(results), formats=m.formats, labels=_labels(run),
                    digits={"Statistic": 3, "p": 4},
                    title=f"Markov chain tests: spatial homogeneity and LISA transitions "
                          f"(W: {run.weights[m.weights].spillover_meta['label']})",
                    notes=["LR and Q: H0 the transition probabilities do not depend on the neighbours' class; df = "
                           "sum over classes i of (b_i - 1)(a_i - 1) without empty cells (Bickenbach & Bode 2003).",
                           "LISA Markov: H0 a unit's moves between the Moran scatterplot quadrants are independent "
                           "of its neighbours' moves (Rey, Murray & Anselin 2011)."])


def markov_figure(run, m):
    from spillover.report.descriptive_figures import transition_heatmap

    results = run.analyses[f"markov:{m.name}"]
    return transition_heatmap({v: r.classic.probabilities for v, r in results.items()},
                              classes=[run.tr(c) for c in class_names(m.k)], labels=_labels(run), language=run.lang)


def markov_tests_frame(results: dict) -> pd.DataFrame:
    """Statistic, df and p of each test, rows (variable, test label)."""
    parts = []
    for v, res in results.items():
        t = res.tests[["statistic", "df", "p"]].rename(columns={"statistic": "Statistic"})
        t["df"] = t["df"].astype(object)
        t.index = pd.MultiIndex.from_arrays([[v] * len(t), [MARKOV_TESTS[x] for x in t.index]])
        parts.append(t)
    return pd.concat(parts)


# ---------------------------------------------------------------- the kinds and the steps
@dataclass(frozen=True)
class Kind:
    """One kind of descriptive entry: compute its result once, write its tables, draw its figure (or None)."""

    compute: Callable
    tables: Callable
    figure: Callable | None = None


KINDS: dict[str, Kind] = {
    "gaps": Kind(compute_gaps, gaps_tables, gaps_figure),
    "density": Kind(compute_density, density_tables, density_figure),
    "convergence": Kind(compute_convergence, convergence_tables),
    "coupling": Kind(compute_coupling, coupling_tables, coupling_figure),
    "obstacles": Kind(compute_obstacles, obstacle_tables),
    "markov": Kind(compute_markov, markov_tables, markov_figure),
}


def entries(run):
    """(kind, entry) of every descriptive entry of the study, in the order of :data:`KINDS`."""
    for kind in KINDS:
        for entry in getattr(run.study, kind, None) or []:
            yield kind, entry


def step_descriptive(run) -> None:
    """Compute every descriptive entry (into ``run.analyses``); :func:`write_tables` writes their tables."""
    for kind, entry in entries(run):
        run.analyses[f"{kind}:{entry.name}"] = KINDS[kind].compute(run, entry)


def write_tables(run) -> None:
    """The tables of every descriptive entry in the language being rendered."""
    for kind, entry in entries(run):
        KINDS[kind].tables(run, entry)


def figures(run, folder: Path) -> list[Path]:
    """``folder/NAME.png`` and ``.pdf`` of every descriptive entry that draws one."""
    from spillover.report.figures import save_figure

    written: list[Path] = []
    for kind, entry in entries(run):
        if KINDS[kind].figure is not None:
            written.extend(save_figure(KINDS[kind].figure(run, entry), folder / entry.name))
    run.files.extend(written)
    return written
