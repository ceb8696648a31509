"""Shared panel helpers for the diagnostics: validation, time-major stacking, W.

Everything here follows the numerical conventions of ``DESIGN.md``:

* a panel is stacked **time-major** -- period 1's N units in ``w.id_order``,
  then period 2's, ... -- so an (N*T,) vector reshapes to a (T, N) array;
* the spatial lag of a stacked vector is ``(I_T kron W) v``, computed period by
  period without forming the Kronecker product;
* fixed-effects transformations are the within (demeaning) projections
  ``Q_entity = (I_T - J_T/T) kron I_N``, ``Q_time = I_T kron (I_N - J_N/N)`` and
  ``Q_twoways = Q_entity Q_time``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from libpysal.weights import W
from scipy import sparse

from spillover.errors import SpecificationError, WeightsError, format_error
from spillover.frame import Shape

FE_KINDS = ("none", "entity", "time", "twoways")

def as_libpysal_w(w: Any) -> W:
    """Return ``w`` as a :class:`libpysal.weights.W` (a Graph is converted)."""
    if isinstance(w, W):
        return w
    to_w = getattr(w, "to_W", None)
    if callable(to_w):
        converted = to_w()
        if isinstance(converted, W):
            return converted
    raise WeightsError(
        format_error(
            "w must be a libpysal.weights.W",
            got=type(w).__name__,
            hint="build it with spillover.weights or libpysal.weights",
        )
    )


def private_copy(w: W) -> W:
    """A copy of ``w`` carrying its *current* weights, so esda cannot mutate ``w``.

    esda's ``Moran``/``Moran_Local`` assign ``w.transform``; on the copy the
    transformation ``"O"`` means "the weights exactly as the caller gave them".
    """
    return W(
        {k: list(v) for k, v in w.neighbors.items()},
        {k: list(v) for k, v in w.weights.items()},
        id_order=list(w.id_order),
        silence_warnings=True,
    )


def sparse_w(w: W) -> sparse.csr_matrix:
    """W as a CSR matrix with rows and columns in ``w.id_order``."""
    return sparse.csr_matrix(w.sparse, dtype=float)


def trace_ww(wsp: sparse.spmatrix) -> tuple[float, float]:
    """Return ``(tr(W W), tr(W'W))`` without forming the products."""
    wsp = sparse.csr_matrix(wsp)
    tr_ww = float(wsp.multiply(wsp.T).sum())
    tr_wtw = float(wsp.multiply(wsp).sum())
    return tr_ww, tr_wtw


def year_seed(seed: int | None, year: Any) -> int:
    """A deterministic 32-bit seed for one period, derived from ``seed`` and ``year``.

    Uses :class:`numpy.random.SeedSequence` on ``(seed, key(year))`` where the
    key is the integer year, or a CRC32 of ``str(year)`` for other labels, so
    the same call gives the same draws on every run and platform.
    """
    base = 0 if seed is None else int(seed)
    try:
        key = int(year)
        if key != year:  # e.g. 2013.5
            raise ValueError
    except (TypeError, ValueError):
        key = zlib.crc32(str(year).encode("utf-8"))
    return int(np.random.SeedSequence([abs(base), abs(key)]).generate_state(1)[0])


@dataclass(frozen=True)
class PanelLayout(Shape):
    """A validated balanced panel in time-major order.

    Attributes
    ----------
    data : DataFrame
        The rows of the input, sorted by (time, position of the entity in
        ``w.id_order``), index reset.
    ids : list
        ``w.id_order`` (the N units).
    periods : list
        The T sorted time values.
    """

    data: pd.DataFrame
    ids: list
    periods: list

    def array(self, column: str) -> np.ndarray:
        """Column as a float (T, N) array: row t holds period t in ``w.id_order``."""
        return self.data[column].to_numpy(dtype=float).reshape(self.t, self.n)


def check_columns(df: pd.DataFrame, columns: Sequence[str], *, role: str = "variable") -> None:
    """Raise :class:`SpecificationError` naming any column missing from ``df`` (see :mod:`spillover.frame`)."""
    from spillover.frame import _check_columns

    _check_columns(df, columns, role)


def layout(
    df: pd.DataFrame,
    w: W,
    entity: str,
    time: str,
    variables: Sequence[str] = (),
) -> PanelLayout:
    """Validate a long panel against ``w`` and sort it time-major.

    Parameters
    ----------
    df : DataFrame
        Long panel, one row per (entity, time).
    w : libpysal.weights.W
        Weights whose ids are the entity values.
    entity, time : str
        Column names of the unit and the period.
    variables : sequence of str
        Columns that must exist, be numeric and be free of missing values.

    Raises
    ------
    SpecificationError
        A column is missing, a (entity, time) pair is duplicated, a period
        lacks some units (unbalanced), or a variable has missing values.
    WeightsError
        The set of entities differs from the ids of ``w`` (lists both sides).
    """
    from spillover.frame import panel_frame

    w = as_libpysal_w(w)
    fr = panel_frame(df, w, entity, time, variables=variables)
    return PanelLayout(data=fr.data.iloc[fr.order].reset_index(drop=True), ids=fr.ids, periods=fr.periods)


def spatial_lag(wsp: sparse.spmatrix, arr: np.ndarray) -> np.ndarray:
    """``(I_T kron W) v`` for ``v`` given as a (T, N) or (T, N, k) array.

    Row t of the result is ``W v_t``; delegates to
    :func:`spillover.spatial.transforms.spatial_lag`.
    """
    from spillover.spatial.transforms import spatial_lag as _lag

    arr = np.asarray(arr, dtype=float)
    t, n = arr.shape[:2]
    return _lag(wsp, arr.reshape(t * n, -1), n, t).reshape(arr.shape)


def demean(arr: np.ndarray, fe: str) -> np.ndarray:
    """Apply the within transformation for ``fe`` to a (T, N) or (T, N, k) array.

    ``"entity"`` subtracts each unit's time mean, ``"time"`` each period's
    cross-sectional mean, ``"twoways"`` both and adds back the grand mean
    (Baltagi 2021, sec. 3.2); delegates to
    :func:`spillover.spatial.transforms.demean`. ``"none"`` returns a copy.
    """
    from spillover.spatial.transforms import demean as _demean

    if fe not in FE_KINDS:
        raise SpecificationError(
            format_error("unknown fixed effects", fe=fe, hint=f"use one of {', '.join(FE_KINDS)}")
        )
    arr = np.asarray(arr, dtype=float)
    t, n = arr.shape[:2]
    return _demean(arr.reshape(t * n, -1), n, t, fe).reshape(arr.shape)
