"""Monte Carlo DGPs (spillover.simulate) and the dask engine (spillover.montecarlo)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from libpysal.weights import lat2W
from scipy.stats import norm

import spillover as sp
from spillover.montecarlo import Design, aggregate, run
from spillover.simulate import replication_seed, simulate


@pytest.fixture(scope="module")
def lattice():
    w = lat2W(7, 7, rook=True)
    w.transform = "r"
    return w


@pytest.fixture(scope="module")
def tiny_design():
    return Design.grid(weights=["lattice7x7"], periods=[5], spatial=[0.3], models=["sar", "sdem"],
                       methods=["direct", "lee-yu"], replications=6, chunk_size=2, seed=11, name="tiny")


@pytest.fixture(scope="module")
def runs(tiny_design):
    return {nw: run(tiny_design, n_workers=nw) for nw in (1, 2)}


# ------------------------------------------------------------------ simulate
@pytest.mark.parametrize("model", ["sar", "sem", "sdm", "sdem"])
def test_same_seed_same_arrays(lattice, model):
    a = simulate(model, lattice, 4, rho=0.4, lam=0.4, seed=replication_seed(3, 2))
    b = simulate(model, lattice, 4, rho=0.4, lam=0.4, seed=replication_seed(3, 2))
    c = simulate(model, lattice, 4, rho=0.4, lam=0.4, seed=replication_seed(3, 1))
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.allclose(a.y, c.y)
    assert a.y.shape == (49 * 4,) and a.x.shape == (49 * 4, 2)


def test_replication_independent_of_count():
    for total in (3, 10):
        assert replication_seed(5, 2).generate_state(4).tolist() == \
            np.random.SeedSequence(5).spawn(total)[2].generate_state(4).tolist()


def test_sar_solves_reduced_form(lattice):
    """y_t = (I - rho W)^-1 (X_t b + mu + alpha_t + u_t): check (I - rho W) y_t - X_t b - mu - alpha_t
    is the same u_t as a dense recomputation from the same draws."""
    s = simulate("sar", lattice, 3, rho=0.5, beta=(1.0, 2.0), seed=0)
    W = s.w.toarray()
    Y, X = s.y.reshape(3, 49), s.x.reshape(3, 49, 2)
    u = np.array([(np.eye(49) - 0.5 * W) @ Y[t] - X[t] @ [1.0, 2.0] - s.mu - s.alpha[t] for t in range(3)])
    rng = np.random.default_rng(0)  # replay the draws in the documented order
    mu = rng.standard_normal(49)
    alpha = rng.standard_normal(3)
    rng.standard_normal((3, 49, 2))
    np.testing.assert_allclose(mu, s.mu)
    np.testing.assert_allclose(alpha, s.alpha)
    np.testing.assert_allclose(u, rng.standard_normal((3, 49)), atol=1e-10)
    S = np.linalg.inv(np.eye(49) - 0.5 * W)
    np.testing.assert_allclose(s.impacts.loc["x2", "direct"], 2 * np.trace(S) / 49)
    np.testing.assert_allclose(s.impacts.loc["x2", "total"], 2 * S.sum() / 49)


def test_dynamic_has_lag(lattice):
    s = simulate("sar", lattice, 6, rho=0.3, tau=0.4, seed=1)
    np.testing.assert_array_equal(s.y_lag[49:], s.y[:-49])
    assert s.truth["tau"] == 0.4


@pytest.mark.parametrize("model,cls", [("sar", "SAR"), ("sdem", "SDEM")])
def test_dgp_estimates_near_truth(lattice, model, cls):
    est = []
    for r in range(3):
        s = simulate(model, lattice, 40, rho=0.4, lam=0.4, seed=replication_seed(9, r))
        res = getattr(sp, cls).from_arrays(s.y, s.x, s.w, n_periods=s.t, names=s.names, fe="twoways",
                                           method="lee-yu").fit()
        est.append(np.r_[res.params.to_numpy(), res.sigma2])
    truth = s.truth.to_numpy()
    np.testing.assert_allclose(np.mean(est, axis=0), truth, atol=0.08)


def test_simulate_errors(lattice):
    with pytest.raises(ValueError, match="model must be one of"):
        simulate("sac", lattice, 3)
    with pytest.raises(ValueError, match="theta is only used"):
        simulate("sar", lattice, 3, theta=(1.0, 1.0))


# ------------------------------------------------------------------ engine
def test_one_and_two_workers_identical(runs):
    assert runs[1].workers == 1 and runs[2].workers == 2
    pd.testing.assert_frame_equal(runs[1].summary, runs[2].summary, check_exact=True)
    pd.testing.assert_frame_equal(runs[1].replications, runs[2].replications, check_exact=True)


def test_aggregation_matches_numpy(runs):
    reps, summ = runs[2].replications, runs[2].summary
    assert len(reps) == reps[["cell", "rep", "quantity"]].drop_duplicates().shape[0]
    for (cell, q), g in reps.groupby(["cell", "quantity"]):
        g = g.sort_values("rep")
        e, tr, se = g["estimate"].to_numpy(), g["truth"].to_numpy(), g["se"].to_numpy()
        row = summ[(summ["cell"] == cell) & (summ["quantity"] == q)].iloc[0]
        assert row["r_ok"] == len(e) == 6
        np.testing.assert_allclose(row["bias"], np.mean(e - tr), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(row["rmse"], np.sqrt(np.mean((e - tr) ** 2)), rtol=1e-12)
        np.testing.assert_allclose(row["coverage"], np.mean(np.abs(e - tr) <= norm.ppf(0.975) * se))
        np.testing.assert_allclose(row["sd"], np.std(e, ddof=1), rtol=1e-12)
    # shuffled input, same output
    shuffled = reps.sample(frac=1.0, random_state=0)
    pd.testing.assert_frame_equal(aggregate(shuffled, runs[2].cells), summ, check_exact=True)


def test_common_random_numbers_across_methods(runs):
    reps = runs[1].replications
    a = reps[(reps.cell == 0)].set_index(["rep", "quantity"])["truth"]
    b = reps[(reps.cell == 1)].set_index(["rep", "quantity"])["truth"]
    pd.testing.assert_series_equal(a, b)
    q = set(reps[reps.cell == 2]["quantity"])
    assert {"lambda", "W*x1", "direct:x1", "indirect:x2", "sigma2"} <= q


def test_failed_fit_is_counted(lattice):
    reps = pd.DataFrame({"cell": [0, 0, 0], "rep": [0, 1, 2], "quantity": "rho", "kind": "param",
                         "truth": 0.5, "estimate": [0.4, np.nan, 0.6], "se": [0.1, np.nan, 0.01],
                         "ok": [True, False, True]})
    row = aggregate(reps).iloc[0]
    assert row["r_ok"] == 2 and row["bias"] == pytest.approx(0.0) and row["coverage"] == 0.5


# ------------------------------------------------------------------ spec and command
from pathlib import Path  # noqa: E402

import typer  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from spillover.errors import SpecificationError  # noqa: E402
from spillover.montecarlo import load_spec  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "montecarlo" / "lee_yu_bias.toml"

TINY_TOML = """
name = "tiny_cli"
replications = 3
seed = 1
chunk_size = 2
[grid]
weights = ["lattice5x5"]
periods = [4]
spatial = [0.3]
models = ["sar"]
methods = ["direct", "lee-yu"]
"""


def test_shipped_spec_is_valid():
    d = load_spec(SHIPPED).design()
    assert d.replications == 200 and len(d.cells) == 4
    assert {(c.spatial, c.method) for c in d.cells} == {(0.2, "direct"), (0.2, "lee-yu"), (0.5, "direct"),
                                                         (0.5, "lee-yu")}
    assert {c.fe for c in d.cells} == {"twoways"} and {c.weights for c in d.cells} == {"provinces"}


@pytest.mark.parametrize("patch,expect", [
    (('methods = ["direct", "lee-yu"]', 'methods = ["direct", "lee_yu"]'),
     ["grid.methods.1", "'direct'", "'lee-yu'", "lee_yu"]),
    (('weights = ["lattice5x5"]', 'weights = ["queen"]'), ["grid.weights", "provinces", "lattice7x7"]),
    (("seed = 1", "seed = 1\nsead = 2"), ["sead", "allowed keys", "replications"]),
    (("replications = 3", "replications = 1"), ["replications", "greater than or equal to 2"]),
    (("spatial = [0.3]", "spatial = [1.2]"), ["grid.spatial", "(-1, 1)"]),
    (("models = [\"sar\"]", "models = [\"sac\"]"), ["grid.models.0", "'sdem'"]),
])
def test_spec_errors_name_file_key_allowed(tmp_path, patch, expect):
    f = tmp_path / "bad.toml"
    f.write_text(TINY_TOML.replace(*patch))
    with pytest.raises(SpecificationError) as err:
        load_spec(f)
    msg = str(err.value)
    assert str(f) in msg
    for e in expect:
        assert e in msg, msg


def test_spec_missing_section_and_bad_toml(tmp_path):
    f = tmp_path / "nogrid.toml"
    f.write_text('name = "x"\nreplications = 3\nseed = 0\n')
    with pytest.raises(SpecificationError, match="grid: Field required"):
        load_spec(f)
    f.write_text("name = \n")
    with pytest.raises(SpecificationError, match="not valid TOML"):
        load_spec(f)


def test_command_via_typer(tmp_path):
    from spillover.commands.montecarlo import register

    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command keeps typer in multi-command mode
        pass

    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY_TOML)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["montecarlo", str(spec), "--workers", "1", "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.iterdir()} == {"tiny_cli.csv", "tiny_cli.md", "tiny_cli.png"}
    table = pd.read_csv(out / "tiny_cli.csv")
    assert set(table["method"]) == {"direct", "lee-yu"} and (table["r_ok"] == 3).all()
    assert "| rho |" in (out / "tiny_cli.md").read_text() or "rho" in (out / "tiny_cli.md").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY_TOML.replace("seed = 1", "seed = -1"))
    res = CliRunner().invoke(app, ["montecarlo", str(bad), "--out", str(out)])
    assert res.exit_code == 2 and "seed" in res.output


def test_existing_scheduler_address(tiny_design, runs):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        res = run(tiny_design, scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(res.summary, runs[1].summary, check_exact=True)


def test_dynamic_design_correction_and_determinism():
    """SYNTHETIC dynamic SDM (tau = 0.6) on the real 31-province W, T = 10: the bias-corrected estimators
    (direct and Lee-Yu) remove most of the QML bias of tau (about -0.09 at this size), in process and on two
    workers alike."""
    design = Design.grid(weights=["provinces"], periods=[10], spatial=[0.2], models=["sdm"],
                         methods=["direct-qml", "direct", "lee-yu"], replications=24, seed=3, chunk_size=6,
                         tau=0.6, name="dyn")
    here = run(design, n_workers=0)
    there = run(design, n_workers=2)
    pd.testing.assert_frame_equal(here.summary, there.summary)
    s = here.summary.set_index(["method", "quantity"])
    assert s.loc[("direct-qml", "tau"), "truth"] == 0.6 and s.loc[("direct-qml", "tau"), "r_ok"] == 24
    assert s.loc[("direct-qml", "tau"), "bias"] < -0.05
    for m in ("direct", "lee-yu"):
        assert abs(s.loc[(m, "tau"), "bias"]) < abs(s.loc[("direct-qml", "tau"), "bias"]) / 3
    assert s.loc[("direct", "sigma2"), "mean_se"] > 0
    with pytest.raises(ValueError, match="dynamic design"):
        run(Design.grid(weights=["provinces"], periods=[10], spatial=[0.2], models=["sem"], methods=["direct"],
                        replications=2, tau=0.5), n_workers=0)
    with pytest.raises(ValueError, match="for dynamic designs"):
        run(Design.grid(weights=["provinces"], periods=[10], spatial=[0.2], models=["sar"], methods=["direct-qml"],
                        replications=2), n_workers=0)


def test_shipped_dynamic_spec_is_valid():
    d = load_spec(SHIPPED.parent / "dynamic_bias.toml").design()
    assert d.tau == 0.6 and d.replications == 200
    assert {c.method for c in d.cells} == {"direct-qml", "direct", "lee-yu"}
    assert {(c.model, c.fe) for c in d.cells} == {("sdm", "twoways")}
