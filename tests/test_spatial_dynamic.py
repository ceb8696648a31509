"""Dynamic spatial Durbin panel (spillover.spatial.dynamic).

* QML against a brute-force likelihood written here: explicit lags from a
  pivoted panel, explicit demeaning matrices (Kronecker products) over
  periods 2..T, Jacobian (T-1) slogdet(I - rho W), sigma2 = e'e/(N(T-1)).
* Impacts against dense matrix inverses.
* SYNTHETIC Monte Carlo (seeded; N = 49 rook lattice, T = 10 estimation
  periods, 20 replications): the Yu-de Jong-Lee / Lee-Yu corrected
  estimator has smaller bias than the uncorrected QML.
"""

from __future__ import annotations

import warnings

import libpysal
import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from spillover.errors import SpecificationError
from spillover.spatial.dynamic import DynamicSDM, dynamic_bias

T_SUB = 12


@pytest.fixture(scope="module")
def cig(cigar):
    df, w = cigar
    return df[df["year"] > df["year"].max() - T_SUB].copy(), w


def brute_force(df, w, fe, wx):
    ids = list(w.id_order)
    wd = np.asarray(w.full()[0])
    yp = df.pivot(index="year", columns="state", values="logc")[ids].to_numpy()  # (T, N)
    xs = [df.pivot(index="year", columns="state", values=c)[ids].to_numpy() for c in ("logp", "logy")]
    t_all, n = yp.shape
    t = t_all - 1
    y = yp[1:].ravel()
    ylag = yp[:-1].ravel()
    bigw = np.kron(np.eye(t), wd)
    x = np.column_stack([ylag, bigw @ ylag] + [a[1:].ravel() for a in xs])
    if wx:
        x = np.column_stack([x, bigw @ x[:, 2:]])
    jt = np.eye(t) - np.ones((t, t)) / t
    jn = np.eye(n) - np.ones((n, n)) / n
    q = np.kron(jt, np.eye(n)) @ (np.kron(np.eye(t), jn) if fe == "twoways" else np.eye(n * t))
    qy, qwy, qx = q @ y, q @ bigw @ y, q @ x
    nt = n * t

    def negll(rho):
        ys = qy - rho * qwy
        b = np.linalg.lstsq(qx, ys, rcond=None)[0]
        e = ys - qx @ b
        s2 = e @ e / nt
        return nt / 2 * (np.log(2 * np.pi * s2) + 1) - t * np.linalg.slogdet(np.eye(n) - rho * wd)[1], b, s2

    r = optimize.minimize_scalar(lambda v: negll(v)[0], bounds=(-0.95, 0.995), method="bounded", options={"xatol": 1e-13})
    f, b, s2 = negll(r.x)
    return np.concatenate([b, [r.x]]), s2, -f


@pytest.mark.parametrize("fe", ["twoways", "entity"])
@pytest.mark.parametrize("wx", [True, False])
def test_qml_matches_brute_force(cig, fe, wx):
    df, w = cig
    ref, s2, ll = brute_force(df, w, fe, wx)
    res = DynamicSDM("logc ~ logp + logy", df, w, "state", "year", method="direct", fe=fe, wx=wx, correction="none").fit()
    np.testing.assert_allclose(res.params_qml.to_numpy(), ref, atol=1e-6)
    np.testing.assert_allclose(res.params.to_numpy(), ref, atol=1e-6)  # no correction
    np.testing.assert_allclose(res.sigma2_qml, s2, rtol=1e-6)
    np.testing.assert_allclose(res.llf, ll, rtol=1e-9)
    assert res.T == T_SUB - 1 and res.N == 46
    assert np.all(res.bse > 0)


def test_correction_formula_dense(cig):
    """Bias vector against the YDL (2008) Theorem 3 terms written with explicit power series."""
    df, w = cig
    res = DynamicSDM("logc ~ logp + logy", df, w, "state", "year", method="direct").fit()
    p = res.params_qml
    wd = np.asarray(w.full()[0])
    n = wd.shape[0]
    tau, eta, rho, s2 = p["logc(t-1)"], p["W*logc(t-1)"], p["rho"], res.sigma2_qml
    s_inv = np.linalg.inv(np.eye(n) - rho * wd)
    a = s_inv @ (tau * np.eye(n) + eta * wd)
    series = sum(np.linalg.matrix_power(a, h) for h in range(400))
    g = wd @ s_inv
    k = 4
    phi1 = np.zeros(k + 4)
    phi1[0] = np.trace(series @ s_inv) / n
    phi1[1] = np.trace(wd @ series @ s_inv) / n
    phi1[2 + k] = (tau * np.trace(g @ series @ s_inv) + eta * np.trace(g @ wd @ series @ s_inv) + np.trace(g)) / n
    phi1[3 + k] = 1 / (2 * s2)
    f1, f2 = dynamic_bias(wd, tau, eta, rho, s2, k, "twoways")
    np.testing.assert_allclose(f1, phi1, rtol=1e-10)
    np.testing.assert_allclose(f2[-2:], [1 / (1 - rho), 1 / (2 * s2)])
    sigma = -res.extra["hessian"] / (n * res.T)
    bias = -np.linalg.solve(sigma, phi1 / res.T + f2 / n)
    np.testing.assert_allclose(res.bias.to_numpy(), bias[:-1], rtol=1e-10)
    np.testing.assert_allclose(res.params.to_numpy(), p.to_numpy() - bias[:-1], rtol=1e-12)


@pytest.mark.parametrize("kind", ["short", "long"])
def test_impacts_against_dense(cig, kind):
    df, w = cig
    res = DynamicSDM("logc ~ logp + logy", df, w, "state", "year", method="direct").fit()
    p = res.params
    wd = np.asarray(w.full()[0])
    n = wd.shape[0]
    tau, eta, rho = p["logc(t-1)"], p["W*logc(t-1)"], p["rho"]
    base = np.eye(n) - rho * wd if kind == "short" else (1 - tau) * np.eye(n) - (rho + eta) * wd
    imp = res.impacts(kind=kind, draws=300, seed=3)
    for c in ("logp", "logy"):
        m = np.linalg.solve(base, p[c] * np.eye(n) + p[f"W*{c}"] * wd)
        direct, total = np.trace(m) / n, m.sum() / n
        np.testing.assert_allclose(imp.table.loc[c, "direct"], direct, rtol=1e-9)
        np.testing.assert_allclose(imp.table.loc[c, "total"], total, rtol=1e-9)
        np.testing.assert_allclose(imp.table.loc[c, "indirect"], total - direct, rtol=1e-8, atol=1e-12)
    assert np.all(imp.table["total_se"] > 0)
    again = res.impacts(kind=kind, draws=300, seed=3)
    pd.testing.assert_frame_equal(imp.table, again.table)


def test_bad_options(cig):
    df, w = cig
    with pytest.raises(SpecificationError):
        DynamicSDM("logc ~ logp", df, w, "state", "year", fe="time")
    with pytest.raises(SpecificationError):
        DynamicSDM("logc ~ logp", df, w, "state", "year", correction="bootstrap")


def _simulate(rng, wd, n, t_keep, par, burn=30):
    """SYNTHETIC dynamic SDM panel with unit and time effects."""
    tau, eta, rho, b, th = par
    s_inv = np.linalg.inv(np.eye(n) - rho * wd)
    mu = rng.normal(size=n)
    y = np.zeros(n)
    rows = []
    for s in range(burn + t_keep):
        x = rng.normal(size=n) + 0.5 * mu
        alpha = rng.normal()
        y = s_inv @ (tau * y + eta * wd @ y + b * x + th * wd @ x + mu + alpha + rng.normal(size=n))
        if s >= burn:
            rows.append(pd.DataFrame({"unit": np.arange(n), "period": s, "y": y, "x": x}))
    return pd.concat(rows, ignore_index=True)


def test_monte_carlo_correction_reduces_bias():
    """SYNTHETIC data, seed 12345: N = 49 (7x7 rook lattice), T = 10 estimation periods, 20 replications."""
    wl = libpysal.weights.lat2W(7, 7, rook=True)
    wl.transform = "r"
    wd = np.asarray(wl.full()[0])
    n = 49
    true = np.array([0.4, 0.1, 0.3, 1.0, 0.5])  # tau, eta, rho, b, theta
    rng = np.random.default_rng(12345)
    est_u, est_c = [], []
    for _ in range(20):
        df = _simulate(rng, wd, n, 11, true)
        res = DynamicSDM("y ~ x", df, (wd, range(len(wd))), "unit", "period", fe="twoways", method="direct").fit()
        order = ["y(t-1)", "W*y(t-1)", "rho", "x", "W*x"]
        est_u.append(res.params_qml[order].to_numpy())
        est_c.append(res.params[order].to_numpy())
    bias_u = np.mean(est_u, axis=0) - true
    bias_c = np.mean(est_c, axis=0) - true
    assert abs(bias_c[0]) < abs(bias_u[0])  # tau: the Nickell-type bias
    assert np.abs(bias_c[:3]).sum() < np.abs(bias_u[:3]).sum()


# ---------------------------------------------------------------- impacts inference and tables
def test_delta_impacts_agree_with_many_draws(cig):
    """Delta-method SEs (central-difference gradient) against 20,000 simulated draws, short run."""
    df, w = cig
    res = DynamicSDM("logc ~ logp + logy", df, w, "state", "year", method="direct", fe="entity").fit()
    delta = res.impacts(kind="short", method="delta").table
    sim = res.impacts(kind="short", draws=20000, seed=11).table
    np.testing.assert_allclose(delta[["direct", "indirect", "total"]], sim[["direct", "indirect", "total"]], rtol=1e-12)
    np.testing.assert_allclose(delta[["direct_se", "indirect_se", "total_se"]].to_numpy(),
                               sim[["direct_se", "indirect_se", "total_se"]].to_numpy(), rtol=0.05)


def test_delta_gradient_against_analytic_short_run(cig):
    """d direct / d b_k = tr(S^-1)/N exactly, so the delta SE of a direct effect with rho fixed is checkable."""
    df, w = cig
    res = DynamicSDM("logc ~ logp + logy", df, w, "state", "year", method="direct", fe="entity", correction="none").fit()
    wd = np.asarray(w.full()[0])
    n = wd.shape[0]
    p = res.params
    s_inv = np.linalg.inv(np.eye(n) - p["rho"] * wd)
    g = wd @ s_inv
    # analytic gradient of direct_logp = [b tr(S^-1) + th tr(S^-1 W)]/N with respect to (b, th, rho)
    d_b, d_th = np.trace(s_inv) / n, np.trace(s_inv @ wd) / n
    d_rho = (p["logp"] * np.trace(s_inv @ g) + p["W*logp"] * np.trace(s_inv @ g @ wd)) / n
    names = ["logp", "W*logp", "rho"]
    grad = np.array([d_b, d_th, d_rho])
    v = res.cov_params.loc[names, names].to_numpy()
    se = float(np.sqrt(grad @ v @ grad))
    got = res.impacts(kind="short", method="delta").table.loc["logp", "direct_se"]
    assert got == pytest.approx(se, rel=1e-6)


def test_both_horizons_and_table(cig):
    from spillover.report.tables import Table

    df, w = cig
    res = DynamicSDM("logc ~ logp + logy", df, w, "state", "year", method="direct").fit()
    both = res.impacts(kind="both", draws=200, seed=5)
    short = res.impacts(kind="short", draws=200, seed=5).table
    long_ = res.impacts(kind="long", draws=200, seed=5).table
    assert list(both.table.index) == ["logp (short run)", "logp (long run)", "logy (short run)", "logy (long run)"]
    np.testing.assert_allclose(both.table.loc["logp (short run)"].to_numpy(), short.loc["logp"].to_numpy())
    np.testing.assert_allclose(both.table.loc["logy (long run)"].to_numpy(), long_.loc["logy"].to_numpy())
    t = Table.from_results([res], ["dyn"], impacts=[both], labels={"logp": "Price"})
    md = t.to_markdown()
    assert "Dynamic SDM" in md and "Price, short run" in md and "Price, long run" in md
    assert "Demeaning (Elhorst), bias-corrected" in md  # the method as readers know it, not method="direct"
    nums = t.numbers()
    assert nums.loc[nums["row"] == "logc(t-1)", "coef"].iloc[0] == pytest.approx(res.params["logc(t-1)"])
    assert "Dynamic SDM panel" in res.summary() and "Method: direct    Correction: bias" in res.summary()


def test_long_run_undefined_outside_stable_region(cig):
    import dataclasses

    df, w = cig
    res = DynamicSDM("logc ~ logp + logy", df, w, "state", "year", method="direct").fit()
    p = res.params.copy()
    p["logc(t-1)"] = 1.05  # push the process outside the stable region
    bad = dataclasses.replace(res, params=p)
    assert bad.spectral_radius() > 1
    with pytest.warns(UserWarning, match="long-run impacts are not defined"):
        tab = bad.impacts(kind="long", draws=100, seed=1).table
    assert tab["direct"].isna().all() and tab["total_se"].isna().all()
    assert np.isfinite(bad.impacts(kind="short", draws=100, seed=1).table["direct"]).all()


# ---------------------------------------------------------------- Lee-Yu transformation approach
def _orthonormal_complement(n: int) -> np.ndarray:
    """F_{N,N-1}: orthonormal eigenvectors of J_N = I - 11'/N with eigenvalue 1."""
    vals, vecs = np.linalg.eigh(np.eye(n) - np.ones((n, n)) / n)
    return vecs[:, vals > 0.5]


def test_transformation_approach_matches_explicit_f(cig):
    """QML of method='lee-yu' against a likelihood written on explicitly F-transformed data with W* = F'WF."""
    df, w = cig
    ids = list(w.id_order)
    wd = np.asarray(w.full()[0])
    n = wd.shape[0]
    f = _orthonormal_complement(n)
    ws = f.T @ wd @ f
    piv = {c: df.pivot(index="year", columns="state", values=c)[ids].to_numpy() for c in ("logc", "logp", "logy")}
    yp = piv["logc"]
    t = yp.shape[0] - 1

    def tr(a):  # (T', N) -> F' per period, then demeaned over time within each transformed unit
        b = a @ f
        return (b - b.mean(axis=0)).ravel()

    y, ylag = tr(yp[1:]), tr(yp[:-1])
    wylag = tr(yp[:-1] @ wd.T)
    xs = [tr(piv[c][1:]) for c in ("logp", "logy")]
    wxs = [tr(piv[c][1:] @ wd.T) for c in ("logp", "logy")]
    x = np.column_stack([ylag, wylag, *xs, *wxs])
    wy = tr(yp[1:] @ wd.T)
    m = (n - 1) * t

    def negll(rho):
        ys = y - rho * wy
        b = np.linalg.lstsq(x, ys, rcond=None)[0]
        e = ys - x @ b
        s2 = e @ e / m
        return m / 2 * (np.log(2 * np.pi * s2) + 1) - t * np.linalg.slogdet(np.eye(n - 1) - rho * ws)[1], b, s2

    r = optimize.minimize_scalar(lambda v: negll(v)[0], bounds=(-0.9, 0.99), method="bounded", options={"xatol": 1e-13})
    fval, b, s2 = negll(r.x)
    res = DynamicSDM("logc ~ logp + logy", df, w, "state", "year", method="lee-yu", correction="none").fit()
    np.testing.assert_allclose(res.params_qml.to_numpy(), np.concatenate([b, [r.x]]), atol=1e-6)
    np.testing.assert_allclose(res.sigma2_qml, s2, rtol=1e-6)
    np.testing.assert_allclose(res.llf, -fval, rtol=1e-9)
    assert res.method == "lee-yu" and res.label == "lee-yu, QML" and res.extra["n_eff"] == n - 1


def test_transformed_bias_traces_against_w_star(cig):
    """phi_1 of the transformed model from W's traces minus the unit eigenvalue = phi_1 computed on W* directly."""
    _, w = cig
    wd = np.asarray(w.full()[0])
    n = wd.shape[0]
    f = _orthonormal_complement(n)
    ws = f.T @ wd @ f
    tau, eta, rho, s2, k = 0.35, 0.12, 0.28, 0.7, 3
    got, phi2 = dynamic_bias(wd, tau, eta, rho, s2, k, "twoways", transformed=True)
    ref, _ = dynamic_bias(ws, tau, eta, rho, s2, k, "entity")  # plain YDL phi_1 of the N - 1 unit model
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-14)
    assert not phi2.any()


def test_lee_yu_removes_small_n_bias():
    """SYNTHETIC, seed 777: N = 9 (3x3 rook lattice), T' = 40, 60 replications, two-way effects.

    The direct approach's first-order correction leaves an O(1/N^2) bias in rho (about -0.06 here);
    the transformation approach with its own phi_1 does not."""
    wl = libpysal.weights.lat2W(3, 3, rook=True)
    wl.transform = "r"
    wd = np.asarray(wl.full()[0])
    true = np.array([0.3, 0.1, 0.3, 1.0, 0.5])
    rng = np.random.default_rng(777)
    rho_d, rho_l = [], []
    for _ in range(60):
        df = _simulate(rng, wd, 9, 41, true)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rho_d.append(DynamicSDM("y ~ x", df, (wd, range(len(wd))), "unit", "period", method="direct").fit().params["rho"])
            rho_l.append(DynamicSDM("y ~ x", df, (wd, range(len(wd))), "unit", "period", method="lee-yu").fit().params["rho"])
    bias_d, bias_l = np.mean(rho_d) - 0.3, np.mean(rho_l) - 0.3
    mcse = np.std(rho_l, ddof=1) / np.sqrt(len(rho_l))
    assert bias_d < -0.03
    assert abs(bias_l) < 3 * mcse + 0.01 and abs(bias_l) < abs(bias_d) / 3


def test_standard_errors_from_brute_force_hessian(cig):
    """SEs (incl. sigma2's) against minus the inverse Hessian of a full log-likelihood written here on explicit
    matrices (Kronecker-product demeaning, slogdet Jacobian), differentiated by a test-local central difference."""
    df, w = cig
    ids = list(w.id_order)
    wd = np.asarray(w.full()[0])
    yp = df.pivot(index="year", columns="state", values="logc")[ids].to_numpy()
    xs = [df.pivot(index="year", columns="state", values=c)[ids].to_numpy() for c in ("logp", "logy")]
    t_all, n = yp.shape
    t = t_all - 1
    bigw = np.kron(np.eye(t), wd)
    ylag = yp[:-1].ravel()
    x = np.column_stack([ylag, bigw @ ylag] + [a[1:].ravel() for a in xs])
    x = np.column_stack([x, bigw @ x[:, 2:]])
    q = np.kron(np.eye(t) - np.ones((t, t)) / t, np.eye(n)) @ np.kron(np.eye(t), np.eye(n) - np.ones((n, n)) / n)
    y = yp[1:].ravel()
    qy, qwy, qx = q @ y, q @ bigw @ y, q @ x

    def llf(th):
        b, rho, s2 = th[:-2], th[-2], th[-1]
        e = qy - rho * qwy - qx @ b
        return (-n * t / 2 * np.log(2 * np.pi * s2) + t * np.linalg.slogdet(np.eye(n) - rho * wd)[1]
                - e @ e / (2 * s2))

    res = DynamicSDM("logc ~ logp + logy", df, w, "state", "year", method="direct", correction="none").fit()
    th = np.concatenate([res.params_qml.to_numpy(), [res.sigma2_qml]])
    k = len(th)
    h = 1e-4 * np.maximum(np.abs(th), 1e-4)  # relative steps: sigma2 is small here
    hess = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            hess[i, j] = (llf(th + ei + ej) - llf(th + ei - ej) - llf(th - ei + ej) + llf(th - ei - ej)) / (4 * h[i] * h[j])
    cov = np.linalg.inv(-hess)
    np.testing.assert_allclose(res.bse.to_numpy(), np.sqrt(np.diag(cov))[:-1], rtol=1e-4)
    np.testing.assert_allclose(res.extra["sigma2_se"], np.sqrt(cov[-1, -1]), rtol=1e-4)


def test_dynamic_results_have_the_static_attributes(cigar):
    """DynamicResults: std_errors, conf_int, converged, resid, fitted_values, bic like SpatialResults.

    Reference for resid: y - rho W y - tau y(t-1) - eta W y(t-1) - X b - W X theta at the QML estimate,
    with unit and time means removed, written out here on the (T, N) arrays."""
    df, w = cigar
    res = DynamicSDM("logc ~ logp + logy", df, w, "state", "year", method="direct", correction="none").fit()
    import spillover as sp

    static = sp.SDM("logc ~ logp + logy", df, w, "state", "year").fit()
    for attr in ("std_errors", "conf_int", "converged", "resid", "fitted_values", "bic", "aic", "sigma2_se",
                 "summary_frame", "pvalues"):
        assert hasattr(res, attr) and hasattr(static, attr), attr
    assert res.converged and len(res.resid) == res.N * res.T
    ids = list(w.id_order)
    wide = df.pivot(index="year", columns="state")
    y, p, inc = (wide[c][ids].to_numpy() for c in ("logc", "logp", "logy"))
    wd = w.full()[0]
    q = res.params_qml
    lag = "logc(t-1)"
    u = (y[1:] - q["rho"] * y[1:] @ wd.T - q[lag] * y[:-1] - q[f"W*{lag}"] * y[:-1] @ wd.T - q["logp"] * p[1:]
         - q["logy"] * inc[1:] - q["W*logp"] * p[1:] @ wd.T - q["W*logy"] * inc[1:] @ wd.T)
    u = u - u.mean(axis=0) - u.mean(axis=1, keepdims=True) + u.mean()
    years = sorted(df["year"].unique())[1:]
    got = res.resid.to_frame().join(df[["state", "year"]]).pivot(index="year", columns="state")["resid"]
    np.testing.assert_allclose(got.loc[years, ids].to_numpy(), u, atol=1e-10)
    np.testing.assert_allclose((res.fitted_values + res.resid).to_numpy(),
                               df.loc[res.resid.index, "logc"].to_numpy(), atol=1e-12)
    ci = res.conf_int()
    assert (ci["lower"] < res.params).all() and (res.params < ci["upper"]).all()
