"""What a builder hands back: a libpysal ``W`` (per-unit lists) or, for large N, a libpysal ``WSP``.

The builders of point-based weights (k nearest neighbours, distance band,
inverse distance, exponential decay) compute one CSR matrix. ``output="W"``
turns it into a :class:`libpysal.weights.W`, whose neighbour and weight
dictionaries cost Python objects for every link (about 30 s and 2 GB for a
million units with six neighbours each, and as much again for ``w.sparse``).
``output="sparse"`` returns :class:`libpysal.weights.WSP`, libpysal's thin
weights class: the matrix (``.sparse``), the ids (``.id_order``) and ``.n``.
Everything that estimates with W reads only those two
(:func:`spillover.weights.as_matrix`), so a WSP goes where a W goes;
``wsp.to_W()`` gives the full W when a tool needs one. The transform is
applied to the matrix itself and recorded in ``wsp.spillover_meta``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sps
from libpysal.weights import WSP, W

from spillover.errors import SpecificationError, format_error

OUTPUTS = ("W", "sparse")


def check_output(output: str) -> str:
    """``output`` when it is one of :data:`OUTPUTS`, else a SpecificationError naming the option."""
    if output not in OUTPUTS:
        raise SpecificationError(format_error(
            f"unknown output {output!r}", option="output",
            hint="use 'W' (a libpysal W with per-unit lists; comfortable up to about 100,000 units) or "
                 "'sparse' (a libpysal WSP: the CSR matrix and its ids, for large N)"))
    return output


def neighbour_lists(m: sps.csr_array, ids: Sequence[str]) -> dict[str, list[str]]:
    """``ids[i]`` -> the ids of the stored cells of row i of ``m``, in column order."""
    names = np.asarray(ids, dtype=object)[m.indices]
    return dict(zip(ids, (a.tolist() for a in np.split(names, m.indptr[1:-1])), strict=True))


def to_w(m: sps.csr_array, ids: Sequence[str]) -> W:
    """A libpysal ``W`` (transform "O") whose neighbours of ``ids[i]`` are the nonzero cells of row i."""
    ids = list(ids)
    weights = dict(zip(ids, (a.tolist() for a in np.split(m.data.astype(float), m.indptr[1:-1])), strict=True))
    return W(neighbour_lists(m, ids), weights, id_order=ids, silence_warnings=True)


def transformed(m: sps.csr_array, transform: str) -> sps.csr_array:
    """``m`` under libpysal's transform "R" (rows divided by their sums), "B" (binary) or "O" (as built)."""
    out = sps.csr_array(m, dtype=float, copy=True)
    if transform == "B":
        out.data[:] = 1.0
    elif transform == "R":
        sums = np.asarray(out.sum(axis=1)).ravel()  # row by row in column order, as libpysal sums a row
        out.data /= np.repeat(sums, np.diff(out.indptr))
    elif transform != "O":
        raise SpecificationError(format_error(
            f"transform {transform!r} is not available with output='sparse'", option="transform",
            hint="use 'r', 'b' or None with output='sparse', or output='W' for libpysal's 'd' and 'v'"))
    return out


def to_sparse_w(m: sps.csr_array, ids: Sequence[str], transform: str, meta: dict[str, Any]) -> WSP:
    """A libpysal ``WSP`` of ``m`` under ``transform``, with ``spillover_meta`` (islands = empty rows)."""
    ids = list(ids)
    mat = transformed(m, transform)
    wsp = WSP(sps.csr_matrix(mat), id_order=ids)
    empty = np.flatnonzero(np.diff(mat.indptr) == 0)
    wsp.spillover_meta = {**meta, "transform": transform, "output": "sparse",
                          "islands": [ids[i] for i in empty]}
    return wsp
