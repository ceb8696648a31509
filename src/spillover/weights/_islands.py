"""The polygon nearest to an island, found without measuring the distance to every polygon.

``contiguity(..., islands="nearest")`` links a unit without contiguity
neighbours to the unit whose polygon is nearest. For a geographic CRS the
distance is planar in an azimuthal equidistant (aeqd) projection centred on
the island, so each island needs its own projection; projecting all N
polygons for every island (and measuring all N distances) cost about a second
per island for the 2,875 counties of China.

Here the exact distance is taken only for *candidates*: the polygons within a
lon/lat distance that provably contains the nearest one.

1. ``g0``: the exact (aeqd) gap to the polygon nearest in lon/lat degrees
   (the spatial index's ``nearest``). The true nearest gap is ``<= g0``.
2. A gap ``g`` in aeqd metres bounds the geodesic between the two closest
   points (the aeqd scale factors are >= 1, so planar lengths are never
   shorter than the surface path they show). Along a surface path of length
   ``g``, ``dphi^2 + dlambda^2 <= (g / (M_min cos(phi_max)))^2`` radians^2,
   with ``M_min = 6,335.4 km`` the smallest radius of curvature of the WGS84
   ellipsoid (the meridian radius at the equator) and ``phi_max`` the largest
   latitude the path can reach. So every polygon with gap ``<= g0`` lies
   within that many degrees of the island; a 10 % and 0.01 degree margin
   covers the difference between straight edges in lon/lat and in the
   projection.
3. The exact aeqd distance on those candidates; the first polygon (in row
   order) at the smallest gap, as a full scan's ``argmin`` would pick.

Near the poles (the band would reach 85 degrees) or across the antimeridian
the lon/lat bound is useless, and every polygon is a candidate. In a
projected CRS the gap is the planar distance itself, and the candidates are
the polygons within ``g0``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Smallest radius of curvature of the WGS84 ellipsoid, a (1 - e^2), in metres.
M_MIN_M = 6_335_439.0
_POLAR_LIMIT_DEG = 85.0
_MARGIN, _SLACK_DEG = 1.1, 0.01


def nearest_polygon(geo: Any, i: int) -> tuple[int, float, str]:
    """Row of the polygon nearest to polygon ``i``, the gap, and its unit ("km" or "crs units").

    The same answer as measuring the distance from ``i`` to every polygon
    (for a geographic CRS in an aeqd projection centred on ``i``'s
    representative point) and taking the first smallest one.
    """
    gs = geo.geometry
    geographic = gs.crs is not None and gs.crs.is_geographic
    project = _aeqd(gs.iloc[i]) if geographic else None
    first = _first_other(gs, i)
    g0 = _gaps(gs, i, np.array([first]), project)[0]
    rows = _candidates(gs, i, g0, geographic)
    gaps = _gaps(gs, i, rows, project)
    k = int(np.argmin(gaps))
    gap = float(gaps[k])
    return int(rows[k]), gap / 1000.0 if geographic else gap, "km" if geographic else "crs units"


def _aeqd(geom: Any) -> str:
    c = geom.representative_point()
    return f"+proj=aeqd +lat_0={c.y} +lon_0={c.x} +datum=WGS84 +units=m"


def _first_other(gs: Any, i: int) -> int:
    """A polygon other than ``i`` that the spatial index finds nearest to it (in CRS units)."""
    near = gs.sindex.nearest(gs.iloc[[i]], return_all=True, exclusive=True)[1]
    others = near[near != i]
    if others.size:
        return int(others.min())
    return 0 if i else 1  # only copies of i's own geometry (left out as equal) remain: any other row will do


def _gaps(gs: Any, i: int, rows: np.ndarray, project: str | None) -> np.ndarray:
    """Distances from polygon ``i`` to the polygons ``rows`` (aeqd metres or CRS units); ``i`` itself -> inf."""
    sub = gs.iloc[np.concatenate([[i], rows])]
    if project is not None:
        sub = sub.to_crs(project)
    d = np.array(sub.iloc[1:].distance(sub.iloc[0]), dtype=float)
    d[rows == i] = np.inf
    return d


def _candidates(gs: Any, i: int, g0: float, geographic: bool) -> np.ndarray:
    """Rows (sorted) of every polygon that can be as near to ``i`` as ``g0``."""
    geom = gs.iloc[i]
    if not geographic:
        return _within(gs, geom, g0 * (1 + 1e-9) + 1e-9)
    band = _degree_band(geom, g0)
    if band is None:
        return np.arange(len(gs))
    return _within(gs, geom, band)


def _degree_band(geom: Any, g0: float) -> float | None:
    """Lon/lat distance (degrees) containing every polygon within ``g0`` metres of ``geom``, or None."""
    minx, miny, maxx, maxy = geom.bounds
    reach = np.degrees(g0 / M_MIN_M)
    phi_max = max(abs(miny), abs(maxy)) + reach
    if phi_max >= _POLAR_LIMIT_DEG:
        return None
    band = _MARGIN * reach / np.cos(np.radians(phi_max)) + _SLACK_DEG
    if minx - band < -180.0 or maxx + band > 180.0:
        return None
    return float(band)


def _within(gs: Any, geom: Any, distance: float) -> np.ndarray:
    hits = gs.sindex.query(geom, predicate="dwithin", distance=distance)
    return np.unique(hits)
