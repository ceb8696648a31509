"""The model registry: built-ins declared once, read by spec, runner, grid and Monte Carlo; users' own estimators."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import spillover as sp
from spillover import registry
from spillover.errors import SpecificationError
from spillover.study.spec import load_study

ROOT = Path(__file__).resolve().parents[1]
F = "logc ~ logp + logy"


def test_every_entry_resolves_and_public_names_are_the_classes():
    for name in registry.names():
        est = registry.get(name)
        assert callable(est.cls()), name
        if est.public:
            assert getattr(sp, est.public) is est.cls()
    assert sp.GNS is sp.spatial.GNS and "GNS" in dir(sp)
    assert registry.names(grid=True) == ["sar", "sem", "sdm", "sdem", "sac", "gns"]
    from spillover.simulate import MODELS

    assert sorted(registry.names(simulate=True)) == sorted(MODELS)  # Monte Carlo: every DGP has its estimator


def test_unknown_model_lists_the_registered_names(tmp_path):
    d = tmp_path / "models"
    shutil.copytree(ROOT / "models", d, ignore=shutil.ignore_patterns("montecarlo"))
    (d / "90_bad.toml").write_text('[[estimate]]\nname = "x"\nmodel = "gmm_sar"\nformula = "cpi ~ dei"\n'
                                   'weights = "adjacency"\n', encoding="utf-8")
    with pytest.raises(SpecificationError, match=r"'gmm_sar' is not a registered estimator.*'gns'"):
        load_study(d)
    with pytest.raises(SpecificationError, match="registered"):
        registry.get("nosuch")


def test_builtin_names_are_protected():
    with pytest.raises(SpecificationError, match="built-in"):
        registry.register(registry.Estimator("sar", sp.SAR))
    with pytest.raises(SpecificationError, match="lower-case"):
        registry.register(registry.Estimator("My Model", sp.SAR))


def test_registry_run_equals_the_class(cigar):
    df, w = cigar
    req = registry.FitRequest(F, df, w, "state", "year", fe="entity", method="direct")
    a = registry.get("gns").run(req)
    b = sp.GNS(F, df, w, "state", "year", fe="entity", method="direct").fit()
    np.testing.assert_array_equal(a.params.to_numpy(), b.params.to_numpy())
    # fe = "none": the runner passes method="direct" whatever the spec says
    r = registry.get("sar").run(registry.FitRequest(F, df, w, "state", "year", fe="none", method="lee-yu"))
    assert r.method == "direct"


PLUGIN = '''
import spillover as sp
from spillover import registry


class ShrunkSAR(sp.SAR):
    """A user's estimator: the package's SAR with a tag on the result (stands for any subclass or new class)."""

    def __init__(self, *args, tag="user", **kw):
        super().__init__(*args, **kw)
        self.tag = tag

    def fit(self):
        res = super().fit()
        res.extra["tag"] = self.tag
        return res


registry.register(registry.Estimator("shrunk_sar", ShrunkSAR, fe=("entity", "twoways"), params=("rho",),
                                     impacts=True, grid=True, options=("tag",), label="User SAR"))
'''


def test_users_estimator_from_a_plugin_runs_in_the_study(tmp_path, monkeypatch):
    """[study] plugins = ["my_models.py"]; [[estimate]] model = "shrunk_sar" fits through the runner and the table."""
    monkeypatch.setenv("SPILLOVER_DATA_RAW", str(ROOT / "data_raw"))  # the copied spec names data_raw/... files
    from spillover.report.tables import Table
    from spillover.study.paths import StudyPaths
    from spillover.study.runner import StudyRun, fit_estimate, step_data, step_weights

    d = tmp_path / "models"
    d.mkdir()
    study = (ROOT / "models" / "00_study.toml").read_text(encoding="utf-8")
    study = study.replace("seed = 20261124\n", 'seed = 20261124\nplugins = ["my_models.py"]\n', 1)
    (d / "00_study.toml").write_text(study, encoding="utf-8")
    (d / "my_models.py").write_text(PLUGIN, encoding="utf-8")
    (d / "20_user.toml").write_text(
        '[[estimate]]\nname = "user"\nmodel = "shrunk_sar"\nformula = "cpi ~ dei + urban"\nweights = "adjacency"\n'
        'fe = "twoways"\noptions = { tag = "mine" }\nimpacts = { draws = 50, seed = 1 }\n'
        '[[grid]]\nname = "g"\nmodel = "shrunk_sar"\nformula = "cpi ~ dei + urban"\nvariable = "dei"\n'
        'weights = ["adjacency"]\n',
        encoding="utf-8")
    st = load_study(d)
    assert "my_models.py" in st.sources  # hashed into the manifest with the TOML files
    run = StudyRun(study=st, paths=StudyPaths.of(d), out=tmp_path / "out")
    step_data(run)
    step_weights(run)
    e = st.estimate_by_name()["user"]
    res = fit_estimate(run, e)
    assert res.extra["tag"] == "mine"
    ref = sp.SAR("cpi ~ dei + urban", run.panel, run.weights["adjacency"], "province", "year",
                 fe="twoways", method="lee-yu").fit()
    np.testing.assert_array_equal(res.params.to_numpy(), ref.params.to_numpy())
    assert np.isfinite(res.impacts(draws=50, seed=1).table.loc["dei", "direct_se"])
    tab = Table.from_results([res], ["User SAR"])
    assert "dei" in tab.numbers()["row"].astype(str).str.cat()
    from spillover.study.grid import run_grid

    grid = run_grid(st.grid[0], run.panel, run.weights, "province", "year")
    assert grid["error"].eq("").all() and grid["coef"].iloc[0] == pytest.approx(ref.params["dei"], rel=1e-12)
    # an option the estimator does not declare is a spec error naming it
    (d / "20_user.toml").write_text(
        '[[estimate]]\nname = "user"\nmodel = "shrunk_sar"\nformula = "cpi ~ dei"\nweights = "adjacency"\n'
        'options = { colour = "red" }\n', encoding="utf-8")
    with pytest.raises(SpecificationError, match=r"takes options \['tag'\], not \['colour'\]"):
        load_study(d)
