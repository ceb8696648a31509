"""A user's own panel and map: panel files, geometry, weights files, `spillover new`, the path rule.

The external panel is the St Louis-area homicide data bundled offline with
libpysal (78 counties, three periods 1979-84, 1984-88, 1988-93), written long
here as a user would have it.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import spillover as sp
from spillover.cli import app
from spillover.data.sources import read_geometry, read_panel
from spillover.errors import DataError, SpecificationError, WeightsError
from spillover.study.paths import StudyPaths
from spillover.study.runner import run_study

ROOT = Path(__file__).resolve().parents[1]
STL = Path(libpysal.examples.get_path("stl_hom.shp"))


@pytest.fixture(scope="module")
def stl(tmp_path_factory):
    """(folder, long panel frame, panel csv path, geometry path with a CRS) of the St Louis counties."""
    folder = tmp_path_factory.mktemp("stl")
    raw = pd.read_csv(STL.with_name("stl_hom.csv"))
    parts = [pd.DataFrame({"fips": raw["FIPSNO"], "period": k, "hr": raw[h], "lpop": np.log(raw[p]), "pe": raw[e]})
             for k, (h, p, e) in enumerate([("HR7984", "PO7984", "PE77"), ("HR8488", "PO8488", "PE82"),
                                            ("HR8893", "PO8893", "PE87")], 1)]
    df = pd.concat(parts, ignore_index=True)
    csv = folder / "stl_panel.csv"
    df.to_csv(csv, index=False)
    geo = gpd.read_file(STL).set_crs(4326)[["FIPSNO", "NAME", "geometry"]]
    gpkg = folder / "stl.gpkg"
    geo.to_file(gpkg, driver="GPKG")
    return folder, df, csv, gpkg


# ---------------------------------------------------------------- panel files
@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx", ".dta"])
def test_every_panel_format_reads_the_same(stl, suffix):
    folder, df, _, _ = stl
    path = folder / f"p{suffix}"
    {".csv": lambda: df.to_csv(path, index=False), ".parquet": lambda: df.to_parquet(path, index=False),
     ".xlsx": lambda: df.to_excel(path, index=False), ".dta": lambda: df.to_stata(path, write_index=False)}[suffix]()
    got = read_panel(path, entity="fips", time="period", periods=(2, 3), units=["29510", "17119"],
                     derived={"lhr": "np.log(hr + 1)", "dhr": "{hr - lag(hr)}"})
    want = df.assign(fips=df["fips"].astype(str)).sort_values(["fips", "period"]).reset_index(drop=True)
    want["lhr"] = np.log(want["hr"] + 1)
    want["dhr"] = want["hr"] - want.groupby("fips")["hr"].shift(1)
    want = want[want["fips"].isin(["29510", "17119"]) & (want["period"] >= 2)].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[want.columns], want, check_dtype=False)
    assert got["fips"].tolist() == ["17119", "17119", "29510", "29510"]  # text ids, sorted


def test_wide_panel_file(tmp_path):
    wide = pd.DataFrame({"unit": [1, 2], "name": ["a", "b"], "2001": [1.0, 2.0], "2002": [3.0, 4.0]})
    wide.to_csv(tmp_path / "w.csv", index=False)
    got = read_panel(tmp_path / "w.csv", entity="unit", time="year", wide="y")
    assert got[["unit", "year", "y"]].values.tolist() == [["1", 2001, 1.0], ["1", 2002, 3.0], ["2", 2001, 2.0],
                                                          ["2", 2002, 4.0]]


def test_bad_panel_files_name_the_file_and_the_cause(stl, tmp_path):
    _, df, csv, _ = stl
    cases = {
        "missing.csv": (None, "not found"),
        "a.txt": ("x", "cannot read '.txt'"),
        "empty.csv": ("", "empty"),
        "gbk.csv": ("地区,年\n北京,2013\n".encode("gbk"), "entity column 'fips' is not in the file.*'地区', '年'"),
        "extra.csv": ("a,b\n1,2\n3,4,5\n", "line 3 has 3 field"),
        "trunc.xlsx": (b"PK\x03\x04 truncated", "cannot read the file as .xlsx"),
        "dup.csv": ("fips,period,hr\n1,1,2\n1,1,3\n", r"duplicate \(fips, period\) rows: \('1', 1\)"),
        "year.csv": ("fips,period,hr\n1,2001.5,2\n", "time values must be integers"),
        "noid.csv": ("county,period,hr\n1,1,2\n", "entity column 'fips' is not in the file"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        with pytest.raises(DataError, match=message) as exc:
            read_panel(path, entity="fips", time="period")
        assert name in str(exc.value)


# ---------------------------------------------------------------- geometry and weights files
def test_geometry_checks_and_integer_ids(stl, tmp_path):
    _, df, _, gpkg = stl
    ids = sorted(df["fips"].astype(str).unique())
    geo = read_geometry(gpkg, "FIPSNO", ids=ids)
    assert geo["FIPSNO"].tolist() == ids and geo.crs.to_epsg() == 4326
    with pytest.raises(DataError, match="id column 'fips' is not in the geometry"):
        read_geometry(gpkg, "fips", ids=ids)
    with pytest.raises(DataError, match=r"2 unit\(s\) of the panel are not in the geometry: '1', '2'"):
        read_geometry(gpkg, "FIPSNO", ids=ids + ["1", "2"])
    g = gpd.read_file(gpkg)
    pd.concat([g, g.iloc[:1]]).to_file(tmp_path / "dup.gpkg", driver="GPKG")
    with pytest.raises(DataError, match="repeated ids"):
        read_geometry(tmp_path / "dup.gpkg", "FIPSNO")
    (tmp_path / "broken.gpkg").write_bytes(gpkg.read_bytes()[:5000])
    with pytest.raises(DataError, match="cannot read the geometry"):
        read_geometry(tmp_path / "broken.gpkg", "FIPSNO")
    # zero-padded codes in the file match integer ids in the panel (FIPS '01' = 1)
    g2 = g.assign(FIPSNO=g["FIPSNO"].astype(int).map(lambda v: f"{v:07d}"))
    g2.to_file(tmp_path / "padded.gpkg", driver="GPKG")
    assert read_geometry(tmp_path / "padded.gpkg", "FIPSNO", ids=ids)["FIPSNO"].tolist() == ids


def test_weights_files_equal_the_built_matrix(stl, tmp_path):
    _, df, _, gpkg = stl
    geo = read_geometry(gpkg, "FIPSNO", ids=sorted(df["fips"].astype(str).unique()))
    queen = sp.weights.contiguity(geo, id_col="FIPSNO", islands="keep")
    raw = libpysal.weights.W({k: list(v) for k, v in queen.neighbors.items()}, silence_warnings=True)
    for suffix in ("gal", "gwt"):
        path = tmp_path / f"w.{suffix}"
        libpysal.io.open(str(path), "w").write(raw) if suffix == "gal" else None
        if suffix == "gwt":
            lines = [f"0 {raw.n} x id"] + [f"{i} {j} 1" for i in raw.id_order for j in raw.neighbors[i]]
            path.write_text("\n".join(lines) + "\n")
        w = sp.weights.from_file(path)
        np.testing.assert_array_equal(sp.weights.align(w, queen.id_order).toarray(), queen.sparse.toarray())
    sp.weights.to_csv(queen, tmp_path / "w.csv")
    w = sp.weights.from_file(tmp_path / "w.csv")
    np.testing.assert_allclose(sp.weights.align(w, queen.id_order).toarray(), queen.sparse.toarray())
    with pytest.raises(WeightsError, match="cannot read '.txt' weights"):
        (tmp_path / "w.txt").write_text("x")
        sp.weights.from_file(tmp_path / "w.txt")


# ---------------------------------------------------------------- paths
def test_path_rule(tmp_path, monkeypatch):
    study = tmp_path / "proj" / "models" / "mine"
    study.mkdir(parents=True)
    (tmp_path / "proj" / "data_raw").mkdir()
    (tmp_path / "proj" / "data_raw" / "a.csv").write_text("x\n")
    (study / "b.csv").write_text("x\n")
    paths = StudyPaths.of(study)
    assert paths.resolve("b.csv", key="data.panel") == study / "b.csv"
    assert paths.resolve("data_raw/a.csv", key="data.panel") == (tmp_path / "proj" / "data_raw" / "a.csv").resolve()
    assert paths.label(study / "b.csv") == "b.csv" and paths.label(tmp_path / "proj" / "data_raw" / "a.csv") == \
        "data_raw/a.csv"
    pkg = paths.resolve("package:libpysal/examples/stl/stl_hom.csv", key="data.panel")
    assert pkg.is_file() and paths.label(pkg) == "package:libpysal/examples/stl/stl_hom.csv"
    with pytest.raises(SpecificationError, match="data.panel = 'nope.csv': file not found"):
        paths.resolve("nope.csv", key="data.panel")
    with pytest.raises(SpecificationError, match="package 'nopkg' is not installed"):
        paths.resolve("package:nopkg/x.csv", key="geometry.file")
    other = tmp_path / "elsewhere"
    (other / "a.csv").parent.mkdir()
    (other / "a.csv").write_text("y\n")
    monkeypatch.setenv("SPILLOVER_DATA_RAW", str(other))  # honoured by every data_raw/... path
    assert paths.resolve("data_raw/a.csv", key="k") == (other / "a.csv").resolve()


# ---------------------------------------------------------------- spillover new -> replicate
def test_new_writes_a_study_that_replicates_and_equals_the_api(stl, tmp_path):
    folder, df, csv, gpkg = stl
    study = tmp_path / "stl_study"
    runner = CliRunner()
    out = runner.invoke(app, ["new", str(study), "--data", str(csv), "--entity", "fips", "--time", "period",
                              "--y", "hr", "--x", "pe,lpop", "--geometry", str(gpkg), "--id-col", "FIPSNO"])
    assert out.exit_code == 0, out.output
    again = runner.invoke(app, ["new", str(study), "--data", str(csv), "--entity", "fips", "--time", "period",
                                "--y", "hr", "--x", "pe", "--geometry", str(gpkg), "--id-col", "FIPSNO"])
    assert again.exit_code == 2 and "already holds study files" in again.output
    res = tmp_path / "res"
    out = runner.invoke(app, ["replicate", str(study), "--out", str(res)])
    assert out.exit_code == 0, out.output
    for rel in ("tables/table_models.tex", "tables/table_models.docx", "tables/table_models.xlsx",
                "figures/choropleth_hr.png", "figures/lisa_hr_3.png", "numbers.csv", "manifest.json"):
        assert (res / rel).is_file(), rel
    nums = pd.read_csv(res / "numbers.csv")
    geo = read_geometry(gpkg, "FIPSNO", ids=sorted(df["fips"].astype(str).unique()))
    w = sp.weights.contiguity(geo, id_col="FIPSNO", islands="keep")
    api = sp.SDM("hr ~ pe + lpop", df.assign(fips=df["fips"].astype(str)), w, "fips", "period").fit()
    got = nums[(nums["output"] == "table_models") & (nums["column"] == "SDM") & nums["row"].str.endswith("|coef")]
    got = got.assign(name=got["row"].str.split("|").str[0]).set_index("name")["value"]
    for name in ("pe", "lpop", "W*pe", "W*lpop", "rho"):
        assert got[name] == pytest.approx(api.params[name], rel=1e-9)  # numbers.csv keeps 10 digits
    bad = runner.invoke(app, ["new", str(tmp_path / "x"), "--data", str(csv), "--entity", "fips", "--time",
                              "period", "--y", "nope", "--x", "pe", "--geometry", str(gpkg), "--id-col", "FIPSNO"])
    assert bad.exit_code == 2 and "['nope'] are not in the panel" in bad.output
    assert not (tmp_path / "x").exists()
    nomap = runner.invoke(app, ["new", str(tmp_path / "y"), "--data", str(csv), "--entity", "fips", "--time",
                                "period", "--y", "hr", "--x", "pe"])
    assert nomap.exit_code == 2 and "needs the units' geometry" in nomap.output


def test_diagnose_and_weights_describe_take_a_study_folder(stl, tmp_path):
    folder, df, csv, gpkg = stl
    study = tmp_path / "s"
    from spillover.study.new import write_study

    write_study(study, data=csv, entity="fips", time="period", y="hr", x=["pe", "lpop"], geometry=gpkg,
                id_col="FIPSNO")
    out = CliRunner().invoke(app, ["diagnose", str(study)])
    assert out.exit_code == 0, out.output
    assert "hr ~ pe + lpop" in out.output and "Queen contiguity" in out.output
    out = CliRunner().invoke(app, ["weights", "describe", str(study), "--name", "knn4", "--no-neighbours"])
    assert out.exit_code == 0 and "kNN, k = 4" in out.output, out.output


# ---------------------------------------------------------------- the shipped example study
def test_us_income_example_reproduces_its_committed_numbers(tmp_path):
    """models/examples/us_income (libpysal's state incomes, offline): every committed number, as verify does."""
    from spillover.study.hypotheses import verdicts
    from spillover.study.verify import compare_numbers

    run = run_study(ROOT / "models" / "examples" / "us_income", tmp_path, figures=False)
    rep = compare_numbers(pd.read_csv(ROOT / "results" / "examples" / "us_income" / "numbers.csv"),
                          pd.read_csv(tmp_path / "numbers.csv"))
    assert rep.ok and rep.compared > 100, (rep.mismatches.head(), rep.missing.head(), rep.extra.head())
    assert [v.verdict for v in verdicts(run)] == ["supported", "supported"]
    run_study(ROOT / "models" / "examples" / "us_income", tmp_path / "again", figures=False)  # seeded: identical
    same = compare_numbers(pd.read_csv(tmp_path / "numbers.csv"), pd.read_csv(tmp_path / "again" / "numbers.csv"),
                           rtol=0, atol=0)
    assert same.ok and same.compared == rep.compared


def test_hypothesis_rules():
    from spillover.study.hypotheses import Evidence, holds

    ev = Evidence(value=-0.2, se=0.05, p=0.004, where="t")
    assert holds("negative at 1%", ev) and not holds("negative at 0.1%", ev) and not holds("positive at 5%", ev)
    assert holds("nonzero at 5%", ev) and not holds("nonzero at 5%", Evidence(0.3, None, 0.05, "t"))


def test_index_from_the_spec_and_distance_weights_need_a_crs(stl, tmp_path):
    """[[index]] on a user's columns equals EntropyIndex().fit; kNN on a geometry without CRS is a clear error."""
    from spillover.indices import EntropyIndex
    from spillover.study.new import write_study

    _, df, csv, gpkg = stl
    study = tmp_path / "s"
    write_study(study, data=csv, entity="fips", time="period", y="hr", x=["pe"], geometry=gpkg, id_col="FIPSNO")
    with (study / "00_study.toml").open("a", encoding="utf-8") as f:
        f.write('\n[[index]]\nname = "risk"\nmethod = "entropy"\nindicators = { hr = "+", pe = "-" }\n')
    run = run_study(study, tmp_path / "out", figures=False)
    ref = EntropyIndex(time="period").fit(run.panel, ["hr", "pe"], directions={"hr": "+", "pe": "-"})
    np.testing.assert_allclose(run.panel["risk"].to_numpy(), ref.scores.to_numpy(), rtol=1e-12)
    w = pd.read_csv(tmp_path / "out" / "data" / "index_risk_weights.csv")
    np.testing.assert_allclose(w["weight"].to_numpy(), ref.weights["weight"].to_numpy(), rtol=1e-9)
    nocrs = tmp_path / "nocrs.gpkg"
    gpd.read_file(gpkg).set_crs(None, allow_override=True).to_file(nocrs, driver="GPKG")
    study2 = tmp_path / "s2"
    write_study(study2, data=csv, entity="fips", time="period", y="hr", x=["pe"], geometry=nocrs, id_col="FIPSNO")
    text = (study2 / "00_study.toml").read_text(encoding="utf-8")
    assert "knn" not in text.split("# No kNN")[0] and "declares no CRS" in text  # new leaves kNN out, says why
    (study2 / "00_study.toml").write_text(text + '\n[weights.knn4]\nkind = "knn"\nk = 4\n', encoding="utf-8")
    with pytest.raises(WeightsError, match="geometry has no CRS"):
        run_study(study2, tmp_path / "out2", figures=False)



def test_distance_band_exponential_and_edge_lists_against_brute_force(stl, tmp_path):
    """Each W cell from the haversine distances computed here; an edge list read back equals its matrix."""
    _, df, _, gpkg = stl
    geo = read_geometry(gpkg, "FIPSNO", ids=sorted(df["fips"].astype(str).unique()))
    pts = sp.weights._points(geo, id_col="FIPSNO")
    lon, lat = np.radians(pts["lon"].to_numpy()), np.radians(pts["lat"].to_numpy())
    a = np.sin((lat[:, None] - lat) / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat) * np.sin((lon[:, None] - lon) / 2) ** 2
    d = 2 * sp.weights.EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))
    off = ~np.eye(len(d), dtype=bool)
    for w, raw in ((sp.weights.distance_band(geo, 60.0, id_col="FIPSNO"), (d <= 60.0) & off),
                   (sp.weights.exponential(geo, 50.0, cutoff_km=150.0, id_col="FIPSNO"),
                    np.where(off & (d <= 150.0), np.exp(-d / 50.0), 0.0))):
        raw = raw.astype(float)
        rs = raw.sum(axis=1, keepdims=True)
        want = np.divide(raw, rs, out=np.zeros_like(raw), where=rs > 0)
        np.testing.assert_allclose(sp.weights.align(w, list(pts.index)).toarray(), want, rtol=1e-10, atol=1e-15)
    edges = tmp_path / "edges.csv"
    edges.write_text("from,to,weight\na,b,2\nb,a,1\nb,c,3\nc,b,1\n")
    w = sp.weights.from_file(edges)
    np.testing.assert_allclose(sp.weights.align(w, ["a", "b", "c"]).toarray(),
                               [[0, 1, 0], [0.25, 0, 0.75], [0, 1, 0]])
    edges.write_text("from,to\na,a\n")
    with pytest.raises(WeightsError, match="linked to itself"):
        sp.weights.from_file(edges)
