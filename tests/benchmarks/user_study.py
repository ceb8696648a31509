"""A user's study at scale: `spillover new` + `replicate` on the real prefecture and county maps of China.

Run as a script (not collected by pytest; needs ``../shared/data/geo/``)::

    .venv/bin/python tests/benchmarks/user_study.py [--levels prefectures counties] [--t 12]

For each map the script simulates a panel (SIMULATED values, labelled so in
the study's title: an SDM with rho = 0.4 on queen contiguity with islands
linked to their nearest unit, unit and period effects), writes the study
with :func:`spillover.study.new.write_study` exactly as the CLI does, runs it
with :func:`spillover.study.runner.run_study` (figures included) and prints
the wall time of each step and whether the SDM estimates in numbers.csv equal
a direct ``sp.SDM(...).fit()`` on the same data and W.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

GEO = Path(__file__).resolve().parents[3] / "shared" / "data" / "geo"
MAPS = {"prefectures": "china_prefectures.gpkg", "counties": "china_counties.gpkg"}
NON_MAINLAND = ("71", "81", "82")  # Taiwan, Hong Kong, Macao: not simulated


def simulate(geo, t: int, seed: int = 20261202) -> pd.DataFrame:
    """An SDM panel on ``geo``'s queen W (islands -> nearest): y = rho W y + X b + W X theta + mu + alpha + e."""
    import scipy.sparse as sps
    from scipy.sparse.linalg import splu

    import spillover as sp

    w = sp.weights.contiguity(geo, id_col="adcode", islands="nearest")
    ids = list(w.id_order)
    n = len(ids)
    m = sps.csr_matrix(w.sparse)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(t, n, 2))
    mu, alpha = rng.normal(size=n), rng.normal(size=t)
    lu = splu(sps.csc_matrix(sps.identity(n) - 0.4 * m))
    rows = []
    for k in range(t):
        xb = x[k] @ [1.0, -0.5] + (m @ x[k]) @ [0.3, 0.2] + mu + alpha[k] + rng.normal(size=n)
        rows.append(pd.DataFrame({"adcode": ids, "year": 2010 + k, "y": lu.solve(xb), "x1": x[k, :, 0],
                                  "x2": x[k, :, 1]}))
    return pd.concat(rows, ignore_index=True)


def run_level(level: str, t: int, folder: Path) -> dict:
    import geopandas as gpd

    import spillover as sp
    from spillover.study.new import write_study
    from spillover.study.runner import run_study

    geo = gpd.read_file(GEO / MAPS[level])
    geo = geo[~geo["adcode"].astype(str).str[:2].isin(NON_MAINLAND)].reset_index(drop=True)
    gpath = folder / f"{level}.gpkg"
    geo[["adcode", "geometry"]].to_file(gpath, driver="GPKG")
    panel = simulate(geo, t)
    ppath = folder / f"{level}_simulated.csv"
    panel.to_csv(ppath, index=False)
    study = folder / f"study_{level}"
    write_study(study, data=ppath, entity="adcode", time="year", y="y", x=["x1", "x2"], geometry=gpath,
                id_col="adcode")
    spec = (study / "00_study.toml").read_text(encoding="utf-8")
    spec = spec.replace('title = "Spatial panel models of y"', f'title = "SIMULATED data on the {len(geo)} '
                        f'{level} of mainland China (benchmark)"').replace('islands = "keep"', 'islands = "nearest"')
    (study / "00_study.toml").write_text(spec, encoding="utf-8")
    t0 = time.perf_counter()
    run = run_study(study, folder / f"out_{level}")
    wall = time.perf_counter() - t0
    nums = pd.read_csv(run.out / "numbers.csv")
    got = nums[(nums["output"] == "table_models") & (nums["column"] == "SDM") & nums["row"].str.endswith("|coef")]
    got = got.assign(name=got["row"].str.split("|").str[0]).set_index("name")["value"]
    w = run.weights["queen"]
    api = sp.SDM("y ~ x1 + x2", panel.assign(adcode=panel["adcode"].astype(str)), w, "adcode", "year").fit()
    worst = max(abs(got[k] - api.params[k]) / max(1.0, abs(api.params[k])) for k in api.params.index)
    return {"level": level, "N": len(geo), "T": t, "wall_s": round(wall, 1), "steps_s": run.timings,
            "sdm_rho": round(float(api.params["rho"]), 4), "max_rel_diff_vs_api": float(worst)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", nargs="+", default=list(MAPS), choices=list(MAPS))
    ap.add_argument("--t", type=int, default=12)
    args = ap.parse_args(argv)
    if not GEO.is_dir():
        sys.exit(f"{GEO} not found: this benchmark needs the shared boundary files")
    print("| map | N | T | replicate wall (s) | slowest steps (s) | SDM rho | max rel. diff. numbers.csv vs API |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for level in args.levels:
            r = run_level(level, args.t, Path(tmp))
            slow = ", ".join(f"{k} {v:.1f}" for k, v in sorted(r["steps_s"].items(), key=lambda kv: -kv[1])[:3])
            print(f"| {level} | {r['N']} | {r['T']} | {r['wall_s']} | {slow} | {r['sdm_rho']} | "
                  f"{r['max_rel_diff_vs_api']:.1e} |", flush=True)


if __name__ == "__main__":
    main()
