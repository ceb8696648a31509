"""What a study run writes: all or nothing, only under --out, no leftovers of killed runs."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from spillover.errors import SpecificationError
from spillover.study.runner import _Forked, run_study
from spillover.study.spec import load_study

SPEC = """
[study]
name = "grid"

[data]
panel = "panel.csv"
entity = "unit"
time = "t"

[geometry]
file = "cells.gpkg"
id = "unit"

[weights.queen]
kind = "contiguity"

[[estimate]]
name = "sar"
model = "sar"
formula = "y ~ x"
weights = "queen"

[[table]]
name = "table_sar"
columns = ["sar"]
formats = ["md", "csv"]
"""


@pytest.fixture()
def study(tmp_path):
    """A 5 x 5 grid of square cells (projected CRS), T = 4, y from a SAR with rho = 0.4."""
    rng = np.random.default_rng(5)
    cells = [box(i, j, i + 1, j + 1) for i in range(5) for j in range(5)]
    ids = [f"c{k:02d}" for k in range(25)]
    gpd.GeoDataFrame({"unit": ids}, geometry=cells, crs=3857).to_file(tmp_path / "cells.gpkg", driver="GPKG")
    panel = pd.DataFrame({"unit": np.tile(ids, 4), "t": np.repeat(np.arange(1, 5), 25),
                          "x": rng.normal(size=100)})
    panel["y"] = panel["x"] + rng.normal(size=100)
    panel.to_csv(tmp_path / "panel.csv", index=False)
    (tmp_path / "00_study.toml").write_text(SPEC, encoding="utf-8")
    return tmp_path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_failed_run_leaves_the_previous_results_untouched(study, tmp_path):
    out = tmp_path / "out"
    run_study(study, out, figures=False)
    before = _snapshot(out)
    assert {"numbers.csv", "manifest.json", "README.md", "tables/table_sar.md", "data/panel.csv"} <= set(before)
    (out / "tables" / ".table_sar.md.abc123.tmp").write_text("")  # what a killed run leaves
    (study / "10_bad.toml").write_text('[[estimate]]\nname = "bad"\nmodel = "sar"\nformula = "y ~ nosuch"\n'
                                       'weights = "queen"\n', encoding="utf-8")
    with pytest.raises(SpecificationError, match="nosuch"):
        run_study(study, out, figures=False)
    after = _snapshot(out)
    assert after == before  # the stale .tmp went, nothing else changed
    assert not list(out.parent.glob(".out.staging-*"))
    (study / "10_bad.toml").unlink()
    run = run_study(study, out, figures=False)
    assert all(Path(p).is_relative_to(out) for p in run.files) and run.out == out


def test_names_cannot_leave_the_output_folder(study):
    (study / "10_bad.toml").write_text('[[table]]\nname = "../../data_raw/x"\ncolumns = ["sar"]\n', encoding="utf-8")
    with pytest.raises(SpecificationError, match=r"table\[0\]\.name: String should match pattern"):
        load_study(study)
    (study / "10_bad.toml").write_text('[weights."../w"]\nkind = "contiguity"\n', encoding="utf-8")
    with pytest.raises(SpecificationError, match="weights names"):
        load_study(study)


def test_verify_catches_an_edit_in_any_format_and_a_deleted_file(study, tmp_path):
    """verify reads every output: a number edited in the .md, .csv, .xlsx or .docx table, or a file deleted,
    is a difference (exit 1); no numbers.csv is 'could not run' (exit 2); the untouched results pass (exit 0)."""
    from openpyxl import load_workbook
    from typer.testing import CliRunner

    from spillover.cli import app
    from spillover.study.verify import VerifyInputError, verify

    (study / "00_study.toml").write_text(SPEC.replace('formats = ["md", "csv"]', ""), encoding="utf-8")
    out = tmp_path / "committed"
    run = run_study(study, out)
    assert verify(study, out).ok
    cli = CliRunner()
    res = cli.invoke(app, ["verify", str(study), "--results", str(out)])
    assert res.exit_code == 0 and "every number and every file matches" in res.output, res.output
    md = out / "tables" / "table_sar.md"
    coef = f"{run.estimates['sar'].params['x']:.3f}"
    pristine = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def restore():
        for p, b in pristine.items():
            p.write_bytes(b)

    md.write_text(md.read_text(encoding="utf-8").replace(coef, "9.999", 1), encoding="utf-8")
    rep = verify(study, out)
    assert not rep.ok and rep.mismatches.empty and rep.files["file"].tolist() == ["tables/table_sar.md"]
    assert f"committed 9.999, rerun {coef}" in rep.files["problem"].iloc[0]
    restore()
    for fmt in ("tex", "html", "csv"):
        f = out / "tables" / f"table_sar.{fmt}"
        f.write_text(f.read_text(encoding="utf-8-sig").replace(coef, "9.999", 1), encoding="utf-8")
        assert verify(study, out).files["file"].tolist() == [f"tables/table_sar.{fmt}"], fmt
        restore()
    from docx import Document

    doc = Document(str(out / "tables" / "table_sar.docx"))
    cell = next(c for t in doc.tables for row in t.rows for c in row.cells if coef in c.text)
    cell.paragraphs[0].runs[0].text = cell.paragraphs[0].runs[0].text.replace(coef, "9.999")
    doc.save(str(out / "tables" / "table_sar.docx"))
    rep = verify(study, out)
    assert rep.files["file"].tolist() == ["tables/table_sar.docx"] and "9.999" in rep.files["problem"].iloc[0]
    restore()
    wb = load_workbook(out / "tables" / "table_sar.xlsx")
    ws = wb.worksheets[0]
    cell = next(c for row in ws.iter_rows() for c in row if isinstance(c.value, float))
    cell.value = cell.value + 0.5
    wb.save(out / "tables" / "table_sar.xlsx")
    assert verify(study, out).files["file"].tolist() == ["tables/table_sar.xlsx"]
    restore()
    (out / "tables" / "table_sar.tex").unlink()
    res = cli.invoke(app, ["verify", str(study), "--results", str(out), "--report", str(tmp_path / "rep")])
    assert res.exit_code == 1 and "tables/table_sar.tex | listed in manifest.json but missing" in res.output
    assert "tables/table_sar.tex" in (tmp_path / "rep.md").read_text() and (tmp_path / "rep.csv").is_file()
    restore()
    (out / "numbers.csv").unlink()
    with pytest.raises(VerifyInputError, match="numbers.csv does not exist"):
        verify(study, out)
    res = cli.invoke(app, ["verify", str(study), "--results", str(out)])
    assert res.exit_code == 2 and "verify could not run" in res.output


def test_text_comparison_rule():
    from spillover.study.verify import compare_text

    assert compare_text("a 0.357 (0.041)\n", "a 0.358 (0.041)\n") is None  # one unit of the last digit: rounding
    assert "committed 0.357, rerun 0.957" in compare_text("a 0.357\n", "a 0.957\n")
    assert compare_text("N 31\n", "N 32\n") is not None  # integers exactly
    assert compare_text("p = 2.37e-16\n", "p = 2.38e-16\n") is None and compare_text("x 1e-3", "x 3e-3")
    assert "line 1" in compare_text("Queen contiguity", "Rook contiguity")


def test_a_grid_that_estimates_nothing_and_a_table_of_impacts_without_any_are_errors(study, tmp_path):
    (study / "10_grid.toml").write_text('[[grid]]\nname = "g"\nformula = "y ~ nosuch"\nvariable = "nosuch"\n'
                                        'weights = ["queen"]\n', encoding="utf-8")
    # caught before any estimation, naming the entry and the key
    with pytest.raises(SpecificationError, match=r"\[\[grid\]\] 'g'.formula \(10_grid.toml\): 'nosuch' is not a column"):
        run_study(study, tmp_path / "out", figures=False)
    (study / "10_grid.toml").write_text('[[table]]\nname = "t2"\ncolumns = ["sar"]\nimpacts = true\n',
                                        encoding="utf-8")
    with pytest.raises(SpecificationError, match="impacts = true but none of its columns"):
        load_study(study)


BESIDE = """
[[moran]]
name = "moran"
variables = ["y", "x"]
weights = ["queen"]
permutations = 99
seed = 3

[[diagnose]]
name = "specification_tests"
formula = "y ~ x"
weights = "queen"
fe = "entity"

[[grid]]
name = "grid_sdm"
formula = "y ~ x"
model = "sdm"
variable = "x"
weights = ["queen"]
fe = ["entity", "twoways"]
method = ["direct"]
impacts = { method = "delta" }
"""


def test_steps_and_renderings_run_beside_give_the_same_files(study, tmp_path, monkeypatch):
    """Moran, the LM tests and the figures' inputs beside the grid and the estimation, the Chinese rendering beside the
    figures, each in a second process: the same bytes, numbers.csv rows and README in the same order."""
    spec = study / "00_study.toml"
    spec.write_text(SPEC.replace('name = "grid"', 'name = "grid"\nrenderings = ["zh"]') + BESIDE, encoding="utf-8")
    started: list[_Forked] = []
    start = _Forked.start.__func__
    monkeypatch.setattr(_Forked, "start", classmethod(lambda cls, run, fn: started.append(start(cls, run, fn))
                                                      or started[-1]))
    together = run_study(study, tmp_path / "par", parallel=True)
    if _Forked.available():  # the lanes (one per core beyond this one's) and the rendering, each done in its copy
        import os

        lanes = max(1, min(2, len(os.sched_getaffinity(0)) - 1))
        assert len(started) == lanes + 1 and not any(side.ran_here for side in started)  # what they sent unpickled
    alone = run_study(study, tmp_path / "seq", parallel=False)
    a, b = _snapshot(tmp_path / "par"), _snapshot(tmp_path / "seq")
    assert any(k.startswith("zh/figures/") for k in a) and any(k.startswith("zh/tables/") for k in a)
    assert {"tables/moran_by_year.csv", "tables/specification_tests.csv", "tables/grid_sdm.csv"} <= set(a)
    assert {"moran_by_year", "specification_tests", "grid_sdm", "table_sar"} <= set(
        pd.read_csv(tmp_path / "par" / "numbers.csv")["output"])
    assert together.moran.equals(alone.moran) and list(together.diagnostics) == ["specification_tests"]
    assert list(together.timings) == list(alone.timings)
    assert sorted(a) == sorted(b)
    assert {k for k in a if a[k] != b[k]} == {"manifest.json"}
    assert sorted(p.relative_to(tmp_path / "par").as_posix() for p in together.files) == \
        sorted(p.relative_to(tmp_path / "seq").as_posix() for p in alone.files)


@pytest.mark.parametrize("taker", ["copy", "here"])
def test_groups_beside_give_the_same_files_whoever_runs_them(study, tmp_path, monkeypatch, taker):
    """Moran + LM tests and the figures' inputs are taken by whichever process is free: all by the forked copy
    (this process waits), or all by this process once its own steps are done (the copy waits): the same files."""
    import os
    import time

    from spillover.study import runner

    if not _Forked.available():
        pytest.skip("one core or no fork here: every step runs in this process")
    spec = study / "00_study.toml"
    spec.write_text(SPEC + BESIDE, encoding="utf-8")
    here, work = os.getpid(), runner._Groups.work
    ran: dict[str, list] = {"copy": [], "here": []}

    def waiting(self, skip=None):
        if skip is None and (os.getpid() == here) == (taker == "copy"):  # the other one takes every group first
            deadline = time.monotonic() + 120
            while self._next.value < len(self.groups) and time.monotonic() < deadline:
                time.sleep(0.01)
        done = work(self, skip)
        if os.getpid() == here:
            ran["here"].extend(done)
        return done

    monkeypatch.setattr(runner._Groups, "work", waiting)
    together = run_study(study, tmp_path / "par", parallel=True)
    assert ran["here"] == ([] if taker == "copy" else [0, 1])
    alone = run_study(study, tmp_path / "seq", parallel=False)
    a, b = _snapshot(tmp_path / "par"), _snapshot(tmp_path / "seq")
    assert sorted(a) == sorted(b) and {k for k in a if a[k] != b[k]} == {"manifest.json"}
    assert list(together.timings) == list(alone.timings) and together.moran.equals(alone.moran)


def test_groups_a_failed_copy_took_run_again_here(study, tmp_path, monkeypatch):
    """A copy that takes every group and then dies: this process runs those groups itself; the same files."""
    import os

    from spillover.study import runner

    if not _Forked.available():
        pytest.skip("one core or no fork here: every step runs in this process")
    (study / "00_study.toml").write_text(SPEC + BESIDE, encoding="utf-8")
    here, take = os.getpid(), runner._Groups._take
    ran: list[int] = []

    def dying(self, skip=None):
        if skip is None and os.getpid() != here:  # the copy: take every group, then fail
            while take(self) is not None:
                pass
            raise RuntimeError("the copy died")
        done = real(self, skip)
        ran.extend(done)
        return done

    real = runner._Groups.work
    monkeypatch.setattr(runner._Groups, "work", dying)
    started: list[_Forked] = []
    start = _Forked.start.__func__
    monkeypatch.setattr(_Forked, "start", classmethod(lambda cls, run, fn: started.append(start(cls, run, fn))
                                                      or started[-1]))
    together = run_study(study, tmp_path / "par", parallel=True)
    assert started[0].ran_here and sorted(ran) == [0, 1]  # taken by the copy, run here after it failed
    alone = run_study(study, tmp_path / "seq", parallel=False)
    a, b = _snapshot(tmp_path / "par"), _snapshot(tmp_path / "seq")
    assert sorted(a) == sorted(b) and {k for k in a if a[k] != b[k]} == {"manifest.json"}
    assert list(together.timings) == list(alone.timings) and together.moran.equals(alone.moran)


def test_the_local_moran_frame_is_computed_once_for_every_rendering(study, tmp_path, monkeypatch):
    """The LISA map's permutation inference runs before the figures, once, and both languages draw that frame."""
    import spillover.diagnostics.moran as moran

    spec = study / "00_study.toml"
    spec.write_text(SPEC.replace('name = "grid"', 'name = "grid"\nrenderings = ["zh"]'), encoding="utf-8")
    calls: list[int] = []
    real = moran.lisa_by_year

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(moran, "lisa_by_year", counted)
    run = run_study(study, tmp_path / "out", parallel=False)
    lisa = sorted(p.relative_to(tmp_path / "out").as_posix() for p in run.files if "lisa" in p.name)
    assert lisa == ["figures/lisa_y_4.pdf", "figures/lisa_y_4.png",
                    "zh/figures/lisa_y_4.pdf", "zh/figures/lisa_y_4.png"]
    assert len(calls) == 1 and len(run.figure_inputs) == 1


def test_a_step_that_fails_in_the_second_process_fails_in_this_one(tmp_path):
    """The forked step's error is raised here, by running the step again; its files and value are reported back."""
    import os
    from types import SimpleNamespace

    from spillover.study.runner import _Forked

    ran_here: list[int] = []

    def failing():
        ran_here.append(os.getpid())
        raise SpecificationError("no such table")

    side = _Forked.start(SimpleNamespace(files=[]), failing)
    if side is None:
        pytest.skip("one core or no fork here: the step runs in this process")
    with pytest.raises(SpecificationError, match="no such table"):
        side.join()
    assert ran_here == [os.getpid()]  # the copy's attempt is not in this process's memory

    run = SimpleNamespace(files=[])

    def writing():
        (tmp_path / "a.txt").write_text("a", encoding="utf-8")
        run.files.append(tmp_path / "a.txt")
        return {"computed": os.getpid()}

    side = _Forked.start(run, writing)
    value = side.join()  # what the step returned, computed in the copy
    assert value["computed"] not in (os.getpid(), 0)
    assert run.files == [tmp_path / "a.txt"] and (tmp_path / "a.txt").is_file()


def test_changes_made_beside_are_merged_where_a_sequential_run_has_them(tmp_path):
    """List entries of the steps run beside go where those steps would have appended them; dicts and attributes too."""
    from spillover.study.runner import StudyRun, _changes_of, _mark, _merge

    run = StudyRun(study=None, paths=None, out=tmp_path)
    run.numbers.append("data")
    mark = _mark(run)

    def beside():
        run.numbers.append("moran")
        run.diagnostics["lm"] = 1
        run.moran = "frame"

    changes = _changes_of(run, [("moran", beside)])
    assert run.numbers == ["data"] and changes["numbers"] == ["moran"]  # taken back out until the merge
    second = _changes_of(run, [("diagnose", lambda: run.numbers.extend(["lm", "lm robust"]))])  # a second lane
    run.numbers.append("estimates")  # the main lane went on meanwhile
    _merge(run, _merge(run, mark, changes), second)
    assert run.numbers == ["data", "moran", "lm", "lm robust", "estimates"]
    assert run.diagnostics == {"lm": 1} and run.moran == "frame" and {"moran", "diagnose"} <= set(run.timings)
