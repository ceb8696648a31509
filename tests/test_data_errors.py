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


def full_catalog(tmp_path: Path, **overrides: dict) -> Path:
    entries = []
    for ind in REAL.indicator:
        d = ind.model_dump(exclude_none=True)
        d.update(overrides.get(ind.id, {}))
        entries.append(d)
    return write_catalog(tmp_path, entries)


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
