"""Unbalanced fixed-effects SAR / SEM / SDM (spillover.spatial.unbalanced).

(a) Against a brute-force likelihood written here with dense explicit
    matrices: effect dummies D, Q = I - D pinv(D'D) D', block-diagonal
    per-period W_t (W restricted to the observed units, row-standardised
    again), Jacobian sum_t slogdet(I - rho W_t), sigma2 = e'e / n_obs.
(b) A balanced panel reproduces the balanced direct estimators.
(c) Bad input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import linalg, optimize

import spillover as sp
from spillover.errors import SpecificationError
from spillover.spatial.unbalanced import fit_unbalanced

T_SUB = 12


@pytest.fixture(scope="module")
def cig(cigar):
    df, w = cigar
    return df[df["year"] > df["year"].max() - T_SUB].copy(), w


@pytest.fixture(scope="module")
def unbal(cig):
    df, w = cig
    rng = np.random.default_rng(20240611)
    keep = rng.random(len(df)) > 0.10
    return df[keep].copy(), w


def brute_force(df, w, fe, lag, err, durbin):
    ids = list(w.id_order)
    wfull = np.asarray(w.full()[0])
    b = (wfull > 0).astype(float)
    d = df.assign(_u=df["state"].map({v: i for i, v in enumerate(ids)})).sort_values(["year", "_u"])
    years = sorted(d["year"].unique())
    blocks = []
    for yr in years:
        u = d.loc[d["year"] == yr, "_u"].to_numpy()
        wt = b[np.ix_(u, u)]
        rs = wt.sum(axis=1)
        wt = wt / np.where(rs > 0, rs, 1.0)[:, None]
        blocks.append(wt)
    bigw = linalg.block_diag(*blocks)
    n_obs = len(d)
    y = d["logc"].to_numpy()
    x = d[["logp", "logy"]].to_numpy()
    if durbin:
        x = np.column_stack([x, bigw @ x])
    cols = []
    if fe in ("entity", "twoways"):
        cols.append((d["_u"].to_numpy()[:, None] == np.unique(d["_u"])[None, :]).astype(float))
    if fe in ("time", "twoways"):
        cols.append((d["year"].to_numpy()[:, None] == np.array(years)[None, :]).astype(float))
    dm = np.column_stack(cols)
    q = np.eye(n_obs) - dm @ np.linalg.pinv(dm.T @ dm) @ dm.T
    qy, qwy, qx, qwx = q @ y, q @ bigw @ y, q @ x, q @ bigw @ x
    eyes = [np.eye(len(bl)) for bl in blocks]

    def negll(p):
        ys = qy - p * qwy
        xs = qx - p * qwx if err else qx
        bb = np.linalg.lstsq(xs, ys, rcond=None)[0]
        e = ys - xs @ bb
        s2 = e @ e / n_obs
        ld = sum(np.linalg.slogdet(i - p * bl)[1] for i, bl in zip(eyes, blocks))
        return n_obs / 2 * (np.log(2 * np.pi * s2) + 1) - ld, bb, s2

    r = optimize.minimize_scalar(lambda v: negll(v)[0], bounds=(-0.95, 0.995), method="bounded", options={"xatol": 1e-13})
    f, bb, s2 = negll(r.x)
    return np.concatenate([bb, [r.x]]), s2, -f


CASES = [(m, fe) for m in ("sar", "sem", "sdm") for fe in ("entity", "twoways")] + [("sar", "time")]


@pytest.mark.parametrize("model,fe", CASES)
def test_unbalanced_matches_brute_force(unbal, model, fe):
    df, w = unbal
    lag, err, durbin = model != "sem", model == "sem", model == "sdm"
    ref, s2, ll = brute_force(df, w, fe, lag, err, durbin)
    res = fit_unbalanced("logc ~ logp + logy", df, w, "state", "year", fe=fe, model=model)
    assert res.nobs == len(df)
    np.testing.assert_allclose(res.params.to_numpy(), ref, atol=1e-6)
    np.testing.assert_allclose(res.sigma2, s2, rtol=1e-6)
    np.testing.assert_allclose(res.llf, ll, rtol=1e-9)
    assert np.all(np.isfinite(res.bse)) and np.all(res.bse > 0)


@pytest.mark.parametrize("model", ["SAR", "SEM", "SDM"])
@pytest.mark.parametrize("fe", ["entity", "twoways"])
def test_balanced_equals_balanced_estimator(cig, model, fe):
    df, w = cig
    ref = getattr(sp, model)("logc ~ logp + logy", df, w, "state", "year", fe=fe, method="direct").fit()
    res = fit_unbalanced("logc ~ logp + logy", df, w, "state", "year", fe=fe, model=model.lower())
    assert list(res.params.index) == list(ref.params.index)
    np.testing.assert_allclose(res.params.to_numpy(), ref.params.to_numpy(), atol=1e-8)
    np.testing.assert_allclose(res.llf, ref.llf, rtol=1e-10)
    np.testing.assert_allclose(res.sigma2, ref.sigma2, rtol=1e-8)
    # SEs: same numerical Hessian of the same full log-likelihood as the balanced cov="numerical"
    num = getattr(sp, model)("logc ~ logp + logy", df, w, "state", "year", fe=fe, method="direct", cov="numerical").fit()
    np.testing.assert_allclose(res.bse.to_numpy(), num.bse.to_numpy(), rtol=1e-5)
    if model != "SEM":
        a = res.impacts(method="delta").table[["direct", "indirect", "total"]].to_numpy()
        b = ref.impacts(method="delta").table[["direct", "indirect", "total"]].to_numpy()
        np.testing.assert_allclose(a, b, atol=1e-8)
        # unit and time effects: the balanced convention (each sums to zero), recovered from the combined ones
        fu, fb = res.fixed_effects, ref.fixed_effects
        assert fu["max_abs_residual"] < 1e-10
        np.testing.assert_allclose(fu["intercept"], fb["intercept"], atol=1e-6)
        np.testing.assert_allclose(fu["entity"].to_numpy(), np.asarray(fb["entity"]), atol=1e-6)
        if fe == "twoways":
            np.testing.assert_allclose(fu["time"].to_numpy(), np.asarray(fb["time"]), atol=1e-6)


def test_effects_split_on_unbalanced(unbal):
    """Unbalanced: c + mu_i + alpha_t reproduces the combined effect of every observation exactly."""
    df, w = unbal
    res = fit_unbalanced("logc ~ logp + logy", df, w, "state", "year", fe="twoways", model="sdm")
    fx = res.fixed_effects
    comb = fx["combined"]
    keys = df.loc[comb.index, ["state", "year"]]
    rebuilt = fx["intercept"] + fx["entity"].loc[keys["state"]].to_numpy() + fx["time"].loc[keys["year"]].to_numpy()
    np.testing.assert_allclose(rebuilt, comb.to_numpy(), atol=1e-9)
    assert abs(fx["entity"].sum()) < 1e-9 and abs(fx["time"].sum()) < 1e-9


def test_duplicate_rows_are_refused(unbal):
    df, w = unbal
    bad = pd.concat([df, df.iloc[[3]]])
    with pytest.raises(SpecificationError, match="duplicate"):
        fit_unbalanced("logc ~ logp + logy", bad, w, "state", "year", fe="entity", model="sar")


def test_unit_never_observed_with_neighbours_is_refused(cig):
    df, w = cig
    ids = list(w.id_order)
    unit = ids[0]
    nbrs = set(w.neighbors[unit])
    yrs = sorted(df["year"].unique())
    # unit present only in the first 4 years, its neighbours only afterwards
    drop = ((df["state"] == unit) & (df["year"] > yrs[3])) | (df["state"].isin(nbrs) & (df["year"] <= yrs[3]))
    with pytest.raises(SpecificationError, match="never observed together"):
        fit_unbalanced("logc ~ logp + logy", df[~drop], w, "state", "year", fe="entity", model="sar")


def test_single_unit_period_is_refused(cig):
    df, w = cig
    yr0 = df["year"].min()
    keep = (df["year"] != yr0) | (df["state"] == df["state"].iloc[0])
    with pytest.raises(SpecificationError, match="single observed unit"):
        fit_unbalanced("logc ~ logp + logy", df[keep], w, "state", "year", fe="twoways", model="sar")


def test_islands_in_a_period_are_reported(cig):
    df, w = cig
    ids = list(w.id_order)
    unit = ids[0]
    nbrs = set(w.neighbors[unit])
    yr = sorted(df["year"].unique())[2]
    drop = df["state"].isin(nbrs) & (df["year"] == yr)
    res = fit_unbalanced("logc ~ logp + logy", df[~drop], w, "state", "year", fe="twoways", model="sdm")
    assert unit in res.extra["islands"][yr]
    assert res.converged


def test_bad_model_and_fe(cig):
    df, w = cig
    with pytest.raises(SpecificationError):
        fit_unbalanced("logc ~ logp", df, w, "state", "year", model="sac")
    with pytest.raises(SpecificationError):
        fit_unbalanced("logc ~ logp", df, w, "state", "year", fe="random", model="sar")
