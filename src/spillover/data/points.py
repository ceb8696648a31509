"""Unit locations from the catalog's ``[points]`` entry, for distance-based weights.

The weights builders take coordinates as arguments and never read
``data_raw/``; this module is where a study's locations are read, checked
against their sha256 like every indicator file, and listed in the manifest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spillover.data.catalog import Catalog, load_catalog
from spillover.data.readers import RawFiles
from spillover.errors import DataError, WeightsError, format_error


def _code(value) -> str:
    """An id as text: ``110000``, ``110000.0`` and ``"110000"`` -> ``"110000"``."""
    text = str(value).strip()
    return text[:-2] if text.endswith(".0") else text


def _column(frame: pd.DataFrame, name: str, file: str, option: str | None = None) -> pd.Series:
    if name not in frame.columns:
        raise DataError(format_error(f"column {name!r} not in the points table", file=file, column=name,
                                     option=option,
                                     hint=f"the file's columns are {list(map(str, frame.columns))}; "
                                          f"set {option or 'the option'} to one of them"))
    return frame[name]


def _number(col: pd.Series, file: str) -> np.ndarray:
    try:
        return col.astype(float).to_numpy()
    except (TypeError, ValueError):
        raise DataError(format_error(f"column {col.name!r} of the points table is not numeric", file=file)) from None


def read_points(catalog: Catalog) -> pd.DataFrame:
    """Longitude and latitude (degrees) of every unit, indexed by entity id (text), sorted.

    Columns ``lon``, ``lat`` and ``name``. Raises :class:`DataError` when the
    catalog has no ``[points]`` entry, a file's sha256 differs, a column is
    missing, an id repeats or a coordinate is not a finite number in range.
    """
    spec = catalog.points
    if spec is None:
        raise DataError(format_error("the catalog has no [points] entry", file=str(catalog.path),
                                     hint="add [points] (file, sha256, id_column, lon_column, lat_column) or "
                                          "pass coordinates to the weights builder"))
    raw = RawFiles(catalog)
    path = raw.path(spec, "points")
    table = pd.read_csv(path, encoding="utf-8-sig", dtype={spec.id_column: str})
    ids = _column(table, spec.id_column, spec.file, "id_column")
    out = pd.DataFrame({
        "lon": _number(_column(table, spec.lon_column, spec.file, "lon_column"), spec.file),
        "lat": _number(_column(table, spec.lat_column, spec.file, "lat_column"), spec.file),
        "name": (_column(table, spec.name_column, spec.file, "name_column") if spec.name_column
                 else pd.Series([""] * len(table))).to_numpy(),
    }, index=pd.Index(ids.map(_code), name="id"))
    if spec.fill:  # appended, not assigned: a fill for a unit the file has is a repeated id, not an overwrite
        fills = pd.DataFrame([_fill_row(raw, f) for f in spec.fill], columns=out.columns,
                             index=pd.Index([f.id for f in spec.fill], name="id"))
        out = pd.concat([out, fills])
    _check_points(out, spec)
    return out.sort_index()


def _fill_row(raw: RawFiles, fill) -> list:
    """(lon, lat, name) of one ``[[points.fill]]`` unit."""
    fpath = raw.path(fill, "points.fill")
    kw = {"dtype": {fill.id_column: str}}
    src = pd.read_csv(fpath, **kw) if fpath.suffix.lower() == ".csv" else pd.read_excel(fpath, **kw)
    row = src[_column(src, fill.id_column, fill.file, "points.fill.id_column").map(_code) == fill.source_id]
    if row.empty:
        raise DataError(format_error(f"id {fill.source_id!r} not in the fill table", file=fill.file,
                                     column=fill.id_column, option="points.fill.source_id",
                                     hint="give the unit's id as the fill table writes it"))
    lon = _column(row, fill.lon_column, fill.file, "points.fill.lon_column").iloc[0]
    lat = _column(row, fill.lat_column, fill.file, "points.fill.lat_column").iloc[0]
    return [float(lon), float(lat), fill.name]


def _check_points(out: pd.DataFrame, spec) -> None:
    """Ids unique, coordinates longitude/latitude degrees (the weights builders' check, with its swap hint)."""
    from spillover.weights import check_lonlat

    dup = sorted(set(out.index[out.index.duplicated()]))
    if dup:
        raise DataError(format_error(f"{len(dup)} id(s) appear more than once in the points: {dup[:10]}",
                                     file=spec.file, column=spec.id_column, ids=dup[:10],
                                     hint="one row per unit: remove the repeated rows (or a [[points.fill]] "
                                          "for a unit the file already has)"))
    try:
        check_lonlat(out, file=spec.file, columns=[spec.lon_column, spec.lat_column])
    except WeightsError as exc:
        raise DataError(f"points: {exc}") from None


def default_points() -> pd.DataFrame:
    """:func:`read_points` of the bundled catalog (the 31 provincial capitals)."""
    return read_points(load_catalog())
