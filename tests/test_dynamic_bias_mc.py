"""SYNTHETIC Monte Carlo check of the O(1/N) term of the two-way dynamic SDM bias correction.

Everything here is simulated (seeded); no real data are used.

With unit *and* time effects estimated by the direct approach, the QML of
:class:`spillover.spatial.dynamic.DynamicSDM` has, besides the Yu-de Jong-Lee
O(1/T) bias ``-Sigma^{-1} phi_1 / T'``, an O(1/N) bias
``-Sigma^{-1} phi_2 / N`` with ``phi_2 = (0, ..., 0, 1/(1 - rho), 1/(2 sigma2))``
(Lee & Yu 2010, Econometric Theory 26, 564-597). Why that form: the two-way
demeaned residuals live in an (N-1)-dimensional cross-section, and the
likelihood that accounts for this has ``(N-1) T'`` in the variance term and
``T' [log|I - rho W| - log(1 - rho)]`` as Jacobian (W row-standardised).
The direct likelihood exceeds it by ``-T'/2 log sigma2 + T' log(1 - rho)``,
whose gradient divided by ``N T'`` is ``-phi_2 / N``.

Design: 10 x 10 rook lattice (N = 100, row-standardised), T' = 150
estimation periods after a burn-in of 50, ``tau = 0.3, eta = 0.1, rho = 0.3,
b = 1, theta = 0.5, sigma2 = 1``, unit and time effects (x correlated with
both), 100 replications, seed 20240607; a few seconds on one core. In this
design the phi_2 term moves rho by about +0.018 and sigma2 by about +0.007,
about 20 and 6 Monte Carlo standard errors, so dropping phi_2, flipping its
sign, halving or doubling it, or keeping only one of its two entries makes
the test fail. With the correct phi_2 the remaining bias (of order 1/N^2 and
1/(N T')) is within the Monte Carlo noise. N is large and T' long here so
that this remainder stays small relative to the Monte Carlo SE; with
N = 9-25 the corrected rho keeps a visible O(1/N^2) bias.
"""

from __future__ import annotations

import warnings

import libpysal
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from spillover.spatial.dynamic import DynamicSDM, dynamic_bias

TRUE = {"tau": 0.3, "eta": 0.1, "rho": 0.3, "b": 1.0, "theta": 0.5, "sigma2": 1.0}
SIDE, T_EST, BURN, REPS, SEED = 10, 150, 50, 100, 20240607


def _lattice(side: int) -> np.ndarray:
    wl = libpysal.weights.lat2W(side, side, rook=True)
    wl.transform = "r"
    return np.asarray(wl.full()[0])


def _panel(rng: np.random.Generator, wd: np.ndarray, periods: int, burn: int) -> pd.DataFrame:
    """One SYNTHETIC panel from the dynamic SDM with unit and time effects; keeps the last ``periods``."""
    n = wd.shape[0]
    s_inv = np.linalg.inv(np.eye(n) - TRUE["rho"] * wd)
    mu = rng.normal(size=n)
    y = np.zeros(n)
    ys, xs = [], []
    for s in range(burn + periods):
        alpha = rng.normal()
        x = rng.normal(size=n) + 0.5 * mu + 0.5 * alpha
        rhs = (TRUE["tau"] * y + TRUE["eta"] * (wd @ y) + TRUE["b"] * x + TRUE["theta"] * (wd @ x)
               + mu + alpha + np.sqrt(TRUE["sigma2"]) * rng.normal(size=n))
        y = s_inv @ rhs
        if s >= burn:
            ys.append(y)
            xs.append(x)
    return pd.DataFrame({
        "unit": np.tile(np.arange(n), periods),
        "period": np.repeat(np.arange(periods), n),
        "y": np.concatenate(ys),
        "x": np.concatenate(xs),
    })


def _replications():
    """(rho, sigma2) per replication for: uncorrected QML, phi_1 only, phi_1 + phi_2 (the package)."""
    wd = _lattice(SIDE)
    n = wd.shape[0]
    rng = np.random.default_rng(SEED)
    qml, only1, full = [], [], []
    for _ in range(REPS):
        df = _panel(rng, wd, T_EST + 1, BURN)  # T' = T_EST periods after conditioning on the first
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = DynamicSDM("y ~ x", df, (wd, range(len(wd))), "unit", "period", fe="twoways", method="direct", correction="bias").fit()
        p = res.params_qml
        theta = np.concatenate([p.to_numpy(), [res.sigma2_qml]])  # (tau, eta, b, theta_wx, rho, sigma2)
        phi1, _ = dynamic_bias(wd, p["y(t-1)"], p["W*y(t-1)"], p["rho"], res.sigma2_qml, 2, "twoways")
        sigma = -res.extra["hessian"] / (n * res.T)
        c1 = theta + np.linalg.solve(sigma, phi1 / res.T)  # YDL (2008) phi_1 only
        qml.append([p["rho"], res.sigma2_qml])
        only1.append([c1[4], c1[5]])
        full.append([res.params["rho"], res.sigma2])
    assert res.T == T_EST and res.N == n
    return np.array(qml), np.array(only1), np.array(full)


def test_two_way_correction_removes_the_one_over_n_bias():
    """SYNTHETIC (seeded) Monte Carlo: phi_1 + phi_2 leaves rho and sigma2 unbiased within 3 MC SEs."""
    with threadpool_limits(limits=1):  # small matrices: BLAS threads only add overhead
        qml, only1, full = _replications()
    truth = np.array([TRUE["rho"], TRUE["sigma2"]])
    bias = {k: v.mean(axis=0) - truth for k, v in (("qml", qml), ("phi1", only1), ("full", full))}
    mcse = {k: v.std(axis=0, ddof=1) / np.sqrt(len(v)) for k, v in (("qml", qml), ("phi1", only1), ("full", full))}
    msg = {k: (bias[k].round(4).tolist(), mcse[k].round(4).tolist()) for k in bias}
    # the design has power: without phi_2, rho and sigma2 stay clearly too low
    assert np.all(bias["phi1"] < -3 * mcse["phi1"]), msg
    # with phi_2 the bias of rho and sigma2 is within Monte Carlo noise ...
    assert np.all(np.abs(bias["full"]) < 3 * mcse["full"]), msg
    # ... and smaller than with phi_1 alone (a wrong-signed phi_2 would double it)
    assert np.all(np.abs(bias["full"]) < np.abs(bias["phi1"])), msg
