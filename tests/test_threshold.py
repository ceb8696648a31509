"""Tests for the Hansen (1999) panel threshold regression.

Data labelled SYNTHETIC are simulated here with a known data-generating process.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from spillover.analysis.threshold import lr_critical_value, panel_threshold


def synthetic(threshold: float | None, n: int = 40, t: int = 10, seed: int = 1) -> pd.DataFrame:
    """SYNTHETIC panel: y = mu_i + x (1 if q <= g else 2) + 0.5 z + e (no threshold: slope 1.5)."""
    rng = np.random.default_rng(seed)
    ent = np.repeat(np.arange(n), t)
    yr = np.tile(np.arange(t), n)
    mu = rng.normal(size=n)[ent]
    q = rng.uniform(size=n * t)
    x = rng.normal(size=n * t) + 0.3 * mu
    z = rng.normal(size=n * t)
    slope = 1.5 if threshold is None else np.where(q <= threshold, 1.0, 2.0)
    y = mu + slope * x + 0.5 * z + rng.normal(scale=0.5, size=n * t)
    return pd.DataFrame({"id": [f"u{i:02d}" for i in ent], "year": yr, "y": y, "x": x, "z": z, "q": q})


def test_lr_critical_value_hansen():
    # Hansen (1999) p. 352: c(0.05) = 7.35, c(0.10) = 5.94, c(0.01) = 10.59
    assert lr_critical_value(0.05) == pytest.approx(7.35, abs=0.005)
    assert lr_critical_value(0.10) == pytest.approx(5.94, abs=0.005)
    assert lr_critical_value(0.01) == pytest.approx(10.59, abs=0.005)


def test_brute_force_dummy_regression_matches():
    """Independent LSDV grid search (statsmodels OLS with unit dummies) gives the same threshold and SSR."""
    df = synthetic(0.5)
    grid = np.quantile(df["q"], np.linspace(0.1, 0.9, 15))
    res = panel_threshold("y ~ x + z", df, "id", "year", threshold_var="q", regime_vars=["x"], grid=grid,
                          bootstrap=0)
    ssr = []
    for g in grid:
        d = df.assign(x_lo=df["x"] * (df["q"] <= g), x_hi=df["x"] * (df["q"] > g))
        ssr.append(smf.ols("y ~ 0 + C(id) + z + x_lo + x_hi", d).fit().ssr)
    ssr = np.array(ssr)
    k = int(np.argmin(ssr))
    assert res.thresholds[0] == pytest.approx(grid[k])
    assert res.ssr["S1"] == pytest.approx(ssr[k], rel=1e-9)
    np.testing.assert_allclose(res.ssr_path["ssr1"].to_numpy(), ssr, rtol=1e-9)
    s0 = smf.ols("y ~ 0 + C(id) + z + x", df).fit().ssr
    assert res.ssr["S0"] == pytest.approx(s0, rel=1e-9)
    # slopes and eq. 11 standard errors: LSDV coefficients, sigma2 = S1 / (n (T-1))
    g = grid[k]
    d = df.assign(x_lo=df["x"] * (df["q"] <= g), x_hi=df["x"] * (df["q"] > g))
    fit = smf.ols("y ~ 0 + C(id) + z + x_lo + x_hi", d).fit()
    b = res.params.to_numpy()
    np.testing.assert_allclose(b, fit.params[["z", "x_lo", "x_hi"]].to_numpy(), rtol=1e-8)
    scale = (fit.df_resid) / (40 * 9)  # statsmodels divides by NT - N - k, Hansen by N(T-1)
    np.testing.assert_allclose(res.bse.to_numpy(), fit.bse[["z", "x_lo", "x_hi"]].to_numpy() * np.sqrt(scale), rtol=1e-8)


def test_known_threshold_recovered_and_significant():
    df = synthetic(0.5)
    res = panel_threshold("y ~ x + z", df, "id", "year", threshold_var="q", regime_vars=["x"], bootstrap=200, seed=3)
    assert abs(res.thresholds[0] - 0.5) < 0.03
    assert res.pvalues["F1"] < 0.01
    lo, hi = res.ci[0]
    assert lo <= res.thresholds[0] <= hi
    assert res.params.filter(like="x[q<=").iloc[0] == pytest.approx(1.0, abs=0.1)
    assert res.params.filter(like="x[q>").iloc[0] == pytest.approx(2.0, abs=0.1)
    tab = res.table()
    assert list(tab.index) == ["gamma1"] and {"estimate", "ci_low", "ci_high", "F", "p_bootstrap"} <= set(tab.columns)


def test_no_threshold_not_significant():
    df = synthetic(None, seed=2)
    res = panel_threshold("y ~ x + z", df, "id", "year", threshold_var="q", regime_vars=["x"], bootstrap=200, seed=0)
    assert res.pvalues["F1"] > 0.10


def test_seed_reproduces():
    df = synthetic(0.5, seed=5)
    kw = dict(threshold_var="q", regime_vars=["x"], bootstrap=60, n_thresholds=2)
    a = panel_threshold("y ~ x + z", df, "id", "year", seed=11, **kw)
    b = panel_threshold("y ~ x + z", df, "id", "year", seed=11, **kw)
    assert a.pvalues == b.pvalues and a.crit == b.crit
    assert a.thresholds == b.thresholds


def test_two_thresholds_synthetic():
    """SYNTHETIC: slopes 1, 2, 3 at q = 0.3 and 0.7; both recovered, F2 significant, CIs contain estimates."""
    rng = np.random.default_rng(7)
    n, t = 50, 10
    ent = np.repeat(np.arange(n), t)
    q = rng.uniform(size=n * t)
    x = rng.normal(size=n * t)
    mu = rng.normal(size=n)[ent]
    y = mu + x * np.select([q <= 0.3, q <= 0.7], [1.0, 2.0], 3.0) + rng.normal(scale=0.5, size=n * t)
    df = pd.DataFrame({"id": ent, "year": np.tile(np.arange(t), n), "y": y, "x": x, "q": q})
    res = panel_threshold("y ~ x", df, "id", "year", threshold_var="q", regime_vars=["x"], n_thresholds=2,
                          bootstrap=100, seed=0)
    assert res.thresholds[0] == pytest.approx(0.3, abs=0.04)
    assert res.thresholds[1] == pytest.approx(0.7, abs=0.04)
    assert res.pvalues["F1"] < 0.01 and res.pvalues["F2"] < 0.01
    for g, (lo, hi) in zip(res.thresholds, res.ci):
        assert lo <= g <= hi
    assert len(res.params) == 3


def test_twoways_matches_dummy_regression():
    df = synthetic(0.5, seed=9)
    grid = np.quantile(df["q"], [0.3, 0.5, 0.7])
    res = panel_threshold("y ~ x + z", df, "id", "year", threshold_var="q", regime_vars=["x"], grid=grid,
                          bootstrap=0, fe="twoways")
    ssr = [smf.ols("y ~ 0 + C(id) + C(year) + z + x_lo + x_hi",
                   df.assign(x_lo=df["x"] * (df["q"] <= g), x_hi=df["x"] * (df["q"] > g))).fit().ssr for g in grid]
    np.testing.assert_allclose(res.ssr_path["ssr1"].to_numpy(), ssr, rtol=1e-9)


def test_real_panel_runs():
    import spillover as sp

    panel = sp.data.default_panel()
    res = panel_threshold("cpi ~ dei + urban + gov + open + hc", panel, "province", "year", threshold_var="dei",
                          bootstrap=50, seed=0)
    assert np.isfinite(res.F["F1"]) and 0 <= res.pvalues["F1"] <= 1
    assert res.N == 31 and res.T == 10


def test_interval_cut_by_the_trimming_is_said_so():
    """SYNTHETIC: a threshold at the 97th percentile of q lies beyond the 5% trimming, so the estimate is the last
    admissible candidate and the interval's upper bound is that candidate: the table says the trimming cut it.
    A threshold in the middle has an interval the likelihood ratio closes on both sides, with no note."""
    df = synthetic(0.97, seed=4)
    res = panel_threshold("y ~ x + z", df, "id", "year", threshold_var="q", regime_vars=["x"], bootstrap=0)
    q = np.sort(df["q"].to_numpy())
    admissible = q[(q >= np.quantile(q, 0.05)) & (q <= np.quantile(q, 0.95))]
    kept = [g for g in admissible if (q > g).sum() >= 0.05 * len(q) and (q <= g).sum() >= 0.05 * len(q)]
    assert res.ci[0][1] == pytest.approx(max(kept))  # brute force: the last admissible candidate
    assert res.ci_at_edge == [(False, True)]
    assert res.table().loc["gamma1", "ci_note"] == "upper bound cut by the trimming"
    mid = panel_threshold("y ~ x + z", synthetic(0.5), "id", "year", threshold_var="q", regime_vars=["x"], bootstrap=0)
    assert mid.ci_at_edge == [(False, False)] and mid.table().loc["gamma1", "ci_note"] == ""


def _lsdv_ssr(df: pd.DataFrame, regime_vars: list[str], common: list[str], gammas: list[float]) -> float:
    """SSR of the explicit dummy-variable regression with regimes cut at ``gammas`` (statsmodels, pinv)."""
    cuts = [-np.inf] + sorted(gammas) + [np.inf]
    d, terms = df.copy(), []
    for j, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        for v in regime_vars:
            d[f"{v}_r{j}"] = d[v] * ((d["q"] > a) & (d["q"] <= b))
            terms.append(f"{v}_r{j}")
    return smf.ols("y ~ 0 + C(id) + " + " + ".join(common + terms), d).fit().ssr


@pytest.mark.filterwarnings("ignore:The design matrix is rank-deficient")  # on purpose, see below
def test_second_threshold_path_matches_dummy_regression():
    """The two-threshold SSR path (split search given the refined first threshold) is the LSDV SSR at each candidate.

    Two regime variables and a grid whose neighbouring points leave one
    observation in a regime: that design is rank deficient, where a QR
    without pivoting loses part of the column space.
    """
    df = synthetic(0.5, n=30, t=8, seed=4)
    df["w"] = np.random.default_rng(8).normal(size=len(df))
    q = np.sort(df["q"].to_numpy())
    k = int(np.searchsorted(q, 0.5))  # the threshold of the data: the first stage lands next to it
    grid = q[k - 6:k + 7]  # consecutive values: a candidate next to the fixed threshold leaves one observation
    res = panel_threshold("y ~ x + w + z", df, "id", "year", threshold_var="q", regime_vars=["x", "w"], grid=grid,
                          n_thresholds=2, trim=(0.001, 0.001), bootstrap=0)
    path = res.ssr_path.dropna(subset=["ssr2"])
    g_path = float(path["gamma"].iloc[int(np.argmin(path["ssr2"].to_numpy()))])
    g_fix = next(g for g in res.thresholds if g != g_path)
    want = [_lsdv_ssr(df, ["x", "w"], ["z"], [g_fix, g]) for g in path["gamma"]]
    np.testing.assert_allclose(path["ssr2"].to_numpy(), want, rtol=1e-9)
    assert res.ssr["S2"] == pytest.approx(min(want), rel=1e-9)
    first = res.ssr_path.dropna(subset=["ssr1"])
    np.testing.assert_allclose(first["ssr1"].to_numpy(), [_lsdv_ssr(df, ["x", "w"], ["z"], [g]) for g in first["gamma"]],
                               rtol=1e-9)


def test_search_does_not_depend_on_the_units_of_the_data():
    """Scaling y and the regressors by 1e-12 (a variable in other units) gives the same thresholds and F statistics,
    and SSRs scaled by 1e-24: the rank rules are relative, not absolute."""
    df = synthetic(0.5, seed=6)
    kw = dict(threshold_var="q", regime_vars=["x"], n_thresholds=2, bootstrap=0)
    a = panel_threshold("y ~ x + z", df, "id", "year", **kw)
    small = df.assign(y=df["y"] * 1e-12, x=df["x"] * 1e-12, z=df["z"] * 1e-12)
    b = panel_threshold("y ~ x + z", small, "id", "year", **kw)
    assert a.thresholds == b.thresholds
    for k in ("F1", "F2"):
        assert b.F[k] == pytest.approx(a.F[k], rel=1e-8)
    for k in ("S0", "S1", "S2"):
        assert b.ssr[k] == pytest.approx(a.ssr[k] * 1e-24, rel=1e-8)
