"""File renderers of :class:`spillover.report.tables.Table`: CSV, Excel (.xlsx) and Word (.docx).

Each writes through :func:`spillover.io.atomic_write`: the file is built in a
temporary file of the target folder and moved into place with
:func:`os.replace`, so a reader never sees a half-written table.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import TYPE_CHECKING

from spillover.io import atomic_write, normalise_office_zip

if TYPE_CHECKING:  # pragma: no cover
    from spillover.report.layout import Cell
    from spillover.report.tables import Table

__all__ = ["write_csv", "write_docx", "write_xlsx", "xlsx_number_format"]


# ---------------------------------------------------------------- CSV
def write_csv(table: Table, path: Path) -> Path:
    """Write the formatted cells as CSV in ``utf-8-sig`` (UTF-8 with a BOM, so Excel shows Chinese).

    Layout: the title (if any) alone on the first line, the header line
    (empty corner, column names), one line per table row (label, cells with
    stars), then each note alone on a line. Excel's CSV import reads
    ``"(0.035)"`` as a negative number; open the .xlsx in Excel instead.
    """
    lines: list[list[str]] = []
    if table.title:
        lines.append([table.title])
    lines.append([""] + list(table.columns))
    rows = table.header_rows + [r for g in table.body_groups() for r in g]
    for row in rows:
        lines.append([row.label] + [c.full for c in row.cells])
    lines += [[n] for n in table.notes]

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
            csv.writer(fh).writerows(lines)

    return atomic_write(path, write)


# ---------------------------------------------------------------- Excel
def xlsx_number_format(cell: Cell, digits: int) -> str:
    """Excel number format showing ``cell`` as the other formats do.

    Estimates get their stars as a quoted literal (``0.000"***"``), SEs and
    t statistics parentheses (``"("0.000")"``; a second section
    ``"(-"0.000")"`` for negative t, since Excel would otherwise put the minus
    sign before the parenthesis), so the cell keeps the real, unrounded number
    while displaying the rounded text. A plain number (``kind="float"``)
    shows as many decimals as its text has, so columns rounded differently
    (:meth:`Table.from_frame`) keep their own.
    """
    if cell.kind == "float" and re.fullmatch(r"-?\d+(\.\d+)?", cell.text or ""):
        digits = len(cell.text.partition(".")[2])
    base = "0" + ("." + "0" * digits if digits > 0 else "")
    if cell.kind == "int":
        return "0"
    if cell.kind == "coef":
        return base + (f'"{cell.stars}"' if cell.stars else "")
    if cell.kind in ("se", "t"):
        return f'"("{base}")";"(-"{base}")"'
    return base


def write_xlsx(table: Table, path: Path) -> Path:
    """Write an .xlsx workbook with sheets ``table`` and ``numbers``.

    Sheet ``table`` is the formatted table with real numeric cells
    (estimates, SEs/t, statistics) whose number formats show the rounding,
    stars and parentheses (see :func:`xlsx_number_format`), three-line
    borders, the title in A1 and the notes below. Sheet ``numbers`` holds
    :meth:`Table.numbers` (column, row, block, label, coef, se, t, p).
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter

    heavy, light = Side(style="medium"), Side(style="thin")
    center, left = Alignment(horizontal="center"), Alignment(horizontal="left")
    k = len(table.columns)
    wb = Workbook()
    ws = wb.active
    ws.title = "table"
    r = 1
    if table.title:
        ws.cell(r, 1, table.title).font = Font(bold=True)
        r += 1
    header_start = r
    ws.cell(r, 1, "")
    for j, name in enumerate(table.columns, start=2):
        ws.cell(r, j, name).alignment = center
    r += 1
    for row in table.header_rows:
        ws.cell(r, 1, row.label).alignment = left
        for j, c in enumerate(row.cells, start=2):
            ws.cell(r, j, c.text).alignment = center
        r += 1
    header_end = r - 1
    for group in table.body_groups():
        for row in group:
            label = ws.cell(r, 1, row.label)
            label.alignment = left
            if row.subhead:
                label.font = Font(italic=True)
            for j, c in enumerate(row.cells, start=2):
                if c.value is not None and c.kind != "text":
                    cell = ws.cell(r, j, float(c.value) if c.kind != "int" else int(round(c.value)))
                    cell.number_format = xlsx_number_format(c, table.digits)
                else:
                    cell = ws.cell(r, j, c.text or None)
                cell.alignment = center
            r += 1
    body_end = r - 1
    for j in range(1, k + 2):
        top = ws.cell(header_start, j)
        top.border = Border(top=heavy, bottom=light if header_end == header_start else None)
        if header_end > header_start:
            ws.cell(header_end, j).border = Border(bottom=light)
        ws.cell(body_end, j).border = Border(bottom=heavy)
    r += 1
    for note in table.notes:
        ws.cell(r, 1, note).font = Font(size=9)
        r += 1
    width = max([len(row.label) for row in table.rows] + [8])
    ws.column_dimensions["A"].width = min(60, width * (2 if any(ord(ch) > 0x2E80 for row in table.rows
                                                                   for ch in row.label) else 1) + 2)
    for j in range(2, k + 2):
        ws.column_dimensions[get_column_letter(j)].width = max(12, len(table.columns[j - 2]) + 4)

    nums = wb.create_sheet("numbers")
    frame = table.numbers()
    nums.append(list(frame.columns))
    for rec in frame.itertuples(index=False):
        nums.append([None if isinstance(v, float) and v != v else v for v in rec])
    return atomic_write(path, lambda tmp: (wb.save(tmp), normalise_office_zip(tmp)))


# ---------------------------------------------------------------- Word
def _border_xml(tag: str, edges: dict[str, tuple[str, int]]):
    """A ``w:tblBorders``/``w:tcBorders`` element; ``edges`` maps edge -> (style, size in 1/8 pt)."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    el = OxmlElement(tag)
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        if edge not in edges:
            continue
        style, size = edges[edge]
        b = OxmlElement(f"w:{edge}")
        b.set(qn("w:val"), style)
        b.set(qn("w:sz"), str(size))
        b.set(qn("w:space"), "0")
        b.set(qn("w:color"), "000000" if style != "nil" else "auto")
        el.append(b)
    return el


def _set_run_font(run, *, size: float | None = None, italic: bool = False, bold: bool = False,
                  superscript: bool = False, east_asia: str = "SimSun") -> None:
    from docx.oxml.ns import qn
    from docx.shared import Pt

    run.font.name = "Times New Roman"
    rpr = run._element.get_or_add_rPr()
    rpr.get_or_add_rFonts().set(qn("w:eastAsia"), east_asia)
    if size:
        run.font.size = Pt(size)
    run.font.italic = italic or None
    run.font.bold = bold or None
    if superscript:
        run.font.superscript = True


#: The paragraph of a filled cell, by the kind of cell (:func:`_fill`), to copy into later cells of that kind.
_FILLED: dict[tuple, object] = {}


def _text_kind(text: str) -> str:
    """How python-docx writes ``text`` in a run: no ``w:t``, a plain one, or one with ``xml:space="preserve"``."""
    return "" if not text else "preserve" if text != text.strip() else "plain"


def _fill(cell, text: str, *, stars: str = "", align: str = "center", italic: bool = False,
          east_asia: str = "SimSun") -> None:
    """Write ``text`` (then ``stars``, superscript) in the empty ``cell``: 10 pt, no spacing, centred or left.

    The first cell of each kind goes through python-docx; later ones get a
    copy of its paragraph with their own text, the same XML (tested), at a
    fraction of the cost (python-docx's property calls take ~0.5 ms a cell).
    Text with tabs or line breaks (written as elements) always goes through
    python-docx.
    """
    import copy

    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn

    simple = not any(c in text + stars for c in "\t\n\r")
    key = (align, italic, east_asia, _text_kind(text), _text_kind(stars))
    if simple and key in _FILLED:
        p = copy.deepcopy(_FILLED[key])
        for t, value in zip(p.iter(qn("w:t")), [v for v in (text, stars) if v], strict=True):
            t.text = value
        cell._tc.replace(cell._tc.p_lst[0], p)
        return
    par = cell.paragraphs[0]
    par.alignment = WD_ALIGN_PARAGRAPH.CENTER if align == "center" else WD_ALIGN_PARAGRAPH.LEFT
    par.paragraph_format.space_before = par.paragraph_format.space_after = 0
    _set_run_font(par.add_run(text), size=10, italic=italic, east_asia=east_asia)
    if stars:
        _set_run_font(par.add_run(stars), size=10, superscript=True, east_asia=east_asia)
    if simple:
        _FILLED[key] = copy.deepcopy(par._p)


def _all_text(table: Table) -> str:
    return "".join([table.title or "", *table.columns, *table.notes,
                    *(r.label + "".join(c.text for c in r.cells) for r in table.rows)])


def _east_asian_font(doc, table: Table) -> str:
    """The East Asian font of the document's runs: the embedded CJK subset when the table has CJK text."""
    from spillover.report.docx_fonts import embed_cjk_font, has_cjk

    text = _all_text(table)
    return (embed_cjk_font(doc, text) if has_cjk(text) else None) or "SimSun"


def write_docx(table: Table, path: Path) -> Path:
    """Write a Word document: title paragraph, a three-line table, the notes below.

    Three-line style: a 1.5 pt top rule and bottom rule on the table
    (``w:tblBorders``), a 0.75 pt rule under the header (``w:tcBorders`` of
    the last header row's cells), no vertical or other horizontal lines.
    Stars are superscript runs; text uses Times New Roman, and East Asian
    characters the bundled CJK font, embedded as a subset of the characters
    the table uses (:mod:`spillover.report.docx_fonts`; SimSun, not embedded,
    when no CJK font is found), so a Chinese table reads the same on any machine.
    """
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn

    doc = Document()
    east = _east_asian_font(doc, table)
    if table.title:
        par = doc.add_paragraph()
        par.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _set_run_font(par.add_run(table.title), size=11, bold=True, east_asia=east)
    body = [r for g in table.body_groups() for r in g]
    n_head = 1 + len(table.header_rows)
    k = len(table.columns)
    word = doc.add_table(rows=n_head + len(body), cols=k + 1)
    tbl_pr = word._tbl.tblPr
    for old in tbl_pr.findall(qn("w:tblBorders")):
        tbl_pr.remove(old)
    tbl_pr.append(_border_xml("w:tblBorders", {
        "top": ("single", 12), "left": ("nil", 0), "bottom": ("single", 12), "right": ("nil", 0),
        "insideH": ("nil", 0), "insideV": ("nil", 0),
    }))

    grid = [row.cells for row in word.rows]  # word.cell(i, j) rebuilds the cell list on every call (quadratic)
    _fill(grid[0][0], "", align="left", east_asia=east)
    for j, name in enumerate(table.columns, start=1):
        _fill(grid[0][j], name, east_asia=east)
    for i, row in enumerate(table.header_rows, start=1):
        _fill(grid[i][0], row.label, align="left", east_asia=east)
        for j, c in enumerate(row.cells, start=1):
            _fill(grid[i][j], c.text, east_asia=east)
    for i, row in enumerate(body, start=n_head):
        _fill(grid[i][0], row.label, align="left", italic=row.subhead, east_asia=east)
        for j, c in enumerate(row.cells, start=1):
            _fill(grid[i][j], c.text, stars=c.stars, east_asia=east)
    for cell in word.rows[n_head - 1].cells:
        cell._tc.get_or_add_tcPr().append(_border_xml("w:tcBorders", {"bottom": ("single", 6)}))

    for note in table.notes:
        par = doc.add_paragraph()
        par.paragraph_format.space_after = 0
        _set_run_font(par.add_run(note), size=9, east_asia=east)
    return atomic_write(path, lambda tmp: (doc.save(str(tmp)), normalise_office_zip(tmp)))
