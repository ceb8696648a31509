"""IV with fixed effects against a hand-written 2SLS (explicit dummies, numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from spillover.errors import SpecificationError
from spillover.panel import add_lag, fit_iv


@pytest.fixture(scope="module")
def cig(cigar):
    df, _ = cigar
    df = add_lag(df, "logp", "state", "year")
    return add_lag(df, "logp", "state", "year", 2)


def _dummy_design(cig):
    """Rows with both lags; exogenous block [logy, unit dummies, year dummies but the first]; instruments."""
    d = cig.dropna(subset=["L2_logp"])
    u = (d["state"].to_numpy()[:, None] == np.unique(d["state"])).astype(float)
    t = (d["year"].to_numpy()[:, None] == np.unique(d["year"])[1:]).astype(float)
    w = np.column_stack([d["logy"], u, t])
    return d, w, np.column_stack([d["L1_logp"], d["L2_logp"], w])


def test_2sls_two_way_matches_numpy(cig):
    res = fit_iv("logc", ["logy"], ["logp"], ["L1_logp", "L2_logp"], cig, "state", "year", fe="twoways",
                 cov="unadjusted")
    d, w, z = _dummy_design(cig)
    x = np.column_stack([d["logp"], w])
    y = d["logc"].to_numpy()
    xhat = z @ np.linalg.lstsq(z, x, rcond=None)[0]
    b = np.linalg.lstsq(xhat, y, rcond=None)[0]
    assert res.params["logp"] == pytest.approx(b[0], rel=1e-10)
    assert res.params["logy"] == pytest.approx(b[1], rel=1e-10)
    # partial R-squared of the excluded instruments, computed by hand (Frisch-Waugh)
    mw = np.eye(len(y)) - w @ np.linalg.pinv(w)
    e_x, e_z = mw @ d["logp"].to_numpy(), mw @ z[:, :2]
    fitted = e_z @ np.linalg.lstsq(e_z, e_x, rcond=None)[0]
    pr2 = 1 - ((e_x - fitted) ** 2).sum() / (e_x**2).sum()
    assert res.first_stage.diagnostics.loc["logp", "partial.rsquared"] == pytest.approx(pr2, rel=1e-8)


def test_gmm_and_errors(cig):
    r = fit_iv("logc", ["logy"], ["logp"], ["L1_logp", "L2_logp"], cig, "state", "year", estimator="gmm")
    assert np.isfinite(r.params["logp"])
    with pytest.raises(SpecificationError, match="estimator"):
        fit_iv("logc", ["logy"], ["logp"], ["L1_logp"], cig, "state", "year", estimator="liml")
    with pytest.raises(SpecificationError, match="nope"):
        fit_iv("logc", ["nope"], ["logp"], ["L1_logp"], cig, "state", "year")


def test_formula_with_lags_equals_explicit(cig):
    from spillover.panel import fit_iv_formula, parse_iv_formula

    assert parse_iv_formula("y ~ a + [d ~ z + L2.d] + b") == ("y", ["a", "b"], ["d"], ["z", "L2.d"])
    base = cig.drop(columns=["L1_logp", "L2_logp"])
    r1 = fit_iv_formula("logc ~ logy + [logp ~ L1.logp + L2.logp]", base, "state", "year", fe="twoways")
    r2 = fit_iv("logc", ["logy"], ["logp"], ["L1_logp", "L2_logp"], cig, "state", "year", fe="twoways")
    np.testing.assert_allclose(r1.params.to_numpy(), r2.params.to_numpy(), rtol=1e-12)
    assert r1.nobs == r2.nobs == 46 * 28
    r3 = fit_iv_formula("logc ~ logy + [logp ~ lag(logp) + lag(logp, 2)]", base, "state", "year", fe="twoways")
    np.testing.assert_allclose(r3.params.to_numpy(), r2.params.to_numpy(), rtol=1e-12)
    with pytest.raises(SpecificationError, match="not identified"):
        fit_iv_formula("logc ~ logy + [logp + logy ~ L1.logp]", base, "state", "year")
    with pytest.raises(SpecificationError, match="form"):
        fit_iv_formula("logc ~ logy + logp", base, "state", "year")
    with pytest.raises(SpecificationError, match="nope"):
        fit_iv_formula("logc ~ logy + [logp ~ L1.nope]", base, "state", "year")


def test_table_first_stage_rows_by_hand(cig):
    """Partial F in the table = (SSR_r - SSR_u)/q / (SSR_u/n) (linearmodels' unadjusted F), dummies hidden."""
    from spillover.report.tables import Table

    res = fit_iv("logc", ["logy"], ["logp"], ["L1_logp", "L2_logp"], cig, "state", "year", fe="twoways",
                 cov="unadjusted")
    d, w, z = _dummy_design(cig)
    x = d["logp"].to_numpy()

    def ssr(a):
        e = x - a @ np.linalg.lstsq(a, x, rcond=None)[0]
        return e @ e

    su, sr = ssr(z), ssr(w)
    f_hand = (sr - su) / 2 / (su / len(x))
    table = Table.from_results([res], ["2SLS"])
    nums = table.numbers()
    f_row = nums[nums["row"] == "stat:First stage: partial F (logp)"]
    assert float(f_row["coef"].iloc[0]) == pytest.approx(f_hand, rel=1e-8)
    assert not any(str(r).startswith(("_u_", "_t_")) for r in nums["row"])
    md = table.to_markdown()
    assert "2SLS" in md and "Sargan p-value" in md and "R² (LSDV)" in md
    # clustered: linearmodels gives a Wald chi2(2); the table shows chi2 / 2
    rc = fit_iv("logc", ["logy"], ["logp"], ["L1_logp", "L2_logp"], cig, "state", "year", fe="twoways")
    nc = Table.from_results([rc], ["c"]).numbers()
    wald = rc.first_stage.diagnostics.loc["logp", "f.stat"]
    got = nc.loc[nc["row"] == "stat:First stage: partial F (logp)", "coef"].iloc[0]
    assert got == pytest.approx(wald / 2, rel=1e-12)


def test_overidentification_p_value_by_hand(cig):
    """The table's Sargan p-value: n R^2 of the 2SLS residuals on all instruments, chi2(1) (Sargan 1958)."""
    from scipy import stats as st

    from spillover.report.tables import Table

    res = fit_iv("logc", ["logy"], ["logp"], ["L1_logp", "L2_logp"], cig, "state", "year", fe="twoways",
                 cov="unadjusted")
    d, w, z = _dummy_design(cig)
    x = np.column_stack([d["logp"], w])
    y = d["logc"].to_numpy()
    xhat = z @ np.linalg.lstsq(z, x, rcond=None)[0]
    e = y - x @ np.linalg.lstsq(xhat, y, rcond=None)[0]
    u = e - z @ np.linalg.lstsq(z, e, rcond=None)[0]
    stat = len(y) * (1 - (u @ u) / ((e - e.mean()) @ (e - e.mean())))
    nums = Table.from_results([res], ["2SLS"]).numbers()
    got = nums.loc[nums["row"] == "stat:Over-identification: Sargan p-value", "coef"].iloc[0]
    assert got == pytest.approx(st.chi2.sf(stat, 1), rel=1e-6)
