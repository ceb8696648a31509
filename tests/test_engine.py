"""spillover.engine: the same numbers in-process and on a two-worker dask LocalCluster.

Covers the engine itself (task order, seeded chunks), the study's
specification grid, and the bootstraps of the threshold and mediation
analyses on the real provincial panel.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spillover as sp
from spillover.engine import Engine, bootstrap_map, chunk_seeds


@pytest.fixture(scope="module")
def cluster():
    with Engine(n_workers=2) as eng:
        assert eng.workers == 2
        yield eng


@pytest.fixture(scope="module")
def panel():
    from spillover.data import build_panel

    return build_panel(Path(__file__).resolve().parents[1] / "data_raw" / "catalog.toml").data


def _slow_square(task, *, delay):
    time.sleep(delay * (5 - task) / 5)  # early tasks finish last
    return task * task


def test_map_keeps_task_order(cluster):
    assert cluster.map(_slow_square, range(5), shared={"delay": 0.05}) == [0, 1, 4, 9, 16]
    assert Engine().map(_slow_square, range(5), shared={"delay": 0.0}) == [0, 1, 4, 9, 16]
    assert "LocalCluster, 2 thread" in cluster.describe() and "in-process" in Engine().describe()


def test_chunk_seeds_do_not_depend_on_calls():
    a = chunk_seeds(7, 120, chunk=50)
    b = chunk_seeds(7, 120, chunk=50)
    assert [s for _, s in a] == [50, 50, 20]
    for (x, _), (y, _) in zip(a, b, strict=True):
        assert np.array_equal(np.random.default_rng(x).random(3), np.random.default_rng(y).random(3))
    ss = np.random.SeedSequence(7)
    first = chunk_seeds(ss, 10)[0][0]
    again = chunk_seeds(ss, 10)[0][0]
    assert np.array_equal(np.random.default_rng(first).random(2), np.random.default_rng(again).random(2))


def _normal_means(rng, size, payload):
    return rng.normal(payload, 1.0, size=(size, 4)).mean(axis=1)


def test_bootstrap_map_identical_on_cluster(cluster):
    here = bootstrap_map(_normal_means, 230, 99, 2.0)
    there = bootstrap_map(_normal_means, 230, 99, 2.0, engine=cluster)
    assert here.shape == (230,) and np.array_equal(here, there)


def test_threshold_bootstrap_identical_on_cluster(cluster, panel):
    kw = dict(threshold_var="dei", n_thresholds=2, bootstrap=60, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = sp.analysis.panel_threshold("cpi ~ dei + urban + gov + open + hc", panel, "province", "year", **kw)
        b = sp.analysis.panel_threshold("cpi ~ dei + urban + gov + open + hc", panel, "province", "year",
                                        engine=cluster, **kw)
    assert a.pvalues == b.pvalues and a.crit == b.crit
    assert 0 <= a.pvalues["F1"] <= 1 and np.isfinite(a.pvalues["F2"])


def test_mediation_bootstrap_identical_on_cluster(cluster, panel):
    f = "cpi ~ dei + urban + gov + open + hc"
    a = sp.analysis.mediation(f, panel, "province", "year", mediator="innov", treatment="dei", bootstrap=80, seed=3)
    b = sp.analysis.mediation(f, panel, "province", "year", mediator="innov", treatment="dei", bootstrap=80, seed=3, engine=cluster)
    assert np.array_equal(a.boot_draws, b.boot_draws) and a.boot_ci == b.boot_ci


def test_grid_identical_on_cluster_and_equal_to_direct_fits(cluster, panel):
    from spillover.study.grid import run_grid
    from spillover.study.spec import GridSpec

    g = GridSpec(name="g", formula="cpi ~ dei + urban + gov + open + hc", variable="dei",
                 weights=["adjacency", "distance"], samples={"all": [], "east": ["east"]}, fe=["twoways"],
                 method=["lee-yu", "direct"])
    weights = {"adjacency": sp.weights.build("contiguity", geo=sp.data.default_geometry(), id_col="adcode"),
               "distance": sp.weights.build("inverse_distance", power=2, points=sp.data.default_points())}
    here = run_grid(g, panel, weights, "province", "year", group="region")
    there = run_grid(g, panel, weights, "province", "year", engine=cluster, group="region")
    pd.testing.assert_frame_equal(here, there)
    assert len(here) == 8 and (here["error"] == "").all(), here["error"].tolist()
    row = here[(here["weights"] == "distance") & (here["sample"] == "all") & (here["method"] == "direct")].iloc[0]
    res = sp.SDM("cpi ~ dei + urban + gov + open + hc", panel, weights["distance"], "province", "year",
                 fe="twoways", method="direct").fit()
    imp = res.impacts(method="delta").table.loc["dei"]
    assert row["spatial_param"] == "rho"
    assert row["spatial"] == pytest.approx(res.params["rho"], rel=1e-12)
    assert row["direct"] == pytest.approx(imp["direct"], rel=1e-12)
    assert row["indirect_se"] == pytest.approx(imp["indirect_se"], rel=1e-12)
    east = here[(here["weights"] == "distance") & (here["sample"] == "east")]
    assert (east["nobs"] == 100).all()


def test_four_workers_same_bootstrap():
    """'Identical numbers with 1 worker or 4': four thread workers against the in-process run."""
    with Engine(n_workers=4) as four, Engine(n_workers=1) as one:
        assert four.workers == 4
        a = bootstrap_map(_normal_means, 410, 12, 0.5, engine=four, chunk=25)
        b = bootstrap_map(_normal_means, 410, 12, 0.5, engine=one, chunk=25)
    assert np.array_equal(a, b) and np.array_equal(a, bootstrap_map(_normal_means, 410, 12, 0.5, chunk=25))
