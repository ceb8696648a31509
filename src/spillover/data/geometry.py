"""Province polygons for spatial weights and maps."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from spillover.data.catalog import data_root
from spillover.data.provinces import province_codes, provinces
from spillover.errors import DataError, format_error

GEOMETRY_FILE = "geo/china_provinces.gpkg"
#: Taiwan, Hong Kong and Macao are in the file but not in the study
NON_MAINLAND = ("710000", "810000", "820000")

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd


@functools.lru_cache(maxsize=2)
def _read(path: str) -> gpd.GeoDataFrame:
    import geopandas as gpd

    return gpd.read_file(path)


def default_geometry() -> gpd.GeoDataFrame:
    """The 31 mainland provinces as polygons.

    Reads ``data_raw/geo/china_provinces.gpkg`` (EPSG:4326), drops
    710000, 810000 and 820000, and adds the province table's names and
    NBS region.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``adcode`` (GB code string, equal to the panel's
        ``province``), ``province_zh``, ``province_en``, ``region`` and
        ``geometry``; sorted by ``adcode``.

    Raises
    ------
    DataError
        When the file is missing or does not hold exactly the 31 mainland
        provinces.
    """
    path = data_root() / GEOMETRY_FILE
    if not path.is_file():
        raise DataError(format_error("geometry file not found", file=str(path),
                                     hint="restore data_raw/geo/china_provinces.gpkg"))
    geo = _read(str(path)).copy()
    if "adcode" not in geo.columns:
        raise DataError(format_error("geometry file has no adcode column", file=str(path),
                                     hint="the layer needs GB codes in 'adcode'"))
    geo["adcode"] = geo["adcode"].astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
    geo = geo[~geo["adcode"].isin(NON_MAINLAND)]
    if sorted(geo["adcode"]) != sorted(province_codes()):
        extra = sorted(set(geo["adcode"]) ^ set(province_codes()))
        raise DataError(format_error("geometry does not hold exactly the 31 mainland provinces", file=str(path),
                                     province=extra[:5], hint="check the layer's adcode values"))
    import geopandas as gpd

    names = provinces().rename(columns={"province": "adcode"})[["adcode", "province_zh", "province_en", "region"]]
    geo = geo[["adcode", "geometry"]].merge(names, on="adcode", how="left")
    geo = geo[["adcode", "province_zh", "province_en", "region", "geometry"]]
    return gpd.GeoDataFrame(geo.sort_values("adcode").reset_index(drop=True), geometry="geometry", crs=geo.crs)
