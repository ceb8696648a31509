"""Neighbour pairs of points on the sphere from a k-d tree of unit vectors (scipy ``cKDTree``).

The chord between two unit vectors, ``2 sin(d / 2R)``, grows with the
great-circle distance ``d`` as long as ``d <= pi R``, so the k nearest
neighbours by chord are the k nearest by arc, and a distance band ``d <= c``
is the chord band ``<= 2 sin(c / 2R)``. That is how libpysal's arc
``KNN`` / ``DistanceBand`` work too (``libpysal.cg.KDTree(...,
distance_metric="arc")`` wraps a ``cKDTree`` of the same unit vectors); here
the vectors are computed for all points at once, the queries run on every
core (``workers=-1``: each point's answer does not depend on the others, so
the result is the same on any number of workers) and the pairs go straight
into a sparse matrix, with no per-unit lists.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sps
from scipy.spatial import cKDTree

#: libpysal's arc k-d tree is a cKDTree with 10 points a leaf: the same tree breaks ties the same way.
LEAFSIZE = 10


def unit_vectors(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """(n, 3) unit vectors of lon/lat degrees, in libpysal's ``cg.sphere.toXYZ`` convention.

    The same parametrisation (longitude + pi, colatitude) gives the same
    vectors, bit for bit, as libpysal's arc k-d tree; with the same leaf size
    the tree is the same, and ties between equidistant neighbours are broken
    the same way.
    """
    phi = np.radians(np.asarray(lon, dtype=float)) + np.pi
    theta = np.radians(np.asarray(lat, dtype=float)) + np.pi / 2
    sin_t = np.sin(theta)
    return np.column_stack([sin_t * np.cos(phi), sin_t * np.sin(phi), np.cos(theta)])


def knn_pairs(xyz: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of each point's ``k`` nearest other points (row-major, nearest first).

    libpysal ``KNN``'s rule: ask for ``k + 1`` points and drop the point
    itself; when ``k + 1`` copies of a location leave the point itself out of
    its own answer, drop the farthest instead.
    """
    n = len(xyz)
    _, idx = cKDTree(xyz, leafsize=LEAFSIZE).query(xyz, k=k + 1, workers=-1)
    keep = idx != np.arange(n)[:, None]
    keep[keep.sum(axis=1) == k + 1, -1] = False
    return np.repeat(np.arange(n), k), idx[keep]


def band_pairs(xyz: np.ndarray, chord: float) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair ``(i, j)``, ``i != j``, of points within ``chord`` of each other.

    Sorted by row, then column. ``chord`` is a Euclidean distance between
    unit vectors (pass it with a little slack and filter the exact
    distances afterwards).
    """
    pairs = cKDTree(xyz, leafsize=LEAFSIZE).query_pairs(r=chord, output_type="ndarray")
    rows = np.concatenate([pairs[:, 0], pairs[:, 1]])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0]])
    order = np.lexsort((cols, rows))
    return rows[order], cols[order]


def chord_of_arc(arc_km: float, radius_km: float) -> float:
    """Chord between unit vectors ``arc_km`` apart on a sphere of ``radius_km``, with a little slack."""
    half = min(arc_km / (2.0 * radius_km), np.pi / 2)
    return 2.0 * np.sin(half) * (1.0 + 1e-9) + 1e-12


def csr(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n: int) -> sps.csr_array:
    """An n x n CSR array of the given cells (indices sorted within each row, explicit zeros dropped)."""
    m = sps.csr_array((values, (rows, cols)), shape=(n, n))
    m.sum_duplicates()
    m.eliminate_zeros()
    return m
