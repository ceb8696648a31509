"""Atomic writes and deterministic office files."""

from __future__ import annotations

import time

import pytest

from spillover.io import atomic_write, atomic_write_text, normalise_office_zip


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    p = atomic_write_text(tmp_path / "a.txt", "old")

    def boom(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(p, boom)
    assert p.read_text() == "old"
    assert [f.name for f in tmp_path.iterdir()] == ["a.txt"]


def test_office_files_are_byte_identical_across_runs(tmp_path):
    import docx
    import openpyxl

    def make(i):
        d = docx.Document()
        d.add_paragraph("共同富裕 0.357")
        d.save(tmp_path / f"d{i}.docx")
        normalise_office_zip(tmp_path / f"d{i}.docx")
        wb = openpyxl.Workbook()
        wb.active["A1"] = 0.357
        wb.save(tmp_path / f"x{i}.xlsx")
        normalise_office_zip(tmp_path / f"x{i}.xlsx")

    make(1)
    time.sleep(1.1)
    make(2)
    assert (tmp_path / "d1.docx").read_bytes() == (tmp_path / "d2.docx").read_bytes()
    assert (tmp_path / "x1.xlsx").read_bytes() == (tmp_path / "x2.xlsx").read_bytes()
    assert docx.Document(tmp_path / "d2.docx").paragraphs[0].text == "共同富裕 0.357"
    assert openpyxl.load_workbook(tmp_path / "x2.xlsx").active["A1"].value == 0.357
