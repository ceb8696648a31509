"""Benchmark: fixed-effects SDM fit time against spreg, and large-N time and memory.

Run as a script (not collected by pytest)::

    .venv/bin/python tests/benchmarks/bench_sdm.py [--sizes 500 2000 5000] [--big 100000] [--skip-spreg]

Data are SYNTHETIC (a simulated SDM with entity effects on a k-nearest-
neighbour W (k = 6, row-standardised) from uniform random points; seed fixed), T = 10. For each N the
script prints our fit time (standard errors included) next to
``spreg.ML_LagFE(..., slx_lags=1)`` on the same data in the same run, the
ratio, and the largest absolute difference in the estimates. At the large N
(spreg is not run there) it prints our time and the peak resident memory of a
child process that only fits the model.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import subprocess
import sys
import time
import warnings

import numpy as np


def knn_weights(pts: np.ndarray, k: int):
    """Row-standardised k-nearest-neighbour W as CSR (scipy cKDTree; ties broken by index)."""
    import scipy.sparse as sps
    from scipy.spatial import cKDTree

    n = len(pts)
    _, idx = cKDTree(pts).query(pts, k=k + 1)
    rows = np.repeat(np.arange(n), k)
    return sps.csr_matrix((np.full(n * k, 1.0 / k), (rows, idx[:, 1:].ravel())), shape=(n, n))


def simulate(n: int, t: int = 10, k: int = 6, seed: int = 12345):
    """Simulated SDM: y = rho W y + X b + W X t + mu + e (rho 0.4, b = (1, -0.5), t = (0.5, 0.3)).

    Returns (y, x, W) with W a row-standardised kNN CSR matrix; stacked time-major.
    """
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 100, size=(n, 2))
    W = knn_weights(pts, k)
    return (*simulate_on(W, t, rng), W)


def simulate_on(W, t: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(y, x) of the SDM of :func:`simulate` on a given row-standardised ``W`` (CSR), stacked time-major."""
    n = W.shape[0]
    x = rng.standard_normal((n * t, 2))
    mu = np.tile(rng.standard_normal(n), t)
    wx = np.vstack([W @ x[s * n : (s + 1) * n] for s in range(t)])
    rhs = x @ np.array([1.0, -0.5]) + wx @ np.array([0.5, 0.3]) + mu + rng.standard_normal(n * t)
    y = lag_solve(W, 0.4, rhs.reshape(t, n).T).T.ravel()
    return y, x


def lag_solve(W, rho: float, B: np.ndarray, tol: float = 1e-15) -> np.ndarray:
    """``(I - rho W)^-1 B`` by the Neumann series (``|rho| < 1``, row-standardised ``W``).

    Memory stays O(nnz + size of B) at any N, where a sparse LU of a kNN W at
    a million units would itself need gigabytes.
    """
    out, term = B.copy(), B
    while np.abs(term).max() > tol * np.abs(out).max():
        term = rho * (W @ term)
        out += term
    return out


def fit_ours(y, x, w, t):
    import spillover as sp

    res = sp.SDM.from_arrays(y, x, w, n_periods=t, names=["x1", "x2"], fe="entity", method="direct").fit()
    _ = res.bse  # standard errors are part of the timed fit
    return res


def time_pair(n: int, t: int, run_spreg: bool) -> dict:
    import libpysal
    import spreg

    y, x, w = simulate(n, t)
    t0 = time.perf_counter()
    res = fit_ours(y, x, w, t)
    ours = time.perf_counter() - t0
    out = {"N": n, "T": t, "ours_s": ours, "logdet": res.logdet_strategy, "rho": res.params["rho"]}
    if run_spreg:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            wl = libpysal.weights.WSP(w).to_W(silence_warnings=True)
            wl.transform = "r"
            ref = spreg.ML_LagFE(y[:, None], x, wl, slx_lags=1)
            out["spreg_s"] = time.perf_counter() - t0
        out["ratio"] = out["spreg_s"] / ours
        out["max_abs_diff"] = float(np.max(np.abs(res.params.to_numpy() - ref.betas.ravel())))
    return out


def peak_rss_gb() -> float:
    """Peak resident memory of this process image (VmHWM; ru_maxrss would include the parent's peak)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20  # kB -> GB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def big_child(n: int, t: int) -> None:
    """Fit once and print JSON with time and peak memory (run in a fresh process)."""
    y, x, w = simulate(n, t)
    base = peak_rss_gb()
    t0 = time.perf_counter()
    res = fit_ours(y, x, w, t)
    el = time.perf_counter() - t0
    print(json.dumps({"N": n, "T": t, "ours_s": el, "peak_rss_gb": peak_rss_gb(), "rss_before_fit_gb": base,
                      "logdet": res.logdet_strategy, "rho": float(res.params["rho"])}))


def formula_child(n: int, t: int, fe: str, method: str, draws: int) -> None:
    """The formula path once in a fresh process: JSON with seconds and peak RSS (of this process only)."""
    import bench_peers

    y, x, W = simulate(n, t)
    df = bench_peers.long_frame(y, x, n, t)
    w = (W, np.arange(n))
    del y, x
    base = peak_rss_gb()
    t0 = time.perf_counter()
    res, _ = bench_peers.fit_formula(df, w, fe=fe, method=method, draws=draws)
    el = time.perf_counter() - t0
    print(json.dumps({"N": n, "T": t, "fe": fe, "method": method, "ours_s": el, "peak_rss_gb": peak_rss_gb(),
                      "rss_before_fit_gb": base, "logdet": res.logdet_strategy, "rho": float(res.params["rho"])}))


def run_formula_child(n: int, t: int, fe: str = "entity", method: str = "direct", draws: int = 1000,
                      timeout: float = 300.0) -> dict:
    """:func:`formula_child` in a subprocess; ``{"error": ...}`` on a timeout or a crash (e.g. out of memory)."""
    cmd = [sys.executable, __file__, "--child-formula", str(n), "--T", str(t), "--fe", fe, "--method", method,
           "--draws", str(draws)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"N": n, "fe": fe, "method": method, "error": f"stopped at the {timeout:.0f} s timeout"}
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or [f"exit code {out.returncode}"])[-1]
        return {"N": n, "fe": fe, "method": method, "error": tail[:200]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[500, 2000, 5000])
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument("--T", type=int, default=10)
    ap.add_argument("--skip-spreg", action="store_true")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-formula", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--fe", default="entity", help=argparse.SUPPRESS)
    ap.add_argument("--method", default="direct", help=argparse.SUPPRESS)
    ap.add_argument("--draws", type=int, default=1000, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child_formula:
        formula_child(a.child_formula, a.T, a.fe, a.method, a.draws)
        return
    if a.child:
        big_child(a.child, a.T)
        return
    print(f"# SDM with entity effects, synthetic kNN (k=6) W, T={a.T}; times in seconds, SEs included")
    print("| N | ours | spreg ML_LagFE(slx_lags=1) | spreg/ours | max |diff| | log-det |")
    print("|---:|---:|---:|---:|---:|:--|")
    for n in a.sizes:
        r = time_pair(n, a.T, not a.skip_spreg)
        print(f"| {n} | {r['ours_s']:.3f} | {r.get('spreg_s', float('nan')):.2f} | {r.get('ratio', float('nan')):.1f}x "
              f"| {r.get('max_abs_diff', float('nan')):.1e} | {r['logdet']} |", flush=True)
    if a.big:
        out = subprocess.run([sys.executable, __file__, "--child", str(a.big), "--T", str(a.T)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"\nN = {r['N']}, T = {r['T']}: fit {r['ours_s']:.2f} s, peak RSS {r['peak_rss_gb']:.2f} GB "
              f"(process incl. data {r['rss_before_fit_gb']:.2f} GB before the fit), log-det {r['logdet']}, rho {r['rho']:.4f}")


if __name__ == "__main__":
    main()
