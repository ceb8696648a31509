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

import pandas as pd
from matplotlib.figure import Figure

from spillover.labels import FE_TEXT, METHOD_TEXT
from spillover.report.layout import FLAG_MARK
from spillover.errors import SpecificationError, format_error
from spillover.report.figures import (
    _text,
    _years,
    choropleth,
    impacts_across_w,
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
    first weights matrix; one impacts plot per estimate with impacts; the
    effects of the first regressor across W when at least two estimates with
    impacts differ only by their W (:func:`same_model_across_w`); trends by
    ``[data] group`` when it is set. Figures whose inputs are absent are left
    out.

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
    across = same_model_across_w(run)
    if len(across) >= 2:
        specs.append(FigureSpec(name="impacts_across_w", kind="impacts_across_w", estimates=across))
    if idx and run.study.data.group:
        specs.append(FigureSpec(name="trends_" + "_".join(idx), kind="trends", variable=",".join(idx)))
    return specs


def estimate_label(run, name: str) -> str:
    """An estimate's display label, as the tables print it (its ``label``, else its name)."""
    entry = run.study.estimate_by_name().get(name)
    return _tr(run)((entry.label if entry is not None else "") or name)


def weights_label(run, name: str) -> str:
    """A weights matrix's display label, as the tables' W row prints it (``WeightsSpec.default_label``)."""
    w = run.weights.get(name)
    meta = getattr(w, "spillover_meta", {}) or {}
    if meta.get("label"):
        return _tr(run)(str(meta["label"]))
    specs = getattr(run.study, "weights", None)
    spec = specs.get(name) if isinstance(specs, dict) else None
    return _tr(run)(spec.default_label()) if spec is not None else name


def _tr(run):
    from spillover.study.runner import spec_text

    return spec_text(run)


def _model_key(entry) -> str:
    """Everything that defines an estimate except its name, label, W and impacts settings."""
    import json

    data = entry.model_dump(exclude={"name", "label", "weights", "impacts"})
    return json.dumps(data, sort_keys=True, default=str)


def same_model_across_w(run, baseline: str | None = None) -> list[str]:
    """Estimates with impacts that differ from ``baseline`` only by their weights matrix.

    Parameters
    ----------
    run : StudyRun
        Needs ``study`` and ``impacts``.
    baseline : str, optional
        The reference estimate; default the first estimate with impacts that
        has such a sibling.

    Returns
    -------
    list of str
        Estimate names in spec order, the baseline first, one per W; empty
        when no estimate has a sibling under another W.
    """
    entries = [e for e in run.study.estimate if e.name in run.impacts and e.weights]
    by_key: dict[str, list] = {}
    for e in entries:
        by_key.setdefault(_model_key(e), []).append(e)
    for e in entries:
        if baseline is not None and e.name != baseline:
            continue
        group, seen = [], set()
        for other in by_key[_model_key(e)]:
            if other.weights not in seen:
                seen.add(other.weights)
                group.append(other.name)
        if len(group) >= 2 or baseline is not None:
            return group
    return []


def across_w_frame(run, estimates: list[str], variable: str) -> pd.DataFrame:
    """The impacts of ``variable`` in each of ``estimates``: one row per estimate, indexed by its W's label.

    The rows are the estimates' own impacts tables (the numbers the impacts
    tables print). When two estimates share a W, rows are named by the
    estimates' labels instead.
    """
    rows, names = [], []
    for name in estimates:
        table = getattr(run.impacts[name], "table", run.impacts[name])
        if variable not in table.index:
            raise SpecificationError(format_error("impacts_across_w: variable not in the estimate's impacts",
                                                  estimate=name, variable=variable, available=list(table.index)))
        rows.append(table.loc[variable])
        entry = run.study.estimate_by_name()[name]
        names.append(weights_label(run, entry.weights))
    if len(set(names)) < len(names):
        names = [estimate_label(run, n) for n in estimates]
    return pd.DataFrame(rows, index=pd.Index(names, name="weights"))


def variable_units(run) -> dict[str, str]:
    """Units of the panel's columns where the data declare one (catalog indicators and derived variables)."""
    built = getattr(run, "built", None)
    if built is None:
        return {}
    units: dict[str, str] = {}
    for ind in getattr(built.catalog, "indicator", []) or []:
        if getattr(ind, "unit", None):
            units[ind.id] = str(ind.unit)
    derived = getattr(built, "derived", None)
    if isinstance(derived, pd.DataFrame) and {"name", "unit"} <= set(derived.columns):
        units.update({str(n): str(u) for n, u in zip(derived["name"], derived["unit"], strict=True)
                      if isinstance(u, str) and u})
    return units


#: Display text of the fixed-effects and method choices of a specification grid.


def grid_labels(run, grid) -> dict[str, dict[str, str]]:
    """Display text of every choice of a ``[[grid]]``, for :func:`spillover.study.grid.specification_curve`.

    W by their labels, fixed effects and method as the tables write them
    (:mod:`spillover.labels`); a sample by its own label, else its groups'
    labels ("Central and West"), the whole sample by the study's ``national`` label (else "All
    units"). The curve then shows no key of the spec.

    Returns
    -------
    dict
        ``{"weights": {...}, "sample": {...}, "fe": {...}, "method": {...}}``,
        each mapping a value of the grid table to its text.
    """
    from spillover.study.runner import variable_labels

    labels = variable_labels(run)
    whole = labels.get("national", _text("national", getattr(run, "lang", run.study.study.language)))
    language = getattr(run, "lang", run.study.study.language)
    samples = {key: labels.get(key) or _and_list([labels.get(str(g), str(g)) for g in groups], language) or whole
               for key, groups in grid.samples.items()}
    tr = _tr(run)
    return {"weights": {w: weights_label(run, w) for w in grid.weights}, "sample": samples,
            "fe": {k: tr(v[0].upper() + v[1:]) for k, v in FE_TEXT.items()},
            "method": {k: tr(v) for k, v in METHOD_TEXT.items()}}


def _and_list(names: list[str], language: str = "en") -> str:
    """``["A", "B", "C"]`` as ``"A, B and C"`` (Chinese: ``"A、B和C"``); an empty list as ``""``."""
    comma, conj = ("\u3001", "\u548c") if language == "zh" else (", ", " and ")
    return conj.join([comma.join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


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


def _lisa_frame(run, spec) -> tuple[pd.DataFrame, list, int]:
    """(local Moran frame, periods, permutations) of a ``lisa_map`` figure, computed once per run.

    The same frame serves every rendering language; :func:`figure_inputs`
    computes it before the renderings start.
    """
    from spillover.diagnostics.moran import lisa_by_year

    wname, w = _pick_weights(run, spec)
    perm, seed = _moran_settings(run, spec.variable, wname)
    perm = max(perm, 1)
    entity, time = run.study.data.entity, run.study.data.time
    yrs = _years(run.panel, time, spec.years or None, "last")
    key = ("lisa", spec.variable, wname, tuple(yrs), perm, seed)
    inputs = run.figure_inputs
    if key not in inputs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inputs[key] = lisa_by_year(run.panel[run.panel[time].isin(yrs)], spec.variable, w, entity, time,
                                       permutations=perm, seed=seed)
    return inputs[key], yrs, perm


def figure_inputs(run) -> dict:
    """The runner's step before the figures: compute what they show that is not drawn (the LISA frames).

    Needs the panel and the weights only; returns ``run.figure_inputs``. Also
    makes the figures' font cut (:func:`spillover.report.fonts.latin_cut_family`)
    if this machine has none yet, once, rather than in each rendering.
    """
    from spillover.report import fonts

    fonts.latin_cut_family()
    for spec in list(run.study.figure) or default_figure_specs(run):
        if spec.kind == "lisa_map":
            _lisa_frame(run, spec)
    return run.figure_inputs


def _make_figure(run, spec) -> Figure:
    from spillover.study.runner import variable_labels

    entity, time = run.study.data.entity, run.study.data.time
    language = getattr(run, "lang", run.study.study.language)
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
        return choropleth(run.geometry, panel, spec.variable, years, entity=entity, time=time,
                          units=variable_units(run), **opts)
    if spec.kind == "moran_scatter":
        wname, w = _pick_weights(run, spec)
        perm, seed = _moran_settings(run, spec.variable, wname)
        return moran_scatter(panel, spec.variable, w, years, entity=entity, time=time, permutations=perm,
                             seed=seed, stats=_moran_table(run, spec.variable, wname), labels=labels,
                             language=language)
    if spec.kind == "lisa_map":
        opts = map_options()
        frame, yrs, perm = _lisa_frame(run, spec)
        return lisa_map(run.geometry, frame, yrs, variable=spec.variable, permutations=perm, alpha=0.05, **opts)
    if spec.kind == "impacts":
        if not run.impacts:
            raise SpecificationError(format_error("impacts figure but no estimate has impacts", figure=spec.name))
        est = spec.estimate or next(iter(run.impacts))
        if est not in run.impacts:
            raise SpecificationError(format_error("impacts figure: estimate has no impacts", figure=spec.name,
                                                  estimate=est, available=list(run.impacts)))
        sep = "：" if language == "zh" else ": "
        flags = tuple(getattr(run.estimates.get(est), "flags", ()) or ())
        mark = f"{FLAG_MARK} ({'; '.join(map(_tr(run), flags))})" if flags else ""  # as the tables mark it
        return impacts_plot(run.impacts[est], language=language, labels=labels,
                            title=f"{estimate_label(run, est)}{mark}{sep}" + _text("impacts_title", language,
                                                                                   level=0.95))
    if spec.kind == "impacts_across_w":
        return _across_w_figure(run, spec, labels, language)
    if spec.kind == "trends":
        group = run.study.data.group
        if group is None:
            raise SpecificationError(format_error(f"figure {spec.name!r}: trends need [data] group = 'COLUMN'"))
        return trends_by_region(panel, spec.variable, region_col=group, time=time, labels=labels,
                                units=variable_units(run), language=language)
    raise SpecificationError(format_error("unknown figure kind", figure=spec.name, kind=spec.kind))


def _across_w_figure(run, spec, labels: dict, language: str) -> Figure:
    """The impacts-across-W figure of ``spec``: its ``estimates`` (default :func:`same_model_across_w`)."""
    estimates = list(spec.estimates) or same_model_across_w(run, spec.estimate)
    missing = [e for e in estimates if e not in run.impacts]
    if missing or len(estimates) < 2:
        raise SpecificationError(format_error("impacts_across_w figure needs two or more estimates with impacts",
                                              figure=spec.name, without_impacts=missing,
                                              available=list(run.impacts)))
    first = getattr(run.impacts[estimates[0]], "table", run.impacts[estimates[0]])
    variable = spec.variable or str(first.index[0])
    frame = across_w_frame(run, estimates, variable)
    return impacts_across_w(frame, variable=variable, labels=labels, language=language)


def study_figures(run) -> list[Path]:
    """The study runner's figures step: write every figure under ``run.out / "figures"``.

    Uses the study's ``[[figure]]`` entries, or :func:`default_figure_specs`
    when there are none. Each figure is written as ``NAME.png`` (200 dpi)
    and ``NAME.pdf``; the paths are appended to ``run.files``.

    Parameters
    ----------
    run : StudyRun
        Needs ``panel``, ``geometry`` (maps), ``weights``, ``impacts``,
        ``study``, ``out``, ``files`` and ``figure_inputs`` (a dict where
        computed frames such as the LISA ones are kept, once per run).

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
    folder = Path(run.out) / getattr(run, "render_dir", "") / "figures"
    written: list[Path] = []
    for spec in specs:
        fig = _make_figure(run, spec)
        paths = save_figure(fig, folder / _safe_name(spec.name))
        run.files.extend(paths)
        written.extend(paths)
    for g in getattr(run.study, "grid", []) or []:
        written.extend(grid_figures(run, g, folder))
    from spillover.study import descriptive

    written.extend(descriptive.figures(run, folder))
    return written


def grid_figures(run, grid, folder: Path) -> list[Path]:
    """The direct and indirect specification curves of ``grid`` (none when no specification was estimated)."""
    from spillover.report.figures import variable_label
    from spillover.study.grid import specification_curve
    from spillover.study.runner import variable_labels

    table = run.grids.get(grid.name)
    if table is None or not table["direct"].notna().any():
        return []
    shown = {"labels": grid_labels(run, grid), "variable_label": variable_label(grid.variable, variable_labels(run)),
             "language": getattr(run, "lang", run.study.study.language)}
    written = [p for effect in ("direct", "indirect")
               for p in specification_curve(table, grid.variable, folder / f"{grid.name}_{effect}", effect=effect,
                                            **shown)]
    run.files.extend(written)
    return written
