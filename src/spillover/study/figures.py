"""The study's figures step: which figures a study makes, from its spec and its computed results.

The plotting functions live in :mod:`spillover.report.figures` and take
computed frames; this module picks the inputs from a :class:`StudyRun`
(panel, weights, impacts, Moran settings) and writes ``results/figures``.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from spillover.errors import SpecificationError, format_error
from spillover.report.figures import (
    _text,
    _years,
    choropleth,
    impacts_plot,
    lisa_map,
    moran_scatter,
    save_figure,
    trends_by_region,
)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "figure"


def _mapped_variables(run) -> list[str]:
    """The first ``[[moran]]`` entry's variables, else the dependent variable of the first estimate."""
    from spillover.formula import parse

    if run.study.moran:
        return [v for v in run.study.moran[0].variables if v in run.panel.columns]
    for e in run.study.estimate:
        lhs = parse(e.formula).lhs
        if lhs in run.panel.columns:
            return [lhs]
    return []


def default_figure_specs(run) -> list:
    """The figures made when the study declares no ``[[figure]]``.

    Choropleths of the mapped variables (the first ``[[moran]]`` entry's, else
    the first estimate's dependent variable) in the first and last period,
    when the study has a ``[geometry]``; a Moran scatterplot and a LISA
    cluster map of the last mapped variable in the last period under the
    first weights matrix; one impacts plot per estimate with impacts; trends
    by ``[data] group`` when it is set. Figures whose inputs are absent are
    left out.

    Parameters
    ----------
    run : StudyRun
        The study run (``panel``, ``geometry``, ``weights``, ``impacts``, ``study``).

    Returns
    -------
    list of spillover.study.spec.FigureSpec
    """
    from spillover.study.spec import FigureSpec

    panel, time = run.panel, run.study.data.time
    y0, y1 = int(panel[time].min()), int(panel[time].max())
    idx = _mapped_variables(run)
    has_map = getattr(run, "geometry", None) is not None
    specs = []
    if idx and has_map:
        specs.append(FigureSpec(name="choropleth_" + "_".join(idx), kind="choropleth", variable=",".join(idx),
                                years=sorted({y0, y1})))
    if idx and run.weights:
        first, var = next(iter(run.weights)), idx[-1]
        specs.append(FigureSpec(name=f"moran_scatter_{var}_{y1}", kind="moran_scatter", variable=var,
                                weights=first, years=[y1]))
        if has_map:
            specs.append(FigureSpec(name=f"lisa_{var}_{y1}", kind="lisa_map", variable=var, weights=first,
                                    years=[y1]))
    for est in run.impacts:
        specs.append(FigureSpec(name=f"impacts_{_safe_name(str(est))}", kind="impacts", estimate=str(est)))
    if idx and run.study.data.group:
        specs.append(FigureSpec(name="trends_" + "_".join(idx), kind="trends", variable=",".join(idx)))
    return specs


def _moran_settings(run, variable: str, weights: str) -> tuple[int, int]:
    """Permutations and seed of the study's Moran step for this variable/weights (else 999 and the study seed)."""
    for m in getattr(run.study, "moran", []) or []:
        if variable in m.variables and weights in m.weights:
            return int(m.permutations), int(m.seed)
    for m in getattr(run.study, "moran", []) or []:
        return int(m.permutations) or 999, int(m.seed)
    return 999, int(run.study.study.seed)


def _moran_table(run, variable: str, weights: str):
    """The study's own Moran rows for this variable and W (computed with the settings of :func:`_moran_settings`)."""
    m = getattr(run, "moran", None)
    rows = None if m is None else m[(m["variable"] == variable) & (m["weights"] == weights)]
    return rows if rows is not None and not rows.empty else None


def _pick_weights(run, spec) -> tuple[str, Any]:
    if not run.weights:
        raise SpecificationError(format_error("figure needs a weights matrix but the study has none", figure=spec.name))
    name = spec.weights or next(iter(run.weights))
    if name not in run.weights:
        raise SpecificationError(format_error("figure: unknown weights", figure=spec.name, weights=name,
                                              available=list(run.weights)))
    return name, run.weights[name]


def _make_figure(run, spec) -> Figure:
    from spillover.diagnostics.moran import lisa_by_year
    from spillover.study.runner import variable_labels

    entity, time = run.study.data.entity, run.study.data.time
    language = run.study.study.language
    labels = variable_labels(run)
    panel = run.panel
    g = run.study.geometry

    def map_options() -> dict:
        if getattr(run, "geometry", None) is None:
            raise SpecificationError(format_error(f"figure {spec.name!r} ({spec.kind}) needs the units' geometry",
                                                  hint="add [geometry] file = 'FILE' and id = 'COLUMN'"))
        return {"id_col": g.id, "projection": g.projection, "extent": g.extent, "inset": g.inset,
                "labels": labels, "language": language}

    years = spec.years or None
    if spec.kind == "choropleth":
        opts = map_options()
        return choropleth(run.geometry, panel, spec.variable, years, entity=entity, time=time, **opts)
    if spec.kind == "moran_scatter":
        wname, w = _pick_weights(run, spec)
        perm, seed = _moran_settings(run, spec.variable, wname)
        return moran_scatter(panel, spec.variable, w, years, entity=entity, time=time, permutations=perm,
                             seed=seed, stats=_moran_table(run, spec.variable, wname), labels=labels,
                             language=language)
    if spec.kind == "lisa_map":
        opts = map_options()
        wname, w = _pick_weights(run, spec)
        perm, seed = _moran_settings(run, spec.variable, wname)
        perm = max(perm, 1)
        yrs = _years(panel, time, years, "last")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = lisa_by_year(panel[panel[time].isin(yrs)], spec.variable, w, entity, time,
                                 permutations=perm, seed=seed)
        return lisa_map(run.geometry, frame, yrs, variable=spec.variable, permutations=perm, alpha=0.05, **opts)
    if spec.kind == "impacts":
        if not run.impacts:
            raise SpecificationError(format_error("impacts figure but no estimate has impacts", figure=spec.name))
        est = spec.estimate or next(iter(run.impacts))
        if est not in run.impacts:
            raise SpecificationError(format_error("impacts figure: estimate has no impacts", figure=spec.name,
                                                  estimate=est, available=list(run.impacts)))
        sep = "：" if language == "zh" else ": "
        entry = run.study.estimate_by_name().get(est)
        name = (entry.label if entry is not None else "") or est
        return impacts_plot(run.impacts[est], language=language, labels=labels,
                            title=f"{name}{sep}" + _text("impacts_title", language, level=0.95))
    if spec.kind == "trends":
        group = run.study.data.group
        if group is None:
            raise SpecificationError(format_error(f"figure {spec.name!r}: trends need [data] group = 'COLUMN'"))
        return trends_by_region(panel, spec.variable, region_col=group, time=time, labels=labels,
                                language=language)
    raise SpecificationError(format_error("unknown figure kind", figure=spec.name, kind=spec.kind))


def study_figures(run) -> list[Path]:
    """The study runner's figures step: write every figure under ``run.out / "figures"``.

    Uses the study's ``[[figure]]`` entries, or :func:`default_figure_specs`
    when there are none. Each figure is written as ``NAME.png`` (200 dpi)
    and ``NAME.pdf``; the paths are appended to ``run.files``.

    Parameters
    ----------
    run : StudyRun
        Needs ``panel``, ``geometry`` (maps), ``weights``, ``impacts``,
        ``study``, ``out`` and ``files``.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    specs = list(run.study.figure) or default_figure_specs(run)
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SpecificationError(format_error("figure names must be unique", names=dup))
    folder = Path(run.out) / "figures"
    written: list[Path] = []
    for spec in specs:
        fig = _make_figure(run, spec)
        paths = save_figure(fig, folder / _safe_name(spec.name))
        run.files.extend(paths)
        written.extend(paths)
    return written
