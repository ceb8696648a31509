"""Separate W per term: ``w_x`` (the W X terms) and ``w_u`` (the error), checked against dense brute force."""

from __future__ import annotations

import warnings

import libpysal
import numpy as np
import pandas as pd
import pytest

import spillover as sp
from spillover.errors import SpecificationError, WeightsError

K = 6  # 6 x 6 lattice: W rook contiguity, M the 4 nearest neighbours by distance


@pytest.fixture(scope="module")
def panel():
    n, t = K * K, 6
    w = libpysal.weights.lat2W(K, K, rook=True)
    w.transform = "r"
    pts = np.array([(i // K + 0.05 * (i % 3), i % K) for i in range(n)], dtype=float)
    m = libpysal.weights.KNN.from_array(pts, k=4)
    m.transform = "r"
    wd, md = w.full()[0], m.full()[0]
    rng = np.random.default_rng(11)
    x = rng.normal(size=(t, n))
    rows = []
    for s in range(t):
        u = np.linalg.solve(np.eye(n) - 0.4 * md, rng.normal(size=n))
        ys = np.linalg.solve(np.eye(n) - 0.3 * wd, 1.0 * x[s] + 0.6 * md @ x[s] + rng.normal() + u)
        rows += [{"id": i, "yr": s, "y": ys[i], "x": x[s, i], "mx": (md @ x[s])[i]} for i in range(n)]
    return pd.DataFrame(rows), w, m, wd, md


def _fit(cls, df, w, formula="y ~ x", **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(formula, df, w, "id", "yr", **kw).fit()


def test_same_w_reproduces_the_default(panel):
    df, w, *_ = panel
    for cls, kw in ((sp.SDM, {"w_x": w}), (sp.SEM, {"w_u": w}), (sp.GNS, {"w_x": w, "w_u": w})):
        a, b = _fit(cls, df, w, fe="entity"), _fit(cls, df, w, fe="entity", **kw)
        np.testing.assert_allclose(b.params.to_numpy(), a.params.to_numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b.bse.to_numpy(), a.bse.to_numpy(), rtol=1e-8)


def test_w_x_equals_the_lagged_regressor_added_by_hand(panel):
    """SDM with w_x = M is the SAR with the column M x added: the same likelihood, the same estimates."""
    df, w, m, *_ = panel
    a = _fit(sp.SDM, df, w, fe="twoways", w_x=m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = sp.SAR("y ~ x + mx", df, w, "id", "yr", fe="twoways").fit()
    np.testing.assert_allclose(a.params[["x", "W*x", "rho"]].to_numpy(), b.params[["x", "mx", "rho"]].to_numpy(),
                               rtol=1e-9)
    assert a.llf == pytest.approx(b.llf, rel=1e-12)


def _brute_sac_llf(df, wd, md, rho, lam, beta, sigma2):
    """Full log-likelihood of y = rho W y + X b + mu + u, u = lam M u + e, unit effects by demeaning (Elhorst 2014,
    eq. 3.13 with the error's own W), with dense matrices."""
    n, t = wd.shape[0], df["yr"].nunique()
    d = df.sort_values(["yr", "id"])
    y, x = d["y"].to_numpy(), d["x"].to_numpy()
    q = np.kron(np.eye(t) - 1.0 / t, np.eye(n))
    a = np.kron(np.eye(t), np.eye(n) - rho * wd)
    b = np.kron(np.eye(t), np.eye(n) - lam * md)
    e = b @ q @ (a @ y - x * beta[0])
    nt = n * t
    return (-nt / 2 * np.log(2 * np.pi * sigma2) + t * np.linalg.slogdet(np.eye(n) - rho * wd)[1]
            + t * np.linalg.slogdet(np.eye(n) - lam * md)[1] - e @ e / (2 * sigma2))


def test_w_u_likelihood_is_the_brute_force_one_at_its_maximum(panel):
    df, w, m, wd, md = panel
    r = _fit(sp.SAC, df, w, fe="entity", method="direct", w_u=m)
    rho, lam, beta = r.params["rho"], r.params["lambda"], r.params[["x"]].to_numpy()
    at = _brute_sac_llf(df, wd, md, rho, lam, beta, r.sigma2)
    assert r.llf == pytest.approx(at, rel=1e-11)
    for dr, dl in ((1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3)):  # a maximum in both spatial parameters
        assert _brute_sac_llf(df, wd, md, rho + dr, lam + dl, beta, r.sigma2) < at
    same = _fit(sp.SAC, df, w, fe="entity", method="direct")
    assert abs(same.params["lambda"] - lam) > 1e-3  # the error's W matters


def test_sdm_impacts_with_w_x_equal_dense_brute_force(panel):
    df, w, m, wd, md = panel
    r = _fit(sp.SDM, df, w, fe="twoways", w_x=m)
    n = wd.shape[0]

    def effects(p):
        s = np.linalg.inv(np.eye(n) - p[2] * wd)
        mk = s @ (p[0] * np.eye(n) + p[1] * md)
        return np.array([np.trace(mk) / n, mk.sum() / n])

    p0 = r.params[["x", "W*x", "rho"]].to_numpy()
    want = effects(p0)
    imp = r.impacts(method="delta").table.loc["x"]
    assert imp["direct"] == pytest.approx(want[0], rel=1e-10)
    assert imp["total"] == pytest.approx(want[1], rel=1e-10)
    h = 1e-6
    jac = np.column_stack([(effects(p0 + h * e) - effects(p0 - h * e)) / (2 * h) for e in np.eye(3)])
    v = r.cov_params.loc[["x", "W*x", "rho"], ["x", "W*x", "rho"]].to_numpy()
    se = np.sqrt(np.diag(jac @ v @ jac.T))
    assert imp["direct_se"] == pytest.approx(se[0], rel=1e-6)
    assert imp["total_se"] == pytest.approx(se[1], rel=1e-6)
    sim = r.impacts(draws=2000, seed=1).table.loc["x"]
    assert sim["direct"] == pytest.approx(want[0], rel=1e-10)
    assert sim["direct_se"] == pytest.approx(se[0], rel=0.1)  # 2,000 draws: Monte Carlo error about 2%


def test_random_effects_w_u_is_the_error_models_w(panel):
    """SEM's only W is the error's: w=W, w_u=M is the random-effects SEM with w=M; and the SDEM with
    w=W, w_u=M is the SDEM with w=M, w_x=W (same likelihood, two routes through the options)."""
    df, w, m, *_ = panel
    a, b = _fit(sp.SEM, df, w, fe="random", w_u=m), _fit(sp.SEM, df, m, fe="random")
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), rtol=1e-10, atol=1e-12)
    assert a.llf == pytest.approx(b.llf, rel=1e-12)
    c, d = _fit(sp.SDEM, df, w, fe="random", w_u=m), _fit(sp.SDEM, df, m, fe="random", w_x=w)
    np.testing.assert_allclose(c.params.to_numpy(), d.params.to_numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c.bse.to_numpy(), d.bse.to_numpy(), rtol=1e-6)
    assert c.params["lambda"] != pytest.approx(_fit(sp.SDEM, df, w, fe="random").params["lambda"], rel=1e-3)


def test_random_effects_sdm_impacts_with_w_x_equal_dense_brute_force(panel):
    df, w, m, wd, md = panel
    r = _fit(sp.SDM, df, w, fe="random", w_x=m)
    n = wd.shape[0]
    b, th, rho = r.params[["x", "W*x", "rho"]]
    mk = np.linalg.inv(np.eye(n) - rho * wd) @ (b * np.eye(n) + th * md)
    imp = r.impacts(method="delta").table.loc["x"]
    assert imp["direct"] == pytest.approx(np.trace(mk) / n, rel=1e-10)
    assert imp["total"] == pytest.approx(mk.sum() / n, rel=1e-10)
    hand = _fit(sp.SAR, df, w, fe="random", formula="y ~ x + mx")  # M x formed by hand
    np.testing.assert_allclose(r.params[["x", "W*x", "rho"]].to_numpy(), hand.params[["x", "mx", "rho"]].to_numpy(),
                               rtol=1e-9)
    assert r.llf == pytest.approx(hand.llf, rel=1e-12)


def test_w_x_and_w_u_refused_where_they_do_not_apply(panel):
    df, w, m, wd, md = panel
    with pytest.raises(SpecificationError, match="w_x does not apply"):
        sp.SAR("y ~ x", df, w, "id", "yr", w_x=m)
    with pytest.raises(SpecificationError, match="w_u does not apply"):
        sp.SDM("y ~ x", df, w, "id", "yr", w_u=m)
    with pytest.raises(WeightsError, match="bare matrix"):
        sp.SDM("y ~ x", df, w, "id", "yr", w_x=md).fit()
    other = libpysal.weights.lat2W(K, K + 1)
    with pytest.raises(WeightsError, match="w_u does not have the units of w"):
        sp.SEM("y ~ x", df, w, "id", "yr", w_u=other).fit()


def test_w_u_covariances_agree(panel):
    """SEM and SDEM with w_u: analytic observed Hessian = numerical Hessian; expected information of the same size."""
    df, w, m, *_ = panel
    for cls in (sp.SEM, sp.SDEM):
        h, num, info = (_fit(cls, df, w, fe="twoways", w_u=m, cov=c) for c in ("hessian", "numerical", "information"))
        np.testing.assert_allclose(h.bse.to_numpy(), num.bse.to_numpy(), rtol=1e-5)
        np.testing.assert_allclose(info.bse.to_numpy(), h.bse.to_numpy(), rtol=0.15)
        assert h.params["lambda"] != pytest.approx(_fit(cls, df, w, fe="twoways").params["lambda"], abs=1e-3)
