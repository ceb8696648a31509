"""Bad input to the spatial estimators gets a clear error or a flagged result."""

from __future__ import annotations

import libpysal
import numpy as np
import pytest

import spillover as sp
from spillover.errors import ConvergenceWarning, SpecificationError, WeightsError

F = "logc ~ logp + logy"


def test_w_ids_not_matching_entities(cigar):
    df, w = cigar
    sub = df[df["state"] != df["state"].iloc[0]]
    with pytest.raises(WeightsError, match="w ids missing from the data: 1"):
        sp.SAR(F, sub, w, "state", "year", fe="entity").fit()


def test_unbalanced_panel(cigar):
    df, w = cigar
    with pytest.raises(SpecificationError, match="unbalanced panel"):
        sp.SAR(F, df.iloc[1:], w, "state", "year", fe="entity").fit()


def test_duplicate_rows(cigar):
    df, w = cigar
    bad = df.copy()
    bad.loc[bad.index[1], "year"] = bad.loc[bad.index[0], "year"]
    with pytest.raises(SpecificationError, match="duplicate entity-period"):
        sp.SAR(F, bad, w, "state", "year", fe="entity").fit()


def test_missing_values_named(cigar):
    df, w = cigar
    bad = df.copy()
    bad.loc[bad.index[5], "logp"] = np.nan
    with pytest.raises(SpecificationError, match=r"column='logp'.*entity=1.*time=68"):
        sp.SDM(F, bad, w, "state", "year", fe="twoways").fit()


def test_collinear_regressors_named(cigar):
    df, w = cigar
    d = df.assign(logp2=2 * df["logp"], const_in_time=df["state"] * 1.0)
    with pytest.raises(SpecificationError, match="logp2"):
        sp.SAR("logc ~ logp + logy + logp2", d, w, "state", "year", fe="entity").fit()
    with pytest.raises(SpecificationError, match="const_in_time"):
        sp.SAR("logc ~ logp + const_in_time", d, w, "state", "year", fe="entity").fit()


def test_lee_yu_time_effects_need_row_standardised_w(cigar):
    df, w = cigar
    wb = libpysal.weights.W(w.neighbors, id_order=w.id_order)  # binary
    with pytest.raises(SpecificationError, match="row-standardised"):
        sp.SAR(F, df, wb, "state", "year", fe="twoways", method="lee-yu").fit()
    # entity effects do not need it
    sp.SAR(F, df, wb, "state", "year", fe="entity", method="lee-yu").fit()


def test_rho_at_bound_is_flagged(cigar):
    df, w = cigar
    d = df.copy()
    # a dependent variable that is almost W y: rho runs to its upper bound
    wd = w.full()[0]
    ids = list(w.id_order)
    rng = np.random.default_rng(0)
    d["yy"] = 0.0
    for yr, g in d.groupby("year"):
        v = rng.standard_normal(len(ids))
        for _ in range(400):
            v = wd @ v
        d.loc[g.index, "yy"] = g["state"].map(dict(zip(ids, v))).to_numpy()
    with pytest.warns(ConvergenceWarning, match="bound"):
        res = sp.SAR("yy ~ logp", d, w, "state", "year", fe="entity", method="direct").fit()
    assert not res.converged and res.flags


def test_bad_options():
    with pytest.raises(SpecificationError, match="fe="):
        sp.SAR(F, None, np.eye(2), fe="individual")
    with pytest.raises(SpecificationError, match="method="):
        sp.SAR(F, None, np.eye(2), fe="entity", method="leeyu")
    with pytest.raises(SpecificationError, match="W\\*x"):
        sp.SAR(F, None, np.eye(2), wx=["logp"])


def test_results_in_original_order(cigar):
    df, w = cigar
    shuffled = df.sample(frac=1.0, random_state=3)
    res = sp.SDM(F, shuffled, w, "state", "year", fe="twoways").fit()
    assert res.fitted_values.index.equals(shuffled.index.sort_values())
    base = sp.SDM(F, df, w, "state", "year", fe="twoways").fit()
    np.testing.assert_allclose(res.params, base.params, rtol=1e-10)
    np.testing.assert_allclose(res.fitted_values.loc[df.index], base.fitted_values.loc[df.index], rtol=1e-10)
    # fitted + resid reproduces y
    y = np.log(df["sales"])
    np.testing.assert_allclose((base.fitted_values + base.resid).loc[df.index], y, rtol=1e-12)


def test_summary_names_conventions(cigar):
    df, w = cigar
    text = sp.SDM(F, df, w, "state", "year", fe="twoways", method="lee-yu").fit().summary()
    for token in ("SDM", "twoways", "lee-yu", "N = 46", "T = 30", "Log-determinant"):
        assert token in text


def test_matrix_w_needs_its_ids_and_any_order_gives_the_same_fit(cigar, permuted):
    """A (matrix, ids) W in a shuffled unit order gives the libpysal W's estimate; a bare matrix is refused."""
    df, w = cigar
    ref = sp.SAR(F, df, w, "state", "year", fe="twoways").fit()
    mat, ids = permuted(w, 3)
    res = sp.SAR(F, df, w=(mat, ids), entity="state", time="year", fe="twoways").fit()
    np.testing.assert_allclose(res.params.to_numpy(), ref.params.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(res.llf, ref.llf, rtol=1e-12)
    # the residuals belong to the same rows of the user's frame, whatever W's order
    np.testing.assert_allclose(res.resid.loc[df.index].to_numpy(), ref.resid.loc[df.index].to_numpy(), atol=1e-9)
    with pytest.raises(WeightsError, match=r"needs its ids.*\(matrix, ids\)"):
        sp.SAR(F, df, mat, "state", "year", fe="twoways").fit()
    with pytest.raises(WeightsError, match="ids were given"):
        sp.SAR(F, df, (mat, ids[:-1]), "state", "year").fit()
    with pytest.raises(WeightsError, match="repeat"):
        sp.SAR(F, df, (mat, ids[:-1] + ids[:1]), "state", "year").fit()


def test_missing_formula_is_a_specification_error(cigar):
    _, w = cigar
    with pytest.raises(SpecificationError, match="needs a formula"):
        sp.SAR(w=w).fit()


def test_align_repeated_ids_named_and_linear(cigar):
    """align's duplicate check names the repeated id (and hashes: 100,000 ids take milliseconds)."""
    _, w = cigar
    ids = list(w.id_order)
    with pytest.raises(WeightsError, match=repr(str(ids[0]))):
        sp.weights.align(w, ids[:-1] + ids[:1])
    big = libpysal.weights.lat2W(316, 317, rook=True)
    import time

    t0 = time.perf_counter()
    m = sp.weights.align(big, list(big.id_order))
    assert m.shape == (big.n, big.n) and time.perf_counter() - t0 < 60  # was O(N^2): minutes at this size


def test_bad_weights_cells_and_islands(cigar):
    """Self-loops, negative weights: errors naming the units; a unit without neighbours: a flag on the fit."""
    import warnings

    df, w = cigar
    m = w.sparse.toarray()
    ids = list(w.id_order)
    loop = m.copy()
    loop[3, 3] = 0.2
    with pytest.raises(WeightsError, match=rf"to themselves.*{ids[3]}"):
        sp.SAR("logc ~ logp", df, (loop, ids), "state", "year").fit()
    neg = m.copy()
    j = int(np.flatnonzero(neg[5])[0])
    neg[5, j] = -0.1
    with pytest.raises(WeightsError, match=rf"negative or non-finite.*{ids[5]}"):
        sp.SAR("logc ~ logp", df, (neg, ids), "state", "year").fit()
    isl = m.copy()
    isl[7, :] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = sp.SAR("logc ~ logp", df, (isl, ids), "state", "year", fe="entity", method="direct").fit()
    assert not res.converged and any("without neighbours" in f and str(ids[7]) in f for f in res.flags)


def test_infinite_values_and_impact_draws(cigar):
    df, w = cigar
    y = df["logc"].to_numpy().copy()
    y[4] = -np.inf
    with pytest.raises(SpecificationError, match="infinite"):
        sp.SAR.from_arrays(y, df[["logp"]].to_numpy(), w, n_periods=30).fit()
    res = sp.SDM("logc ~ logp", df, w, "state", "year").fit()
    with pytest.raises(SpecificationError, match="at least 2 draws"):
        res.impacts(draws=0)
    assert np.isfinite(res.impacts(method="delta").table["direct_se"]).all()


def test_messages_that_used_to_mislead(cigar, tmp_path):
    """Constant y; lee-yu on a W with empty rows names them; a threshold variable outside the formula or constant;
    --out pointing to a file."""
    from pathlib import Path

    from spillover.analysis import panel_threshold
    from spillover.study.runner import run_study

    df, w = cigar
    with pytest.raises(SpecificationError, match="dependent variable 'logc' is constant"):
        sp.SAR("logc ~ logp", df.assign(logc=1.0), w, "state", "year").fit()
    m = w.sparse.toarray()
    m[2, :] = 0.0
    with pytest.raises(SpecificationError, match=rf"1 unit\(s\) have no neighbours \({list(w.id_order)[2]}\)"):
        sp.SAR("logc ~ logp", df, (m, list(w.id_order)), "state", "year", fe="twoways").fit()
    with pytest.raises(SpecificationError, match="threshold variable is not a regressor.*regime_vars"):
        panel_threshold("logc ~ logp", df, "state", "year", threshold_var="logy", bootstrap=0)
    with pytest.raises(SpecificationError, match="threshold variable is constant"):
        panel_threshold("logc ~ logp + k", df.assign(k=1.0), "state", "year", threshold_var="k",
                        regime_vars=["logp"], bootstrap=0)
    (tmp_path / "f").write_text("x")
    with pytest.raises(SpecificationError, match="is a file, not a folder"):
        run_study(Path(__file__).resolve().parents[1] / "models", tmp_path / "f")
