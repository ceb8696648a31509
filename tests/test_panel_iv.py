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


def test_2sls_two_way_matches_numpy(cig):
    res = fit_iv("logc", ["logy"], ["logp"], ["L1_logp", "L2_logp"], cig, "state", "year", fe="twoways",
                 cov_type="unadjusted")
    d = cig.dropna(subset=["L2_logp"])
    u = (d["state"].to_numpy()[:, None] == np.unique(d["state"])).astype(float)
    t = (d["year"].to_numpy()[:, None] == np.unique(d["year"])[1:]).astype(float)
    w = np.column_stack([d["logy"], u, t])
    x = np.column_stack([d["logp"], w])
    z = np.column_stack([d["L1_logp"], d["L2_logp"], w])
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
