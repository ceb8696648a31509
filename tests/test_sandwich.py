"""Robust and clustered (QML sandwich) covariances of the static spatial models.

Three independent checks of :mod:`spillover.spatial.sandwich`:
1. the score split into per-observation shares and pair terms adds up to the
   analytic gradient of the log-likelihood (another code path:
   ``Moments.loglik_gradient``) at any parameter value, for every model, fe
   and method;
2. the meat ``J`` equals the Kelejian-Prucha variance of linear-quadratic
   forms computed here by brute force: explicit NT x NT Kronecker matrices,
   the linear vectors derived from the model (``B G Z b``), a loop over all
   pairs of observations;
3. a seeded Monte Carlo on a real W (48 US states) with heteroskedastic,
   skewed errors: robust intervals cover within Monte Carlo error and the
   information intervals do not; with errors and regressors correlated over
   time, clustered intervals cover and the robust ones do not.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sps

import spillover as sp
from spillover.errors import SpecificationError
from spillover.spatial import sandwich
from spillover.spatial.likelihood import Moments
from spillover.spatial.transforms import convention, demean, spatial_lag

USAWW = Path(__file__).parent / "reference" / "produc" / "usaww_rowstd.csv"
MODELS = {"SAR": (True, False, False), "SEM": (False, True, False), "SDM": (True, False, True),
          "SDEM": (False, True, True), "SAC": (True, True, False), "GNS": (True, True, True)}


def _lattice(k: int = 4) -> np.ndarray:
    """Row-standardised rook lattice k x k."""
    n = k * k
    w = np.zeros((n, n))
    for i in range(n):
        r, c = divmod(i, k)
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            if 0 <= r + dr < k and 0 <= c + dc < k:
                w[i, (r + dr) * k + c + dc] = 1.0
    return w / w.sum(axis=1, keepdims=True)


def _columns(w: np.ndarray, t: int, fe: str, durbin: bool, seed: int = 3):
    """Transformed columns of a seeded heteroskedastic panel: yt, wyt, wwyt, zt, wzt (time-major)."""
    rng = np.random.default_rng(seed)
    n = w.shape[0]
    ws = sps.csr_matrix(w)
    x = rng.normal(size=(n * t, 2))
    z = np.column_stack([x, spatial_lag(ws, x, n, t)]) if durbin else x
    y = rng.normal(size=n * t) * np.exp(0.5 * x[:, 0]) + z @ np.linspace(0.5, -0.3, z.shape[1])
    y = np.concatenate([np.linalg.solve(np.eye(n) - 0.3 * w, y[s * n:(s + 1) * n]) for s in range(t)])
    wy = spatial_lag(ws, y, n, t)
    cols = [y, wy, spatial_lag(ws, wy, n, t), z, spatial_lag(ws, z, n, t)]
    return [demean(c, n, t, fe) for c in cols], ws


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("fe,method", [("entity", "lee-yu"), ("twoways", "lee-yu"), ("time", "lee-yu"),
                                       ("twoways", "direct"), ("none", "direct")])
def test_score_shares_add_up_to_the_analytic_gradient(model, fe, method):
    lag, err, durbin = MODELS[model]
    w = _lattice()
    n, t = w.shape[0], 4
    (yt, wyt, wwyt, zt, wzt), ws = _columns(w, t, fe, durbin)
    conv = convention(fe, method, n, t)
    k = zt.shape[1]
    beta = np.linspace(0.4, -0.2, k)
    rho, lam, s2 = (0.25 if lag else 0.0), (0.35 if err else 0.0), 0.8  # not the estimate: the score is not 0
    parts = sandwich.score_parts(ws, n, t, conv, lag=lag, err=err, beta=beta, rho=rho, lam=lam, sigma2=s2,
                                 yt=yt, wyt=wyt, mwyt=wwyt, zt=zt, mzt=wzt)
    mom = Moments.from_arrays(yt, wyt, wwyt, zt, wzt)

    def dld(p):  # d log|I - p W| / dp = -tr(W (I - p W)^-1), dense
        return -np.trace(w @ np.linalg.inv(np.eye(n) - p * w))

    g_b, g_r, g_l, g_s = mom.loglik_gradient(beta, rho, lam, s2, (dld(rho), dld(lam)),
                                             (-1 / (1 - rho), -1 / (1 - lam)), conv)
    want = np.concatenate([g_b, [g_r] if lag else [], [g_l] if err else [], [g_s]])
    np.testing.assert_allclose(parts.total(), want, rtol=1e-10, atol=1e-9 * np.abs(want).max())
    assert np.abs(want).max() > 1.0  # a point where the score is far from zero


def _brute_force_meat(w, t, beta, rho, lam, s2, e, zt, conv, lag, err, kind):
    """J by explicit Kronecker matrices and a loop over all pairs of observations (entity effects)."""
    n = w.shape[0]
    nt = n * t
    i_t = np.eye(t)
    a_inv = np.linalg.inv(np.eye(n) - rho * w)
    b = np.eye(n) - lam * w
    g = w @ a_inv
    big_b = np.kron(i_t, b)
    lin, quad, const = [], [], []
    for j in range(zt.shape[1]):  # beta_j: (B z_j)' e / s2
        lin.append(big_b @ zt[:, j] / s2)
        quad.append(np.zeros((nt, nt)))
        const.append(np.zeros(nt))
    for on, p, amat, avec in ((lag, rho, b @ g @ np.linalg.inv(b), big_b @ np.kron(i_t, g) @ zt @ beta),
                              (err, lam, w @ np.linalg.inv(b), np.zeros(nt))):
        if on:
            big = np.kron(i_t, amat)
            lin.append(avec / s2)
            quad.append(big / s2)
            const.append(conv.jac / t * np.diag(big) - conv.jac_corr / ((1 - p) * nt))
    lin.append(np.zeros(nt))
    quad.append(np.eye(nt) / (2 * s2**2))
    const.append(np.full(nt, conv.n_eff / (2 * s2 * nt)))
    m = len(lin)
    share = np.array([[lin[k][o] * e[o] + quad[k][o, o] * e[o] ** 2 - const[k][o] for k in range(m)]
                      for o in range(nt)])
    unit = np.tile(np.arange(n), t)
    period = np.repeat(np.arange(t), n)
    meat = np.zeros((m, m))
    if kind == "robust":
        meat += share.T @ share
    else:
        for c in range(n):
            s = share[unit == c].sum(axis=0)
            meat += np.outer(s, s)
    for o1 in range(nt):
        for o2 in range(nt):
            if unit[o1] == unit[o2] or period[o1] != period[o2]:
                continue
            for k in range(m):
                for l_ in range(m):
                    qk, ql = quad[k], quad[l_]
                    if not (qk[o1, o2] or qk[o2, o1]) or not (ql[o1, o2] or ql[o2, o1]):
                        continue
                    if kind == "robust":
                        cov_term = e[o1] ** 2 * e[o2] ** 2
                    else:  # (sum_t e_it e_jt)^2 for the two units
                        i, j = unit[o1], unit[o2]
                        cov_term = float(sum(e[s_ * n + i] * e[s_ * n + j] for s_ in range(t))) ** 2 / t
                    meat[k, l_] += qk[o1, o2] * (ql[o1, o2] + ql[o2, o1]) * cov_term
    return meat * (n / (n - 1)) if kind == "cluster" else meat * (nt / conv.n_eff)


@pytest.mark.parametrize("model", ["SAR", "SDEM", "GNS"])
@pytest.mark.parametrize("kind", ["robust", "cluster"])
def test_meat_equals_the_brute_force_variance_of_the_score(model, kind):
    lag, err, durbin = MODELS[model]
    w = _lattice(3)
    n, t = w.shape[0], 3
    (yt, wyt, wwyt, zt, wzt), ws = _columns(w, t, "entity", durbin, seed=5)
    conv = convention("entity", "lee-yu", n, t)
    beta = np.linspace(0.4, -0.2, zt.shape[1])
    rho, lam, s2 = (0.25 if lag else 0.0), (0.35 if err else 0.0), 0.8
    parts = sandwich.score_parts(ws, n, t, conv, lag=lag, err=err, beta=beta, rho=rho, lam=lam, sigma2=s2,
                                 yt=yt, wyt=wyt, mwyt=wwyt, zt=zt, mzt=wzt)
    got = sandwich.meat(parts, kind)
    want = _brute_force_meat(w, t, beta, rho, lam, s2, parts.e, zt, conv, lag, err, kind)
    # cluster: the pair term (sum_t e_it e_jt)^2 is spread over the t period pairs (o1, o2) of the loop
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * np.abs(want).max())


def _usaww() -> np.ndarray:
    return pd.read_csv(USAWW, index_col=0).to_numpy()


def _coverage(serial: bool, kinds: tuple[str, ...], reps: int = 500, seed: int = 20261202) -> dict:
    """Share of 95% intervals that hold the true x, W*x and rho of a seeded SDM with unit effects."""
    w = _usaww()
    n, t = w.shape[0], 10
    ws = sps.csr_matrix(w)
    s_inv = np.linalg.inv(np.eye(n) - 0.4 * w)
    truth = {"x": 1.0, "W*x": 0.5, "rho": 0.4}
    rng = np.random.default_rng(seed)
    hits = {c: dict.fromkeys(truth, 0) for c in kinds}
    for _ in range(reps):
        x = rng.normal(size=(t, n))
        v = (rng.chisquare(3, size=(t, n)) - 3) / np.sqrt(6)  # skewed, mean 0, variance 1
        if serial:
            for s in range(1, t):
                x[s] = 0.6 * x[s - 1] + 0.8 * x[s]
                v[s] = 0.6 * v[s - 1] + 0.8 * v[s]
        e = v * np.exp(0.7 * np.abs(x))  # variance rises with |x|
        y = np.stack([s_inv @ (x[s] + 0.5 * w @ x[s] + e[s]) for s in range(t)])
        for c in kinds:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = sp.SDM.from_arrays(y.ravel(), x.reshape(-1, 1), ws, t, names=["x"], fe="entity",
                                         method="lee-yu", cov=c).fit()
            for k, v0 in truth.items():
                hits[c][k] += abs(res.params[k] - v0) <= 1.959964 * res.bse[k]
    return {c: {k: h / reps for k, h in d.items()} for c, d in hits.items()}


MC_BAND = 3 * np.sqrt(0.95 * 0.05 / 500)  # three Monte Carlo standard errors of a 95% coverage at R = 500


def test_robust_intervals_cover_under_heteroskedasticity_and_information_ones_do_not():
    cov = _coverage(serial=False, kinds=("information", "robust"))
    for k in ("x", "W*x", "rho"):
        assert abs(cov["robust"][k] - 0.95) <= MC_BAND, cov
    assert cov["information"]["x"] < 0.95 - MC_BAND, cov


def test_clustered_intervals_cover_under_serial_correlation_and_robust_ones_do_not():
    cov = _coverage(serial=True, kinds=("robust", "cluster"))
    for k in ("x", "W*x", "rho"):
        assert abs(cov["cluster"][k] - 0.95) <= MC_BAND, cov
    assert cov["robust"]["x"] < 0.95 - MC_BAND, cov


def test_robust_covariance_feeds_the_impacts_and_is_named():
    w = _usaww()
    n, t = w.shape[0], 6
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n * t, 1))
    y = x[:, 0] + rng.normal(size=n * t) * np.exp(x[:, 0])
    fits = {c: sp.SDM.from_arrays(y, x, sps.csr_matrix(w), t, names=["x"], fe="entity", cov=c).fit()
            for c in ("information", "robust")}
    imp = {c: r.impacts(method="delta").table for c, r in fits.items()}
    assert fits["robust"].params.equals(fits["information"].params)
    assert imp["robust"].loc["x", "direct"] == pytest.approx(imp["information"].loc["x", "direct"], rel=1e-12)
    assert imp["robust"].loc["x", "direct_se"] > 1.3 * imp["information"].loc["x", "direct_se"]
    assert "robust" in fits["robust"].summary()


def test_cluster_and_robust_refused_where_they_do_not_apply(monkeypatch):
    w = _usaww()
    df = pd.DataFrame({"id": np.tile(np.arange(48), 3), "yr": np.repeat([1, 2, 3], 48),
                       "y": np.arange(144.0) % 7, "x": np.arange(144.0) % 5})
    with pytest.raises(SpecificationError, match="fe='random'"):
        sp.SDM("y ~ x", df, (w, list(range(48))), "id", "yr", fe="random", cov="robust")
    monkeypatch.setattr(sandwich, "MAX_N", 10)
    with pytest.raises(SpecificationError, match="up to 10 units"):
        sp.SAR.from_arrays(df["y"].to_numpy(), df[["x"]].to_numpy(), sps.csr_matrix(w), 3, cov="cluster").fit()


# ---- random effects (SAR/SDM, fe="random"): clustered sandwich --------------------------------------------------

def _re_panel(w: np.ndarray, t: int, seed: int = 7):
    """Raw y, W y and Z = [1, x, W x] of a seeded random-effects SDM panel (time-major)."""
    rng = np.random.default_rng(seed)
    n = w.shape[0]
    x = rng.normal(size=(t, n))
    mu = rng.normal(size=n)
    s_inv = np.linalg.inv(np.eye(n) - 0.3 * w)
    y = np.stack([s_inv @ (1.0 + x[s] - 0.4 * w @ x[s] + mu + rng.normal(size=n) * np.exp(0.5 * x[s]))
                  for s in range(t)]).ravel()
    z = np.column_stack([np.ones(n * t), x.ravel(), (x @ w.T).ravel()])
    wy = (y.reshape(t, n) @ w.T).ravel()
    return y, wy, z


def _re_loglik_dense(w, t, y, z, beta, rho, phi, s2):
    """The random-effects lag likelihood from its definition: (I_T kron A) y = Z b + u, u ~ N(0, Omega),
    Omega = s2_mu (J_T kron I_N) + s2 I, s2_mu = s2 (1/phi - 1) / T, by a dense NT x NT Cholesky."""
    n = w.shape[0]
    s2_mu = s2 * (1.0 / phi - 1.0) / t
    omega = s2_mu * np.kron(np.ones((t, t)), np.eye(n)) + s2 * np.eye(n * t)
    u = np.kron(np.eye(t), np.eye(n) - rho * w) @ y - z @ beta
    chol = np.linalg.cholesky(omega)
    r = np.linalg.solve(chol, u)
    return (t * np.linalg.slogdet(np.eye(n) - rho * w)[1] - np.sum(np.log(np.diag(chol)))
            - 0.5 * n * t * np.log(2 * np.pi) - 0.5 * float(r @ r))


def test_random_effects_score_shares_add_up_to_the_gradient_of_the_dense_likelihood():
    w = _lattice()
    n, t = w.shape[0], 4
    y, wy, z = _re_panel(w, t)
    theta = np.array([0.9, 0.8, -0.3, 0.2, 0.4, 1.3])  # (b, rho, phi, s2), not the estimate
    parts = sandwich.random_effects_parts(sps.csr_matrix(w), n, t, beta=theta[:3], rho=theta[3], phi=theta[4],
                                          sigma2=theta[5], y=y, wy=wy, z=z)
    h = 1e-5
    want = np.array([(_re_loglik_dense(w, t, y, z, *_split_re(theta + h * e_)) -
                      _re_loglik_dense(w, t, y, z, *_split_re(theta - h * e_))) / (2 * h) for e_ in np.eye(6)])
    np.testing.assert_allclose(parts.total(), want, rtol=1e-6, atol=1e-6 * np.abs(want).max())
    assert np.abs(want).max() > 1.0


def _split_re(th):
    return th[:3], th[3], th[4], th[5]


def test_random_effects_clustered_meat_equals_brute_force_over_unit_pairs():
    """J from explicit NT x NT matrices of each score's quadratic form in the quasi-demeaned errors e*:
    per unit the linear, within-unit quadratic and constant parts; for each pair of units i != j the
    cross term x_ij = e*_i' Q_ij e*_j, J += x^a_ij (x^b_ij + x^b_ji); scaled C / (C - 1)."""
    w = _lattice(3)
    n, t = w.shape[0], 3
    y, wy, z = _re_panel(w, t, seed=9)
    beta, rho, phi, s2 = np.array([0.9, 0.8, -0.3]), 0.2, 0.4, 1.3
    parts = sandwich.random_effects_parts(sps.csr_matrix(w), n, t, beta=beta, rho=rho, phi=phi, sigma2=s2,
                                          y=y, wy=wy, z=z)
    nt, c = n * t, 1 - np.sqrt(phi)
    quasi = np.eye(nt) - c * np.kron(np.ones((t, t)) / t, np.eye(n))
    g = w @ np.linalg.inv(np.eye(n) - rho * w)
    big_g = np.kron(np.eye(t), g)
    e = quasi @ (y - rho * wy - z @ beta)
    zq = quasi @ z
    lin = [zq[:, j] / s2 for j in range(3)] + [big_g @ zq @ beta / s2, np.zeros(nt), np.zeros(nt)]
    quad = [np.zeros((nt, nt))] * 3 + [big_g / s2, -np.kron(np.ones((t, t)) / t, np.eye(n)) / (2 * s2 * phi),
                                       np.eye(nt) / (2 * s2**2)]
    const = [np.zeros(nt)] * 3 + [np.tile(np.diag(g), t), np.full(nt, -1 / (2 * phi * t)), np.full(nt, 1 / (2 * s2))]
    unit = np.tile(np.arange(n), t)
    members = [np.flatnonzero(unit == i) for i in range(n)]
    s = np.array([[lin[k][m] @ e[m] + e[m] @ quad[k][np.ix_(m, m)] @ e[m] - const[k][m].sum() for k in range(6)]
                  for m in members])
    want = s.T @ s
    for i in range(n):
        for j in range(n):
            if i != j:
                x_ij = np.array([e[members[i]] @ q[np.ix_(members[i], members[j])] @ e[members[j]] for q in quad])
                x_ji = np.array([e[members[j]] @ q[np.ix_(members[j], members[i])] @ e[members[i]] for q in quad])
                want += np.outer(x_ij, x_ij + x_ji)
    want *= n / (n - 1)
    np.testing.assert_allclose(parts.g.reshape(t, n, 6).sum(axis=0), s, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sandwich.meat(parts, "cluster"), want, rtol=1e-9, atol=1e-12 * np.abs(want).max())


def test_random_effects_clustered_intervals_cover_under_serial_correlation():
    """Seeded Monte Carlo, R = 200, usaww, T = 10: SDM with random unit effects, AR(0.6) idiosyncratic errors
    and regressor, variance rising with |x|. The inverse-Hessian intervals of the random-effects likelihood
    (which assumes equicorrelated errors) undercover x; the clustered ones cover within Monte Carlo error."""
    w = _usaww()
    n, t, reps = w.shape[0], 10, 200
    band = 3 * np.sqrt(0.95 * 0.05 / reps)
    ws = sps.csr_matrix(w)
    s_inv = np.linalg.inv(np.eye(n) - 0.4 * w)
    truth = {"x": 1.0, "W*x": 0.5, "rho": 0.4}
    rng = np.random.default_rng(20261203)
    hits = {c: dict.fromkeys(truth, 0) for c in ("numerical", "cluster")}
    for _ in range(reps):
        x, v = rng.normal(size=(t, n)), rng.normal(size=(t, n))
        for s_ in range(1, t):
            x[s_] = 0.6 * x[s_ - 1] + 0.8 * x[s_]
            v[s_] = 0.6 * v[s_ - 1] + 0.8 * v[s_]
        mu = rng.normal(size=n)
        y = np.stack([s_inv @ (1 + x[s_] + 0.5 * w @ x[s_] + mu + v[s_] * np.exp(0.5 * np.abs(x[s_])))
                      for s_ in range(t)])
        xs = np.column_stack([np.ones(n * t), x.ravel()])
        for c in hits:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = sp.SDM.from_arrays(y.ravel(), xs, ws, t, names=["Intercept", "x"], fe="random", cov=c).fit()
            for k, v0 in truth.items():
                hits[c][k] += abs(res.params[k] - v0) <= 1.959964 * res.bse[k]
    cov = {c: {k: h / reps for k, h in d.items()} for c, d in hits.items()}
    for k in truth:
        assert abs(cov["cluster"][k] - 0.95) <= band, cov
    assert cov["numerical"]["x"] < 0.95 - band, cov


def test_random_effects_cluster_refused_for_error_models_and_robust_for_all():
    w = _usaww()
    df = pd.DataFrame({"id": np.tile(np.arange(48), 3), "yr": np.repeat([1, 2, 3], 48),
                       "y": np.arange(144.0) % 7, "x": np.arange(144.0) % 5})
    ww = (w, list(range(48)))
    with pytest.raises(SpecificationError, match="clusters by unit"):
        sp.SAR("y ~ x", df, ww, "id", "yr", fe="random", cov="robust")
    for model in (sp.SEM, sp.SDEM):
        with pytest.raises(SpecificationError, match="mixes"):
            model("y ~ x", df, ww, "id", "yr", fe="random", cov="cluster")
