"""Tests for the regime SDM, its Wald test and sub-sample SDMs. Data labelled SYNTHETIC are simulated here."""

from __future__ import annotations

import libpysal
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import spillover as sp
from spillover.analysis.heterogeneity import regime_sdm, subsample_sdm, subset_weights, wald_linear
from spillover.errors import SpecificationError


def sdm_dgp(w, t: int, groups: np.ndarray, beta: dict, theta: dict, rho: float = 0.3, seed: int = 0) -> pd.DataFrame:
    """SYNTHETIC SDM panel: y = rho W y + beta_g x + theta_g W(x D_g) + 0.5 z + mu_i + tau_t + e."""
    rng = np.random.default_rng(seed)
    Wd, ids = w.full()
    n = len(ids)
    A = np.linalg.inv(np.eye(n) - rho * Wd)
    mu = rng.normal(size=n)
    rows = []
    for s in range(t):
        x, z = rng.normal(size=n), rng.normal(size=n)
        b = np.array([beta[g] for g in groups])
        wx = sum(theta[g] * (Wd @ (x * (groups == g))) for g in beta)
        y = A @ (b * x + wx + 0.5 * z + mu + rng.normal() + rng.normal(scale=0.5, size=n))
        rows.append(pd.DataFrame({"id": ids, "year": s, "y": y, "x": x, "z": z, "grp": groups}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def real():
    panel = sp.data.default_panel()
    w = sp.weights.contiguity(sp.data.default_geometry(), id_col="adcode")
    return panel, w


@pytest.fixture(scope="module")
def real_fit(real):
    panel, w = real
    return regime_sdm("cpi ~ dei + urban + gov + open + hc", panel, w, "province", "year", regime_col="region",
                      var="dei", draws=200)


def test_wald_against_hand_computation(real_fit):
    r = real_fit
    p, V = r.fit.params, r.fit.cov_params
    groups = r.groups
    for prefix, key in (("", "beta"), ("W*", "theta")):
        c = [prefix + r.columns[g] for g in groups]
        d = np.array([p[c[i]] - p[c[-1]] for i in range(len(c) - 1)])
        R = np.zeros((len(c) - 1, len(c)))
        R[:, :-1] = np.eye(len(c) - 1)
        R[:, -1] = -1
        S = R @ V.loc[c, c].to_numpy() @ R.T
        stat = d @ np.linalg.solve(S, d)
        assert r.wald_tests.loc[key, "stat"] == pytest.approx(stat, rel=1e-8)
        assert r.wald_tests.loc[key, "df"] == len(groups) - 1
        assert r.wald_tests.loc[key, "p"] == pytest.approx(stats.chi2.sf(stat, len(groups) - 1), rel=1e-8)
    assert r.wald.df == 2 * (len(groups) - 1)
    assert set(r.impacts.index) == {"east", "central", "west", "northeast"}


def test_regime_impacts_hand(real_fit, real):
    """Regime-g impacts = means over g's units of diag / column sums of S (beta_g I + theta_g W)."""
    r = real_fit
    _, w = real
    Wd, ids = w.full()
    p = r.fit.params
    panel = sp.data.default_panel()
    reg = panel.drop_duplicates("province").set_index("province")["region"]
    S = np.linalg.inv(np.eye(len(ids)) - p["rho"] * Wd)
    for g in r.groups:
        c = r.columns[g]
        M = S @ (p[c] * np.eye(len(ids)) + p["W*" + c] * Wd)
        idx = [i for i, u in enumerate(ids) if reg[u] == g]
        assert r.impacts.loc[g, "direct"] == pytest.approx(np.diag(M)[idx].mean(), rel=1e-10)
        assert r.impacts.loc[g, "total"] == pytest.approx(M[:, idx].sum(0).mean(), rel=1e-10)
    assert (r.impacts["direct_se"] > 0).all()


def test_wald_linear_simple():
    params = pd.Series([1.0, 2.0, 3.0], index=list("abc"))
    V = pd.DataFrame(np.diag([0.5, 0.5, 1.0]), index=params.index, columns=params.index)
    t = wald_linear(params, V, np.array([[1.0, -1.0, 0.0]]))
    assert t.stat == pytest.approx(1.0) and t.df == 1


def test_equal_effects_not_significant_on_average(cigar):
    """SYNTHETIC: equal regional effects -> Wald rarely rejects; unequal effects -> rejects."""
    _, w = cigar
    ids = w.full()[1]
    groups = np.array(["a", "b", "c"] * 16)[: len(ids)]
    ps = []
    for s in range(12):
        df = sdm_dgp(w, 10, groups, {"a": 1.0, "b": 1.0, "c": 1.0}, {"a": 0.5, "b": 0.5, "c": 0.5}, seed=s)
        r = regime_sdm("y ~ x + z", df, w, "id", "year", regime_col="grp", var="x", draws=20)
        ps.append(r.wald.p)
    ps = np.array(ps)
    assert ps.mean() > 0.3
    assert (ps < 0.05).mean() <= 0.25
    df = sdm_dgp(w, 10, groups, {"a": 0.5, "b": 1.0, "c": 1.5}, {"a": 0.5, "b": 0.5, "c": 0.5}, seed=99)
    r = regime_sdm("y ~ x + z", df, w, "id", "year", regime_col="grp", var="x", draws=20)
    assert r.wald_tests.loc["beta", "p"] < 0.001


def test_subsample_rows_sum_to_one(real):
    panel, w = real
    for g in ("east", "west", "central"):
        s = subsample_sdm("cpi ~ dei + urban + gov + open + hc", panel, w, "province", "year", regime_col="region",
                          group=g)
        Wd = s.w.full()[0]
        np.testing.assert_allclose(Wd.sum(1), 1.0)
        assert s.fit.N == len(s.units) and s.islands == []
        assert set(s.units) == set(panel.loc[panel.region == g, "province"])


def test_islands_reported():
    w = libpysal.weights.lat2W(3, 3)  # ids 0..8, rook
    w.transform = "r"
    # 0 and 2 are corners; with 1 removed they have no neighbour among {0, 2, 4}... 4 neighbours 1,3,5,7
    with pytest.raises(SpecificationError, match=r"islands.*0, 2, 4|0, 2, 4"):
        subset_weights(w, [0, 2, 4])
    ws, isl, dropped = subset_weights(w, [0, 1, 2, 8], islands="drop")
    assert isl == [8] and dropped == [8] and list(ws.id_order) == [0, 1, 2]
    np.testing.assert_allclose(ws.full()[0].sum(1), 1.0)
    # end-to-end: a SYNTHETIC panel on the lattice, dropping the island
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": np.repeat(np.arange(9), 6), "year": np.tile(np.arange(6), 9)})
    df["x"] = rng.normal(size=len(df))
    df["y"] = df["x"] + rng.normal(size=len(df))
    with pytest.raises(SpecificationError, match="8"):
        subsample_sdm("y ~ x", df, w, "id", "year", units=[0, 1, 2, 8])
    s = subsample_sdm("y ~ x", df, w, "id", "year", units=[0, 1, 2, 3, 4, 8], islands="drop")
    assert s.dropped == [8] and 8 not in s.units and s.fit.N == 5


def test_subset_keeps_weights_of_a_distance_matrix():
    """Restricting an inverse-distance W keeps its weights (libpysal's w_subset keeps only the links)."""
    import spillover as sp
    from spillover.analysis.heterogeneity import subset_weights as restrict

    w = sp.weights.build("inverse_distance", power=2, points=sp.data.default_points())
    ids = [i for i in w.id_order if i.startswith(("11", "12", "13", "31", "32", "33"))]
    ws, isl, dropped = restrict(w, ids)
    full = np.asarray(w.full()[0])
    ix = [list(w.id_order).index(i) for i in ids]
    sub = full[np.ix_(ix, ix)]
    np.testing.assert_allclose(ws.full()[0], sub / sub.sum(axis=1, keepdims=True), rtol=1e-12)
    assert isl == [] and dropped == [] and len(set(np.round(ws.full()[0][0, 1:], 12))) > 2
