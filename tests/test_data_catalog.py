"""data_raw/catalog.toml: complete, consistent with the files, documented."""

from pathlib import Path

import pytest

from spillover.data import data_root, load_catalog
from spillover.data.readers import sha256_file

CAT = load_catalog()


def test_catalog_describes_each_entry_fully():
    assert CAT.years == (2013, 2022)
    assert len(CAT.indicator) >= 40
    for ind in CAT.indicator:
        for field in ("id", "name_zh", "name_en", "file", "unit", "publisher", "citation", "vintage", "sha256"):
            assert getattr(ind, field), (ind.id, field)
        assert ind.parsed_unit.factor > 0
        if ind.layout != "sheet_per_year":
            assert ind.column
        if ind.index is not None:
            assert ind.dimension and ind.direction in "+-"
        if ind.status != "used":
            assert ind.reason


def test_every_file_hash_matches():
    for ind in CAT.indicator:
        for loc in (ind, ind.uninterpolated):
            if loc is not None:
                path = CAT.resolve(loc.file)
                assert path.is_file(), loc.file
                assert sha256_file(path) == loc.sha256, loc.file


def test_index_entries_cover_required_dimensions():
    dei = [i for i in CAT.indicator if i.index == "dei"]
    assert len(dei) >= 10
    assert {i.dimension for i in dei} >= {"infrastructure", "industry", "application", "innovation"}
    assert "x8" not in {i.id for i in dei} and "x16" not in {i.id for i in dei}
    assert CAT.get("x8").status == "excluded" and CAT.get("post_telecom").status == "excluded"


def test_one_vintage_for_gdp_and_population():
    files = {CAT.get(i).file for i in ("gdp", "pop", "urban_pop")}
    assert files == {"airuimeng1__UG_thesis_code_repository/control V.xlsx"}
    assert not any("NBS_地区生产总值" in i.file or "NBS_年末常住人口" in i.file for i in CAT.indicator)


def test_catalog_lives_in_data_root_and_sources_doc_exists():
    assert CAT.path == (data_root() / "catalog.toml").resolve()
    text = (data_root() / "SOURCES.md").read_text(encoding="utf-8")
    for needle in ("China Statistical Yearbook", "Guo, F.", "China Economic Quarterly", "19(4)", "CEADs",
                   "22146848b778", "ef3b42ec8d83", "eca6223d62d4"):
        assert needle in text


def test_resolve_relative_and_absolute(tmp_path):
    assert CAT.resolve("geo/china_provinces.gpkg") == data_root().resolve() / "geo/china_provinces.gpkg"
    assert CAT.resolve(str(tmp_path / "x.csv")) == Path(tmp_path / "x.csv")
    with pytest.raises(KeyError):
        CAT.get("no_such_indicator")


def test_every_series_that_reaches_the_panel_declares_a_jump_rule():
    # a truncated or rescaled cell in a used series is caught by a year-on-year jump limit; the only series
    # without one are excluded ones whose documented price-base or scheme breaks make any limit meaningless
    without = {i.id for i in CAT.indicator if i.check is None or i.check.jump is None}
    assert without == {"post_telecom", "x8", "med_resident", "insurance_pct"}
    assert all(CAT.get(i).status == "excluded" for i in without)
    assert "x19 <= college_students" in CAT.relations  # graduates of a year never exceed those enrolled
