"""Weights builders against libpysal's own: seconds and peak memory, measured in one run.

Run as a script (not collected by pytest)::

    .venv/bin/python tests/benchmarks/bench_weights.py [--sizes 100000 1000000] [--timeout 60] [--cases ...]

Every measurement is a fresh process: it imports geopandas, libpysal and
spillover, builds its input, then times one call (the *first* call in that
process) and reports its peak resident memory. Both sides pay the same
imports, outside the timing. Cases:

- ``contiguity``: queen contiguity of real boundaries, islands linked to the
  nearest polygon: the 3,085 US counties of NCOVR (no islands) and the 2,875
  counties of China (7 islands), from ``../shared/data``.
  ``sp.weights.contiguity`` against ``libpysal.weights.Queen.from_dataframe``
  and ``libpysal.graph.Graph.build_contiguity`` (neither links islands).
- ``knn`` (k = 6), ``band`` (binary distance band) and ``inverse``
  (``1 / d`` within the band): uniform random points over the contiguous US,
  the band chosen for about 6 neighbours a unit. Ours with ``output="sparse"``
  (a libpysal WSP) and, up to ``--w-max`` units, ``output="W"``; libpysal's
  arc ``KNN.from_array`` / ``DistanceBand.from_array``. A libpysal run that
  has not finished within ``--timeout`` seconds is stopped and reported so.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import bench_sdm
import targets

HERE = Path(__file__).resolve()
SHARED = HERE.parents[3] / "shared" / "data"
GEOMETRY = {"NCOVR US counties": (SHARED / "reference" / "ncovr" / "NAT.shp", "FIPS"),
            "China counties": (SHARED / "geo" / "china_counties.gpkg", "adcode")}
RADIUS_KM = 6371.0088
K = 6


def random_points(n: int) -> tuple[np.ndarray, float]:
    """n seeded lon/lat points over the contiguous US and the band (km) that gives about K neighbours."""
    rng = np.random.default_rng(n)
    lon, lat = rng.uniform(-125.0, -67.0, n), rng.uniform(25.0, 49.0, n)
    area = (58.0 * np.cos(np.radians(37.0)) * 111.2) * (24.0 * 111.2)
    return np.column_stack([lon, lat]), float(np.sqrt(K * area / n / np.pi))


def _contiguity_call(impl: str, name: str):
    import geopandas as gpd

    path, id_col = GEOMETRY[name]
    geo = gpd.read_file(path)
    if impl == "ours":
        import spillover as sp

        return lambda: sp.weights.contiguity(geo, id_col=id_col, islands="nearest")
    if impl == "libpysal Queen":
        from libpysal.weights import Queen

        return lambda: Queen.from_dataframe(geo, ids=id_col, silence_warnings=True)
    from libpysal.graph import Graph

    return lambda: Graph.build_contiguity(geo.set_index(id_col), rook=False)


def _points_call(impl: str, case: str, n: int):
    xy, band = random_points(n)
    ids = [f"u{i}" for i in range(n)]
    if impl.startswith("ours"):
        import spillover as sp

        out = "sparse" if impl.endswith("sparse") else "W"
        calls = {"knn": lambda: sp.weights.knn(xy, K, ids=ids, output=out),
                 "band": lambda: sp.weights.distance_band(xy, band, ids=ids, output=out),
                 "inverse": lambda: sp.weights.inverse_distance(xy, cutoff_km=band, ids=ids, output=out)}
        return calls[case]
    from libpysal.weights import KNN, DistanceBand

    arc = {"ids": ids, "distance_metric": "arc", "radius": RADIUS_KM, "silence_warnings": True}
    calls = {"knn": lambda: KNN.from_array(xy, k=K, **arc),
             "band": lambda: DistanceBand.from_array(xy, threshold=band, binary=True, **arc),
             "inverse": lambda: DistanceBand.from_array(xy, threshold=band, binary=False, alpha=-1.0, **arc)}
    return calls[case]


def child(spec: dict) -> dict:
    """Time one call in this (fresh) process; peak RSS in GB."""
    import warnings

    warnings.simplefilter("ignore")
    import geopandas  # noqa: F401  -- imports outside the timing, for both sides
    import libpysal  # noqa: F401

    import spillover  # noqa: F401

    if spec["case"] == "contiguity":
        call = _contiguity_call(spec["impl"], spec["geometry"])
    else:
        call = _points_call(spec["impl"], spec["case"], spec["n"])
    t0 = time.perf_counter()
    w = call()
    seconds = time.perf_counter() - t0
    m = w.sparse
    return {"seconds": seconds, "links": int(m.nnz), "n": int(m.shape[0]),
            "peak_rss_gb": bench_sdm.peak_rss_gb()}


def run(spec: dict, timeout: float) -> dict | None:
    """``child(spec)`` in a fresh process; None when it ran past ``timeout`` seconds (it is stopped)."""
    try:
        out = subprocess.run([sys.executable, str(HERE), "--child", json.dumps(spec)], capture_output=True,
                             text=True, check=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def _row(label: str, n: int, ours: dict, peer_name: str, peer: dict | None, timeout: float) -> str:
    if peer is None:
        cmp = f"{peer_name}: not finished in {timeout:.0f} s (stopped) | -"
    else:
        cmp = f"{peer_name}: {peer['seconds']:.2f} s, {peer['peak_rss_gb']:.2f} GB | {ours['seconds'] / peer['seconds']:.2f}"
    return (f"| {label} | {n:,} | {ours['seconds']:.2f} | {ours['peak_rss_gb']:.2f} | {ours['links']:,} | {cmp} |")


HEADER = ["| case | N | ours (s) | ours peak RSS (GB) | links | libpysal (s, peak RSS) | ours / libpysal |",
          "|:--|---:|---:|---:|---:|:--|---:|"]


def contiguity_rows(timeout: float) -> list[str]:
    rows = []
    for name, (path, _) in GEOMETRY.items():
        if not path.exists():
            rows.append(f"| contiguity, {name} | - | skipped: {path} not found | | | | |")
            continue
        ours = run({"case": "contiguity", "impl": "ours", "geometry": name}, timeout * 5)
        for peer in ("libpysal Queen", "libpysal Graph"):
            res = run({"case": "contiguity", "impl": peer, "geometry": name}, timeout)
            if name == "NCOVR US counties" and peer == "libpysal Queen" and res is not None:
                targets.record("queen3085", ours["seconds"] / res["seconds"])
            rows.append(_row(f"queen contiguity, islands nearest, {name}", ours["n"], ours, peer, res, timeout))
    return rows


def points_rows(cases: list[str], sizes: list[int], timeout: float, w_max: int) -> list[str]:
    rows = []
    peer_name = {"knn": f"KNN arc k={K}", "band": "DistanceBand arc binary", "inverse": "DistanceBand arc alpha=-1"}
    for n in sizes:
        for case in cases:
            peer = run({"case": case, "impl": "libpysal", "n": n}, timeout)
            outputs = ["ours sparse"] + (["ours W"] if n <= w_max else [])
            for impl in outputs:
                ours = run({"case": case, "impl": impl, "n": n}, timeout * 5)
                if impl == "ours sparse" and f"{case}{n}" in targets.GOALS:
                    targets.record(f"{case}{n}", ours["seconds"])
                rows.append(_row(f"{case}, output={'sparse' if impl.endswith('sparse') else 'W'}", n, ours,
                                 peer_name[case], peer, timeout))
    return rows


def report(cases: list[str], sizes: list[int], timeout: float, w_max: int) -> list[str]:
    """Markdown lines: one table, every ratio from this run."""
    lines = ["Each cell is the first call in a fresh process (imports outside the timing); a ratio below 1 means "
             "ours is faster.", "", *HEADER]
    if "contiguity" in cases:
        lines += contiguity_rows(timeout)
    lines += points_rows([c for c in cases if c != "contiguity"], sizes, timeout, w_max)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--cases", nargs="*", default=["contiguity", "knn", "band", "inverse"],
                    choices=["contiguity", "knn", "band", "inverse"])
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds before a libpysal run is stopped")
    ap.add_argument("--w-max", type=int, default=100_000, help="largest N at which output='W' is timed too")
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(json.loads(a.child))))
        return
    print("\n".join(report(a.cases, a.sizes, a.timeout, a.w_max)), flush=True)


if __name__ == "__main__":
    main()
