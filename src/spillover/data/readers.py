"""Read one catalog entry from its raw file into ``(province, year, value)`` rows.

The readers never modify a file. They check the file's SHA-256 against the
catalog, locate sheet, header row and columns, map every province key to
its GB code, and parse every cell; anything unexpected raises
:class:`spillover.errors.DataError` naming file, sheet, column, province and
year, with a hint.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import numbers
import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd

from spillover.data.catalog import Catalog, Location
from spillover.data.corrections import Correction
from spillover.data.provinces import normalize_key, resolve
from spillover.data.text import PLAIN, NumberFormat, csv_rows, decode, number_hint
from spillover.data.text import parse_number as _parse
from spillover.data.units import Unit, header_unit, parse_unit
from spillover.errors import DataError, format_error

_YEAR = re.compile(r"^(\d{4})(?:\.0+)?\s*年?$")
#: reading a sheet stops after this many consecutive empty rows (some workbooks
#: declare a million formatted but empty rows)
MAX_EMPTY_RUN = 200


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class RawFiles:
    """Open raw files once per build and hand out their sheets as grids.

    A grid is a DataFrame of objects with no header interpretation (row 0
    is the file's first row), so that header rows and key columns are
    located explicitly by the readers.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._checked: dict[Path, str] = {}
        self._books: dict[Path, openpyxl.Workbook] = {}
        self._grids: dict[tuple[Path, str | None], pd.DataFrame] = {}
        #: blank value cells of workbooks: (indicator, file, province, year) -> (path, sheet, row, column), 0-based
        self.blanks: dict[tuple[str, str, str, int], tuple[Path, str, int, int]] = {}

    def path(self, loc: Location, indicator: str) -> Path:
        """Absolute path of ``loc.file`` after checking existence and SHA-256."""
        path = self.catalog.resolve(loc.file)
        if path in self._checked:
            digest = self._checked[path]
        else:
            if not path.is_file():
                raise DataError(
                    format_error(
                        "raw file not found",
                        file=str(path),
                        indicator=indicator,
                        hint="restore the file under data_raw/ (files there are kept byte-identical to "
                        "their origin) or correct 'file' in the catalog",
                    )
                )
            digest = sha256_file(path)
            self._checked[path] = digest
        if digest != loc.sha256:
            raise DataError(
                format_error(
                    "sha256 mismatch: the file is not the one the catalog describes",
                    file=str(path),
                    indicator=indicator,
                    expected=loc.sha256,
                    found=digest,
                    hint="raw files must stay byte-identical; restore the original, or if this is a new "
                    "vintage update sha256 and vintage in the catalog and document it in SOURCES.md",
                )
            )
        return path

    def grid(self, loc: Location, indicator: str, sheet: str | None = None) -> pd.DataFrame:
        """The raw cell grid of ``loc``'s file and sheet (``sheet`` overrides a template)."""
        path = self.path(loc, indicator)
        sheet = sheet if sheet is not None else loc.sheet
        key = (path, sheet)
        if key in self._grids:
            return self._grids[key]
        if path.suffix.lower() in {".csv", ".txt"}:
            if sheet is not None:
                raise DataError(format_error("a csv file has no sheets", file=str(path), sheet=sheet,
                                             indicator=indicator, hint="remove 'sheet' from the entry"))
            grid = _csv_grid(path, loc.encoding, loc.delimiter)
        else:
            book = self._books.get(path)
            if book is None:
                book = self._books[path] = _open_workbook(path, indicator)
            names = [str(s) for s in book.sheetnames]
            if sheet is None:
                sheet = names[0]
            if sheet not in names:
                raise DataError(
                    format_error(
                        "sheet not found",
                        file=str(path),
                        sheet=sheet,
                        indicator=indicator,
                        hint=f"the workbook has sheets {names}",
                    )
                )
            grid = _sheet_grid(book[sheet])
        self._grids[key] = grid
        return grid

    def close(self) -> None:
        """Close open workbooks."""
        for book in self._books.values():
            book.close()
        self._books.clear()


def _open_workbook(path: Path, indicator: str) -> openpyxl.Workbook:
    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise DataError(format_error(f"cannot open the workbook: {type(exc).__name__}: {exc}", file=str(path),
                                     indicator=indicator, hint="the file is truncated, empty or not an .xlsx "
                                     "workbook (an old .xls must be converted, keeping the original)")) from None


def _csv_grid(path: Path, encoding: str | None, delimiter: str = ",") -> pd.DataFrame:
    """Every field of a CSV file as text (rows checked by :func:`spillover.data.text.csv_rows`)."""
    text, _ = decode(path, encoding, what="CSV file")
    shown = "\\t" if delimiter == "\t" else delimiter
    rows = csv_rows(text, file=str(path), delimiter=delimiter,
                    delimiter_hint="declare it in the catalog entry, e.g. delimiter = ';' (or '\\t' for a tab); "
                    f"the entry now says delimiter = '{shown}'")
    width = len(rows[0])
    return pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=object)


def _sheet_grid(ws) -> pd.DataFrame:
    """Cell values of a worksheet as an object DataFrame, trailing empty rows dropped."""
    rows: list[tuple] = []
    run = 0
    for row in ws.iter_rows(values_only=True):
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
            run += 1
            if run > MAX_EMPTY_RUN:
                break
        else:
            run = 0
        rows.append(row)
    while rows and all(v is None for v in rows[-1]):
        rows.pop()
    return pd.DataFrame(rows, dtype=object)


def _is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, str) and normalize_key(value) == ""


def parse_number(value: object, fmt: NumberFormat = PLAIN) -> float | None:
    """A cell as float; ``nan`` for a blank cell; ``None`` if it is not a number written in ``fmt``.

    See :func:`spillover.data.text.parse_number`: without a declared format a
    comma or a second dot in the digits is not a number.
    """
    if _is_blank(value):
        return math.nan
    return _parse(value, fmt)


def check_unit(header: str, declared: Unit, where: dict) -> None:
    """The unit a header states in brackets must be the declared unit's numerator (scale and base)."""
    stated = header_unit(header)
    if stated is None:
        return
    numerator = parse_unit(declared.text.split(" per ")[0])
    if stated.base != numerator.base or abs(stated.factor / numerator.factor - 1) > 1e-12:
        raise DataError(format_error(
            f"the header states its unit as {stated.factor:g} {stated.base}, the catalog says {declared.text!r}",
            **where, column=header, hint="correct 'unit' in the entry (values are converted to base units with "
            "it, so a wrong unit changes every derived number)"))


def parse_year(value: object) -> int | None:
    """A year cell (``2013``, ``2013.0``, ``"2013"``, ``"2013年"``) as int, else ``None``."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        f = float(value)
        return int(f) if f.is_integer() else None
    m = _YEAR.match(normalize_key(value)) if isinstance(value, str) else None
    return int(m.group(1)) if m else None


def _find_column(headers: list[str], wanted: str, *, where: dict, what: str = "column") -> int:
    target = normalize_key(wanted)
    hits = [i for i, h in enumerate(headers) if h == target]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        close = difflib.get_close_matches(target, [h for h in headers if h], n=3, cutoff=0.5)
        raise DataError(
            format_error(
                f"{what} not found",
                **where,
                column=wanted,
                hint=(f"close headers: {close}; " if close else "")
                + "check 'column' and 'header_row' (0-based) in the catalog",
            )
        )
    raise DataError(
        format_error(f"{what} header is ambiguous (appears {len(hits)} times)", **where, column=wanted,
                     hint="the header row has duplicate names; pick a unique header row or column")
    )


class _Rows:
    """Collect parsed rows and check them as they come."""

    def __init__(self, where: dict, coverage: tuple[int, int] | None, indicator: str,
                 fmt: NumberFormat = PLAIN, blanks: tuple[dict, Path, str] | None = None) -> None:
        self.where = where
        self.blanks = blanks  # (RawFiles.blanks, path, sheet) of a workbook: where blank value cells are noted
        self.fmt = fmt
        self.coverage = coverage
        self.indicator = indicator
        self.rows: dict[tuple[str, int], float] = {}
        self.corrections: list[Correction] = []

    def add(self, province_cell: object, year: int, value_cell: object, *, column: str, row: int | str,
            cell: tuple[int, int] | None = None) -> None:
        code = resolve(province_cell)
        if code is None:
            raise DataError(
                format_error(
                    "unknown province",
                    **self.where,
                    column=column,
                    row=row,
                    province=normalize_key(province_cell),
                    year=year,
                    hint="use a GB code, a full or short Chinese name or an English name of one of the 31 "
                    "mainland provinces; list aggregates and non-mainland rows in 'ignore_keys'",
                )
            )
        if self.coverage is not None and not (self.coverage[0] <= year <= self.coverage[1]):
            raise DataError(
                format_error(
                    "year outside range",
                    **self.where,
                    column=column,
                    row=row,
                    province=code,
                    year=year,
                    hint=f"the catalog says this file covers {self.coverage[0]}-{self.coverage[1]}; "
                    "fix the year cell's source or the entry's 'coverage'",
                )
            )
        value = parse_number(value_cell, self.fmt)
        if value is None:
            raise DataError(
                format_error(
                    f"non-numeric cell {value_cell!r}",
                    **self.where,
                    column=column,
                    row=row,
                    province=code,
                    year=year,
                    hint=number_hint(value_cell, self.fmt),
                )
            )
        key = (code, year)
        if math.isnan(value) and self.blanks is not None and cell is not None:
            store, path, sheet = self.blanks
            store[(self.indicator, str(self.where.get("file")), code, year)] = (path, sheet, *cell)
        if key in self.rows:
            raise DataError(
                format_error(
                    "duplicate province-year",
                    **self.where,
                    column=column,
                    row=row,
                    province=code,
                    year=year,
                    hint="each province-year may appear once; two keys (e.g. full and short name) may "
                    "name the same province",
                )
            )
        self.rows[key] = value

    def frame(self) -> pd.DataFrame:
        if not self.rows:
            return pd.DataFrame({"province": pd.Series([], dtype=str), "year": pd.Series([], dtype=int),
                                 "value": pd.Series([], dtype=float)})
        keys = list(self.rows)
        return pd.DataFrame(
            {
                "province": [k[0] for k in keys],
                "year": [k[1] for k in keys],
                "value": list(self.rows.values()),
            }
        )


def read_location(
    files: RawFiles,
    loc: Location,
    *,
    indicator: str,
    coverage: tuple[int, int] | None,
    years: tuple[int, int],
    unit: Unit | None = None,
) -> tuple[pd.DataFrame, list[Correction]]:
    """Read one series.

    Parameters
    ----------
    files : RawFiles
        Open-file cache of the current build.
    loc : Location
        Where the series is (an :class:`~spillover.data.catalog.Indicator`
        or its ``uninterpolated`` reference).
    indicator : str
        Catalog id, for messages and corrections.
    coverage : tuple of int or None
        Years the file may hold; ``None`` skips the check.
    years : tuple of int
        Study years; a ``wide`` or ``sheet_per_year`` table must have them.
    unit : Unit, optional
        The declared unit; a header that states another one in brackets
        (``"(万人)"``, ``"(10,000 persons)"``) is an error.

    Returns
    -------
    frame : pandas.DataFrame
        Columns ``province`` (GB code), ``year`` (int), ``value`` (float,
        NaN for blank cells).
    corrections : list of Correction
        Rows skipped because they carry a value but no key.
    """
    if loc.layout == "sheet_per_year":
        if unit is not None:
            check_unit(loc.row_label or "", unit, {"file": loc.file, "indicator": indicator})
        return _read_sheet_per_year(files, loc, indicator, coverage, years)
    grid = files.grid(loc, indicator)
    where = {"file": loc.file, "sheet": loc.sheet, "indicator": indicator}
    if unit is not None and loc.layout == "long":
        check_unit(loc.column or "", unit, where)
    if loc.header_row >= len(grid):
        raise DataError(format_error(f"header row beyond the end of the sheet ({_size(grid)})", **where,
                                     row=loc.header_row, option="header_row",
                                     hint=f"header_row is 0-based: it must be below {len(grid)}"))
    headers = [normalize_key(v) if not _is_blank(v) else "" for v in grid.iloc[loc.header_row].tolist()]
    start = loc.data_start_row if loc.data_start_row is not None else loc.header_row + 1
    body = grid.iloc[start:]
    rows = _Rows(where, coverage, indicator, loc.number_format, _blanks(files, loc, indicator, loc.sheet))
    ignore = {normalize_key(k) for k in loc.ignore_keys}
    if loc.layout == "long":
        pcol = _find_column(headers, loc.province_column, where=where, what="province key column")
        ycol = _find_column(headers, loc.year_column, where=where, what="year key column")
        vcol = _find_column(headers, loc.column, where=where)
        for offset, rec in enumerate(body.itertuples(index=False, name=None)):
            excel_row = start + offset + 1
            p, y, v = rec[pcol], rec[ycol], rec[vcol]
            if _is_blank(p) and _is_blank(y):
                if not _is_blank(v):
                    num = parse_number(v, loc.number_format)
                    rows.corrections.append(
                        Correction("row ignored", indicator, None, None, num, None,
                                   f"{loc.file} [{loc.sheet}] row {excel_row} has a value in {loc.column!r} "
                                   "but no province or year key (a stray cell below the table)")
                    )
                continue
            if normalize_key(p) in ignore:
                continue
            year = parse_year(y)
            if year is None:
                raise DataError(
                    format_error(f"year cell {y!r} is not a year", **where, column=loc.year_column,
                                 row=excel_row, province=normalize_key(p),
                                 hint="year cells must be integers such as 2019")
                )
            rows.add(p, year, v, column=loc.column, row=excel_row, cell=(start + offset, vcol))
    else:  # wide
        pcol = _find_column(headers, loc.province_column, where=where, what="province key column")
        pattern = re.compile("^" + re.escape(normalize_key(loc.column)).replace(r"\{year\}", r"(\d{4})") + "$")
        year_cols = {int(m.group(1)): i for i, h in enumerate(headers) if (m := pattern.match(h))}
        for y in year_cols:
            if coverage is not None and not (coverage[0] <= y <= coverage[1]):
                raise DataError(
                    format_error("year outside range", **where, column=headers[year_cols[y]], year=y,
                                 hint=f"the catalog says this file covers {coverage[0]}-{coverage[1]}")
                )
        for y in range(years[0], years[1] + 1):
            if y not in year_cols:
                _find_column(headers, loc.column.format(year=y), where=where)
        for offset, rec in enumerate(body.itertuples(index=False, name=None)):
            excel_row = start + offset + 1
            p = rec[pcol]
            if _is_blank(p) or normalize_key(p) in ignore:
                continue
            for y, c in sorted(year_cols.items()):
                rows.add(p, y, rec[c], column=headers[c], row=excel_row, cell=(start + offset, c))
    return rows.frame(), rows.corrections


def _read_sheet_per_year(
    files: RawFiles, loc: Location, indicator: str, coverage: tuple[int, int] | None, years: tuple[int, int]
) -> tuple[pd.DataFrame, list[Correction]]:
    assert loc.sheet is not None and loc.row_label is not None
    frames = []
    for year in range(years[0], years[1] + 1):
        sheet = loc.sheet.format(year=year)
        grid = files.grid(loc, indicator, sheet=sheet)
        where = {"file": loc.file, "sheet": sheet, "indicator": indicator}
        rows = _Rows(where, coverage, indicator, loc.number_format, _blanks(files, loc, indicator, sheet))
        if coverage is not None and not (coverage[0] <= year <= coverage[1]):
            raise DataError(format_error("year outside range", **where, year=year,
                                         hint=f"the catalog says this file covers {coverage[0]}-{coverage[1]}"))
        _within(grid, where, header_row=loc.header_row, label_column=loc.label_column)
        headers = grid.iloc[loc.header_row].tolist()
        labels = [normalize_key(v) if not _is_blank(v) else "" for v in grid.iloc[:, loc.label_column]]
        target = normalize_key(loc.row_label)
        hits = [i for i, lab in enumerate(labels) if lab == target]
        if len(hits) != 1:
            raise DataError(
                format_error(
                    "row label not found" if not hits else "row label is ambiguous",
                    **where,
                    column=loc.row_label,
                    hint=f"labels in column {loc.label_column}: {sorted({x for x in labels if x})[:12]}",
                )
            )
        ignore = {normalize_key(k) for k in loc.ignore_keys}
        r = hits[0]
        for c, head in enumerate(headers):
            if c == loc.label_column or _is_blank(head) or normalize_key(head) in ignore:
                continue
            rows.add(head, year, grid.iat[r, c], column=normalize_key(head), row=r + 1, cell=(r, c))
        frames.append(rows.frame())
    if not frames:
        return _Rows({}, None, indicator).frame(), []
    return pd.concat(frames, ignore_index=True), []


def _size(grid: pd.DataFrame) -> str:
    return f"the sheet has {grid.shape[0]} row(s) and {grid.shape[1]} column(s)"


def _within(grid: pd.DataFrame, where: dict, **options: int) -> None:
    """Each 0-based row or column option of an entry (``header_row=3``) must lie inside the sheet."""
    for option, value in options.items():
        limit = grid.shape[1] if option.endswith("column") else grid.shape[0]
        if value >= limit:
            raise DataError(format_error(
                f"{option} = {value} lies beyond the sheet ({_size(grid)})", **where, option=option,
                hint=f"{option} is 0-based: it must be below {limit}; check the entry against the file"))


def _blanks(files: RawFiles, loc: Location, indicator: str, sheet: str | None) -> tuple[dict, Path, str] | None:
    """Where :class:`_Rows` notes blank value cells of a workbook (a CSV has no formulas: None)."""
    path = files.catalog.resolve(loc.file)
    if path.suffix.lower() in {".csv", ".txt"}:
        return None
    return files.blanks, path, sheet or ""


def formula_without_value(path: Path, sheet: str, row: int, column: int) -> str | None:
    """The formula of a workbook cell (0-based ``row``, ``column``) when the file stores no value for it.

    A workbook written by a program that does not calculate (openpyxl,
    pandas) keeps ``=D3*1`` but no cached result, which a reader sees as a
    blank cell. None when the cell holds no formula or cannot be read.
    """
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception:  # noqa: BLE001 -- only a better message is at stake; the caller reports the blank cell
        return None
    try:
        ws = book[sheet] if sheet else book.worksheets[0]
        for values in ws.iter_rows(min_row=row + 1, max_row=row + 1, values_only=True):
            value = values[column] if column < len(values) else None
            return value if isinstance(value, str) and value.startswith("=") else None
        return None
    except (KeyError, IndexError):
        return None
    finally:
        book.close()
