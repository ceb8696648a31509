"""Every fe x method of SAR, SDM, SEM, SDEM, SAC and GNS against a brute-force likelihood.

The reference is written here from the papers with dense, explicit matrices
and shares no code with the package:

* direct (Elhorst 2014, ch. 3): Q = demeaning matrix (explicit Kronecker
  products), Jacobian T log|I - rho W|, n = NT;
* lee-yu (Lee & Yu 2010): Q = F_T' kron F_N' with F the orthonormal
  eigenvectors of the demeaning matrix for eigenvalue 1, W* = F_N' W F_N, and
  the likelihood of the transformed model with its own dimensions.

The brute force maximises over rho (and lambda) with beta and sigma2
concentrated out by explicit least squares.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

import spillover as sp

N_SUB, T_SUB = 46, 12  # Cigar, last 12 years: dense matrices stay small


def _orth(m: int) -> np.ndarray:
    """m x (m-1) orthonormal eigenvectors of I - 11'/m for eigenvalue 1."""
    vals, vecs = np.linalg.eigh(np.eye(m) - np.ones((m, m)) / m)
    return vecs[:, vals > 0.5]


def _operators(fe: str, method: str, w: np.ndarray, n: int, t: int):
    """(Q over NT, W acting on the transformed cross-section, periods, cross-section size)."""
    jt = np.eye(t) - np.ones((t, t)) / t
    jn = np.eye(n) - np.ones((n, n)) / n
    if method == "direct" or fe == "none":
        qt = {"none": np.eye(t), "entity": jt, "time": np.eye(t), "twoways": jt}[fe]
        qn = {"none": np.eye(n), "entity": np.eye(n), "time": jn, "twoways": jn}[fe]
        q = np.kron(qt, np.eye(n)) @ np.kron(np.eye(t), qn)
        return q, w, t, n, n * t
    ft = _orth(t) if fe in ("entity", "twoways") else np.eye(t)
    fn = _orth(n) if fe in ("time", "twoways") else np.eye(n)
    q = np.kron(ft.T, fn.T)
    w_star = fn.T @ w @ fn
    return q, w_star, ft.shape[1], fn.shape[1], ft.shape[1] * fn.shape[1]


def brute_force(y, x, w, n, t, fe, method, lag: bool, err: bool, at=None):
    """Maximise the brute-force likelihood (or, with ``at``, evaluate it there): (b + spatial, s2, llf)."""
    q, w_star, t_star, n_star, n_obs = _operators(fe, method, w, n, t)
    big_w = np.kron(np.eye(t), w)
    qy, qwy, qwwy = q @ y, q @ big_w @ y, q @ big_w @ big_w @ y
    qx, qwx = q @ x, q @ big_w @ x
    i_n = np.eye(n_star)

    def negll(p):
        rho = p[0] if lag else 0.0
        lam = p[-1] if err else 0.0
        ys = qy - (rho + lam) * qwy + rho * lam * qwwy
        xs = qx - lam * qwx
        b = np.linalg.lstsq(xs, ys, rcond=None)[0]
        e = ys - xs @ b
        s2 = e @ e / n_obs
        ld = 0.0
        if lag:
            ld += np.linalg.slogdet(i_n - rho * w_star)[1]
        if err:
            ld += np.linalg.slogdet(i_n - lam * w_star)[1]
        ll = -n_obs / 2 * (np.log(2 * np.pi * s2) + 1) + t_star * ld
        return -ll, b, s2

    if at is not None:
        p = list(at)
    elif lag and err:
        r = optimize.minimize(lambda p: negll(p)[0], [0.2, 0.2], method="Nelder-Mead",
                              options={"xatol": 1e-12, "fatol": 1e-14, "maxiter": 10000})
        p = r.x
    else:
        r = optimize.minimize_scalar(lambda v: negll([v])[0], bounds=(-0.95, 0.995), method="bounded",
                                     options={"xatol": 1e-13})
        p = [r.x]
    f, b, s2 = negll(p)
    return np.concatenate([b, p]), s2, -f


@pytest.fixture(scope="module")
def cig(cigar):
    df, w = cigar
    df = df[df["year"] > df["year"].max() - T_SUB].copy()
    return df, w


def _stack(df, w, cols, wx_cols):
    ids = list(w.id_order)
    d = df.assign(_o=df["state"].map({v: i for i, v in enumerate(ids)})).sort_values(["year", "_o"])
    wd = w.full()[0]
    n, t = len(ids), d["year"].nunique()
    x = d[cols].to_numpy()
    if wx_cols:
        wx = np.kron(np.eye(t), wd) @ d[wx_cols].to_numpy()
        x = np.column_stack([x, wx])
    return d["logc"].to_numpy(), x, wd, n, t


CASES = [(fe, m) for fe in ("entity", "time", "twoways") for m in ("direct", "lee-yu")] + [("none", "direct")]


@pytest.mark.parametrize("fe,method", CASES)
@pytest.mark.parametrize("model", ["SAR", "SDM"])
def test_lag_models_match_brute_force(cig, fe, method, model):
    df, w = cig
    wx = ["logp", "logy"] if model == "SDM" else []
    y, x, wd, n, t = _stack(df, w, ["logp", "logy"], wx)
    if fe == "none":
        x = np.column_stack([np.ones(len(y)), x])
    ref, s2, ll = brute_force(y, x, wd, n, t, fe, method, lag=True, err=False)
    res = getattr(sp, model)("logc ~ logp + logy", df, w, "state", "year", fe=fe, method=method).fit()
    np.testing.assert_allclose(res.params.to_numpy(), ref, atol=1e-6)
    np.testing.assert_allclose(res.sigma2, s2, rtol=1e-6)
    np.testing.assert_allclose(res.llf, ll, rtol=1e-9)


@pytest.mark.parametrize("fe,method", [("entity", "lee-yu"), ("twoways", "lee-yu"), ("twoways", "direct"), ("time", "lee-yu")])
@pytest.mark.parametrize("model", ["SEM", "SDEM"])
def test_error_models_match_brute_force(cig, fe, method, model):
    df, w = cig
    wx = ["logp", "logy"] if model == "SDEM" else []
    y, x, wd, n, t = _stack(df, w, ["logp", "logy"], wx)
    ref, s2, ll = brute_force(y, x, wd, n, t, fe, method, lag=False, err=True)
    res = getattr(sp, model)("logc ~ logp + logy", df, w, "state", "year", fe=fe, method=method).fit()
    np.testing.assert_allclose(res.params.to_numpy(), ref, atol=1e-6)
    np.testing.assert_allclose(res.llf, ll, rtol=1e-9)


@pytest.mark.parametrize("fe,method", [("twoways", "lee-yu"), ("entity", "direct")])
def test_sac_matches_brute_force(cig, fe, method):
    df, w = cig
    y, x, wd, n, t = _stack(df, w, ["logp", "logy"], [])
    ref, s2, ll = brute_force(y, x, wd, n, t, fe, method, lag=True, err=True)
    res = sp.SAC("logc ~ logp + logy", df, w, "state", "year", fe=fe, method=method).fit()
    assert res.llf >= ll - 1e-7  # never worse than the brute force
    np.testing.assert_allclose(res.params.to_numpy(), ref, atol=1e-5)


@pytest.mark.parametrize("fe,method", CASES)
def test_gns_matches_brute_force(cig, fe, method):
    """GNS (rho W y + W X theta + lambda W u): same maximum as the brute force, same likelihood at our estimate."""
    df, w = cig
    y, x, wd, n, t = _stack(df, w, ["logp", "logy"], ["logp", "logy"])
    if fe == "none":
        x = np.column_stack([np.ones(len(y)), x])
    ref, s2, ll = brute_force(y, x, wd, n, t, fe, method, lag=True, err=True)
    res = sp.GNS("logc ~ logp + logy", df, w, "state", "year", fe=fe, method=method).fit()
    assert list(res.params.index[-2:]) == ["rho", "lambda"] and "W*logp" in res.params.index
    assert res.llf >= ll - 1e-8  # never worse than the brute force
    np.testing.assert_allclose(res.llf, ll, rtol=1e-9)
    np.testing.assert_allclose(res.params.to_numpy(), ref, atol=2e-4)
    at, s2_at, ll_at = brute_force(y, x, wd, n, t, fe, method, lag=True, err=True,
                                   at=[res.params["rho"], res.params["lambda"]])
    np.testing.assert_allclose(res.llf, ll_at, rtol=1e-10)
    np.testing.assert_allclose(res.params.to_numpy(), at, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(res.sigma2, s2_at, rtol=1e-10)
    # impacts (LeSage & Pace 2009, eq. 2.46): M_k = (I - rho W)^-1 (b_k I + theta_k W), dense
    imp = res.impacts(method="delta").table
    s_inv = np.linalg.inv(np.eye(n) - res.params["rho"] * wd)
    for v in ("logp", "logy"):
        m = s_inv @ (res.params[v] * np.eye(n) + res.params[f"W*{v}"] * wd)
        assert imp.loc[v, "direct"] == pytest.approx(np.trace(m) / n, rel=1e-10)
        assert imp.loc[v, "total"] == pytest.approx(m.sum() / n, rel=1e-10)
        assert np.isfinite(imp.loc[v, "direct_se"]) and imp.loc[v, "direct_se"] > 0


def test_gns_nests_sdm_and_sac(cig):
    """The GNS likelihood is at least the SDM's and the SAC's (both are restrictions of it)."""
    df, w = cig
    kw = dict(fe="twoways", method="lee-yu")
    gns = sp.GNS("logc ~ logp + logy", df, w, "state", "year", **kw).fit()
    for cls in (sp.SDM, sp.SAC, sp.SDEM):
        assert gns.llf >= cls("logc ~ logp + logy", df, w, "state", "year", **kw).fit().llf - 1e-9


@pytest.mark.parametrize("model", ["SAR", "SDM"])
def test_random_effects_match_brute_force(cig, model):
    """RE-SAR/SDM against the likelihood written with the explicit covariance matrix.

    Omega = s2_mu (11'_T kron I_N) + s2 I_NT; l = -1/2 log|Omega| - NT/2 log 2pi
    + T log|I - rho W| - e'Omega^-1 e / 2 with e = y - rho W y - Z b (Baltagi 2021, eq. 2.30).
    """
    df, w = cig
    wx = ["logp", "logy"] if model == "SDM" else []
    y, x, wd, n, t = _stack(df, w, ["logp", "logy"], wx)
    x = np.column_stack([np.ones(len(y)), x])
    res = getattr(sp, model)("logc ~ logp + logy", df, w, "state", "year", fe="random").fit()
    big_w = np.kron(np.eye(t), wd)
    wy = big_w @ y
    jt = np.ones((t, t))

    def negll(p):
        rho, ls2mu, ls2 = p[0], p[1], p[2]
        s2mu, s2 = np.exp(ls2mu), np.exp(ls2)
        # Omega^-1 by the spectral decomposition of 11'_T (Wansbeek & Kapteyn 1983)
        lam1 = t * s2mu + s2
        p_bar = np.kron(jt / t, np.eye(n))
        oinv = p_bar / lam1 + (np.eye(n * t) - p_bar) / s2
        ys = y - rho * wy
        b = np.linalg.solve(x.T @ oinv @ x, x.T @ oinv @ ys)
        e = ys - x @ b
        logdet_omega = n * np.log(lam1) + n * (t - 1) * np.log(s2)
        ll = -0.5 * logdet_omega - n * t / 2 * np.log(2 * np.pi) + t * np.linalg.slogdet(np.eye(n) - rho * wd)[1] - 0.5 * e @ oinv @ e
        return -ll, b

    s2 = res.sigma2
    phi = res.extra["phi"]
    s2mu = (s2 / phi - s2) / t
    start = np.array([res.params["rho"], np.log(s2mu), np.log(s2)])
    r = optimize.minimize(lambda p: negll(p)[0], start + 0.05, method="Nelder-Mead",
                          options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
    assert -r.fun == pytest.approx(res.llf, abs=1e-6)
    _, b = negll(r.x)
    np.testing.assert_allclose(res.params.to_numpy(), np.concatenate([b, [r.x[0]]]), atol=1e-5)


@pytest.mark.parametrize("model", ["SEM", "SDEM"])
def test_random_effects_error_models_match_brute_force(cig, model):
    """RE-SEM/SDEM against the likelihood with the explicit NT x NT covariance (Baltagi et al. 2003, eq. 2.2):
    Omega = s2_mu (11'_T kron I_N) + s2 (I_T kron (B'B)^-1)."""
    df, w = cig
    wx = ["logp", "logy"] if model == "SDEM" else []
    y, x, wd, n, t = _stack(df, w, ["logp", "logy"], wx)
    x = np.column_stack([np.ones(len(y)), x])
    res = getattr(sp, model)("logc ~ logp + logy", df, w, "state", "year", fe="random").fit()
    jt = np.ones((t, t))

    from scipy.linalg import cho_factor, cho_solve

    def negll(p):  # GLS on the dense NT x NT Omega, through its Cholesky factor (log-determinant and solves)
        lam, s2mu, s2 = p[0], np.exp(p[1]), np.exp(p[2])
        b = np.eye(n) - lam * wd
        omega = s2mu * np.kron(jt, np.eye(n)) + s2 * np.kron(np.eye(t), np.linalg.inv(b.T @ b))
        c = cho_factor(omega)
        ox, oy = cho_solve(c, x), cho_solve(c, y)
        beta = np.linalg.solve(x.T @ ox, x.T @ oy)
        e = y - x @ beta
        logdet = 2.0 * np.log(np.diag(c[0])).sum()
        ll = -0.5 * logdet - n * t / 2 * np.log(2 * np.pi) - 0.5 * e @ cho_solve(c, e)
        return -ll, beta

    f = res.extra["sigma2_mu_over_sigma2"]
    start = np.array([res.params["lambda"], np.log(f * res.sigma2), np.log(res.sigma2)])
    # the brute force cannot do better than our optimum, and is worse a little away from it
    f0, b0 = negll(start)
    assert -f0 == pytest.approx(res.llf, abs=1e-6)
    np.testing.assert_allclose(res.params.to_numpy()[:-1], b0, atol=1e-8)
    for step in np.eye(3) * 1e-3:
        assert negll(start + step)[0] > f0 - 1e-9 and negll(start - step)[0] > f0 - 1e-9
