"""The default panel: shape, columns, corrections, spot checks, geometry, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import spillover as sp
from spillover.data import REQUIRED_COLUMNS, build_panel, default_geometry, default_panel, validate_panel
from spillover.data.pipeline import theil_urban_rural
from spillover.errors import DataError


@pytest.fixture(scope="module")
def built():
    return build_panel()


@pytest.fixture(scope="module")
def panel(built):
    return built.data


def cell(panel, column, province, year):
    return panel.loc[(panel.province == province) & (panel.year == year), column].item()


def test_balanced_sorted_and_typed(panel):
    assert panel.shape[0] == 310
    assert panel["province"].nunique() == 31 and sorted(panel["year"].unique()) == list(range(2013, 2023))
    assert list(panel.columns[: len(REQUIRED_COLUMNS)]) == list(REQUIRED_COLUMNS)
    assert panel[["province", "year"]].equals(panel.sort_values(["province", "year"])[["province", "year"]])
    assert panel["year"].dtype.kind == "i"
    assert all(isinstance(p, str) and len(p) == 6 for p in panel["province"])
    assert set(panel["region"]) == {"east", "central", "west", "northeast"}
    assert np.isfinite(panel.select_dtypes("number").to_numpy()).all()
    validate_panel(panel, (2013, 2022))


def test_index_and_dimension_columns(panel):
    for c in ("dei_infrastructure", "dei_industry", "dei_application", "dei_innovation",
              "cpi_affluence", "cpi_sharing"):
        assert c in panel.columns
        assert panel[c].between(0, 1).all()
    assert panel["dei"].between(0, 1).all() and panel["cpi"].between(0, 1).all()
    # both indices grow on average over the decade
    by_year = panel.groupby("year")[["dei", "cpi"]].mean()
    assert (by_year.diff().dropna() > 0).all().all()


@pytest.mark.parametrize(
    "column, province, year, expected, tol",
    [
        ("urban_income", "310000", 2019, 73615, 0.5),
        ("urban_income", "110000", 2019, 73849, 0.5),
        ("gdp_pc_bulletin", "110000", 2019, 164220, 0.5),
        ("gdp", "440000", 2019, 107986.9, 0.05),
        ("pku_dfi", "110000", 2019, 399.00, 0.005),
        ("pku_dfi", "310000", 2019, 410.28, 0.005),
    ],
)
def test_provenance_spot_checks(panel, column, province, year, expected, tol):
    assert cell(panel, column, province, year) == pytest.approx(expected, abs=tol)


def test_spot_check_table_all_ok(built):
    assert len(built.spot_checks) == 6 and built.spot_checks["ok"].all()


def test_derived_variables(panel):
    p = panel
    assert np.allclose(p.gdp_pc, p.gdp * 1e8 / (p["pop"] * 1e4))
    assert np.allclose(p.lgdp_pc, np.log(p.gdp_pc))
    assert cell(p, "gdp_pc", "110000", 2019) == pytest.approx(35445.1e4 / 2190, rel=1e-9)
    assert np.allclose(p.urban, p.urban_pop / p["pop"])
    assert np.allclose(p.gov, p.fiscal_exp / p.gdp)
    assert np.allclose(p.open, p.trade / p.gdp)
    assert np.allclose(p.fin, p.loans / p.gdp)
    assert np.allclose(p.hc, p.college_students / (p["pop"] * 1e4))
    assert np.allclose(p.rural_inc, np.log(p.rural_income))
    assert np.allclose(p.urban_rural_ratio, p.urban_income / p.rural_income)
    assert np.allclose(p.innov, np.log(p.patents / p["pop"]))
    assert np.allclose(p.indup, p.emp_tertiary / p.emp_secondary)
    assert np.allclose(p.pension_cov, p.pension_participants / p["pop"])
    assert p.urban.between(0, 1).all() and p.pension_cov.between(0, 1).all() and p.med_emp_cov.between(0, 1).all()
    assert (p.urban_rural_ratio > 1).all() and (p.theil > 0).all()


def test_theil_by_hand():
    # urban: 60 people earning 30 each; rural: 40 people earning 10 each
    i_u, i_r = 60 * 30, 40 * 10
    s_u, s_r = i_u / (i_u + i_r), i_r / (i_u + i_r)
    expected = s_u * np.log(s_u / 0.6) + s_r * np.log(s_r / 0.4)
    assert theil_urban_rural(30.0, 10.0, 60.0, 40.0) == pytest.approx(expected)
    assert theil_urban_rural(20.0, 20.0, 60.0, 40.0) == pytest.approx(0.0)


def test_corrections_reported(built):
    cf = built.corrections_frame()
    assert list(cf.columns) == ["what", "indicator", "province", "year", "old", "new", "reason"]
    count = cf.groupby(["what", "indicator"]).size()
    assert count[("excluded", "x8")] == 1 and count[("excluded", "post_telecom")] == 1
    assert "15,617" in cf[(cf.indicator == "x8")].reason.item()  # national-total evidence from the file
    assert count[("interpolated (flagged)", "x5")] == 63
    assert count[("interpolated (flagged)", "x13")] == 26
    assert count[("interpolated (flagged)", "x21")] == 1
    assert count[("left out of index", "x5")] == 1
    assert count[("replaced (recomputed from counts)", "insurance_pct")] == 77
    assert count[("replaced by other vintage", "x16")] == 62
    assert count[("replaced (bad cross-section)", "college_students")] == 31
    # the declared jump limits flag, without changing, the V-shaped cells of the source files
    jumps = cf[cf.what == "year-on-year jump (flagged)"]
    assert jumps.groupby("indicator").size().to_dict() == {"college_students": 9, "x1": 2, "x5": 1, "x7": 2,
                                                          "x11": 2, "x17": 3}
    nm = jumps[(jumps.indicator == "x7") & (jumps.province == "150000")]
    assert nm.year.astype(int).tolist() == [2021, 2022] and nm.new.tolist() == pytest.approx([277.838, 8.11504])
    bj = cf[(cf.indicator == "insurance_pct") & (cf.province == "110000") & (cf.year == 2019)]
    assert bj.old.item() == pytest.approx(1.70, abs=0.01)
    x16 = cf[(cf.what == "replaced by other vintage") & (cf.province == "110000") & (cf.year == 2021)]
    assert (x16.old.item(), x16.new.item()) == pytest.approx((437.58, 445.44), abs=0.01)


def test_flagged_cells_are_really_blank_in_original(built):
    cf = built.corrections_frame()
    flagged = set(cf.loc[(cf.what == "interpolated (flagged)") & (cf.indicator == "x5"), "year"].astype(int))
    assert flagged == {2013, 2015, 2016}


def test_weights(built):
    for name, w in built.weights.items():
        assert list(w.columns[:4]) == ["indicator", "dimension", "direction", "weight"]
        assert w["weight"].sum() == pytest.approx(1.0)
        assert (w["weight"] > 0).all()
    dei = built.weights["dei"]
    assert len(dei) >= 10 and dei["dimension"].nunique() >= 3
    assert not {"x5_pc", "x8", "x16", "x8_pc"} & set(dei["indicator"])
    cpi = built.weights["cpi"].set_index("indicator")
    assert set(cpi["dimension"]) == {"affluence", "sharing"}
    assert cpi.loc["urban_rural_ratio", "direction"] == "-" and cpi.loc["theil", "direction"] == "-"


def test_supplementary_carbon(built):
    sup = built.supplementary
    assert set(sup["province"]) == set(built.data["province"]) - {"540000"}
    assert "carbon_intensity" in sup.columns and (sup["carbon_intensity"] > 0).all()
    assert "co2" not in built.data.columns


def test_long_table(built):
    long = built.long
    assert list(long.columns) == ["province", "year", "indicator", "value"]
    assert set(long["indicator"]) == {i.id for i in built.catalog.indicator}
    assert not long.duplicated(["indicator", "province", "year"]).any()


def test_default_panel_is_a_fresh_copy():
    a = default_panel()
    a.loc[0, "dei"] = -99.0
    b = default_panel()
    assert b.loc[0, "dei"] != -99.0
    assert sp.data.default_panel is default_panel


def test_validate_panel_rejects_bad_panels(panel):
    with pytest.raises(DataError, match="not balanced"):
        validate_panel(panel.iloc[1:], (2013, 2022))
    with pytest.raises(DataError, match="duplicate"):
        validate_panel(pd.concat([panel, panel.iloc[[0]]]).sort_values(["province", "year"]), (2013, 2022))
    bad = panel.copy()
    bad.loc[5, "hc"] = np.nan
    with pytest.raises(DataError, match="non-finite"):
        validate_panel(bad, (2013, 2022))
    with pytest.raises(DataError, match="lacks required"):
        validate_panel(panel.drop(columns="dei"), (2013, 2022))


def test_default_geometry(panel):
    geo = default_geometry()
    assert len(geo) == 31
    assert list(geo["adcode"]) == sorted(panel["province"].unique())
    assert geo.crs.to_epsg() == 4326
    assert not set(geo["adcode"]) & {"710000", "810000", "820000"}
    assert geo.geometry.is_valid.all()


def test_cli_build_writes_outputs(tmp_path):
    from spillover.cli import app

    out = tmp_path / "results" / "data"
    res = CliRunner().invoke(app, ["data", "build", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for name in ("panel.parquet", "panel.csv", "weights_dei.csv", "weights_cpi.csv", "corrections.csv",
                 "derived_variables.csv"):
        assert (out / name).is_file()
    assert not list(out.glob("*.tmp"))
    parquet = pd.read_parquet(out / "panel.parquet")
    csv = pd.read_csv(out / "panel.csv", dtype={"province": str})
    assert parquet.shape == csv.shape == (310, parquet.shape[1])
    assert np.allclose(parquet["dei"], csv["dei"])
    assert pd.read_csv(out / "weights_dei.csv")["weight"].sum() == pytest.approx(1.0)
    assert "spot checks" in res.output and "theil" in res.output


def test_a_failed_spot_check_stops_the_build_before_anything_is_written(tmp_path, monkeypatch):
    """The spot checks are enforced: `data build` (and every study step) stops, exit 2, no file written."""
    from typer.testing import CliRunner

    from spillover.cli import app
    from spillover.data import pipeline

    column, prov, year, expected, tol, what = pipeline.SPOT_CHECKS[0]
    monkeypatch.setattr(pipeline, "SPOT_CHECKS", ((column, prov, year, expected * 1.5, tol, what),
                                                  *pipeline.SPOT_CHECKS[1:]))
    out = tmp_path / "data"
    res = CliRunner().invoke(app, ["data", "build", "--out", str(out)])
    assert res.exit_code == 2 and "1 of 6 spot checks against PROVENANCE.md failed" in res.output, res.output
    assert not out.exists()


def test_scrambled_2020_enrolment_is_repaired(panel, built):
    x = panel.pivot(index="province", columns="year", values="college_students")
    ratio = x[2020] / ((x[2019] + x[2021]) / 2)
    assert np.allclose(ratio, 1.0)
    raw = built.long[(built.long.indicator == "college_students") & (built.long.year == 2020)]
    assert raw.set_index("province").loc["110000", "value"] == 2492185  # the long table keeps the file's value
