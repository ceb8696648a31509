"""``spillover verify``: rerun the study and compare every number and every output file with the committed results.

Two checks, both on a fresh run written to a temporary folder:

* ``numbers.csv`` (every number of every table, unrounded, tidy): a value
  matches when ``|new - old| <= atol + rtol |old|`` (``rtol = 1e-6``,
  ``atol = 1e-9``; estimates are deterministic and simulated impacts seeded,
  so differences come only from floating-point platform effects).
* every output file the committed ``manifest.json`` lists must be present in
  the results folder and be produced by the rerun, and nothing else may be
  produced. Text outputs (Markdown, LaTeX, HTML, CSV, the README) and the
  cells of Excel and Word files must agree token by token: words exactly,
  integers exactly, decimals within one unit of their last printed digit
  (or the numeric tolerance, whichever is larger), so that an edited number
  in any format is caught and a last-digit rounding flip is not. Figures
  (PNG, PDF) are checked for presence and, for PNG, pixel size.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from spillover.errors import SpilloverError

KEY = ["output", "row", "column"]
#: Files not compared as text: the manifest (timings, versions, hashes) and numbers.csv (compared number by number).
NOT_COMPARED = {"manifest.json", "numbers.csv"}  # numbers.csv: compared number by number
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+\u2212]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


class VerifyInputError(SpilloverError):
    """The committed results cannot be read (no numbers.csv or manifest.json): verify could not run."""


@dataclass(frozen=True)
class VerifyReport:
    compared: int
    mismatches: pd.DataFrame
    missing: pd.DataFrame
    extra: pd.DataFrame
    rtol: float
    atol: float
    files: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["file", "problem"]))
    files_compared: int = 0
    #: set when the committed results were made by a study of another name (manifest.json "study")
    other_study: str | None = None

    @property
    def ok(self) -> bool:
        return self.mismatches.empty and self.missing.empty and self.extra.empty and self.files.empty


def compare_numbers(old: pd.DataFrame, new: pd.DataFrame, *, rtol: float = 1e-6, atol: float = 1e-9) -> VerifyReport:
    """Compare two tidy number tables on (output, row, column)."""
    for df in (old, new):
        df[KEY] = df[KEY].astype(str)
    m = old.merge(new, on=KEY, how="outer", suffixes=("_committed", "_rerun"), indicator=True)
    both = m[m["_merge"] == "both"].copy()
    a, b = both["value_committed"].to_numpy(float), both["value_rerun"].to_numpy(float)
    same = (np.isnan(a) & np.isnan(b)) | (np.abs(b - a) <= atol + rtol * np.abs(a))
    both["abs_diff"] = np.abs(b - a)
    mism = both.loc[~same, KEY + ["value_committed", "value_rerun", "abs_diff"]]
    missing = m.loc[m["_merge"] == "left_only", KEY + ["value_committed"]]
    extra = m.loc[m["_merge"] == "right_only", KEY + ["value_rerun"]]
    return VerifyReport(len(both), mism.reset_index(drop=True), missing.reset_index(drop=True),
                        extra.reset_index(drop=True), rtol, atol)


# ---------------------------------------------------------------- file contents
def _tolerance(token: str, value: float, rtol: float, atol: float) -> float:
    """One unit of the last printed digit of ``token`` (0 for an integer), or the numeric tolerance."""
    mantissa, _, exponent = token.lower().partition("e")
    if "." not in mantissa and not exponent:
        return 0.0
    decimals = len(mantissa.split(".", 1)[1]) if "." in mantissa else 0
    unit = 10.0 ** (-decimals + (int(exponent) if exponent else 0))
    return max(unit * (1 + 1e-9), atol + rtol * abs(value))


def compare_text(old: str, new: str, *, rtol: float = 1e-6, atol: float = 1e-9) -> str | None:
    """None when ``new`` agrees with ``old`` token by token (see the module docstring), else the first difference."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    if len(old_lines) != len(new_lines):
        return f"{len(old_lines)} lines committed, {len(new_lines)} in the rerun"
    for k, (a, b) in enumerate(zip(old_lines, new_lines), 1):
        if a == b:
            continue
        if _NUMBER.split(a) != _NUMBER.split(b):
            return f"line {k}: committed {a.strip()[:160]!r}, rerun {b.strip()[:160]!r}"
        for ta, tb in zip(_NUMBER.findall(a), _NUMBER.findall(b)):
            va, vb = float(ta.replace("\u2212", "-")), float(tb.replace("\u2212", "-"))
            if not (math.isclose(va, vb, rel_tol=0.0, abs_tol=_tolerance(ta, va, rtol, atol)) or ta == tb):
                return f"line {k}: committed {ta}, rerun {tb} in {a.strip()[:160]!r}"
    return None


def _office_text(path: Path) -> str:
    """The cells of an .xlsx (every sheet, tab-separated rows) or the paragraphs and table cells of a .docx."""
    if path.suffix == ".xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        lines = []
        for ws in wb.worksheets:
            lines.append(f"[{ws.title}]")
            lines += ["\t".join("" if v is None else repr(v) if isinstance(v, float) else str(v) for v in row)
                      for row in ws.iter_rows(values_only=True)]
        return "\n".join(lines)
    from docx import Document

    doc = Document(str(path))
    lines = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        lines += ["\t".join(c.text for c in row.cells) for row in table.rows]
    return "\n".join(lines)


def _content(path: Path) -> str | None:
    """Comparable text of an output file; None for figures (checked by presence and size)."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".docx"):
        return _office_text(path)
    if suffix == ".parquet":
        return pd.read_parquet(path).to_csv(index=False, float_format="%.10g")
    if suffix in (".png", ".pdf"):
        return None
    return path.read_text(encoding="utf-8-sig")


def _png_size(path: Path) -> tuple[int, int] | None:
    head = path.read_bytes()[:24]
    return (int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")) if head[:4] == b"\x89PNG" \
        else None


def compare_files(committed: Path, rerun: Path, listed: list[str], produced: list[str], *, rtol: float = 1e-6,
                  atol: float = 1e-9) -> tuple[pd.DataFrame, int]:
    """Problems (file, problem) between the committed results folder and a rerun, and how many files compared."""
    problems = []
    listed_set, produced_set = set(listed) - NOT_COMPARED, set(produced) - NOT_COMPARED
    for rel in sorted(listed_set):
        if not (committed / rel).is_file():
            problems.append((rel, "listed in manifest.json but missing from the results folder"))
    for rel in sorted(listed_set - produced_set):
        problems.append((rel, "committed but no longer produced by the study"))
    for rel in sorted(produced_set - listed_set):
        problems.append((rel, "produced by the study but not among the committed results"))
    compared = 0
    for rel in sorted(listed_set & produced_set):
        old, new = committed / rel, rerun / rel
        if not old.is_file():
            continue
        compared += 1
        a, b = _content(old), _content(new)
        if a is None:
            if old.stat().st_size == 0 or _png_size(old) != _png_size(new):
                problems.append((rel, f"figure differs in size: committed {_png_size(old)}, rerun {_png_size(new)}"))
            continue
        diff = compare_text(a, b, rtol=rtol, atol=atol)
        if diff:
            problems.append((rel, diff))
    return pd.DataFrame(problems, columns=["file", "problem"]), compared


def other_study(models: str | Path, results: str | Path, manifest: dict | None = None) -> str | None:
    """A sentence when ``results`` were made by a study of another name than the spec in ``models``, else None.

    The name is ``[study] name`` of the spec and ``"study"`` of the results'
    ``manifest.json``; an unreadable manifest or spec gives None (verify
    reports those itself).
    """
    from spillover.study.spec import load_study

    if manifest is None:
        try:
            manifest = json.loads((Path(results) / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
    committed = manifest.get("study") if isinstance(manifest, dict) else None
    if committed is None:
        return None
    spec_name = load_study(models).study.name
    if committed == spec_name:
        return None
    return (f"the results in {results} belong to another study: their manifest.json names study {committed!r}, "
            f"the spec in {models} is study {spec_name!r}; compare a study with its own results (the differences "
            "listed follow from that)")


def verify(models: str | Path = "models", results: str | Path = "results", *, rtol: float = 1e-6,
           atol: float = 1e-9, progress=None) -> VerifyReport:
    """Rerun the study in ``models`` into a temporary folder and compare it with ``results``.

    Raises
    ------
    VerifyInputError
        ``results`` has no ``numbers.csv`` or ``manifest.json`` (verify cannot run).
    SpilloverError
        The study itself cannot run (a spec or data error).
    """
    from spillover.study.runner import run_study

    results = Path(results)
    if results.exists() and not results.is_dir():
        raise VerifyInputError(f"--results {results} is a file: --results must be the folder that "
                               f"'spillover replicate {models} --out FOLDER' wrote (it holds numbers.csv and "
                               "manifest.json)")
    for name in ("numbers.csv", "manifest.json"):
        if not (results / name).is_file():
            raise VerifyInputError(f"{results / name} does not exist: verify compares a rerun with committed "
                                   f"results; run 'spillover replicate {models} --out {results}' and commit them")
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise VerifyInputError(f"--{name} {value}: a tolerance must be a finite number >= 0")
    try:
        old = pd.read_csv(results / "numbers.csv")
        manifest = json.loads((results / "manifest.json").read_text(encoding="utf-8"))
        listed = list(manifest["outputs"])
    except (ValueError, KeyError, TypeError, pd.errors.ParserError) as exc:
        raise VerifyInputError(f"{results}: numbers.csv or manifest.json cannot be read ({exc})") from None
    other = other_study(models, results, manifest)
    with tempfile.TemporaryDirectory(prefix="spillover-verify-") as tmp:
        run = run_study(models, Path(tmp) / "out", progress=progress)
        new = pd.read_csv(run.out / "numbers.csv")
        produced = [Path(p).relative_to(run.out).as_posix() for p in run.files]
        files, n_files = compare_files(results, run.out, listed, produced, rtol=rtol, atol=atol)
    if other is not None:
        files = pd.concat([pd.DataFrame([("manifest.json", other)], columns=["file", "problem"]), files],
                          ignore_index=True)
    rep = compare_numbers(old, new, rtol=rtol, atol=atol)
    return VerifyReport(rep.compared, rep.mismatches, rep.missing, rep.extra, rtol, atol, files, n_files,
                        other_study=other)


def report_frame(rep: VerifyReport) -> pd.DataFrame:
    """Every difference of ``rep`` in one tidy table: kind, where, committed, rerun, problem."""
    rows = []
    for r in rep.mismatches.itertuples(index=False):
        rows.append(("number differs", f"{r.output} | {r.row} | {r.column}", r.value_committed, r.value_rerun,
                     f"|diff| = {r.abs_diff:.3g}"))
    for r in rep.missing.itertuples(index=False):
        rows.append(("number missing in the rerun", f"{r.output} | {r.row} | {r.column}", r.value_committed,
                     np.nan, ""))
    for r in rep.extra.itertuples(index=False):
        rows.append(("number new in the rerun", f"{r.output} | {r.row} | {r.column}", np.nan, r.value_rerun, ""))
    for r in rep.files.itertuples(index=False):
        rows.append(("file", r.file, np.nan, np.nan, r.problem))
    return pd.DataFrame(rows, columns=["kind", "where", "committed", "rerun", "problem"])


def write_report(rep: VerifyReport, stem: str | Path) -> list[Path]:
    """``stem.csv`` and ``stem.md``: the full list of differences (atomic writes)."""
    from spillover.io import atomic_write, atomic_write_text

    stem = Path(stem)
    df = report_frame(rep)
    csv = atomic_write(stem.with_name(stem.name + ".csv"),
                       lambda p: df.to_csv(p, index=False, float_format="%.10g", encoding="utf-8"))
    lines = [f"# verify report: {len(df)} difference(s)", "",
             f"{rep.compared} numbers compared (rtol {rep.rtol:g}, atol {rep.atol:g}), {rep.files_compared} files.",
             "", "| kind | where | committed | rerun | problem |", "|---|---|---|---|---|"]
    for r in df.itertuples(index=False):
        cells = [r.kind, r.where, "" if pd.isna(r.committed) else f"{r.committed:.10g}",
                 "" if pd.isna(r.rerun) else f"{r.rerun:.10g}", r.problem]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    md = atomic_write_text(stem.with_name(stem.name + ".md"), "\n".join(lines) + "\n")
    return [csv, md]
