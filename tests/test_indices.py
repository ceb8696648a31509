"""Composite indices: entropy weights, entropy-TOPSIS, PCA."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from spillover.errors import DataError, SpecificationError
from spillover.indices import EntropyIndex, IndexResult, PCAIndex, TopsisIndex, entropy_weights, minmax_normalize


@pytest.fixture
def small():
    # a: benefit indicator, b: cost indicator
    return pd.DataFrame({"a": [1.0, 2.0, 4.0], "b": [10.0, 20.0, 30.0]}, index=["r1", "r2", "r3"])


def hand_entropy(columns_p):
    """e_j = -(1/ln n) sum_i p_ij ln p_ij with 0 ln 0 = 0, written out."""
    n = len(columns_p[0])
    es = [-sum(p * math.log(p) for p in col if p > 0) / math.log(n) for col in columns_p]
    ds = [1 - e for e in es]
    return [d / sum(ds) for d in ds]


def test_entropy_by_hand_without_shift(small):
    # a (+): z = (x - 1) / 3 = [0, 1/3, 1], p = z / (4/3) = [0, 1/4, 3/4]
    # b (-): z = (30 - x) / 20 = [1, 1/2, 0], p = z / (3/2) = [2/3, 1/3, 0]
    w_a, w_b = hand_entropy([[0, 1 / 4, 3 / 4], [2 / 3, 1 / 3, 0]])
    res = EntropyIndex(shift=0).fit(small, ["a", "b"], directions=["+", "-"])
    assert res.weights["weight"].tolist() == pytest.approx([w_a, w_b], abs=1e-12)
    expected = [0 * w_a + 1 * w_b, (1 / 3) * w_a + 0.5 * w_b, 1 * w_a + 0 * w_b]
    assert res.scores.tolist() == pytest.approx(expected, abs=1e-12)
    assert list(res.scores.index) == ["r1", "r2", "r3"]
    # entropy column: e_a = -(1/ln 3)(1/4 ln 1/4 + 3/4 ln 3/4)
    e_a = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75)) / math.log(3)
    assert res.weights["entropy"].iloc[0] == pytest.approx(e_a)
    assert res.weights["divergence"].iloc[0] == pytest.approx(1 - e_a)


def test_entropy_by_hand_with_shift(small):
    s = 0.01
    za, zb = [0 + s, 1 / 3 + s, 1 + s], [1 + s, 0.5 + s, 0 + s]
    pa, pb = [z / sum(za) for z in za], [z / sum(zb) for z in zb]
    w = hand_entropy([pa, pb])
    res = EntropyIndex(shift=s).fit(small, ["a", "b"], directions={"a": "+", "b": "-"})
    assert res.weights["weight"].tolist() == pytest.approx(w, abs=1e-12)
    # scores use the unshifted normalised values, so they stay in [0, 1]
    assert res.scores.tolist() == pytest.approx([w[1], w[0] / 3 + w[1] / 2, w[0]], abs=1e-12)
    assert res.params == {"pooling": "panel", "shift": 0.01}


def test_entropy_weights_function_matches_class(small):
    Z = minmax_normalize(small.to_numpy(), np.array([1.0, -1.0]))
    w, e, d = entropy_weights(Z, shift=1e-4)
    res = EntropyIndex().fit(small, ["a", "b"], ["+", "-"])
    assert np.allclose(w, res.weights["weight"]) and np.allclose(e, res.weights["entropy"])
    assert w.sum() == pytest.approx(1.0)


@pytest.fixture
def panel():
    rng = np.random.default_rng(7)
    n, years = 12, [2019, 2020, 2021]
    rows = []
    for y in years:
        for i in range(n):
            base = rng.normal(size=1)[0]
            rows.append({"unit": f"u{i}", "year": y, "x1": 5 + base + rng.normal(0, 0.3), "x2": rng.lognormal(1, 0.5),
                         "x3": 3 - base + rng.normal(0, 0.3), "x4": rng.uniform(0, 10), "x5": base * 2 + rng.normal()})
    return pd.DataFrame(rows)


SPEC = {
    "indicators": ["x1", "x2", "x3", "x4", "x5"],
    "directions": {"x1": "+", "x2": "+", "x3": "-", "x4": "+", "x5": "+"},
    "dimensions": {"x1": "econ", "x2": "econ", "x3": "social", "x4": "social", "x5": "green"},
}


@pytest.mark.parametrize("model", [EntropyIndex(), EntropyIndex(shift=0.01), TopsisIndex(), PCAIndex(),
                                   TopsisIndex(weights="equal")])
def test_common_properties(model, panel):
    res = model.fit(panel, **SPEC)
    assert isinstance(res, IndexResult)
    assert res.scores.index.equals(panel.index)
    assert res.scores.between(0, 1).all()
    assert res.weights["weight"].sum() == pytest.approx(1.0)
    assert list(res.weights["indicator"]) == SPEC["indicators"]
    assert list(res.weights["direction"]) == ["+", "+", "-", "+", "+"]
    assert list(res.dimensions.columns) == ["econ", "social", "green"]
    assert ((res.dimensions >= 0) & (res.dimensions <= 1)).all().all()
    frame = res.frame("idx")
    assert list(frame.columns) == ["idx", "idx_econ", "idx_social", "idx_green"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.method = "other"


@pytest.mark.parametrize("model", [EntropyIndex(), TopsisIndex(), PCAIndex()])
def test_invariance_to_row_order(model, panel):
    a = model.fit(panel, **SPEC)
    shuffled = panel.sample(frac=1.0, random_state=3)
    b = model.fit(shuffled, **SPEC)
    assert np.allclose(a.scores, b.scores.reindex(panel.index))
    assert np.allclose(a.weights["weight"], b.weights["weight"])
    assert np.allclose(a.dimensions, b.dimensions.reindex(panel.index))


@pytest.mark.parametrize("model", [EntropyIndex(), TopsisIndex(), PCAIndex()])
def test_direction_handling(model, panel):
    """A cost indicator equals the negated indicator treated as a benefit."""
    flipped = panel.assign(x3=-panel["x3"])
    a = model.fit(panel, **SPEC)
    b = model.fit(flipped, SPEC["indicators"], directions={**SPEC["directions"], "x3": "+"},
                  dimensions=SPEC["dimensions"])
    assert np.allclose(a.scores, b.scores)
    assert np.allclose(a.weights["weight"], b.weights["weight"])


def test_cost_indicator_normalisation():
    X = np.array([[1.0, 1.0], [2.0, 2.0], [4.0, 4.0]])
    Z = minmax_normalize(X, np.array([1.0, -1.0]))
    assert np.allclose(Z[:, 0], [0, 1 / 3, 1]) and np.allclose(Z[:, 1], [1, 2 / 3, 0])
    # with fixed weights, the unit with the highest cost indicator scores lowest
    df = pd.DataFrame({"good": [1.0, 1.0, 1.0, 2.0], "bad": [1.0, 2.0, 3.0, 1.5]})
    res = TopsisIndex(weights="equal").fit(df, ["good", "bad"], ["+", "-"])
    assert res.scores.idxmin() == 2 and res.scores.idxmax() == 3


def test_entropy_dimension_scores_recompose_total(panel):
    res = EntropyIndex().fit(panel, **SPEC)
    w = res.weights.groupby("dimension", sort=False)["weight"].sum()
    recomposed = sum(res.dimensions[d] * w[d] for d in res.dimensions.columns)
    assert np.allclose(recomposed, res.scores)


def test_entropy_default_dimension_and_directions(panel):
    res = EntropyIndex().fit(panel, ["x1", "x2"])
    assert list(res.dimensions.columns) == ["total"]
    assert np.allclose(res.dimensions["total"], res.scores)
    assert set(res.weights["direction"]) == {"+"}


def test_more_dispersed_indicator_gets_more_weight():
    df = pd.DataFrame({"flat": [10, 10.1, 10.2, 10.1, 10.0, 30.0], "spiky": [0, 0, 0, 0, 0.1, 10.0]})
    w = EntropyIndex().fit(df, ["flat", "spiky"]).weights.set_index("indicator")["weight"]
    assert w["spiky"] > w["flat"]


def test_per_year_pooling(panel):
    res = EntropyIndex(pooling="year").fit(panel, **SPEC)
    assert set(res.weights["year"]) == {2019, 2020, 2021}
    assert np.allclose(res.weights.groupby("year")["weight"].sum(), 1.0)
    single = EntropyIndex(pooling="year").fit(panel, ["x1"])
    by_year = single.scores.groupby(panel["year"])
    assert np.allclose(by_year.min(), 0.0) and np.allclose(by_year.max(), 1.0)
    one_year = panel[panel.year == 2020]
    alone = EntropyIndex().fit(one_year, **SPEC)
    assert np.allclose(res.scores[one_year.index], alone.scores)
    assert res.params["pooling"] == "year"


def test_topsis_by_hand(small):
    # equal weights 1/2: V = Z / 2, ideal (1/2, 1/2), anti-ideal (0, 0)
    res = TopsisIndex(weights="equal").fit(small, ["a", "b"], ["+", "-"])
    c2 = math.sqrt(13) / (5 + math.sqrt(13))  # row 2: D+ = 5/12, D- = sqrt(13)/12
    assert res.scores.tolist() == pytest.approx([0.5, c2, 0.5])


def test_topsis_given_weights_and_entropy_weights(small, panel):
    res = TopsisIndex(weights={"a": 3.0, "b": 1.0}).fit(small, ["a", "b"], ["+", "-"])
    assert res.weights["weight"].tolist() == pytest.approx([0.75, 0.25])
    ent = EntropyIndex().fit(panel, **SPEC)
    top = TopsisIndex().fit(panel, **SPEC)
    assert np.allclose(ent.weights["weight"], top.weights["weight"])
    # the best unit on every indicator has closeness 1
    dominant = panel.copy()
    dominant.loc[0, ["x1", "x2", "x4", "x5"]] = dominant[["x1", "x2", "x4", "x5"]].max() + 1
    dominant.loc[0, "x3"] = dominant["x3"].min() - 1
    assert TopsisIndex().fit(dominant, **SPEC).scores[0] == pytest.approx(1.0)


def test_pca_single_factor_recovers_equal_weights():
    t = np.linspace(0, 1, 20)
    df = pd.DataFrame({"p": 2 * t + 1, "q": 5 - 3 * t})  # perfectly correlated, q is a cost
    res = PCAIndex().fit(df, ["p", "q"], ["+", "-"])
    assert res.weights["weight"].tolist() == pytest.approx([0.5, 0.5])
    assert res.weights["components"].iloc[0] == 1
    assert res.weights["explained_variance"].iloc[0] == pytest.approx(1.0)
    assert np.allclose(res.scores, t)  # rescaled first component is the latent factor


def test_pca_component_choice(panel):
    kaiser = PCAIndex().fit(panel, **SPEC)
    k = int(kaiser.weights["components"].iloc[0])
    assert 1 <= k <= 5
    vals = np.linalg.eigvalsh(np.corrcoef(panel[SPEC["indicators"]].to_numpy() * [1, 1, -1, 1, 1], rowvar=False))
    assert k == max(1, int((vals >= 1).sum()))
    full = PCAIndex(n_components=0.999).fit(panel, **SPEC)
    assert int(full.weights["components"].iloc[0]) == 5
    one = PCAIndex(n_components=1).fit(panel, **SPEC)
    assert int(one.weights["components"].iloc[0]) == 1
    with pytest.raises(SpecificationError, match="n_components"):
        PCAIndex(n_components=9).fit(panel, **SPEC)


def test_errors(panel, small):
    with pytest.raises(DataError, match="constant"):
        EntropyIndex().fit(small.assign(c=1.0), ["a", "c"])
    with pytest.raises(DataError, match="constant"):
        PCAIndex().fit(small.assign(c=1.0), ["a", "c"])
    with pytest.raises(DataError, match="missing value"):
        EntropyIndex().fit(small.assign(a=[1.0, np.nan, 2.0]), ["a", "b"])
    with pytest.raises(DataError, match="not numeric"):
        EntropyIndex().fit(small.assign(a=["x", "y", "z"]), ["a", "b"])
    with pytest.raises(SpecificationError, match="unknown direction"):
        EntropyIndex().fit(small, ["a", "b"], ["+", "down"])
    with pytest.raises(SpecificationError, match="directions for"):
        EntropyIndex().fit(small, ["a", "b"], ["+"])
    with pytest.raises(SpecificationError, match="not in the data"):
        EntropyIndex().fit(small, ["a", "zzz"])
    with pytest.raises(SpecificationError, match="shift"):
        EntropyIndex(shift=-1.0)
    with pytest.raises(SpecificationError, match="pooling"):
        EntropyIndex(pooling="region")
    with pytest.raises(SpecificationError, match="time column"):
        EntropyIndex(pooling="year").fit(small, ["a", "b"])
    with pytest.raises(SpecificationError, match="unknown weights"):
        TopsisIndex(weights="magic")
    with pytest.raises(SpecificationError, match="dimension missing"):
        EntropyIndex().fit(small, ["a", "b"], dimensions={"a": "x"})
