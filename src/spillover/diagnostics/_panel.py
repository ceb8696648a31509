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
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from libpysal.weights import W
from scipy import sparse

from spillover.errors import SpecificationError, WeightsError, format_error

FE_KINDS = ("none", "entity", "time", "twoways")

_MAX_LISTED = 10


def _py(value: Any) -> Any:
    """A NumPy scalar as the equivalent Python scalar (for readable messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _show(items: Iterable[Any]) -> str:
    """Render up to ``_MAX_LISTED`` items for an error message."""
    items = [tuple(_py(v) for v in i) if isinstance(i, tuple) else _py(i) for i in items]
    try:
        items = sorted(items)
    except TypeError:
        pass
    head = ", ".join(repr(i) for i in items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return head + (f", ... ({more} more)" if more > 0 else "")


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
class PanelLayout:
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

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def t(self) -> int:
        return len(self.periods)

    def array(self, column: str) -> np.ndarray:
        """Column as a float (T, N) array: row t holds period t in ``w.id_order``."""
        return self.data[column].to_numpy(dtype=float).reshape(self.t, self.n)


def check_columns(df: pd.DataFrame, columns: Sequence[str], *, role: str = "variable") -> None:
    """Raise :class:`SpecificationError` naming any column missing from ``df``."""
    if not isinstance(df, pd.DataFrame):
        raise SpecificationError(
            format_error("data must be a pandas DataFrame", got=type(df).__name__)
        )
    for col in columns:
        if col not in df.columns:
            raise SpecificationError(
                format_error(
                    f"{role} {col!r} is not a column of the data",
                    hint=f"available columns: {_show(map(str, df.columns))}",
                )
            )


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
    check_columns(df, [entity], role="entity column")
    check_columns(df, [time], role="time column")
    check_columns(df, variables)
    w = as_libpysal_w(w)
    ids = list(w.id_order)

    ent = df[entity]
    present = set(pd.unique(ent))
    wanted = set(ids)
    if present != wanted:
        missing = wanted - present
        extra = present - wanted
        hint = "the entities of the data must be exactly the ids of w"
        if missing and extra and {str(i) for i in missing} & {str(e) for e in extra}:
            hint = (
                f"entity values look like {type(next(iter(extra))).__name__} but w ids "
                f"are {type(next(iter(missing))).__name__}; convert one side, "
                f"e.g. df[{entity!r}].astype(str)"
            )
        parts = []
        if missing:
            parts.append(f"w ids missing from the data: {_show(missing)}")
        if extra:
            parts.append(f"entities not in w: {_show(extra)}")
        raise WeightsError(
            format_error("entities and w ids differ: " + "; ".join(parts), column=entity, hint=hint)
        )

    dup = df.duplicated(subset=[entity, time], keep=False)
    if dup.any():
        dups = df.loc[dup, [entity, time]].drop_duplicates()
        pairs = list(dups.itertuples(index=False, name=None))
        raise SpecificationError(
            format_error(
                f"duplicated ({entity}, {time}) rows: {_show(pairs)}",
                hint="keep one row per unit and period",
            )
        )

    try:
        periods = [_py(p) for p in sorted(pd.unique(df[time]))]
    except TypeError as exc:
        raise SpecificationError(
            format_error("time values cannot be ordered", column=time, hint=str(exc))
        ) from None
    counts = df.groupby(time, sort=False)[entity].nunique()
    for period in periods:
        if counts[period] != len(ids):
            have = set(df.loc[df[time] == period, entity])
            raise SpecificationError(
                format_error(
                    f"unbalanced panel: units missing in {time} {period!r}: {_show(wanted - have)}",
                    hint="the diagnostics need every unit of w in every period; "
                    "fill or drop the period",
                )
            )

    pos = {k: i for i, k in enumerate(ids)}
    order_t = {p: i for i, p in enumerate(periods)}
    key = df[time].map(order_t).to_numpy() * len(ids) + df[entity].map(pos).to_numpy()
    data = df.iloc[np.argsort(key, kind="stable")].reset_index(drop=True)

    for var in variables:
        col = data[var]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise SpecificationError(
                format_error(f"variable {var!r} is not numeric", dtype=str(col.dtype))
            )
        bad = ~np.isfinite(col.to_numpy(dtype=float))
        if bad.any():
            where = list(data.loc[bad, [entity, time]].itertuples(index=False, name=None))
            raise SpecificationError(
                format_error(
                    f"variable {var!r} has missing or infinite values at ({entity}, {time}): "
                    f"{_show(where)}",
                    hint="impute or drop the units/periods before testing",
                )
            )
    return PanelLayout(data=data, ids=ids, periods=list(periods))


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
