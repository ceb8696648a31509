"""Run a study folder (``models/``) and write every output under ``results/``.

Steps, in order: data -> weights -> Moran's I -> specification tests ->
estimates -> analyses -> descriptive analyses (regional gaps, densities,
convergence, coupling, obstacle degrees; :mod:`spillover.study.descriptive`)
-> grid -> tables -> figures -> hypotheses -> renderings -> manifest. Each output file is
written atomically; ``results/numbers.csv`` holds every number of every table
in tidy form, which ``spillover verify`` compares.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spillover.errors import SpecificationError, WeightsError
from spillover.io import atomic_write, atomic_write_text
from spillover.labels import FE_TEXT, METHOD_TEXT
from spillover.study.markdown import markdown as _markdown
from spillover.study.markdown import relabel
from spillover.study.paths import StudyPaths
from spillover.study.spec import EstimateSpec, Study, WeightsSpec, load_study

@dataclass
class StudyRun:
    """Everything a study run produced, kept in memory for the hypotheses and tests."""

    study: Study
    paths: StudyPaths
    out: Path  # where the steps write: a staging folder next to ``final`` during the run
    panel: pd.DataFrame | None = None
    built: object = None
    geometry: object = None  # GeoDataFrame of [geometry] (ids as text in its id column), or None
    points: pd.DataFrame | None = None  # lon/lat by id from the catalog's [points], or None
    inputs: dict = field(default_factory=dict)  # spec key -> file read (hashed in the manifest)
    weights: dict = field(default_factory=dict)
    estimates: dict = field(default_factory=dict)
    impacts: dict = field(default_factory=dict)
    moran: pd.DataFrame | None = None
    diagnostics: dict = field(default_factory=dict)
    analyses: dict = field(default_factory=dict)
    numbers: list[pd.DataFrame] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)  # estimate name -> notes for the tables that show it
    engine: object = None  # spillover.engine.Engine for the grid and the bootstraps (None: in-process)
    grids: dict = field(default_factory=dict)
    figure_inputs: dict = field(default_factory=dict)  # computed frames the figures show (LISA), by their inputs
    markdown_tables: list = field(default_factory=list)  # (name, frame, title, note) of the analyses' tables
    weights_summary: pd.DataFrame | None = None  # one row per W (label, kind, links, islands, ...)
    final: Path | None = None  # the --out folder the outputs move into when every step has succeeded
    language: str | None = None  # the language tables, figures and the README are being rendered in (None: the study's)
    tr: Callable[[str], str] = field(default=lambda text: text)  # the study's display text in ``language``
    render_dir: str = ""  # "" for the study's language, "<language>/" for a further rendering

    @property
    def lang(self) -> str:
        """The language being rendered."""
        return self.language or self.study.study.language

    def read(self, rel: str, key: str) -> Path:
        """Resolve a path the spec names (see :mod:`spillover.study.paths`) and record it as an input."""
        path = self.paths.resolve(rel, key=key)
        self.inputs[key] = path
        return path

    def write_csv(self, rel: str, df: pd.DataFrame, index: bool = False) -> Path:
        path = self.out / rel
        atomic_write(path, lambda p: df.to_csv(p, index=index, encoding="utf-8", float_format="%.10g"))
        self.files.append(path)
        return path

    def write_text(self, rel: str, text: str) -> Path:
        path = atomic_write_text(self.out / rel, text)
        self.files.append(path)
        return path

    def add_numbers(self, output: str, df: pd.DataFrame, row: str, columns: list[str]) -> None:
        long = df.melt(id_vars=[row], value_vars=columns, var_name="column", value_name="value")
        long.insert(0, "output", output)
        long = long.rename(columns={row: "row"})
        self.numbers.append(long[["output", "row", "column", "value"]])


# ---------------------------------------------------------------- weights
def build_weights(spec: WeightsSpec, geo, panel: pd.DataFrame, entity: str, *, id_col: str | None = None,
                  points=None, path: Path | None = None):
    """A libpysal W (row-standardised, ids = entity values as text) from one ``[weights.NAME]`` entry.

    ``geo`` (the study's ``[geometry]``, id column ``id_col``) gives the
    polygons for contiguity and centroids for distances; ``points`` (lon/lat
    by id, the catalog's ``[points]``) replace the centroids when given;
    ``path`` is the resolved ``path`` of ``kind = "file"``.
    """
    from spillover import weights as wmod
    from spillover.errors import WeightsError, format_error

    values = None
    if spec.kind in ("economic", "nested"):
        if spec.variable not in panel.columns:
            raise SpecificationError(f"weights: variable {spec.variable!r} is not a panel column")
        values = panel.groupby(entity)[spec.variable].mean()
    if spec.coords is not None:
        missing = [c for c in spec.coords if c not in panel.columns]
        if missing:
            raise SpecificationError(f"weights: coords {missing} are not panel columns")
        by_unit = panel.groupby(panel[entity].astype(str))[list(spec.coords)]
        spread = by_unit.nunique()  # blank cells aside, as first() below
        for col in spec.coords:
            varying = spread.index[spread[col] > 1]
            if len(varying):
                from spillover.errors import DataError

                unit = varying[0]
                seen = sorted(panel.loc[panel[entity].astype(str) == unit, col].dropna().drop_duplicates().tolist(),
                              key=str)[:4]
                raise DataError(format_error(
                    f"coordinates must be constant within a unit: {col!r} takes {int(spread.loc[unit, col])} "
                    f"values in unit {unit!r} ({seen}){f' and in {len(varying) - 1} more unit(s)' if len(varying) > 1 else ''}",
                    column=col, unit=unit, option="coords",
                    hint="one location per unit: fix the panel's coordinate cells, or derive constant coordinates"))
        points = by_unit.first().set_axis(["lon", "lat"], axis=1)
    if spec.kind in ("contiguity", "knn", "inverse_distance", "distance_band", "exponential", "nested") and \
            geo is None and (spec.kind == "contiguity" or points is None):
        raise WeightsError(format_error(f"kind = {spec.kind!r} needs the units' geometry",
                                        hint="add [geometry] file = 'FILE' and id = 'COLUMN' to the study"))
    w = wmod.build(spec.kind, geo=geo, id_col=id_col, points=points, values=values,
                   contiguity_kind=spec.contiguity, islands=spec.islands, power=spec.power,
                   cutoff_km=spec.cutoff_km, k=spec.k, nested_kind=spec.nested, phi=spec.phi, path=path,
                   bandwidth_km=spec.bandwidth_km)
    ids = set(map(str, w.id_order))
    units = set(panel[entity].astype(str))
    if ids != units:
        from spillover.frame import show

        raise WeightsError(format_error(
            "weights ids and panel units differ: " + "; ".join(
                part for part in (f"not in the panel: {show(ids - units)}" if ids - units else "",
                                  f"not in W: {show(units - ids)}" if units - ids else "") if part),
            hint="the W must hold exactly the panel's units"))
    return w


def subset_weights(w, ids: list[str], name: str, islands: str = "raise"):
    """W restricted to ``ids`` and re-standardised, keeping its label; returns (W, islands found, dropped).

    ``islands="raise"`` stops with an error naming the units left without a
    neighbour; ``"drop"`` removes them (they are reported in the table notes).
    """
    from spillover.analysis.heterogeneity import subset_weights as restrict

    sub, found, dropped = restrict(w, ids, islands=islands)
    meta = dict(getattr(w, "spillover_meta", {}))
    meta["label"] = f"{meta.get('label', name)}, subsample"
    sub.spillover_meta = meta
    return sub, found, dropped


# ---------------------------------------------------------------- estimates
def interpolated_cells(run: StudyRun, indicators: list[str], name: str = "") -> pd.DataFrame:
    """The (entity, time) pairs where any of ``indicators`` holds an interpolated (flagged) value."""
    entity, time_col = run.study.data.entity, run.study.data.time
    cor = run.built.corrections_frame()
    flagged = cor[cor["what"].str.startswith("interpolated")]
    known = set(run.built.catalog.ids())
    unknown = [v for v in indicators if v not in known]
    if unknown:
        raise SpecificationError(f"estimate {name!r}: drop_interpolated: {unknown} are not indicators of "
                                 f"{run.study.data.catalog}; "
                                 f"indicators with interpolated cells: {sorted(set(flagged['indicator']))}")
    sel = flagged[flagged["indicator"].isin(indicators)]
    return pd.DataFrame({entity: sel["province"].astype(str), time_col: sel["year"].astype(int)}).drop_duplicates()


def estimate_data(run: StudyRun, e: EstimateSpec) -> pd.DataFrame:
    entity, time_col = run.study.data.entity, run.study.data.time
    df = run.panel
    if e.groups:
        group = run.study.data.group
        absent = sorted(set(e.groups) - set(df[group].astype(str)))
        if absent:
            raise SpecificationError(f"estimate {e.name!r}: groups {absent} are not values of [data] group = "
                                     f"{group!r}; values: {sorted(df[group].astype(str).unique())}")
        df = df[df[group].astype(str).isin(e.groups)]
    if e.lag:
        from spillover.panel import add_lag

        for v in e.lag:
            df = add_lag(df, v, entity, time_col)
            df[v] = df.pop(f"L1_{v}")
        df = df[df[time_col] > df[time_col].min()]
    if e.years is not None:
        df = df[df[time_col].between(*e.years)]
        if df.empty:
            raise SpecificationError(f"estimate {e.name!r}: years {list(e.years)} keep no observation; the panel "
                                     f"runs {run.panel[time_col].min()}-{run.panel[time_col].max()}")
    if e.drop_interpolated:
        cells = interpolated_cells(run, e.drop_interpolated, e.name)
        key = df[entity].astype(str) + "|" + df[time_col].astype(int).astype(str)
        drop = set(cells[entity] + "|" + cells[time_col].astype(str))
        df = df[~key.isin(drop)]
    return df.reset_index(drop=True)


def fit_estimate(run: StudyRun, e: EstimateSpec):
    """Fit one ``[[estimate]]`` entry through its registry entry; returns the fitted result."""
    from spillover import registry

    entity, time_col = run.study.data.entity, run.study.data.time
    est = registry.get(e.model)
    df = estimate_data(run, e)
    w = run.weights[e.weights] if est.spatial else None
    names = {opt: name for opt, name in (("w_x", e.weights_x), ("w_u", e.weights_u)) if name}
    others = {opt: run.weights[name] for opt, name in names.items()}
    notes: list[str] = []
    if est.spatial and e.groups:
        w, _, dropped = subset_weights(w, sorted(df[entity].unique()), e.weights, islands=e.islands)
        others = {opt: subset_weights(run.weights[name], list(w.id_order), name)[0] for opt, name in names.items()}
        if dropped:
            df = df[~df[entity].isin(dropped)].reset_index(drop=True)
            notes.append(f"{e.label or e.name}: {', '.join(map(str, dropped))} left without a neighbour in the "
                         "restricted W and dropped")
    if est.spatial and e.drop_interpolated:
        from spillover.spatial.unbalanced import fit_unbalanced

        res = fit_unbalanced(e.formula, df, w, entity, time_col, model=e.model, fe=e.fe,
                             cov=e.estimator_options().get("cov") or "numerical", **others)
        isl = {k: v for k, v in res.extra["islands"].items() if v}
        names = _series_names(run)
        notes.append(f"{e.label or e.name}: {len(df)} of {len(run.panel)} observations (cells with interpolated "
                     f"{'; '.join(names.get(s_, s_) for s_ in e.drop_interpolated)} dropped); per-period W "
                     "restricted to the observed units"
                     + ("; without an observed neighbour (spatial lags 0 in that year): "
                        + "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in sorted(isl.items())) if isl else "")
                     + ".")
    else:
        res = est.run(registry.FitRequest(e.formula, df, w, entity, time_col, fe=e.fe, method=e.method,
                                          options={**e.estimator_options(), **others}))
    if notes:
        run.notes.setdefault(e.name, []).extend(notes)
    return res


# ---------------------------------------------------------------- steps
def step_data(run: StudyRun) -> None:
    """The panel (catalog pipeline or a user's file), its derived columns and indices, the geometry."""
    from spillover.data.sources import read_geometry, read_panel, select

    d = run.study.data
    if d.catalog:
        from spillover.data import build_panel
        from spillover.data.export import write_panel_outputs

        built = build_panel(run.read(d.catalog, "data.catalog"))
        panel = select(built.data, entity=d.entity, time=d.time, periods=d.years, units=d.units,
                       derived=d.derive, file=d.catalog)
        run.built = built
        run.files.extend(write_panel_outputs(built, run.out / "data", data=panel))
        for name, wt in built.weights.items():
            run.add_numbers(f"weights_{name}", wt.assign(row=wt["indicator"]), "row", ["weight"])
        if built.catalog.points is not None:
            from spillover.data.points import read_points

            run.points = read_points(built.catalog)
    else:
        panel = read_panel(run.read(d.panel, "data.panel"), entity=d.entity, time=d.time, periods=d.years,
                           units=d.units, derived=d.derive, encoding=d.encoding, wide=d.wide,
                           numbers=d.number_format)
    from spillover.study.preflight import check_columns, check_indicators

    check_indicators(run.study, run.built.catalog.ids() if run.built is not None else None)
    check_columns(run.study, panel, coming=[ix.name for ix in run.study.index])  # before any index is fitted
    panel = add_indices(run, panel)
    if d.check or d.relations:
        from spillover.data.plausibility import check, findings_frame

        found = check(panel, d.check, d.relations, entity=d.entity, time=d.time,
                      where={"file": d.panel or d.catalog})
        run.write_csv("data/flags.csv", findings_frame(found, d.entity, d.time))
    if not d.catalog:
        run.files.append(atomic_write(run.out / "data" / "panel.parquet", lambda p: panel.to_parquet(p, index=False)))
        run.write_csv("data/panel.csv", panel)
    run.panel = panel
    g = run.study.geometry
    if g is not None:
        run.geometry = read_geometry(run.read(g.file, "geometry.file"), g.id, layer=g.layer, crs=g.crs,
                                     ids=sorted(panel[d.entity].astype(str).unique()))
    write_descriptives(run)


def add_indices(run: StudyRun, panel: pd.DataFrame) -> pd.DataFrame:
    """Each ``[[index]]`` as a new panel column; its weights to ``data/index_NAME_weights.csv`` and numbers."""
    from spillover.indices import EntropyIndex, PCAIndex, TopsisIndex

    classes = {"entropy": EntropyIndex, "topsis": TopsisIndex, "pca": PCAIndex}
    for ix in run.study.index:
        if ix.name in panel.columns:
            raise SpecificationError(f"index {ix.name!r}: the panel already has a column of that name")
        res = classes[ix.method](pooling=ix.pooling, time=run.study.data.time).fit(
            panel, list(ix.indicators), directions=dict(ix.indicators), dimensions=dict(ix.dimensions) or None)
        panel = panel.assign(**{ix.name: res.scores.to_numpy()})
        run.analyses[f"index:{ix.name}"] = res
        run.write_csv(f"data/index_{ix.name}_weights.csv", res.weights)
        run.add_numbers(f"index_{ix.name}", res.weights.assign(row=res.weights["indicator"].astype(str)), "row",
                        ["weight"])
    return panel


def describe_columns(run: StudyRun) -> list[str]:
    """``[data] describe``, else every panel column the ``[[estimate]]`` formulas read, in order of appearance."""
    from spillover.formula import variables

    d = run.study.data
    if d.describe:
        missing = [c for c in d.describe if c not in run.panel.columns]
        if missing:
            raise SpecificationError(f"[data] describe: {missing} are not panel columns")
        return list(d.describe)
    seen: dict[str, None] = {}
    for e in run.study.estimate:
        for v in sorted(variables(e.formula.replace("[", "").replace("]", "").replace("~", "+", 1)
                                  if e.model == "iv" else e.formula)):
            if v in run.panel.columns and pd.api.types.is_numeric_dtype(run.panel[v]):
                seen.setdefault(v, None)
    return list(seen)


def write_descriptives(run: StudyRun) -> None:
    d = run.study.data
    cols = describe_columns(run)
    if not cols:
        return
    panel = run.panel
    desc = panel[cols].describe().T[["count", "mean", "std", "min", "max"]].reset_index(names="variable")
    y0, y1 = int(panel[d.time].min()), int(panel[d.time].max())
    n = panel[d.entity].nunique()
    run.write_csv("tables/descriptive_statistics.csv", desc)
    write_markdown(run, "descriptive_statistics", desc, f"Descriptive statistics, {n} {d.unit_label}, {y0}-{y1}")
    run.add_numbers("descriptive_statistics", desc, "variable", ["mean", "std", "min", "max"])


def step_weights(run: StudyRun) -> None:
    from spillover import weights as wmod

    g = run.study.geometry
    rows = []
    for name, spec in run.study.weights.items():
        path = run.read(spec.path, f"weights.{name}.path") if spec.kind == "file" else None
        try:
            w = build_weights(spec, run.geometry, run.panel, run.study.data.entity, id_col=g.id if g else None,
                              points=run.points, path=path)
        except WeightsError as exc:  # say which [weights.NAME] of the study
            raise WeightsError(f"[weights.{name}] {exc}") from None
        label = spec.default_label()
        w.spillover_meta = {**getattr(w, "spillover_meta", {}), "label": label}
        run.weights[name] = w
        ids = list(w.id_order)
        run.write_csv(f"weights/{name}.csv", pd.DataFrame(w.full()[0], index=ids, columns=ids), index=True)
        d = wmod.describe(w)
        rows.append({"weights": name, "label": label, "kind": spec.kind, "n": d.get("n"),
                     "links": d["links"], "mean_neighbours": d["mean_neighbours"], "islands": len(d["islands"]),
                     "components": d["n_components"], "transform": d["transform"]})
    if rows:
        run.weights_summary = pd.DataFrame(rows)
        run.write_csv("weights/summary.csv", run.weights_summary)


def step_moran(run: StudyRun) -> None:
    import spillover as sp

    frames = []
    for m in run.study.moran:
        for var in m.variables:
            for wn in m.weights:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # small-N warning: p_sim is reported
                    r = sp.moran_by_year(run.panel, var, run.weights[wn], run.study.data.entity,
                                         run.study.data.time, permutations=m.permutations, seed=m.seed)
                frames.append(r.assign(variable=var, weights=wn))
    if not frames:
        return
    df = pd.concat(frames, ignore_index=True)[["variable", "weights", "year", "I", "expected", "z", "p_norm", "p_sim"]]
    run.moran = df
    run.write_csv("tables/moran_by_year.csv", df)
    labels = variable_labels(run)
    shown = pd.DataFrame({
        "Variable": df["variable"].map(lambda v: labels.get(v, v)),
        "W": df["weights"].map(lambda w: run.weights[w].spillover_meta["label"]),
        "Year": df["year"], "I": df["I"], "E[I]": df["expected"], "z": df["z"],
        "p (normal, two-sided)": df["p_norm"], "p (permutation, one-sided)": df["p_sim"]})
    perms = sorted({int(m.permutations) for m in run.study.moran})
    write_markdown(run, "moran_by_year", shown, "Global Moran's I by year",
                   f"E[I] = -1/(N-1) and z under the normality assumption (Cliff & Ord 1981); the permutation "
                   f"p-value is one-sided in the direction of the observed I ({', '.join(map(str, perms))} random "
                   "permutations, esda's folded pseudo p-value).", shown=True)
    key = df.assign(row=df["variable"] + "|" + df["weights"] + "|" + df["year"].astype(str))
    run.add_numbers("moran_by_year", key, "row", ["I", "z", "p_sim"])


def step_diagnose(run: StudyRun) -> None:
    import spillover as sp

    for d in run.study.diagnose:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = sp.specification_search(d.formula, run.panel, run.weights[d.weights], run.study.data.entity,
                                        run.study.data.time, fe=d.fe, method=d.method)
        run.diagnostics[d.name] = s
        tab = s.table.reset_index()
        run.write_csv(f"tables/{d.name}.csv", tab)
        shown = tab.rename(columns={"test": "Test", "model": "Model", "stat": "Statistic", "p": "p-value",
                                    "points_to": "Points to"})
        shown["Test"] = shown["Test"].map(lambda k: _TEST_TEXT.get(k, k))
        w_label = run.weights[d.weights].spillover_meta["label"]
        write_markdown(run, d.name, shown, f"Specification tests ({relabel(d.formula, variable_labels(run))}; W: "
                       f"{w_label})", " ".join([
                           "LM tests on the non-spatial model with the same effects: classic (Anselin 1988) and "
                           "robust (Anselin, Bera, Florax & Yoon 1996) in the panel form of Elhorst (2014, section "
                           "3.3), each chi-squared(1).", f"Chosen model: **{s.chosen}**.", s.reason]).strip(),
                       shown=True)
        run.add_numbers(d.name, tab, "test", ["stat", "p"])
    for b in run.study.model_probabilities:
        write_model_probabilities(run, b)


def write_model_probabilities(run: StudyRun, b) -> None:
    """One ``[[model_probabilities]]`` entry: log-marginal likelihoods and posterior probabilities (LeSage 2014)."""
    import spillover as sp

    ws = {wn: run.weights[wn] for wn in b.weights}
    res = sp.model_probabilities(b.models, b.formula, run.panel, ws if len(ws) > 1 else ws[b.weights[0]],
                                 run.study.data.entity, run.study.data.time, fe=b.fe, prior=b.prior)
    tab = res.reset_index()
    if "W" not in tab.columns:
        tab.insert(1, "W", b.weights[0])
    run.analyses[b.name] = tab
    run.write_csv(f"tables/{b.name}.csv", tab)
    label = {wn: run.weights[wn].spillover_meta["label"] for wn in ws}
    shown = pd.DataFrame({"Model": tab["model"].str.upper(), "W": tab["W"].map(lambda v: label.get(v, "-")),
                          "Log-marginal likelihood": tab["log_marginal"],
                          "Posterior probability": tab["probability"]})
    prior = ("uniform on the admissible interval of rho or lambda" if b.prior == "uniform"
             else "beta(1.01, 1.01) on (-1, 1) for rho or lambda")
    write_markdown(run, b.name, shown, f"Bayesian comparison of spatial models ({relabel(b.formula, variable_labels(run))}; "
                   f"{FE_TEXT.get(b.fe, b.fe)})",
                   f"Log-marginal likelihoods and posterior model probabilities with equal prior probabilities over "
                   f"the rows (LeSage 2014, Spatial Statistics 9, 122-145): flat priors on the coefficients, 1/sigma "
                   f"on sigma, {prior}; the marginal integrates the spatial parameter numerically.", shown=True)
    key = tab.assign(row=tab["model"].astype(str) + "|" + tab["W"].astype(str))
    run.add_numbers(b.name, key, "row", ["log_marginal", "probability"])


def step_estimates(run: StudyRun, progress: Callable[[str], None] | None = None) -> None:
    from spillover import registry

    for e in run.study.estimate:
        if progress:
            progress(e.name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            res = fit_estimate(run, e)
        run.estimates[e.name] = res
        if e.impacts is not None:
            kw = {"draws": e.impacts.draws, "seed": e.impacts.seed, "method": e.impacts.method}
            if registry.get(e.model).dynamic:
                kw["kind"] = e.impacts.kind
                if e.impacts.kind != "short" and res.spectral_radius() >= 1:
                    run.notes.setdefault(e.name, []).append(
                        f"{e.label or e.name}: the estimate lies outside the stable region (spectral radius of "
                        f"A = {res.spectral_radius():.3f} >= 1), so long-run effects are not defined and left blank.")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=UserWarning)  # undefined long run: stated in the notes
                run.impacts[e.name] = res.impacts(**kw)


def write_markdown(run: StudyRun, name: str, table: pd.DataFrame, title: str, note: str | None = None, *,
                   shown: bool = False) -> Path:
    """``tables/NAME.md``, kept to be rendered again in each further language.

    A ``table`` of machine names gets labels and headers in words; one whose cells and headers are
    already display text (``shown=True``) is only translated, so that a label's words ("west" in
    "Central and west") are not taken for names.
    """
    run.markdown_tables.append((name, table, title, note, shown))
    return run.write_text(f"tables/{name}.md", _markdown_shown(run, table, title, note, shown))


def _markdown_shown(run: StudyRun, table: pd.DataFrame, title: str, note: str | None, shown: bool) -> str:
    tr = run.tr
    return _markdown(table, tr(title), tr(note) if note else None, translate=tr,
                     **({"headers": {}} if shown else {"labels": variable_labels(run)}))


def _write_analysis(run: StudyRun, name: str, table: pd.DataFrame, title: str, numeric: list[str],
                    note: str | None = None) -> None:
    """CSV with the machine names (and numbers.csv rows); Markdown with labels and headers in words."""
    tab = table.reset_index()
    key = tab.columns[0]
    run.write_csv(f"tables/{name}.csv", tab)
    write_markdown(run, name, tab, title, note)
    cols = [c for c in numeric if c in tab.columns]
    run.add_numbers(name, tab.assign(**{key: tab[key].astype(str)}), key, cols)


def step_analyses(run: StudyRun) -> None:
    """Mechanisms (mediation), nonlinearity (Hansen threshold) and regional regimes."""
    from spillover.analysis import mediation, panel_threshold, regime_sdm, spatial_mediation

    ent, tim = run.study.data.entity, run.study.data.time
    lab = variable_labels(run)
    L = lambda v: lab.get(v, v)  # noqa: E731
    for m in run.study.mediation:
        for med in m.mediators:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = mediation(m.formula, run.panel, ent, tim, mediator=med, treatment=m.treatment, fe=m.fe,
                              bootstrap=m.bootstrap, seed=m.seed, engine=run.engine)
            run.analyses[f"{m.name}:{med}"] = r
            _write_analysis(run, f"{m.name}_{med}", r.table,
                            f"Mediation of {L(m.treatment)} through {L(med)} ({FE_TEXT.get(m.fe, m.fe)})",
                            ["estimate", "se", "p", "ci_low", "ci_high"],
                            "Paths after Baron & Kenny (1986); the mediated effect a*b with the Sobel (1982) standard "
                            f"error and a percentile interval from {m.bootstrap} cluster-bootstrap samples by unit "
                            f"(seed {m.seed}); other intervals: estimate +/- 1.96 SE.")
            if m.weights:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    sr = spatial_mediation(m.formula, run.panel, run.weights[m.weights], ent, tim, mediator=med,
                                           treatment=m.treatment, draws=m.draws, seed=m.seed)
                run.analyses[f"{m.name}:{med}:spatial"] = sr
                _write_analysis(run, f"{m.name}_{med}_spatial", sr.table,
                                f"Spatial mediation of {L(m.treatment)} through {L(med)} (SDM impacts, W: "
                                f"{run.weights[m.weights].spillover_meta['label']})",
                                [c for c in sr.table.columns if sr.table[c].dtype.kind == "f"],
                                f"x: {L(m.treatment)}; m: {L(med)}; y: {L(m.formula.split('~')[0].strip())}. "
                                f"Standard errors and 95% percentile intervals from {m.draws} draws of each SDM's "
                                f"estimates (seed {m.seed}).")
    for th in run.study.threshold:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = panel_threshold(th.formula, run.panel, ent, tim, threshold_var=th.threshold_var,
                                regime_vars=th.regime_vars or None, n_thresholds=th.n_thresholds, fe=th.fe,
                                bootstrap=th.bootstrap, seed=th.seed, engine=run.engine)
        run.analyses[th.name] = r
        t1 = r.table()
        _write_analysis(run, th.name, t1, f"Hansen (1999) threshold tests, threshold variable {L(th.threshold_var)}",
                        [c for c in t1.columns if t1[c].dtype.kind == "f"],
                        f"F tests of k against k - 1 thresholds, p-values from {th.bootstrap} bootstrap samples "
                        f"(seed {th.seed}); 95% intervals invert the likelihood ratio (Hansen 1999, eq. 16).")
        t2 = r.coef_table()
        _write_analysis(run, f"{th.name}_coefficients", t2, f"Threshold model coefficients (q: {L(th.threshold_var)})",
                        [c for c in t2.columns if t2[c].dtype.kind == "f"])
    for rg in run.study.regime:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = regime_sdm(rg.formula, run.panel, run.weights[rg.weights], ent, tim, regime_col=rg.regime_col or run.study.data.group,
                           var=rg.var, fe=rg.fe, method=rg.method, draws=rg.draws, seed=rg.seed)
        run.analyses[rg.name] = r
        _write_analysis(run, f"{rg.name}_wald", r.wald_tests, f"Wald tests of equal regional effects of {L(rg.var)}",
                        [c for c in r.wald_tests.columns if r.wald_tests[c].dtype.kind == "f"])
        _write_analysis(run, f"{rg.name}_impacts", r.impacts, f"Regional impacts of {L(rg.var)} (regime SDM)",
                        [c for c in r.impacts.columns if r.impacts[c].dtype.kind == "f"])


def step_grid(run: StudyRun) -> None:
    """Specification grids (weights x samples x fe x method) through the run's engine."""
    from spillover.study.grid import run_grid

    for g in run.study.grid:
        table = run_grid(g, run.panel, run.weights, run.study.data.entity, run.study.data.time, engine=run.engine,
                         group=run.study.data.group)
        run.grids[g.name] = table
        run.write_csv(f"tables/{g.name}.csv", table)
        labels = variable_labels(run)
        show = table[["spec", "weights", "sample", "fe", "method", "nobs", "spatial", "coef", "direct", "direct_se",
                      "indirect", "indirect_se", "total", "total_se", "error"]].assign(
            weights=table["weights"].map(lambda w: run.weights[w].spillover_meta["label"]),
            sample=table["sample"].map(lambda v: labels.get(v, v)), fe=table["fe"].map(lambda v: FE_TEXT.get(v, v)),
            method=table["method"].map(lambda v: METHOD_TEXT.get(v, v))).rename(columns={
                "spec": "Specification", "weights": "W", "sample": "Sample", "fe": "Effects", "method": "Method",
                "nobs": "Observations", "spatial": "rho", "coef": "Coefficient", "error": "Error"})
        ok = table["direct"].notna()
        positive = {e: int(((table[e] > 0) & (table[f"{e}_p"] < 0.05)).sum()) for e in ("direct", "indirect")}
        write_markdown(run, g.name, show, f"Specification grid: {g.model.upper()} {relabel(g.formula, labels)}; "
                       f"effects of {labels.get(g.variable, g.variable)} ({g.impacts.method} standard errors); "
                       f"{int(ok.sum())} of {len(table)} specifications estimated",
                       f"Direct effect positive and significant at 5% in {positive['direct']} of {int(ok.sum())}; "
                       f"indirect in {positive['indirect']}.", shown=True)
        key = table.assign(row=table[["weights", "sample", "fe", "method"]].astype(str).agg("|".join, axis=1))
        run.add_numbers(g.name, key, "row", ["spatial", "coef", "direct", "direct_se", "indirect", "indirect_se",
                                              "total", "total_se"])


def step_tables(run: StudyRun) -> None:
    """Every ``[[table]]`` in each of its formats; numbers.csv rows from the study's own language only."""
    from spillover.report.tables import Table

    labels = variable_labels(run)
    specs = run.study.estimate_by_name()
    for t in run.study.table:
        results = [run.estimates[c] for c in t.columns]
        names = t.column_names or [specs[c].label or c for c in t.columns]
        imps = [run.impacts.get(c) for c in t.columns] if t.impacts else None
        notes = ([t.notes] if t.notes else []) + [n for c in t.columns for n in run.notes.get(c, [])]
        table = Table.from_results(results, names, stat=t.stat, impacts=imps, labels=labels,
                                   title=t.title or t.name, notes=notes or None)
        if not run.render_dir:
            nums = table.numbers()
            nums.insert(0, "output", t.name)
            run.numbers.append(_tidy_numbers(nums))
        table = table.translated(run.tr)
        run.files.extend(Path(p) for p in table.write(run.out / run.render_dir / "tables" / t.name,
                                                      formats=t.formats))


def step_renderings(run: StudyRun, figures: bool = True) -> None:
    """Tables, figures and the README again in each ``[study] renderings`` language, under ``<language>/``.

    Spec text (titles, notes, labels of estimates and W, claims) comes from
    ``[translations.<language>]``; what is left untranslated is listed in
    ``<language>/untranslated.txt`` so a study can complete it.
    """
    from spillover.report.docx_fonts import expect_text
    from spillover.report.i18n import Translator
    from spillover.study import descriptive, readme

    for lang in run.study.study.renderings:
        if lang == run.study.study.language:
            continue
        known = {i.name_en: i.name_zh for i in run.built.catalog.indicator} if run.built is not None and lang == "zh" \
            else {}
        en, other = run.study.labels.get("en", {}), run.study.labels.get(lang, {})
        labelled = {en[k]: other[k] for k in en if k in other}  # an English label in prose -> its label here
        tr = Translator(lang, {**known, **labelled, **run.study.translations.get(lang, {})})
        before = run.language, run.tr, run.render_dir
        run.language, run.tr, run.render_dir = lang, tr, f"{lang}/"
        try:
            expect_text("".join(tr.phrases.values()) + "".join(descriptive.unit_names(run).values()))
            step_tables(run)
            descriptive.write_tables(run)
            for name, tab, title, note, shown in run.markdown_tables:
                run.write_text(f"{lang}/tables/{name}.md", _markdown_shown(run, tab, title, note, shown))
            if figures:
                from spillover.study import figures as figmod

                figmod.study_figures(run)
            readme.write_readme(run)
        finally:
            run.language, run.tr, run.render_dir = before
        if tr.missing:
            run.write_text(f"{lang}/untranslated.txt", "\n".join(sorted(tr.missing)) + "\n")


def _series_names(run: StudyRun) -> dict[str, str]:
    """Readable names of the catalog's series (empty for a user's panel file): for notes, not ids."""
    built = run.built
    return {i.id: i.name_en for i in built.catalog.indicator} if built is not None else {}


def _tidy_numbers(nums: pd.DataFrame) -> pd.DataFrame:
    value_cols = [c for c in ("coef", "se", "t", "p") if c in nums.columns]
    long = nums.melt(id_vars=["output", "column", "row"], value_vars=value_cols, var_name="stat", value_name="value")
    long["row"] = long["row"].astype(str) + "|" + long["stat"]
    long["column"] = long["column"].astype(str)
    return long[["output", "row", "column", "value"]]


def spec_text(run) -> Callable[[str], str]:
    """The study's own display text in the language being rendered (identity for the study's language)."""
    return getattr(run, "tr", None) or (lambda text: text)


def variable_labels(run: StudyRun) -> dict[str, str]:
    """Display labels from ``[labels.<language>]``, falling back to ``[labels.en]`` (then the names)."""
    labels = {"rho": "rho", "lambda": "lambda"}
    labels.update(run.study.labels.get("en", {}))
    labels.update(run.study.labels.get(getattr(run, "lang", run.study.study.language), {}))
    return labels


#: The LM test keys of :func:`spillover.lm_tests` as a table prints them.
_TEST_TEXT = {"lm_lag": "LM lag", "lm_error": "LM error", "robust_lm_lag": "Robust LM lag",
              "robust_lm_error": "Robust LM error"}


# ---------------------------------------------------------------- driver
STEPS = ("data", "weights", "moran", "diagnose", "figure inputs", "grid", "estimates", "analyses", "descriptive",
         "descriptive tables", "tables", "figures", "hypotheses", "renderings")


def run_study(models: str | Path = "models", out: str | Path = "results", *,
              progress=None, figures: bool = True, engine=None, parallel: bool = True) -> StudyRun:
    """Run every step of the study in ``models`` and write ``out``; returns the in-memory :class:`StudyRun`.

    ``engine`` (:class:`spillover.engine.Engine`) runs the specification grids
    and the bootstraps; by default they run in this process. The numbers do
    not depend on it. ``parallel``: write the further renderings (``[study]
    renderings``) in a second process while this one writes the study's own
    tables, figures and README, and run the steps that need only the panel
    and the weights (Moran and the LM tests; the figures' inputs) beside the
    estimation steps (:class:`_Groups`), their changes merged back in order
    (:func:`_changes_of`), where that is safe and useful (:class:`_Forked`);
    the files are the same.
    """
    from spillover.study import descriptive, manifest, readme

    models = Path(models)
    study = load_study(models)
    final = Path(out)
    if final.exists() and not final.is_dir():
        raise SpecificationError(f"--out {final} is a file, not a folder: give a folder for the results")
    paths = StudyPaths.of(models)
    _refuse_raw_out(study, paths, final)
    staging = _staging(final)
    try:  # from here on, a failed or interrupted run (Ctrl-C too) removes its staging folder
        run = StudyRun(study=study, paths=paths, out=staging, engine=engine, final=final)
        first: list[tuple[str, Callable[[], Any]]] = [("data", lambda: step_data(run)),
                                                      ("weights", lambda: step_weights(run))]
        # need only the panel and the weights: run beside the estimation steps (_Groups), their changes merged back in
        # order
        beside: list[list[tuple[str, Callable[[], Any]]]] = [[("moran", lambda: step_moran(run)),
                                                              ("diagnose", lambda: step_diagnose(run))]]
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("grid", lambda: step_grid(run)),  # here: a dask client (the engine) is not shared with a forked copy
            ("estimates", lambda: step_estimates(run)),
            ("analyses", lambda: step_analyses(run)),
            ("descriptive", lambda: descriptive.step_descriptive(run)),
        ]
        # the study's own tables, figures and README; a further rendering only needs the steps above
        later: list[tuple[str, Callable[[], Any]]] = [("descriptive tables", lambda: descriptive.write_tables(run)),
                                                      ("tables", lambda: step_tables(run))]
        if figures:
            from spillover.study import figures as figmod

            beside.append([("figure inputs", lambda: figmod.figure_inputs(run))])
            later.append(("figures", lambda: figmod.study_figures(run)))
        later.append(("hypotheses", lambda: readme.write_readme(run)))
        renderings = ("renderings", lambda: step_renderings(run, figures=figures))
        sides: list[_Forked] = []
        try:
            for name, fn in first:
                _timed(run, name, fn, progress)
            mark = _mark(run)
            groups = _Groups(run, beside) if parallel and _Forked.available() else None
            lanes = [side for side in (_Forked.start(run, groups.work) for _ in range(groups.lanes()))
                     if side is not None] if groups else []
            sides += lanes
            for name, fn in (steps if lanes else [s for group in beside for s in group] + steps):
                _timed(run, name, fn, progress)
            if lanes:
                done = groups.work()  # the groups no copy has taken yet, here
                for forked in lanes:
                    done.update(forked.join())
                done.update(groups.work(skip=done))  # a failed copy's groups (its join() found none left)
                for i, group in enumerate(beside):
                    for name, _ in group:
                        if progress:
                            progress(name)
                    mark = _merge(run, mark, done[i])
            further = [lang for lang in run.study.study.renderings if lang != run.study.study.language]
            side = _Forked.start(run, lambda: _changes_of(run, [renderings])) if parallel and further else None
            sides += [side] if side else []
            for name, fn in later:
                _timed(run, name, fn, progress)
            if side is None:
                _timed(run, *renderings, progress)
            else:
                if progress:
                    progress("renderings")
                _merge(run, _mark(run), side.join())  # the renderings come last: what they add goes at the end
        finally:
            for s in sides:
                s.cancel()
        run.timings = {k: run.timings[k] for k in sorted(run.timings, key=lambda k: STEPS.index(k) if k in STEPS
                                                         else len(STEPS))}
        numbers = pd.concat(run.numbers, ignore_index=True) if run.numbers else pd.DataFrame(
            columns=["output", "row", "column", "value"])
        numbers["value"] = pd.to_numeric(numbers["value"], errors="coerce")
        run.write_csv("numbers.csv", numbers)
        manifest.write_manifest(run)
        run.files = _publish(run, staging, final)
        run.out = final
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return run


def _mark(run: StudyRun) -> dict:
    """Where ``run`` stands: lengths of its lists, keys of its dicts, its other attributes (for :func:`_changes_of`)."""
    out = {}
    for f in fields(run):
        v = getattr(run, f.name)
        out[f.name] = len(v) if isinstance(v, list) else set(v) if isinstance(v, dict) else v
    return out


def _changes_of(run: StudyRun, steps: list[tuple[str, Callable[[], Any]]]) -> dict:
    """Run ``steps`` and return what they changed in ``run`` (for :func:`_merge`).

    New list entries (taken back out of ``run``, so that the merge puts them
    where the steps would have appended them), new dict entries, replaced
    attributes. ``run.files`` is left to :class:`_Forked`. The steps may only
    add: changes inside objects ``run`` already held are not seen.
    """
    before = _mark(run)
    for name, fn in steps:
        _timed(run, name, fn, None)
    changes: dict[str, Any] = {}
    for f in fields(run):
        v, m = getattr(run, f.name), before[f.name]
        if f.name == "files":
            continue
        if isinstance(v, list):
            if len(v) > m:
                changes[f.name] = v[m:]
                del v[m:]
        elif isinstance(v, dict):
            new = {k: v[k] for k in v if k not in m}
            if new:
                changes[f.name] = new
        elif v is not m:
            changes[f.name] = v
    return changes


class _Groups:
    """Groups of steps that need only the panel and the weights, each taken by whichever process is free first.

    Forked copies (:meth:`lanes` of them: the cores but one) take the groups
    in order; this process takes those left when its own steps are done. A
    study with much to estimate then runs them all in one copy (not three
    processes on two cores), one with little runs them here and in the copy
    at once. What a group changed (:func:`_changes_of`) comes back by its
    index and is merged in the groups' order, whoever ran it.
    """

    def __init__(self, run: StudyRun, groups: list[list[tuple[str, Callable[[], Any]]]]):
        import multiprocessing

        self.run, self.groups = run, groups
        self._next = multiprocessing.get_context("fork").Value("i", 0)  # the next group to take, shared by the copies

    def lanes(self) -> int:
        """How many copies to start: one per core beyond this process's, at most one per group."""
        return max(1, min(len(self.groups), len(os.sched_getaffinity(0)) - 1))

    def _take(self) -> int | None:
        with self._next.get_lock():
            i = self._next.value
            if i >= len(self.groups):
                return None
            self._next.value = i + 1
            return i

    def work(self, skip: dict | None = None) -> dict[int, dict]:
        """Run the groups no process has taken (given ``skip``: every group not among its keys); changes by index."""
        if skip is not None:
            return {i: _changes_of(self.run, g) for i, g in enumerate(self.groups) if i not in skip}
        done = {}
        while (i := self._take()) is not None:
            done[i] = _changes_of(self.run, self.groups[i])
        return done


def _merge(run: StudyRun, mark: dict, changes: dict) -> dict:
    """Apply :func:`_changes_of` to ``run``: list entries at the positions of ``mark``, as a sequential run has them.

    Returns ``mark`` moved past the inserted entries: where the entries of the
    steps that come next in the sequential order go.
    """
    mark = dict(mark)
    for name, v in changes.items():
        current = getattr(run, name)
        if isinstance(current, list):
            current[mark[name]:mark[name]] = v
            mark[name] += len(v)
        elif isinstance(current, dict):
            current.update(v)
        else:
            setattr(run, name, v)
    return mark


def _timed(run: StudyRun, name: str, fn: Callable[[], Any], progress) -> None:
    if progress:
        progress(name)
    t0 = time.perf_counter()
    fn()
    run.timings[name] = round(time.perf_counter() - t0, 3)


class _Forked:
    """A step run in a forked copy of this process while this one goes on; it writes files, may return a value.

    Only on Linux with at least two usable cores (``fork`` is unsafe on
    macOS and absent on Windows; one core gains nothing); :meth:`start`
    returns None elsewhere and the caller runs the step itself. The copy
    shares nothing but the staging folder: it sends back the paths it
    wrote and what the step returned (pickled). When it fails for any
    reason, :meth:`join` runs the step in this process, so the error (or
    the result) is exactly the one without it.
    """

    def __init__(self, run: StudyRun, fn: Callable[[], Any], pid: int, fd: int):
        self.run, self.fn, self.pid, self.fd = run, fn, pid, fd
        self.ran_here = False  # set by join() when the copy failed and the step ran in this process

    @staticmethod
    def available() -> bool:
        """Whether :meth:`start` forks here: Linux with at least two usable cores."""
        import sys

        return sys.platform.startswith("linux") and len(os.sched_getaffinity(0)) >= 2

    @classmethod
    def start(cls, run: StudyRun, fn: Callable[[], Any]) -> _Forked | None:
        import sys

        if not cls.available():
            return None
        sys.stdout.flush()
        sys.stderr.flush()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the copy: run the step, send (paths, value), leave without the parent's exit code
            code = 1
            try:
                os.close(read)
                before = len(run.files)
                value = fn()
                payload = pickle.dumps(([str(p) for p in run.files[before:]], value))
                with os.fdopen(write, "wb") as fh:
                    fh.write(payload)
                code = 0
            except BaseException:  # noqa: BLE001 - reported by running the step again in the parent
                pass
            finally:
                os._exit(code)
        os.close(write)
        return cls(run, fn, pid, read)

    def join(self) -> Any:
        """Wait for the copy, add its files to ``run.files`` and return what the step returned."""
        with os.fdopen(self.fd, "rb") as fh:
            data = fh.read()
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        if status == 0 and data:
            files, value = pickle.loads(data)
            self.run.files.extend(Path(f) for f in files)
            return value
        self.ran_here = True
        return self.fn()

    def cancel(self) -> None:
        """Stop a copy still running (this process failed or was interrupted)."""
        if self.pid:
            import signal

            try:
                os.kill(self.pid, signal.SIGTERM)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            try:
                os.close(self.fd)
            except OSError:  # already closed by an interrupted join
                pass
            self.pid = 0


def _refuse_raw_out(study: Study, paths: StudyPaths, final: Path) -> None:
    """--out may not be (or lie inside) the raw-data folder of the run nor the folder of its catalog."""
    from spillover.data.catalog import refuse_output_inside
    from spillover.errors import DataError

    raw: list[Path] = []
    try:
        raw.append(paths.data_raw())
    except DataError:  # no raw-data folder at all: nothing to protect
        pass
    if study.data.catalog:  # the folder its files are relative to (a missing catalog is reported by step data)
        from spillover.data.catalog import load_catalog

        try:
            raw.append(load_catalog(paths.resolve(study.data.catalog, key="data.catalog")).base_dir)
        except (DataError, SpecificationError):
            pass
    refuse_output_inside(final, raw)


_STAGING = ".{}.staging-"


def _staging(final: Path) -> Path:
    """A fresh staging folder next to ``final``; leftovers of killed runs (staging folders, .tmp files) go."""
    final.parent.mkdir(parents=True, exist_ok=True)
    for old in final.parent.glob(_STAGING.format(final.name) + "*"):
        shutil.rmtree(old, ignore_errors=True)
    if final.is_dir():
        for tmp in final.rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)
    return Path(tempfile.mkdtemp(prefix=_STAGING.format(final.name), dir=final.parent))


def _publish(run: StudyRun, staging: Path, final: Path) -> list[Path]:
    """Move every output from ``staging`` into ``final`` (``os.replace`` per file); the new paths.

    Nothing reaches ``final`` unless every step succeeded, so a failed run
    leaves the previous results as they were. Before the first move every
    target is checked (a folder where a file goes, a file where a folder
    goes), so that those failures too leave ``final`` untouched.
    """
    import errno

    pairs = [(src, final / src.relative_to(staging)) for src in sorted({Path(p) for p in run.files
                                                                         if Path(p).is_file()})]
    for _, dst in pairs:
        if dst.is_dir():
            raise IsADirectoryError(errno.EISDIR, "a folder is where an output file goes", str(dst))
        for parent in dst.relative_to(final).parents:
            if (final / parent).exists() and not (final / parent).is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "a file is where an output folder goes", str(final / parent))
    stale = _previous_outputs(final) - {dst.relative_to(final).as_posix() for _, dst in pairs}
    moved = []
    for src, dst in pairs:
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        moved.append(dst)
    for rel in sorted(stale):  # outputs of the previous run this one no longer writes (a renamed figure, ...)
        old = final / rel
        if old.is_file():
            old.unlink()
            for parent in old.relative_to(final).parents:
                folder = final / parent
                if folder != final and folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
    return moved


def _previous_outputs(final: Path) -> set[str]:
    """The files the previous run into ``final`` wrote (its manifest's ``outputs``); only those are ever removed."""
    import json

    try:
        outputs = json.loads((final / "manifest.json").read_text(encoding="utf-8")).get("outputs", [])
    except (OSError, ValueError, AttributeError):
        return set()
    return {str(o) for o in outputs if isinstance(o, str) and ".." not in Path(o).parts and not Path(o).is_absolute()}
