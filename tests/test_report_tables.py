"""Regression tables: layout, numbers, and every output format read back."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from bs4 import BeautifulSoup
from docx import Document
from docx.oxml.ns import qn

import spillover as sp
from spillover.panel import fit_panel
from spillover.report import tables as tb
from spillover.report.tables import ColumnRecord, Table, column_record, compare, star_legend, star_string

DIGITS = 3
PRICE = "价格（对数）"  # a Chinese label that must survive every format
LABELS = {"logp": PRICE, "logy": "Income_pc & more", "logc": "log C"}
TITLE = "表 1: Cigarette demand"
FORMATS = ["tex", "html", "md", "csv", "xlsx", "docx"]


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def fits(cigar):
    """OLS (statsmodels), two-way FE (linearmodels), SEM and SDM (spillover) on Cigar."""
    df, w = cigar
    ols = smf.ols("logc ~ logp + logy", df).fit()
    fe = fit_panel("logc ~ logp + logy", df, "state", "year", fe="twoways")
    sem = sp.SEM("logc ~ logp + logy", df, w, "state", "year", fe="entity", method="direct").fit()
    sdm = sp.SDM("logc ~ logp + logy", df, w, "state", "year", fe="twoways", method="lee-yu").fit()
    return {"OLS": ols, "FE": fe, "SEM": sem, "SDM": sdm}


@pytest.fixture(scope="module")
def sdm_impacts(fits):
    return fits["SDM"].impacts(draws=200, seed=1)


@pytest.fixture(scope="module")
def table(fits, sdm_impacts):
    return Table.from_results(list(fits.values()), list(fits), impacts=[None, None, None, sdm_impacts],
                              labels=LABELS, title=TITLE, notes="Data: Baltagi's Cigar panel.")


@pytest.fixture(scope="module")
def written(table, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    paths = table.write(folder / "table1", formats=FORMATS)
    return folder, {p.suffix[1:]: p for p in paths}


def _params(res) -> pd.DataFrame:
    rec = column_record(res)
    return rec.coefs


def _expected_cells(res, name: str, levels=(0.10, 0.05, 0.01), stat="se") -> tuple[str, str]:
    c = _params(res).loc[name]
    below = c["se"] if stat == "se" else c["t"]
    return f"{c['coef']:.{DIGITS}f}" + "*" * sum(c["p"] < lv for lv in levels), f"({below:.{DIGITS}f})"


def _label(name: str) -> str:
    if name.startswith("W*"):
        return "W × " + LABELS.get(name[2:], name[2:])
    return {"Intercept": "Constant"}.get(name, LABELS.get(name, name))


def check_grid(grid: list[list[str]], fits: dict, impacts=None) -> None:
    """``grid`` = header line then one list per row (label, cells) as a reader of a format sees it."""
    assert grid[0][1:] == list(fits)
    labels = [row[0] for row in grid]
    for j, (name, res) in enumerate(fits.items(), start=1):
        for param in _params(res).index:
            i = labels.index(_label(param))  # estimates come before the impacts block
            top, below = _expected_cells(res, param)
            assert grid[i][j] == top, (name, param)
            assert grid[i + 1][j] == below, (name, param)
            assert grid[i + 1][0] == ""
    if impacts is not None:
        start = labels.index("Direct effects")
        i = labels.index(PRICE, start)
        d = impacts.table.loc["logp"]
        assert grid[i][4] == f"{d['direct']:.{DIGITS}f}" + star_string(d["direct_p"], (0.10, 0.05, 0.01))
        assert grid[i + 1][4] == f"({d['direct_se']:.{DIGITS}f})"
    i = labels.index("Observations")
    assert grid[i][1:] == ["1380"] * 4
    assert grid[labels.index("Unit effects")][1:] == ["No", "Yes", "Yes", "Yes"]
    assert grid[labels.index("Time effects")][1:] == ["No", "Yes", "No", "Yes"]
    assert grid[labels.index("Method")][2:] == ["Within", "Demeaning (Elhorst)", "Lee-Yu transformation"]
    llf = fits["SDM"].llf  # likelihoods of differently transformed data never share a row
    assert grid[labels.index("Log-likelihood (Lee-Yu transformed)")][4] == f"{llf:.{DIGITS}f}"
    assert grid[labels.index("Log-likelihood (Lee-Yu transformed)")][1] == ""


# ---------------------------------------------------------------- model and layout
def test_adapters_read_each_library(fits):
    ols, fe, sem, sdm = (column_record(r) for r in fits.values())
    assert (ols.model, ols.fe, ols.depvar) == ("OLS", "none", "logc")
    assert (fe.model, fe.fe, fe.method, fe.stats["N"], fe.stats["T"]) == ("FE", "twoways", "within", 46, 30)
    assert (sdm.model, sdm.fe, sdm.method, sdm.w_label) == ("SDM", "twoways", "lee-yu", fits["SDM"].w_label)
    np.testing.assert_array_equal(fe.coefs["se"], fits["FE"].std_errors.to_numpy())
    np.testing.assert_array_equal(sdm.coefs["p"], fits["SDM"].pvalues.to_numpy())
    assert sem.stats["aic"] == pytest.approx(fits["SEM"].aic)
    with pytest.raises(TypeError, match="cannot make a table column"):
        column_record(object())


def test_random_effects_and_iv(cigar):
    from linearmodels.iv import IV2SLS

    df, _ = cigar
    re_ = fit_panel("logc ~ logp + logy", df, "state", "year", fe="random")
    iv = IV2SLS.from_formula("logc ~ 1 + logy + [logp ~ cpi]", df).fit()
    t = compare({"RE": re_, "IV": iv})
    f = t.to_frame()
    assert list(f.loc["Unit effects"]) == ["Random", "No"]
    assert "Model" not in f.index  # the column headers already name each model
    assert f.loc["Method", "IV"] == "IV-2SLS" and f.loc["Method", "RE"] == "Random-effects GLS"
    assert list(compare([re_, iv]).to_frame().loc["Model"]) == ["RE", "IV"]
    assert "R² (GLS)" in f.index


def test_row_order_and_labels(table):
    keys = [r.key for r in table.rows if not r.is_beneath]
    assert keys[0] == "depvar" and "model" not in keys  # the headers OLS, FE, SEM, SDM name the models
    est = [k for k in keys if table.rows[[r.key for r in table.rows].index(k)].block in ("coef", "wx", "spatial")]
    assert est == ["logp", "logy", "Intercept", "W*logp", "W*logy", "rho", "lambda"]
    labels = {r.key: r.label for r in table.rows}
    assert labels["W*logp"] == f"W × {PRICE}"
    assert labels["Intercept"] == "Constant"
    assert labels["depvar"] == "Dependent variable"
    assert keys.index("direct") < keys.index("indirect") < keys.index("total") < keys.index("unit_effects")
    assert keys[-1] == "stat:aic:lee-yu"
    assert table.to_frame().loc["Dependent variable"].tolist() == ["log C"] * 4


def test_stars_and_legend():
    assert [star_string(p, (0.10, 0.05, 0.01)) for p in (0.2, 0.1, 0.09, 0.05, 0.049, 0.01, 0.001)] == [
        "", "", "*", "*", "**", "**", "***"]
    assert star_legend((0.10, 0.05, 0.01)) == "* p<0.10, ** p<0.05, *** p<0.01"
    assert star_legend((0.05, 0.01, 0.001)) == "* p<0.05, ** p<0.01, *** p<0.001"


def test_custom_stars_stat_t_and_digits(fits):
    sdm = fits["SDM"]
    t = Table.from_results([sdm], ["SDM"], stat="t", stars=(0.01, 0.05), digits=2)
    f = t.to_frame()
    rows = list(f.index)
    for name in ("W*logp", "W*logy"):
        i = rows.index(name.replace("W*", "W × "))
        p = sdm.pvalues[name]
        assert f.iloc[i, 0] == f"{sdm.params[name]:.2f}" + "*" * (int(p < 0.05) + int(p < 0.01))
        assert f.iloc[i + 1, 0] == f"({sdm.tvalues[name]:.2f})"
    assert f.loc["W × logy", "SDM"].endswith("**")
    assert t.notes[-1] == "* p<0.05, ** p<0.01."
    assert any("t statistics" in n for n in t.notes)
    plain = Table.from_results([sdm], stars=None)
    assert "*" not in "".join(plain.to_frame().to_numpy().ravel())
    assert not any("p<" in n for n in plain.notes)
    assert plain.columns == ("(1)",)


def test_numbers_are_the_unrounded_estimates(table, fits, sdm_impacts):
    nums = table.numbers()
    assert list(nums.columns) == ["column", "row", "block", "label", "coef", "se", "t", "p"]
    assert not nums.duplicated(["column", "row"]).any()
    for name, res in fits.items():
        got = nums[(nums["column"] == name) & nums["block"].isin(["coef", "wx", "spatial"])].set_index("row")
        exp = _params(res)
        assert sorted(got.index) == sorted(exp.index)
        for c in ("coef", "se", "t", "p"):
            np.testing.assert_array_equal(got.loc[exp.index, c].to_numpy(), exp[c].to_numpy())
    imp = nums[nums["block"] == "impacts"].set_index("row")
    for eff in ("direct", "indirect", "total"):
        for x in ("logp", "logy"):
            r = imp.loc[f"{eff}:{x}"]
            assert r["column"] == "SDM"
            assert r["coef"] == sdm_impacts.table.loc[x, eff]
            assert r["se"] == sdm_impacts.table.loc[x, f"{eff}_se"]
            assert r["p"] == sdm_impacts.table.loc[x, f"{eff}_p"]
    stat = nums[nums["block"] == "stat"].set_index(["column", "row"])
    assert stat.loc[("SDM", "stat:llf:lee-yu"), "coef"] == fits["SDM"].llf
    assert stat.loc[("FE", "stat:rsquared:R2 (within)"), "coef"] == fits["FE"].rsquared


def test_impacts_computed_once_per_column_from_settings(fits, sdm_impacts):
    calls = []

    class Counting:
        def __init__(self, res):
            self.res = res

        def __getattr__(self, name):
            return getattr(self.res, name)

        def impacts(self, **kw):
            calls.append(kw)
            return self.res.impacts(**kw)

    t = Table.from_results([fits["SEM"], Counting(fits["SDM"])], impacts=dict(draws=200, seed=1))
    assert calls == [{"draws": 200, "seed": 1}]
    got = t.numbers().set_index("row").loc["indirect:logy"]
    assert got["coef"] == sdm_impacts.table.loc["logy", "indirect"]
    assert got["se"] == sdm_impacts.table.loc["logy", "indirect_se"]
    assert any("200 draws of the estimates' asymptotic distribution (seed 1)" in n for n in t.notes)
    assert "Direct effects" not in Table.from_results([fits["SDM"]]).to_frame().index


def test_column_record_and_fake_results():
    coefs = pd.DataFrame({"coef": [1.0, 0.5], "se": [0.5, 0.1], "t": [2.0, 5.0], "p": [0.046, 1e-6]},
                         index=["x", "rho"])
    rec = ColumnRecord(model="SAR", coefs=coefs, fe="entity", method="ml", w_label="knn",
                       stats={"nobs": 10, "rsquared": 0.5, "rsquared_label": "Pseudo R2"})
    f = Table.from_results([rec], ["m"], labels={"Pseudo R2": "伪 R²"}).to_frame()
    assert f.loc["x", "m"] == "1.000**"
    assert f.loc["rho", "m"] == "0.500***"
    assert f.loc["W", "m"] == "knn"
    assert f.loc["伪 R²", "m"] == "0.500"


def test_input_errors(fits):
    res = [fits["OLS"], fits["SDM"]]
    with pytest.raises(ValueError, match="stat"):
        Table.from_results(res, stat="z")
    with pytest.raises(ValueError, match="unique"):
        Table.from_results(res, ["a", "a"])
    with pytest.raises(ValueError, match="names"):
        Table.from_results(res, ["a"])
    with pytest.raises(ValueError, match="impacts"):
        Table.from_results(res, impacts=[None])
    with pytest.raises(ValueError, match="no results"):
        Table.from_results([])
    with pytest.raises(ValueError, match="names given twice"):
        compare({"a": fits["OLS"]}, ["b"])
    with pytest.raises(ValueError, match="unknown table format"):
        Table.from_results(res).write(Path("/nonexistent/x"), formats=["pdf"])


# ---------------------------------------------------------------- formats read back
def test_csv_round_trip(written, fits, sdm_impacts):
    _, paths = written
    raw = paths["csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # utf-8-sig: Excel detects UTF-8
    with open(paths["csv"], encoding="utf-8-sig", newline="") as fh:
        lines = list(csv.reader(fh))
    assert lines[0] == [TITLE]
    grid = lines[1:]
    grid = grid[: next(i for i, r in enumerate(grid) if len(r) == 1)]
    check_grid(grid, fits, sdm_impacts)
    assert [PRICE] == [r[0] for r in grid if r[0] == PRICE][:1]
    assert lines[-1] == ["* p<0.10, ** p<0.05, *** p<0.01."]


def test_excel_round_trip(written, table, fits):
    _, paths = written
    wb = openpyxl.load_workbook(paths["xlsx"])
    assert wb.sheetnames == ["table", "numbers"]
    ws = wb["table"]
    assert ws["A1"].value == TITLE
    values = [[c for c in row] for row in ws.iter_rows(min_row=2)]
    labels = [row[0].value for row in values]
    for j, (name, res) in enumerate(fits.items(), start=1):
        assert values[0][j].value == name
        for param, c in _params(res).iterrows():
            i = labels.index(_label(param))
            cell, below = values[i][j], values[i + 1][j]
            # real numbers, not text (openpyxl stores 16 significant digits)
            assert isinstance(cell.value, float) and cell.value == pytest.approx(c["coef"], rel=1e-14)
            assert round(cell.value, DIGITS) == round(c["coef"], DIGITS)
            stars = "*" * sum(c["p"] < lv for lv in (0.10, 0.05, 0.01))
            assert cell.number_format == "0.000" + (f'"{stars}"' if stars else "")
            assert below.value == pytest.approx(c["se"], rel=1e-14) and below.number_format.startswith('"("0.000")"')
    i = labels.index("Observations")
    assert [c.value for c in values[i][1:]] == [1380] * 4 and values[i][1].number_format == "0"
    assert PRICE in labels and f"W × {PRICE}" in labels
    # three-line borders: top of the header, under the header, bottom of the body
    assert ws.cell(2, 2).border.top.style == "medium"
    n_head = 1 + len(table.header_rows)
    assert ws.cell(1 + n_head, 2).border.bottom.style == "thin"
    body_end = 1 + n_head + sum(len(g) for g in table.body_groups())
    assert ws.cell(body_end, 2).border.bottom.style == "medium"
    nums = pd.DataFrame(list(wb["numbers"].values)[1:], columns=next(wb["numbers"].values))
    pd.testing.assert_frame_equal(nums.fillna(np.nan), table.numbers(), check_dtype=False)


def test_excel_negative_t_format(fits, tmp_path):
    path = Table.from_results([fits["SDM"]], stat="t").to_excel(tmp_path / "t.xlsx")
    ws = openpyxl.load_workbook(path)["table"]
    cells = [row[1] for row in ws.iter_rows() if row[1].number_format.startswith('"("')]
    assert any(c.value < 0 for c in cells)
    assert all(c.number_format == '"("0.000")";"(-"0.000")"' for c in cells)


def _docx_grid(doc) -> list[list[str]]:
    return [[c.text for c in row.cells] for row in doc.tables[0].rows]


def test_docx_round_trip_and_three_line_borders(written, table, fits, sdm_impacts):
    _, paths = written
    doc = Document(str(paths["docx"]))
    check_grid(_docx_grid(doc), fits, sdm_impacts)
    body = doc.element.body
    kinds = [el.tag.split("}")[1] for el in body if el.tag.split("}")[1] in ("p", "tbl")]
    assert kinds.index("tbl") > 0  # title paragraph above
    assert doc.paragraphs[0].text == TITLE
    assert doc.paragraphs[-1].text == "* p<0.10, ** p<0.05, *** p<0.01."  # notes below
    assert "Data: Baltagi's Cigar panel." in [p.text for p in doc.paragraphs[1:]]
    tbl = doc.tables[0]._tbl
    borders = tbl.tblPr.find(qn("w:tblBorders"))
    edge = {b.tag.split("}")[1]: b.get(qn("w:val")) for b in borders}
    assert edge == {"top": "single", "bottom": "single", "left": "nil", "right": "nil",
                    "insideH": "nil", "insideV": "nil"}
    n_head = 1 + len(table.header_rows)
    rows = tbl.findall(qn("w:tr"))
    for i, tr in enumerate(rows):
        tc_borders = [tc.find(qn("w:tcPr")).find(qn("w:tcBorders")) for tc in tr.findall(qn("w:tc"))]
        if i == n_head - 1:  # the rule under the header, on every cell
            assert all(b is not None and b.find(qn("w:bottom")).get(qn("w:val")) == "single" for b in tc_borders)
        else:
            assert all(b is None for b in tc_borders)
    # stars are superscript runs
    cell = doc.tables[0].cell(n_head, 4)
    assert cell.paragraphs[0].runs[-1].font.superscript
    fonts = cell.paragraphs[0].runs[0]._element.rPr.rFonts
    from spillover.report.docx_fonts import has_cjk
    from spillover.report.fonts import find_cjk_font_file

    text = "".join(p.text for p in doc.paragraphs) + "".join(c.text for r in doc.tables[0].rows for c in r.cells)
    embedded = has_cjk(text) and find_cjk_font_file() is not None  # Chinese text: the embedded CJK subset
    assert (fonts.get(qn("w:eastAsia")) != "SimSun") == embedded


def test_html_round_trip(written, fits, sdm_impacts):
    _, paths = written
    text = paths["html"].read_text(encoding="utf-8")
    assert '<meta charset="utf-8">' in text
    soup = BeautifulSoup(text, "lxml")
    tab = soup.find("table")
    assert tab.find("caption").get_text() == TITLE
    grid = [[c.get_text() for c in tr.find_all(["th", "td"])] for tr in tab.find_all("tr")]
    check_grid(grid, fits, sdm_impacts)
    assert "border-top:2px solid" in tab["style"] and "border-bottom:2px solid" in tab["style"]
    notes = [p.get_text() for p in soup.find_all("p", class_="note")]
    assert notes[-1] == "* p<0.10, ** p<0.05, *** p<0.01."
    assert "Income_pc &amp; more" in text  # escaped


def test_html_read_by_pandas(table):
    pytest.importorskip("lxml")
    from io import StringIO

    frame = pd.read_html(StringIO(table.to_html()))[0]
    assert PRICE in frame.iloc[:, 0].tolist()


def test_markdown_round_trip(written, fits, sdm_impacts):
    _, paths = written
    lines = paths["md"].read_text(encoding="utf-8").splitlines()
    assert lines[0] == "**表 1: Cigarette demand**"
    rows = [ln for ln in lines if ln.startswith("|")]
    del rows[1]  # alignment line

    def unescape(s: str) -> str:
        return re.sub(r"\\(.)", r"\1", s.strip())

    grid = [[unescape(c) for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in rows]
    grid = [[g[0].strip("*") if g[0].startswith("*") and g[0].endswith("*") else g[0]] + g[1:] for g in grid]
    check_grid(grid, fits, sdm_impacts)
    assert "\\*\\*\\*" in lines[-1]


def test_latex_round_trip(written, fits, sdm_impacts):
    _, paths = written
    tex = paths["tex"].read_text(encoding="utf-8")
    for cmd in ("\\toprule", "\\midrule", "\\bottomrule", "\\begin{tabular}{l*{4}{c}}"):
        assert cmd in tex
    assert tex.index("\\caption{表 1: Cigarette demand}") < tex.index("\\begin{tabular}")
    assert "xeCJK" in tex
    assert "Income\\_pc \\& more" in tex  # underscores and ampersands escaped
    assert f"W $\\times$ {PRICE}" in tex
    body = tex[tex.index("\\toprule"):tex.index("\\bottomrule")]
    grid = []
    for line in body.splitlines():
        if not line.endswith("\\\\") or line.startswith("\\multicolumn"):
            m = re.match(r"\\multicolumn\{\d+\}\{l\}\{\\textit\{(.*)\}\} \\\\", line)
            if m:
                grid.append([m.group(1)] + [""] * 4)
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)&", line[:-2])]
        cells = [re.sub(r"\$\^\{(\**)\}\$", r"\1", c) for c in cells]
        cells = [c.replace("\\_", "_").replace("\\&", "&").replace("$\\times$", "×")
                 .replace("R$^{2}$", "R²") for c in cells]
        grid.append(cells)
    check_grid(grid, fits, sdm_impacts)
    notes = tex[tex.index("\\bottomrule"):]
    assert "* p\\textless{}0.10, ** p\\textless{}0.05, *** p\\textless{}0.01." in notes


def test_latex_escapes_and_sym_style(fits):
    t = Table.from_results([fits["SDM"]], ["m_1 #1"], labels={"logp": "50% $ {x} ~ ^ \\ 中文"}, title="A_b")
    tex = t.to_latex(star_style="sym", label="tab:x")
    assert "m\\_1 \\#1" in tex
    assert "50\\% \\$ \\{x\\} \\textasciitilde{} \\textasciicircum{} \\textbackslash{} 中文" in tex
    assert "\\sym{***}" in tex and "\\newcommand{\\sym}" in tex
    assert "\\label{tab:x}" in tex and "\\caption{A\\_b}" in tex
    bare = t.to_latex(float_env=False)
    assert "\\begin{table}" not in bare and bare.count("\\begin{tabular}") == 1
    with pytest.raises(ValueError, match="star_style"):
        t.to_latex(star_style="bold")


# ---------------------------------------------------------------- atomic writing
def test_write_all_formats_atomically(written):
    folder, paths = written
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"table1.{f}" for f in FORMATS)
    assert not any(n.startswith(".") or n.endswith(".tmp") for n in os.listdir(folder))


def test_failed_write_leaves_old_file_and_no_temp(fits, tmp_path, monkeypatch):
    t = Table.from_results([fits["OLS"]])
    (path,) = t.write(tmp_path / "t", formats=["docx"])
    before = path.read_bytes()

    from docx.document import Document as DocxDocument

    def boom(self, target):
        Path(target).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(DocxDocument, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        t.write(tmp_path / "t", formats=["docx"])
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["t.docx"]


def test_write_returns_paths_in_order(fits, tmp_path):
    paths = Table.from_results([fits["OLS"]]).write(tmp_path / "sub" / "t", formats=["md", "csv"])
    assert paths == [tmp_path / "sub" / "t.md", tmp_path / "sub" / "t.csv"]
    assert all(p.exists() for p in paths)


def test_report_package_exports():
    import spillover.report as rep

    assert rep.Table is Table and rep.compare is compare and tb.FORMATS == tuple(FORMATS)


def test_flagged_estimate_is_marked_in_every_cell_and_noted(cigar):
    """A result with flags (not converged / at a bound) marks its estimates, impacts and model name with †."""
    import dataclasses

    import spillover as sp
    from spillover.report import tables as T

    df, w = cigar
    ok = sp.SDM("logc ~ logp + logy", df, w, "state", "year", fe="twoways").fit()
    bad = dataclasses.replace(ok, flags=("rho = 0.999999 is at the bound of its admissible interval",))
    assert ok.converged and not bad.converged
    tab = T.Table.from_results([ok, bad], ["clean", "flagged"], impacts=dict(method="delta"))
    coef_rows = [r for r in tab.rows if any(c.kind == "coef" for c in r.cells)]
    assert coef_rows and all(r.cells[1].stars.endswith(T.FLAG_MARK) for r in coef_rows if r.cells[1].kind == "coef")
    assert not any(T.FLAG_MARK in r.cells[0].stars for r in coef_rows)
    assert any(r.block == "impacts" and r.cells[1].stars.endswith(T.FLAG_MARK) for r in coef_rows)
    assert next(r for r in tab.rows if r.key == "model").cells[1].text.endswith(T.FLAG_MARK)
    assert any(n.startswith(f"{T.FLAG_MARK} flagged: rho = 0.999999") for n in tab.notes)
    assert r"\dagger" in tab.to_latex() and "†" not in tab.to_latex()
    assert "†" in tab.to_markdown()
    # the numbers are the same: the mark is presentation only
    a, b = tab.numbers(), T.Table.from_results([ok, ok], ["clean", "flagged"], impacts=dict(method="delta")).numbers()
    pd.testing.assert_frame_equal(a, b)


# ---------------------------------------------------------------- what a referee reads
def test_notes_say_each_sentence_once():
    from spillover.report.tables import once

    notes = ["Standard errors in parentheses. Spatial models: queen W.", "Standard errors in parentheses.",
             "Impacts: 10 draws.", "impacts: 10 draws.", "A; b.", "b. C."]
    assert once(notes) == ("Standard errors in parentheses. Spatial models: queen W.", "Impacts: 10 draws.",
                           "A; b.", "C.")


def test_every_note_of_a_table_is_said_once_and_names_the_covariance(fits, sdm_impacts):
    t = Table.from_results(list(fits.values()), list(fits), impacts=[None, None, sdm_impacts, sdm_impacts],
                           notes="Standard errors in parentheses. Cigar panel.")
    sentences = [s for n in t.notes for s in n.split(". ")]
    assert len(sentences) == len(set(sentences))
    se = next(n for n in t.notes if n.startswith("Standard errors in parentheses;"))
    # statsmodels' nonrobust and linearmodels' unadjusted are the same conventional OLS variance
    assert se == ("Standard errors in parentheses; standard errors: conventional (OLS, FE); "
                  "inverse expected information (SEM, SDM).")
    assert sum("LeSage & Pace 2009" in n for n in t.notes) == 1


def test_likelihoods_of_different_data_get_their_own_rows(fits):
    f = compare(fits).to_frame()
    rows = [r for r in f.index if r.startswith("Log-likelihood")]
    assert rows == ["Log-likelihood", "Log-likelihood (within)", "Log-likelihood (demeaned)",
                    "Log-likelihood (Lee-Yu transformed)"]
    filled = {r: [c for c in f.columns if f.loc[r, c]] for r in rows}
    assert filled == {rows[0]: ["OLS"], rows[1]: ["FE"], rows[2]: ["SEM"], rows[3]: ["SDM"]}


# ---------------------------------------------------------------- tables of numbers (descriptive results)
def test_table_from_frame_groups_rows_and_keeps_each_columns_digits(tmp_path):
    """A frame with a (group, row) index: a subhead per group, floats rounded per column, integers exact, text
    kept, NaN empty; numbers() keyed by row and column; the six formats show the same cells (Excel: the same
    decimals with the unrounded value behind)."""
    idx = pd.MultiIndex.from_tuples([("dei", "2013"), ("dei", "2014"), ("cpi", "2013")])
    frame = pd.DataFrame({"Gini": [0.36693929, 0.3419, np.nan], "Share (%)": [21.8412, 22.6, 19.3],
                          "Units": np.array([31, 31, 31]), "Class": ["mild", "mild", "good"]}, index=idx)
    t = Table.from_frame(frame, digits={"Gini": 4, "Share (%)": 2}, labels={"dei": PRICE}, title="T",
                         notes="A note.")
    assert [(r.key, r.label, r.subhead) for r in t.rows] == [
        ("dei", PRICE, True), ("dei|2013", "2013", False), ("dei|2014", "2014", False), ("cpi", "cpi", True),
        ("cpi|2013", "2013", False)]
    assert [c.full for c in t.rows[1].cells] == ["0.3669", "21.84", "31", "mild"]
    assert [c.full for c in t.rows[4].cells] == ["", "19.30", "31", "good"]
    nums = t.numbers()
    assert len(nums) == 8 and set(nums["row"]) == {"dei|2013", "dei|2014", "cpi|2013"}
    assert nums.set_index(["row", "column"]).loc[("dei|2013", "Gini"), "coef"] == 0.36693929
    assert t.notes == ("A note.",) and not t.stars
    paths = t.write(tmp_path / "d", formats=FORMATS)
    assert [p.suffix[1:] for p in paths] == FORMATS
    md = (tmp_path / "d.md").read_text(encoding="utf-8")
    assert f"| *{PRICE}* |" in md and "| 2013 | 0.3669 | 21.84 | 31 | mild |" in md
    ws = openpyxl.load_workbook(tmp_path / "d.xlsx")["table"]
    cells = {(c.value, c.number_format) for row in ws.iter_rows() for c in row if isinstance(c.value, float)}
    assert (0.36693929, "0.0000") in cells and (21.8412, "0.00") in cells
    with pytest.raises(sp.errors.SpecificationError, match="column names must be unique"):
        Table.from_frame(pd.DataFrame([[1.0, 2.0]], columns=["a", "a"]))


def test_word_cells_copied_from_the_first_of_their_kind_are_the_xml_python_docx_writes():
    """Cells filled from the cached paragraph of their kind equal cells filled through python-docx alone."""
    from docx import Document
    from lxml import etree

    from spillover.report import write_office

    cases = [("0.123", "***", "center", False), ("Observations", "", "left", False), ("1.0", "", "center", False),
             (" (0.045) ", "", "center", False), ("-", " *", "center", False),
             ("", "", "left", False), ("Panel A", "", "left", True), ("数字经济", "*", "center", False),
             ("two\tcells", "", "center", False), ("-1.5", "**", "center", False)]

    def filled(warm: bool) -> list[bytes]:
        write_office._FILLED.clear()
        doc = Document()
        cells = [c for row in doc.add_table(rows=2 * len(cases), cols=1).rows for c in row.cells]
        order = cases + cases if warm else cases
        for cell, (text, stars, align, italic) in zip(cells, order):
            write_office._fill(cell, text, stars=stars, align=align, italic=italic, east_asia="Noto Sans CJK SC")
            if not warm:
                write_office._FILLED.clear()  # every cell through python-docx
        got = [etree.tostring(c._tc) for c in cells[: len(order)]]
        return got[len(cases):] if warm else got

    assert filled(warm=True) == filled(warm=False)
