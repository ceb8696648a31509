"""LR, Wald, Hausman and the specification sequence, with asserted numbers (Cigar)."""

from __future__ import annotations

import numpy as np
import pytest

import spillover as sp

F = "logc ~ logp + logy"


@pytest.fixture(scope="module")
def fits(cigar):
    df, w = cigar
    kw = dict(fe="twoways", method="lee-yu")
    return {
        "SDM": sp.SDM(F, df, w, "state", "year", **kw).fit(),
        "SAR": sp.SAR(F, df, w, "state", "year", **kw).fit(),
        "SEM": sp.SEM(F, df, w, "state", "year", **kw).fit(),
    }


def test_wald_sdm_sar(fits):
    r = sp.wald_sdm_sar(fits["SDM"])
    th = fits["SDM"].params[["W*logp", "W*logy"]].to_numpy()
    v = fits["SDM"].cov_params.loc[["W*logp", "W*logy"], ["W*logp", "W*logy"]].to_numpy()
    assert r.stat == pytest.approx(th @ np.linalg.inv(v) @ th, rel=1e-12)
    assert r.df == 2
    assert r.stat == pytest.approx(17.6332, abs=1e-3)


def test_wald_common_factor_against_numerical_delta(fits):
    res = fits["SDM"]
    names = ["logp", "logy", "W*logp", "W*logy", "rho"]
    p0 = res.params[names].to_numpy()

    def g(p):
        return p[2:4] + p[4] * p[0:2]

    jac = np.column_stack([(g(p0 + h) - g(p0 - h)) / 2e-7 for h in np.eye(5) * 1e-7])
    v = jac @ res.cov_params.loc[names, names].to_numpy() @ jac.T
    expected = g(p0) @ np.linalg.solve(v, g(p0))
    r = sp.wald_sdm_sem(res)
    assert r.stat == pytest.approx(expected, rel=1e-6)
    assert r.stat == pytest.approx(7.4376, abs=1e-3)


def test_lr_tests(fits):
    r = sp.lr_test(fits["SAR"], fits["SDM"])
    assert r.stat == pytest.approx(2 * (fits["SDM"].llf - fits["SAR"].llf))
    assert r.df == 2
    assert r.stat == pytest.approx(18.1887, abs=1e-3)
    with pytest.raises(ValueError):
        sp.lr_test(fits["SDM"], fits["SAR"])


def test_fe_lr_tests_against_explicit_ols(cigar):
    """LR of unit effects on the non-spatial model, computed here with dummies."""
    df, w = cigar
    out = sp.specification_search(F, df, w, "state", "year", hausman_test=False).table
    x_time = np.column_stack([np.ones(len(df)), df[["logp", "logy"]].to_numpy(),
                              (df["year"].to_numpy()[:, None] == np.unique(df["year"])[1:]).astype(float)])
    x_two = np.column_stack([x_time, (df["state"].to_numpy()[:, None] == np.unique(df["state"])[1:]).astype(float)])
    y = df["logc"].to_numpy()

    def llf(x):
        e = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
        return -len(y) / 2 * (np.log(2 * np.pi * e @ e / len(y)) + 1)

    assert out.loc["LR unit effects", "stat"] == pytest.approx(2 * (llf(x_two) - llf(x_time)), rel=1e-9)
    assert out.loc["LR unit effects", "df"] == 45


def test_hausman_formula(cigar):
    df, w = cigar
    fe_m = sp.SDM(F, df, w, "state", "year", fe="entity", method="direct").fit()
    re_m = sp.SDM(F, df, w, "state", "year", fe="random").fit()
    common = ["logp", "logy", "W*logp", "W*logy", "rho"]
    d = fe_m.params[common] - re_m.params[common]
    v = fe_m.cov_params.loc[common, common] - re_m.cov_params.loc[common, common]
    with pytest.warns(RuntimeWarning):
        h = sp.hausman(fe_m, re_m)
    assert h.stat == pytest.approx(float(d @ np.linalg.pinv(v.to_numpy()) @ d), rel=1e-8)


def test_specification_search_choice(cigar):
    df, w = cigar
    s = sp.specification_search(F, df, w, "state", "year", hausman_test=False)
    assert s.chosen == "SDM"
    assert {"lm_lag", "robust_lm_error", "Wald SDM vs SAR", "LR SDM vs SEM"} <= set(s.table.index)
    assert "Chosen model: SDM" in s.summary()
