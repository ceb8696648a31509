"""Moran's I by year, pooled Moran's I and LISA (spillover.diagnostics.moran)."""

from __future__ import annotations

import warnings
from pathlib import Path

import esda
import libpysal
import numpy as np
import pandas as pd
import pytest
import spreg
from libpysal.weights import W
from scipy import sparse

import spillover as sp
from spillover.diagnostics._panel import year_seed
from spillover.diagnostics.moran import lisa_by_year, moran_by_year, moran_pooled
from spillover.errors import SpecificationError, WeightsError

CIGAR = Path(__file__).parent / "reference" / "cigar"


@pytest.fixture(scope="module")
def cigar_panel():
    """Cigar (46 states x 30 years), logc, and the row-standardised contiguity W."""
    df = pd.read_csv(CIGAR / "Cigar_plm.csv")
    wm = pd.read_csv(CIGAR / "usa46_binary.csv", index_col=0)
    df["logc"] = np.log(df["sales"])
    codes = sorted(df["state"].unique())
    w = libpysal.weights.full2W(wm.to_numpy(), ids=codes)
    w.transform = "r"
    return df, w


def lattice_panel(side=6, years=(2013, 2014, 2015), seed=1, island=False):
    """Rook lattice with GB-code-like string ids, a long panel, optional island."""
    base = libpysal.weights.lat2W(side, side, rook=True)
    ids = [f"{110000 + 10000 * i}" for i in range(side * side)]
    neighbors = {ids[k]: [ids[j] for j in v] for k, v in base.neighbors.items()}
    if island:
        ids.append("990000")
        neighbors["990000"] = []
    w = W(neighbors, id_order=ids, silence_warnings=True)
    w.transform = "r"
    rng = np.random.default_rng(seed)
    rows = []
    for t in years:
        vals = rng.normal(size=len(ids)).cumsum()  # some spatial-ish structure
        rows += [{"province": i, "year": t, "cpi": v} for i, v in zip(ids, vals)]
    return pd.DataFrame(rows), w


def dense_moran(y, wmat):
    z = y - y.mean()
    return len(y) / wmat.sum() * (z @ wmat @ z) / (z @ z)


# --- moran_by_year -----------------------------------------------------------------


def test_by_year_matches_esda_and_dense_formula(cigar_panel):
    df, w = cigar_panel
    out = moran_by_year(df, "logc", w, "state", "year", permutations=99, seed=7)
    assert list(out.columns) == ["year", "I", "expected", "variance", "z", "p_norm", "p_sim", "n"]
    assert list(out["year"]) == list(range(63, 93))
    assert (out["n"] == 46).all()

    year = 80
    cross = df[df["year"] == year].set_index("state").loc[w.id_order, "logc"].to_numpy()
    wmat = w.full()[0]
    row = out.set_index("year").loc[year]
    assert row["I"] == pytest.approx(dense_moran(cross, wmat), rel=1e-12)

    np.random.seed(year_seed(7, year))
    ref = esda.Moran(cross, w, transformation="r", permutations=99)
    assert row["I"] == pytest.approx(ref.I, rel=1e-12)
    assert row["expected"] == pytest.approx(-1 / 45, rel=1e-12)
    assert row["variance"] == pytest.approx(ref.VI_norm, rel=1e-12)
    assert row["z"] == pytest.approx(ref.z_norm, rel=1e-12)
    assert row["p_norm"] == pytest.approx(ref.p_norm, rel=1e-12)
    assert row["p_sim"] == ref.p_sim  # same seed -> same permutations


def test_top_level_lazy_names():
    assert sp.moran_by_year is moran_by_year
    assert sp.lisa_by_year is lisa_by_year


def test_by_year_deterministic_and_global_rng_untouched(cigar_panel):
    df, w = cigar_panel
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = moran_by_year(df, "logc", w, "state", "year", permutations=199, seed=3)
    assert np.array_equal(np.random.get_state()[1], before)
    b = moran_by_year(df, "logc", w, "state", "year", permutations=199, seed=3)
    pd.testing.assert_frame_equal(a, b)
    # a period's draws do not depend on which other periods are present
    sub = moran_by_year(df[df["year"] >= 80], "logc", w, "state", "year", permutations=199, seed=3)
    later = a[a["year"] >= 80].reset_index(drop=True)
    pd.testing.assert_frame_equal(sub.reset_index(drop=True), later)


def test_row_order_and_id_order_do_not_matter(cigar_panel):
    df, w = cigar_panel
    a = moran_by_year(df, "logc", w, "state", "year", permutations=49)
    shuffled = df.sample(frac=1.0, random_state=0)
    b = moran_by_year(shuffled, "logc", w, "state", "year", permutations=49)
    pd.testing.assert_frame_equal(a, b)
    rev = W(dict(w.neighbors), dict(w.weights), id_order=w.id_order[::-1], silence_warnings=True)
    c = moran_by_year(df, "logc", rev, "state", "year", permutations=0)
    np.testing.assert_allclose(c["I"], a["I"], rtol=1e-12)
    assert c["p_sim"].isna().all()


def test_weights_used_as_given_and_not_mutated():
    df, w = lattice_panel(side=6)
    w.transform = "b"
    out = moran_by_year(df, "cpi", w, "province", "year", permutations=9)
    assert w.transform == "B"
    wmat = w.full()[0]
    for year, grp in df.groupby("year"):
        y = grp.set_index("province").loc[w.id_order, "cpi"].to_numpy()
        got = out.set_index("year").loc[year, "I"]
        assert got == pytest.approx(dense_moran(y, wmat), rel=1e-12)


def test_small_n_warning_recommends_p_sim():
    df, w = lattice_panel(side=5)
    with pytest.warns(UserWarning, match=r"N = 25 .*p_sim"):
        moran_by_year(df, "cpi", w, "province", "year", permutations=9)


def test_islands_warn_by_name_and_keep_zero_rows():
    df, w = lattice_panel(side=6, island=True)  # 37 units
    with pytest.warns(UserWarning, match="990000"):
        out = moran_by_year(df, "cpi", w, "province", "year", permutations=9)
    wmat = w.full()[0]
    assert np.all(wmat[w.id_order.index("990000")] == 0)
    y = df[df["year"] == 2014].set_index("province").loc[w.id_order, "cpi"].to_numpy()
    assert out.set_index("year").loc[2014, "I"] == pytest.approx(dense_moran(y, wmat), rel=1e-12)
    assert (out["n"] == 37).all()  # islands count in N


def test_constant_variable_names_variable_and_year():
    df, w = lattice_panel(side=6)
    df.loc[df["year"] == 2014, "cpi"] = 3.0
    with pytest.raises(SpecificationError, match=r"'cpi'.*2014"):
        moran_by_year(df, "cpi", w, "province", "year")


def test_unbalanced_year_names_year_and_units():
    df, w = lattice_panel(side=6)
    df = df[~((df["year"] == 2015) & (df["province"].isin(["120000", "130000"])))]
    with pytest.raises(SpecificationError, match=r"2015.*'120000', '130000'"):
        moran_by_year(df, "cpi", w, "province", "year")


def test_ids_mismatch_names_missing_and_extra():
    df, w = lattice_panel(side=6)
    df = df.copy()
    df.loc[df["province"] == "110000", "province"] = "810000"
    with pytest.raises(WeightsError, match=r"missing from the data: '110000'.*not in w: '810000'"):
        moran_by_year(df, "cpi", w, "province", "year")
    df2, _ = lattice_panel(side=6)
    df2["province"] = df2["province"].astype(int)
    with pytest.raises(WeightsError, match="astype"):
        moran_by_year(df2, "cpi", w, "province", "year")


def test_missing_variable_and_missing_values():
    df, w = lattice_panel(side=6)
    with pytest.raises(SpecificationError, match="'dei' is not a column"):
        moran_by_year(df, "dei", w, "province", "year")
    df.loc[5, "cpi"] = np.nan
    with pytest.raises(SpecificationError, match="missing or infinite"):
        moran_by_year(df, "cpi", w, "province", "year")


# --- moran_pooled ------------------------------------------------------------------


def _stacked(df, w, var, entity, time):
    d = df.copy()
    d["_pos"] = d[entity].map({k: i for i, k in enumerate(w.id_order)})
    d = d.sort_values([time, "_pos"])
    return d[var].to_numpy(), d[time].nunique()


def test_pooled_overall_matches_dense_kron_and_esda(cigar_panel):
    df, w = cigar_panel
    out = moran_pooled(df, "logc", w, "state", "year", permutations=99, seed=1)
    y, t = _stacked(df, w, "logc", "state", "year")
    wnt = np.kron(np.eye(t), w.full()[0])
    assert out.loc["pooled", "I"] == pytest.approx(dense_moran(y, wnt), rel=1e-12)
    block = libpysal.weights.WSP(sparse.csr_matrix(wnt)).to_W(silence_warnings=True)
    ref = esda.Moran(y, block, transformation="o", permutations=0)
    assert out.loc["pooled", "expected"] == pytest.approx(ref.EI, rel=1e-12)
    assert out.loc["pooled", "variance"] == pytest.approx(ref.VI_norm, rel=1e-10)
    assert out.loc["pooled", "z"] == pytest.approx(ref.z_norm, rel=1e-10)
    assert out.loc["pooled", "p_norm"] == pytest.approx(ref.p_norm, rel=1e-8, abs=1e-300)
    assert out.loc["pooled", ["n", "N", "T"]].tolist() == [1380, 46, 30]


def test_pooled_year_centering_matches_moran_on_year_dummy_residuals(cigar_panel):
    df, w = cigar_panel
    out = moran_pooled(df, "logc", w, "state", "year", permutations=0, center="year")
    y, t = _stacked(df, w, "logc", "state", "year")
    n = w.n
    wnt = np.kron(np.eye(t), w.full()[0])
    z = (y.reshape(t, n) - y.reshape(t, n).mean(axis=1, keepdims=True)).ravel()
    dense = len(z) / wnt.sum() * (z @ wnt @ z) / (z @ z)
    assert out.loc["pooled", "I"] == pytest.approx(dense, rel=1e-12)
    # Cliff-Ord residual moments, cross-checked with spreg's Moran test on OLS residuals
    dummies = np.kron(np.eye(t), np.ones((n, 1)))
    ols = spreg.ols.BaseOLS(y.reshape(-1, 1), dummies)
    block = libpysal.weights.WSP(sparse.csr_matrix(wnt)).to_W(silence_warnings=True)
    mr = spreg.diagnostics_sp.MoranRes(ols, block, z=True)
    assert out.loc["pooled", "I"] == pytest.approx(mr.I, rel=1e-10)
    assert out.loc["pooled", "expected"] == pytest.approx(mr.eI, rel=1e-10)
    assert out.loc["pooled", "variance"] == pytest.approx(mr.vI, rel=1e-8)
    assert out.loc["pooled", "z"] == pytest.approx(mr.zI, rel=1e-8)


def test_pooled_permutations_within_years_deterministic(cigar_panel):
    df, w = cigar_panel
    a = moran_pooled(df, "logc", w, "state", "year", permutations=199, seed=5, center="year")
    b = moran_pooled(df, "logc", w, "state", "year", permutations=199, seed=5, center="year")
    pd.testing.assert_frame_equal(a, b)
    assert a.loc["pooled", "p_sim"] == pytest.approx(1 / 200)  # strong clustering in logc
    with pytest.raises(SpecificationError, match="center"):
        moran_pooled(df, "logc", w, "state", "year", center="unit")


def test_pooled_null_p_sim_is_reasonable():
    # independent noise: within-year permutation p should not be tiny
    df, w = lattice_panel(side=7, years=tuple(range(2000, 2010)), seed=11)
    rng = np.random.default_rng(0)
    df["noise"] = rng.normal(size=len(df))
    out = moran_pooled(df, "noise", w, "province", "year", permutations=499, seed=0)
    assert 0.02 < out.loc["pooled", "p_sim"] <= 0.5
    assert abs(out.loc["pooled", "z"]) < 3


# --- lisa_by_year ------------------------------------------------------------------


def test_lisa_matches_esda_and_labels(cigar_panel):
    df, w = cigar_panel
    out = lisa_by_year(df, "logc", w, "state", "year", permutations=99, seed=2, alpha=0.05)
    assert list(out.columns) == [
        "entity", "year", "Ii", "z", "lag_z", "z_sim", "p_sim", "quadrant", "cluster",
    ]
    assert len(out) == 46 * 30
    year = 70
    part = out[out["year"] == year]
    assert list(part["entity"]) == list(w.id_order)
    y = df[df["year"] == year].set_index("state").loc[w.id_order, "logc"].to_numpy()
    ref = esda.Moran_Local(y, w, transformation="r", permutations=99, seed=year_seed(2, year))
    np.testing.assert_allclose(part["Ii"], ref.Is, rtol=1e-12)
    np.testing.assert_allclose(part["p_sim"], ref.p_sim, rtol=0, atol=0)
    # dense formula: I_i = (N-1)/N z_i (Wz)_i with z standardised by the population sd
    z = (y - y.mean()) / y.std()
    np.testing.assert_allclose(part["Ii"], (45 / 46) * z * (w.full()[0] @ z), rtol=1e-12)
    np.testing.assert_allclose(part["lag_z"], w.full()[0] @ z, rtol=1e-12)
    expected = np.where(
        part["p_sim"] <= 0.05, part["quadrant"].map({1: "HH", 2: "LH", 3: "LL", 4: "HL"}), "ns"
    )
    assert list(part["cluster"]) == list(expected)
    assert set(out["cluster"]) <= {"HH", "LL", "HL", "LH", "ns"}
    hh = part[part["quadrant"] == 1]
    assert ((hh["z"] > 0) & (hh["lag_z"] > 0)).all()


def test_lisa_deterministic_and_islands_never_significant():
    df, w = lattice_panel(side=6, island=True)
    with pytest.warns(UserWarning, match="990000"):
        a = lisa_by_year(df, "cpi", w, "province", "year", permutations=99, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = lisa_by_year(df, "cpi", w, "province", "year", permutations=99, seed=4)
    pd.testing.assert_frame_equal(a, b)
    isl = a[a["entity"] == "990000"]
    assert (isl["Ii"] == 0).all() and isl["p_sim"].isna().all() and (isl["cluster"] == "ns").all()


def test_lisa_argument_checks():
    df, w = lattice_panel(side=6)
    with pytest.raises(SpecificationError, match="permutations"):
        lisa_by_year(df, "cpi", w, "province", "year", permutations=0)
    with pytest.raises(SpecificationError, match="alpha"):
        lisa_by_year(df, "cpi", w, "province", "year", alpha=1.5)


def test_lisa_keeps_esda_kernels_compiled_on_disk_except_the_one_whose_key_changes():
    """After a LISA, esda's numba kernels carry numba's disk cache, except compute_chunk (first-class function
    argument: a new cache key in every process, so caching it would add a file per run)."""
    numba = pytest.importorskip("numba")
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    import esda.crand

    from spillover.diagnostics import moran

    moran._keep_compiled_permutation_kernels()
    kernels = {k: f for k, f in vars(esda.crand).items() if isinstance(f, CPUDispatcher)}
    assert kernels and numba
    for name, f in kernels.items():
        assert isinstance(f._cache, NullCache) == (name in moran._UNCACHED_KERNELS), name
