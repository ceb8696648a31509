"""Coupling coordination degree, obstacle degree and per-period kernel densities (issue 17)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import gaussian_kde

import spillover as sp
from spillover.analysis import COORDINATION_CLASSES, coordination_class, coupling, kernel_density
from spillover.data import build_panel, default_panel
from spillover.data.pipeline import ENTROPY_SHIFT
from spillover.errors import SpecificationError
from spillover.indices import EntropyIndex, PCAIndex, TopsisIndex

# --------------------------------------------------------------------------- coupling


def frame(u1, u2):
    return pd.DataFrame({"unit": [f"p{i}" for i in range(len(u1))], "year": 2020, "u1": u1, "u2": u2})


def test_coupling_by_hand():
    # (U1, U2) = (0.4, 0.1): sqrt(U1 U2) = 0.2, C = 2*0.2/0.5 = 0.8, T = 0.25, D = sqrt(0.2) = 0.4472135955
    # (0.36, 0.64):          sqrt = 0.48,       C = 0.96/1.0 = 0.96, T = 0.5,  D = sqrt(0.48) = 0.6928203230
    # (0.81, 0.81):          C = 1,             T = 0.81,            D = 0.9
    # (0, 0.5):              C = 0,             T = 0.25,            D = 0
    # (0, 0):                C undefined (NaN), T = 0,               D = 0
    out = coupling(frame([0.4, 0.36, 0.81, 0.0, 0.0], [0.1, 0.64, 0.81, 0.5, 0.0]), "u1", "u2", "unit", "year")
    assert list(out.columns) == ["unit", "year", "u1", "u2", "C", "T", "D", "class"]
    np.testing.assert_allclose(out["C"], [0.8, 0.96, 1.0, 0.0, np.nan], rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["T"], [0.25, 0.5, 0.81, 0.25, 0.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["D"], [0.4472135955, 0.6928203230, 0.9, 0.0, 0.0], rtol=0, atol=1e-10)
    assert list(out["class"]) == ["on the verge of disorder", "primary coordination", "high-quality coordination",
                                  "extreme disorder", "extreme disorder"]
    # unequal weights (0.6, 0.4) on (0.4, 0.1): T = 0.24 + 0.04 = 0.28, D = sqrt(0.8 * 0.28) = sqrt(0.224)
    w = coupling(frame([0.4], [0.1]), "u1", "u2", "unit", "year", weights=(0.6, 0.4))
    assert w["T"].iloc[0] == pytest.approx(0.28, abs=1e-12)
    assert w["D"].iloc[0] == pytest.approx(0.4732863826, abs=1e-10)
    assert w["class"].iloc[0] == "on the verge of disorder"


def test_coupling_equals_the_other_published_form_and_bounds():
    rng = np.random.default_rng(3)
    u1, u2 = rng.uniform(0.01, 1, 200), rng.uniform(0.01, 1, 200)
    out = coupling(frame(u1, u2), "u1", "u2", "unit", "year")
    other = np.sqrt(u1 * u2 / ((u1 + u2) / 2) ** 2)
    np.testing.assert_allclose(out["C"], other, rtol=1e-12)
    np.testing.assert_allclose(out["D"], np.sqrt(other * (u1 + u2) / 2), rtol=1e-12)
    assert out["C"].between(0, 1).all() and out["D"].between(0, 1).all()
    assert out.index.equals(pd.RangeIndex(200))


def test_classes_at_their_boundaries():
    assert len(COORDINATION_CLASSES) == 10
    assert COORDINATION_CLASSES[0] == "extreme disorder" and COORDINATION_CLASSES[-1] == "high-quality coordination"
    edges = np.arange(11) / 10
    got = coordination_class(edges)
    assert list(got) == list(COORDINATION_CLASSES) + ["high-quality coordination"]
    below = coordination_class(edges[1:] - 1e-9)
    assert list(below) == list(COORDINATION_CLASSES)
    # through the model: U1 = U2 = (k/10)^2 gives C = 1, T = (k/10)^2, D = k/10 (up to rounding)
    u = (np.arange(11) / 10) ** 2
    out = coupling(frame(u, u), "u1", "u2", "unit", "year")
    np.testing.assert_allclose(out["D"], edges, atol=1e-15)
    assert list(out["class"]) == list(COORDINATION_CLASSES) + ["high-quality coordination"]
    assert coordination_class([np.nan])[0] is None


@pytest.mark.parametrize(("u1", "u2", "where"), [
    ([0.2, 1.2], [0.3, 0.3], "'u1'"),
    ([0.2, 0.5], [-0.1, 0.3], "'u2'"),
    ([0.2, np.nan], [0.3, 0.3], "'u1'"),
])
def test_out_of_range_is_refused_naming_column_unit_period(u1, u2, where):
    df = frame(u1, u2)
    df["year"] = [2019, 2021]
    with pytest.raises(SpecificationError) as err:
        coupling(df, "u1", "u2", "unit", "year")
    msg = str(err.value)
    assert "not in [0, 1]" in msg and f"column={where}" in msg
    bad = 0 if "unit='p0'" in msg else 1
    assert f"unit='p{bad}'" in msg and f"period={2019 if bad == 0 else 2021}" in msg


def test_other_bad_input():
    df = frame([0.2, 0.4], [0.3, 0.5])
    with pytest.raises(SpecificationError, match="column not in the data.*'u3'"):
        coupling(df, "u1", "u3", "unit", "year")
    with pytest.raises(SpecificationError, match="sum to 1"):
        coupling(df, "u1", "u2", "unit", "year", weights=(0.5, 0.6))
    with pytest.raises(SpecificationError, match="sum to 1"):
        coupling(df, "u1", "u2", "unit", "year", weights=(1.5, -0.5))
    with pytest.raises(SpecificationError, match="two numbers"):
        coupling(df, "u1", "u2", "unit", "year", weights=(0.5,))
    with pytest.raises(SpecificationError, match="same column"):
        coupling(df, "u1", "u1", "unit", "year")
    with pytest.raises(SpecificationError, match="not numeric"):
        coupling(df.assign(u2=["a", "b"]), "u1", "u2", "unit", "year")
    with pytest.raises(SpecificationError, match="appears twice"):
        coupling(df.assign(unit="p0"), "u1", "u2", "unit", "year")


def test_coupling_on_the_bundled_indices():
    panel = default_panel()
    out = sp.analysis.coupling(panel, "dei", "cpi", "province", "year")
    assert len(out) == len(panel) and out["class"].isin(COORDINATION_CLASSES).all()
    i = 5
    u1, u2 = panel["dei"].iloc[i], panel["cpi"].iloc[i]
    c = 2 * math.sqrt(u1 * u2) / (u1 + u2)
    assert out["D"].iloc[i] == pytest.approx(math.sqrt(c * (u1 + u2) / 2), rel=1e-12)


# --------------------------------------------------------------------------- obstacle degree


@pytest.fixture(scope="module")
def bundled():
    panel = default_panel()
    table = build_panel().indices["dei"].weights
    spec = {"indicators": list(table["indicator"]),
            "directions": dict(zip(table["indicator"], table["direction"])),
            "dimensions": dict(zip(table["indicator"], table["dimension"]))}
    res = EntropyIndex(shift=ENTROPY_SHIFT).fit(panel, **spec)
    np.testing.assert_allclose(res.scores, panel["dei"], rtol=1e-12)  # it is the bundled index
    return panel, res


def brute_obstacle(panel, res):
    w = res.weights
    rows = []
    for i in range(len(panel)):
        num = {}
        for ind, d, wt in zip(w["indicator"], w["direction"], w["weight"]):
            x = panel[ind]
            z = (x.iloc[i] - x.min()) / (x.max() - x.min())
            if d == "-":
                z = 1 - z
            num[ind] = wt * (1 - z)
        total = sum(num.values())
        rows.append({k: v / total for k, v in num.items()})
    return pd.DataFrame(rows, index=panel.index)


def test_obstacle_degree_matches_brute_force_on_the_bundled_index(bundled):
    panel, res = bundled
    O = res.obstacle_degree()
    assert list(O.columns) == list(res.weights["indicator"]) and O.index.equals(panel.index)
    np.testing.assert_allclose(O.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert (O >= 0).all().all()
    brute = brute_obstacle(panel, res)
    np.testing.assert_allclose(O.to_numpy(), brute[O.columns].to_numpy(), rtol=1e-10, atol=1e-14)
    dims = res.obstacle_degree("dimension")
    assert list(dims.columns) == list(dict.fromkeys(res.weights["dimension"]))
    np.testing.assert_allclose(dims.sum(axis=1), 1.0, atol=1e-12)
    for dim, members in res.weights.groupby("dimension")["indicator"]:
        np.testing.assert_allclose(dims[dim], brute[list(members)].sum(axis=1), rtol=1e-10)
    # per period: the documented groupby
    by_year = O.groupby(panel["year"]).mean()
    np.testing.assert_allclose(by_year.sum(axis=1), 1.0, atol=1e-12)


def test_obstacle_degree_pooling_by_year_and_topsis():
    rng = np.random.default_rng(11)
    df = pd.DataFrame({"year": np.repeat([2019, 2020, 2021], 10), "a": rng.normal(size=30),
                       "b": rng.lognormal(size=30), "c": rng.uniform(size=30)})
    spec = {"indicators": ["a", "b", "c"], "directions": ["+", "-", "+"], "dimensions": ["x", "x", "y"]}
    res = EntropyIndex(pooling="year").fit(df, **spec)
    O = res.obstacle_degree()
    for year, block in df.groupby("year"):
        one = EntropyIndex().fit(block, **spec)
        np.testing.assert_allclose(O.loc[block.index].to_numpy(), brute_obstacle(block, one)[O.columns].to_numpy(),
                                   rtol=1e-10)
    top = TopsisIndex(weights="equal").fit(df, **spec)
    np.testing.assert_allclose(top.obstacle_degree().to_numpy(), brute_obstacle(df, top)[["a", "b", "c"]].to_numpy(),
                               rtol=1e-10)


def test_obstacle_degree_refusals():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 1.0, 4.0, 3.0]})
    with pytest.raises(SpecificationError, match="EntropyIndex or TopsisIndex"):
        PCAIndex().fit(df, ["a", "b"]).obstacle_degree()
    res = EntropyIndex().fit(df, ["a", "b"])
    with pytest.raises(SpecificationError, match="unknown level"):
        res.obstacle_degree("province")
    # a row at the best value of every indicator has no obstacle: NaN, not a division warning
    best = EntropyIndex().fit(pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0]}), ["a", "b"])
    O = best.obstacle_degree()
    assert O.iloc[2].isna().all() and O.iloc[0].sum() == pytest.approx(1.0)


# --------------------------------------------------------------------------- kernel density


def test_kernel_density_equals_scipy_on_a_given_grid():
    panel = default_panel()
    grid = np.linspace(-0.2, 1.2, 301)
    out = sp.analysis.kernel_density(panel, "dei", "year", grid=grid)
    assert list(out.columns) == ["year", "x", "density"]
    years = sorted(panel["year"].unique())
    assert len(out) == len(years) * len(grid)
    for year in years:
        v = panel.loc[panel["year"] == year, "dei"].to_numpy()
        got = out[out["year"] == year]
        np.testing.assert_array_equal(got["x"], grid)
        np.testing.assert_allclose(got["density"], gaussian_kde(v, bw_method="scott")(grid), rtol=1e-12)
        # Scott's rule by hand: h = sd * n^(-1/5), Gaussian kernel
        h = v.std(ddof=1) * len(v) ** (-0.2)
        kernel = np.exp(-0.5 * ((grid[:, None] - v[None, :]) / h) ** 2)
        hand = kernel.sum(axis=1) / (len(v) * h * math.sqrt(2 * math.pi))
        np.testing.assert_allclose(got["density"], hand, rtol=1e-10)
        assert out.attrs["bandwidth"][year] == pytest.approx(h, rel=1e-12)


@pytest.mark.parametrize("bandwidth", ["scott", "silverman", 0.3])
def test_kernel_density_default_grid_integrates_to_one(bandwidth):
    panel = default_panel()
    out = kernel_density(panel, "cpi", "year", bandwidth=bandwidth)
    x = out.loc[out["year"] == out["year"].iloc[0], "x"].to_numpy()
    assert len(x) == 512 and x[0] < panel["cpi"].min() and x[-1] > panel["cpi"].max()
    for year, g in out.groupby("year"):
        assert np.array_equal(g["x"].to_numpy(), x)  # common grid
        assert np.trapezoid(g["density"], g["x"]) == pytest.approx(1.0, abs=1e-3)
        v = panel.loc[panel["year"] == year, "cpi"].to_numpy()
        np.testing.assert_allclose(g["density"], gaussian_kde(v, bw_method=bandwidth)(x), rtol=1e-12)
    if bandwidth == "silverman":
        v = panel.loc[panel["year"] == 2013, "cpi"].to_numpy()
        assert out.attrs["bandwidth"][2013] == pytest.approx(v.std(ddof=1) * (len(v) * 3 / 4) ** (-0.2), rel=1e-12)


def test_kernel_density_bad_input():
    df = pd.DataFrame({"year": [1, 1, 1, 2, 2, 2], "v": [0.1, 0.5, 0.9, 0.2, 0.3, 0.4]})
    with pytest.raises(SpecificationError, match="column not in the data"):
        kernel_density(df, "w", "year")
    with pytest.raises(SpecificationError, match="unknown bandwidth rule"):
        kernel_density(df, "v", "year", bandwidth="normal")
    with pytest.raises(SpecificationError, match="positive number"):
        kernel_density(df, "v", "year", bandwidth=-1.0)
    with pytest.raises(SpecificationError, match=r"non-finite.*period=2"):
        kernel_density(df.assign(v=[0.1, 0.5, 0.9, 0.2, np.nan, 0.4]), "v", "year")
    with pytest.raises(SpecificationError, match=r"two distinct values.*period=2"):
        kernel_density(df.assign(v=[0.1, 0.5, 0.9, 0.2, 0.2, 0.2]), "v", "year")
    with pytest.raises(SpecificationError, match="not numeric"):
        kernel_density(df.assign(v=list("abcdef")), "v", "year")
    with pytest.raises(SpecificationError, match="at least 2 points"):
        kernel_density(df, "v", "year", grid=1)
