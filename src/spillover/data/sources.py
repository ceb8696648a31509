"""A user's own panel file (csv, parquet, xlsx, Stata .dta) -> a validated long DataFrame.

:func:`read_panel` reads the file, checks the entity and time columns,
applies the optional filters (periods, units) and adds derived columns
(formula expressions such as ``"np.log(gdp)"``, ``"{exports / gdp}"``,
``"lag(x, 1)"``, evaluated by :mod:`spillover.formula`). Entity values are
kept as text (``1001``, ``"1001"`` and ``1001.0`` are the same unit), so that
they match the ids of a geometry or a weights file. Every problem is a
:class:`~spillover.errors.DataError` naming the file, column and values.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from spillover.data.text import LOCALES, PLAIN, NumberFormat, csv_rows, decode, parse_number
from spillover.errors import DataError, SpecificationError, format_error
from spillover.frame import show

#: File suffixes :func:`read_table` reads.
SUFFIXES = (".csv", ".parquet", ".xlsx", ".dta")


def read_table(path: str | Path, *, encoding: str | None = None, sheet: str | int = 0,
               numbers: NumberFormat = PLAIN) -> pd.DataFrame:
    """Read one table file by its suffix; a clear :class:`DataError` for every way it can fail.

    A CSV's encoding is detected unless given (:func:`spillover.data.text.decode`),
    every row must have the header's number of fields, and text cells are
    numbers only when written in ``numbers`` (a column of ``"4345,56"`` is
    an error that says to declare ``decimal = ","``, not a text column).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(format_error(f"cannot read {suffix or 'a file without suffix'!r} tables", file=str(path),
                                     hint=f"give one of {list(SUFFIXES)}"))
    if not path.is_file():
        raise DataError(format_error("panel file not found", file=str(path)))
    try:
        if suffix == ".csv":
            text, _ = decode(path, encoding, what="CSV file")
            csv_rows(text, file=str(path))
            df = pd.read_csv(io.StringIO(text), decimal=numbers.decimal, thousands=numbers.thousands or None)
        elif suffix == ".parquet":
            df = pd.read_parquet(path)
        elif suffix == ".xlsx":
            df = pd.read_excel(path, sheet_name=sheet, engine="openpyxl")
        else:
            df = pd.read_stata(path, convert_categoricals=False)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(format_error("the file is empty", file=str(path))) from None
    except pd.errors.ParserError as exc:
        raise DataError(format_error(f"malformed CSV: {str(exc).strip()}", file=str(path),
                                     hint="every row needs the header's number of fields")) from None
    except Exception as exc:  # noqa: BLE001 -- zip, parquet, Stata readers raise their own types
        raise DataError(format_error(f"cannot read the file as {suffix}: {type(exc).__name__}: {exc}",
                                     file=str(path), hint="check that the file is complete and of that format")) \
            from None
    if df.empty:
        raise DataError(format_error("the file has a header but no rows", file=str(path)))
    df.columns = [str(c).strip() for c in df.columns]
    _refuse_localised_numbers(df, str(path), numbers)
    return df


def _refuse_localised_numbers(df: pd.DataFrame, file: str, fmt: NumberFormat) -> None:
    """A text column whose cells are all numbers once a locale is declared is an error saying so."""
    for col in df.columns:
        if not (pd.api.types.is_object_dtype(df[col]) or pd.api.types.is_string_dtype(df[col])):
            continue
        cells = df[col].dropna().astype(str)
        cells = cells[cells.str.strip() != ""]
        if cells.empty or all(parse_number(v, fmt) is not None for v in cells):
            continue
        for other in LOCALES:
            if other != fmt and all(parse_number(v, other) is not None for v in cells):
                first = cells[cells.map(lambda v: parse_number(v, fmt) is None)]
                line = int(first.index[0]) + 2
                raise DataError(format_error(
                    f"column {col!r} holds numbers written with decimal {other.decimal!r} and thousands "
                    f"{other.thousands or 'none'!r} (e.g. {first.iloc[0]!r})", file=file, column=col, line=line,
                    hint=f"declare them: [data] decimal = {other.decimal!r}, thousands = {other.thousands!r} "
                    "(nothing is guessed, since '1,234' means 1234 or 1.234 by locale)"))


def entity_text(values: pd.Series) -> pd.Series:
    """Entity values as text: numbers without a trailing ``.0``, strings stripped."""
    if pd.api.types.is_float_dtype(values) and np.all(np.mod(values.dropna(), 1) == 0):
        values = values.astype("Int64")
    return values.astype(str).str.strip()


def derive(df: pd.DataFrame, derived: Mapping[str, str], entity: str, time: str, *, file: str = "") -> pd.DataFrame:
    """``df`` with one column per ``name = expression`` (formulaic syntax, ``lag(x, k)`` included), in order."""
    from spillover.formula import PanelLag, model_arrays

    out = df.copy()
    for name, expr in derived.items():
        if name in out.columns:
            raise DataError(format_error(f"derived column {name!r} already exists in the panel", file=file,
                                         hint="choose another name"))
        try:
            y, _, _ = model_arrays(f"{expr} ~ 1", out, lag=PanelLag.of(out, entity, time))
        except SpecificationError as exc:
            raise DataError(format_error(f"derived column {name!r} = {expr!r}: {exc}", file=file)) from None
        _check_derived(out, name, expr, np.asarray(y, dtype=float), entity, time, file)
        out[name] = y
    return out


def _check_derived(df: pd.DataFrame, name: str, expr: str, y: np.ndarray, entity: str, time: str,
                   file: str) -> None:
    """An infinite value, or NaN from finite inputs (not a lag's first period), is an error naming the inputs."""
    from spillover.formula import max_lag, variables

    inputs = sorted(variables(f"{expr} ~ 1") & set(df.columns))
    finite = np.ones(len(df), dtype=bool)
    for col in inputs:
        finite &= np.isfinite(pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float))
    bad = np.isinf(y) | (np.isnan(y) & finite & (max_lag(f"{expr} ~ 1") == 0))
    if not bad.any():
        return
    r = int(np.flatnonzero(bad)[0])
    values = ", ".join(f"{c} = {df[c].iloc[r]:g}" if isinstance(df[c].iloc[r], (int, float, np.number))
                       else f"{c} = {df[c].iloc[r]!r}" for c in inputs)
    raise DataError(format_error(
        f"derived column {name!r} = {expr!r} is {y[r]:g} in {int(bad.sum())} row(s); first where {values}",
        file=file or None, **{entity: df[entity].iloc[r], time: df[time].iloc[r]},
        hint="a division by zero or the log of a non-positive value: fix the input cell (a zero population?) "
        "or exclude the unit"))


def long_from_wide(df: pd.DataFrame, value: str, time: str, *, file: str = "") -> pd.DataFrame:
    """One row per unit and one column per period (columns named by integers) -> long, value in ``value``."""
    periods = [c for c in df.columns if str(c).strip().lstrip("-").isdigit()]
    if not periods:
        raise DataError(format_error("wide = ...: no period columns (columns named by integers, e.g. 1929)",
                                     file=file, hint=f"columns: {show(df.columns)}"))
    if time in df.columns or value in df.columns:
        raise DataError(format_error(f"wide = {value!r}: the file already has a column {time!r} or {value!r}",
                                     file=file))
    keep = [c for c in df.columns if c not in periods]
    long = df.melt(id_vars=keep, value_vars=periods, var_name=time, value_name=value)
    long[time] = long[time].astype(str).str.strip().astype(np.int64)
    return long


def read_panel(path: str | Path, *, entity: str, time: str, periods: Sequence[int] | None = None,
               units: Sequence[str] | None = None, derived: Mapping[str, str] | None = None,
               encoding: str | None = None, wide: str | None = None,
               numbers: NumberFormat = PLAIN) -> pd.DataFrame:
    """A long panel from a user's file, filtered and with its derived columns.

    Parameters
    ----------
    path : path
        csv, parquet, xlsx or Stata .dta; one row per unit and period.
    entity, time : str
        Column names; entity values become text, time values must be integers.
    periods : (first, last), optional
        Keep periods in this closed range (after the derived columns, so that
        a lag can read the period before ``first``).
    units : sequence of str, optional
        Keep only these units (as text).
    derived : mapping name -> expression, optional
        See :func:`derive`.
    encoding : str, optional
        Text encoding of a CSV file (default: detected).
    numbers : NumberFormat
        How text cells write numbers (decimal mark, thousands separator).
    wide : str, optional
        The file is wide (one row per unit, one column per period, named by
        integers): it is made long with the values in column ``wide``.

    Returns
    -------
    DataFrame sorted by (entity, time) with a fresh index.
    """
    file = str(path)
    df = read_table(path, encoding=encoding, numbers=numbers)
    if wide is not None:
        df = long_from_wide(df, wide, time, file=file)
    for role, col in (("entity", entity), ("time", time)):
        if col not in df.columns:
            raise DataError(format_error(f"the {role} column {col!r} is not in the file", file=file,
                                         hint=f"columns: {show(df.columns)}"))
    if df[entity].isna().any() or df[time].isna().any():
        bad = df.index[df[entity].isna() | df[time].isna()][:10] + 2
        raise DataError(format_error("rows without a unit or a period", file=file, rows=list(map(int, bad)),
                                     hint="every row needs both (line numbers count the header as 1)"))
    df[entity] = entity_text(df[entity])
    t = pd.to_numeric(df[time], errors="coerce")
    if t.isna().any() or not np.all(np.mod(t, 1) == 0):
        bad = df.loc[t.isna() | (np.mod(t.fillna(0), 1) != 0), time].unique()[:10]
        raise DataError(format_error("time values must be integers (years, or period numbers)", file=file,
                                     column=time, values=list(map(str, bad))))
    df[time] = t.astype(np.int64)
    dup = df.duplicated([entity, time], keep=False)
    if dup.any():
        pairs = list(df.loc[dup, [entity, time]].drop_duplicates().itertuples(index=False, name=None))
        raise DataError(format_error(f"duplicate ({entity}, {time}) rows: {show(pairs)}", file=file,
                                     hint="keep one row per unit and period"))
    return select(df, entity=entity, time=time, periods=periods, units=units, derived=derived, file=file)


def select(df: pd.DataFrame, *, entity: str, time: str, periods: Sequence[int] | None = None,
           units: Sequence[str] | None = None, derived: Mapping[str, str] | None = None,
           file: str = "") -> pd.DataFrame:
    """Derived columns (on the whole panel, so lags see earlier periods), then the unit and period filters."""
    for role, col in (("entity", entity), ("time", time)):
        if col not in df.columns:
            raise DataError(format_error(f"the {role} column {col!r} is not in the panel", file=file or None,
                                         hint=f"[data] {role} must name one of {show(df.columns)}"))
    df = df.sort_values([entity, time]).reset_index(drop=True)
    if derived:
        df = derive(df, derived, entity, time, file=file)
    if units is not None:
        wanted = [str(u) for u in units]
        absent = sorted(set(wanted) - set(df[entity].astype(str)))
        if absent:
            raise DataError(format_error(f"units not in the panel: {show(absent)}", file=file, column=entity))
        df = df[df[entity].astype(str).isin(wanted)]
    if periods is not None:
        first, last = periods
        df = df[(df[time] >= first) & (df[time] <= last)]
        if df.empty:
            raise DataError(format_error(f"no rows in periods {first}-{last}", file=file, column=time))
    return df.reset_index(drop=True)


def read_geometry(path: str | Path, id_col: str, *, ids: Sequence[str] | None = None, layer: str | None = None,
                  crs: str | None = None):
    """The units' geometry from any file geopandas reads, ids as text, restricted to ``ids`` and sorted.

    Units of the file that ``ids`` lacks are dropped (their links are not
    part of the study); ``ids`` missing from the file are an error listing
    them. Duplicate ids are an error. Ids that are integers on both sides
    match by value (a FIPS code ``"01"`` in the file is unit ``1`` of the panel). ``crs`` is set when the file declares
    none (a file with a CRS of its own keeps it; a different ``crs`` is an error).
    """
    import geopandas as gpd

    file = str(path)
    if not Path(path).exists():
        raise DataError(format_error("geometry file not found", file=file))
    try:
        geo = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as exc:  # noqa: BLE001 -- pyogrio/fiona/sqlite raise many types
        raise DataError(format_error(f"cannot read the geometry: {type(exc).__name__}: {str(exc).splitlines()[0]}",
                                     file=file, hint="check that the file is complete (shp: with .shx/.dbf)")) \
            from None
    if crs is not None:
        if geo.crs is None:
            geo = geo.set_crs(crs)
        elif not geo.crs.equals(crs):
            raise DataError(format_error(f"the file's CRS is {geo.crs.to_string()}, not {crs}", file=file,
                                         hint="drop [geometry] crs (it is only for files that declare none)"))
    if id_col not in geo.columns:
        raise DataError(format_error(f"the id column {id_col!r} is not in the geometry", file=file,
                                     hint=f"columns: {show(c for c in geo.columns if c != geo.geometry.name)}"))
    geo = geo.assign(**{id_col: entity_text(geo[id_col])})
    dup = sorted(set(geo.loc[geo[id_col].duplicated(), id_col]))
    if dup:
        raise DataError(format_error(f"repeated ids in the geometry: {show(dup)}", file=file, column=id_col,
                                     hint="dissolve multi-row units first (GeoDataFrame.dissolve)"))
    if ids is not None:
        want = [str(i) for i in ids]
        geo = geo.assign(**{id_col: _match_integer_ids(geo[id_col], want)})
        missing = sorted(set(want) - set(geo[id_col]))
        if missing:
            raise DataError(format_error(f"{len(missing)} unit(s) of the panel are not in the geometry: "
                                         f"{show(missing)}", file=file, column=id_col,
                                         hint="the geometry's id column must hold the panel's entity values"))
        geo = geo[geo[id_col].isin(want)]
    empty = sorted(geo.loc[geo.geometry.isna() | geo.geometry.is_empty, id_col])
    if empty:
        raise DataError(format_error(f"units without a geometry: {show(empty)}", file=file, column=id_col))
    return geo.sort_values(id_col).reset_index(drop=True)


def _match_integer_ids(found: pd.Series, wanted: Sequence[str]) -> pd.Series:
    """``found`` written as ``wanted`` writes the same integers (``"01"`` -> ``"1"``); else unchanged."""
    def as_int(values) -> pd.Series:
        return pd.to_numeric(pd.Series(list(values), dtype=str).str.strip(), errors="coerce")

    f, w = as_int(found), as_int(wanted)
    if f.isna().any() or w.isna().any() or set(found) >= set(wanted):
        return found
    by_value = dict(zip(w.astype(np.int64), wanted))
    if len(by_value) != len(wanted) or f.astype(np.int64).duplicated().any():
        return found
    return pd.Series([by_value.get(int(v), t) for v, t in zip(f, found)], index=found.index)
