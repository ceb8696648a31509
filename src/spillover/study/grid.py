"""The specification grid: one spatial model over weights x samples x fixed effects x method.

A ``[[grid]]`` entry of the study names the lists; every combination is one
task of :class:`spillover.engine.Engine` (in-process, a LocalCluster or an
existing dask scheduler), and the results come back in grid order, so the
table is identical wherever it ran. Each row reports the spatial parameter,
the coefficient of ``variable`` and its direct, indirect and total effects
(delta method by default, LeSage & Pace 2009, sec. 2.7; or simulation with a
seed). A combination whose fit fails is a row too, with the error message.

A subsample restricts W to its units and row-standardises again (units left
without a neighbour are dropped and listed in ``islands_dropped``), as in
:func:`spillover.analysis.heterogeneity.subset_weights`.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["grid_tasks", "fit_grid_cell", "run_grid", "specification_curve"]

COLUMNS = ["spec", "weights", "sample", "fe", "method", "N", "nobs", "spatial_param", "spatial", "spatial_se",
           "coef", "coef_se", "direct", "direct_se", "direct_p", "indirect", "indirect_se", "indirect_p", "total",
           "total_se", "total_p", "llf", "converged", "islands_dropped", "error"]


def grid_tasks(g, group: str | None = None) -> list[dict]:
    """The combinations of one :class:`spillover.study.spec.GridSpec`, in table order.

    A sample keeps the units whose ``group`` column holds one of its values
    (an empty list: every unit).
    """
    tasks = []
    samples = g.samples or {"all": []}
    for k, (wn, (sname, groups), fe, method) in enumerate(
            itertools.product(g.weights, samples.items(), g.fe, g.method), 1):
        tasks.append({"spec": k, "weights": wn, "sample": sname, "group": group, "groups": list(groups), "fe": fe,
                      "method": method, "model": g.model, "formula": g.formula, "variable": g.variable,
                      "impacts": g.impacts.model_dump()})
    return tasks


def fit_grid_cell(task: dict, *, panel: pd.DataFrame, weights: dict, entity: str, time: str) -> dict:
    """Fit one grid combination and return its table row (never raises: errors go into the row)."""
    from spillover import registry
    from spillover.analysis.heterogeneity import subset_weights

    row = {c: np.nan for c in COLUMNS}
    row.update({k: task[k] for k in ("spec", "weights", "sample", "fe", "method")})
    row.update({"converged": False, "islands_dropped": "", "error": ""})
    try:
        df = panel if not task["groups"] else panel[panel[task["group"]].astype(str).isin(task["groups"])]
        w = weights[task["weights"]]
        if task["groups"]:
            w, _, dropped = subset_weights(w, sorted(df[entity].unique()), islands="drop")
            if dropped:
                df = df[~df[entity].isin(dropped)]
                row["islands_dropped"] = " ".join(map(str, dropped))
        est = registry.get(task["model"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = est.run(registry.FitRequest(task["formula"], df.reset_index(drop=True), w, entity, time,
                                              fe=task["fe"], method=task["method"]))
        var = task["variable"]
        pname = est.params[0] if est.params else None
        row.update({"N": res.N, "nobs": res.nobs, "llf": res.llf, "converged": bool(res.converged),
                    "coef": res.params[var], "coef_se": res.bse[var]})
        if pname:
            row.update({"spatial_param": pname, "spatial": res.params[pname], "spatial_se": res.bse[pname]})
        if est.impacts:
            imp = task["impacts"]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = res.impacts(method=imp["method"], draws=imp["draws"], seed=imp["seed"]).table.loc[var]
            for part in ("direct", "indirect", "total"):
                row.update({part: t[part], f"{part}_se": t[f"{part}_se"], f"{part}_p": t[f"{part}_p"]})
        if res.flags:
            row["error"] = "; ".join(res.flags)
    except Exception as exc:  # noqa: BLE001 -- a failed combination is reported, not fatal
        row["error"] = f"{type(exc).__name__}: {exc}"
    return row


def run_grid(g, panel: pd.DataFrame, weights: dict, entity: str, time: str, engine=None,
             group: str | None = None) -> pd.DataFrame:
    """Every combination of ``g`` through ``engine`` (default in-process); one row each, in grid order."""
    from spillover.engine import Engine

    eng = engine or Engine()
    rows = eng.map(fit_grid_cell, grid_tasks(g, group), shared={"panel": panel, "weights": weights, "entity": entity,
                                                         "time": time}, name=f"grid {g.name}")
    table = pd.DataFrame(rows, columns=COLUMNS)
    if table["coef"].isna().all():
        from spillover.errors import SpecificationError

        raise SpecificationError(f"grid {g.name!r}: no combination could be estimated; the first error: "
                                 f"{table['error'].iloc[0]}")
    return table


def specification_curve(table: pd.DataFrame, variable: str, path_stem: Path, effect: str = "direct",
                        level: float = 0.95, *, labels: Mapping[str, Mapping[str, str]] | None = None,
                        variable_label: str | None = None, language: str = "en") -> list[Path]:
    """Specification curve: the ``effect`` of ``variable`` in every combination, sorted, with intervals.

    Below the curve, a marker panel shows which weights, sample, fixed
    effects and method each estimate used (Simonsohn, Simmons & Nelson 2020,
    Nature Human Behaviour 4, 1208-1214, fig. 2); its rows follow the order
    of the grid, the same in every curve of the grid.

    Parameters
    ----------
    table : pandas.DataFrame
        The grid (:func:`run_grid`).
    variable : str
        The regressor whose effect is shown.
    path_stem : Path
        Output path without suffix (PNG and PDF are written).
    effect : {"direct", "indirect", "total"}
    level : float, default 0.95
        Confidence level of the intervals.
    labels : mapping, optional
        Display text of each choice: ``{"weights": {"adjacency": "Queen
        contiguity", ...}, "sample": {...}, "fe": {...}, "method": {...}}``;
        values without one are shown as they are.
    variable_label : str, optional
        Display label of ``variable`` (default the name).
    language : {"en", "zh"}, default "en"
        Language of the axis text, legend and title.
    """
    from scipy.stats import norm

    from spillover.report.figures import DOUBLE_COLUMN, IMPACT_COLORS, _new_figure, _style, _text, save_figure

    labels = labels or {}
    vlabel = variable_label or variable
    d = table[np.isfinite(table[effect].astype(float))].sort_values(effect, kind="mergesort").reset_index(drop=True)
    z = norm.ppf(0.5 + level / 2)
    dims = ["weights", "sample", "fe", "method"]
    levels = [(dim, v) for dim in dims for v in dict.fromkeys(table[dim]) if (d[dim] == v).any()]  # spec order
    color = IMPACT_COLORS.get(effect, IMPACT_COLORS["direct"])
    words = _text(effect, language).split("\uff08")[0].split(" (")[0]  # "Indirect", "间接效应"
    with _style(language):
        fig = _new_figure((DOUBLE_COLUMN, 2.6 + 0.16 * len(levels)))
        top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2.2, 0.16 * len(levels) + 0.3]})
        x = np.arange(len(d))
        sig = (d[f"{effect}_p"] < 1 - level).to_numpy()
        top.errorbar(x, d[effect], yerr=z * d[f"{effect}_se"], fmt="none", ecolor="0.6", elinewidth=0.8)
        top.scatter(x[sig], d[effect][sig], color=color, zorder=3, s=10,
                    label=_text("p_below", language, alpha=1 - level))
        top.scatter(x[~sig], d[effect][~sig], facecolor="white", edgecolor=color, zorder=3, s=10,
                    label=_text("p_above", language, alpha=1 - level))
        top.axhline(0, color="0.3", lw=0.6, ls="--")
        top.set_ylabel(_text("curve_y", language, effect=words))
        top.legend(frameon=False, loc="upper left")
        for k, (dim, v) in enumerate(levels):
            on = (d[dim] == v).to_numpy()
            bottom.scatter(x[on], np.full(on.sum(), k), marker="|", s=30, color="0.2", linewidths=0.8)
        sep = "\uff1a" if language == "zh" else ": "
        bottom.set_yticks(range(len(levels)), [f"{_text('curve_' + dim, language)}{sep}"
                                               f"{labels.get(dim, {}).get(str(v), v)}" for dim, v in levels],
                          fontsize=6.5)
        bottom.set_ylim(len(levels) - 0.5, -0.5)
        bottom.set_xlabel(_text("curve_x", language))
        bottom.set_xticks([])
        fig.suptitle(_text("curve_title", language, effect=words.lower() if language == "en" else words, v=vlabel,
                           n=len(d), level=level))
        return save_figure(fig, path_stem)
