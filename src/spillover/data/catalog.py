"""Schema of ``data_raw/catalog.toml``: every indicator the pipeline reads.

The catalog is a hand-written TOML document. Each ``[[indicator]]`` entry
names one series in one raw file and says how to find it (file, sheet,
header row, key columns, column), what it measures (Chinese and English
name, unit), where it comes from (publisher, citation, vintage, sha256 of
the file) and what the study does with it (status, and the composite index,
dimension and direction where it feeds one).

:func:`load_catalog` validates the document with pydantic and turns every
problem into a :class:`spillover.errors.DataError` that names the catalog
file and the offending entry.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from spillover.data.plausibility import Relation, Rule
from spillover.data.text import NumberFormat, utf8_text
from spillover.data.units import Unit, UnitParseError, parse_unit
from spillover.errors import DataError, format_error

Layout = Literal["long", "wide", "sheet_per_year"]
#: base units of amounts and counts, which are never negative
NON_NEGATIVE = frozenset({"yuan", "persons", "person-years", "households", "units", "enterprises", "km", "km2",
                          "t CO2"})
Status = Literal["used", "reference", "supplementary", "excluded"]
#: suffixes of the files read as text (CSV): the only ones ``encoding`` and ``delimiter`` apply to
#: (``decimal`` and ``thousands`` apply to workbooks too: to numbers stored there as text)
TEXT_SUFFIXES = (".csv", ".txt")


def data_root() -> Path:
    """The repository's ``data_raw/`` folder.

    ``SPILLOVER_DATA_RAW`` overrides the default, which is ``data_raw/``
    next to ``src/`` (``src/spillover/data`` -> ``../../../data_raw``).

    Raises
    ------
    DataError
        When the folder does not exist.
    """
    env = os.environ.get("SPILLOVER_DATA_RAW")
    root = Path(env) if env else Path(__file__).resolve().parents[3] / "data_raw"
    if not root.is_dir():
        raise DataError(
            format_error(
                "raw data folder not found",
                file=str(root),
                hint="run from a source checkout that has data_raw/, or set SPILLOVER_DATA_RAW "
                "to the folder that holds catalog.toml",
            )
        )
    return root


def refuse_output_inside(out: str | os.PathLike[str], raw_folders, *, option: str = "--out") -> None:
    """Raise a :class:`DataError` when ``out`` is one of ``raw_folders`` or lies inside one.

    Nothing in a raw-data folder is ever written: its files are kept
    byte-identical to their origin and hashed in the catalog.
    """
    target = Path(out).resolve()
    for raw in raw_folders:
        if raw is None:
            continue
        root = Path(raw).resolve()
        if target == root or root in target.parents:
            raise DataError(format_error(
                f"{option} {out} is inside the raw-data folder {root}: nothing is ever written there",
                option=option, file=str(target),
                hint="raw files stay byte-identical to their origin; write the outputs to another folder "
                "(e.g. --out results)"))


def default_catalog_path() -> Path:
    """``<data_root()>/catalog.toml``."""
    return data_root() / "catalog.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Location(_Strict):
    """Where a series sits in a raw file.

    Attributes
    ----------
    file : str
        Path relative to the catalog's ``root`` (or absolute).
    sha256 : str
        Hex SHA-256 of the file's bytes; checked before reading.
    sheet : str or None
        Worksheet name (xlsx); ``None`` for csv. For ``sheet_per_year`` a
        template with ``{year}``.
    header_row : int
        0-based row holding the column headers.
    data_start_row : int or None
        0-based first data row (default: the row after the header).
    layout : {"long", "wide", "sheet_per_year"}
        ``long``: one row per province-year with key columns
        ``province_column`` and ``year_column``; ``wide``: one row per
        province, one column per year (``column`` is a template such as
        ``"{year}年"``); ``sheet_per_year``: one sheet per year, provinces
        across the header row, the series in the row whose
        ``label_column`` cell equals ``row_label``.
    province_column, year_column : str
        Header of the key columns (``long``/``wide``).
    column : str or None
        Header of the value column (``long``) or year-column template
        (``wide``); not used by ``sheet_per_year``. Headers are compared after removing zero-width
        characters and collapsing whitespace.
    row_label : str or None
        ``sheet_per_year`` only: label of the row to read.
    label_column : int
        ``sheet_per_year`` only: 0-based column holding row labels.
    ignore_keys : list of str
        Key cells that are not provinces and are skipped on purpose
        (aggregates such as 合计, Hong Kong, Macao, Taiwan).
    decimal, thousands : str
        How a CSV file writes numbers (default ``"."`` and no thousands
        separator: ``"4345,56"`` is then an error, not 434556); see
        :class:`spillover.data.text.NumberFormat`. Like ``encoding`` and
        ``delimiter``, refused on a workbook entry (.xlsx), where it would
        be ignored.
    encoding : str or None
        Text encoding of a CSV file (default: detected, see
        :func:`spillover.data.text.decode`).
    delimiter : str
        Field separator of a CSV file: ``","`` (default), ``";"``, ``"\t"``
        or ``"|"``.
    """

    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    sheet: str | None = None
    header_row: int = Field(default=0, ge=0)
    data_start_row: int | None = Field(default=None, ge=0)
    layout: Layout = "long"
    province_column: str = "province"
    year_column: str = "year"
    column: str | None = None
    row_label: str | None = None
    label_column: int = Field(default=0, ge=0)
    ignore_keys: list[str] = Field(default_factory=list)
    decimal: Literal[".", ","] = "."
    thousands: Literal["", ",", ".", " "] = ""
    encoding: str | None = None
    delimiter: Literal[",", ";", "\t", "|"] = ","

    @property
    def number_format(self) -> NumberFormat:
        """The declared :class:`~spillover.data.text.NumberFormat`."""
        return NumberFormat(self.decimal, self.thousands)

    @model_validator(mode="after")
    def _layout_fields(self) -> Location:
        if self.layout in ("long", "wide") and not self.column:
            raise ValueError(f"layout {self.layout!r} needs 'column'")
        if self.layout == "wide" and "{year}" not in (self.column or ""):
            raise ValueError("layout 'wide' needs a column template containing '{year}'")
        if self.layout == "sheet_per_year":
            if self.sheet is None or "{year}" not in self.sheet:
                raise ValueError("layout 'sheet_per_year' needs a sheet template containing '{year}'")
            if not self.row_label:
                raise ValueError("layout 'sheet_per_year' needs row_label")
        if self.decimal == self.thousands:
            raise ValueError("decimal and thousands must differ")
        if self.data_start_row is not None and self.data_start_row <= self.header_row:
            raise ValueError("data_start_row must come after header_row")
        return self

    @model_validator(mode="after")
    def _text_options(self) -> Location:
        """encoding and delimiter describe a CSV file; on a workbook they would be ignored."""
        if Path(self.file).suffix.lower() in TEXT_SUFFIXES:
            return self
        defaults = {"encoding": None, "delimiter": ","}
        given = [k for k, v in defaults.items() if getattr(self, k) != v]
        if given:
            raise ValueError(
                f"option(s) {given} apply to CSV/text files only, but {self.file!r} is a "
                f"{Path(self.file).suffix or 'file without suffix'} workbook (its cells carry their own types "
                f"and encoding): remove {', '.join(given)} from the entry")
        return self


class Indicator(Location):
    """One catalog entry (see :class:`Location` for the reading fields).

    Attributes
    ----------
    id : str
        Identifier used in the long table and as the panel column name.
    name_zh, name_en : str
        Chinese and English names.
    unit : str
        Unit of the stored values (grammar of :mod:`spillover.data.units`).
    publisher, citation, vintage : str
        Original publisher, how to cite it, and which release the numbers
        come from.
    coverage : tuple of int
        First and last year the file is expected to hold; a year outside
        this range is an error.
    status : {"used", "reference", "supplementary", "excluded"}
        ``used``: enters the panel and must be complete; ``reference``:
        kept in the panel for checks, not used in derivations;
        ``supplementary``: read and derived but left out of the balanced
        panel (known gaps listed in ``known_missing``); ``excluded``: read
        into the long table only, with ``reason``.
    reason : str
        Why an entry is excluded, a reference or supplementary.
    index, dimension, direction : str or None
        Composite index the series feeds (``dei`` or ``cpi``), its
        dimension and its direction (``+`` benefit, ``-`` cost).
    enters_as : {"level", "per_capita"}
        Whether the index uses the level or the per-capita version
        ``<id>_pc`` (value per 10,000 residents).
    known_missing : list of str
        GB codes documented as absent from the source.
    uninterpolated : Location or None
        The same series before the compiler filled gaps; a cell missing
        there but present here is flagged as interpolated.
    replace_years : list of int
        Years whose cross-section is known to be wrong in the file; the
        pipeline replaces each cell by the mean of the adjacent years and
        records a Correction per cell (``replace_reason`` says why).
    replace_reason : str
        Evidence for ``replace_years``.
    notes : str
        Free text.
    check : Rule or None
        Plausibility rule of the stored values (range, year-on-year jump);
        see :mod:`spillover.data.plausibility`. A unit that counts or sums
        (yuan, persons, households, units, enterprises, km, t CO2) implies
        ``min = 0`` unless the rule sets its own minimum.
    reuses : str or None
        Id of another entry that reads the same cells (file, sheet, column)
        on purpose. Without it two entries reading the same cells are an
        error: a copy-paste slip would otherwise make e.g. a ratio of the two
        equal to 1 everywhere.
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: str
    name_en: str
    unit: str
    publisher: str
    citation: str
    vintage: str
    coverage: tuple[int, int]
    status: Status = "used"
    reason: str = ""
    index: Literal["dei", "cpi"] | None = None
    dimension: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    direction: Literal["+", "-"] | None = None
    enters_as: Literal["level", "per_capita"] = "level"
    known_missing: list[str] = Field(default_factory=list)
    uninterpolated: Location | None = None
    replace_years: list[int] = Field(default_factory=list)
    replace_reason: str = ""
    notes: str = ""
    check: Rule | None = None
    reuses: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Indicator:
        if self.index is not None and (self.dimension is None or self.direction is None):
            raise ValueError(f"indicator {self.id!r} feeds index {self.index!r}: give dimension and direction")
        if self.index is not None and self.status != "used":
            raise ValueError(f"indicator {self.id!r} feeds an index but has status {self.status!r}")
        if self.status != "used" and not self.reason:
            raise ValueError(f"indicator {self.id!r} has status {self.status!r}: give a reason")
        if self.coverage[0] > self.coverage[1]:
            raise ValueError(f"indicator {self.id!r}: coverage must be [first, last]")
        if self.replace_years and not self.replace_reason:
            raise ValueError(f"indicator {self.id!r} has replace_years: give replace_reason")
        for y in self.replace_years:
            if not (self.coverage[0] < y < self.coverage[1]):
                raise ValueError(f"indicator {self.id!r}: replace year {y} needs a year on each side in coverage")
        return self

    @property
    def cells(self) -> tuple:
        """What identifies the cells this entry reads: file, sheet, layout, header row and column (or row label)."""
        what = self.row_label if self.layout == "sheet_per_year" else self.column
        return (self.file, self.sheet, self.layout, self.header_row, self.label_column if self.layout ==
                "sheet_per_year" else self.province_column, what)

    @property
    def parsed_unit(self) -> Unit:
        """The parsed :class:`~spillover.data.units.Unit`."""
        return parse_unit(self.unit)

    @property
    def rule(self) -> Rule:
        """The declared rule, with ``min = 0`` for a unit that cannot be negative."""
        rule = self.check or Rule()
        if rule.min is None and self.parsed_unit.base in NON_NEGATIVE:
            rule = rule.model_copy(update={"min": 0.0})
        return rule


class PointsFill(_Strict):
    """One unit's location taken from another table (a unit the main points file lacks)."""

    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    id_column: str
    lon_column: str
    lat_column: str
    source_id: str = Field(description="the unit's id in that table")
    id: str = Field(description="the unit's id in the panel")
    name: str = ""


class Points(_Strict):
    """Unit locations (longitude, latitude in degrees) for distance-based weights.

    ``file`` is a CSV with one row per unit: ``id_column`` holds the panel's
    entity ids, ``lon_column`` / ``lat_column`` the coordinates; ``fill``
    adds units the file lacks from other tables. Read by
    :func:`spillover.data.points.read_points`, hashed like every indicator file.
    """

    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    id_column: str
    lon_column: str
    lat_column: str
    name_column: str | None = None
    datum: str = ""
    fill: list[PointsFill] = Field(default_factory=list)

    def files(self) -> list[tuple[str, str]]:
        """(file, sha256) of the points file and of every fill table."""
        return [(self.file, self.sha256)] + [(f.file, f.sha256) for f in self.fill]


class Catalog(_Strict):
    """The whole catalog.

    Attributes
    ----------
    schema_version : int
        Version of this schema (1).
    title : str
        One line saying what the catalog describes.
    root : str
        Folder the ``file`` paths are relative to, itself relative to the
        catalog file (default ``"."``).
    years : tuple of int
        First and last year of the study panel.
    indicator : list of Indicator
        The entries, in the order they are read.
    relations : list of str
        Plausibility relations between indicators, compared in base units
        (``"urban_pop <= pop"``); a cell that breaks one stops the build.
    derived_check : dict of str to Rule
        Plausibility rules of derived variables (the ``DERIVED`` table of
        :mod:`spillover.data.pipeline`, e.g. ``urban = {min = 0, max = 1}``),
        checked once they are computed: a value out of range stops the
        build naming the cell, a jump is flagged in the corrections.
    points : Points or None
        Unit locations for distance-based weights.
    path : pathlib.Path or None
        Where the catalog was loaded from (set by :func:`load_catalog`).
    """

    schema_version: Literal[1] = 1
    title: str = ""
    root: str = "."
    years: tuple[int, int]
    indicator: list[Indicator]
    relations: list[str] = Field(default_factory=list)
    derived_check: dict[str, Rule] = Field(default_factory=dict)
    points: Points | None = None
    path: Path | None = None

    @field_validator("indicator")
    @classmethod
    def _unique(cls, value: list[Indicator]) -> list[Indicator]:
        if not value:
            raise ValueError("the catalog lists no [[indicator]] entries; add at least one (see "
                             "spillover.data.catalog.Indicator for the fields)")
        seen: set[str] = set()
        for ind in value:
            if ind.id in seen:
                raise ValueError(f"indicator id {ind.id!r} appears twice")
            seen.add(ind.id)
        return value

    @model_validator(mode="after")
    def _same_file_same_hash(self) -> Catalog:
        hashes: dict[str, tuple[str, str]] = {}
        for ind in self.indicator:
            for loc in (ind, ind.uninterpolated):
                if loc is None:
                    continue
                prev = hashes.setdefault(loc.file, (loc.sha256, ind.id))
                if prev[0] != loc.sha256:
                    raise ValueError(
                        f"file {loc.file!r} has sha256 {prev[0][:12]}... in {prev[1]!r} "
                        f"but {loc.sha256[:12]}... in {ind.id!r}"
                    )
        if self.years[0] > self.years[1]:
            raise ValueError("years must be [first, last]")
        if self.years[0] == self.years[1]:
            raise ValueError(f"years = {list(self.years)} spans a single period: a panel needs at least two "
                             "years; give years = [first, last] with last > first")
        ids = {i.id for i in self.indicator}
        readers: dict[tuple, str] = {}
        for ind in self.indicator:
            if ind.reuses is not None and (ind.reuses not in ids or ind.reuses == ind.id):
                raise ValueError(f"indicator {ind.id!r}: reuses = {ind.reuses!r} is not the id of another entry")
            first = readers.setdefault(ind.cells, ind.id)
            if first != ind.id and ind.reuses != first and self.get(first).reuses != ind.id:
                where = f"column {ind.column!r}" if ind.layout != "sheet_per_year" else f"row {ind.row_label!r}"
                raise ValueError(
                    f"indicators {first!r} and {ind.id!r} read the same cells (file {ind.file!r}, sheet "
                    f"{ind.sheet!r}, {where}): a copy-paste slip? Point one of them at its own column, or, if "
                    f"reading the same cells twice is intended, write reuses = {first!r} in {ind.id!r}")
        for text in self.relations:
            rel = Relation.parse(text)
            unknown = [c for c in (rel.left, rel.right) if c not in ids]
            if unknown:
                raise ValueError(f"relation {text!r} names {unknown}, which are not indicator ids")
        return self

    @property
    def base_dir(self) -> Path:
        """Absolute folder the indicator files are relative to."""
        here = self.path.parent if self.path is not None else Path.cwd()
        return (here / self.root).resolve()

    def resolve(self, file: str) -> Path:
        """Absolute path of a catalog ``file`` entry."""
        p = Path(file)
        return p if p.is_absolute() else self.base_dir / p

    def get(self, indicator_id: str) -> Indicator:
        """The entry with this id (``KeyError`` if absent)."""
        for ind in self.indicator:
            if ind.id == indicator_id:
                return ind
        raise KeyError(indicator_id)

    def ids(self, *statuses: str) -> list[str]:
        """Ids of entries, optionally only those with the given statuses."""
        return [i.id for i in self.indicator if not statuses or i.status in statuses]


def _describe(err: ValidationError, raw: dict) -> list[str]:
    lines = []
    for e in err.errors():
        loc = list(e["loc"])
        where = ".".join(str(x) for x in loc)
        if len(loc) >= 2 and loc[0] == "indicator" and isinstance(loc[1], int):
            try:
                where = f"indicator[{loc[1]}] (id={raw['indicator'][loc[1]].get('id')!r})." + ".".join(
                    str(x) for x in loc[2:]
                )
            except (KeyError, IndexError, AttributeError, TypeError):
                pass
        lines.append(f"{where}: {e['msg']}")
    return lines


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Read and validate a catalog.

    Parameters
    ----------
    path : path-like, optional
        The TOML file; default ``data_raw/catalog.toml`` (see :func:`data_root`).

    Returns
    -------
    Catalog

    Raises
    ------
    DataError
        Missing file, invalid TOML, a schema violation or a unit that does
        not parse; the message names the catalog file and the entry.
    """
    path = Path(path) if path is not None else default_catalog_path()
    if not path.is_file():
        raise DataError(format_error("catalog file not found", file=str(path),
                                     hint="pass the path of a catalog.toml or set SPILLOVER_DATA_RAW"))
    try:
        raw = tomllib.loads(utf8_text(path, what="catalog"))
    except tomllib.TOMLDecodeError as exc:
        raise DataError(format_error(f"catalog is not valid TOML: {exc}", file=str(path),
                                     hint="fix the TOML syntax")) from None
    try:
        catalog = Catalog.model_validate({**raw, "path": path.resolve()})
    except ValidationError as exc:
        detail = "; ".join(_describe(exc, raw))
        raise DataError(format_error(f"catalog does not follow the schema: {detail}", file=str(path),
                                     hint="see spillover.data.catalog for the fields of an entry")) from None
    for ind in catalog.indicator:
        try:
            ind.parsed_unit
        except UnitParseError as exc:
            raise DataError(
                format_error(
                    f"unit does not parse: {exc}",
                    file=ind.file,
                    sheet=ind.sheet,
                    column=ind.column,
                    indicator=ind.id,
                    catalog=str(path),
                    hint="use e.g. '100 million yuan', '10,000 persons', 'yuan', '%', 'index', 'Mt CO2'",
                )
            ) from None
    return catalog
