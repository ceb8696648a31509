"""Peers of the SDM benchmark on one data set: ours through the formula API, spreg, panelbox, R splm.

Imported by report.py (not collected by pytest). Every runner takes the same
long data frame (entity-major rows, as users usually hold them) and the same
W, and returns ``{"s": seconds, "params": Series named like ours}`` or
``{"skip": reason}``. Only the estimation call is timed for the peers (their
data preparation is not); ours is timed from the data frame to the impact
table, standard errors included.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

NAMES = ["x1", "x2", "W*x1", "W*x2", "rho"]
#: panelbox is no dependency of the package: it runs in its own venv, made with
#: ``python3.11 -m venv /work/venv-bench && /work/venv-bench/bin/pip install panelbox==1.0.2``
#: (or any interpreter named by SPILLOVER_PANELBOX_PYTHON); skipped with a message when absent
PANELBOX_PYTHON = Path(os.environ.get("SPILLOVER_PANELBOX_PYTHON", "/work/venv-bench/bin/python"))


def long_frame(y: np.ndarray, x: np.ndarray, n: int, t: int) -> pd.DataFrame:
    """Entity-major long frame (id, year, y, x1, x2) from time-major arrays."""
    order = np.arange(n * t).reshape(t, n).T.ravel()  # entity-major row -> time-major position
    return pd.DataFrame({"id": order % n, "year": 2000 + order // n, "y": y[order],
                         "x1": x[order, 0], "x2": x[order, 1]})


def fit_formula(df: pd.DataFrame, w, fe: str = "entity", method: str = "direct", draws: int = 1000):
    """The user's path: formula + data frame in, fit with SEs and simulated impacts with SEs out."""
    import spillover as sp

    res = sp.SDM("y ~ x1 + x2", data=df, w=w, entity="id", time="year", fe=fe, method=method).fit()
    _ = res.bse
    imp = res.impacts(draws=draws, seed=0)
    _ = imp.table
    return res, imp


def run_ours(df: pd.DataFrame, W, draws: int) -> dict:
    t0 = time.perf_counter()
    res, _ = fit_formula(df, (W, np.arange(W.shape[0])), draws=draws)
    return {"s": time.perf_counter() - t0, "params": res.params.reindex(NAMES), "logdet": res.logdet_strategy}


def run_spreg(y: np.ndarray, x: np.ndarray, W) -> dict:
    """``spreg.ML_LagFE(y, x, w, slx_lags=1)``: time-major stacked arrays, row-standardised libpysal W."""
    import libpysal
    import spreg

    wl = libpysal.weights.WSP(W).to_W(silence_warnings=True)
    wl.transform = "r"
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        ref = spreg.ML_LagFE(y[:, None], x, wl, slx_lags=1)
        el = time.perf_counter() - t0
    return {"s": el, "params": pd.Series(ref.betas.ravel()[:5], index=NAMES)}


def _write_inputs(df: pd.DataFrame, W, folder: Path) -> None:
    """data.csv (id, year, y, x1, x2, wx1, wx2) and w.csv (i, j, v, 1-based) for the out-of-process peers."""
    n = W.shape[0]
    d = df.sort_values(["year", "id"])
    for c in ("x1", "x2"):
        d["w" + c] = (W @ d[c].to_numpy().reshape(-1, n).T).T.ravel()
    d.sort_values(["id", "year"]).to_csv(folder / "data.csv", index=False, float_format="%.17g")
    coo = W.tocoo()
    pd.DataFrame({"i": coo.row + 1, "j": coo.col + 1, "v": coo.data}).to_csv(folder / "w.csv", index=False,
                                                                             float_format="%.17g")


R_SPLM = r"""
suppressPackageStartupMessages({library(splm); library(spdep); library(Matrix)})
a <- commandArgs(TRUE); d <- read.csv(file.path(a[1], "data.csv")); e <- read.csv(file.path(a[1], "w.csv"))
n <- length(unique(d$id))
lw <- mat2listw(sparseMatrix(i = e$i, j = e$j, x = e$v, dims = c(n, n)), style = "W")
t0 <- proc.time()[["elapsed"]]
m <- spml(y ~ x1 + x2 + wx1 + wx2, data = d, index = c("id", "year"), listw = lw,
          model = "within", effect = "individual", lag = TRUE, spatial.error = "none")
el <- proc.time()[["elapsed"]] - t0
b <- coef(m)
cat(sprintf("SPLM %.6f %.17g %.17g %.17g %.17g %.17g\n", el, b[["x1"]], b[["x2"]], b[["wx1"]], b[["wx2"]],
            b[["lambda"]]))
"""


def run_splm(df: pd.DataFrame, W, timeout: float) -> dict:
    """R ``splm::spml(y ~ x1 + x2 + wx1 + wx2, model = "within", effect = "individual", lag = TRUE)``.

    splm has no Durbin switch: W x1 and W x2 enter as regressors (the same
    model). Only the ``spml`` call is timed, inside R (default method, dense eigenvalues).
    """
    if shutil.which("Rscript") is None:
        return {"skip": "Rscript not found"}
    with tempfile.TemporaryDirectory() as tmp:
        _write_inputs(df, W, Path(tmp))
        (Path(tmp) / "fit.R").write_text(R_SPLM)
        try:
            out = subprocess.run(["Rscript", str(Path(tmp) / "fit.R"), tmp], capture_output=True, text=True,
                                 timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"skip": f"timed out after {timeout:.0f} s"}
    line = [s for s in out.stdout.splitlines() if s.startswith("SPLM ")]
    if not line:
        return {"skip": "splm failed: " + (out.stderr.strip().splitlines() or ["no output"])[-1][:120]}
    v = [float(s) for s in line[0].split()[1:]]
    return {"s": v[0], "params": pd.Series(v[1:], index=NAMES)}


PANELBOX_CHILD = r"""
import json, sys, time, warnings
import numpy as np, pandas as pd, scipy.sparse as sps
warnings.simplefilter("ignore")
folder, symmetric = sys.argv[1], sys.argv[2] == "1"
d = pd.read_csv(folder + "/data.csv"); e = pd.read_csv(folder + "/w.csv")
n = d["id"].nunique()
W = sps.csr_matrix((e["v"], (e["i"] - 1, e["j"] - 1)), shape=(n, n))
if symmetric:  # symmetrised kNN, then row-standardised
    W = ((W + W.T) > 0).astype(float)
    W = sps.diags(1.0 / np.asarray(W.sum(axis=1)).ravel()) @ W
from panelbox.models.spatial import SpatialDurbin
t0 = time.perf_counter()
try:
    m = SpatialDurbin("y ~ x1 + x2", d, "id", "year", W=W.toarray(), effects="fixed")
    r = m.fit(effects="fixed")
    el = time.perf_counter() - t0
    p = {str(k): float(v) for k, v in r.params.items()}
    print("PB " + json.dumps({"s": el, "params": p}))
except Exception as exc:
    print("PB " + json.dumps({"error": f"{type(exc).__name__}: {str(exc)[:160]}", "s": time.perf_counter() - t0}))
"""


def _panelbox_names(p: dict) -> pd.Series:
    """panelbox's coefficient names -> ours (x1, x2, W*x1, W*x2, rho)."""
    out = {}
    for k, v in p.items():
        low = k.lower()
        if low in ("rho", "w*y", "wy", "w_y"):
            out["rho"] = v
        elif low in ("x1", "x2"):
            out[low] = v
        elif low.startswith("w") and low[-2:] in ("x1", "x2"):
            out["W*" + low[-2:]] = v
    return pd.Series(out).reindex(NAMES)


def run_panelbox(df: pd.DataFrame, W, symmetric: bool, timeout: float) -> dict:
    """panelbox ``SpatialDurbin(..., effects="fixed").fit()`` in its own venv (dense W, as it requires).

    ``symmetric`` symmetrises the kNN graph first (then row-standardises):
    a different W, so its estimates are not compared with ours. panelbox 1.0.2
    takes W's extreme eigenvalues with ``scipy.sparse.linalg.eigs(W, k=2,
    which="BE")`` from N = 1,000 on (models/spatial/base_spatial.py), and
    ``"BE"`` is valid only for ``eigsh``: it fails there whether W is
    symmetric or not.
    """
    if not PANELBOX_PYTHON.exists():
        return {"skip": f"panelbox venv {PANELBOX_PYTHON.parent.parent} not found"}
    with tempfile.TemporaryDirectory() as tmp:
        _write_inputs(df, W, Path(tmp))
        (Path(tmp) / "fit.py").write_text(PANELBOX_CHILD)
        try:
            out = subprocess.run([str(PANELBOX_PYTHON), str(Path(tmp) / "fit.py"), tmp, "1" if symmetric else "0"],
                                 capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"skip": f"timed out after {timeout:.0f} s"}
    line = [s for s in out.stdout.splitlines() if s.startswith("PB ")]
    if not line:
        return {"skip": "panelbox crashed: " + (out.stderr.strip().splitlines() or ["no output"])[-1][:160]}
    r = json.loads(line[0][3:])
    if "error" in r:
        return {"skip": f"panelbox refused after {r['s']:.1f} s: {r['error']}"}
    return {"s": r["s"], "params": _panelbox_names(r["params"]), "raw": r["params"]}
