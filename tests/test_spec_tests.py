"""LR, Wald, Hausman and the specification sequence, with asserted numbers (Cigar)."""

from __future__ import annotations

import numpy as np
import pandas as pd
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
        h = sp.hausman(fe_m, re_m, kind="classic")
    assert h.stat == pytest.approx(float(d @ np.linalg.pinv(v.to_numpy()) @ d), rel=1e-8)


def test_specification_search_choice(cigar):
    df, w = cigar
    s = sp.specification_search(F, df, w, "state", "year", hausman_test=False)
    assert s.chosen == "SDM"
    assert {"lm_lag", "robust_lm_error", "Wald SDM vs SAR", "LR SDM vs SEM"} <= set(s.table.index)
    assert "Chosen model: SDM" in s.summary()


# ---------------------------------------------------------------- the sequence's answers (Halleck Vega & Elhorst 2015)
def test_specification_search_rows_follow_the_steps(cigar):
    df, w = cigar
    s = sp.specification_search(F, df, w, "state", "year")
    assert list(s.table.index) == ["LR unit effects", "LR time effects", "lm_lag", "lm_error", "robust_lm_lag",
                                   "robust_lm_error", "Wald SLX vs OLS", "Wald SDM vs SAR", "LR SDM vs SAR",
                                   "Wald SDM vs SEM", "LR SDM vs SEM", "Wald SDM vs SLX", "Wald SDEM vs SLX",
                                   "Hausman FE vs RE"]
    assert s.effects == "twoways" and s.chosen == "SDM"
    # one Hausman definition, named in the table
    assert s.hausman.kind == "robust"
    assert s.table.loc["Hausman FE vs RE", "model"] == "SDM, random effects with unit means (Mundlak), cluster-robust Wald"
    assert s.table.loc["Hausman FE vs RE", "stat"] >= 0
    lines = s.summary().splitlines()
    assert lines[0].split() == ["step", "test", "model", "statistic", "df", "p", "decision"]
    assert lines[1].split()[:3] == ["1", "LR", "unit"] and lines[1].split()[-3:] == ["keep", "unit", "effects"]
    slx = s.models["SLX"]
    th = slx.params[["W*logp", "W*logy"]].to_numpy()
    v = slx.cov_params.loc[["W*logp", "W*logy"], ["W*logp", "W*logy"]].to_numpy()
    assert s.table.loc["Wald SLX vs OLS", "stat"] == pytest.approx(th @ np.linalg.solve(v, th), rel=1e-10)
    z = s.models["SDM"].tvalues["rho"]
    assert s.table.loc["Wald SDM vs SLX", "stat"] == pytest.approx(z**2, rel=1e-10)
    assert s.table.loc["Wald SDEM vs SLX", "stat"] == pytest.approx(s.models["SDEM"].tvalues["lambda"] ** 2, rel=1e-10)


def test_specification_search_st_louis_is_not_spatial():
    """St Louis counties (libpysal's stl_hom, 78 x 3): no LM test, no W X term, neither rho nor lambda is
    significant, so no spatial model (the former rule kept the SDM)."""
    import libpysal
    import geopandas as gpd
    from pathlib import Path

    path = Path(libpysal.examples.get_path("stl_hom.shp"))
    raw = pd.read_csv(path.with_name("stl_hom.csv"))
    df = pd.concat([pd.DataFrame({"fips": raw["FIPSNO"].astype(str), "period": k, "hr": raw[h],
                                  "lpop": np.log(raw[p]), "pe": raw[e]})
                    for k, (h, p, e) in enumerate([("HR7984", "PO7984", "PE77"), ("HR8488", "PO8488", "PE82"),
                                                   ("HR8893", "PO8893", "PE87")], 1)], ignore_index=True)
    geo = gpd.read_file(path)[["FIPSNO", "geometry"]].assign(FIPSNO=lambda g: g["FIPSNO"].astype(str))
    w = sp.weights.contiguity(geo, id_col="FIPSNO", islands="keep")
    s = sp.specification_search("hr ~ pe + lpop", df, w, "fips", "period")
    t = s.table
    assert (t.loc[["lm_lag", "lm_error", "robust_lm_lag", "robust_lm_error"], "p"] > 0.35).all()
    assert (t.loc[["Wald SDM vs SAR", "Wald SDM vs SEM", "Wald SLX vs OLS"], "p"] > 0.5).all()
    assert s.chosen == "OLS" and s.reason.startswith("No LM test rejects")
    assert t.loc["Wald SLX vs OLS", "points_to"] == "OLS"
    assert t.loc["Wald SDM vs SLX", "points_to"] == "SLX" and t.loc["Wald SDEM vs SLX", "points_to"] == "SLX"


def _usaww_panel(produc, seed: int, theta=(0.0, 0.0), time_effects: bool = True, t: int = 10):
    """y = 1 + x1 - 0.5 x2 + theta1 W x1 + theta2 W x2 + mu_i (+ alpha_t) + e on the 48 states' usaww W, no rho or
    lambda; x, mu, alpha, e independent N(0, 1)."""
    _, w = produc
    wd = w.sparse.toarray()
    ids = list(w.id_order)
    rng = np.random.default_rng(seed)
    n = len(ids)
    x = rng.normal(size=(t, n, 2))
    mu, alpha = rng.normal(size=n), rng.normal(size=t) * time_effects
    y = (1 + x @ np.array([1.0, -0.5]) + np.einsum("ij,tjk->tik", wd, x) @ np.array(theta) + mu[None]
         + alpha[:, None] + rng.normal(size=(t, n)))
    df = pd.DataFrame({"unit": np.tile(ids, t), "t": np.repeat(np.arange(t), n), "y": y.ravel(),
                       "x1": x[..., 0].ravel(), "x2": x[..., 1].ravel()})
    return df, w


def test_specification_search_no_spatial_dependence_and_no_time_effects(produc):
    """A seeded panel without spatial terms or time effects: the LR test drops the time effects, every later step
    uses unit effects only and says so, and the answer is OLS. (Each test has size 5%, so under this design some
    seeds reject something: OLS is the answer for 7 of the seeds 0-9; seed 0 is the first.)"""
    df, w = _usaww_panel(produc, 0, time_effects=False)
    s = sp.specification_search("y ~ x1 + x2", df, w, "unit", "t", hausman_test=False)
    t = s.table
    assert t.loc["LR time effects", "points_to"] == "drop time effects" and s.effects == "entity"
    assert t.loc["LR unit effects", "points_to"] == "keep unit effects"
    assert t.loc["lm_lag", "model"] == "OLS, unit fixed effects"
    assert t.loc["Wald SDM vs SAR", "model"] == "SDM, unit fixed effects, Lee-Yu transformation"
    assert s.models["SDM"].fe == "entity" and s.models["SLX"].fe == "entity"
    assert s.chosen == "OLS"
    assert s.reason.startswith("Time effects are dropped (LR test). The spatial models are fitted with unit fixed "
                               "effects.")


def test_specification_search_only_wx(produc):
    """W X effects only: the LM tests on OLS reject (the omitted W X), the SDM restrictions reject, but rho and
    lambda are not significant once W X is in: SLX, where the former rule answered SDM."""
    df, w = _usaww_panel(produc, 0, theta=(0.5, -0.4))
    s = sp.specification_search("y ~ x1 + x2", df, w, "unit", "t", hausman_test=False)
    assert s.table.loc["robust_lm_lag", "p"] < 0.05 and s.table.loc["Wald SLX vs OLS", "p"] < 1e-4
    assert s.chosen == "SLX" and s.effects == "twoways"


def test_specification_search_produc_keeps_sdm(produc):
    df, w = produc
    s = sp.specification_search("lgsp ~ lpcap + lpc + lemp + unemp", df, w, "state", "year", hausman_test=False)
    assert s.chosen == "SDM" and s.effects == "twoways"


def test_specification_search_bad_options(cigar):
    from spillover.errors import SpecificationError

    df, w = cigar
    with pytest.raises(SpecificationError, match="option='fe'"):
        sp.specification_search(F, df, w, "state", "year", fe="random")
    with pytest.raises(SpecificationError, match="option='alpha'"):
        sp.specification_search(F, df, w, "state", "year", alpha=5)
    with pytest.raises(SpecificationError, match="option='hausman_kind'"):
        sp.specification_search(F, df, w, "state", "year", hausman_kind="exact")
