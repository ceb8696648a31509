"""Tests for stepwise and spatial mediation. Data labelled SYNTHETIC are simulated here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from spillover.analysis.mediation import mediation, sobel, spatial_mediation


def synthetic(n: int = 30, t: int = 8, seed: int = 0) -> pd.DataFrame:
    """SYNTHETIC panel: x -> m (a = 0.8) -> y (b = 0.5), direct effect 0.3, control z, unit and time effects."""
    rng = np.random.default_rng(seed)
    ent = np.repeat(np.arange(n), t)
    yr = np.tile(np.arange(t), n)
    mu, tau = rng.normal(size=n)[ent], rng.normal(size=t)[yr]
    x = rng.normal(size=n * t) + 0.5 * mu
    z = rng.normal(size=n * t)
    m = 0.8 * x + 0.2 * z + mu + tau + rng.normal(size=n * t)
    y = 0.3 * x + 0.5 * m - 0.4 * z + mu - tau + rng.normal(size=n * t)
    return pd.DataFrame({"id": [f"e{i}" for i in ent], "year": 2000 + yr, "x": x, "z": z, "m": m, "y": y})


def test_sobel_hand_computation():
    ab, se, z, p = sobel(0.8, 0.1, 0.5, 0.2)
    assert ab == pytest.approx(0.4)
    assert se == pytest.approx(np.sqrt(0.5 ** 2 * 0.1 ** 2 + 0.8 ** 2 * 0.2 ** 2))
    assert z == pytest.approx(0.4 / se)
    assert p == pytest.approx(2 * (1 - __import__("scipy").stats.norm.cdf(0.4 / se)))


def test_sobel_from_fit_matches_hand():
    df = synthetic()
    r = mediation("y ~ x + z", df, "id", "year", mediator="m", treatment="x", bootstrap=0)
    se = np.sqrt(r.b ** 2 * r.a_se ** 2 + r.a ** 2 * r.b_se ** 2)
    assert r.sobel_se == pytest.approx(se)
    assert r.table.loc["indirect a*b (Sobel)", "se"] == pytest.approx(se)
    assert r.indirect == pytest.approx(r.a * r.b)


def test_identity_c_equals_cprime_plus_ab_ols():
    """Pooled OLS (no effects): c = c' + a b exactly; coefficients equal statsmodels OLS."""
    df = synthetic(seed=1)
    r = mediation("y ~ x + z", df, "id", "year", mediator="m", treatment="x", fe="none", bootstrap=0)
    assert r.c == pytest.approx(r.c_prime + r.a * r.b, abs=1e-12)
    assert r.c == pytest.approx(smf.ols("y ~ x + z", df).fit().params["x"], rel=1e-10)
    assert r.a == pytest.approx(smf.ols("m ~ x + z", df).fit().params["x"], rel=1e-10)
    assert r.b == pytest.approx(smf.ols("y ~ x + z + m", df).fit().params["m"], rel=1e-10)


def test_identity_holds_with_twoway_effects_and_recovers_truth():
    df = synthetic(n=60, seed=2)
    r = mediation("y ~ x + z", df, "id", "year", mediator="m", treatment="x", fe="twoways", bootstrap=0)
    assert r.c == pytest.approx(r.c_prime + r.a * r.b, abs=1e-10)
    assert r.a == pytest.approx(0.8, abs=0.1) and r.b == pytest.approx(0.5, abs=0.1)


def test_bootstrap_within_estimator_matches_fit_panel_and_is_seeded():
    from spillover.analysis.mediation import _within_coefs

    df = synthetic(seed=3).sort_values(["id", "year"]).reset_index(drop=True)
    r1 = mediation("y ~ x + z", df, "id", "year", mediator="m", treatment="x", bootstrap=200, seed=4)
    r2 = mediation("y ~ x + z", df, "id", "year", mediator="m", treatment="x", bootstrap=200, seed=4)
    r3 = mediation("y ~ x + z", df, "id", "year", mediator="m", treatment="x", bootstrap=200, seed=5)
    np.testing.assert_array_equal(r1.boot_draws, r2.boot_draws)
    assert r1.boot_ci == r2.boot_ci and not np.array_equal(r1.boot_draws, r3.boot_draws)
    lo, hi = r1.boot_ci
    assert lo < r1.indirect < hi and lo > 0
    a = _within_coefs(df["m"].to_numpy(), df[["x", "z"]].to_numpy(), df["id"].to_numpy(), df["year"].to_numpy(),
                      "twoways")[0]
    assert a == pytest.approx(r1.a, rel=1e-10)


def test_no_mediation_synthetic():
    """SYNTHETIC with b = 0: the bootstrap interval covers 0."""
    df = synthetic(seed=6)
    df["y"] = 0.3 * df["x"] - 0.4 * df["z"] + np.random.default_rng(9).normal(size=len(df))
    r = mediation("y ~ x + z", df, "id", "year", mediator="m", treatment="x", bootstrap=200, seed=0)
    assert r.boot_ci[0] < 0 < r.boot_ci[1]


def test_errors():
    df = synthetic()
    with pytest.raises(Exception, match="treatment"):
        mediation("y ~ z", df, "id", "year", mediator="m", treatment="x", bootstrap=0)
    with pytest.raises(Exception, match="mediator"):
        mediation("y ~ x + m", df, "id", "year", mediator="m", treatment="x", bootstrap=0)


@pytest.fixture(scope="module")
def real():
    import spillover as sp

    panel = sp.data.default_panel()
    w = sp.weights.contiguity(sp.data.default_geometry(), id_col="adcode")
    return panel, w


@pytest.mark.parametrize("m", ["innov", "indup"])
def test_real_panel_mediators(real, m):
    panel, w = real
    r = mediation("cpi ~ dei + urban + gov + open + hc", panel, "province", "year", mediator=m, treatment="dei", bootstrap=100)
    assert np.isfinite(r.indirect) and np.isfinite(r.sobel_se)
    assert r.c == pytest.approx(r.c_prime + r.a * r.b, abs=1e-10)
    s = spatial_mediation("cpi ~ dei + urban + gov + open + hc", panel, w, "province", "year", mediator=m, treatment="dei", draws=200)
    t = s.table
    med = t.loc["x -> m -> y (mediated BA)"]
    assert med["indirect"] == pytest.approx(med["total"] - med["direct"])
    # row-standardised W: mediated total = total(x -> m) * total(m -> y)
    assert med["total"] == pytest.approx(t.loc["x -> m (A)", "total"] * t.loc["m -> y | x (B)", "total"], rel=1e-8)
    assert (t[["direct_se", "indirect_se", "total_se"]].to_numpy() > 0).all()


def test_spatial_mediation_matches_sdm_impacts_and_seed(cigar):
    """Path impacts equal the SDM's own impacts; the simulation is reproducible with a seed."""
    import spillover as sp

    df, w = cigar
    kw = dict(draws=100, seed=1, total=False)
    s1 = spatial_mediation("logc ~ logp", df, w, "state", "year", mediator="logy", treatment="logp", **kw)
    s2 = spatial_mediation("logc ~ logp", df, w, "state", "year", mediator="logy", treatment="logp", **kw)
    pd.testing.assert_frame_equal(s1.table, s2.table)
    imp = sp.SDM("logy ~ logp", df, w, "state", "year", fe="twoways", method="lee-yu").fit().impacts(
        method="delta").table.loc["logp"]
    for part in ("direct", "indirect", "total"):
        assert s1.table.loc["x -> m (A)", part] == pytest.approx(imp[part], rel=1e-6)


def test_spatial_mediation_total_row_has_a_percentile_interval(cigar):
    """The SDM without m: its point impacts equal the SDM's own, and its interval comes from draws like the other
    rows (it was NaN when the row was copied from the SDM's impacts table); the other rows' draws do not move."""
    import spillover as sp

    df, w = cigar
    kw = dict(draws=100, seed=1)
    s = spatial_mediation("logc ~ logp", df, w, "state", "year", mediator="logy", treatment="logp", **kw).table
    without = spatial_mediation("logc ~ logp", df, w, "state", "year", mediator="logy", treatment="logp",
                                total=False, **kw).table
    pd.testing.assert_frame_equal(s.drop(index="x -> y (total, SDM without m)"), without)
    row = s.loc["x -> y (total, SDM without m)"]
    imp = sp.SDM("logc ~ logp", df, w, "state", "year", fe="twoways", method="lee-yu").fit().impacts(
        method="delta").table.loc["logp"]
    for part in ("direct", "indirect", "total"):
        assert row[part] == pytest.approx(imp[part], rel=1e-6)
        assert row[f"{part}_ci_low"] < row[part] < row[f"{part}_ci_high"]
        assert row[f"{part}_se"] == pytest.approx(imp[f"{part}_se"], rel=0.25)  # 100 draws vs the delta method
