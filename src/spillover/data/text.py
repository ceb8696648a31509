"""Text of raw files: encodings detected, numbers parsed under a declared locale.

Two jobs every reader shares:

- :func:`decode` turns a file's bytes into text. A declared encoding is used
  as given; otherwise a byte-order mark decides (UTF-8, UTF-16 LE/BE), then
  strict UTF-8, then strict GB18030 (the superset of GBK and GB2312 that
  Chinese statistical offices publish in) when the text it gives holds CJK
  characters. Anything else is refused with the byte offset and line of the
  first byte that is not UTF-8.
- :func:`parse_number` reads a cell as a number. By default only the plain
  form ``-1234.5`` (or ``1.2e3``) is a number: a comma, a second dot or a
  space inside the digits is refused, because ``"4345,56"`` (a decimal comma)
  and ``"20.584,0"`` (a European thousands dot) are otherwise read silently as
  434556 and 20.584. A source that writes numbers that way declares its
  :class:`NumberFormat` (``decimal = ","``, ``thousands = "."``), and then a
  group of other than three digits after a thousands separator is refused too.
"""

from __future__ import annotations

import csv
import io
import math
import numbers
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from spillover.errors import DataError, format_error

_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
#: characters that only ever separate digit groups
_SPACES = "\u00a0\u202f\u2009 '"


def detect_encoding(data: bytes) -> str | None:
    """The encoding of ``data`` by the rule of :func:`decode`, or ``None`` when none fits."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        return None
    return "gb18030" if _CJK.search(text) else None


def decode(path: str | Path, encoding: str | None = None, *, what: str = "file") -> tuple[str, str]:
    """Text of ``path`` and the encoding used (``encoding`` when given, else detected).

    Raises
    ------
    DataError
        The file cannot be read, is not in the declared encoding, or is in
        none of UTF-8 (with or without BOM), UTF-16 with BOM and GB18030.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(format_error(f"cannot read the {what}: {exc.strerror or exc}", file=str(path))) from None
    name = encoding or detect_encoding(data)
    if name is None:
        bad = _first_bad_utf8(data)
        raise DataError(format_error(
            f"the {what} is not UTF-8, UTF-16 or GB18030 text (byte {bad} on line {_line(data, bad)})",
            file=str(path), hint="save it as UTF-8, or declare its encoding (e.g. encoding = 'latin-1')"))
    try:
        text = data.decode(name)
    except LookupError:
        raise DataError(format_error(f"unknown encoding {name!r}", file=str(path),
                                     hint="use a Python codec name such as 'utf-8', 'gb18030', 'utf-16'")) from None
    except UnicodeDecodeError as exc:
        detected = detect_encoding(data)
        raise DataError(format_error(
            f"the {what} is not {name} text ({exc.reason} at byte {exc.start}, line "
            f"{_line(data, exc.start)})", file=str(path),
            hint=f"it reads as {detected}: declare that encoding" if detected else
            "save it as UTF-8 or declare the encoding it is in")) from None
    if name == "utf-16" or name == "utf-8-sig":
        text = text.lstrip("\ufeff")
    return text, name


def _line(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _first_bad_utf8(data: bytes) -> int:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return len(data)


@dataclass(frozen=True)
class NumberFormat:
    """How a source writes numbers in text cells.

    Attributes
    ----------
    decimal : {".", ","}
        The decimal mark.
    thousands : {"", ",", ".", " "}
        The digit-group separator (``""``: none; ``" "`` also accepts the
        no-break and thin spaces and the apostrophe).
    """

    decimal: str = "."
    thousands: str = ""

    def __post_init__(self) -> None:
        if self.decimal not in (".", ","):
            raise ValueError(f"decimal must be '.' or ',', got {self.decimal!r}")
        if self.thousands not in ("", ",", ".", " "):
            raise ValueError(f"thousands must be '', ',', '.' or ' ', got {self.thousands!r}")
        if self.thousands == self.decimal:
            raise ValueError("thousands and decimal must differ")


PLAIN = NumberFormat()
#: the number formats a text column is tried in before it is called text
LOCALES = (PLAIN, NumberFormat(",", ""), NumberFormat(",", "."), NumberFormat(".", ","), NumberFormat(",", " "),
           NumberFormat(".", " "))
_EXP = r"(?:[eE][+-]?\d+)?"


def _pattern(fmt: NumberFormat) -> re.Pattern[str]:
    dec = re.escape(fmt.decimal)
    frac = rf"(?:{dec}\d*)?"
    if fmt.thousands:
        sep = "[" + re.escape(_SPACES) + "]" if fmt.thousands == " " else re.escape(fmt.thousands)
        body = rf"(?:\d{{1,3}}(?:{sep}\d{{3}})+|\d+){frac}|{dec}\d+"
    else:
        body = rf"\d+{frac}|{dec}\d+"
    return re.compile(rf"^[+-]?(?:{body}){_EXP}$", re.ASCII)


_PATTERNS: dict[NumberFormat, re.Pattern[str]] = {}


def parse_number(value: object, fmt: NumberFormat = PLAIN) -> float | None:
    """A cell as float: ``nan`` for a blank cell, ``None`` when it is not a number in ``fmt``.

    Numeric cells are taken as they are; text is NFKC-normalised (full-width
    digits become ASCII) and must be a number written in ``fmt``. Infinite
    and NaN values, numeric or written (``"inf"``, ``"nan"``), are ``None``.
    """
    if value is None or value is True or value is False:
        return math.nan if value is None else None
    if isinstance(value, numbers.Real):
        f = float(value)
        if math.isnan(f):
            return math.nan
        return f if math.isfinite(f) else None
    if not isinstance(value, str):
        return None
    text = unicodedata.normalize("NFKC", value).strip().replace("\u2212", "-")
    if not text:
        return math.nan
    pattern = _PATTERNS.get(fmt) or _PATTERNS.setdefault(fmt, _pattern(fmt))
    if not pattern.match(text):
        return None
    if fmt.thousands:
        for ch in (_SPACES if fmt.thousands == " " else fmt.thousands):
            text = text.replace(ch, "")
    if fmt.decimal == ",":
        text = text.replace(",", ".")
    f = float(text)
    return f if math.isfinite(f) else None


def number_hint(text: object, fmt: NumberFormat = PLAIN) -> str:
    """What to do about a text cell that :func:`parse_number` refused."""
    s = str(text)
    if fmt == PLAIN and re.search(r"\d[,.\s']\d", s) and re.fullmatch(r"[+-]?[\d.,\s'\u00a0\u202f\u2009]+", s.strip()):
        return ("it looks like a number with a thousands separator or a decimal comma; declare the source's "
                "number format (decimal = ',' and/or thousands = ',' / '.' / ' ') instead of editing the file")
    if fmt.thousands:
        return (f"numbers in this source are declared as decimal {fmt.decimal!r}, thousands {fmt.thousands!r} "
                "(groups of three digits); the cell does not follow it")
    return "the cell must hold a number or be empty; correct it in a documented pipeline step, never in the raw file"


def utf8_text(path: str | Path, *, what: str, error: type[Exception] = DataError) -> str:
    """Text of a file that must be UTF-8 (a TOML document); any other encoding is refused by name."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(format_error(f"cannot read the {what}: {exc.strerror or exc}", file=str(path))) from None
    found = detect_encoding(data)
    if found not in ("utf-8", "utf-8-sig"):
        said = f"it reads as {found}" if found else f"byte {_first_bad_utf8(data)} is not UTF-8"
        raise error(format_error(
            f"the {what} must be UTF-8 text; {said} (line {_line(data, _first_bad_utf8(data))})", file=str(path),
            hint=f"re-save it as UTF-8 (e.g. iconv -f {found or 'ENCODING'} -t UTF-8)"))
    return data.decode(found).lstrip("\ufeff")


#: field separators other than the comma that a CSV file may use, and their names in messages
OTHER_DELIMITERS = {";": "semicolon ';'", "\t": "tab", "|": "vertical bar '|'"}


def csv_rows(text: str, *, file: str, delimiter: str = ",",
             delimiter_hint: str = "save the file with ',' between fields") -> list[list[str]]:
    """The rows of a CSV text; a non-blank row with another number of fields than the first is an error.

    Trailing blank lines are dropped. A truncated download usually ends in a
    short row, and an unquoted comma in a cell makes a long one: both are
    named by line instead of being read as a missing or shifted value. A
    header read as one field that holds another separator (``;``, a tab,
    ``|``) is an error naming that separator (``delimiter_hint`` says how to
    declare it), not a "column not found" further on.
    """
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if delimiter not in first:
        found = [d for d in OTHER_DELIMITERS if d != delimiter and d in first]
        if found:
            d = found[0]
            raise DataError(format_error(
                f"the header row reads as one field: the file separates its fields by a {OTHER_DELIMITERS[d]}, "
                f"not by {OTHER_DELIMITERS.get(delimiter, repr(delimiter))}", file=file, line=1,
                delimiter=d, hint=delimiter_hint))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, delimiter=delimiter)
    rows, lines = [], []
    try:
        for row in reader:
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise DataError(format_error(f"malformed CSV: {exc}", file=file, line=reader.line_num,
                                     hint="an unclosed quote or a stray quote character")) from None
    while rows and not any(f.strip() for f in rows[-1]):
        rows.pop()
    if not rows:
        raise DataError(format_error("the CSV file is empty", file=file))
    width = len(rows[0])
    for line, row in zip(lines, rows):
        if len(row) != width and any(f.strip() for f in row):
            raise DataError(format_error(
                f"line {line} has {len(row)} field(s), the header has {width}", file=file, line=line,
                hint="a truncated or garbled row (a cut-off download, an unquoted comma in a cell); fetch the "
                "file again"))
    return rows
