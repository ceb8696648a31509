"""Every kind of bad input raises a DataError that names where and says what to do.

Bad inputs are built in tmp_path (a catalog written there, pointing at the
real raw folder or at modified copies of a raw file); data_raw/ is never
touched.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import tomli_w

from spillover.data import build_panel, data_root, load_catalog, read_long
from spillover.errors import DataError

REAL = load_catalog()
PKU_FILE = REAL.get("pku_dfi").file


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def entry(indicator_id: str, **changes) -> dict:
    """A real catalog entry as a dict, with changes."""
    d = REAL.get(indicator_id).model_dump(exclude_none=True)
    d.update(changes)
    return d


def write_catalog(tmp_path: Path, entries: list[dict], name: str = "catalog.toml", years=(2013, 2022)) -> Path:
    doc = {"schema_version": 1, "root": str(data_root()), "years": list(years), "indicator": entries}
    path = tmp_path / name
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


def modified_copy(tmp_path: Path, rel: str, edit) -> Path:
    """Copy a raw text file into tmp_path and apply ``edit(lines) -> lines``."""
    src = data_root() / rel
    dst = tmp_path / Path(rel).name
    lines = src.read_text(encoding="utf-8-sig").splitlines()
    dst.write_text("\n".join(edit(lines)) + "\n", encoding="utf-8")
    return dst


def pku_with(tmp_path: Path, edit) -> Path:
    copy = modified_copy(tmp_path, PKU_FILE, edit)
    return write_catalog(tmp_path, [entry("pku_dfi", file=str(copy), sha256=sha(copy))])


def replace_first(lines, startswith: str, old: str, new: str):
    out, done = [], False
    for line in lines:
        if not done and line.startswith(startswith):
            line, done = line.replace(old, new, 1), True
        out.append(line)
    assert done
    return out


def test_unmodified_copy_reads_fine(tmp_path):
    cat = pku_with(tmp_path, lambda lines: lines)
    long = read_long(cat)
    assert len(long) == 31 * 12
    assert long.loc[(long.province == "110000") & (long.year == 2019), "value"].item() == pytest.approx(399.0026, abs=1e-3)


def test_missing_file(tmp_path):
    cat = write_catalog(tmp_path, [entry("pku_dfi", file=str(tmp_path / "gone.csv"))])
    with pytest.raises(DataError, match="raw file not found") as err:
        read_long(cat)
    assert "gone.csv" in str(err.value) and "Hint:" in str(err.value)


def test_sha256_mismatch(tmp_path):
    copy = modified_copy(tmp_path, PKU_FILE, lambda lines: replace_first(lines, "北京,2019", "399.00", "398.00"))
    cat = write_catalog(tmp_path, [entry("pku_dfi", file=str(copy))])  # keeps the original hash
    with pytest.raises(DataError, match="sha256 mismatch") as err:
        read_long(cat)
    msg = str(err.value)
    assert str(copy) in msg and REAL.get("pku_dfi").sha256 in msg and sha(copy) in msg
    assert "byte-identical" in msg


def test_missing_sheet(tmp_path):
    cat = write_catalog(tmp_path, [entry("gdp", sheet="No such sheet")])
    with pytest.raises(DataError, match="sheet not found") as err:
        read_long(cat)
    msg = str(err.value)
    assert "control V.xlsx" in msg and "No such sheet" in msg and "Control Variables(originaldata)" in msg


def test_missing_column(tmp_path):
    cat = write_catalog(tmp_path, [entry("gdp", column="地区生产总值(亿元) gpd")])
    with pytest.raises(DataError, match="column not found") as err:
        read_long(cat)
    msg = str(err.value)
    assert "control V.xlsx" in msg and "Control Variables(originaldata)" in msg and "gpd" in msg
    assert "地区生产总值(亿元) gdp" in msg  # the close match is suggested


def test_missing_year_column_in_wide_table(tmp_path):
    cat = write_catalog(tmp_path, [entry("patents", column="{year} 年度")])
    with pytest.raises(DataError, match="column not found") as err:
        read_long(cat)
    assert "2013 年度" in str(err.value)


def test_non_numeric_cell_in_csv(tmp_path):
    cat = pku_with(tmp_path, lambda lines: replace_first(lines, "上海,2018", ",377.", ",n/a+377."))
    with pytest.raises(DataError, match="non-numeric cell") as err:
        read_long(cat)
    msg = str(err.value)
    assert "province='310000'" in msg and "year=2018" in msg and "column='digital_finance'" in msg


def test_non_numeric_cell_in_real_workbook(tmp_path):
    # control V.xlsx really holds 'z' in gdp_pc1 for Gansu 2016; the catalog does not read that column
    cat = write_catalog(tmp_path, [entry("gdp", id="gdp_pc1", column="经济发展水平1 gdp_pc1 (人均GDP(元/人))",
                                         unit="yuan")])
    with pytest.raises(DataError, match="non-numeric cell 'z'") as err:
        read_long(cat)
    msg = str(err.value)
    assert "control V.xlsx" in msg and "sheet='Control Variables(originaldata)'" in msg
    assert "province='620000'" in msg and "year=2016" in msg


def test_duplicate_province_year(tmp_path):
    def dup(lines):
        row = next(line for line in lines if line.startswith("天津,2015"))
        return lines + [row]

    cat = pku_with(tmp_path, dup)
    with pytest.raises(DataError, match="duplicate province-year") as err:
        read_long(cat)
    assert "province='120000'" in str(err.value) and "year=2015" in str(err.value)


def test_duplicate_through_two_key_forms(tmp_path):
    cat = pku_with(tmp_path, lambda lines: replace_first(lines, "天津,2015", "天津,2015", "北京,2015"))
    with pytest.raises(DataError, match="duplicate province-year") as err:
        read_long(cat)
    assert "province='110000'" in str(err.value)


def test_unknown_province(tmp_path):
    cat = pku_with(tmp_path, lambda lines: replace_first(lines, "北京,2013", "北京", "北平"))
    with pytest.raises(DataError, match="unknown province") as err:
        read_long(cat)
    msg = str(err.value)
    assert "province='北平'" in msg and "year=2013" in msg and "ignore_keys" in msg


def test_unknown_province_when_ignore_keys_dropped(tmp_path):
    cat = write_catalog(tmp_path, [entry("patents", ignore_keys=["香港", "澳门", "合计"])])
    with pytest.raises(DataError, match="unknown province") as err:
        read_long(cat)
    assert "台湾" in str(err.value) and "分地区国内发明专利授权量" in str(err.value)


def test_year_outside_range_long(tmp_path):
    cat = pku_with(tmp_path, lambda lines: replace_first(lines, "河北,2016", "2016", "2031"))
    with pytest.raises(DataError, match="year outside range") as err:
        read_long(cat)
    msg = str(err.value)
    assert "year=2031" in msg and "province='130000'" in msg and "2011-2022" in msg


def test_year_outside_range_wide(tmp_path):
    cat = write_catalog(tmp_path, [entry("patents", coverage=[2012, 2022])])
    with pytest.raises(DataError, match="year outside range") as err:
        read_long(cat)
    assert "year=2011" in str(err.value) and "2011年" in str(err.value)


def test_year_cell_that_is_not_a_year(tmp_path):
    cat = pku_with(tmp_path, lambda lines: replace_first(lines, "河北,2016", "2016", "year16"))
    with pytest.raises(DataError, match="is not a year") as err:
        read_long(cat)
    assert "column='year'" in str(err.value)


def test_unit_that_does_not_parse(tmp_path):
    cat = write_catalog(tmp_path, [entry("gdp", unit="100 milion yuan")])
    with pytest.raises(DataError, match="unit does not parse") as err:
        load_catalog(cat)
    msg = str(err.value)
    assert "100 milion yuan" in msg and "control V.xlsx" in msg and "indicator='gdp'" in msg
    with pytest.raises(DataError, match="unit does not parse"):
        read_long(cat)


def test_schema_violation_names_the_entry(tmp_path):
    bad = entry("gdp", direction="up", index="dei", dimension="infrastructure")
    cat = write_catalog(tmp_path, [bad])
    with pytest.raises(DataError, match="does not follow the schema") as err:
        load_catalog(cat)
    assert "id='gdp'" in str(err.value) and "direction" in str(err.value)


def test_same_file_two_hashes_is_refused(tmp_path):
    cat = write_catalog(tmp_path, [entry("gdp"), entry("pop", sha256="0" * 64)])
    with pytest.raises(DataError, match="has sha256"):
        load_catalog(cat)


def test_missing_catalog(tmp_path):
    with pytest.raises(DataError, match="catalog file not found"):
        load_catalog(tmp_path / "nope.toml")
    with pytest.raises(DataError, match="catalog file not found"):
        build_panel(tmp_path / "nope.toml")


def test_missing_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("SPILLOVER_DATA_RAW", str(tmp_path / "no_such_dir"))
    with pytest.raises(DataError, match="raw data folder not found") as err:
        data_root()
    assert "SPILLOVER_DATA_RAW" in str(err.value)


def test_env_override_points_to_another_copy(monkeypatch, tmp_path):
    raw = tmp_path / "raw"
    (raw / Path(PKU_FILE).parent).mkdir(parents=True)
    shutil.copy(data_root() / PKU_FILE, raw / PKU_FILE)
    doc = {"schema_version": 1, "years": [2013, 2022], "indicator": [entry("pku_dfi")]}
    (raw / "catalog.toml").write_text(tomli_w.dumps(doc), encoding="utf-8")
    monkeypatch.setenv("SPILLOVER_DATA_RAW", str(raw))
    assert data_root() == raw
    assert len(read_long(None)) == 31 * 12


def full_catalog(tmp_path: Path, years=(2013, 2022), **overrides: dict) -> Path:
    entries = []
    for ind in REAL.indicator:
        d = ind.model_dump(exclude_none=True)
        d.update(overrides.get(ind.id, {}))
        entries.append(d)
    return write_catalog(tmp_path, entries, years=years)


def test_gap_in_a_used_series_stops_the_build(tmp_path):
    copy = modified_copy(tmp_path, PKU_FILE, lambda lines: [x for x in lines if not x.startswith("青海,2017")])
    cat = full_catalog(tmp_path, pku_dfi={"file": str(copy), "sha256": sha(copy)})
    with pytest.raises(DataError, match="missing value") as err:
        build_panel(cat, cache=False)
    msg = str(err.value)
    assert "indicator='pku_dfi'" in msg and "province='630000'" in msg and "year=2017" in msg


def test_errors_propagate_through_build_panel(tmp_path):
    cat = full_catalog(tmp_path, gdp={"sheet": "Sheet9"})
    with pytest.raises(DataError, match="sheet not found"):
        build_panel(cat, cache=False)


# ---------------------------------------------------------------- hostile inputs found later


def test_spot_checks_outside_the_study_years_are_skipped_and_say_so(tmp_path):
    from typer.testing import CliRunner

    from spillover.cli import app

    cat = full_catalog(tmp_path, years=(2013, 2016))
    result = CliRunner().invoke(app, ["data", "build", "--catalog", str(cat), "--out", str(tmp_path / "out")],
                                env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "skipped: 2019 is not among the panel's years (2013-2016)" in result.output
    checks = build_panel(cat, cache=False).spot_checks
    assert checks["ok"].isna().all() and checks["note"].str.startswith("skipped").all()


@pytest.mark.parametrize("option,value,pattern", [
    ("label_column", 99, r"label_column = 99 lies beyond the sheet \(the sheet has \d+ row\(s\) and \d+ column"),
    ("header_row", 100, r"header_row = 100 lies beyond the sheet \(the sheet has \d+ row\(s\)"),
])
def test_sheet_per_year_options_beyond_the_sheet(tmp_path, option, value, pattern):
    cat = write_catalog(tmp_path, [entry("co2", **{option: value})])
    with pytest.raises(DataError, match=pattern) as err:
        read_long(cat)
    msg = str(err.value)
    assert "表观碳排放清单_1997-2022.xlsx" in msg and "sheet='2013'" in msg and f"option='{option}'" in msg


def test_header_row_beyond_a_long_sheet_gives_its_size(tmp_path):
    cat = write_catalog(tmp_path, [entry("gdp", header_row=5000)])
    with pytest.raises(DataError, match=r"header row beyond the end of the sheet \(the sheet has \d+ row"):
        read_long(cat)


def test_catalog_without_entries(tmp_path):
    cat = write_catalog(tmp_path, [])
    with pytest.raises(DataError, match=r"lists no \[\[indicator\]\] entries") as err:
        build_panel(cat, cache=False)
    assert str(cat) in str(err.value)


def _gdp_workbook(tmp_path: Path, province: int, year: int, value) -> Path:
    import openpyxl

    from spillover.data.provinces import normalize_key

    ind = REAL.get("gdp")
    book = openpyxl.load_workbook(data_root() / ind.file)
    ws = book[ind.sheet]
    head = [normalize_key(c.value) if c.value is not None else "" for c in ws[1]]
    col = head.index(normalize_key(ind.column))
    for row in ws.iter_rows(min_row=2):
        if row[1].value == province and row[0].value == year:
            row[col].value = value(row) if callable(value) else value
            break
    else:
        raise AssertionError("cell not found")
    dst = tmp_path / "control V copy.xlsx"
    book.save(dst)
    return dst


def test_formula_without_cached_value_is_named_as_such(tmp_path):
    from openpyxl.utils import get_column_letter

    where = {}

    def formula(row):
        cell = next(c for c in row if c.column_letter == "D")
        where["cell"] = f"{get_column_letter(cell.column)}{cell.row}"
        return f"={where['cell']}*1"

    copy = _gdp_workbook(tmp_path, 310000, 2017, formula)
    cat = write_catalog(tmp_path, [entry("gdp", file=str(copy), sha256=sha(copy))])
    with pytest.raises(DataError, match=r"formula without a cached value \(=D\d+\*1\)") as err:
        build_panel(cat, cache=False)
    msg = str(err.value)
    assert "control V copy.xlsx" in msg and "sheet='Control Variables(originaldata)'" in msg
    assert "province='310000'" in msg and "year=2017" in msg and "cell='" in msg and "recalculate" in msg


@pytest.mark.parametrize("sep,name", [(";", "semicolon"), ("\t", "tab")])
def test_csv_with_another_delimiter(tmp_path, sep, name):
    def resep(lines):
        assert not any('"' in x for x in lines)
        return [x.replace(",", sep) for x in lines]

    copy = modified_copy(tmp_path, PKU_FILE, resep)
    cat = write_catalog(tmp_path, [entry("pku_dfi", file=str(copy), sha256=sha(copy))])
    with pytest.raises(DataError, match=rf"separates its fields by a {name}") as err:
        read_long(cat)
    assert copy.name in str(err.value) and "delimiter = " in str(err.value)
    declared = write_catalog(tmp_path, [entry("pku_dfi", file=str(copy), sha256=sha(copy), delimiter=sep)])
    assert read_long(declared)["value"].equals(read_long(write_catalog(tmp_path, [entry("pku_dfi")], name="c2.toml"))["value"])


def test_two_entries_reading_the_same_cells_are_refused(tmp_path):
    gdp = REAL.get("gdp")
    cat = write_catalog(tmp_path, [entry("gdp"), entry("fiscal_exp", column=gdp.column)])
    with pytest.raises(DataError, match=r"indicators 'gdp' and 'fiscal_exp' read the same cells") as err:
        load_catalog(cat)
    assert "reuses = 'gdp'" in str(err.value) and gdp.column in str(err.value)
    ok = write_catalog(tmp_path, [entry("gdp"), entry("fiscal_exp", column=gdp.column, reuses="gdp")], name="ok.toml")
    assert load_catalog(ok).get("fiscal_exp").reuses == "gdp"
    bad = write_catalog(tmp_path, [entry("gdp"), entry("fiscal_exp", reuses="gpd")], name="bad.toml")
    with pytest.raises(DataError, match=r"reuses = 'gpd' is not the id of another entry"):
        load_catalog(bad)


def test_zero_placeholder_is_an_infinite_jump(tmp_path):
    # pku_dfi: strict jump rule -> an error naming the cell
    def zero(lines):
        col = lines[0].lstrip("\ufeff").split(",").index("digital_finance")
        out = []
        for x in lines:
            if x.startswith("上海,2018,"):
                fields = x.split(",")
                fields[col] = "0"
                x = ",".join(fields)
            out.append(x)
        return out

    copy = modified_copy(tmp_path, PKU_FILE, zero)
    cat = write_catalog(tmp_path, [entry("pku_dfi", file=str(copy), sha256=sha(copy))])
    with pytest.raises(DataError, match=r"'pku_dfi' not above 0 \(the rule declares positive = true\): "
                                        r"\(310000, 2018\)"):
        read_long(cat)  # the study catalog declares the index positive: the 0 stops the build by itself
    strict = write_catalog(tmp_path, [entry("pku_dfi", file=str(copy), sha256=sha(copy),
                                            check={"min": 0, "max": 1000, "jump": 5, "strict": True})],
                           name="strict.toml")
    with pytest.raises(DataError, match=r"jump.*\(310000, 2018\).*a 0 next to a positive value is an infinite jump"):
        read_long(strict)
    # a non-strict rule flags it in the corrections instead
    lax = write_catalog(tmp_path, [entry("pku_dfi", file=str(copy), sha256=sha(copy),
                                         check={"min": 0, "max": 1000, "jump": 5})], name="lax.toml")
    from spillover.data.pipeline import _read_all

    flags = [c for c in _read_all(load_catalog(lax)).corrections if c.what.startswith("year-on-year jump")]
    assert {(c.province, c.year) for c in flags} >= {("310000", 2018), ("310000", 2019)}


def test_one_component_of_a_derived_share_off_by_1e4_stops_the_build(tmp_path):
    ind = REAL.get("fiscal_exp")
    import openpyxl

    from spillover.data.provinces import normalize_key

    book = openpyxl.load_workbook(data_root() / ind.file)
    ws = book[ind.sheet]
    head = [normalize_key(c.value) if c.value is not None else "" for c in ws[1]]
    col = head.index(normalize_key(ind.column))
    for row in ws.iter_rows(min_row=2):
        if row[1].value == 440000 and row[0].value == 2016:
            row[col].value = row[col].value * 1e4
    copy = tmp_path / "control V x.xlsx"
    book.save(copy)
    same = [i.id for i in REAL.indicator if i.file == ind.file]
    cat = full_catalog(tmp_path, **{i: {"file": str(copy), "sha256": sha(copy)} for i in same})
    doc = __import__("tomllib").loads(cat.read_text(encoding="utf-8"))
    doc["derived_check"] = {k: v.model_dump(exclude_none=True) for k, v in REAL.derived_check.items()}
    cat.write_text(tomli_w.dumps(doc), encoding="utf-8")
    with pytest.raises(DataError, match=r"value\(s\) of 'gov' above the declared maximum 3: \(440000, 2016\)") as err:
        build_panel(cat, cache=False)
    assert "fiscal_exp / gdp" in str(err.value)


def test_the_study_catalog_checks_its_derived_shares():
    assert set(REAL.derived_check) >= {"urban", "gov", "open", "hc"}
    assert all(r.min is not None and r.min > 0 and r.max is not None for r in REAL.derived_check.values())
    assert REAL.derived_check["gov"].min == 0.05 and REAL.derived_check["urban"].min == 0.1


def test_derived_check_naming_an_unknown_variable(tmp_path):
    cat = full_catalog(tmp_path)
    doc = __import__("tomllib").loads(cat.read_text(encoding="utf-8"))
    doc["derived_check"] = {"gvo": {"max": 3}}
    cat.write_text(tomli_w.dumps(doc), encoding="utf-8")
    with pytest.raises(DataError, match=r"derived_check names \['gvo'\], which are not derived variables"):
        build_panel(cat, cache=False)


def test_formula_without_cached_value_in_a_supplementary_series(tmp_path):
    import openpyxl

    ind = REAL.get("co2")
    book = openpyxl.load_workbook(data_root() / ind.file)
    ws = book["2015"]
    row = next(r for r in ws.iter_rows() if r[ind.label_column].value == ind.row_label)
    target = next(c for c in row[ind.label_column + 1:] if isinstance(c.value, (int, float)))
    target.value = f"={target.coordinate}*1"
    copy = tmp_path / "co2 copy.xlsx"
    book.save(copy)
    cat = write_catalog(tmp_path, [entry("co2", file=str(copy), sha256=sha(copy))])
    with pytest.raises(DataError, match=rf"formula without a cached value \(={target.coordinate}\*1\)") as err:
        build_panel(cat, cache=False)
    assert "sheet='2015'" in str(err.value) and f"cell='{target.coordinate}'" in str(err.value)


# ---------------------------------------------------------------- declarations that were silently accepted


def test_years_spanning_one_period_are_refused(tmp_path):
    cat = full_catalog(tmp_path, years=(2019, 2019))
    with pytest.raises(DataError, match=r"years = \[2019, 2019\] spans a single period: a panel needs at least two") \
            as err:
        build_panel(cat, cache=False)
    assert str(cat) in str(err.value) and "Hint:" in str(err.value)


@pytest.mark.parametrize("option,value", [("encoding", "utf-16"), ("delimiter", ";")])
def test_text_file_options_on_a_workbook_are_refused(tmp_path, option, value):
    cat = write_catalog(tmp_path, [entry("gdp", **{option: value})])
    with pytest.raises(DataError, match=rf"option\(s\) \['{option}'\] apply to CSV/text files only") as err:
        load_catalog(cat)
    msg = str(err.value)
    assert "id='gdp'" in msg and "control V.xlsx" in msg and str(cat) in msg
    assert load_catalog(write_catalog(tmp_path, [entry("pku_dfi", **{option: value})], name="csv.toml"))


@pytest.mark.parametrize("option,value", [("decimal", ","), ("thousands", ",")])
def test_number_format_of_a_workbook_reads_its_text_cells(tmp_path, option, value):
    """decimal and thousands are allowed on a workbook: they say how numbers stored there as text are written."""
    loc = load_catalog(write_catalog(tmp_path, [entry("gdp", **{option: value})])).indicator[0]
    assert getattr(loc.number_format, option) == value


def test_known_missing_unit_that_has_values_is_refused(tmp_path):
    cat = full_catalog(tmp_path, pku_dfi={"known_missing": ["110000"]})
    with pytest.raises(DataError, match=r"known_missing lists '110000', but the series has 10 value\(s\)") as err:
        build_panel(cat, cache=False)
    msg = str(err.value)
    assert "indicator='pku_dfi'" in msg and "province='110000'" in msg and "option='known_missing'" in msg
    assert "out of date" in msg


def with_points(cat: Path, **changes) -> Path:
    """The catalog at ``cat`` with the study's [points], changed."""
    doc = __import__("tomllib").loads(cat.read_text(encoding="utf-8"))
    doc["points"] = {**REAL.points.model_dump(exclude_none=True), **changes}
    cat.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return cat


def test_points_with_lon_and_lat_swapped_stop_the_data_build(tmp_path):
    from typer.testing import CliRunner

    from spillover.cli import app

    cat = with_points(full_catalog(tmp_path), lon_column="latitude", lat_column="longitude")
    result = CliRunner().invoke(app, ["data", "build", "--catalog", str(cat), "--out", str(tmp_path / "out")],
                                env={"COLUMNS": "300"})
    assert result.exit_code != 0
    with pytest.raises(DataError, match=r"coordinates that are not longitude/latitude degrees") as err:
        build_panel(cat, cache=False)
    msg = str(err.value)
    assert "look swapped" in msg and "province_capital_coordinates.csv" in msg and "110000" in msg


def test_points_id_column_typo_is_refused_listing_the_columns(tmp_path):
    cat = with_points(full_catalog(tmp_path), id_column="adcod")
    with pytest.raises(DataError, match=r"column 'adcod' not in the points table") as err:
        build_panel(cat, cache=False)
    msg = str(err.value)
    assert "option='id_column'" in msg and "'adcode'" in msg and "'longitude'" in msg


def test_repeated_point_ids_are_named(tmp_path):
    cat = with_points(full_catalog(tmp_path), fill=[{**REAL.points.fill[0].model_dump(), "id": "110000"}])
    with pytest.raises(DataError, match=r"appear more than once in the points: \['110000'\]"):
        build_panel(cat, cache=False)


def _cell_copy(tmp_path: Path, indicator_id: str, province: int, year: int, value) -> Path:
    """A full catalog whose entries on ``indicator_id``'s workbook read a copy with one cell changed."""
    import openpyxl

    from spillover.data.provinces import normalize_key

    ind = REAL.get(indicator_id)
    book = openpyxl.load_workbook(data_root() / ind.file)
    ws = book[ind.sheet]
    head = [normalize_key(c.value) if c.value is not None else "" for c in ws[ind.header_row + 1]]
    col, pcol, ycol = (head.index(normalize_key(c)) for c in (ind.column, ind.province_column, ind.year_column))
    rows = [r for r in ws.iter_rows(min_row=ind.header_row + 2) if r[pcol].value == province and r[ycol].value == year]
    assert len(rows) == 1
    rows[0][col].value = value(rows[0][col].value) if callable(value) else value
    copy = tmp_path / f"copy of {Path(ind.file).name}"
    book.save(copy)
    same = [i.id for i in REAL.indicator if i.file == ind.file]
    cat = full_catalog(tmp_path, **{i: {"file": str(copy), "sha256": sha(copy)} for i in same})
    doc = __import__("tomllib").loads(cat.read_text(encoding="utf-8"))
    doc["derived_check"] = {k: v.model_dump(exclude_none=True) for k, v in REAL.derived_check.items()}
    cat.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return cat


@pytest.mark.parametrize("indicator_id,value,pattern", [
    ("fiscal_exp", 0, r"1 value\(s\) of 'fiscal_exp' not above 0 \(the rule declares positive = true\): "
                      r"\(110000, 2019\): fiscal_exp = 0"),
    ("x17", 0, r"1 value\(s\) of 'x17' not above 0 \(the rule declares positive = true\): \(110000, 2018\)"),
    ("x17", lambda v: -v, r"1 value\(s\) of 'x17' below the declared minimum 0: \(110000, 2018\): x17 = -110\.4"),
])
def test_zero_or_negative_in_a_positive_series_stops_the_build(tmp_path, indicator_id, value, pattern):
    year = 2019 if indicator_id == "fiscal_exp" else 2018
    cat = _cell_copy(tmp_path, indicator_id, 110000, year, value)
    with pytest.raises(DataError, match=pattern) as err:
        build_panel(cat, cache=False)
    assert f"indicator='{indicator_id}'" in str(err.value) and "Hint:" in str(err.value)


def test_every_positive_quantity_of_the_study_catalog_refuses_zero():
    can_be_zero = {"x21"}  # R&D institutions of industrial enterprises: a small province may have none
    for ind in REAL.indicator:
        if ind.status == "excluded" or ind.id in can_be_zero:
            continue
        rule = ind.rule
        assert rule.positive or (rule.min is not None and rule.min > 0), ind.id
    assert REAL.get("x21").rule.min == 0


def test_derived_share_below_its_lower_bound_stops_the_build(tmp_path):
    cat = _cell_copy(tmp_path, "fiscal_exp", 110000, 2019, lambda v: v / 100)
    with pytest.raises(DataError, match=r"value\(s\) of 'gov' below the declared minimum 0\.05: \(110000, 2019\)") \
            as err:
        build_panel(cat, cache=False)
    assert "fiscal_exp / gdp" in str(err.value)
