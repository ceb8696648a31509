"""Separate weights (``w_x``, ``w_u``) and robust / clustered covariances of the dynamic and unbalanced models.

Every reference is written here with dense matrices: Kronecker products and
explicit demeaning (dynamic), effect dummies ``Q = I - D (D'D)^+ D'`` and
block-diagonal per-period weights (unbalanced). Gradients are complex-step
derivatives of those likelihoods (exact to rounding). The meat ``J`` is
recomputed by loops over pairs of observations: robust ``O_ij (O_ij + O_ji)
e_i^2 e_j^2``; cluster the four-index sum ``O_(it,jt) (O_(is,js) + O_(js,is))
e_it e_jt e_is e_js`` over the pairs of units and every two periods in which
both are observed.
"""

from __future__ import annotations

import warnings
from collections import defaultdict

import libpysal
import numpy as np
import pandas as pd
import pytest
from scipy import linalg

import spillover as sp
from spillover.errors import SpecificationError, WeightsError
from spillover.report.adapters import column_record
from spillover.spatial import sandwich
from spillover.spatial.dynamic import DynamicSDM
from spillover.spatial.unbalanced import fit_unbalanced

K = 4  # K x K lattice
N = K * K


@pytest.fixture(scope="module")
def weights():
    """W: rook contiguity; M: 3 nearest neighbours of jittered points (both row-standardised)."""
    w = libpysal.weights.lat2W(K, K, rook=True)
    w.transform = "r"
    pts = np.array([(i // K + 0.07 * (i % 3), i % K + 0.05 * (i % 2)) for i in range(N)])
    m = libpysal.weights.KNN.from_array(pts, k=3)
    m.transform = "r"
    return w, m, w.full()[0], m.full()[0]


@pytest.fixture(scope="module")
def dyn_panel(weights):
    """Seeded dynamic SDM, W X with M, heteroskedastic errors correlated over time within a unit."""
    _, _, wd, md = weights
    rng = np.random.default_rng(7)
    t_all = 8
    s_inv = np.linalg.inv(np.eye(N) - 0.3 * wd)
    mu = rng.normal(size=N)
    x = rng.normal(size=(t_all, N))
    y = np.zeros((t_all, N))
    v = rng.normal(size=N)
    y[0] = s_inv @ (x[0] + mu + v)
    for s in range(1, t_all):
        v = 0.5 * v + rng.normal(size=N) * np.exp(0.4 * x[s])
        y[s] = s_inv @ (0.4 * y[s - 1] + 0.1 * wd @ y[s - 1] + x[s] + 0.5 * md @ x[s] + mu + 0.2 * s + v)
    rows = [{"id": i, "yr": s, "y": y[s, i], "x": x[s, i], "mx": (md @ x[s])[i]}
            for s in range(t_all) for i in range(N)]
    return pd.DataFrame(rows)


def _quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **kw)


def _complex_step_gradient(f, theta: np.ndarray) -> np.ndarray:
    """Complex-step derivative ``Im f(theta + i h e_k) / h``: exact to rounding (no subtraction)."""
    h = 1e-30
    return np.array([f(theta + 1j * h * np.eye(len(theta))[k]).imag / h for k in range(len(theta))])


def _brute_meat(lin, quad, const, e, unit, period, kind, scale):
    """J by loops: shares a_m e_m + A_mm e_m^2 - c_m; pairs in a period (robust) or the four-index cluster sum."""
    m = len(lin)
    share = np.array([[lin[k][o] * e[o] + (quad[k][o, o] if quad[k] is not None else 0.0) * e[o] ** 2 - const[k][o]
                       for k in range(m)] for o in range(len(e))])
    if kind == "robust":
        j = share.T @ share
    else:
        j = np.zeros((m, m))
        for c in np.unique(unit):
            s = share[unit == c].sum(axis=0)
            j += np.outer(s, s)
    spatial = [k for k in range(m) if quad[k] is not None and np.any(quad[k] - np.diag(np.diag(quad[k])))]
    pairs = [(o1, o2) for o1 in range(len(e)) for o2 in range(len(e))
             if period[o1] == period[o2] and unit[o1] != unit[o2]]
    by_units = defaultdict(list)
    for o1, o2 in pairs:
        by_units[(unit[o1], unit[o2])].append((o1, o2))
    for k in spatial:
        for l_ in spatial:
            qk, ql = quad[k], quad[l_]
            if kind == "robust":
                j[k, l_] += sum(qk[o1, o2] * (ql[o1, o2] + ql[o2, o1]) * e[o1] ** 2 * e[o2] ** 2 for o1, o2 in pairs)
            else:
                j[k, l_] += sum(qk[o1, o2] * (ql[o3, o4] + ql[o4, o3]) * e[o1] * e[o2] * e[o3] * e[o4]
                                for group in by_units.values() for o1, o2 in group for o3, o4 in group)
    return j * scale


def _pair_terms_matter(parts, k):
    """The pair terms move the robust J of the spatial parameter (column k) by more than 1% from the shares'
    outer product, so the brute-force comparison of them can fail."""
    outer = (parts.g.T @ parts.g)[k, k] * len(parts.e) / parts.n_eff
    assert abs(sandwich.meat(parts, "robust")[k, k] / outer - 1) > 0.01


# ----------------------------------------------------------------------------------------------- dynamic
def _dyn_dense(df, wd, md, fe):
    """Q y, Q (I kron W) y, Q Z with Z = [y_{t-1}, W y_{t-1}, x, M x] over periods 2..T (Kronecker products)."""
    yp = df.pivot(index="yr", columns="id", values="y").to_numpy()
    xp = df.pivot(index="yr", columns="id", values="x").to_numpy()
    t = yp.shape[0] - 1
    bigw, bigm = np.kron(np.eye(t), wd), np.kron(np.eye(t), md)
    y, ylag, x = yp[1:].ravel(), yp[:-1].ravel(), xp[1:].ravel()
    z = np.column_stack([ylag, bigw @ ylag, x, bigm @ x])
    q = np.kron(np.eye(t) - 1.0 / t, np.eye(N))
    if fe == "twoways":
        q = q @ np.kron(np.eye(t), np.eye(N) - 1.0 / N)
    return q @ y, q @ bigw @ y, q @ z, t


def _dyn_llf(theta, qy, qwy, qz, wd, t, transformed):
    """Dynamic log-likelihood (YDL 2008; Lee & Yu 2010 ET for the transformation approach), dense."""
    b, rho, s2 = theta[:-2], theta[-2], theta[-1]
    e = qy - rho * qwy - qz @ b
    n_eff = N - 1 if transformed else N
    ld = np.log(np.linalg.det(np.eye(N) - rho * wd)) - (np.log(1 - rho) if transformed else 0.0)
    return -n_eff * t / 2 * np.log(2 * np.pi * s2) + t * ld - (e @ e) / (2 * s2)


def test_dynamic_w_x_equals_the_lagged_regressor_added_by_hand(dyn_panel, weights):
    w, m, *_ = weights
    for corr in ("none", "bias"):
        a = _quiet(DynamicSDM("y ~ x", dyn_panel, w, "id", "yr", w_x=m, correction=corr).fit)
        b = _quiet(DynamicSDM("y ~ x + mx", dyn_panel, w, "id", "yr", wx=False, correction=corr).fit)
        cols_a = ["y(t-1)", "W*y(t-1)", "x", "W*x", "rho"]
        cols_b = ["y(t-1)", "W*y(t-1)", "x", "mx", "rho"]
        np.testing.assert_allclose(a.params_qml[cols_a].to_numpy(), b.params_qml[cols_b].to_numpy(), rtol=1e-9)
        np.testing.assert_allclose(a.params[cols_a].to_numpy(), b.params[cols_b].to_numpy(), rtol=1e-9)
        assert a.llf == pytest.approx(b.llf, rel=1e-12)
    plain = _quiet(DynamicSDM("y ~ x", dyn_panel, w, "id", "yr").fit)
    assert abs(plain.params["W*x"] - a.params["W*x"]) > 1e-2  # the W X terms' own W matters


@pytest.mark.parametrize("kind", ["short", "long"])
def test_dynamic_impacts_with_w_x_equal_dense_brute_force(dyn_panel, weights, kind):
    w, m, wd, md = weights
    res = _quiet(DynamicSDM("y ~ x", dyn_panel, w, "id", "yr", w_x=m).fit)
    names = ["y(t-1)", "W*y(t-1)", "x", "W*x", "rho"]

    def effects(p):
        tau, eta, b, th, rho = p
        base = np.eye(N) - rho * wd if kind == "short" else (1 - tau) * np.eye(N) - (rho + eta) * wd
        mk = np.linalg.solve(base, b * np.eye(N) + th * md)  # S (b I + theta W_x)
        return np.array([np.trace(mk) / N, mk.sum() / N])

    p0 = res.params[names].to_numpy()
    want = effects(p0)
    imp = res.impacts(kind=kind, method="delta").table.loc["x"]
    assert imp["direct"] == pytest.approx(want[0], rel=1e-9)
    assert imp["total"] == pytest.approx(want[1], rel=1e-9)
    h = 1e-6
    jac = np.column_stack([(effects(p0 + h * e) - effects(p0 - h * e)) / (2 * h) for e in np.eye(len(p0))])
    se = np.sqrt(np.diag(jac @ res.cov_params.loc[names, names].to_numpy() @ jac.T))
    np.testing.assert_allclose([imp["direct_se"], imp["total_se"]], se, rtol=1e-5)


DYN_CASES = [("twoways", "lee-yu"), ("twoways", "direct"), ("entity", "direct")]


@pytest.mark.parametrize("fe,method", DYN_CASES)
def test_dynamic_score_shares_add_up_to_the_brute_force_gradient(dyn_panel, weights, fe, method):
    w, m, wd, md = weights
    data = DynamicSDM("y ~ x", dyn_panel, w, "id", "yr", fe=fe, method=method, w_x=m)._data()
    qy, qwy, qz, t = _dyn_dense(dyn_panel, wd, md, fe)
    np.testing.assert_allclose(data.zt, qz, atol=1e-12)
    theta = np.array([0.3, 0.05, 0.8, 0.2, 0.25, 1.7])  # (tau, eta, b, theta, rho, sigma2): not the estimate
    transformed = fe == "twoways" and method == "lee-yu"
    want = _complex_step_gradient(lambda th: _dyn_llf(th, qy, qwy, qz, wd, t, transformed), theta)
    got = data.score_parts(theta[:4], theta[4], theta[5]).total()
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8 * np.abs(want).max())
    assert np.abs(want).max() > 1.0


def _dyn_brute_meat(dyn_panel, wd, md, fe, method, theta, kind):
    """Shares from the dense model; entity effects: the linear part of rho's score derived, (I kron G) Q Z b."""
    qy, qwy, qz, t = _dyn_dense(dyn_panel, wd, md, fe)
    b, rho, s2 = theta[:4], theta[4], theta[5]
    transformed = fe == "twoways" and method == "lee-yu"
    n_eff, nt = (N - 1 if transformed else N) * t, N * t
    e = qy - rho * qwy - qz @ b
    big_g = np.kron(np.eye(t), wd @ np.linalg.inv(np.eye(N) - rho * wd))
    # Q (I kron W) y = (I kron G)(Q Z b + e) when Q commutes with I kron G (entity effects); else observed - G e
    lin_rho = big_g @ qz @ b if fe == "entity" else qwy - big_g @ e
    lin = [qz[:, j] / s2 for j in range(4)] + [lin_rho / s2, np.zeros(nt)]
    quad = [None] * 4 + [big_g / s2, np.eye(nt) / (2 * s2**2)]
    corr = 1.0 / ((1 - rho) * N) if transformed else 0.0
    const = [np.zeros(nt)] * 4 + [np.diag(big_g) - corr, np.full(nt, n_eff / (2 * s2 * nt))]
    unit, period = np.tile(np.arange(N), t), np.repeat(np.arange(t), N)
    scale = N / (N - 1) if kind == "cluster" else nt / n_eff
    return _brute_meat(lin, quad, const, e, unit, period, kind, scale)


@pytest.mark.parametrize("fe,method", [("entity", "direct"), ("twoways", "lee-yu")])
@pytest.mark.parametrize("kind", ["robust", "cluster"])
def test_dynamic_meat_equals_the_brute_force_variance_of_the_score(dyn_panel, weights, fe, method, kind):
    w, m, wd, md = weights
    data = DynamicSDM("y ~ x", dyn_panel, w, "id", "yr", fe=fe, method=method, w_x=m)._data()
    theta = np.array([0.3, 0.05, 0.8, 0.2, 0.25, 1.7])
    parts = data.score_parts(theta[:4], theta[4], theta[5])
    got = sandwich.meat(parts, kind)
    want = _dyn_brute_meat(dyn_panel, wd, md, fe, method, theta, kind)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * np.abs(want).max())
    _pair_terms_matter(parts, 4)


@pytest.mark.parametrize("kind", ["robust", "cluster"])
def test_dynamic_fit_uses_the_sandwich_at_the_qml_estimate(dyn_panel, weights, kind):
    """cov_params = H^-1 J H^-1 with J the brute-force meat at the uncorrected QML estimate; corrected params."""
    w, m, wd, md = weights
    res = _quiet(DynamicSDM("y ~ x", dyn_panel, w, "id", "yr", w_x=m, cov=kind).fit)
    ref = _quiet(DynamicSDM("y ~ x", dyn_panel, w, "id", "yr", w_x=m).fit)
    np.testing.assert_allclose(res.params.to_numpy(), ref.params.to_numpy(), rtol=1e-12)  # the post-step is unchanged
    theta = np.concatenate([res.params_qml.to_numpy(), [res.sigma2_qml]])
    bread = np.linalg.inv(-res.extra["hessian"])
    want = bread @ _dyn_brute_meat(dyn_panel, wd, md, "twoways", "lee-yu", theta, kind) @ bread
    np.testing.assert_allclose(res.cov_params.to_numpy(), want[:-1, :-1], rtol=1e-8, atol=1e-12)
    assert np.abs(res.bse / ref.bse - 1).max() > 0.02  # not the Hessian's standard errors
    assert f"Covariance: {kind}" in res.summary() and "own W (w_x)" in res.summary()
    assert res.cov_type == kind and column_record(res).cov == {"robust": "heteroskedasticity-robust",
                                                               "cluster": "clustered by unit"}[kind]
    imp = res.impacts(kind="long", method="delta").table  # impacts take the sandwich
    assert np.all(np.isfinite(imp["total_se"]))


def test_dynamic_bad_options(dyn_panel, weights):
    w, m, wd, _ = weights
    with pytest.raises(SpecificationError, match="cov='information'"):
        DynamicSDM("y ~ x", dyn_panel, w, "id", "yr", cov="information")
    with pytest.raises(SpecificationError, match="w_x does not apply"):
        DynamicSDM("y ~ x", dyn_panel, w, "id", "yr", wx=False, w_x=m)
    with pytest.raises(WeightsError, match="bare matrix"):
        DynamicSDM("y ~ x", dyn_panel, w, "id", "yr", w_x=wd).fit()
    other = libpysal.weights.lat2W(K, K + 1)
    with pytest.raises(WeightsError, match="w_x does not have the units of w"):
        DynamicSDM("y ~ x", dyn_panel, w, "id", "yr", w_x=other).fit()


# ----------------------------------------------------------------------------------------------- unbalanced
@pytest.fixture(scope="module")
def unbal(weights):
    """The same lattice, static SAR-SEM data over 6 periods, about 15% of the rows dropped at random (seeded)."""
    _, _, wd, md = weights
    rng = np.random.default_rng(3)
    rows = []
    for s in range(6):
        x = rng.normal(size=N)
        u = np.linalg.solve(np.eye(N) - 0.3 * md, rng.normal(size=N) * np.exp(0.5 * x))
        y = np.linalg.solve(np.eye(N) - 0.3 * wd, x + 0.5 * md @ x + 0.1 * s + u)
        rows += [{"id": i, "yr": s, "y": y[i], "x": x[i]} for i in range(N)]
    full = pd.DataFrame(rows)
    keep = rng.random(len(full)) > 0.15
    return full[keep].reset_index(drop=True), full


def _restricted(mat, u):
    """``mat`` restricted to the units ``u`` and row-standardised again (zero rows stay zero)."""
    sub = mat[np.ix_(u, u)]
    rs = sub.sum(axis=1)
    return sub / np.where(rs > 0, rs, 1.0)[:, None]


def _unbal_dense(df, wd, md, fe):
    """Dense pieces of the unbalanced model: time-major rows, Q, block-diagonal W_t and M_t, per-period blocks."""
    d = df.sort_values(["yr", "id"]).reset_index(drop=True)
    unit, period = d["id"].to_numpy(), d["yr"].to_numpy()
    wts, mts, blocks, start = [], [], [], 0
    for s in np.unique(period):
        u = unit[period == s]
        wts.append(_restricted(wd, u))
        mts.append(_restricted(md, u))
        blocks.append((slice(start, start + len(u)), u, wts[-1], mts[-1]))
        start += len(u)
    cols = []
    if fe in ("entity", "twoways"):
        cols.append((unit[:, None] == np.unique(unit)[None, :]).astype(float))
    if fe in ("time", "twoways"):
        cols.append((period[:, None] == np.unique(period)[None, :]).astype(float))
    dm = np.column_stack(cols)
    q = np.eye(len(d)) - dm @ np.linalg.pinv(dm.T @ dm) @ dm.T
    return d, q, linalg.block_diag(*wts), linalg.block_diag(*mts), blocks, wts, mts


def _unbal_llf(theta, y, z, q, bigw, bigm, wts, mts, lag):
    """sum_t log|I - p W_t| + Gaussian terms, residual Q (I - lam M)(y - Z b) (SEM) or Q(y - rho W y) - Q Z b."""
    b, p, s2 = theta[:-2], theta[-2], theta[-1]
    if lag:
        e = q @ (y - p * bigw @ y) - q @ z @ b
        ld = sum(np.log(np.linalg.det(np.eye(len(wt)) - p * wt)) for wt in wts)
    else:
        e = q @ (y - z @ b) - p * q @ bigm @ (y - z @ b)
        ld = sum(np.log(np.linalg.det(np.eye(len(mt)) - p * mt)) for mt in mts)
    n = len(y)
    return -n / 2 * np.log(2 * np.pi * s2) + ld - (e @ e) / (2 * s2)


def _unbal_columns(df, wd, md, fe, model):
    """Transformed columns for :func:`sandwich.block_score_parts` and the dense model (SDM: W X with M)."""
    d, q, bigw, bigm, blocks, wts, mts = _unbal_dense(df, wd, md, fe)
    y, x = d["y"].to_numpy(), d["x"].to_numpy()[:, None]
    z = np.column_stack([x, bigm @ x]) if model == "sdm" else x
    return dict(d=d, q=q, bigw=bigw, bigm=bigm, blocks=blocks, wts=wts, mts=mts, y=y, z=z,
                cols=dict(yt=q @ y, wyt=q @ bigw @ y, myt=q @ bigm @ y, mwyt=np.zeros(len(y)), zt=q @ z,
                          mzt=q @ bigm @ z))


def _conv(n):
    from spillover.spatial.transforms import Convention

    return Convention("entity", "direct-unbalanced", 1.0, 0.0, n, False)


UNB_CASES = [("sar", "entity"), ("sar", "twoways"), ("sem", "entity"), ("sem", "twoways"), ("sdm", "twoways")]


@pytest.mark.parametrize("model,fe", UNB_CASES)
def test_unbalanced_score_shares_add_up_to_the_brute_force_gradient(unbal, weights, model, fe):
    _, _, wd, md = weights
    c = _unbal_columns(unbal[0], wd, md, fe, model)
    lag = model != "sem"
    k = c["z"].shape[1]
    theta = np.concatenate([np.linspace(0.7, 0.3, k), [0.2, 1.3]])  # not the estimate
    rho, lam = (theta[k], 0.0) if lag else (0.0, theta[k])
    parts = sandwich.block_score_parts(c["blocks"], c["d"]["id"].to_numpy(), _conv(len(c["y"])), lag=lag,
                                       err=not lag, beta=theta[:k], rho=rho, lam=lam, sigma2=theta[-1], **c["cols"])
    want = _complex_step_gradient(lambda th: _unbal_llf(th, c["y"], c["z"], c["q"], c["bigw"], c["bigm"], c["wts"],
                                                        c["mts"], lag), theta)
    np.testing.assert_allclose(parts.total(), want, rtol=1e-8, atol=1e-8 * np.abs(want).max())
    assert np.abs(want).max() > 1.0


def _unbal_brute_meat(c, model, theta, kind):
    lag = model != "sem"
    q, y, z, k = c["q"], c["y"], c["z"], c["z"].shape[1]
    b, p, s2 = theta[:k], theta[k], theta[-1]
    n = len(y)
    if lag:
        big_a = linalg.block_diag(*[wt @ np.linalg.inv(np.eye(len(wt)) - p * wt) for wt in c["wts"]])
        e = q @ (y - p * c["bigw"] @ y) - q @ z @ b
        observed = q @ c["bigw"] @ y
        lin_b = q @ z
    else:
        big_a = linalg.block_diag(*[mt @ np.linalg.inv(np.eye(len(mt)) - p * mt) for mt in c["mts"]])
        e = q @ (y - z @ b) - p * q @ c["bigm"] @ (y - z @ b)
        observed = q @ c["bigm"] @ (y - z @ b)
        lin_b = q @ z - p * q @ c["bigm"] @ z
    lin = [lin_b[:, j] / s2 for j in range(k)] + [(observed - big_a @ e) / s2, np.zeros(n)]
    quad = [None] * k + [big_a / s2, np.eye(n) / (2 * s2**2)]
    const = [np.zeros(n)] * k + [np.diag(big_a), np.full(n, 1 / (2 * s2))]
    unit, period = c["d"]["id"].to_numpy(), c["d"]["yr"].to_numpy()
    n_units = len(np.unique(unit))
    return _brute_meat(lin, quad, const, e, unit, period, kind, n_units / (n_units - 1) if kind == "cluster" else 1.0)


@pytest.mark.parametrize("model,fe", [("sar", "twoways"), ("sem", "entity")])
@pytest.mark.parametrize("kind", ["robust", "cluster"])
def test_unbalanced_meat_equals_the_brute_force_variance_of_the_score(unbal, weights, model, fe, kind):
    _, _, wd, md = weights
    c = _unbal_columns(unbal[0], wd, md, fe, model)
    lag = model != "sem"
    theta = np.array([0.7, 0.2, 1.3])
    rho, lam = (0.2, 0.0) if lag else (0.0, 0.2)
    parts = sandwich.block_score_parts(c["blocks"], c["d"]["id"].to_numpy(), _conv(len(c["y"])), lag=lag,
                                       err=not lag, beta=theta[:1], rho=rho, lam=lam, sigma2=theta[-1], **c["cols"])
    got = sandwich.meat(parts, kind)
    want = _unbal_brute_meat(c, model, theta, kind)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * np.abs(want).max())
    _pair_terms_matter(parts, 1)


@pytest.mark.parametrize("model,fe,own", [("sdm", "twoways", "w_x"), ("sem", "entity", "w_u")])
@pytest.mark.parametrize("kind", ["robust", "cluster"])
def test_unbalanced_fit_covariance_is_the_brute_force_sandwich(unbal, weights, model, fe, own, kind):
    """On the unbalanced panel: H^-1 J H^-1 with H the complex-step / central-difference Hessian of the dense
    likelihood and J the brute-force meat, both at the fit's estimate."""
    w, m, wd, md = weights
    res = fit_unbalanced("y ~ x", unbal[0], w, "id", "yr", model=model, fe=fe, cov=kind, **{own: m})
    c = _unbal_columns(unbal[0], wd, md, fe, model)
    theta = np.concatenate([res.params.to_numpy(), [res.sigma2]])

    def grad(th):
        return _complex_step_gradient(lambda v: _unbal_llf(v, c["y"], c["z"], c["q"], c["bigw"], c["bigm"], c["wts"],
                                                           c["mts"], model != "sem"), th)

    assert np.abs(grad(theta)).max() < 1e-5  # the fit's estimate is the dense likelihood's maximum
    h = 1e-6 * np.maximum(np.abs(theta), 0.1)
    hess = np.column_stack([(grad(theta + h[i] * e) - grad(theta - h[i] * e)) / (2 * h[i])
                            for i, e in enumerate(np.eye(len(theta)))])
    bread = np.linalg.inv(-(hess + hess.T) / 2)
    want = bread @ _unbal_brute_meat(c, model, theta, kind) @ bread
    np.testing.assert_allclose(res.cov_params.to_numpy(), want[:-1, :-1], rtol=1e-7)
    assert res.cov_type == kind and f"Covariance: {kind}" in res.summary()
    assert column_record(res).cov == {"robust": "heteroskedasticity-robust", "cluster": "clustered by unit"}[kind]


STATIC = [("SDM", "entity", {}), ("SDM", "twoways", {"w_x": True}), ("SAR", "none", {}), ("SEM", "entity", {}),
          ("SEM", "twoways", {"w_u": True})]


@pytest.mark.parametrize("model,fe,own", STATIC)
@pytest.mark.parametrize("kind", ["robust", "cluster"])
def test_balanced_panel_through_the_unbalanced_path_equals_the_static_sandwich(unbal, weights, model, fe, own, kind):
    w, m, *_ = weights
    full = unbal[1]
    kw = {k: m for k in own}
    a = _quiet(getattr(sp, model)("y ~ x", full, w, "id", "yr", fe=fe, method="direct", cov=kind, **kw).fit)
    b = fit_unbalanced("y ~ x", full, w, "id", "yr", model=model.lower(), fe=fe, cov=kind, **kw)
    np.testing.assert_allclose(b.params.to_numpy(), a.params.to_numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.cov_params.to_numpy(), a.cov_params.to_numpy(), rtol=1e-10,
                               atol=1e-12 * np.abs(a.cov_params.to_numpy()).max())


def test_unbalanced_w_x_equals_the_lagged_regressor_added_by_hand(unbal, weights):
    """SDM with w_x = M is the SAR with M_t x_t (M restricted to the period's units, row-standardised) added."""
    w, m, wd, md = weights
    df = unbal[0]
    d, *_ = _unbal_dense(df, wd, md, "twoways")
    d["mx"] = np.concatenate([_restricted(md, g["id"].to_numpy()) @ g["x"].to_numpy() for _, g in d.groupby("yr")])
    a = fit_unbalanced("y ~ x", df, w, "id", "yr", model="sdm", fe="twoways", w_x=m)
    b = fit_unbalanced("y ~ x + mx", d, w, "id", "yr", model="sar", fe="twoways")
    np.testing.assert_allclose(a.params[["x", "W*x", "rho"]].to_numpy(), b.params[["x", "mx", "rho"]].to_numpy(),
                               rtol=1e-9)
    assert a.llf == pytest.approx(b.llf, rel=1e-12)
    n = N  # impacts with the full W and the full w_x: S (b I + theta M), dense
    p = a.params
    mk = np.linalg.solve(np.eye(n) - p["rho"] * wd, p["x"] * np.eye(n) + p["W*x"] * md)
    imp = a.impacts(method="delta").table.loc["x"]
    assert imp["direct"] == pytest.approx(np.trace(mk) / n, rel=1e-10)
    assert imp["total"] == pytest.approx(mk.sum() / n, rel=1e-10)


def test_unbalanced_w_u_likelihood_is_the_dense_one_at_its_maximum(unbal, weights):
    w, m, wd, md = weights
    df = unbal[0]
    res = fit_unbalanced("y ~ x", df, w, "id", "yr", model="sem", fe="entity", w_u=m)
    c = _unbal_columns(df, wd, md, "entity", "sem")
    theta = np.concatenate([res.params.to_numpy(), [res.sigma2]])

    def llf(th):
        return _unbal_llf(th, c["y"], c["z"], c["q"], c["bigw"], c["bigm"], c["wts"], c["mts"], False)

    assert res.llf == pytest.approx(llf(theta), rel=1e-11)
    for dl in (1e-3, -1e-3):
        assert llf(theta + np.array([0, dl, 0])) < llf(theta)
    same = fit_unbalanced("y ~ x", df, w, "id", "yr", model="sem", fe="entity")
    assert abs(same.params["lambda"] - res.params["lambda"]) > 1e-3  # the error's W matters


def test_unbalanced_bad_options(unbal, weights):
    w, m, wd, _ = weights
    df = unbal[0]
    with pytest.raises(SpecificationError, match="w_x does not apply"):
        fit_unbalanced("y ~ x", df, w, "id", "yr", model="sar", w_x=m)
    with pytest.raises(SpecificationError, match="w_u does not apply"):
        fit_unbalanced("y ~ x", df, w, "id", "yr", model="sdm", w_u=m)
    with pytest.raises(SpecificationError, match="cov='hessian'"):
        fit_unbalanced("y ~ x", df, w, "id", "yr", model="sar", cov="hessian")
    with pytest.raises(WeightsError, match="bare matrix"):
        fit_unbalanced("y ~ x", df, w, "id", "yr", model="sem", w_u=wd)
