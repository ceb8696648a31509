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
from spillover.errors import DataError, format_error


def _code(value) -> str:
    """An id as text: ``110000``, ``110000.0`` and ``"110000"`` -> ``"110000"``."""
    text = str(value).strip()
    return text[:-2] if text.endswith(".0") else text


def _column(frame: pd.DataFrame, name: str, file: str) -> pd.Series:
    if name not in frame.columns:
        raise DataError(format_error(f"column {name!r} not in the points table", file=file,
                                     hint=f"columns: {list(map(str, frame.columns))}"))
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
    out = pd.DataFrame({
        "lon": _number(_column(table, spec.lon_column, spec.file), spec.file),
        "lat": _number(_column(table, spec.lat_column, spec.file), spec.file),
        "name": (_column(table, spec.name_column, spec.file) if spec.name_column else pd.Series([""] * len(table)))
        .to_numpy(),
    }, index=pd.Index(_column(table, spec.id_column, spec.file).map(_code), name="id"))
    for fill in spec.fill:
        fpath = raw.path(fill, "points.fill")
        kw = {"dtype": {fill.id_column: str}}
        src = pd.read_csv(fpath, **kw) if fpath.suffix.lower() == ".csv" else pd.read_excel(fpath, **kw)
        row = src[_column(src, fill.id_column, fill.file).map(_code) == fill.source_id]
        if row.empty:
            raise DataError(format_error(f"id {fill.source_id!r} not in the fill table", file=fill.file,
                                         column=fill.id_column))
        out.loc[fill.id] = [float(row[fill.lon_column].iloc[0]), float(row[fill.lat_column].iloc[0]), fill.name]
    dup = out.index[out.index.duplicated()].tolist()
    bad = out.index[~(out["lon"].between(-180, 180) & out["lat"].between(-90, 90))].tolist()
    if dup or bad:
        raise DataError(format_error("points: repeated ids or coordinates that are not lon/lat degrees",
                                     file=spec.file, ids=(dup or bad)[:10]))
    return out.sort_index()


def default_points() -> pd.DataFrame:
    """:func:`read_points` of the bundled catalog (the 31 provincial capitals)."""
    return read_points(load_catalog())
