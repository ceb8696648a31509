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


def default_figure_specs(run) -> list:
    """The figures made when the study declares no ``[[figure]]``.

    Choropleths of dei and cpi (first and last year), a Moran scatterplot and
    a LISA cluster map of cpi in the last year under the first weights
    matrix, one impacts plot per estimate with impacts, and the regional
    trends of dei and cpi. Figures whose inputs are absent are left out.

    Parameters
    ----------
    run : StudyRun
        The study run (``panel``, ``weights``, ``impacts``, ``study``).

    Returns
    -------
    list of spillover.study.spec.FigureSpec
    """
    from spillover.study.spec import FigureSpec

    panel, time = run.panel, run.study.data.time
    y0, y1 = int(panel[time].min()), int(panel[time].max())
    idx = [v for v in ("dei", "cpi") if v in panel.columns]
    specs = []
    if idx:
        specs.append(FigureSpec(name="choropleth_" + "_".join(idx), kind="choropleth", variable=",".join(idx),
                                years=sorted({y0, y1})))
    if "cpi" in panel.columns and run.weights:
        first = next(iter(run.weights))
        specs.append(FigureSpec(name=f"moran_scatter_cpi_{y1}", kind="moran_scatter", variable="cpi",
                                weights=first, years=[y1]))
        specs.append(FigureSpec(name=f"lisa_cpi_{y1}", kind="lisa_map", variable="cpi", weights=first, years=[y1]))
    for est in run.impacts:
        specs.append(FigureSpec(name=f"impacts_{_safe_name(str(est))}", kind="impacts", estimate=str(est)))
    if idx and "region" in panel.columns:
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


def _make_figure(run, spec, geo_cache: dict) -> Figure:
    from spillover.diagnostics.moran import lisa_by_year

    entity, time = run.study.data.entity, run.study.data.time
    language = run.study.study.language
    panel = run.panel

    def geometry():
        if "geo" not in geo_cache:
            geo = getattr(run, "geometry", None)
            if geo is None:
                from spillover.data import default_geometry

                geo = default_geometry()
            geo_cache["geo"] = geo
        return geo_cache["geo"]

    from spillover.data.geometry import ID_COLUMN as geo_id  # the bundled geometry; a study's own: issue 12

    years = spec.years or None
    if spec.kind == "choropleth":
        return choropleth(geometry(), panel, spec.variable, years, entity=entity, id_col=geo_id, time=time,
                          language=language)
    if spec.kind == "moran_scatter":
        wname, w = _pick_weights(run, spec)
        perm, seed = _moran_settings(run, spec.variable, wname)
        return moran_scatter(panel, spec.variable, w, years, entity=entity, time=time, permutations=perm,
                             seed=seed, stats=_moran_table(run, spec.variable, wname), language=language)
    if spec.kind == "lisa_map":
        wname, w = _pick_weights(run, spec)
        perm, seed = _moran_settings(run, spec.variable, wname)
        perm = max(perm, 1)
        yrs = _years(panel, time, years, "last")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = lisa_by_year(panel[panel[time].isin(yrs)], spec.variable, w, entity, time,
                                 permutations=perm, seed=seed)
        return lisa_map(geometry(), frame, yrs, id_col=geo_id, variable=spec.variable, permutations=perm,
                        alpha=0.05, language=language)
    if spec.kind == "impacts":
        if not run.impacts:
            raise SpecificationError(format_error("impacts figure but no estimate has impacts", figure=spec.name))
        est = spec.estimate or next(iter(run.impacts))
        if est not in run.impacts:
            raise SpecificationError(format_error("impacts figure: estimate has no impacts", figure=spec.name,
                                                  estimate=est, available=list(run.impacts)))
        sep = "：" if language == "zh" else ": "
        return impacts_plot(run.impacts[est], language=language,
                            title=f"{est}{sep}" + _text("impacts_title", language, level=0.95))
    if spec.kind == "trends":
        return trends_by_region(panel, spec.variable, region_col="region", time=time, language=language)
    raise SpecificationError(format_error("unknown figure kind", figure=spec.name, kind=spec.kind))


def study_figures(run) -> list[Path]:
    """The study runner's figures step: write every figure under ``run.out / "figures"``.

    Uses the study's ``[[figure]]`` entries, or :func:`default_figure_specs`
    when there are none. Each figure is written as ``NAME.png`` (200 dpi)
    and ``NAME.pdf``; the paths are appended to ``run.files``.

    Parameters
    ----------
    run : StudyRun
        Needs ``panel``, ``weights``, ``impacts``, ``study``, ``out`` and
        ``files`` (a ``geometry`` attribute, when present, replaces
        :func:`spillover.data.default_geometry`).

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
    geo_cache: dict = {}
    written: list[Path] = []
    for spec in specs:
        fig = _make_figure(run, spec, geo_cache)
        paths = save_figure(fig, folder / _safe_name(spec.name))
        run.files.extend(paths)
        written.extend(paths)
    return written
