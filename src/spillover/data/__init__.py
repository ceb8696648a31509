"""Provincial data: catalog, readers, province keys, the panel and its geometry.

Typical use::

    import spillover as sp
    panel = sp.data.default_panel()          # DataFrame, 31 provinces x 2013-2022
    geo = sp.data.default_geometry()         # GeoDataFrame with 'adcode'
    pts = sp.data.default_points()           # lon/lat of the 31 capitals (catalog [points])
    built = sp.data.build_panel()            # Panel: data, long, corrections, indices ...
"""

from __future__ import annotations

from spillover.data.catalog import Catalog, Indicator, data_root, default_catalog_path, load_catalog
from spillover.data.corrections import Correction, corrections_frame
from spillover.data.geometry import default_geometry
from spillover.data.points import default_points, read_points
from spillover.data.panel import REQUIRED_COLUMNS, Panel, validate_panel
from spillover.data.pipeline import DERIVED, build_panel, default_panel, derived_table, read_long, spot_checks
from spillover.data.provinces import PROVINCES, Province, provinces, resolve

__all__ = [
    "Catalog",
    "Correction",
    "DERIVED",
    "Indicator",
    "PROVINCES",
    "Panel",
    "Province",
    "REQUIRED_COLUMNS",
    "build_panel",
    "corrections_frame",
    "data_root",
    "default_catalog_path",
    "default_geometry",
    "default_panel",
    "default_points",
    "derived_table",
    "load_catalog",
    "provinces",
    "read_long",
    "read_points",
    "resolve",
    "spot_checks",
    "validate_panel",
]
