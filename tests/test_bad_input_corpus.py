"""A corpus of bad inputs: each is refused with the right error type and a message that names where.

Cases are grouped by the layer that must catch them: the number parser and
the encodings, the raw-table readers of a catalog, the catalog schema and its
plausibility rules, a user's panel file and its derived columns, the study
spec (checked before any estimation), the estimators' inputs, and the command
line. Property-based tests (hypothesis) cover the number parser, the CSV
reader and the plausibility rules. Every raw file's sha256 is the same after
the whole corpus as before it.
"""

from __future__ import annotations

import hashlib
import math
import re
import shutil
from pathlib import Path

import libpysal
import numpy as np
import openpyxl
import pandas as pd
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import spillover as sp
from spillover.analysis import mediation
from spillover.cli import app
from spillover.data import data_root, load_catalog, read_long
from spillover.data.plausibility import Rule, check
from spillover.data.sources import read_panel, select
from spillover.data.text import NumberFormat, csv_rows, decode, detect_encoding, parse_number
from spillover.errors import DataError, SpecificationError, SpilloverError, WeightsError
from spillover.panel import fit_panel
from spillover.study.runner import run_study
from test_data_errors import entry, sha  # the catalog-entry helpers of the older catalog error tests

REAL = load_catalog()
CSV_ID = "pku_dfi"
CSV_FILE = REAL.get(CSV_ID).file
XLSX_FILE = REAL.get("gdp").file
XLSX_SHEET = REAL.get("gdp").sheet


def _raw_hashes() -> dict[str, str]:
    root = data_root()
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module", autouse=True)
def raw_files_unchanged():
    """The whole corpus leaves every file under data_raw/ byte-identical."""
    before = _raw_hashes()
    yield
    assert _raw_hashes() == before


def write_catalog(tmp_path: Path, entries: list[dict], **top) -> Path:
    doc = {"schema_version": 1, "root": str(data_root()), "years": [2013, 2022], "indicator": entries, **top}
    path = tmp_path / "catalog.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


# ============================================================== 1. the number parser
PLAIN_BAD = ["4345,56", "20.584,0", "1,234.5", "1,234", "1 234", "1.234.567", "12,", ",5,", "1e", "e5", "--1",
             "+-1", "1-", "inf", "-inf", "nan", "NaN", "Infinity", "1e400", "0x1A", "1_000", "12 %", "$12",
             "one", "1/2", "(12)", "1..2", "١٢٣"]


@pytest.mark.parametrize("text", PLAIN_BAD)
def test_plain_format_refuses(text):
    assert parse_number(text) is None


@pytest.mark.parametrize("text,fmt,want", [
    ("4345,56", NumberFormat(",", ""), 4345.56), ("20.584,0", NumberFormat(",", "."), 20584.0),
    ("1,234.5", NumberFormat(".", ","), 1234.5), ("1 234,5", NumberFormat(",", " "), 1234.5),
    ("1\u00a0234", NumberFormat(".", " "), 1234.0), ("－12.5", NumberFormat(), -12.5), ("１２３", NumberFormat(), 123.0),
])
def test_declared_formats_read(text, fmt, want):
    assert parse_number(text, fmt) == want


@pytest.mark.parametrize("text,fmt", [
    ("1,23.5", NumberFormat(".", ",")), ("12,3456", NumberFormat(".", ",")), ("1.234", NumberFormat(",", "")),
    ("1234.5", NumberFormat(",", ".")), ("1.23,4", NumberFormat(",", ".")),
])
def test_declared_formats_refuse_bad_groups(text, fmt):
    assert parse_number(text, fmt) is None


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_property_plain_round_trip(x):
    assert parse_number(repr(x)) == x and parse_number(str(x)) == x


@given(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), st.integers(0, 4))
def test_property_thousands_grouping(x, digits):
    text = f"{x:,.{digits}f}"
    want = float(f"{x:.{digits}f}")
    assert parse_number(text, NumberFormat(".", ",")) == want
    if "," in text:
        assert parse_number(text) is None  # never read silently without a declared format
    euro = text.replace(",", "_").replace(".", ",").replace("_", ".")
    assert parse_number(euro, NumberFormat(",", ".")) == want


@given(st.text(max_size=20))
def test_property_parser_never_raises(text):
    v = parse_number(text)
    assert v is None or math.isnan(v) or math.isfinite(v)


# ============================================================== 2. encodings and CSV rows
@pytest.mark.parametrize("codec", ["utf-8", "utf-8-sig", "utf-16", "gb18030", "gbk"])
def test_encodings_detected_and_decoded(tmp_path, codec):
    text = "地区,年份,值\n北京,2013,1.5\n"
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode(codec))
    got, used = decode(path)
    assert got == text and used in ("utf-8", "utf-8-sig", "utf-16", "gb18030")


@given(st.binary(max_size=64))
def test_property_detection_never_raises_and_decodes_what_it_names(data):
    name = detect_encoding(data)
    assert name in (None, "utf-8", "utf-8-sig", "utf-16", "gb18030")
    if name is not None:
        data.decode(name)


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30))
def test_property_utf8_text_is_always_read_as_utf8(text):
    assert detect_encoding(text.encode("utf-8")) in ("utf-8", "utf-8-sig")


@pytest.mark.parametrize("data,pattern", [
    (b"\x80\x81\x82 not text \xff\xfe\xfd", r"not UTF-8, UTF-16 or GB18030 text \(byte 0 on line 1\)"),
    (b"a,b\n1,2\n\xff\xff\xff\n", r"byte 8 on line 3"),
])
def test_undecodable_files_are_refused_with_the_byte(tmp_path, data, pattern):
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    with pytest.raises(DataError, match=pattern) as err:
        decode(path)
    assert "bad.csv" in str(err.value)


def test_declared_encoding_that_does_not_fit(tmp_path):
    path = tmp_path / "g.csv"
    path.write_bytes("地区\n北京\n".encode("gbk"))
    with pytest.raises(DataError, match=r"not utf-8 text .*line 1.*reads as gb18030"):
        decode(path, "utf-8")
    with pytest.raises(DataError, match="unknown encoding 'klingon'"):
        decode(path, "klingon")


@pytest.mark.parametrize("text,pattern", [
    ("a,b,c\n1,2,3\n4,5\n", r"line 3 has 2 field\(s\), the header has 3"),
    ("a,b\n1,2\n3,4,5\n", r"line 3 has 3 field"),
    ("a,b\n1,\"2\n", r"malformed CSV"),
    ("", r"the CSV file is empty"),
    ("\n\n\n", r"the CSV file is empty"),
    ("a,b\n1,2\n\n5\n", r"line 4 has 1 field"),
])
def test_csv_rows_refused(text, pattern):
    with pytest.raises(DataError, match=pattern):
        csv_rows(text, file="x.csv")


@given(st.lists(st.lists(st.text(alphabet="ab1 ,\"", max_size=4), min_size=2, max_size=2), min_size=1, max_size=6))
def test_property_csv_rows_round_trip(rows):
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    if not any(f.strip() for r in rows for f in r):
        return
    got = csv_rows(buf.getvalue(), file="x.csv")
    kept = list(rows)
    while kept and not any(f.strip() for f in kept[-1]):
        kept.pop()
    assert got == kept


# ============================================================== 3. raw tables of a catalog
def csv_copy(tmp_path: Path, edit, encoding: str = "utf-8") -> Path:
    src = data_root() / CSV_FILE
    lines = src.read_text(encoding="utf-8-sig").splitlines()
    dst = tmp_path / "copy.csv"
    dst.write_bytes(("\n".join(edit(lines)) + "\n").encode(encoding))
    return dst


def _set_csv(lines, province: str, year: int, new: str):
    head = lines[0].lstrip("\ufeff").split(",")
    col = head.index("digital_finance")
    out = []
    for line in lines:
        f = line.split(",")
        if f[0] == province and f[1] == str(year):
            f[col] = new if "," not in new else f'"{new}"'
            line = ",".join(f)
        out.append(line)
    return out


def _truncate(lines, province: str, year: int, keep: int):
    return [line[:keep] if line.startswith(f"{province},{year},") else line for line in lines]


CSV_CASES = {
    "decimal comma": (lambda ls: _set_csv(ls, "北京", 2019, "399,0026"), r"non-numeric cell '399,0026'.*"
                      r"province='110000'.*year=2019.*decimal = ','"),
    "european number": (lambda ls: _set_csv(ls, "上海", 2018, "1.377,9"), r"'1.377,9'.*province='310000'"),
    "thousands": (lambda ls: _set_csv(ls, "北京", 2015, "1,276.5"), r"'1,276.5'.*year=2015"),
    "text inf": (lambda ls: _set_csv(ls, "北京", 2015, "inf"), r"non-numeric cell 'inf'"),
    "text nan": (lambda ls: _set_csv(ls, "北京", 2015, "NaN"), r"non-numeric cell 'NaN'"),
    "negative": (lambda ls: _set_csv(ls, "天津", 2016, "-3.5"), r"below the declared minimum 0.*\(120000, 2016\)"),
    "huge": (lambda ls: _set_csv(ls, "天津", 2016, "1e300"), r"above the declared maximum 1000.*120000"),
    "strict jump": (lambda ls: _set_csv(ls, "新疆", 2022, "34"), r"year-on-year jump.*'pku_dfi'.*\(650000, 2022\)"),
    "truncated row": (lambda ls: _truncate(ls, "新疆", 2022, 40), r"line \d+ has \d+ field\(s\), the header has"),
    "extra field": (lambda ls: [ls[0]] + [ls[1] + ",9"] + ls[2:], r"line 2 has \d+ field"),
    "unknown province": (lambda ls: [ls[0]] + [ls[1].replace("北京", "北平", 1)] + ls[2:], r"unknown province"),
    "duplicate row": (lambda ls: ls + [ls[5]], r"duplicate province-year"),
    "bad year": (lambda ls: [ls[0]] + [ls[1].replace(",2011,", ",20x1,", 1)] + ls[2:], r"is not a year"),
    "stray quote": (lambda ls: [ls[0]] + ['"' + ls[1]] + ls[2:], r"malformed CSV|field"),
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_raw_csv_cases(tmp_path, case):
    edit, pattern = CSV_CASES[case]
    copy = csv_copy(tmp_path, edit)
    cat = write_catalog(tmp_path, [entry(CSV_ID, file=str(copy), sha256=sha(copy))])
    with pytest.raises(DataError, match=pattern) as err:
        read_long(cat)
    assert "copy.csv" in str(err.value)


def test_raw_csv_with_its_rows_cut_off_is_a_gap(tmp_path):
    from spillover.data import build_panel

    copy = csv_copy(tmp_path, lambda ls: ls[:40])
    entries = [entry(i.id) if i.id != CSV_ID else entry(CSV_ID, file=str(copy), sha256=sha(copy))
               for i in REAL.indicator]
    points = REAL.points.model_dump(exclude_none=True) if REAL.points else None
    top = {"relations": REAL.relations, **({"points": points} if points else {})}
    cat = write_catalog(tmp_path, entries, **top)
    with pytest.raises(DataError, match=r"pku_dfi") as err:
        build_panel(cat, cache=False)
    assert "missing" in str(err.value) or "gap" in str(err.value)


@pytest.mark.parametrize("codec", ["utf-16", "gb18030"])
def test_raw_csv_in_another_encoding_reads_the_same(tmp_path, codec):
    copy = csv_copy(tmp_path, lambda ls: ls, encoding=codec)
    got = read_long(write_catalog(tmp_path, [entry(CSV_ID, file=str(copy), sha256=sha(copy))]))
    (tmp_path / "real").mkdir()
    want = read_long(write_catalog(tmp_path / "real", [entry(CSV_ID)]))
    pd.testing.assert_frame_equal(got, want)


def test_a_declared_format_applies_to_every_cell(tmp_path):
    copy = csv_copy(tmp_path, lambda ls: _set_csv(ls, "北京", 2019, "399,0026"))
    cat = write_catalog(tmp_path, [entry(CSV_ID, file=str(copy), sha256=sha(copy), decimal=",")])
    with pytest.raises(DataError, match=r"non-numeric cell '79.41'"):  # the other cells now do not fit
        read_long(cat)


def xlsx_copy(tmp_path: Path, edit) -> Path:
    book = openpyxl.load_workbook(data_root() / XLSX_FILE)
    ws = book[XLSX_SHEET]
    from spillover.data.provinces import normalize_key

    head = [normalize_key(c.value) if c.value is not None else "" for c in ws[1]]
    edit(ws, head)
    dst = tmp_path / "copy.xlsx"
    book.save(dst)
    return dst


def _col(head, column: str) -> int:
    from spillover.data.provinces import normalize_key

    return head.index(normalize_key(column))


def _cell(ws, head, column: str, province_id: int, year: int, value):
    ci = _col(head, column) + 1
    for row in ws.iter_rows(min_row=2):
        if row[1].value == province_id and row[0].value == year:
            row[ci - 1].value = value
            return
    raise AssertionError("cell not found")


def _scale(ws, head, column: str, factor: float):
    ci = _col(head, column)
    for row in ws.iter_rows(min_row=2):
        if isinstance(row[ci].value, (int, float)):
            row[ci].value = row[ci].value * factor


GDP, POP, URB = REAL.get("gdp").column, REAL.get("pop").column, REAL.get("urban_pop").column
XLSX_CASES = {
    "gdp x 1000": (["gdp"], lambda ws, h: _scale(ws, h, GDP, 1000), r"above the declared maximum 1e\+06"),
    "gdp 1e300": (["gdp"], lambda ws, h: _cell(ws, h, GDP, 110000, 2019, 1e300), r"maximum.*\(110000, 2019\)"),
    "gdp one cell x 1000": (["gdp"], lambda ws, h: _cell(ws, h, GDP, 440000, 2016, 80854.9e3), r"maximum|jump"),
    "gdp text decimal comma": (["gdp"], lambda ws, h: _cell(ws, h, GDP, 340000, 2013, "20584,0"),
                               r"'20584,0'.*province='340000'.*year=2013.*decimal"),
    "gdp text": (["gdp"], lambda ws, h: _cell(ws, h, GDP, 340000, 2013, "n/a"), r"non-numeric cell 'n/a'"),
    "negative pop": (["pop"], lambda ws, h: _cell(ws, h, POP, 110000, 2015, -2171), r"below the declared minimum 1"),
    "zero pop": (["pop"], lambda ws, h: _cell(ws, h, POP, 110000, 2015, 0), r"pop.*below.*\(110000, 2015\)"),
    "pop strict jump": (["pop"], lambda ws, h: _cell(ws, h, POP, 110000, 2015, 21710), r"above|jump"),
    "urban above total": (["pop", "urban_pop"], lambda ws, h: _cell(ws, h, URB, 310000, 2017, 24180),
                          r"break the relation urban_pop <= pop.*\(310000, 2017\)"),
    "negative urban": (["urban_pop"], lambda ws, h: _cell(ws, h, URB, 310000, 2017, -5), r"below the declared"),
}


@pytest.mark.parametrize("case", sorted(XLSX_CASES))
def test_raw_xlsx_cases(tmp_path, case):
    ids, edit, pattern = XLSX_CASES[case]
    copy = xlsx_copy(tmp_path, edit)
    entries = [entry(i, file=str(copy), sha256=sha(copy)) for i in ids]
    top = {"relations": ["urban_pop <= pop"]} if len(ids) == 2 else {}
    cat = write_catalog(tmp_path, entries, **top)
    with pytest.raises(DataError, match=pattern):
        read_long(cat)


@pytest.mark.parametrize("declared", ["persons", "yuan", "100 million persons", "10,000 households"])
def test_declared_unit_against_the_header(tmp_path, declared):
    cat = write_catalog(tmp_path, [entry("pop", unit=declared)])
    with pytest.raises(DataError, match=r"header states its unit as 10000 persons.*" + re.escape(declared)):
        read_long(cat)


@pytest.mark.parametrize("content,pattern", [
    (b"", "cannot open the workbook"), (b"PK\x03\x04 truncated", "cannot open the workbook"),
    (b"year,id\n2013,1\n", "cannot open the workbook"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, "cannot open the workbook.*old .xls"),
])
def test_broken_workbooks(tmp_path, content, pattern):
    path = tmp_path / "broken.xlsx"
    path.write_bytes(content)
    cat = write_catalog(tmp_path, [entry("gdp", file=str(path), sha256=sha(path))])
    with pytest.raises(DataError, match=pattern) as err:
        read_long(cat)
    assert "broken.xlsx" in str(err.value)


def test_truncated_real_workbook(tmp_path):
    data = (data_root() / XLSX_FILE).read_bytes()
    path = tmp_path / "half.xlsx"
    path.write_bytes(data[: len(data) // 2])
    cat = write_catalog(tmp_path, [entry("gdp", file=str(path), sha256=sha(path))])
    with pytest.raises(DataError, match="cannot open the workbook"):
        read_long(cat)


# ============================================================== 4. catalog schema
@pytest.mark.parametrize("change,pattern", [
    ({"check": {"min": 5, "max": 1}}, r"min 5 is above max 1"),
    ({"check": {"jump": 1}}, r"check\.jump"),
    ({"check": {"jump": 0.5}}, r"check\.jump"),
    ({"check": {"minimum": 0}}, r"check\.minimum"),
    ({"check": {"max": "high"}}, r"check\.max"),
    ({"decimal": ";"}, r"decimal"),
    ({"thousands": "_"}, r"thousands"),
    ({"decimal": ",", "thousands": ","}, r"decimal and thousands must differ"),
    ({"unit": "furlongs"}, r"unit does not parse"),
    ({"sha256": "abc"}, r"sha256"),
])
def test_catalog_entry_schema(tmp_path, change, pattern):
    cat = write_catalog(tmp_path, [entry(CSV_ID, **change)])
    with pytest.raises(DataError, match=pattern) as err:
        load_catalog(cat)
    assert "catalog.toml" in str(err.value)


@pytest.mark.parametrize("relations,pattern", [
    (["urban_pop <= nosuch"], r"relation 'urban_pop <= nosuch' names \['nosuch'\]"),
    (["urban_pop =< pop"], r"must read 'column OP column'"),
    (["urban_pop"], r"must read 'column OP column'"),
])
def test_catalog_relations_schema(tmp_path, relations, pattern):
    cat = write_catalog(tmp_path, [entry("pop"), entry("urban_pop")], relations=relations)
    with pytest.raises(DataError, match=pattern):
        load_catalog(cat)


@pytest.mark.parametrize("codec", ["gbk", "utf-16"])
def test_catalog_not_utf8(tmp_path, codec):
    cat = write_catalog(tmp_path, [entry(CSV_ID)])
    cat.write_bytes(cat.read_text(encoding="utf-8").encode(codec))
    with pytest.raises(DataError, match=r"the catalog must be UTF-8 text; it reads as .*iconv") as err:
        load_catalog(cat)
    assert "catalog.toml" in str(err.value)


# ============================================================== 5. a user's panel file
@pytest.fixture(scope="module")
def panel_csv(tmp_path_factory):
    folder = tmp_path_factory.mktemp("panel")
    rng = np.random.default_rng(5)
    n, t = 25, 6
    df = pd.DataFrame({"unit": np.repeat(np.arange(1, n + 1), t), "year": np.tile(np.arange(2001, 2001 + t), n)})
    df["lon"] = np.repeat(np.arange(n) % 5, t) * 1.0 + 100
    df["lat"] = np.repeat(np.arange(n) // 5, t) * 1.0 + 30
    df["x"] = rng.normal(size=len(df))
    df["pop"] = rng.uniform(10, 20, size=len(df))
    df["urban"] = df["pop"] * rng.uniform(0.2, 0.8, size=len(df))
    df["y"] = 0.5 * df["x"] + rng.normal(size=len(df))
    df["name"] = "u" + df["unit"].astype(str)
    df["region"] = np.where(df["unit"] <= 12, "north", "south")
    path = folder / "panel.csv"
    df.to_csv(path, index=False)
    return folder, df, path


def _csv_text(df: pd.DataFrame) -> str:
    return df.to_csv(index=False)


PANEL_CASES = {
    "decimal comma column": (lambda df: _csv_text(df.assign(x=df["x"].map(lambda v: f"{v:.3f}".replace(".", ",")))),
                             r"column 'x' holds numbers written with decimal ','.*line=2.*\[data\] decimal"),
    "thousands column": (lambda df: _csv_text(df.assign(pop=(df["pop"] * 1000).map(lambda v: f"{v:,.1f}"))),
                         r"column 'pop' holds numbers written with decimal '.' and thousands ','"),
    "short row": (lambda df: _csv_text(df).replace("\n", "\n", 1)[:-15] + "\n", r"line \d+ has \d+ field"),
    "extra field": (lambda df: _csv_text(df).replace("\n", "\n1,2001,", 1), r"line 2 has 12 field"),
    "header only": (lambda df: _csv_text(df.head(0)), r"header but no rows"),
    "empty": (lambda df: "", r"empty"),
    "no entity": (lambda df: _csv_text(df.drop(columns="unit")), r"entity column 'unit' is not in the file"),
    "no time": (lambda df: _csv_text(df.drop(columns="year")), r"time column 'year' is not in the file"),
    "text time": (lambda df: _csv_text(df.assign(year=df["year"].astype(str) + "a")), r"time values must be"),
    "fractional time": (lambda df: _csv_text(df.assign(year=df["year"] + 0.5)), r"time values must be integers"),
    "duplicate": (lambda df: _csv_text(pd.concat([df, df.head(1)])), r"duplicate \(unit, year\) rows: \('1', 2001\)"),
    "missing unit": (lambda df: _csv_text(df.assign(unit=df["unit"].where(df.index != 3))), r"rows without a unit"),
    "unclosed quote": (lambda df: _csv_text(df).replace("u1", '"u1', 1), r"malformed CSV|field"),
    "semicolons": (lambda df: _csv_text(df).replace(",", ";"), r"separates its fields by a semicolon ';', not by ','"),
    "tabs": (lambda df: _csv_text(df).replace(",", "\t"), r"separates its fields by a tab"),
}


@pytest.mark.parametrize("case", sorted(PANEL_CASES))
def test_panel_file_cases(panel_csv, tmp_path, case):
    _, df, _ = panel_csv
    make, pattern = PANEL_CASES[case]
    path = tmp_path / "bad.csv"
    path.write_text(make(df), encoding="utf-8")
    with pytest.raises(DataError, match=pattern) as err:
        read_panel(path, entity="unit", time="year")
    assert "bad.csv" in str(err.value)


def test_panel_declared_decimal_comma_reads_the_same(panel_csv, tmp_path):
    _, df, path = panel_csv
    p = tmp_path / "euro.csv"
    df.to_csv(p, index=False, decimal=",")  # cells such as "0,123" are quoted
    got = read_panel(p, entity="unit", time="year", numbers=NumberFormat(",", ""))
    want = read_panel(path, entity="unit", time="year")
    pd.testing.assert_frame_equal(got, want, rtol=1e-12)


@pytest.mark.parametrize("codec", ["utf-16", "gb18030", "utf-8-sig"])
def test_panel_encodings_read_the_same(panel_csv, tmp_path, codec):
    _, df, path = panel_csv
    p = tmp_path / "enc.csv"
    p.write_bytes(df.assign(name="区" + df["name"]).to_csv(index=False).encode(codec))
    got = read_panel(p, entity="unit", time="year")
    assert got["name"].str.startswith("区").all() and len(got) == len(df)


@pytest.mark.parametrize("suffix,content", [(".parquet", b"PAR1 broken"), (".dta", b"\x75 not stata"),
                                            (".xlsx", b"PK\x03\x04"), (".xlsx", b"plain text"), (".txt", b"a")])
def test_panel_broken_binary_files(tmp_path, suffix, content):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"cannot read") as err:
        read_panel(path, entity="unit", time="year")
    assert f"bad{suffix}" in str(err.value)


DERIVE_CASES = {
    "division by zero": ({"share": "{urban / pop}"}, {"pop": 0.0}, r"'share' = '\{urban / pop\}' is inf.*pop = 0"),
    "log of zero": ({"lp": "np.log(pop)"}, {"pop": 0.0}, r"'lp' = 'np.log\(pop\)' is -inf.*unit='1'"),
    "log of negative": ({"lp": "np.log(pop)"}, {"pop": -1.0}, r"is nan in 1 row.*pop = -1"),
    "unknown variable": ({"z": "np.log(nosuch)"}, {}, r"derived column 'z'.*nosuch"),
    "existing name": ({"x": "pop * 2"}, {}, r"derived column 'x' already exists"),
    "syntax": ({"z": "pop *"}, {}, r"derived column 'z' = 'pop \*'.*misplaced"),
    "text input": ({"z": "name * 2"}, {}, r"derived column 'z'.*'name'"),
}


@pytest.mark.parametrize("case", sorted(DERIVE_CASES))
def test_derived_column_cases(panel_csv, case):
    _, df, _ = panel_csv
    derived, cell, pattern = DERIVE_CASES[case]
    d = df.assign(unit=df["unit"].astype(str))
    for col, value in cell.items():
        d.loc[0, col] = value
    with pytest.raises(DataError, match=pattern):
        select(d, entity="unit", time="year", derived=derived, file="p.csv")


def test_derived_lag_nan_is_not_an_error(panel_csv):
    _, df, _ = panel_csv
    got = select(df.assign(unit=df["unit"].astype(str)), entity="unit", time="year", derived={"dx": "{x - lag(x)}"})
    assert got.groupby("unit")["dx"].apply(lambda s: s.isna().sum()).eq(1).all()


# ============================================================== 6. plausibility rules on any frame
FRAME = pd.DataFrame({"u": ["a", "a", "a", "b", "b", "b"], "t": [1, 2, 3, 1, 2, 3],
                      "pop": [10.0, 11, 12, 20, 21, 22], "urb": [5.0, 6, 7, 8, 9, 10]})


@pytest.mark.parametrize("rules,relations,pattern", [
    ({"pop": Rule(min=15)}, [], r"3 value\(s\) of 'pop' below the declared minimum 15: \(a, 1\): pop = 10"),
    ({"pop": Rule(max=21)}, [], r"1 value\(s\) of 'pop' above the declared maximum 21: \(b, 3\)"),
    ({"pop": Rule(jump=1.05, strict=True)}, [], r"jump\(s\) of 'pop' beyond the strict limit 1.05"),
    ({}, ["pop <= urb"], r"6 cell\(s\) break the relation pop <= urb"),
    ({}, ["urb > pop"], r"break the relation urb > pop"),
    ({"nosuch": Rule(min=0)}, [], r"rules name columns that do not exist: \['nosuch'\]"),
    ({}, ["pop <= nosuch"], r"do not exist: \['nosuch'\]"),
])
def test_plausibility_errors(rules, relations, pattern):
    with pytest.raises(DataError, match=pattern) as err:
        check(FRAME, rules, relations, entity="u", time="t", where={"file": "f.csv"})
    assert "f.csv" in str(err.value)


def test_plausibility_positive_refuses_zero_that_min_0_accepts():
    zero = FRAME.assign(pop=[10.0, 0, 12, 20, 21, 22])
    assert check(zero, {"pop": Rule(min=0)}, entity="u", time="t") == []
    with pytest.raises(DataError, match=r"1 value\(s\) of 'pop' not above 0 \(the rule declares positive = true\): "
                                        r"\(a, 2\): pop = 0"):
        check(zero, {"pop": Rule(min=0, positive=True)}, entity="u", time="t")
    with pytest.raises(ValueError, match=r"positive = true but max -1 is not above 0"):
        Rule(max=-1, positive=True)


def test_plausibility_jump_reported_not_raised():
    found = check(FRAME.assign(pop=[10.0, 30, 31, 20, 21, 22]), {"pop": Rule(jump=2)}, entity="u", time="t")
    assert [(f.unit, f.period, f.previous, f.value) for f in found] == [("a", 2, 10.0, 30.0)]


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.floats(0.5, 100.0), min_size=6, max_size=6), st.integers(0, 5), st.floats(101.0, 1e6))
def test_property_rules_find_the_bad_cell(values, k, bad):
    frame = FRAME.assign(pop=values)
    assert check(frame, {"pop": Rule(min=0.5, max=100.0)}, entity="u", time="t") == []
    frame.loc[k, "pop"] = bad
    with pytest.raises(DataError) as err:
        check(frame, {"pop": Rule(min=0.5, max=100.0)}, entity="u", time="t")
    assert f"({frame.loc[k, 'u']}, {frame.loc[k, 't']})" in str(err.value)


# ============================================================== 7. the study spec, before any estimation
BASE_SPEC = {
    "study": {"name": "s"},
    "data": {"panel": "panel.csv", "entity": "unit", "time": "year", "group": "region"},
    "weights": {"knn": {"kind": "knn", "k": 4, "coords": ["lon", "lat"]}},
    "estimate": [{"name": "sar", "model": "sar", "formula": "y ~ x", "weights": "knn", "fe": "entity"}],
}


def _spec(tmp_path: Path, panel: Path, **changes) -> Path:
    folder = tmp_path / "study"
    folder.mkdir(exist_ok=True)
    shutil.copy(panel, folder / "panel.csv")
    doc = {k: (dict(v) if isinstance(v, dict) else list(v)) for k, v in BASE_SPEC.items()}
    for key, value in changes.items():
        section, _, sub = key.partition(".")
        if sub:
            doc[section] = {**doc.get(section, {}), sub: value}
        else:
            doc[section] = value
    (folder / "00_study.toml").write_text(tomli_w.dumps(doc), encoding="utf-8")
    return folder


SPEC_CASES = {
    "formula unknown variable": ({"estimate": [{"name": "e", "model": "sar", "formula": "y ~ nosuch", "weights": "knn"}]},
                                 r"\[\[estimate\]\] 'e'.formula \(00_study.toml\): 'nosuch' is not a column"),
    "formula typo close match": ({"estimate": [{"name": "e", "model": "sar", "formula": "y ~ xx", "weights": "knn"}]},
                                 r"'xx' is not a column of the panel \(did you mean \['x'\]\?\)"),
    "formula trailing plus": ({"estimate": [{"name": "e", "model": "sar", "formula": "y ~ x +", "weights": "knn"}]},
                              r"'e'.formula \(00_study.toml\): unreadable formula 'y ~ x \+'"),
    "lag unknown": ({"estimate": [{"name": "e", "model": "sar", "formula": "y ~ x", "weights": "knn",
                                   "lag": ["pop"]}]}, r"lag \['pop'\]: not variables of the formula"),
    "mediator unknown": ({"mediation": [{"name": "m", "formula": "y ~ x", "treatment": "x",
                                         "mediators": ["nosuch"]}]}, r"\[\[mediation\]\] 'm'.mediators[^:]*: 'nosuch'"),
    "mediator text": ({"mediation": [{"name": "m", "formula": "y ~ x", "treatment": "x", "mediators": ["name"]}]},
                      r"'m'.mediators[^:]*: column 'name' is not numeric \(e.g. 'u1'\)"),
    "treatment unknown": ({"mediation": [{"name": "m", "formula": "y ~ x", "treatment": "dd", "mediators": ["pop"]}]},
                          r"'m'.treatment[^:]*: 'dd' is not a column"),
    "threshold var unknown": ({"threshold": [{"name": "t", "formula": "y ~ x", "threshold_var": "nosuch"}]},
                              r"\[\[threshold\]\] 't'.threshold_var[^:]*: 'nosuch'"),
    "threshold var text": ({"threshold": [{"name": "t", "formula": "y ~ x", "threshold_var": "region"}]},
                           r"'t'.threshold_var[^:]*: column 'region' is not numeric"),
    "group unknown": ({"data.group": "nosuch"}, r"\[data\].group[^:]*: 'nosuch' is not a column"),
    "describe unknown": ({"data.describe": ["y", "nosuch"]}, r"\[data\].describe[^:]*: 'nosuch'"),
    "describe text": ({"data.describe": ["name"]}, r"\[data\].describe[^:]*: column 'name' is not numeric"),
    "economic W on text": ({"weights": {**BASE_SPEC["weights"], "eco": {"kind": "economic", "variable": "name"}}},
                           r"\[weights.eco\].variable[^:]*: column 'name' is not numeric"),
    "economic W unknown": ({"weights": {**BASE_SPEC["weights"], "eco": {"kind": "economic", "variable": "gdpx"}}},
                           r"\[weights.eco\].variable[^:]*: 'gdpx' is not a column"),
    "coords unknown": ({"weights": {"knn": {"kind": "knn", "coords": ["lng", "lat"]}}},
                       r"\[weights.knn\].coords[^:]*: 'lng'"),
    "moran text": ({"moran": [{"name": "mo", "variables": ["name"], "weights": ["knn"]}]},
                   r"\[\[moran\]\] 'mo'.variables[^:]*: column 'name' is not numeric"),
    "diagnose unknown": ({"diagnose": [{"name": "d", "formula": "y ~ q", "weights": "knn"}]},
                         r"\[\[diagnose\]\] 'd'.formula[^:]*: 'q' is not a column"),
    "grid unknown": ({"grid": [{"name": "g", "formula": "y ~ x + q", "variable": "x", "weights": ["knn"]}]},
                     r"\[\[grid\]\] 'g'.formula[^:]*: 'q'"),
    "regime var unknown": ({"regime": [{"name": "r", "formula": "y ~ x", "weights": "knn", "var": "q"}]},
                           r"\[\[regime\]\] 'r'.var[^:]*: 'q'"),
    "check rule unknown column": ({"data.check": {"nosuch": {"min": 0}}}, r"\[data\].check[^:]*: 'nosuch'"),
    "iv instrument unknown": ({"estimate": [{"name": "iv", "model": "iv", "formula": "y ~ pop + [x ~ L1.q]"}]},
                              r"'iv'.formula[^:]*: 'q' is not a column"),
    "dependent among regressors": ({"estimate": [{"name": "e", "model": "sar", "formula": "y ~ x + y",
                                                  "weights": "knn"}]},
                                   r"00_study.toml: \[\[estimate\]\] 'e'.formula: formula 'y ~ x \+ y': the dependent "
                                   r"variable 'y' is also a regressor"),
    "diagnose dependent among regressors": ({"diagnose": [{"name": "d", "formula": "y ~ y + x", "weights": "knn"}]},
                                            r"\[\[diagnose\]\] 'd'.formula: formula 'y ~ y \+ x': the dependent "
                                            r"variable 'y'"),
    "figure variable unknown": ({"figure": [{"name": "f", "kind": "trends", "variable": "nosuch"}]},
                                r"\[\[figure\]\] 'f'.variable \(00_study.toml\): 'nosuch' is not a column"),
    "figure one of its variables unknown": ({"figure": [{"name": "f", "kind": "trends", "variable": "y,nosuch"}]},
                                            r"\[\[figure\]\] 'f'.variable \(00_study.toml\): 'nosuch'"),
    "moran figure of two variables": ({"figure": [{"name": "f", "kind": "moran_scatter", "variable": "y,x",
                                                   "weights": "knn"}]},
                                      r"\[\[figure\]\] 'f'.variable \(00_study.toml\): 'y,x' is not a column"),
    "figure impacts of an estimate without": ({"figure": [{"name": "f", "kind": "impacts", "estimate": "sar"}]},
                                              r"\[\[figure\]\] 'f': kind = 'impacts' but \[\[estimate\]\] 'sar' has no "
                                              r"impacts"),
    "index indicator unknown": ({"index": [{"name": "ix", "indicators": {"x": "+", "nosuch": "-"}}]},
                                r"\[\[index\]\] 'ix'.indicators \(00_study.toml\): 'nosuch' is not a column"),
    "estimate groups unknown": ({"estimate": [{"name": "e", "model": "sar", "formula": "y ~ x", "weights": "knn",
                                               "groups": ["nowhere"]}]},
                                r"\[\[estimate\]\] 'e'.groups \(00_study.toml\): \['nowhere'\] are not values of "
                                r"\[data\] group = 'region'"),
    "hypothesis variable not in the formula": (
        {"hypothesis": [{"name": "H", "claim": "c", "estimate": "sar", "quantity": "coefficient", "variable": "pop"}]},
        r"00_study.toml: \[\[hypothesis\]\] 'H': variable = 'pop' is not a regressor of \[\[estimate\]\] 'sar'"),
    "hypothesis impacts of an estimate without": (
        {"hypothesis": [{"name": "H", "claim": "c", "estimate": "sar", "quantity": "direct", "variable": "x"}]},
        r"\[\[hypothesis\]\] 'H': quantity = 'direct' needs the impacts of \[\[estimate\]\] 'sar'"),
    "hypothesis robustness without impacts": (
        {"estimate": [{"name": "sar", "model": "sar", "formula": "y ~ x", "weights": "knn", "impacts": {"draws": 50}},
                      {"name": "sar2", "model": "sar", "formula": "y ~ x", "weights": "knn"}],
         "hypothesis": [{"name": "H", "claim": "c", "estimate": "sar", "quantity": "indirect", "variable": "x",
                         "robustness": ["sar2"]}]},
        r"'H': quantity = 'indirect' needs the impacts of \[\[estimate\]\] 'sar2'"),
    "drop_interpolated on a panel file": ({"estimate": [{"name": "e", "model": "fe", "formula": "y ~ x",
                                                          "drop_interpolated": ["x13"]}]},
                                          r"\[\[estimate\]\] 'e'.drop_interpolated \(00_study.toml\): only a \[data\] "
                                          r"catalog study"),
    "hypothesis not a mediator": (
        {"mediation": [{"name": "m", "formula": "y ~ x", "treatment": "x", "mediators": ["pop"]}],
         "hypothesis": [{"name": "H", "claim": "c", "estimate": "m", "quantity": "mediated", "variable": "urban"}]},
        r"'H': variable = 'urban' is not a mediator of \[\[mediation\]\] 'm'"),
}


@pytest.mark.parametrize("case", sorted(SPEC_CASES))
def test_spec_cases_stop_before_estimation(panel_csv, tmp_path, case):
    _, _, panel = panel_csv
    changes, pattern = SPEC_CASES[case]
    folder = _spec(tmp_path, panel, **changes)
    out = tmp_path / "out"
    with pytest.raises(SpecificationError, match=pattern):
        run_study(folder, out, figures=False)
    assert not out.exists() or not any(out.iterdir())  # nothing published


PLAUSIBLE_CASES = {
    "range": ({"data.check": {"pop": {"max": 15}}}, DataError, r"value\(s\) of 'pop' above the declared maximum 15"),
    "relation": ({"data.relations": ["pop <= urban"]}, DataError, r"break the relation pop <= urban"),
    "strict jump": ({"data.check": {"pop": {"jump": 1.01, "strict": True}}}, DataError, r"strict limit 1.01"),
    "bad rule key": ({"data.check": {"pop": {"low": 0}}}, SpecificationError, r"check.pop.low"),
    "bad relation": ({"data.relations": ["pop less urban"]}, SpecificationError, r"column OP column"),
    "decimal equals thousands": ({"data.decimal": ",", "data.thousands": ","}, SpecificationError, r"must differ"),
}


def test_spec_coordinates_varying_within_a_unit(panel_csv, tmp_path):
    _, df, panel = panel_csv
    folder = _spec(tmp_path, panel)
    df.assign(lon=df["lon"].where((df["unit"] != 3) | (df["year"] != 2004), 150.0)).to_csv(folder / "panel.csv",
                                                                                         index=False)
    with pytest.raises(DataError, match=r"coordinates must be constant within a unit: 'lon' takes 2 values in unit "
                                        r"'3' \(\[102.0, 150.0\]\).*option='coords'"):
        run_study(folder, tmp_path / "out", figures=False)


def test_spec_drop_interpolated_names_catalog_indicators(tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    doc = {"data": {"catalog": str(data_root() / "catalog.toml"), "entity": "province", "time": "year"},
           "estimate": [{"name": "fe", "model": "fe", "formula": "cpi ~ dei", "drop_interpolated": ["x13", "x2l"]}]}
    (folder / "00_study.toml").write_text(tomli_w.dumps(doc), encoding="utf-8")
    with pytest.raises(SpecificationError, match=r"\[\[estimate\]\] 'fe'.drop_interpolated \(00_study.toml\): "
                                                 r"\['x2l'\] are not indicators of the catalog \(did you mean"):
        run_study(folder, tmp_path / "out", figures=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_hypotheses_of_the_bundled_study_name_numbers_its_entries_give():
    from spillover.study.spec import load_study

    study = load_study(Path(__file__).resolve().parents[1] / "models")
    assert len(study.hypothesis) >= 7


@pytest.mark.parametrize("case", sorted(PLAUSIBLE_CASES))
def test_spec_plausibility_cases(panel_csv, tmp_path, case):
    _, _, panel = panel_csv
    changes, kind, pattern = PLAUSIBLE_CASES[case]
    folder = _spec(tmp_path, panel, **changes)
    with pytest.raises(kind, match=pattern):
        run_study(folder, tmp_path / "out", figures=False)


def test_spec_jump_is_reported_in_flags(panel_csv, tmp_path):
    _, _, panel = panel_csv
    folder = _spec(tmp_path, panel, **{"data.check": {"pop": {"jump": 1.3}}})
    run = run_study(folder, tmp_path / "out", figures=False)
    flags = pd.read_csv(run.out / "data" / "flags.csv")
    assert len(flags) > 0 and set(flags.columns) >= {"column", "unit", "year", "value", "previous", "factor"}
    assert (flags["factor"] > 1.3).all()


@pytest.mark.parametrize("make,pattern", [
    (lambda f: (f / "00_study.toml").write_bytes('[study]\nname = "研究"\n'.encode("gbk")),
     r"must be UTF-8 text; it reads as gb18030.*00_study.toml"),
    (lambda f: (f / "00_study.toml").write_text("[study\n", encoding="utf-8"), r"TOML syntax error"),
    (lambda f: (f / "00_study.toml").write_text("[nosuch]\n", encoding="utf-8"), r"unknown top-level key 'nosuch'"),
    (lambda f: (f / "00_study.toml").unlink(), r"no \*.toml study files"),
    (lambda f: shutil.rmtree(f), r"no such study folder"),
])
def test_spec_files(panel_csv, tmp_path, make, pattern):
    _, _, panel = panel_csv
    folder = _spec(tmp_path, panel)
    make(folder)
    with pytest.raises(SpecificationError, match=pattern):
        run_study(folder, tmp_path / "out", figures=False)


# ============================================================== 8. estimator inputs
@pytest.fixture(scope="module")
def lattice():
    rng = np.random.default_rng(1)
    n, t = 16, 5
    w = libpysal.weights.lat2W(4, 4)
    w.transform = "r"
    df = pd.DataFrame({"id": np.repeat(range(n), t), "year": np.tile(range(2000, 2000 + t), n)})
    df["x"] = rng.normal(size=len(df))
    df["y"] = df["x"] + rng.normal(size=len(df))
    return df, w


def _dense(w):
    return np.asarray(w.sparse.toarray(), dtype=float), list(w.id_order)


def _with_cell(m, i, j, v):
    m = m.copy()
    m[i, j] = v
    return m


ESTIMATOR_CASES = {
    "self-loop": (lambda df, w: sp.SAR("y ~ x", df, (_with_cell(_dense(w)[0], 0, 0, 0.5), _dense(w)[1]), "id",
                                      "year").fit(), WeightsError, r"self"),
    "negative weight": (lambda df, w: sp.SAR("y ~ x", df, (_with_cell(_dense(w)[0], 0, 1, -0.5), _dense(w)[1]),
                                            "id", "year").fit(), WeightsError, r"negative"),
    "nan weight": (lambda df, w: sp.SAR("y ~ x", df, (_with_cell(_dense(w)[0], 0, 1, np.nan), _dense(w)[1]), "id",
                                       "year").fit(), WeightsError, r"non-finite|finite"),
    "inf weight": (lambda df, w: sp.SAR("y ~ x", df, (_with_cell(_dense(w)[0], 2, 3, np.inf), _dense(w)[1]), "id",
                                       "year").fit(), WeightsError, r"non-finite|finite"),
    "nan array W": (lambda df, w: sp.SAR.from_arrays(df["y"].to_numpy(), df[["x"]].to_numpy(),
                                                     _with_cell(_dense(w)[0], 0, 1, np.nan), 5).fit(),
                    WeightsError, r"non-finite|finite"),
    "bare matrix": (lambda df, w: sp.SAR("y ~ x", df, _dense(w)[0], "id", "year").fit(), WeightsError,
                    r"a matrix W needs its ids"),
    "wrong size": (lambda df, w: sp.SAR("y ~ x", df, (_dense(w)[0][:15, :15], _dense(w)[1][:15]), "id",
                                       "year").fit(), WeightsError, r"differ|missing|not in"),
    "str ids vs int W": (lambda df, w: sp.SAR("y ~ x", df.assign(id=df["id"].astype(str)), w, "id", "year").fit(),
                         WeightsError, r"agree as text but differ in type"),
    "constant y": (lambda df, w: sp.SAR("y ~ x", df.assign(y=1.0), w, "id", "year").fit(), SpecificationError,
                   r"dependent variable 'y' is constant"),
    "inf y": (lambda df, w: sp.SAR("y ~ x", df.assign(y=df["y"].where(df.index != 7, -np.inf)), w, "id",
                                   "year").fit(), SpecificationError, r"column='y', entity=1, time=2002"),
    "nan x": (lambda df, w: sp.SDM("y ~ x", df.assign(x=df["x"].where(df.index != 3)), w, "id", "year").fit(),
              SpecificationError, r"column='x', entity=0, time=2003"),
    "huge x": (lambda df, w: sp.SEM("y ~ x", df.assign(x=df["x"].where(df.index != 3, 1e200)), w, "id",
                                    "year").fit(), SpecificationError, r"above 1e\+100.*column='x'"),
    "draws 0": (lambda df, w: sp.SAR("y ~ x", df, w, "id", "year").fit().impacts(draws=0), SpecificationError,
                r"draws=0"),
    "draws negative": (lambda df, w: sp.SDM("y ~ x", df, w, "id", "year").fit().impacts(draws=-5),
                       SpecificationError, r"draws=-5"),
    "fe bogus": (lambda df, w: sp.SAR("y ~ x", df, w, "id", "year", fe="bogus").fit(), SpecificationError,
                 r"fe='bogus'"),
    "method bogus": (lambda df, w: sp.SAR("y ~ x", df, w, "id", "year", method="bogus").fit(), SpecificationError,
                     r"method"),
    "cov bogus": (lambda df, w: sp.SAR("y ~ x", df, w, "id", "year", cov="bogus").fit(), SpecificationError,
                  r"cov"),
    "logdet bogus": (lambda df, w: sp.SAR("y ~ x", df, w, "id", "year", logdet="bogus").fit(), SpilloverError,
                     r"log-determinant strategy \[strategy='bogus'\]"),
    "unknown variable": (lambda df, w: sp.SAR("y ~ nosuch", df, w, "id", "year").fit(), SpecificationError,
                         r"\['nosuch'\] not in the data"),
    "trailing plus": (lambda df, w: sp.SAR("y ~ x +", df, w, "id", "year").fit(), SpecificationError,
                      r"cannot parse"),
    "no tilde": (lambda df, w: sp.SAR("y x", df, w, "id", "year").fit(), SpecificationError, r"'y ~ x1 \+ x2'"),
    "unbalanced bracket": (lambda df, w: sp.SAR("y ~ x + [x ~ y", df, w, "id", "year").fit(), SpecificationError,
                           r"closed by '\]'"),
    "lag beyond T": (lambda df, w: sp.SAR("y ~ lag(x, 5)", df, w, "id", "year").fit(), SpecificationError,
                     r"lags 5 period"),
    "entity column missing": (lambda df, w: sp.SAR("y ~ x", df, w, "unit", "year").fit(), SpecificationError,
                              r"'unit' is not a column"),
    "time column missing": (lambda df, w: sp.SAR("y ~ x", df, w, "id", "t").fit(), SpecificationError,
                            r"'t' is not a column"),
    "not a frame": (lambda df, w: sp.SAR("y ~ x", df.to_numpy(), w, "id", "year").fit(), SpecificationError,
                    r"DataFrame"),
    "duplicate cell": (lambda df, w: sp.SAR("y ~ x", pd.concat([df, df.head(1)]), w, "id", "year").fit(),
                       SpilloverError, r"duplicate|twice|more than once"),
    "text regressor": (lambda df, w: sp.SAR("y ~ x + z", df.assign(z="a"), w, "id", "year").fit(),
                       SpecificationError, r"'z'"),
    "collinear": (lambda df, w: sp.SAR("y ~ x + x2", df.assign(x2=2 * df["x"]), w, "id", "year").fit(),
                  SpecificationError, r"collinear"),
    "missing period": (lambda df, w: sp.SAR("y ~ x", df.assign(year=df["year"].astype(float).where(df.index != 4)),
                                            w, "id", "year").fit(), SpecificationError,
                       r"1 row\(s\) without a value in the time column; rows 4 \[column='year', entity=\[0\]\]"),
    "missing entity": (lambda df, w: sp.SAR("y ~ x", df.assign(id=df["id"].astype(float).where(df.index != 9)), w,
                                            "id", "year").fit(), SpecificationError,
                       r"without a value in the entity column; rows 9 \[column='id', time=\[2004\]\]"),
    "seed text": (lambda df, w: sp.SAR("y ~ x", df, w, "id", "year").fit().impacts(draws=50, seed="abc"),
                  SpecificationError, r"seed='abc': a seed must be a whole number >= 0, or None"),
    "seed negative": (lambda df, w: sp.SAR("y ~ x", df, w, "id", "year").fit().impacts(draws=50, seed=-1),
                      SpecificationError, r"seed=-1"),
    "model seed text": (lambda df, w: sp.SAR("y ~ x", df, w, "id", "year", seed="abc"), SpecificationError,
                        r"seed='abc'"),
    "draws fractional": (lambda df, w: sp.SAR("y ~ x", df, w, "id", "year").fit().impacts(draws=2.5),
                         SpecificationError, r"draws=2.5 is not a whole number"),
    "y among regressors": (lambda df, w: sp.SAR("y ~ x + y", df, w, "id", "year").fit(), SpecificationError,
                           r"the dependent variable 'y' is also a regressor \(term 'y'\)"),
    "y transformed among regressors": (lambda df, w: sp.SEM("y ~ x + I(2 * y)", df, w, "id", "year").fit(),
                                       SpecificationError, r"dependent variable 'y' is also a regressor"),
    "entity as a list": (lambda df, w: sp.SAR("y ~ x", df, w, ["id"], "year").fit(), SpecificationError,
                         r"entity column must be one column's name \(str\), got list \['id'\].*entity='id'"),
    "time as a list": (lambda df, w: sp.moran_by_year(df, "y", w, "id", ["year"]), SpecificationError,
                       r"time column must be one column's name"),
    "lead": (lambda df, w: sp.SAR("y ~ lag(x, -1)", df, w, "id", "year").fit(), SpecificationError,
             r"lag\(x, -1\): the lag k = -1 must be >= 1.*a lead"),
    "lag 0": (lambda df, w: sp.SAR("y ~ lag(x, 0)", df, w, "id", "year").fit(), SpecificationError,
              r"lag\(x, 0\): the lag k = 0 must be >= 1"),
    "lag fractional": (lambda df, w: sp.SAR("y ~ lag(x, 1.5)", df, w, "id", "year").fit(), SpecificationError,
                       r"lag\(x, 1.5\): the lag k must be a whole number"),
    "one unit": (lambda df, w: sp.SAR("y ~ x", df[df["id"] == 0], (np.zeros((1, 1)), [0]), "id", "year",
                                      fe="twoways", method="direct").fit(), SpecificationError,
                 r"1 unit\(s\); a spatial model needs at least 2 units.*column='id'"),
    "one unit of arrays": (lambda df, w: sp.SAR.from_arrays(df["y"].to_numpy()[:5], df[["x"]].to_numpy()[:5],
                                                            np.zeros((1, 1)), 5).fit(), SpecificationError,
                           r"at least 2 units"),
    "moran negative permutations": (lambda df, w: sp.moran_by_year(df, "y", w, "id", "year", permutations=-5,
                                                                   seed=0), SpecificationError,
                                    r"permutations=-5 must be 0 \(no permutation p-value\) or a whole number >= 1"),
    "row shift as a lag": (lambda df, w: fit_panel("y ~ lag(x)", df, "id", "year", fe="entity"), SpecificationError,
                           r"lag\(x\) is not a panel lag in a non-spatial panel model.*add_lag"),
    "mediation negative bootstrap": (lambda df, w: mediation("y ~ x", df.assign(m=df["x"] + df["y"]), "id", "year",
                                                             mediator="m", treatment="x", bootstrap=-1),
                                     SpecificationError, r"bootstrap=-1 must be 0 \(no bootstrap\) or"),
}


@pytest.mark.parametrize("case", sorted(ESTIMATOR_CASES))
def test_estimator_cases(lattice, case):
    df, w = lattice
    make, kind, pattern = ESTIMATOR_CASES[case]
    with pytest.raises(kind, match=pattern):
        make(df, w)


# every public function that draws random numbers checks its count and seed the same way, before any work
RANDOM_OPTIONS = {
    "impacts": lambda df, w, **kw: sp.SAR("y ~ x", df, w, "id", "year").fit().impacts(**kw),
    "moran_by_year": lambda df, w, **kw: sp.moran_by_year(df, "y", w, "id", "year", **kw),
    "moran_pooled": lambda df, w, **kw: sp.moran_pooled(df, "y", w, "id", "year", **kw),
    "lisa_by_year": lambda df, w, **kw: sp.lisa_by_year(df, "y", w, "id", "year", **kw),
    "mediation": lambda df, w, **kw: mediation("y ~ x", df.assign(m=df["x"] + df["y"]), "id", "year", mediator="m",
                                               treatment="x", **kw),
    "spatial_mediation": lambda df, w, **kw: sp.analysis.spatial_mediation(
        "y ~ x", df.assign(m=df["x"] + df["y"]), w, "id", "year", mediator="m", treatment="x", **kw),
    "regime_sdm": lambda df, w, **kw: sp.analysis.regime_sdm("y ~ x", df.assign(g=df["id"] % 2), w, "id", "year",
                                                             regime_col="g", var="x", **kw),
    "panel_threshold": lambda df, w, **kw: sp.analysis.panel_threshold("y ~ x", df, "id", "year",
                                                                       threshold_var="x", **kw),
}
COUNT_OPTION = {"impacts": "draws", "moran_by_year": "permutations", "moran_pooled": "permutations",
                "lisa_by_year": "permutations", "mediation": "bootstrap", "spatial_mediation": "draws",
                "regime_sdm": "draws", "panel_threshold": "bootstrap"}


@pytest.mark.parametrize("value,pattern", [(-1, r"=-1 must be"), (2.5, r"=2.5 is not a whole number"),
                                           (True, r"=True is not a whole number"), ("9", r"='9' is not a whole")])
@pytest.mark.parametrize("func", sorted(RANDOM_OPTIONS))
def test_random_options_are_checked_alike(lattice, func, value, pattern):
    df, w = lattice
    option = COUNT_OPTION[func]
    with pytest.raises(SpecificationError, match=rf"{option}{pattern}.*\[option='{option}'\]"):
        RANDOM_OPTIONS[func](df, w, **{option: value})
    with pytest.raises(SpecificationError, match=r"seed='abc': a seed must be a whole number >= 0, or None"):
        RANDOM_OPTIONS[func](df, w, seed="abc")


@pytest.mark.filterwarnings("ignore:only N = 16 units")
def test_zero_bootstrap_or_permutations_mean_none(lattice):
    df, w = lattice
    assert sp.moran_by_year(df, "y", w, "id", "year", permutations=0)["p_sim"].isna().all()
    res = mediation("y ~ x", df.assign(m=df["x"] + df["y"]), "id", "year", mediator="m", treatment="x", bootstrap=0)
    assert res.bootstrap == 0 and all(np.isnan(res.boot_ci))


def test_text_periods_are_ordered_as_numbers(lattice):
    """Periods '8'..'12' stored as text: ordered 8 < 9 < 10, so lag(x) is the previous period's x."""
    df, w = lattice
    as_int = df.assign(year=df["year"] - 1992)
    as_text = as_int.assign(year=as_int["year"].astype(str))
    want = sp.SAR("y ~ lag(x)", as_int, w, "id", "year").fit()
    got = sp.SAR("y ~ lag(x)", as_text, w, "id", "year").fit()
    pd.testing.assert_series_equal(got.params, want.params, rtol=1e-10)
    assert got.nobs == want.nobs
    with pytest.raises(SpecificationError, match=r"time labels '08', '8' are the same period written differently"):
        sp.SAR("y ~ x", as_text.assign(year=as_text["year"].where(as_text.index != 0, "08")), w, "id",
               "year").fit()


# ------------------------------------------------ weights files and coordinates
def _edges(tmp_path: Path, changed: dict[str, str] | None = None) -> Path:
    """The edge list linking i <-> i+1 for units 1-25 (the units of panel_csv), one line per link, lines changed."""
    rows = [f"{a},{b},1" for i in range(1, 25) for a, b in ((i, i + 1), (i + 1, i))]
    rows = [(changed or {}).get(r, r) for r in rows]
    path = tmp_path / "edges.csv"
    path.write_text("from,to,weight\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("line,pattern", [
    ("2,3,-3", r"negative or non-finite weight\(s\); first -3 for the link 2 -> 3 .*line=4, ids=\['2', '3'\]"),
    ("1,2,-3", r"first -3 for the link 1 -> 2 .*line=2"),
    ("2,3,inf", r"first inf for the link 2 -> 3"),
])
def test_weights_file_refuses_negative_and_infinite_weights(tmp_path, line, pattern):
    path = _edges(tmp_path, {f"{line.split(',')[0]},{line.split(',')[1]},1": line})
    with pytest.raises(WeightsError, match=pattern) as err:
        sp.weights.from_file(path)
    assert "edges.csv" in str(err.value)


def test_weights_matrix_file_names_the_negative_cell(tmp_path):
    path = tmp_path / "w.csv"
    pd.DataFrame([[0, 1, 0], [1, 0, -2], [0, 1, 0]], index=list("abc"), columns=list("abc")).to_csv(path)
    with pytest.raises(WeightsError, match=r"first -2 in row 'b', column 'c'.*w.csv"):
        sp.weights.from_file(path)


@pytest.mark.filterwarnings("ignore:DBF relating to GWT")
def test_weights_file_zero_weight_is_no_link(tmp_path):
    path = _edges(tmp_path, {"1,2,1": "1,2,0"})
    w = sp.weights.from_file(path)  # islands="keep": unit 1's row stays empty, the others are as written
    assert w.neighbors["1"] == [] and w.islands == ["1"] and w.weights["2"] == [0.5, 0.5]
    assert w.spillover_meta["islands_found"] == ["1"]
    for policy in ("error", "nearest"):
        with pytest.raises(WeightsError, match=r"1 unit\(s\) without a positive weight in the file.*islands: 1 "
                                               r"\[file='.*edges.csv', ids=\['1'\]\]"):
            sp.weights.from_file(path, islands=policy)
    gwt = tmp_path / "w.gwt"
    gwt.write_text("0 3 x id\na b 0\nb a 1\nb c 1\nc b 1\n", encoding="utf-8")
    with pytest.raises(WeightsError, match=r"islands: a .*w.gwt"):
        sp.weights.from_file(gwt, islands="error")
    gwt.write_text("0 3 x id\na b 1\nb a -1\nb c 1\nc b 1\n", encoding="utf-8")
    with pytest.raises(WeightsError, match=r"negative or non-finite weight -1 for the link b -> a.*w.gwt"):
        sp.weights.from_file(gwt)


SWAPPED = pd.DataFrame({"lon": [30.0, 31, 32, 33], "lat": [100.0, 101, 102, 103]}, index=list("abcd"))


@pytest.mark.parametrize("build", [
    lambda p: sp.weights.inverse_distance(p), lambda p: sp.weights.distance_band(p, cutoff_km=5000),
    lambda p: sp.weights.exponential(p, bandwidth_km=100), lambda p: sp.weights.knn(p, k=2),
    lambda p: sp.weights.build("nested", points=p, values=pd.Series([1.0, 2, 3, 4], index=p.index)),
], ids=["inverse_distance", "distance_band", "exponential", "knn", "nested"])
def test_distance_builders_refuse_coordinates_out_of_range(build):
    with pytest.raises(WeightsError, match=r"4 unit\(s\) with coordinates that are not longitude/latitude degrees"
                                           r".*a \(30, 100\).*look swapped"):
        build(SWAPPED)
    projected = SWAPPED.assign(lon=[5e5, 5.1e5, 5.2e5, 5.3e5], lat=[4e6, 4.1e6, 4.2e6, 4.3e6])
    with pytest.raises(WeightsError, match=r"not longitude/latitude degrees.*to_crs\(4326\)"):
        build(projected)
    with pytest.raises(WeightsError, match=r"ids=\['b'\]"):
        build(SWAPPED.assign(lat=[40.0, np.nan, 41, 42]))


# ============================================================== 9. the command line: exit code 2, locators intact
runner = CliRunner()


def _cli_cases(tmp: Path, panel: Path) -> dict[str, tuple[list[str], str]]:
    bad_cat = write_catalog(tmp, [entry(CSV_ID, unit="furlongs")])
    study = _spec(tmp, panel, estimate=[{"name": "e", "model": "sar", "formula": "y ~ nosuch", "weights": "knn"}])
    good = _spec(tmp / "g", panel) if (tmp / "g").mkdir() is None else None
    afile = tmp / "afile.txt"
    afile.write_text("x", encoding="utf-8")
    file_w = {"weights": {"f": {"kind": "file", "path": "edges.csv"}},
              "estimate": [{"name": "e", "model": "sar", "formula": "y ~ x", "weights": "f"}]}
    zero, negative = tmp / "zero", tmp / "negative"
    for folder, changed in ((zero, {"1,2,1": "1,2,0"}), (negative, {"2,3,1": "2,3,-3"})):
        folder.mkdir()
        _edges(_spec(folder, panel, **file_w), changed)
    zero, negative = zero / "study", negative / "study"
    return {
        "replicate zero-weight link": (["replicate", str(zero), "--out", str(tmp / "o")],
                                       r"\[weights.f\] 1 unit\(s\) without a positive weight in the file.*"
                                       r"islands: 1 \[file='.*edges.csv', ids=\['1'\]\].*islands = 'keep'"),
        "weights describe zero-weight link": (["weights", "describe", str(zero), "--name", "f"],
                                              r"\[weights.f\] 1 unit\(s\) without a positive weight.*ids=\['1'\]"),
        "replicate negative weight": (["replicate", str(negative), "--out", str(tmp / "o")],
                                      r"\[weights.f\] 1 negative or non-finite weight.*edges.csv', line=4, "
                                      r"ids=\['2', '3'\]"),
        "weights describe negative weight": (["weights", "describe", str(negative), "--name", "f"],
                                             r"\[weights.f\] .*-3 for the link 2 -> 3"),
        "data build bad catalog": (["data", "build", "--catalog", str(bad_cat), "--out", str(tmp / "d")],
                                   r"unit does not parse.*\[file="),
        "data build missing catalog": (["data", "build", "--catalog", str(tmp / "no.toml")], r"catalog file not found"),
        "data build out under a file": (["data", "build", "--out", str(afile / "sub")], r"Not a directory|afile"),
        "replicate missing folder": (["replicate", str(tmp / "nope"), "--out", str(tmp / "o")], r"no such study"),
        "replicate bad column": (["replicate", str(study), "--out", str(tmp / "o")], r"'nosuch' is not a column"),
        "replicate out is a file": (["replicate", str(good), "--out", str(afile)], r"is a file, not a folder"),
        "replicate out under a file": (["replicate", str(good), "--out", str(afile / "sub")],
                                       r"Not a directory|afile"),
        "verify no results": (["verify", str(good), "--results", str(tmp / "none")], r"verify could not run"),
        "diagnose bad formula": (["diagnose", str(good), "-f", "y ~ nosuch"], r"nosuch"),
        "diagnose bad fe": (["diagnose", str(good), "--fe", "bogus"], r"--fe 'bogus'"),
        "diagnose bad weights": (["diagnose", str(good), "-w", "queen"], r"--weights 'queen'"),
        "weights describe bad name": (["weights", "describe", str(good), "--name", "zz"], r"--name 'zz'"),
        "weights describe missing": (["weights", "describe", str(tmp / "nope")], r"no such study"),
        "montecarlo missing spec": (["montecarlo", str(tmp / "no.toml"), "--out", str(tmp / "mc")], r"no.toml"),
        "new missing data": (["new", str(tmp / "n1"), "--data", str(tmp / "no.csv"), "--entity", "unit", "--time",
                              "year", "--y", "y", "--x", "x"], r"not found"),
        "new wrong column": (["new", str(tmp / "n2"), "--data", str(panel), "--entity", "fips", "--time", "year",
                              "--y", "y", "--x", "x"], r"'fips'"),
        "new y among x": (["new", str(tmp / "n3"), "--data", str(panel), "--entity", "unit", "--time", "year",
                           "--y", "y", "--x", "x,y", "--weights", str(afile)],
                          r"--x x,y holds the dependent variable --y y"),
        "replicate data-raw is a file": (["replicate", str(good), "--out", str(tmp / "o"), "--data-raw", str(afile)],
                                         r"--data-raw \S*afile.txt is a file: it must be the raw-data folder"),
        "verify results is a file": (["verify", str(good), "--results", str(afile)],
                                     r"is a file: --results must be the folder"),
        "verify negative rtol": (["verify", str(good), "--rtol", "-1"], r"--rtol.*greater than or equal to 0"),
        "verify negative atol": (["verify", str(good), "--atol", "-1e-9"], r"--atol.*greater than or equal to 0"),
        "data build out in the raw folder": (["data", "build", "--catalog", str(data_root() / "catalog.toml"),
                                              "--out", str(data_root() / "built")],
                                             r"--out \S*built is inside the raw-data folder"),
        "data build out is the raw folder": (["data", "build", "--catalog", str(data_root() / "catalog.toml"),
                                              "--out", str(data_root())], r"is inside the raw-data folder"),
    }


CLI_NAMES = ["data build bad catalog", "data build missing catalog", "data build out under a file",
             "replicate missing folder", "replicate bad column", "replicate out is a file",
             "replicate out under a file", "verify no results", "diagnose bad formula", "diagnose bad fe",
             "diagnose bad weights", "weights describe bad name", "weights describe missing",
             "montecarlo missing spec", "new missing data", "new wrong column", "replicate zero-weight link",
             "weights describe zero-weight link", "replicate negative weight", "weights describe negative weight",
             "new y among x", "replicate data-raw is a file", "verify results is a file", "verify negative rtol",
             "verify negative atol", "data build out in the raw folder", "data build out is the raw folder"]


@pytest.mark.parametrize("case", CLI_NAMES)
def test_cli_cases_exit_2_with_the_location(panel_csv, tmp_path, case):
    _, _, panel = panel_csv
    args, pattern = _cli_cases(tmp_path, panel)[case]
    result = runner.invoke(app, args, env={"COLUMNS": "400"})
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    assert re.search(pattern, " ".join(result.output.split()), re.S), result.output


def test_file_weights_with_islands_keep_run(panel_csv, tmp_path):
    _, _, panel = panel_csv
    folder = _spec(tmp_path, panel, weights={"f": {"kind": "file", "path": "edges.csv", "islands": "keep"}},
                   estimate=[{"name": "e", "model": "sar", "formula": "y ~ x", "weights": "f", "fe": "entity"}])
    _edges(folder, {"1,2,1": "1,2,0"})
    result = runner.invoke(app, ["weights", "describe", str(folder), "--name", "f"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert re.search(r"islands\s*│\s*1\s", result.output), result.output


def test_cli_out_inside_the_raw_folder_of_a_run(panel_csv, tmp_path, monkeypatch):
    _, _, panel = panel_csv
    study = _spec(tmp_path, panel)
    raw, other = tmp_path / "raw", tmp_path / "other"
    raw.mkdir()
    other.mkdir()
    monkeypatch.setenv("SPILLOVER_DATA_RAW", str(other))  # --data-raw overrides it (and sets it: undone here)
    for out in (raw / "res", raw):
        result = runner.invoke(app, ["replicate", str(study), "--out", str(out), "--data-raw", str(raw)],
                               env={"COLUMNS": "400"})
        assert result.exit_code == 2, result.output
        assert re.search(r"is inside the raw-data folder .*nothing is ever written there", " ".join(result.output.split()))
    assert list(raw.iterdir()) == []  # not even a staging folder
    monkeypatch.setenv("SPILLOVER_DATA_RAW", str(raw))
    result = runner.invoke(app, ["replicate", str(study), "--out", str(raw / "r")], env={"COLUMNS": "400"})
    assert result.exit_code == 2 and "inside the raw-data folder" in result.output
    assert not (data_root() / "built").exists()


def test_cli_verify_says_first_that_the_results_are_another_studys(panel_csv, tmp_path):
    _, _, panel = panel_csv
    a = _spec(tmp_path / "a", panel) if (tmp_path / "a").mkdir() is None else None
    run_study(a, tmp_path / "res_a", figures=False)
    b = _spec(tmp_path / "b", panel, study={"name": "other"}) if (tmp_path / "b").mkdir() is None else None
    result = runner.invoke(app, ["verify", str(b), "--results", str(tmp_path / "res_a"),
                                 "--report", str(tmp_path / "rep")], env={"COLUMNS": "400"})
    assert result.exit_code == 1, result.output
    lines = [x for x in result.output.splitlines() if x.strip()]
    text = " ".join(result.output.split())
    assert "belong to another study" in lines[0], result.output  # before the rerun and its list of differences
    assert "names study 's'" in text and "study 'other'" in text
    assert "manifest.json | the results in" in text  # also listed among the differences


@pytest.mark.parametrize("delay", [0.3, 1.5, 4.0, 6.0, 7.0, 8.0])
def test_ctrl_c_at_any_moment_exits_130_in_one_line(panel_csv, tmp_path, delay):
    import os
    import signal
    import subprocess
    import sys
    import time

    _, _, panel = panel_csv
    study = _spec(tmp_path, panel)
    code = "import sys; sys.argv[0] = 'spillover'; from spillover.cli import app; app()"
    proc = subprocess.Popen([sys.executable, "-c", code, "replicate", str(study), "--out", str(tmp_path / "o")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200", "OPENBLAS_NUM_THREADS": "1"})
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    if proc.returncode == 0:  # finished before the signal: nothing to check
        return
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err
    assert err.strip().splitlines() == ["spillover: interrupted (Ctrl-C); nothing more was written"], err
    published = tmp_path / "o"
    if published.exists() and any(published.iterdir()):  # interrupted after the results were published
        assert (published / "manifest.json").is_file()
    assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name]


@pytest.mark.parametrize("entity,time,pattern", [("prov", "year", r"entity column 'prov' is not in the panel"),
                                                 ("unit", "yr", r"time column 'yr' is not in the panel")])
def test_select_names_a_missing_key_column(panel_csv, entity, time, pattern):
    _, df, _ = panel_csv
    with pytest.raises(DataError, match=pattern):
        select(df, entity=entity, time=time, file="built panel")


@pytest.mark.parametrize("damage", ["folder where a file goes", "file where a folder goes"])
def test_publish_checks_every_target_before_moving_any(panel_csv, tmp_path, damage):
    _, _, panel = panel_csv
    folder = _spec(tmp_path, panel)
    out = tmp_path / "out"
    run_study(folder, out, figures=False)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    target = out / "data" / "panel.csv"
    if damage == "folder where a file goes":
        target.unlink()
        target.mkdir()
    else:
        shutil.rmtree(out / "weights")
        (out / "weights").write_text("not a folder", encoding="utf-8")
    kept = {p: m for p, m in before.items() if p.exists() and p.is_file()}
    result = runner.invoke(app, ["replicate", str(folder), "--out", str(out)], env={"COLUMNS": "400"})
    assert result.exit_code == 2 and "is where an output" in result.output, result.output
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # no file was replaced


SPEC_KEYS = {"data": ["entity", "time", "years", "units", "encoding", "decimal", "thousands", "group", "describe",
                      "check", "relations", "wide", "derive", "unit_label", "panel", "bogus"],
             "estimate": ["model", "formula", "weights", "fe", "method", "lag", "groups", "cov", "impacts", "label",
                          "logdet", "bogus"],
             "weights": ["kind", "k", "coords", "power", "cutoff_km", "islands", "variable", "phi", "bogus"]}
VALUES = st.one_of(st.integers(-3, 3), st.floats(allow_nan=False, width=32), st.booleans(),
                   st.text(alphabet="abcxy ~+,.", max_size=8), st.lists(st.text(alphabet="xyz", max_size=3), max_size=3),
                   st.dictionaries(st.sampled_from(["min", "max", "x"]), st.integers(-2, 2), max_size=2))


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.sampled_from(sorted(SPEC_KEYS)), st.data())
def test_property_any_mutated_spec_loads_or_says_why(panel_csv, tmp_path, section, data):
    from spillover.study.spec import load_study

    _, _, panel = panel_csv
    key = data.draw(st.sampled_from(SPEC_KEYS[section]))
    value = data.draw(VALUES)
    folder = tmp_path / f"p{abs(hash((section, key, repr(value)))) % 10**8}"
    folder.mkdir(exist_ok=True)
    doc = {k: (dict(v) if isinstance(v, dict) else [dict(e) for e in v]) for k, v in BASE_SPEC.items()}
    target = {"data": doc["data"], "estimate": doc["estimate"][0], "weights": doc["weights"]["knn"]}[section]
    target[key] = value
    (folder / "00_study.toml").write_text(tomli_w.dumps(doc), encoding="utf-8")
    try:
        load_study(folder)
    except SpecificationError as exc:
        assert str(exc).strip()  # a message, never another exception type
    else:
        assert key != "bogus"
