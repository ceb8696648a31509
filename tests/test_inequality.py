"""Tests for the Dagum Gini, Theil and CV regional-gap measures.

The reference values are brute-force double sums over all pairs of units,
written out here from the formulas of Dagum (1997, Empirical Economics 22,
515-531) and Theil/Shorrocks, independently of the sorting used by the module.
Data labelled SYNTHETIC are made up here.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import spillover as sp
from spillover.analysis.inequality import _pair_sums, dagum, gini, theil, variation
from spillover.errors import SpecificationError

TOL = 1e-12


# --------------------------------------------------------------------------- brute-force references

def brute_dagum(y: np.ndarray, g: np.ndarray) -> dict:
    """Dagum (1997) by explicit loops over units; groups ordered by decreasing mean."""
    y, g = np.asarray(y, float), np.asarray(g)
    n, mu = len(y), y.mean()
    groups = sorted(set(g), key=lambda lab: -y[g == lab].mean())
    ys = {lab: y[g == lab] for lab in groups}
    total = sum(abs(a - b) for a in y for b in y)
    G = total / (2 * n ** 2 * mu)
    p = {lab: len(ys[lab]) / n for lab in groups}
    s = {lab: len(ys[lab]) * ys[lab].mean() / (n * mu) for lab in groups}
    Gjj = {}
    for lab in groups:
        x = ys[lab]
        Gjj[lab] = sum(abs(a - b) for a in x for b in x) / (2 * len(x) ** 2 * x.mean()) if x.mean() > 0 else 0.0
    G_w = sum(Gjj[lab] * p[lab] * s[lab] for lab in groups)
    Gjh, Djh, G_nb, G_t = {}, {}, 0.0, 0.0
    for a, j in enumerate(groups):
        for h in groups[a + 1:]:
            xj, xh = ys[j], ys[h]
            nn = len(xj) * len(xh)
            total_jh = sum(abs(u - v) for u in xj for v in xh)
            Gjh[j, h] = total_jh / (nn * (xj.mean() + xh.mean())) if total_jh > 0 else 0.0   # all equal: 0
            d = sum(max(u - v, 0.0) for u in xj for v in xh) / nn
            q = sum(max(v - u, 0.0) for u in xj for v in xh) / nn
            Djh[j, h] = (d - q) / (d + q) if d + q > 0 else 0.0
            w = p[j] * s[h] + p[h] * s[j]
            G_nb += Gjh[j, h] * w * Djh[j, h]
            G_t += Gjh[j, h] * w * (1 - Djh[j, h])
    return {"G": G, "G_w": G_w, "G_nb": G_nb, "G_t": G_t, "Gjj": Gjj, "Gjh": Gjh, "Djh": Djh}


def brute_theil(y: np.ndarray, g: np.ndarray) -> dict:
    """Theil T and its within/between parts by the textbook formulas (0 ln 0 = 0)."""
    def t_index(x):
        m = x.mean()
        return sum((v / m) * np.log(v / m) for v in x if v > 0) / len(x)

    y, g = np.asarray(y, float), np.asarray(g)
    mu = y.mean()
    within = between = 0.0
    for lab in set(g):
        x = y[g == lab]
        s = x.sum() / y.sum()
        if s > 0:
            within += s * t_index(x)
            between += s * np.log(x.mean() / mu)
    return {"T": t_index(y), "within": within, "between": between}


def one_period(y, g, t=2020) -> pd.DataFrame:
    return pd.DataFrame({"v": np.asarray(y, float), "grp": list(g), "year": t})


HAND_Y = [1.0, 2.0, 3.0, 10.0, 5.0, 6.0, 0.5, 4.0, 2.0]          # SYNTHETIC: 3 groups of sizes 4, 2, 3
HAND_G = ["a"] * 4 + ["b"] * 2 + ["c"] * 3


@pytest.fixture(scope="module")
def panel():
    return sp.data.default_panel()


# --------------------------------------------------------------------------- Dagum

def test_dagum_closed_form_two_groups():
    # A = [4, 6], B = [1]: G = 10/33, G_w = 2/33, G_nb = 8/33 (D = 1: no overlap), G_t = 0
    res = dagum(one_period([4, 6, 1], "AAB"), "v", "grp", "year")
    row = res.summary.iloc[0]
    assert row["G"] == pytest.approx(10 / 33, abs=TOL)
    assert row["G_w"] == pytest.approx(2 / 33, abs=TOL)
    assert row["G_nb"] == pytest.approx(8 / 33, abs=TOL)
    assert row["G_t"] == pytest.approx(0.0, abs=TOL)
    b = res.between.iloc[0]
    assert (b["group_j"], b["group_h"]) == ("A", "B")
    assert b["gini"] == pytest.approx(2 / 3, abs=TOL) and b["D"] == pytest.approx(1.0, abs=TOL)
    assert res.within.set_index("group").loc["B", "gini"] == 0.0      # one-unit group: G_jj = 0


def test_dagum_closed_form_equal_means():
    # A = [1, 3], B = [2]: equal means, D = 0, everything between is transvariation
    row = dagum(one_period([1, 3, 2], "AAB"), "v", "grp", "year").summary.iloc[0]
    assert (row["G"], row["G_w"], row["G_nb"], row["G_t"]) == pytest.approx((2 / 9, 1 / 9, 0, 1 / 9), abs=TOL)


def test_dagum_hand_example_against_brute_force():
    res = dagum(one_period(HAND_Y, HAND_G), "v", "grp", "year")
    ref = brute_dagum(HAND_Y, HAND_G)
    row = res.summary.iloc[0]
    for k in ("G", "G_w", "G_nb", "G_t"):
        assert abs(row[k] - ref[k]) < TOL, k
    assert abs(row["G_w"] + row["G_nb"] + row["G_t"] - row["G"]) < TOL
    assert list(res.within["group"]) == ["b", "a", "c"]              # ordered by mean: 5.5, 4, 2.17
    for _, r in res.within.iterrows():
        assert abs(r["gini"] - ref["Gjj"][r["group"]]) < TOL
    assert len(res.between) == 3
    for _, r in res.between.iterrows():
        assert abs(r["gini"] - ref["Gjh"][r["group_j"], r["group_h"]]) < TOL
        assert abs(r["D"] - ref["Djh"][r["group_j"], r["group_h"]]) < TOL
        assert 0 <= r["D"] <= 1
    assert abs(res.within["contribution"].sum() - row["G_w"]) < TOL
    assert abs(res.between["nb"].sum() - row["G_nb"]) < TOL
    assert abs(res.between["t"].sum() - row["G_t"]) < TOL
    assert row[["share_w", "share_nb", "share_t"]].sum() == pytest.approx(1.0, abs=TOL)


@pytest.mark.parametrize("col", ["dei", "cpi"])
def test_dagum_bundled_panel_every_year(panel, col):
    res = dagum(panel, col, "region", "year")
    years = sorted(panel["year"].unique())
    assert list(res.summary["year"]) == years
    worst = 0.0
    for year, d in panel.groupby("year"):
        ref = brute_dagum(d[col].to_numpy(), d["region"].to_numpy())
        row = res.summary.set_index("year").loc[year]
        for k in ("G", "G_w", "G_nb", "G_t"):
            worst = max(worst, abs(row[k] - ref[k]))
        worst = max(worst, abs(row["G_w"] + row["G_nb"] + row["G_t"] - row["G"]))
        y = d[col].to_numpy()
        plain = np.abs(y[:, None] - y[None, :]).mean() / (2 * y.mean())    # mean absolute difference / 2 mean
        worst = max(worst, abs(row["G"] - plain))
        w = res.within[res.within["year"] == year].set_index("group")["gini"]
        for lab, v in ref["Gjj"].items():
            worst = max(worst, abs(w[lab] - v))
        b = res.between[res.between["year"] == year].set_index(["group_j", "group_h"])
        assert len(b) == 6
        for pair, v in ref["Gjh"].items():
            worst = max(worst, abs(b.loc[pair, "gini"] - v), abs(b.loc[pair, "D"] - ref["Djh"][pair]))
    assert worst < TOL
    assert (res.summary["k"] == 4).all() and (res.summary["n"] == 31).all()


@given(st.lists(st.tuples(st.floats(0, 100, allow_nan=False), st.integers(0, 3)), min_size=2, max_size=14))
def test_dagum_identity_property(pairs):
    y = np.array([p[0] for p in pairs])
    g = np.array([f"g{p[1]}" for p in pairs])
    if y.sum() <= 0:
        return
    row = dagum(one_period(y, g), "v", "grp", "year").summary.iloc[0]
    ref = brute_dagum(y, g)
    for k in ("G", "G_w", "G_nb", "G_t"):
        assert abs(row[k] - ref[k]) < 1e-10
    assert abs(row["G_w"] + row["G_nb"] + row["G_t"] - row["G"]) < TOL


def test_pair_sums_match_broadcasting():
    rng = np.random.default_rng(0)
    a, b = rng.gamma(2, size=7), np.r_[rng.gamma(2, size=5), 1.0, 1.0]
    a[0] = 1.0                                                        # ties
    diff = a[:, None] - b[None, :]
    plus, minus = _pair_sums(a, b)
    assert plus == pytest.approx(np.clip(diff, 0, None).sum(), abs=TOL)
    assert minus == pytest.approx(np.clip(-diff, 0, None).sum(), abs=TOL)
    assert gini(a) == pytest.approx(np.abs(a[:, None] - a).sum() / (2 * a.size ** 2 * a.mean()), abs=TOL)


def test_dagum_single_group_period():
    res = dagum(one_period([1, 2, 4], "AAA"), "v", "grp", "year")
    row = res.summary.iloc[0]
    assert row["G_w"] == pytest.approx(row["G"], abs=TOL) and row["G_nb"] == 0 and row["G_t"] == 0
    assert res.between.empty and list(res.between.columns)[:3] == ["year", "group_j", "group_h"]


# --------------------------------------------------------------------------- Theil and CV

def test_theil_hand_example_and_zero_values():
    for y in (HAND_Y, [0.0, 0.0, 1.0, 3.0, 2.0, 0.0, 5.0, 1.0, 1.0]):   # second: zeros, 0 ln 0 = 0
        row = theil(one_period(y, HAND_G), "v", "grp", "year").summary.iloc[0]
        ref = brute_theil(np.array(y), np.array(HAND_G))
        for k in ("T", "within", "between"):
            assert abs(row[k] - ref[k]) < TOL, k
        assert abs(row["within"] + row["between"] - row["T"]) < TOL
    # closed form: y = [1, 3] in one group: T = (0.5 ln 0.5 + 1.5 ln 1.5) / 2
    row = theil(one_period([1, 3], "AA"), "v", "grp", "year").summary.iloc[0]
    assert row["T"] == pytest.approx((0.5 * np.log(0.5) + 1.5 * np.log(1.5)) / 2, abs=TOL)


@pytest.mark.parametrize("col", ["dei", "cpi"])
def test_theil_bundled_panel_every_year(panel, col):
    res = theil(panel, col, "region", "year")
    worst = 0.0
    for year, d in panel.groupby("year"):
        ref = brute_theil(d[col].to_numpy(), d["region"].to_numpy())
        row = res.summary.set_index("year").loc[year]
        for k in ("T", "within", "between"):
            worst = max(worst, abs(row[k] - ref[k]))
        worst = max(worst, abs(row["within"] + row["between"] - row["T"]))
        w = res.within[res.within["year"] == year]
        worst = max(worst, abs(w["contribution"].sum() - row["within"]), abs(w["between"].sum() - row["between"]))
    assert worst < TOL
    try:                                                             # optional cross-check with PySAL inequality
        from inequality.theil import TheilD
    except ImportError:
        return
    for year, d in panel.groupby("year"):
        td = TheilD(d[col].to_numpy(), d["region"].to_numpy())
        row = res.summary.set_index("year").loc[year]
        assert abs(float(np.ravel(td.T)[0]) - row["T"]) < TOL
        assert abs(float(np.ravel(td.bg)[0]) - row["between"]) < TOL


@pytest.mark.parametrize("ddof", [0, 1])
def test_variation_matches_numpy(panel, ddof):
    res = variation(panel, "dei", "year", ddof=ddof).set_index("year")
    for year, d in panel.groupby("year"):
        y = d["dei"].to_numpy()
        assert abs(res.loc[year, "cv"] - np.std(y, ddof=ddof) / np.mean(y)) < TOL
        assert res.loc[year, "n"] == 31


# --------------------------------------------------------------------------- bad input

def _bad(df, match, fn=dagum):
    args = ("v", "year") if fn is variation else ("v", "grp", "year")
    with pytest.raises(SpecificationError, match=match):
        fn(df, *args)


@pytest.mark.parametrize("fn", [dagum, theil, variation])
def test_bad_input(fn):
    good = pd.DataFrame({"v": [1.0, 2.0, 3.0, 4.0], "grp": list("AABB"), "year": [1, 1, 2, 2]})
    _bad(good.drop(columns="v"), r"column not in the data \[column='v'\]", fn)
    _bad(good.assign(v=["1", "x", "3", "4"]), r"non-numeric value \[column='v', period=1, value='x'\]", fn)
    _bad(good.assign(v=[1.0, np.nan, 3.0, 4.0]), r"missing value \[column='v', period=1\]", fn)
    _bad(good.assign(v=[1.0, 2.0, np.inf, 4.0]), r"infinite value \[column='v', period=2\]", fn)
    _bad(good.assign(v=[True, False, True, True]), "not numeric", fn)
    _bad(good.assign(v=[1.0, 2.0, -1e-9, 4.0]), r"negative value \[column='v', period=2", fn)
    _bad(good.assign(v=[0.0, 0.0, 3.0, 4.0]), r"all values are zero \[column='v', period=1\]", fn)
    one_unit = pd.concat([good, good.iloc[[0]].assign(year=3)])
    _bad(one_unit, r"fewer than two units in the period \[column='v', period=3\]", fn)
    _bad(good.assign(year=[1, np.nan, 2, 2]), r"missing time label", fn)
    _bad(good["v"], "must be a pandas DataFrame", fn)
    with pytest.raises(SpecificationError, match="Hint:"):
        fn(good.assign(v=[1.0, 2.0, -3.0, 4.0]), *(("v", "year") if fn is variation else ("v", "grp", "year")))


def test_bad_group_and_options():
    good = pd.DataFrame({"v": [1.0, 2.0, 3.0, 4.0], "grp": ["A", None, "B", "B"], "year": [1, 1, 2, 2]})
    _bad(good, r"missing group label \[column='grp', period=1\]")
    _bad(good, r"missing group label", theil)
    with pytest.raises(SpecificationError, match="different columns"):
        dagum(good, "v", "v", "year")
    with pytest.raises(SpecificationError, match="ddof"):
        variation(good, "v", "year", ddof=2)


def test_exported_from_package():
    assert sp.analysis.dagum is dagum and sp.analysis.theil is theil and sp.analysis.variation is variation


def test_group_with_one_unit_allowed():
    res = dagum(one_period([1.0, 2.0, 7.0], ["A", "A", "B"]), "v", "grp", "year")
    assert res.within.set_index("group").loc["B", "gini"] == 0.0
    s = res.summary.iloc[0]
    assert abs(s["G_w"] + s["G_nb"] + s["G_t"] - s["G"]) < TOL
    assert list(itertools.chain(res.between[["group_j", "group_h"]].iloc[0])) == ["B", "A"]
