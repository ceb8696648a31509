"""Log-determinant strategies where users force one: impact draws on the 3,085 NCOVR counties, eigen vs lu on kNN.

Not collected by pytest; report.py prints :func:`section`. Data SYNTHETIC
(bench_sdm's SDM, T = 10, entity effects) on the queen W of the NCOVR US
counties (``../shared/data/reference/ncovr``; symmetric contiguity,
row-standardised) and on a kNN W (k = 6, not symmetric) at N = 2,000.
Everything through the public API: ``sp.SDM(..., logdet=...)``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import bench_peers
import bench_sdm
import targets

NCOVR = Path(__file__).resolve().parents[3] / "shared" / "data" / "reference" / "ncovr" / "NAT.shp"


def _fit(df, w, logdet: str, draws: int):
    """(fit seconds incl. SEs, impact-draws seconds, result) for one strategy."""
    import spillover as sp

    t0 = time.perf_counter()
    res = sp.SDM("y ~ x1 + x2", data=df, w=w, entity="id", time="year", fe="entity", logdet=logdet).fit()
    _ = res.bse
    fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    _ = res.impacts(draws=draws, seed=0).table
    return fit, time.perf_counter() - t0, res


def section(t: int = 10, draws: int = 1000) -> list[str]:
    import scipy.sparse as sps

    lines = ["| W | N | logdet | fit + SEs (s) | 1,000 impact draws (s) | rho | log-det used |",
             "|:--|---:|:--|---:|---:|---:|:--|"]
    if NCOVR.exists():
        import geopandas as gpd

        import spillover as sp

        w = sp.weights.contiguity(gpd.read_file(NCOVR), id_col="FIPS")
        W = sps.csr_matrix(w.sparse)
        y, x = bench_sdm.simulate_on(W, t, np.random.default_rng(3085))
        df = bench_peers.long_frame(y, x, W.shape[0], t)
        df["id"] = np.asarray(w.id_order)[df["id"].to_numpy()]
        for logdet in ("lu", "eigen"):
            fit, imp, res = _fit(df, w, logdet, draws)
            targets.record(f"impacts3085_{logdet}", imp)
            lines.append(f"| NCOVR queen | {W.shape[0]:,} | {logdet} | {fit:.2f} | {imp:.2f} | "
                         f"{res.params['rho']:.4f} | {res.logdet_strategy} |")
    else:
        lines.append(f"| NCOVR queen | - | skipped: {NCOVR} not found | | | | |")
    y, x, W = bench_sdm.simulate(2000, t)
    df = bench_peers.long_frame(y, x, 2000, t)
    total = {}
    for logdet in ("lu", "eigen", "auto"):
        fit, imp, res = _fit(df, (W, np.arange(2000)), logdet, draws)
        total[logdet] = fit + imp
        lines.append(f"| kNN k = 6 | 2,000 | {logdet} | {fit:.2f} | {imp:.2f} | {res.params['rho']:.4f} | "
                     f"{res.logdet_strategy} |")
    targets.record("eigen2000_ratio", total["eigen"] / total["lu"])
    return lines
