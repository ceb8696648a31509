"""Convergence: sigma against numpy, beta against a brute-force LSDV regression, spatial beta against the
package's own SAR fit of the same regression, speed and half-life against the Barro & Sala-i-Martin formula."""

from __future__ import annotations

import warnings

import libpysal
import numpy as np
import pandas as pd
import pytest

import spillover as sp
from spillover.analysis import convergence, growth_frame, speed_and_half_life
from spillover.errors import SpecificationError


@pytest.fixture(scope="module")
def panel():
    """A 7 x 7 lattice of units converging at beta = -0.3 per period, 8 periods, with a control z."""
    rng = np.random.default_rng(7)
    n, t = 49, 8
    x = np.empty((t, n))
    x[0] = np.exp(rng.normal(0, 0.8, n))
    z = rng.normal(size=(t, n))
    for s in range(1, t):
        x[s] = np.exp(np.log(x[s - 1]) + 0.1 - 0.3 * np.log(x[s - 1]) + 0.05 * z[s - 1] + rng.normal(0, 0.05, n))
    return pd.DataFrame({"id": np.tile(np.arange(n), t), "yr": np.repeat(np.arange(2001, 2001 + t), n),
                         "x": x.ravel(), "z": z.ravel()})


def test_sigma_against_numpy(panel):
    r = convergence(panel, "x", "id", "yr", "sigma")
    for yr, g in panel.groupby("yr"):
        row = r.table.set_index("yr").loc[yr]
        y = g["x"].to_numpy()
        assert row["cv"] == pytest.approx(y.std() / y.mean(), rel=1e-12)
        assert row["gini"] == pytest.approx(np.abs(y[:, None] - y[None, :]).sum() / (2 * len(y) ** 2 * y.mean()),
                                            rel=1e-12)
    slope = np.polyfit(r.table["yr"].to_numpy(float), r.table["cv"].to_numpy(), 1)[0]
    assert r.beta == pytest.approx(slope, rel=1e-10) and r.beta < 0 and r.p < 0.05  # dispersion falls


def test_beta_equals_brute_force_lsdv(panel):
    r = convergence(panel, "x", "id", "yr", "beta", controls=["z"])
    g, tau = growth_frame(panel, "x", "id", "yr", ["z"])
    dummies = np.column_stack([pd.get_dummies(g["id"]).to_numpy(float), pd.get_dummies(g["yr"]).to_numpy(float)[:, 1:]])
    xmat = np.column_stack([g["initial"], g["z"], dummies])
    coef = np.linalg.lstsq(xmat, g["growth"].to_numpy(), rcond=None)[0]
    assert r.beta == pytest.approx(coef[0], rel=1e-9) and r.table.loc["z", "coef"] == pytest.approx(coef[1], rel=1e-9)
    assert tau == 1.0 and r.beta == pytest.approx(-0.3, abs=0.03)  # the DGP's beta
    assert r.speed == pytest.approx(-np.log(1 + r.beta)) and r.half_life == pytest.approx(np.log(2) / r.speed)


def test_spatial_beta_is_the_sar_of_the_growth_regression(panel):
    w = libpysal.weights.lat2W(7, 7)
    w.transform = "r"
    r = convergence(panel, "x", "id", "yr", "spatial_beta", w=w)
    g, _ = growth_frame(panel, "x", "id", "yr")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = sp.SAR("growth ~ initial", g, w, "id", "yr", fe="twoways", method="lee-yu").fit()
    assert r.beta == pytest.approx(direct.params["initial"], rel=1e-12)
    assert r.se == pytest.approx(direct.bse["initial"], rel=1e-12)
    assert "rho" in r.table.index


def test_speed_and_half_life_by_hand():
    s, h = speed_and_half_life(-0.05, tau=5.0)  # 5-year periods
    assert s == pytest.approx(-np.log(0.95) / 5) and h == pytest.approx(np.log(2) / s)
    assert np.isnan(speed_and_half_life(0.02)[1]) and np.isnan(speed_and_half_life(-1.2)[0])  # divergence; undefined


def test_bad_input_is_named(panel):
    bad = panel.copy()
    bad.loc[3, "x"] = -1.0
    with pytest.raises(SpecificationError, match="positive"):
        convergence(bad, "x", "id", "yr", "beta")
    with pytest.raises(SpecificationError, match="kind"):
        convergence(panel, "x", "id", "yr", "gamma")
    with pytest.raises(SpecificationError, match="needs a W"):
        convergence(panel, "x", "id", "yr", "spatial_beta")
    with pytest.raises(SpecificationError, match="equally spaced"):
        convergence(panel[panel["yr"] != 2003], "x", "id", "yr", "beta")
    with pytest.raises(SpecificationError, match="not in the data"):
        convergence(panel, "nope", "id", "yr")


def test_trend_of_any_series_and_over_a_sub_period(panel):
    """sp.analysis.trend is scipy's OLS slope test on the periods asked for; sigma convergence uses it for the CV
    (default) or the Gini (measure='gini')."""
    from scipy import stats

    from spillover.analysis import trend

    r = convergence(panel, "x", "id", "yr", "sigma")
    t = trend(r.table, "gini", "yr", years=(2002, 2006))
    sub = r.table[r.table["yr"].between(2002, 2006)]
    ref = stats.linregress(sub["yr"].to_numpy(float), sub["gini"].to_numpy())
    assert (t.slope, t.se, t.p, t.n, t.first, t.last) == pytest.approx(
        (ref.slope, ref.stderr, ref.pvalue, 5, 2002, 2006), rel=1e-12)
    g = convergence(panel, "x", "id", "yr", "sigma", measure="gini")
    full = stats.linregress(r.table["yr"].to_numpy(float), r.table["gini"].to_numpy())
    assert g.beta == pytest.approx(full.slope, rel=1e-12) and g.p == pytest.approx(full.pvalue, rel=1e-12)
    with pytest.raises(SpecificationError, match="three or more periods"):
        trend(r.table, "cv", "yr", years=(2001, 2002))
    with pytest.raises(SpecificationError, match="not in the per-period frame"):
        trend(r.table, "theil", "yr")
    with pytest.raises(SpecificationError, match="measure='var'"):
        convergence(panel, "x", "id", "yr", "sigma", measure="var")
