"""sp.analysis.markov against transition counts computed here by brute force, giddy run directly, and
the numbers printed in giddy's documentation for the US state incomes (usjoin, states48)."""

from __future__ import annotations

import libpysal
import numpy as np
import pandas as pd
import pytest
from giddy.markov import LISA_Markov, Spatial_Markov
from scipy import stats

import spillover as sp
from spillover.analysis import markov
from spillover.errors import SpecificationError, WeightsError

# --------------------------------------------------------------------------- brute force


def quantile_states(y: np.ndarray, k: int) -> np.ndarray:
    """0-based classes of y at its k quantiles (linear interpolation), a value on a cut in the lower class."""
    cuts = np.quantile(y.ravel(), np.arange(1, k) / k)
    return np.searchsorted(cuts, y, side="left")


def count(states: np.ndarray, k: int, cond: np.ndarray | None = None) -> np.ndarray:
    """Transitions (units x periods states) by looping over every unit and step; by the class of cond at t."""
    m = 1 if cond is None else k
    out = np.zeros((m, k, k), dtype=int)
    n, t = states.shape
    for i in range(n):
        for s in range(t - 1):
            out[0 if cond is None else cond[i, s], states[i, s], states[i, s + 1]] += 1
    return out if cond is not None else out[0]


def row_std(a: np.ndarray) -> np.ndarray:
    return a / a.sum(axis=1, keepdims=True)


def homogeneity(T: np.ndarray) -> tuple[float, float, int]:
    """LR and Q of spatial homogeneity with the Bickenbach-Bode degrees of freedom, written out cell by cell."""
    pooled = T.sum(axis=0)
    n_i = pooled.sum(axis=1)
    lr = q = 0.0
    for m in range(T.shape[0]):
        n_im = T[m].sum(axis=1)
        for i in range(T.shape[1]):
            if n_im[i] == 0:
                continue
            for j in range(T.shape[2]):
                p, pm = pooled[i, j] / n_i[i], T[m, i, j] / n_im[i]
                if p > 0:
                    q += n_im[i] * (pm - p) ** 2 / p
                if T[m, i, j] > 0:
                    lr += 2 * T[m, i, j] * np.log(pm / p)
    b = (T.sum(axis=2) > 0).sum(axis=0)
    a = (pooled > 0).sum(axis=1)
    return lr, q, int(((b - 1) * (a - 1)).sum())


def stacked(res) -> np.ndarray:
    """(k, k, k) counts from the stacked spatial table, checking its layout on the way."""
    c = res.spatial.counts
    k = res.k
    assert list(c.columns) == ["lag", "class", *range(1, k + 1)]
    assert c["lag"].tolist() == np.repeat(np.arange(1, k + 1), k).tolist()
    assert c["class"].tolist() == list(range(1, k + 1)) * k
    return c[list(range(1, k + 1))].to_numpy().reshape(k, k, k)


def wide(df, column, entity, time, ids) -> np.ndarray:
    return df.pivot(index=entity, columns=time, values=column).loc[ids].to_numpy(dtype=float)


# --------------------------------------------------------------------------- a panel written by hand

HAND = pd.DataFrame({"unit": list("aaabbbcccddd"), "year": [2001, 2002, 2003] * 4,
                     "x": [1, 5, 9, 2, 3, 12, 10, 4, 6, 11, 8, 7]})
# a - b - c - d on a line
LINE = np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]], dtype=float)


def test_hand_panel_median_split():
    # pooled median of 1..12 is 6.5: a 1,1,2; b 1,1,2; c 2,1,1; d 2,2,2
    r = markov(HAND, "x", "year", k=2, entity="unit")
    assert r.states.to_numpy().tolist() == [[1, 1, 2], [1, 1, 2], [2, 1, 1], [2, 2, 2]]
    assert r.classic.counts.to_numpy().tolist() == [[3, 2], [1, 2]]
    np.testing.assert_allclose(r.classic.probabilities.to_numpy(), [[3 / 5, 2 / 5], [1 / 3, 2 / 3]], rtol=1e-15)
    assert r.table["n"].tolist() == [5, 3]
    assert r.distribution["n_start"].tolist() == [2, 2] and r.distribution["n_end"].tolist() == [1, 3]
    # steady state of [[.6, .4], [1/3, 2/3]]: pi_1 = (1/3) / (0.4 + 1/3) = 5/11
    np.testing.assert_allclose(r.distribution["steady_state"], [5 / 11, 6 / 11], rtol=1e-12)
    assert r.spatial is None and r.lisa is None and r.tests.empty
    assert r.cuts.loc["all", "c1"] == 6.5


def test_hand_panel_quartiles_and_cut_points():
    # quartiles of 1..12: 3.75, 6.5, 9.25
    r = markov(HAND, "x", "year", entity="unit")
    assert r.cuts.loc["all"].tolist() == [3.75, 6.5, 9.25]
    y = wide(HAND, "x", "unit", "year", list("abcd"))
    s = quantile_states(y, 4)
    assert (r.states.to_numpy() == s + 1).all()
    assert (r.classic.counts.to_numpy() == count(s, 4)).all()
    # a value on a cut point falls in the lower class: 5 -> 1, 9 -> 2
    c = markov(HAND, "x", "year", k=3, entity="unit", classes=[5, 9])
    assert c.rule == "cuts"
    assert c.states.loc["a"].tolist() == [1, 1, 2] and c.states.loc["c"].tolist() == [3, 1, 2]
    assert (c.classic.counts.to_numpy() == count(np.searchsorted([5, 9], y, side="left"), 3)).all()


def test_hand_panel_spatial_against_brute_force_and_giddy():
    r = markov(HAND, "x", "year", k=2, w=(LINE, list("abcd")), entity="unit")
    y = wide(HAND, "x", "unit", "year", list("abcd"))
    lag = row_std(LINE) @ y   # a: b; b: (a + c)/2; c: (b + d)/2; d: c
    np.testing.assert_allclose(lag[:, 0], [2, 5.5, 6.5, 10])
    ls = quantile_states(lag, 2)
    assert (r.spatial.lag_states.to_numpy() == ls + 1).all()
    T = count(quantile_states(y, 2), 2, ls)
    assert (stacked(r) == T).all()
    assert T.sum() == 8 and (T.sum(axis=0) == r.classic.counts.to_numpy()).all()
    wl = libpysal.weights.full2W(LINE, ids=list("abcd"))
    wl.transform = "r"
    sm = Spatial_Markov(y, wl, k=2, m=2, fixed=True)
    assert (sm.T == T).all()
    lr, q, df = homogeneity(T)
    assert r.tests.loc["LR", "statistic"] == pytest.approx(lr, rel=1e-12, abs=1e-12)
    assert r.tests.loc["Q", "statistic"] == pytest.approx(q, rel=1e-12, abs=1e-12)
    assert r.tests.loc["LR", "df"] == r.tests.loc["Q", "df"] == df


# --------------------------------------------------------------------------- the study panel


@pytest.fixture(scope="module")
def study():
    panel = sp.data.default_panel()
    w = sp.weights.contiguity(sp.data.default_geometry(), id_col="adcode")
    return panel, w


@pytest.fixture(scope="module")
def dei(study):
    panel, w = study
    return markov(panel, "dei", "year", w=w, entity="province")


def test_study_panel_classic_chain_equals_brute_force(study, dei):
    panel, w = study
    y = wide(panel, "dei", "province", "year", w.id_order)
    s = quantile_states(y, 4)
    assert (dei.states.to_numpy() == s + 1).all()
    assert list(dei.states.index) == list(w.id_order) and list(dei.states.columns) == list(range(2013, 2023))
    counts = count(s, 4)
    assert (dei.classic.counts.to_numpy() == counts).all() and counts.sum() == 31 * 9
    np.testing.assert_allclose(dei.classic.probabilities.to_numpy(), row_std(counts), rtol=1e-15, atol=0)
    assert (dei.table["n"].to_numpy() == counts.sum(axis=1)).all()
    assert (dei.distribution["n_start"].to_numpy() == np.bincount(s[:, 0], minlength=4)).all()
    assert (dei.distribution["n_end"].to_numpy() == np.bincount(s[:, -1], minlength=4)).all()
    p = dei.classic.probabilities.to_numpy()
    pi = dei.distribution["steady_state"].to_numpy()
    np.testing.assert_allclose(pi @ p, pi, atol=1e-12)
    assert pi.sum() == pytest.approx(1.0)


def test_study_panel_per_period_classes(study):
    panel, w = study
    r = markov(panel, "cpi", "year", entity="province", classes="period")
    y = wide(panel, "cpi", "province", "year", sorted(panel["province"].unique()))
    s = np.column_stack([quantile_states(y[:, j], 4) for j in range(y.shape[1])])
    assert (r.states.to_numpy() == s + 1).all()
    assert (r.classic.counts.to_numpy() == count(s, 4)).all()
    assert list(r.cuts.index) == list(range(2013, 2023))
    assert (np.bincount(s.ravel(), minlength=4) >= 7 * 10).all()  # each period's quartiles hold 7 or 8 of 31


def test_study_panel_spatial_markov_equals_giddy_and_brute_force(study, dei):
    panel, w = study
    y = wide(panel, "dei", "province", "year", w.id_order)
    wr = libpysal.weights.full2W(w.sparse.toarray(), ids=w.id_order)
    wr.transform = "r"
    sm = Spatial_Markov(y, wr, k=4, m=4, fixed=True)
    T = stacked(dei)
    assert (T == sm.T).all()
    lag = row_std(w.sparse.toarray()) @ y
    assert (T == count(quantile_states(y, 4), 4, quantile_states(lag, 4))).all()
    probs = dei.spatial.table[list(range(1, 5))].to_numpy().reshape(4, 4, 4)
    n = dei.spatial.table["n"].to_numpy().reshape(4, 4)
    assert (n == T.sum(axis=2)).all()
    assert np.isnan(probs[n == 0]).all()
    np.testing.assert_allclose(probs[n > 0], sm.P[n > 0], rtol=1e-15, atol=0)
    for name, stat, p in (("LR", sm.LR, sm.LR_p_value), ("Q", sm.Q, sm.Q_p_value)):
        assert dei.tests.loc[name, "statistic"] == pytest.approx(stat, rel=1e-14)
        assert dei.tests.loc[name, "p"] == pytest.approx(p, rel=1e-12)
        assert dei.tests.loc[name, "df"] == sm.dof_hom
    lr, q, df = homogeneity(T)
    assert dei.tests.loc["LR", "statistic"] == pytest.approx(lr, rel=1e-12)
    assert dei.tests.loc["Q", "statistic"] == pytest.approx(q, rel=1e-12)
    assert dei.tests.loc["Q", "statistic"] == pytest.approx(sm.x2, rel=1e-12)  # Rey's (2001) sum of chi2
    assert dei.tests.loc["Q", "df"] == df


def test_study_panel_lisa_markov_equals_giddy_and_brute_force(study, dei):
    panel, w = study
    y = wide(panel, "dei", "province", "year", w.id_order)
    wr = libpysal.weights.full2W(w.sparse.toarray(), ids=w.id_order)
    wr.transform = "r"
    lm = LISA_Markov(y, wr)
    assert (dei.lisa.transitions.counts.to_numpy() == lm.transitions).all()
    z = (y - y.mean(axis=0)) / y.std(axis=0)
    lz = row_std(w.sparse.toarray()) @ z
    quad = np.where(z > 0, np.where(lz > 0, 0, 3), np.where(lz > 0, 1, 2))   # HH, LH, LL, HL
    assert (dei.lisa.quadrants.to_numpy() == np.array(["HH", "LH", "LL", "HL"])[quad]).all()
    T = count(quad, 4)
    assert (dei.lisa.transitions.counts.to_numpy() == T).all()
    # independence of own and neighbours' moves, written out: E_ab = n_a p_own(a->b) p_lag(a->b)
    own, nb = np.array([0, 1, 1, 0]), np.array([0, 0, 1, 1])      # 0 = high, per quadrant HH, LH, LL, HL
    p_own, p_lag = row_std(count(own[quad], 2)), row_std(count(nb[quad], 2))
    E = np.array([[T[a].sum() * p_own[own[a], own[b]] * p_lag[nb[a], nb[b]] for b in range(4)] for a in range(4)])
    np.testing.assert_allclose(dei.lisa.expected.to_numpy(), E, rtol=1e-13, atol=1e-13)
    stat = sum((T[a, b] - E[a, b]) ** 2 / E[a, b] for a in range(4) for b in range(4) if E[a, b] > 0)
    assert dei.tests.loc["lisa_chi2", "statistic"] == pytest.approx(stat, rel=1e-12)
    assert dei.tests.loc["lisa_chi2", "df"] == 9
    assert dei.tests.loc["lisa_chi2", "p"] == pytest.approx(stats.chi2.sf(stat, 9), rel=1e-6, abs=1e-300)
    moves = dei.lisa.moves
    assert moves["n"].sum() == 31 * 9 and moves.loc["0", "n"] == np.trace(T)
    # type I: own class changes, lag class does not (HH<->LH, LL<->HL)
    assert moves.loc["I", "n"] == T[0, 1] + T[1, 0] + T[2, 3] + T[3, 2]


def test_giddys_lisa_chi2_depends_on_the_unit_order(study):
    """Why the LISA independence test is computed here: giddy 2.3.8's chi_2 runs its two-state chains over the
    transposed array, so listing the units in another order changes it. When this fails, giddy has been fixed
    and its chi_2 can be used again (it should then equal the statistic above)."""
    panel, w = study
    y = wide(panel, "dei", "province", "year", w.id_order)
    dense = w.sparse.toarray()
    order = np.random.default_rng(5).permutation(len(y))
    values = []
    for idx in (np.arange(len(y)), order):
        wr = libpysal.weights.full2W(dense[np.ix_(idx, idx)], ids=[w.id_order[i] for i in idx])
        wr.transform = "r"
        values.append(LISA_Markov(y[idx], wr).chi_2[0])
    assert abs(values[0] - values[1]) > 1.0


def test_ids_in_another_order_give_the_same_tables(study, dei, permuted):
    panel, w = study
    r = markov(panel.sample(frac=1, random_state=3), "dei", "year", w=permuted(w, 11), entity="province")
    pd.testing.assert_frame_equal(r.spatial.counts, dei.spatial.counts)
    pd.testing.assert_frame_equal(r.tests, dei.tests, rtol=1e-12)
    pd.testing.assert_frame_equal(r.lisa.transitions.counts, dei.lisa.transitions.counts)
    pd.testing.assert_frame_equal(r.states.loc[dei.states.index], dei.states)


def test_summary_and_w_left_unchanged(study, dei):
    panel, w = study
    binary = sp.weights.contiguity(sp.data.default_geometry(), id_col="adcode")
    binary.transform = "o"
    before = binary.sparse.toarray().copy()
    r = markov(panel, "dei", "year", w=binary, entity="province")
    assert binary.transform.lower() == "o" and (binary.sparse.toarray() == before).all()
    pd.testing.assert_frame_equal(r.spatial.counts, dei.spatial.counts)  # W is row-standardised inside
    text = dei.summary()
    for part in ("Markov chain of dei", "31 units", "2013-2022", "pooled quantiles", "Spatial Markov", "LISA",
                 "LR", "lisa_chi2"):
        assert part in text
    assert repr(dei) == text


# --------------------------------------------------------------------------- giddy's documented example


def test_us_incomes_match_giddys_documented_numbers():
    f = pd.read_csv(libpysal.examples.get_path("usjoin.csv"))
    years = [str(y) for y in range(1929, 2010)]
    rel = f[years] / f[years].mean(axis=0)
    long = rel.assign(state=[str(i) for i in range(len(f))]).melt(id_vars="state", var_name="year", value_name="r")
    long["year"] = long["year"].astype(int)
    w = libpysal.io.open(libpysal.examples.get_path("states48.gal")).read()
    r = markov(long, "r", "year", w=w, entity="state")
    assert r.classic.counts.to_numpy().tolist() == [[884, 77, 4, 0], [68, 794, 87, 3], [1, 92, 815, 51],
                                                    [1, 0, 60, 903]]
    assert stacked(r)[0].tolist() == [[562, 22, 1, 0], [12, 201, 22, 0], [0, 17, 97, 4], [0, 0, 3, 19]]
    # LISA Markov of the levels (pci), not the relative incomes: the quadrants are the same
    assert r.lisa.transitions.counts.to_numpy().tolist() == [[1087, 44, 4, 34], [41, 470, 36, 1],
                                                             [5, 34, 1422, 39], [30, 1, 40, 552]]


# --------------------------------------------------------------------------- errors


def test_errors_name_the_unit_period_and_option(study):
    panel, w = study
    with pytest.raises(SpecificationError, match=r"option='entity'.*Hint: pass entity=.*'province'"):
        markov(panel, "dei", "year")
    with pytest.raises(SpecificationError, match=r"column 'deii' is not a column.*option='column'"):
        markov(panel, "deii", "year", entity="province")
    with pytest.raises(SpecificationError, match=r"not numeric.*column='province_en'"):
        markov(panel, "province_en", "year", entity="province")
    holed = panel.drop(panel.index[(panel["province"] == "420000") & (panel["year"] == 2016)])
    with pytest.raises(SpecificationError, match=r"unbalanced panel: 1 .*unit='420000', period=2016"):
        markov(holed, "dei", "year", entity="province")
    gap = panel.copy()
    gap.loc[(gap["province"] == "310000") & (gap["year"] == 2020), "dei"] = np.nan
    with pytest.raises(SpecificationError, match=r"missing or non-finite.*column='dei', unit='310000', period=2020"):
        markov(gap, "dei", "year", w=w, entity="province")
    with pytest.raises(SpecificationError, match=r"duplicate rows.*\('110000', 2013\)"):
        markov(pd.concat([panel, panel.iloc[:1]]), "dei", "year", entity="province")
    with pytest.raises(SpecificationError, match=r"not equally spaced.*column='year'"):
        markov(panel[panel["year"] != 2015], "dei", "year", entity="province")
    with pytest.raises(SpecificationError, match=r"at least 2 periods"):
        markov(panel[panel["year"] == 2015], "dei", "year", entity="province")
    with pytest.raises(WeightsError, match=r"w ids missing from the data: '650000'.*column='province'"):
        markov(panel[panel["province"] != "650000"], "dei", "year", w=w, entity="province")


def test_errors_on_options():
    for k in (1, 2.5, True, "4"):
        with pytest.raises(SpecificationError, match=r"option='k'"):
            markov(HAND, "x", "year", k=k, entity="unit")
    with pytest.raises(SpecificationError, match=r"classes='quartile' is not supported.*option='classes'"):
        markov(HAND, "x", "year", entity="unit", classes="quartile")
    with pytest.raises(SpecificationError, match=r"2 cut points make 3 classes but k=4.*pass k=3"):
        markov(HAND, "x", "year", entity="unit", classes=[3, 6])
    with pytest.raises(SpecificationError, match=r"finite and increasing.*option='classes'"):
        markov(HAND, "x", "year", k=3, entity="unit", classes=[6, 3])
    ties = HAND.assign(x=[1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 4])
    with pytest.raises(SpecificationError, match=r"quantiles of the pooled values are not distinct.*option='k'"):
        markov(ties, "x", "year", entity="unit")
    island = LINE.copy()
    island[3, 2] = island[2, 3] = 0
    with pytest.raises(WeightsError, match=r"without neighbours in w: 'd'"):
        markov(HAND, "x", "year", k=2, w=(island, list("abcd")), entity="unit")
    with pytest.raises(WeightsError, match=r"needs its ids"):
        markov(HAND, "x", "year", k=2, w=LINE, entity="unit")
