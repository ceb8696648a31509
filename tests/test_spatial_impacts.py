"""Impacts against a dense computation of S (b I + t W), and their inference."""

from __future__ import annotations

import numpy as np
import pytest

import spillover as sp

F = "logc ~ logp + logy"


def _dense(res, w, x):
    wd = w.full()[0]
    n = wd.shape[0]
    rho = res.params.get("rho", 0.0)
    s = np.linalg.inv(np.eye(n) - rho * wd)
    m = s @ (res.params[x] * np.eye(n) + res.params.get(f"W*{x}", 0.0) * wd)
    direct = np.trace(m) / n
    total = m.sum() / n
    return direct, total - direct, total


@pytest.fixture(scope="module")
def sdm(cigar):
    df, w = cigar
    return sp.SDM(F, df, w, "state", "year", fe="twoways", method="lee-yu").fit(), w


@pytest.mark.parametrize("model", ["SAR", "SDM", "SAC", "SDEM", "SLX"])
def test_point_estimates_match_dense(cigar, model):
    df, w = cigar
    res = getattr(sp, model)(F, df, w, "state", "year", fe="entity", method="direct").fit()
    imp = res.impacts(method="delta").table
    for x in ("logp", "logy"):
        np.testing.assert_allclose(imp.loc[x, ["direct", "indirect", "total"]].to_numpy(float), _dense(res, w, x), rtol=1e-10, atol=1e-12)


def test_simulation_reproducible_and_close_to_delta(sdm):
    res, _ = sdm
    a = res.impacts(draws=2000, seed=7).table
    b = res.impacts(draws=2000, seed=7).table
    c = res.impacts(draws=2000, seed=8).table
    d = res.impacts(method="delta").table
    assert a.equals(b)
    se = ["direct_se", "indirect_se", "total_se"]
    np.testing.assert_allclose(a[se].to_numpy(float), c[se].to_numpy(float), rtol=0.08)
    np.testing.assert_allclose(a[se].to_numpy(float), d[se].to_numpy(float), rtol=0.1)
    # point estimates do not depend on the inference method
    np.testing.assert_allclose(a["direct"].to_numpy(float), d["direct"].to_numpy(float))


def test_delta_gradient_against_finite_differences(sdm):
    """Delta-method SE equals sqrt(g' V g) with g by finite differences of the dense impacts."""
    res, w = sdm
    wd = w.full()[0]
    n = wd.shape[0]
    names = ["logp", "W*logp", "rho"]
    v = res.cov_params.loc[names, names].to_numpy()

    def indirect(p):
        s = np.linalg.inv(np.eye(n) - p[2] * wd)
        m = s @ (p[0] * np.eye(n) + p[1] * wd)
        return m.sum() / n - np.trace(m) / n

    p0 = res.params[names].to_numpy()
    g = np.array([(indirect(p0 + h) - indirect(p0 - h)) / 2e-6 for h in np.eye(3) * 1e-6])
    se = np.sqrt(g @ v @ g)
    assert res.impacts(method="delta").table.loc["logp", "indirect_se"] == pytest.approx(se, rel=1e-5)


def test_impacts_table_columns(sdm):
    res, _ = sdm
    t = res.impacts(draws=200, seed=0).table
    for part in ("direct", "indirect", "total"):
        for suf in ("", "_se", "_z", "_p"):
            assert f"{part}{suf}" in t.columns
    assert list(t.index) == ["logp", "logy"]


def test_sem_has_no_impacts(cigar):
    df, w = cigar
    res = sp.SEM(F, df, w, "state", "year", fe="entity").fit()
    with pytest.raises(ValueError, match="not defined"):
        res.impacts()


def test_impacts_with_binary_w_match_dense(cigar):
    """A W that is not row-standardised: total effects need 1'S1, not N/(1 - rho)."""
    import libpysal

    df, w = cigar
    wb = libpysal.weights.W(w.neighbors, id_order=w.id_order)  # binary
    res = sp.SDM(F, df, wb, "state", "year", fe="entity", method="direct").fit()
    imp = res.impacts(method="delta").table
    for x in ("logp", "logy"):
        np.testing.assert_allclose(imp.loc[x, ["direct", "indirect", "total"]].to_numpy(float), _dense(res, wb, x),
                                   rtol=1e-9)
    sim = res.impacts(draws=500, seed=1).table
    np.testing.assert_allclose(sim["total_se"].to_numpy(float), imp["total_se"].to_numpy(float), rtol=0.15)


def test_draws_use_a_unique_root_of_the_covariance():
    """parameter_draws: L L' = V (brute force), Cholesky for a definite V (unique, so the draws cannot rotate with
    the BLAS kernel); a semi-definite V gets a sign-fixed eigen root."""
    import numpy as np
    import pandas as pd

    from spillover.spatial.impacts import covariance_root, parameter_draws

    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 4))
    v = a @ a.T + 0.1 * np.eye(4)
    root = covariance_root(v)
    np.testing.assert_allclose(root @ root.T, v, atol=1e-12)
    np.testing.assert_allclose(root, np.linalg.cholesky(v))
    semi = np.diag([1.0, 0.0, 2.0])
    r2 = covariance_root(semi)
    np.testing.assert_allclose(r2 @ r2.T, semi, atol=1e-12)
    assert (r2[np.abs(r2).argmax(axis=0), range(3)] >= 0).all()
    params = pd.Series([0.5, -1.0, 0.2, 0.0], index=list("abcd"))
    d = parameter_draws(params, v, 20000, np.random.default_rng(3))
    np.testing.assert_allclose(np.cov(d.to_numpy().T), v, rtol=0.05, atol=0.02)
