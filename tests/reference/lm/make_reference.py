"""Independent reference values for spillover.diagnostics.lm on the Cigar panel.

Run from the repository root:

    .venv/bin/python tests/reference/lm/make_reference.py

It writes tests/reference/lm/cigar_lm.json. Deliberately shares no code with
the package: plain dense numpy, every operator an explicit NT x NT matrix --
the Kronecker product I_T (x) W, the demeaning projections, the residual maker.

Model: logc ~ logp + logy on Baltagi's Cigar panel (46 US states, 1963-1992;
R package plm, dataset Cigar), logc = log(sales), logp = log(price/cpi),
logy = log(ndi/cpi); W = usa46_binary.csv row-standardised (rows/cols in
state-code order). Observations stacked time-major (year 1's 46 states, ...).

Statistics (Anselin 1988; Anselin, Bera, Florax & Yoon 1996; panel form as in
Elhorst's LMsarsem_panel.m / Elhorst 2014 ch. 3), with sigma2 = e'e/NT,
T_w = T tr(W'W + WW), J = [(WXb)' M (WXb) + T_w sigma2] / sigma2:
    lm_lag          = (e'Wy/s2)^2 / J
    lm_error        = (e'We/s2)^2 / T_w
    robust_lm_lag   = (e'Wy/s2 - e'We/s2)^2 / (J - T_w)
    robust_lm_error = (e'We/s2 - (T_w/J) e'Wy/s2)^2 / (T_w (1 - T_w/J))

Two conventions for the spatial lag under fixed effects are stored:
  "results"                 -- spillover's: Wy = Q (I_T (x) W) y and WXb = Q (I_T (x) W) X* b
                               (lag the raw variable, then demean; DESIGN.md).
  "elhorst_matlab_convention" -- W applied to the demeaned data, as when
                               LMsarsem_panel(results, W, ywith, xwith) is called:
                               Wy = (I_T (x) W) Q y, WXb = (I_T (x) W) X* b.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CIGAR = HERE.parent / "cigar"


def load():
    # read the CSVs by hand (numpy only) to stay independent of pandas' parsing too
    raw = np.genfromtxt(CIGAR / "Cigar_plm.csv", delimiter=",", names=True)
    with open(CIGAR / "usa46_binary.csv") as fh:
        lines = fh.read().strip().splitlines()
    binary = np.array([[float(v) for v in line.split(",")[1:]] for line in lines[1:]])
    states = np.unique(raw["state"])
    years = np.unique(raw["year"])
    n, t = len(states), len(years)
    assert binary.shape == (n, n) == (46, 46) and t == 30
    # time-major order: sort by year, then by state code (W's row order)
    order = np.lexsort((raw["state"], raw["year"]))
    d = raw[order]
    assert np.all(d["state"].reshape(t, n) == states[None, :])
    logc = np.log(d["sales"])
    logp = np.log(d["price"] / d["cpi"])
    logy = np.log(d["ndi"] / d["cpi"])
    w = binary / binary.sum(axis=1, keepdims=True)
    return logc, np.column_stack([logp, logy]), w, n, t


def projections(n, t):
    i_n, i_t = np.eye(n), np.eye(t)
    j_n, j_t = np.ones((n, n)) / n, np.ones((t, t)) / t
    q_entity = np.kron(i_t - j_t, i_n)
    q_time = np.kron(i_t, i_n - j_n)
    return {
        "none": np.eye(n * t),
        "entity": q_entity,
        "time": q_time,
        "twoways": q_entity @ q_time,
    }


def statistics(y, x, w_nt, q, t_w, convention):
    nt = y.shape[0]
    ys = q @ y
    xs = q @ x
    xtx_inv = np.linalg.inv(xs.T @ xs)
    b = np.linalg.solve(xs.T @ xs, xs.T @ ys)
    e = ys - xs @ b
    s2 = float(e @ e) / nt
    m = np.eye(nt) - xs @ xtx_inv @ xs.T
    if convention == "spillover":
        wy = q @ (w_nt @ y)
        wxb = q @ (w_nt @ (xs @ b))
    else:
        wy = w_nt @ ys
        wxb = w_nt @ (xs @ b)
    we = w_nt @ e
    j = (float(wxb @ m @ wxb) + t_w * s2) / s2
    lag = float(e @ wy) / s2
    err = float(e @ we) / s2
    return {
        "lm_lag": lag**2 / j,
        "lm_error": err**2 / t_w,
        "robust_lm_lag": (lag - err) ** 2 / (j - t_w),
        "robust_lm_error": (err - (t_w / j) * lag) ** 2 / (t_w * (1.0 - t_w / j)),
        "beta": [float(v) for v in b],
        "sigma2": s2,
        "J": j,
    }


def main() -> None:
    y, x_raw, w, n, t = load()
    w_nt = np.kron(np.eye(t), w)
    t_w = t * float(np.trace(w.T @ w + w @ w))
    qs = projections(n, t)
    out = {
        "description": "Panel LM tests, logc ~ logp + logy, Cigar (plm), usa46 row-standardised",
        "script": "tests/reference/lm/make_reference.py",
        "sigma2": "e'e/NT",
        "T_w": t_w,
        "N": n,
        "T": t,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "results": {},
        "elhorst_matlab_convention": {},
    }
    for fe, q in qs.items():
        x = np.column_stack([np.ones(n * t), x_raw]) if fe == "none" else x_raw
        out["results"][fe] = statistics(y, x, w_nt, q, t_w, "spillover")
        out["elhorst_matlab_convention"][fe] = statistics(y, x, w_nt, q, t_w, "elhorst")
    path = HERE / "cigar_lm.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    for fe in qs:
        r = out["results"][fe]
        names = ("lm_lag", "lm_error", "robust_lm_lag", "robust_lm_error")
        print(fe, *(f"{r[k]:.6f}" for k in names))
    print("wrote", path)


if __name__ == "__main__":
    main()
