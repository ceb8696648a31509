"""The descriptive entries of the bundled study ([[gaps]], [[density]], [[convergence]], [[coupling]],
[[obstacles]] and the trend hypothesis) run from models/*.toml, and every number they write equals an
independent computation on the same panel: brute-force double sums, numpy formulas, a dummy-variable
regression, scipy's trend test."""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import spillover as sp
from spillover.errors import SpecificationError
from spillover.study.runner import run_study
from spillover.study.spec import load_study

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
GAPS_FILE = "15_regional_gaps.toml"


def _study_folder(d: Path) -> Path:
    """The study file, the descriptive entries, the Chinese text and the trend hypotheses, nothing else."""
    d.mkdir()
    for name in ("00_study.toml", GAPS_FILE, "90_zh.toml"):
        shutil.copy(MODELS / name, d / name)
    hyp = tomllib.loads((MODELS / "70_hypotheses.toml").read_text(encoding="utf-8"))["hypothesis"]
    trend = [h for h in hyp if h["quantity"] == "trend"]
    assert trend, "the study states a trend hypothesis"
    lines = []
    for h in trend:
        lines.append("[[hypothesis]]")
        lines += [f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {list(v) if isinstance(v, list) else v}"
                  for k, v in h.items()]
    (d / "70_hypotheses.toml").write_text("\n".join(lines).replace("'", '"') + "\n", encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def gaps_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("descriptive")
    before = os.environ.get("SPILLOVER_DATA_RAW")
    os.environ["SPILLOVER_DATA_RAW"] = str(ROOT / "data_raw")
    try:
        run = run_study(_study_folder(base / "models"), base / "results")
    finally:
        if before is None:
            os.environ.pop("SPILLOVER_DATA_RAW")
        else:
            os.environ["SPILLOVER_DATA_RAW"] = before
    nums = pd.concat(run.numbers, ignore_index=True)  # unrounded; numbers.csv holds them to 10 digits
    written = pd.read_csv(base / "results" / "numbers.csv", dtype={"row": str, "column": str})
    check = nums.merge(written, on=["output", "row", "column"], suffixes=("", "_csv"))
    assert len(check) == len(nums) and np.allclose(check["value"].astype(float), check["value_csv"], rtol=1e-9,
                                                   atol=0, equal_nan=True)
    return run, base / "results", nums


def _value(nums: pd.DataFrame, output: str, row: str, column: str) -> float:
    hit = nums[(nums["output"] == output) & (nums["row"] == row) & (nums["column"] == column)]
    assert len(hit) == 1, (output, row, column)
    return float(hit["value"].iloc[0])


def _panel(run) -> pd.DataFrame:
    return run.panel.assign(region=run.panel["region"].astype(str))


# ---------------------------------------------------------------- regional gaps
@pytest.mark.parametrize("col", ["dei", "cpi"])
def test_dagum_table_is_the_brute_force_double_sum(gaps_run, col):
    from test_inequality import brute_dagum

    run, _, nums = gaps_run
    panel = _panel(run)
    labels = run.study.labels["en"]
    for year, d in panel.groupby("year"):
        ref = brute_dagum(d[col].to_numpy(), d["region"].to_numpy())
        row = f"{col}|{year}"
        assert _value(nums, "regional_gaps_dagum", row, "Gini G") == pytest.approx(ref["G"], abs=1e-12)
        assert _value(nums, "regional_gaps_dagum", row, "Within G_w") == pytest.approx(ref["G_w"], abs=1e-12)
        assert _value(nums, "regional_gaps_dagum", row, "Net between G_nb") == pytest.approx(ref["G_nb"], abs=1e-12)
        assert _value(nums, "regional_gaps_dagum", row, "Transvariation G_t") == pytest.approx(ref["G_t"], abs=1e-12)
        assert _value(nums, "regional_gaps_dagum", row, "Within (%)") == pytest.approx(100 * ref["G_w"] / ref["G"])
        for g, gjj in ref["Gjj"].items():
            assert _value(nums, "regional_gaps_within", row, labels[g]) == pytest.approx(gjj, abs=1e-12)
        for (j, h), gjh in ref["Gjh"].items():
            pair = [f"{labels[a]}\u2013{labels[b]}" for a, b in ((j, h), (h, j))]
            hit = nums[(nums["output"] == "regional_gaps_between") & (nums["row"] == row)
                       & nums["column"].isin(pair)]
            assert len(hit) == 1 and float(hit["value"].iloc[0]) == pytest.approx(gjh, abs=1e-12)


def test_theil_and_cv_table_equal_library_and_numpy(gaps_run):
    from test_inequality import brute_theil

    run, _, nums = gaps_run
    panel = _panel(run)
    lib = sp.analysis.theil(panel, "cpi", "region", "year").summary.set_index("year")
    for year, d in panel.groupby("year"):
        ref = brute_theil(d["cpi"].to_numpy(), d["region"].to_numpy())
        row = f"cpi|{year}"
        assert _value(nums, "regional_gaps_theil", row, "Theil T") == pytest.approx(ref["T"], abs=1e-12)
        assert _value(nums, "regional_gaps_theil", row, "Between groups") == pytest.approx(ref["between"], abs=1e-12)
        assert _value(nums, "regional_gaps_theil", row, "Within groups (%)") == \
            pytest.approx(100 * lib.loc[year, "share_within"], rel=1e-12)
        y = d["cpi"].to_numpy()
        assert _value(nums, "regional_gaps_theil", row, "CV") == pytest.approx(y.std() / y.mean(), rel=1e-12)


# ---------------------------------------------------------------- kernel densities
def test_density_table_bandwidth_by_scott_and_mode_on_the_grid(gaps_run):
    run, _, nums = gaps_run
    panel = run.panel
    kd = sp.analysis.kernel_density(panel, "dei", "year", grid=256, bandwidth="scott")
    for year, d in panel.groupby("year"):
        y = d["dei"].to_numpy()
        h = len(y) ** (-1 / 5) * y.std(ddof=1)  # Scott (1992): n^(-1/5) times the sample SD
        assert _value(nums, "density", f"dei|{year}", "Bandwidth h") == pytest.approx(h, rel=1e-10)
        part = kd[kd["year"] == year]
        x = part["x"].to_numpy()
        dens = np.exp(-0.5 * ((x[:, None] - y[None, :]) / h) ** 2).sum(axis=1) / (len(y) * h * np.sqrt(2 * np.pi))
        assert _value(nums, "density", f"dei|{year}", "Mode") == pytest.approx(x[np.argmax(dens)], abs=1e-12)
        assert _value(nums, "density", f"dei|{year}", "Peak density") == pytest.approx(dens.max(), rel=1e-10)
        assert _value(nums, "density", f"dei|{year}", "Units") == len(y)


# ---------------------------------------------------------------- convergence
def test_convergence_table_equals_numpy_and_a_dummy_variable_regression(gaps_run):
    run, _, nums = gaps_run
    panel = run.panel.sort_values(["province", "year"])
    cv = panel.groupby("year")["cpi"].agg(lambda v: v.std(ddof=0) / v.mean())
    fit = stats.linregress(cv.index.to_numpy(float), cv.to_numpy())
    assert _value(nums, "convergence_cpi", "sigma_cv", "Estimate") == pytest.approx(fit.slope, rel=1e-10)
    assert _value(nums, "convergence_cpi", "sigma_cv", "SE") == pytest.approx(fit.stderr, rel=1e-10)
    # absolute beta: growth on the lagged log level with unit and year dummies (least squares)
    lx = np.log(panel["cpi"].to_numpy())
    prev = panel.groupby("province")["cpi"].shift(1).to_numpy()
    keep = ~np.isnan(prev)
    g = (lx - np.log(np.where(keep, prev, 1.0)))[keep]
    d = panel[keep]
    X = np.column_stack([np.log(prev[keep]), pd.get_dummies(d["province"], dtype=float).to_numpy(),
                         pd.get_dummies(d["year"], drop_first=True, dtype=float).to_numpy()])
    beta = np.linalg.lstsq(X, g, rcond=None)[0][0]
    assert _value(nums, "convergence_cpi", "beta_absolute", "Estimate") == pytest.approx(beta, rel=1e-8)
    assert _value(nums, "convergence_cpi", "beta_absolute", "Speed (% per period)") == \
        pytest.approx(-100 * np.log(1 + beta), rel=1e-8)
    assert _value(nums, "convergence_cpi", "beta_absolute", "Half-life (periods)") == \
        pytest.approx(np.log(2) / -np.log(1 + beta), rel=1e-8)
    spec = run.study.convergence[0]
    cond = sp.analysis.convergence(run.panel, "cpi", "province", "year", kind="beta", controls=spec.controls)
    assert _value(nums, "convergence_cpi", "beta_conditional", "Estimate") == pytest.approx(cond.beta, rel=1e-12)
    for wn in spec.weights:  # one spatial beta per W of the study, as a direct library call
        res = sp.analysis.convergence(run.panel, "cpi", "province", "year", kind="spatial_beta", w=run.weights[wn])
        assert _value(nums, "convergence_cpi", f"beta_spatial_{wn}", "Estimate") == pytest.approx(res.beta,
                                                                                                   rel=1e-10)
        assert _value(nums, "convergence_cpi", f"beta_spatial_{wn}", "Spatial parameter") == \
            pytest.approx(res.model.params["rho"], rel=1e-10)


# ---------------------------------------------------------------- coupling
def test_coupling_tables_equal_the_formula(gaps_run):
    run, out, nums = gaps_run
    p = run.panel
    u1, u2 = p["dei"].to_numpy(), p["cpi"].to_numpy()
    D = np.sqrt(2 * np.sqrt(u1 * u2) / (u1 + u2) * (0.5 * u1 + 0.5 * u2))
    frame = p.assign(D=D)
    for year, d in frame.groupby("year"):
        assert _value(nums, "coupling_dei_cpi", str(year), "Coordination D, All provinces") == \
            pytest.approx(d["D"].mean(), rel=1e-12)
        east = d[d["region"].astype(str) == "east"]
        assert _value(nums, "coupling_dei_cpi", str(year), "East") == pytest.approx(east["D"].mean(), rel=1e-12)
        counts = nums[(nums["output"] == "coupling_dei_cpi_classes") & (nums["column"] == str(year))]
        assert counts["value"].sum() == len(d) and len(counts) == 10
        k = np.floor(np.round(d["D"].to_numpy() * 10, 12)).astype(int)
        assert _value(nums, "coupling_dei_cpi_classes", "mild disorder", str(year)) == (k == 3).sum()
    unit = str(p["province"].iloc[0])
    assert _value(nums, "coupling_dei_cpi_units", f"{unit}|{p['year'].iloc[0]}", "D") == pytest.approx(D[0])
    zh = (out / "zh" / "tables" / "coupling_dei_cpi_units.md").read_text(encoding="utf-8")
    assert "初级协调" in zh and "北京市" in zh and "primary coordination" not in zh


# ---------------------------------------------------------------- obstacle degrees
@pytest.mark.parametrize("index", ["dei", "cpi"])
def test_obstacle_degrees_from_the_index_weights(gaps_run, index):
    run, _, nums = gaps_run
    res = run.built.indices[index]
    w = res.weights.set_index("indicator")["weight"]
    Z = res.standardized[list(w.index)]
    Z = Z[Z.index.get_level_values("year").isin(run.panel["year"].unique())]
    FI = (1 - Z) * w.to_numpy()
    O = FI.div(FI.sum(axis=1), axis=0)
    dims = res.weights.set_index("indicator")["dimension"]
    for year, part in O.groupby(level="year"):
        for ind in w.index:
            row = f"{dims[ind]}|{ind}"
            assert _value(nums, f"obstacles_{index}_indicators", row, str(year)) == \
                pytest.approx(100 * part[ind].mean(), rel=1e-10)
        total = nums[(nums["output"] == f"obstacles_{index}_dimensions") & (nums["column"] == str(year))]
        assert total["value"].sum() == pytest.approx(100.0, abs=1e-9)
    for dim in dims.unique():
        assert _value(nums, f"obstacles_{index}_dimensions", dim, "Mean") == \
            pytest.approx(100 * O[dims.index[dims == dim]].sum(axis=1).mean(), rel=1e-10)


# ---------------------------------------------------------------- the trend hypothesis
def test_trend_hypothesis_reads_the_gap_series(gaps_run):
    from spillover.study.hypotheses import verdicts

    run, out, _ = gaps_run
    (v,) = verdicts(run)
    h = run.study.hypothesis[0]
    panel = _panel(run)
    years = np.arange(h.years[0], h.years[1] + 1)
    G = [sp.analysis.gini(panel.loc[panel["year"] == y, h.variable].to_numpy()) for y in years]
    fit = stats.linregress(years.astype(float), G)
    ev = v.main.evidence
    assert ev.value == pytest.approx(fit.slope, rel=1e-10) and ev.p == pytest.approx(fit.pvalue, rel=1e-8)
    expected = "supported" if fit.slope > 0 and fit.pvalue < 0.05 else "not supported"
    assert v.verdict == expected
    text = (out / "README.md").read_text(encoding="utf-8")
    assert f"### {h.name}: {expected}" in text and "2013-2017" in text and "(two-sided t-test)" in text
    assert f"{fit.slope:.3f}" in text


# ---------------------------------------------------------------- Markov chains
def _markov_wide(run, col: str, ids: list) -> np.ndarray:
    """Units (in ``ids`` order) x years of ``col``."""
    wide = run.panel.assign(province=run.panel["province"].astype(str)).pivot(index="province", columns="year",
                                                                             values=col)
    return wide.loc[[str(i) for i in ids]].to_numpy(dtype=float)


def _steady(P: np.ndarray) -> np.ndarray:
    """pi P = pi, sum(pi) = 1, by least squares (unique when the chain has one recurrent class)."""
    k = len(P)
    A = np.vstack([P.T - np.eye(k), np.ones(k)])
    return np.linalg.lstsq(A, np.r_[np.zeros(k), 1.0], rcond=None)[0]


@pytest.mark.parametrize("col", ["dei", "cpi"])
def test_markov_tables_are_brute_force_counts_and_the_library_call(gaps_run, col):
    from test_markov import count, homogeneity, quantile_states

    run, _, nums = gaps_run
    spec = run.study.markov[0]
    names = ["low", "lower-middle", "upper-middle", "high"]
    assert (spec.k, spec.classes, spec.weights) == (4, "pooled", "adjacency")
    W, ids = run.weights["adjacency"].full()
    W = W / W.sum(axis=1, keepdims=True)
    Y = _markov_wide(run, col, ids)
    states = quantile_states(Y, 4)  # pooled quartiles of all province-years
    T = count(states, 4)
    for i, a in enumerate(names):
        assert _value(nums, f"markov_{col}", a, "n") == T[i].sum()
        for j, b in enumerate(names):
            assert _value(nums, f"markov_{col}", a, b) == pytest.approx(T[i, j] / T[i].sum(), abs=1e-14)
    steady = _steady(T / T.sum(axis=1, keepdims=True))
    for j, b in enumerate(names):
        assert _value(nums, f"markov_{col}", "Steady state", b) == pytest.approx(steady[j], abs=1e-9)
    lag = quantile_states(W @ Y, 4)  # the neighbours' average, classed at its own pooled quartiles
    TL = count(states, 4, cond=lag)
    for m, c in enumerate(names):
        for i, a in enumerate(names):
            row = f"Neighbours' class: {c}|{a}"
            assert _value(nums, f"markov_{col}_spatial", row, "n") == TL[m, i].sum()
            for j, b in enumerate(names):
                if TL[m, i].sum():
                    assert _value(nums, f"markov_{col}_spatial", row, b) == pytest.approx(TL[m, i, j] / TL[m, i].sum(),
                                                                                         abs=1e-14)
    lr, q, df = homogeneity(TL)
    label = run.study.labels["en"][col]
    assert _value(nums, "markov_tests", f"{col}|LR (spatial homogeneity)", "Statistic") == pytest.approx(lr, rel=1e-10)
    assert _value(nums, "markov_tests", f"{col}|Q (spatial homogeneity)", "Statistic") == pytest.approx(q, rel=1e-10)
    assert _value(nums, "markov_tests", f"{col}|Q (spatial homogeneity)", "df") == df
    assert _value(nums, "markov_tests", f"{col}|LR (spatial homogeneity)", "p") == pytest.approx(stats.chi2.sf(lr, df),
                                                                                              rel=1e-10)
    # and every number is the direct library call on the study panel
    res = sp.analysis.markov(run.panel, col, "year", k=4, w=run.weights["adjacency"], entity="province")
    for key, shown in (("LR", "LR (spatial homogeneity)"), ("Q", "Q (spatial homogeneity)"),
                       ("lisa_chi2", "LISA Markov chi-squared (independence)")):
        for c_lib, c_tab in (("statistic", "Statistic"), ("df", "df"), ("p", "p")):
            assert _value(nums, "markov_tests", f"{col}|{shown}", c_tab) == pytest.approx(res.tests.loc[key, c_lib],
                                                                                         rel=1e-12)
    spatial = res.spatial.table
    for (lag_class, cls), part in spatial.set_index(["lag", "class"]).iterrows():
        row = f"Neighbours' class: {names[lag_class - 1]}|{names[cls - 1]}"
        assert _value(nums, f"markov_{col}_spatial", row, "n") == part["n"]
    md = (gaps_run[1] / "tables" / f"markov_{col}.md").read_text(encoding="utf-8")
    assert label in md and f"{res.cuts.iloc[0, 0]:.4f}" in md


# ---------------------------------------------------------------- every output, in both languages
_ALLOWED = {"Dagum", "Shorrocks", "Scott", "Silverman", "Liu", "Li", "Song", "Barro", "Sala", "Martin", "OLS", "SAR",
            "SDM", "SEM", "Lee", "Yu", "Queen", "ln", "Anderson", "Goodman", "Rey", "Bickenbach", "Bode", "Murray",
            "Anselin", "Moran", "LR", "LISA"}

TABLES = ["regional_gaps_dagum", "regional_gaps_within", "regional_gaps_between", "regional_gaps_theil", "density",
          "convergence_cpi", "convergence_cpi_sigma", "coupling_dei_cpi", "coupling_dei_cpi_classes",
          "coupling_dei_cpi_units", "obstacles_dei_indicators", "obstacles_dei_dimensions",
          "obstacles_cpi_indicators", "obstacles_cpi_dimensions", "markov_dei", "markov_dei_spatial", "markov_cpi",
          "markov_cpi_spatial", "markov_tests"]


def test_every_table_and_figure_in_both_languages_and_the_manifest(gaps_run):
    import json

    run, out, nums = gaps_run
    assert not (out / "zh" / "untranslated.txt").exists(), (out / "zh" / "untranslated.txt").read_text("utf-8")
    outputs = set(json.loads((out / "manifest.json").read_text())["outputs"])
    for lang in ("", "zh/"):
        for name in TABLES:
            for ext in ("tex", "html", "md", "csv", "xlsx", "docx"):
                assert f"{lang}tables/{name}.{ext}" in outputs, (lang, name, ext)
        for name in ("regional_gaps", "density", "coupling_dei_cpi", "markov"):
            for ext in ("png", "pdf"):
                assert f"{lang}figures/{name}.{ext}" in outputs, (lang, name, ext)
    assert set(TABLES) <= set(nums["output"]) and nums.groupby(["output", "row", "column"]).size().max() == 1
    for name in TABLES:
        md = (out / "zh" / "tables" / f"{name}.md").read_text(encoding="utf-8")
        words = set(re.findall(r"[A-Za-z]{2,}", md)) - _ALLOWED
        assert not words, (name, words)
    assert "Gaussian kernel" in (out / "tables" / "density.md").read_text(encoding="utf-8")


def test_an_unknown_index_is_named_at_run_time(tmp_path, monkeypatch):
    d = _study_folder(tmp_path / "models")
    (d / "70_hypotheses.toml").unlink()
    text = (d / GAPS_FILE).read_text(encoding="utf-8").replace('index = "cpi"', 'index = "cpx"')
    (d / GAPS_FILE).write_text(text, encoding="utf-8")
    monkeypatch.setenv("SPILLOVER_DATA_RAW", str(ROOT / "data_raw"))
    with pytest.raises(SpecificationError, match=r"\[\[obstacles\]\] 'obstacles_cpi': index 'cpx' .*'dei', 'cpi'"):
        run_study(d, tmp_path / "out", figures=False)


# ---------------------------------------------------------------- the spec
@pytest.fixture()
def study_dir(tmp_path):
    d = tmp_path / "models"
    shutil.copytree(MODELS, d)
    return d


@pytest.mark.parametrize("text, message", [
    ('[[gaps]]\nname = "g2"\nvariables = ["dei"]\ngroups = "region"\n', r"90_bad.toml: gaps\[0\]\.groups: unknown key"),
    ('[[density]]\nname = "k2"\nvariables = ["dei"]\nbandwidth = "wide"\n', r"density\[0\]\.bandwidth"),
    ('[[density]]\nname = "k2"\nvariables = ["dei"]\nbandwidth = -1.0\n', r"bandwidth must be 'scott', 'silverman'"),
    ('[[convergence]]\nname = "c2"\nvariable = "cpi"\nmodel = "sac"\n',
     r"convergence\[0\]\.model: .*'sar'.*got 'sac'"),
    ('[[convergence]]\nname = "c2"\nvariable = "cpi"\nweights = ["railway"]\n',
     r"\[\[convergence\]\] 'c2': weights 'railway' is not defined; defined: \['adjacency'"),
    ('[[coupling]]\nname = "u2"\nsystems = ["dei", "cpi"]\ncontributions = [0.6, 0.6]\n',
     r"90_bad.toml: coupling\[0\]\.contributions: .*contributions \[0\.6, 0\.6\] must be non-negative and sum to 1"),
    ('[[coupling]]\nname = "u2"\nsystems = ["dei", "dei"]\n', r"coupling\[0\]\.systems: .*the same column twice"),
    ('[[obstacles]]\nname = "o2"\n', r"obstacles\[0\]\.index: Field required"),
    ('[[markov]]\nname = "m2"\nvariables = ["dei"]\nk = 1\n',
     r"90_bad.toml: markov\[0\]\.k: Input should be greater than or equal to 2; got 1"),
    ('[[markov]]\nname = "m2"\nvariables = ["dei"]\nclasses = "deciles"\n',
     r"markov\[0\]\.classes\..*'pooled' or 'period'.*got 'deciles'"),
    ('[[markov]]\nname = "m2"\nvariables = ["dei"]\nclasses = [0.1, 0.2]\n',
     r"markov\[0\]\.classes: .*classes holds 2 cut points for k = 4; give k - 1 = 3"),
    ('[[markov]]\nname = "m2"\nvariables = ["dei"]\nweights = "railway"\n',
     r"90_bad.toml: \[\[markov\]\] 'm2': weights 'railway' is not defined; defined: \['adjacency'"),
    ('[[table]]\nname = "markov_tests"\ncolumns = ["sdm_twoways"]\n',
     r"\[\[table\]\] 'markov_tests' has the name of a table that \[\[markov\]\] 'markov' writes"),
    ('[[table]]\nname = "regional_gaps_dagum"\ncolumns = ["sdm_twoways"]\n',
     r"\[\[table\]\] 'regional_gaps_dagum' has the name of a table that \[\[gaps\]\] 'regional_gaps' writes"),
    ('[[hypothesis]]\nname = "H9"\nclaim = "c"\nestimate = "regional_gaps"\nquantity = "trend"\nvariable = "dei"\n'
     'measure = "gini"\n', r"measure = 'gini' is not a series of a \[\[gaps\]\] entry; allowed: \['G'"),
    ('[[hypothesis]]\nname = "H9"\nclaim = "c"\nestimate = "regional_gaps"\nquantity = "trend"\nvariable = "gdp"\n'
     'measure = "G"\n', r"variable = 'gdp' is not a column of \[\[gaps\]\] 'regional_gaps'; its columns: \['dei'"),
    ('[[hypothesis]]\nname = "H9"\nclaim = "c"\nestimate = "sdm_twoways"\nquantity = "trend"\nmeasure = "G"\n',
     r"'sdm_twoways' is not an entry that gives quantity = 'trend'; defined: \['regional_gaps', 'convergence_cpi'\]"),
    ('[[hypothesis]]\nname = "H9"\nclaim = "c"\nestimate = "regional_gaps"\nquantity = "trend"\nvariable = "dei"\n',
     r"quantity = 'trend' needs measure = 'NAME'"),
    ('[[hypothesis]]\nname = "H9"\nclaim = "c"\nestimate = "regional_gaps"\nquantity = "trend"\nvariable = "dei"\n'
     'measure = "G"\nyears = [2010, 2017]\n', r"years \[2010, 2017\] are not within \[data\] years \[2013, 2022\]"),
])
def test_bad_descriptive_entries_are_named(study_dir, text, message):
    (study_dir / "90_bad.toml").write_text(text, encoding="utf-8")
    with pytest.raises(SpecificationError, match=message):
        load_study(study_dir)


def test_a_missing_column_is_named_before_anything_runs(tmp_path, monkeypatch):
    d = _study_folder(tmp_path / "models")
    text = (d / GAPS_FILE).read_text(encoding="utf-8").replace('variable = "cpi"', 'variable = "cpii"')
    (d / GAPS_FILE).write_text(text, encoding="utf-8")
    monkeypatch.setenv("SPILLOVER_DATA_RAW", str(ROOT / "data_raw"))
    with pytest.raises(SpecificationError, match=r"\[\[convergence\]\] 'convergence_cpi'\.variable .*'cpii' is not a "
                                                 r"column of the panel \(did you mean \['cpi'"):
        run_study(d, tmp_path / "out", figures=False)


def test_a_missing_markov_column_is_named_before_anything_runs(tmp_path, monkeypatch):
    d = _study_folder(tmp_path / "models")
    text = (d / GAPS_FILE).read_text(encoding="utf-8").replace('variables = ["dei", "cpi"]\nk = 4',
                                                               'variables = ["dei", "cpx"]\nk = 4')
    (d / GAPS_FILE).write_text(text, encoding="utf-8")
    monkeypatch.setenv("SPILLOVER_DATA_RAW", str(ROOT / "data_raw"))
    with pytest.raises(SpecificationError, match=r"\[\[markov\]\] 'markov'\.variables .*'cpx' is not a column of the "
                                                 r"panel \(did you mean \['cpi'"):
        run_study(d, tmp_path / "out", figures=False)
