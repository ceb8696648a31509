"""One Markdown benchmark report: fit time and memory against spreg, large N, real county W, Monte Carlo throughput.

Run as a script (not collected by pytest)::

    .venv/bin/python tests/benchmarks/report.py [--sizes 500 1000 2000 5000 10000] [--big 100000] [--quick]

Sections, every timing measured in this run on this machine:

1. SDM with unit effects on SYNTHETIC data (kNN W, k = 6, T = 10; see
   bench_sdm.py, bench_compare.py, bench_peers.py): ours through the formula
   API (data frame in; fit, standard errors and simulated impacts out) next to
   ``spreg.ML_LagFE(..., slx_lags=1)``, panelbox ``SpatialDurbin`` (fixed
   effects; kNN W and a symmetrised kNN W) and R ``splm::spml(model="within",
   lag=TRUE)`` on the same data, the ratios, log-log slopes of seconds on N,
   peak memory of a fresh process for ours.
2. Ours alone at large N (100,000 and 1,000,000; unit effects "direct" and
   two-way "lee-yu"), each in a fresh process with its peak RSS.
3. The real 2,875-county W of China (queen contiguity from
   ``../shared/data/geo/china_counties.gpkg``, islands linked to their nearest
   county), SDM on simulated data, ours vs spreg.
4. Monte Carlo throughput (fits per second) of a small SAR design on 1 and 2
   dask workers (processes, cluster start-up included), and whether the
   numbers are identical.
5. The default study's specification grid in-process and on 1 and 2 process
   workers (imports warmed up, start-up excluded).
6. The weights builders against libpysal's own (bench_weights.py): queen
   contiguity of the NCOVR and Chinese counties, kNN, distance band and
   inverse distance at N = 100,000 and 1,000,000, seconds and peak memory.
7. Forced log-determinant strategies (bench_logdet.py): impact draws on the
   NCOVR county W with ``logdet="lu"`` and ``"eigen"``, eigen against lu on
   a kNN W that is not symmetric.
8. ``spillover replicate`` of the bundled study in a fresh process, with the
   run's own step timings.

Last, every goal (targets.py) with what this run measured: met, or the gap.
``--sections`` picks some of them (sdm big county mc grid weights logdet replicate).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_compare  # noqa: E402  (sibling benchmark scripts)
import bench_logdet  # noqa: E402
import bench_sdm  # noqa: E402
import bench_weights  # noqa: E402
import targets  # noqa: E402


def _big_run(text: str) -> tuple[int, str, str]:
    """``"100000:twoways:lee-yu"`` -> (100000, "twoways", "lee-yu")."""
    n, fe, method = text.split(":")
    return int(n), fe, method


def county_section(t: int) -> list[str]:
    geo_path = HERE.parents[2] / "shared" / "data" / "geo" / "china_counties.gpkg"
    if not geo_path.exists():
        return [f"County W skipped: {geo_path} not found."]
    import geopandas as gpd
    import libpysal
    import scipy.sparse as sps
    import spreg

    import spillover as sp

    t0 = time.perf_counter()
    geo = gpd.read_file(geo_path)
    w = sp.weights.contiguity(geo, id_col="adcode", islands="nearest")
    build = time.perf_counter() - t0
    W = sps.csr_matrix(w.sparse)
    n = W.shape[0]
    y, x = bench_sdm.simulate_on(W, t, np.random.default_rng(2875))
    t0 = time.perf_counter()
    res = bench_sdm.fit_ours(y, x, W, t)
    ours = time.perf_counter() - t0
    wl = libpysal.weights.WSP(W).to_W(silence_warnings=True)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        ref = spreg.ML_LagFE(y[:, None], x, wl, slx_lags=1)
        theirs = time.perf_counter() - t0
    diff = float(np.max(np.abs(res.params.to_numpy() - ref.betas.ravel())))
    return [
        f"County queen W: N = {n}, {int(W.nnz)} links, islands linked to nearest ({build:.1f} s to build), T = {t}.",
        "",
        "| ours (s) | spreg (s) | spreg/ours | max abs diff | log-det |",
        "|---:|---:|---:|---:|:--|",
        f"| {ours:.3f} | {theirs:.2f} | {theirs / ours:.1f}x | {diff:.1e} | {res.logdet_strategy} |",
    ]


def montecarlo_section(replications: int) -> list[str]:
    from spillover.montecarlo import Design, run

    design = Design.grid(weights=["provinces"], periods=[10], spatial=[0.4], models=["sar"],
                         methods=["direct", "lee-yu"], replications=replications, seed=1, chunk_size=10,
                         impacts=False, name="throughput")
    rows, tables = [], []
    for workers in (1, 2):
        r = run(design, n_workers=workers, processes=True)
        fits = len(r.replications[["cell", "rep"]].drop_duplicates())
        rows.append(f"| {workers} | {fits} | {r.seconds:.1f} | {fits / r.seconds:.1f} |")
        tables.append(r.summary)
    same = tables[0].equals(tables[1])
    return ["| workers | fits | seconds | fits/s |", "|---:|---:|---:|---:|", *rows, "",
            f"Aggregated tables identical on 1 and 2 workers: {same}."]


def _warm(_task) -> None:
    """Import what a grid fit needs, so the timing leaves out each worker's first imports."""
    import importlib

    for mod in ("formulaic", "libpysal", "spillover.analysis.heterogeneity", "spillover.spatial.models",
                "spillover.study.grid"):
        importlib.import_module(mod)


def grid_section() -> list[str]:
    """The default study's specification grid (models/30_robustness.toml) in-process and on 1 and 2 workers."""
    from spillover.engine import Engine
    from spillover.study.grid import run_grid
    from spillover.study.paths import StudyPaths
    from spillover.study.runner import StudyRun, step_data, step_weights
    from spillover.study.spec import load_study

    root = HERE.parents[1]
    study = load_study(root / "models")
    run_ = StudyRun(study=study, paths=StudyPaths.of(root / "models"), out=Path(tempfile.mkdtemp()))
    step_data(run_)
    step_weights(run_)
    g = study.grid[0]
    rows, tables = [], []
    for label, kw in (("in-process", {}), ("1 process worker", {"n_workers": 1, "processes": True}),
                      ("2 process workers", {"n_workers": 2, "processes": True})):
        with Engine(**kw) as eng:
            eng.map(_warm, range(4 * max(1, kw.get("n_workers", 1))))  # imports on every worker, untimed
            t0 = time.perf_counter()
            tab = run_grid(g, run_.panel, run_.weights, study.data.entity, study.data.time, engine=eng)
            el = time.perf_counter() - t0
        tables.append(tab)
        rows.append(f"| {label} | {len(tab)} | {el:.1f} | {len(tab) / el:.1f} |")
    same = all(t.equals(tables[0]) for t in tables[1:])
    return ["| engine | fits | seconds | fits/s |", "|:--|---:|---:|---:|", *rows, "",
            f"Tables identical on every engine: {same}. (Cluster start-up is outside the timing.)"]


def replicate_section() -> list[str]:
    """``spillover replicate models/`` into a temporary folder, in a fresh process: wall seconds and the steps'."""
    import json
    import subprocess

    root = HERE.parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results"
        t0 = time.perf_counter()
        done = subprocess.run([str(Path(sys.executable).with_name("spillover")), "replicate", str(root / "models"),
                               "--out", str(out)], capture_output=True, text=True, cwd=root)
        wall = time.perf_counter() - t0
        if done.returncode:
            return [f"replicate failed (exit {done.returncode}): {done.stderr.strip()[-400:]}"]
        steps = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["timings_s"]
    targets.record("replicate", wall)
    return [f"Wall time {wall:.1f} s (interpreter start and imports included). Steps, as the run timed them "
            "(Moran, the LM tests and the figures' inputs run beside the estimation, in a forked copy or in this "
            "process when it is free first; the renderings in a forked copy beside the study's own tables and "
            "figures):", "",
            "| step | seconds |", "|:--|---:|", *(f"| {k} | {v:.2f} |" for k, v in steps.items())]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[500, 1000, 2000, 5000])
    ap.add_argument("--big", nargs="*", default=["100000:entity:direct", "100000:twoways:lee-yu",
                                                 "1000000:entity:direct", "1000000:twoways:lee-yu"],
                    help="N:fe:method runs of ours alone, each in a fresh process")
    ap.add_argument("--big-timeout", type=float, default=300.0, help="seconds before a large run is stopped")
    ap.add_argument("--draws", type=int, default=1000, help="impact simulation draws of our timed path")
    ap.add_argument("--peer-max", type=int, default=2000, help="largest N for panelbox and R splm")
    ap.add_argument("--peer-timeout", type=float, default=240.0, help="seconds before a peer run is stopped")
    ap.add_argument("--T", type=int, default=10)
    ap.add_argument("--mc-replications", type=int, default=400)
    ap.add_argument("--spreg-max", type=int, default=2000,
                    help="largest N at which spreg is run (its dense information matrix took > 15 min at 10,000 here)")
    ap.add_argument("--quick", action="store_true", help="sizes 500 2000, big 20000, 20 MC replications")
    sections = ["sdm", "big", "county", "mc", "grid", "weights", "logdet", "replicate"]
    ap.add_argument("--sections", nargs="*", default=sections, choices=sections, help="which sections to run")
    ap.add_argument("--weights-sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    a = ap.parse_args()
    if a.quick:
        a.sizes, a.big, a.mc_replications = [500, 2000], ["20000:entity:direct"], 20
    print(f"# spillover benchmark report\n\nMachine: {sys.platform}, Python {sys.version.split()[0]}; every ratio "
          "is measured in this run.\n", flush=True)
    if "sdm" in a.sections:
        print(f"## SDM, unit effects, synthetic kNN W (k = 6), T = {a.T}: the formula API against peers\n\n"
              f"Ours: `sp.SDM(\"y ~ x1 + x2\", data=df, w=(W, ids), entity=\"id\", time=\"year\", fe=\"entity\")"
              f".fit()`, standard errors, then `.impacts(draws={a.draws}, seed=0).table`, from an entity-major data "
              "frame. Peers: the estimation call only. Cells: seconds (peer / ours).\n", flush=True)
        limits = {"spreg": a.spreg_max, "panelbox": a.peer_max, "panelbox_sym": a.peer_max, "splm": a.peer_max}
        print("\n".join(bench_compare.section(a.sizes, a.T, a.draws, limits, a.peer_timeout)), flush=True)
    if "big" in a.sections:
        print(f"\n## Ours alone at large N (formula API, fresh process each, T = {a.T}, {a.draws} impact draws; "
              "the process's first fit, so the formula library's import is inside the seconds)\n",
              flush=True)
        bench_compare.big_section([_big_run(s) for s in a.big], a.T, a.draws, a.big_timeout)
    if "county" in a.sections:
        print("## Real county W (China, 2,875 counties)\n", flush=True)
        print("\n".join(county_section(a.T)), flush=True)
    if "mc" in a.sections:
        print("\n## Monte Carlo throughput (SAR, 31 provinces, T = 10, dask LocalCluster processes)\n", flush=True)
        print("\n".join(montecarlo_section(a.mc_replications)), flush=True)
    if "grid" in a.sections:
        print("\n## Specification grid of the default study (48 SDM fits with delta-method impacts)\n", flush=True)
        print("\n".join(grid_section()), flush=True)
    if "weights" in a.sections:
        sizes = [20_000, 100_000] if a.quick else a.weights_sizes
        print("\n## Weights builders against libpysal (random points for kNN and distances)\n", flush=True)
        print("\n".join(bench_weights.report(["contiguity", "knn", "band", "inverse"], sizes, 60.0, 100_000)),
              flush=True)
    if "logdet" in a.sections:
        print("\n## Forced log-determinant strategies (SDM, unit effects, T = 10, fit then 1,000 impact draws)\n",
              flush=True)
        print("\n".join(bench_logdet.section(a.T, a.draws)), flush=True)
    if "replicate" in a.sections:
        print("\n## `spillover replicate` of the bundled study\n", flush=True)
        print("\n".join(replicate_section()), flush=True)
    print("\n## Goals: met, or the measured gap\n\nGoals of sections not run above are \"not measured\".\n")
    print("\n".join(targets.table()), flush=True)


if __name__ == "__main__":
    main()
