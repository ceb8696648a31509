"""The default study end to end on the real panel, and `spillover verify`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from spillover.study.runner import run_study

ROOT = Path(__file__).resolve().parents[1]


def _raw_snapshot() -> dict[str, tuple[int, str]]:
    import hashlib

    return {p.relative_to(ROOT).as_posix(): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted((ROOT / "data_raw").rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    before = _raw_snapshot()
    run = run_study(ROOT / "models", out, figures=False)
    run.raw_unchanged = _raw_snapshot() == before
    return run, out


def test_the_study_never_writes_data_raw(study_run):
    """Every file of data_raw/ keeps its bytes and modification time through a whole study run; none is added."""
    run, _ = study_run
    assert run.raw_unchanged


def test_verify_under_another_blas_kernel_and_one_thread(tmp_path):
    """`spillover verify` in a fresh process with the generic Prescott OpenBLAS kernel and one BLAS thread (the
    suite runs with the machine's kernel and its threads), against the committed results/ with one number of
    numbers.csv moved by 1e-4: exactly that number differs (exit 1), every other number and every file matches."""
    import os
    import shutil
    import subprocess
    import sys

    committed = tmp_path / "results"
    shutil.copytree(ROOT / "results", committed)
    nums = pd.read_csv(committed / "numbers.csv")
    i = nums.index[(nums["output"] == "table_baseline") & (nums["row"] == "dei|coef")][0]
    nums.loc[i, "value"] = nums.loc[i, "value"] * (1 + 1e-4)
    nums.to_csv(committed / "numbers.csv", index=False)
    env = {**os.environ, "OPENBLAS_CORETYPE": "Prescott", "OPENBLAS_NUM_THREADS": "1", "COLUMNS": "100"}
    exe = Path(sys.executable).with_name("spillover")
    res = subprocess.run([str(exe), "verify", str(ROOT / "models"), "--results", str(committed), "--report",
                          str(tmp_path / "report")], env=env, capture_output=True, text=True, cwd=tmp_path,
                         timeout=900)
    out = res.stdout + res.stderr
    assert res.returncode == 1, out[-3000:]
    assert "numbers that differ: 1" in out and "table_baseline | dei|coef | Pooled OLS" in out, out[-3000:]
    assert "files that differ" not in out and "missing" not in out.split("compared", 1)[1], out[-3000:]
    assert "dei|coef" in (tmp_path / "report.csv").read_text()


def test_outputs_written(study_run):
    run, out = study_run
    for rel in ("numbers.csv", "manifest.json", "README.md", "data/panel.csv", "tables/moran_by_year.csv",
                "tables/specification_tests.md", "weights/adjacency.csv"):
        assert (out / rel).exists(), rel
    for fmt in ("tex", "html", "md", "csv", "xlsx", "docx"):
        assert (out / "tables" / f"table_baseline.{fmt}").exists()
    assert not list(out.rglob("*.tmp")), "no temporary files left behind"


def test_specification_tests_use_one_hausman_form(study_run):
    """The study's specification-test table reports the robust (Mundlak) Hausman test and says so."""
    run, out = study_run
    s = run.diagnostics["specification_tests"]
    row = s.table.loc["Hausman FE vs RE"]
    assert s.hausman.kind == "robust" and row["stat"] >= 0 and 0 <= row["p"] <= 1
    md = (out / "tables" / "specification_tests.md").read_text(encoding="utf-8")
    assert "SDM, random effects with unit means (Mundlak), cluster-robust Wald" in md


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
    from spillover.study.hypotheses import verdicts

    for v in verdicts(run):
        assert f"### {v.name}: {v.verdict}" in text and f"Verdict: **{v.verdict}**" in text
    assert [v.name.split()[0] for v in verdicts(run)] == ["H1", "H2", "H3a", "H3b", "H3c", "H4", "H5a", "H5b"]
    # the flagged bias-corrected dynamic SDM is listed as flagged and never enters a verdict
    assert run.estimates["dsdm_corrected"].flags and "- Dynamic SDM, bias-corrected:" in text
    assert all("dsdm_corrected" not in [c.entry for c in (v.main, *v.robustness)] for v in verdicts(run))


def test_numbers_match_estimates(study_run):
    run, out = study_run
    nums = pd.read_csv(out / "numbers.csv")
    base = nums[(nums["output"] == "table_baseline") & (nums["row"] == "dei|coef")]
    sdm = run.estimates["sdm_twoways"]
    assert base["value"].round(10).isin([round(sdm.params["dei"], 10)]).any()


def test_dynamic_iv_unbalanced_from_toml(study_run):
    """The issue-6 estimators run from models/*.toml and equal direct calls on the same real panel."""
    import numpy as np

    import spillover as sp
    from spillover.panel import add_lag, fit_iv
    from spillover.spatial.dynamic import DynamicSDM
    from spillover.spatial.unbalanced import fit_unbalanced

    run, out = study_run
    panel, w = run.panel, run.weights["adjacency"]
    f = "cpi ~ dei + urban + gov + open + hc"
    dyn = DynamicSDM(f, panel, w, "province", "year", fe="twoways", method="lee-yu", correction="none").fit()
    np.testing.assert_allclose(run.estimates["dsdm_qml"].params.to_numpy(), dyn.params.to_numpy(), rtol=1e-12)
    lagged = add_lag(add_lag(panel, "dei", "province", "year"), "dei", "province", "year", 2)
    iv = fit_iv("cpi", ["urban", "gov", "open", "hc"], ["dei"], ["L1_dei", "L2_dei"], lagged, "province", "year")
    assert run.estimates["iv_2sls"].params["dei"] == pytest.approx(iv.params["dei"], rel=1e-12)
    cor = pd.read_csv(out / "data" / "corrections.csv", dtype={"province": str})
    flagged = cor[cor["what"].str.startswith("interpolated") & cor["indicator"].isin(["x13", "x21", "pension_participants"])]
    drop = set(zip(flagged["province"], flagged["year"].astype(int), strict=True))
    keep = [(p, y) not in drop for p, y in zip(panel["province"], panel["year"], strict=True)]
    ub = fit_unbalanced(f, panel[keep], w, "province", "year", fe="twoways", model="sdm")
    res = run.estimates["sdm_observed_only"]
    assert res.nobs == ub.nobs == 310 - len(drop) and res.method == "direct-unbalanced"
    np.testing.assert_allclose(res.params.to_numpy(), ub.params.to_numpy(), rtol=1e-10)
    nums = pd.read_csv(out / "numbers.csv")
    for name in ("table_dynamic", "table_iv", "table_unbalanced"):
        assert (out / "tables" / f"{name}.docx").exists()
        assert (nums["output"] == name).sum() > 20
    md = (out / "tables" / "table_iv.md").read_text()
    assert "partial F (Digital economy index)" in md and "_u_" not in md  # the label, not the name
    assert isinstance(sp.SDM, type)


def test_spatial_iv_from_toml(study_run):
    """table_iv_spatial: the SDM by spatial 2SLS with the index instrumented by its two lags equals a direct sp.GM
    call; the comparison columns use the same years (2015-2022); first-stage rows with labels."""
    import numpy as np

    import spillover as sp

    run, out = study_run
    panel, w = run.panel, run.weights["adjacency"]
    iv = sp.GM("cpi ~ urban + gov + open + hc + [dei ~ L1.dei + L2.dei]", panel, w, "province", "year",
               model="sar", durbin=True).fit()
    res = run.estimates["sdm_iv"]
    np.testing.assert_allclose(res.params.to_numpy(), iv.params.to_numpy(), rtol=1e-12)
    assert res.T == 8 and res.model == "SDM" and "W*dei" in res.params
    assert res.first_stage.index.tolist() == ["dei", "W*dei", "W*cpi"]
    late = panel[panel["year"] >= 2015]
    ex = sp.GM("cpi ~ dei + urban + gov + open + hc", late, w, "province", "year", model="sar", durbin=True).fit()
    np.testing.assert_allclose(run.estimates["sdm_s2sls"].params.to_numpy(), ex.params.to_numpy(), rtol=1e-12)
    assert run.estimates["sdm_ml_entity"].nobs == 248 and run.impacts["sdm_iv"].table.loc["dei", "direct"] > 0
    nums = pd.read_csv(out / "numbers.csv")
    assert (nums["output"] == "table_iv_spatial").sum() > 100
    md = (out / "tables" / "table_iv_spatial.md").read_text()
    for part in ("First stage: partial F (W × Digital economy index)",
                 "First stage: partial F (W × Common prosperity index)", "Spatial 2SLS", "homoskedastic 2SLS",
                 "W × Digital economy index"):
        assert part in md, part


def test_drop_interpolated_unknown_indicator_is_named(study_run):
    from spillover.errors import SpecificationError
    from spillover.study.runner import estimate_data
    from spillover.study.spec import EstimateSpec

    run, _ = study_run
    e = EstimateSpec(name="bad", model="sdm", formula="cpi ~ dei", weights="adjacency", method="direct",
                     drop_interpolated=["x99"])
    with pytest.raises(SpecificationError, match=r"estimate 'bad'.*\['x99'\].*x13"):
        estimate_data(run, e)


# ---------------------------------------------------------------- the Chinese rendering ([study] renderings)
_LATIN_OK = {"SDM", "SAR", "SEM", "SDEM", "SLX", "SAC", "GNS", "OLS", "QML", "AIC", "GMM", "SLS", "LSDV", "Lee",
             "Elhorst", "LeSage", "Pace", "Yu", "de", "Jong", "Kelejian", "Prucha", "Wald", "Hansen", "Sargan", "Hessian",
             "Debarsy", "Ertur", "Queen", "IV", "HAC", "Mundlak", "Halleck", "Vega", "Drukker", "Egger"}


def _latin_words(text: str) -> set[str]:
    import re

    text = re.sub(r"\[[^\]]*\]\([^)]*\)|`[^`]*`", "", text)  # links and code name files and columns
    return {w for w in re.findall(r"[A-Za-z]{2,}", text)} - _LATIN_OK


def test_chinese_rendering_has_every_table_and_no_english_left(study_run):
    """Every [[table]] in every format under zh/tables, written in Chinese: the Markdown holds no English word
    beyond method and author names; Word and Excel files read back with the Chinese labels; the numbers are the
    English table's (numbers.csv is written once)."""
    import docx
    import openpyxl

    run, out = study_run
    zh = out / "zh"
    assert not (zh / "untranslated.txt").exists(), (zh / "untranslated.txt").read_text(encoding="utf-8")
    label = run.study.labels["zh"]["dei"]
    for t in run.study.table:
        for ext in t.formats:
            assert (zh / "tables" / f"{t.name}.{ext}").is_file()
        md = (zh / "tables" / f"{t.name}.md").read_text(encoding="utf-8")
        assert not _latin_words(md), (t.name, _latin_words(md))
        assert label in md and run.study.translations["zh"][t.title] in md
        doc = docx.Document(zh / "tables" / f"{t.name}.docx")
        cells = {c.text for tb in doc.tables for row in tb.rows for c in row.cells}
        assert label in cells and "观测值" in cells
        fonts = {r._element.rPr.rFonts.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}eastAsia")
                 for p in doc.paragraphs for r in p.runs if r._element.rPr is not None and r._element.rPr.rFonts
                 is not None}
        assert fonts - {None}, "an East Asian font is declared for the Chinese runs"
        _assert_font_embedded(zh / "tables" / f"{t.name}.docx", fonts - {None})
        ws = openpyxl.load_workbook(zh / "tables" / f"{t.name}.xlsx")["table"]
        assert label in {str(c.value) for row in ws.iter_rows() for c in row}
    authors = {"Baron", "Kenny", "Sobel", "BA", "Moran", "Cliff", "Ord", "esda", "Anselin", "Bera", "Florax", "Yoon",
               "LM", "LR", "Hausman", "delta"}
    shown = {name for name, *_ in run.markdown_tables}
    assert {"descriptive_statistics", "moran_by_year", "specification_tests", "grid_sdm"} <= shown
    for name in shown:  # descriptive, Moran, specification tests, grid, mediation, threshold and regime tables too
        md = (zh / "tables" / f"{name}.md").read_text(encoding="utf-8")
        assert not _latin_words(md) - authors, (name, _latin_words(md))
    en = pd.read_csv(out / "tables" / "table_baseline.csv", index_col=0, skiprows=1, encoding="utf-8-sig")
    cn = pd.read_csv(zh / "tables" / "table_baseline.csv", index_col=0, skiprows=1, encoding="utf-8-sig")
    numeric = en.apply(lambda c: c.str.match(r"^\(?-?[\d.]+\)?\**$", na=False))
    assert en.shape == cn.shape and numeric.to_numpy().sum() > 50  # same cells, other labels
    assert (en.where(numeric).fillna("") == cn.where(numeric.to_numpy()).fillna("").to_numpy()).all().all()
    nums = pd.read_csv(out / "numbers.csv")
    assert nums.groupby(["output", "row", "column"]).size().max() == 1


def _assert_font_embedded(path, declared: set) -> None:
    """The .docx embeds (obfuscated, ECMA-376 17.8.1) a TrueType font named as its runs' East Asian font, with a
    glyph for every Chinese character of the document."""
    import io
    import re
    import zipfile

    from fontTools.ttLib import TTFont

    from spillover.report.docx_fonts import obfuscate

    z = zipfile.ZipFile(path)
    table = z.read("word/fontTable.xml").decode("utf-8")
    name, rid, key = re.search(r'<w:font w:name="([^"]+)">(?:(?!</w:font>).)*<w:embedRegular r:id="([^"]+)" '
                               r'w:fontKey="([^"]+)"', table).groups()
    assert declared == {name}
    target = re.search(rf'Id="{rid}"[^>]*Target="([^"]+)"|Target="([^"]+)"[^>]*Id="{rid}"',
                       z.read("word/_rels/fontTable.xml.rels").decode()).groups()
    font = TTFont(io.BytesIO(obfuscate(z.read("word/" + next(t for t in target if t)), key)))
    assert "glyf" in font and font["name"].getDebugName(1) == name
    text = re.sub(r"<[^>]+>", "", z.read("word/document.xml").decode("utf-8"))
    cmap = font.getBestCmap()
    missing = {c for c in text if "\u3400" <= c <= "\u9fff" and ord(c) not in cmap}
    assert not missing and "<w:embedTrueTypeFonts/>" in z.read("word/settings.xml").decode()


def test_chinese_readme_states_the_same_verdicts_with_links_that_open(study_run):
    import re

    from spillover.study.hypotheses import TEXT, verdicts

    run, out = study_run
    text = (out / "zh" / "README.md").read_text(encoding="utf-8")
    heads = re.findall(r"^## (.+)$", text, flags=re.M)
    assert heads[:6] == ["研究问题", "数据", "变量", "空间权重矩阵", "研究假设", "模型设定检验与设定网格"]
    zh = run.study.translations["zh"]
    for v in verdicts(run):
        assert f"### {zh[v.name]}：{TEXT['zh']['verdict'][v.verdict]}" in text
        assert zh[v.claim] in text
    for target in re.findall(r"\]\(([^)]+)\)", text):
        assert (out / "zh" / target).resolve().exists() or target.startswith(("montecarlo/", "../montecarlo/",
                                                                            "../manifest", "../numbers")), target
    prose = re.sub(r"^\|.*$|^- \S*\[.*$|^- [a-z_]+: \[.*$", "", text, flags=re.M)  # tables; lists of files
    assert not _latin_words(prose) - {"LR", "Sobel", "Dagum", "DEI", "CPI", "delta", "indicator", "system", "xlsx"}


def test_model_probabilities_table_and_readme_line(study_run):
    """The [[model_probabilities]] entry: every model under every W (OLS once), probabilities summing to one and
    equal to a direct call; the README names the most probable model and links the table."""
    import spillover as sp

    run, out = study_run
    b = run.study.model_probabilities[0]
    tab = run.analyses[b.name]
    assert len(pd.read_csv(out / "tables" / f"{b.name}.csv")) == len(tab)
    assert len(tab) == 1 + (len(b.models) - 1) * len(b.weights)
    assert tab["probability"].sum() == pytest.approx(1.0, abs=1e-12)
    ws = {wn: run.weights[wn] for wn in b.weights[:2]}
    direct = sp.model_probabilities(["sar", "sdm"], b.formula, run.panel, ws, run.study.data.entity,
                                     run.study.data.time, fe=b.fe)
    for (m, wn), r in direct.iterrows():
        row = tab[(tab["model"] == m) & (tab["W"] == wn)].iloc[0]
        assert row["log_marginal"] == pytest.approx(r["log_marginal"], rel=1e-12)
    best = tab.loc[tab["probability"].idxmax()]
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert f"highest posterior probability is {best['model'].upper()}'s" in readme
    assert f"[tables/{b.name}.md](tables/{b.name}.md)" in readme


def test_estimate_with_weights_of_its_own_per_term(study_run):
    """[[estimate]] weights_x / weights_u: the W of the W X terms and of the error by name, equal to the direct call;
    the subsample restricts them too; a model without such a term refuses them at spec load."""
    import numpy as np

    import spillover as sp
    from spillover.study.runner import fit_estimate
    from spillover.study.spec import EstimateSpec

    run, _ = study_run
    f = "cpi ~ dei + urban"
    e = EstimateSpec(name="x", model="sdem", formula=f, weights="adjacency", weights_x="distance",
                     weights_u="economic", fe="entity")
    got = fit_estimate(run, e)
    want = sp.SDEM(f, run.panel, run.weights["adjacency"], "province", "year", fe="entity",
                   w_x=run.weights["distance"], w_u=run.weights["economic"]).fit()
    np.testing.assert_allclose(got.params.to_numpy(), want.params.to_numpy(), rtol=1e-12)
    plain = fit_estimate(run, EstimateSpec(name="y", model="sdem", formula=f, weights="adjacency", fe="entity"))
    assert abs(plain.params["lambda"] - got.params["lambda"]) > 1e-3
    sub = fit_estimate(run, EstimateSpec(name="z", model="sdm", formula=f, weights="adjacency", weights_x="distance",
                                         fe="entity", groups=["east"]))
    assert sub.N == (run.panel.drop_duplicates("province")["region"] == "east").sum()
    with pytest.raises(ValueError, match="weights_u: model 'sdm' has no spatial error"):
        EstimateSpec(name="w", model="sdm", formula=f, weights="adjacency", weights_u="distance")


def test_unbalanced_estimate_takes_cov_and_its_own_w_x(tmp_path):
    """drop_interpolated goes through spillover.fit_unbalanced with the estimate's cov and weights_x: the same
    numbers as calling it directly on the estimate's data and weights (data and weights steps only)."""
    import warnings

    from spillover.spatial.unbalanced import fit_unbalanced
    from spillover.study.paths import StudyPaths
    from spillover.study.runner import StudyRun, estimate_data, fit_estimate, step_data, step_weights
    from spillover.study.spec import EstimateSpec, load_study

    study = load_study(ROOT / "models")
    run = StudyRun(study=study, paths=StudyPaths.of(ROOT / "models"), out=tmp_path / "out", engine=None,
                   final=tmp_path / "final")
    step_data(run)
    step_weights(run)
    e = EstimateSpec(name="u", model="sdm", formula="cpi ~ dei + urban", weights="adjacency", fe="twoways",
                     method="direct", drop_interpolated=["x13"], cov="cluster", weights_x="distance")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = fit_estimate(run, e)
        df = estimate_data(run, e)
        want = fit_unbalanced(e.formula, df, run.weights["adjacency"], study.data.entity, study.data.time,
                              model="sdm", fe="twoways", cov="cluster", w_x=run.weights["distance"])
    assert got.cov_type == "cluster" and got.nobs < len(run.panel)
    pd.testing.assert_series_equal(got.bse, want.bse)
    assert not (got.bse - fit_unbalanced(e.formula, df, run.weights["adjacency"], study.data.entity,
                                         study.data.time, model="sdm", fe="twoways").bse).abs().lt(1e-6).all()
