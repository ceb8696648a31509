"""The default study end to end on the real panel, and `spillover verify`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from spillover.cli import app
from spillover.study.runner import run_study
from spillover.study.verify import compare_numbers

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    return run_study(ROOT / "models", out, figures=False), out


def test_outputs_written(study_run):
    run, out = study_run
    for rel in ("numbers.csv", "manifest.json", "README.md", "data/panel.csv", "tables/moran_by_year.csv",
                "tables/specification_tests.md", "weights/adjacency.csv"):
        assert (out / rel).exists(), rel
    for fmt in ("tex", "html", "md", "csv", "xlsx", "docx"):
        assert (out / "tables" / f"table_baseline.{fmt}").exists()
    assert not list(out.rglob("*.tmp")), "no temporary files left behind"


def test_manifest_contents(study_run):
    run, out = study_run
    m = json.loads((out / "manifest.json").read_text())
    assert "data_raw/catalog.toml" in m["inputs_sha256"]
    assert any(k.endswith("control V.xlsx") for k in m["inputs_sha256"])
    assert set(m["specs_sha256"]) == {p.name for p in (ROOT / "models").glob("*.toml")}
    assert m["seeds"]["impacts:sdm_twoways"] == 20261124
    assert m["packages"]["numpy"] and m["timings_s"]["estimates"] >= 0


def test_readme_has_verdicts_from_numbers(study_run):
    run, out = study_run
    text = (out / "README.md").read_text()
    imp = run.impacts["sdm_twoways"].table.loc["dei"]
    assert f"{imp['direct']:.3f}" in text
    for h in ("H1", "H2", "H3", "H4", "H5"):
        assert f"**{h}" in text


def test_numbers_match_estimates(study_run):
    run, out = study_run
    nums = pd.read_csv(out / "numbers.csv")
    base = nums[(nums["output"] == "table_baseline") & (nums["row"] == "dei|coef")]
    sdm = run.estimates["sdm_twoways"]
    assert base["value"].round(10).isin([round(sdm.params["dei"], 10)]).any()


def test_rerun_is_identical(study_run, tmp_path):
    _, out = study_run
    run_study(ROOT / "models", tmp_path, figures=False)
    rep = compare_numbers(pd.read_csv(out / "numbers.csv"), pd.read_csv(tmp_path / "numbers.csv"), rtol=0, atol=0)
    assert rep.ok, rep.mismatches.head()


def test_verify_detects_a_perturbed_number(study_run, tmp_path):
    _, out = study_run
    nums = pd.read_csv(out / "numbers.csv")
    committed = tmp_path / "results"
    committed.mkdir()
    i = nums.index[(nums["output"] == "table_baseline") & (nums["row"] == "dei|coef")][0]
    nums.loc[i, "value"] = nums.loc[i, "value"] * (1 + 1e-4)
    nums.to_csv(committed / "numbers.csv", index=False)
    res = CliRunner().invoke(app, ["verify", str(ROOT / "models"), "--results", str(committed)])
    assert res.exit_code == 1, res.output
    assert "mismatches: 1" in res.output and "dei|coef" in res.output
