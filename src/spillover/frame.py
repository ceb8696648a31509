"""PanelFrame: the one front end from a long DataFrame and a W to a validated panel.

Every estimator, LM test, Moran's I and analysis reads its data through
:func:`panel_frame`, so a bad panel gets the same message wherever it enters:
the entities against W's ids (both sides listed), rows without an entity or
a period, fewer than two units, duplicated (entity, period) rows, units
missing in a period (balanced panels), non-numeric or missing values (the
column, entity and period of the first bad cell). Periods stored as text that
read as numbers are ordered as numbers (:func:`period_codes`).

Stacking follows ``DESIGN.md``: time-major, period 1's N units in W's order,
then period 2's, ...; the codes and the order are computed once by hashing
(``pd.Index.get_indexer``, ``pd.factorize``, ``np.bincount``), O(N T).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sps

from spillover.errors import SpecificationError, WeightsError, format_error

_MAX_LISTED = 10


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def show(items: Iterable[Any]) -> str:
    """Up to ten items, sorted where they can be, for an error message."""
    items = [tuple(_py(v) for v in i) if isinstance(i, tuple) else _py(i) for i in items]
    try:
        items = sorted(items)
    except TypeError:
        pass
    head = ", ".join(repr(i) for i in items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return head + (f", ... ({more} more)" if more > 0 else "")


class Shape:
    """``n`` (units) and ``t`` (periods) of anything with ``ids`` and ``periods``."""

    ids: list
    periods: list

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def t(self) -> int:
        return len(self.periods)


@dataclass(frozen=True, eq=False)
class PanelFrame(Shape):
    """A validated long panel with W aligned to its entities.

    Attributes
    ----------
    data : DataFrame
        The user's rows in the user's order, index reset (``index`` keeps the original labels).
    entity, time : str
    w : (N, N) CSR array in the order of ``ids``
    ids, periods : unit ids (W's order) and sorted periods
    w_label : str
    unit, period : per row of ``data``, the position of its entity in ``ids`` and of its period in ``periods``
    order : rows of ``data`` in time-major order (balanced: row of period t, unit i at ``t * N + i``)
    """

    data: pd.DataFrame
    index: pd.Index
    entity: str
    time: str
    w: sps.csr_array
    ids: list
    periods: list
    w_label: str
    unit: np.ndarray
    period: np.ndarray
    order: np.ndarray

    @property
    def balanced(self) -> bool:
        return len(self.data) == self.n * self.t

    def stacked(self, values: np.ndarray) -> np.ndarray:
        """Rows of ``values`` (aligned with ``data``) in time-major order."""
        return np.asarray(values)[self.order]

    def check_finite(self, values: np.ndarray, names: Sequence[str], *, hint: str | None = None) -> None:
        """SpecificationError naming the column, entity and period of the first missing or infinite cell."""
        v = np.asarray(values, dtype=float).reshape(len(self.data), -1)
        bad = ~np.isfinite(v)
        if not bad.any():
            huge = np.abs(v) > LARGEST
            if huge.any():
                r, c = (int(i[0]) for i in np.nonzero(huge))
                raise SpecificationError(format_error(
                    f"{int(huge.sum())} value(s) above {LARGEST:g} in absolute value, first {v[r, c]:g}",
                    column=str(names[c]), entity=self.data[self.entity].iloc[r], time=self.data[self.time].iloc[r],
                    hint="their squares overflow double precision in the moment matrices; a garbled cell, or "
                    "rescale the column (e.g. divide by 1e6)"))
            return
        rows = np.flatnonzero(bad.any(axis=1))
        r = int(rows[0])
        raise SpecificationError(format_error(
            f"missing or infinite values in {len(rows)} row(s); first",
            column=str(names[int(np.argmax(bad[r]))]), entity=self.data[self.entity].iloc[r],
            time=self.data[self.time].iloc[r],
            hint=hint or "impute or drop those rows; spillover.fit_unbalanced fits fixed-effects SAR/SEM/SDM "
                         "on an unbalanced panel"))


#: largest magnitude of a model variable: squares summed over 1e7 rows stay finite (1e100^2 * 1e7 < 1.8e308)
LARGEST = 1e100


def _check_columns(data: Any, columns: Sequence[str], role: str) -> None:
    if not isinstance(data, pd.DataFrame):
        raise SpecificationError(format_error("data must be a pandas DataFrame", got=type(data).__name__))
    for col in columns:
        if not isinstance(col, str):
            option = role.split()[0]
            first = next(iter(col), None) if isinstance(col, (list, tuple)) else None
            raise SpecificationError(format_error(
                f"the {role} must be one column's name (str), got {type(col).__name__} {col!r}", option=option,
                hint=f"write {option}={first!r}" if isinstance(first, str) else "pass the column's name as text"))
        if col not in data.columns:
            raise SpecificationError(format_error(f"{role} {col!r} is not a column of the data",
                                                  hint=f"available columns: {show(map(str, data.columns))}"))


def unit_codes(values: pd.Series, ids: list, column: str, *, all_present: bool = True) -> np.ndarray:
    """Position in ``ids`` of each entity value; WeightsError listing both sides when they differ."""
    codes = pd.Index(ids).get_indexer(values)
    bad = codes < 0
    seen = np.bincount(codes[~bad], minlength=len(ids)) if all_present else np.ones(len(ids))
    if bad.any() or (seen == 0).any():
        extra = list(pd.unique(values[bad]))
        missing = [ids[i] for i in np.flatnonzero(seen == 0)]
        parts = ([f"w ids missing from the data: {show(missing)}"] if missing else []) + \
                ([f"entities not in w: {show(extra)}"] if extra else [])
        same_text = {str(v) for v in pd.unique(values)} == {str(i) for i in ids}
        hint = (f"the ids agree as text but differ in type: convert one side, e.g. df[{column!r}].astype(str)"
                if same_text else "build W on the same units as the panel, or subset the panel to W's ids")
        raise WeightsError(format_error("entities and w ids differ: " + "; ".join(parts), column=column, hint=hint))
    return codes.astype(np.int64)


def period_codes(values: pd.Series, column: str) -> tuple[np.ndarray, pd.Index]:
    """Code of each row's period in time order, and the periods in that order.

    Periods stored as text that all read as numbers (``'8', '9', '10'``, as
    from a CSV read as text) are ordered as numbers, not as text (where
    ``'10' < '8'``), so that lags and the stacking follow time. Two labels of
    the same number (``'8'`` and ``'08'``) are refused: they cannot be told
    apart as periods.
    """
    try:
        period, uniq = pd.factorize(values, sort=True)
    except TypeError as exc:
        raise SpecificationError(format_error("time values cannot be ordered", column=column, hint=str(exc))) from None
    if uniq.dtype == object or pd.api.types.is_string_dtype(uniq.dtype):
        text = pd.Series(uniq.astype(str), dtype=object)
        num = pd.to_numeric(text.str.strip(), errors="coerce")
        if num.notna().all() and len(uniq):
            same = num.duplicated(keep=False)
            if same.any():
                raise SpecificationError(format_error(
                    f"time labels {show(text[same])} are the same period written differently", column=column,
                    hint="write each period one way (e.g. convert the column with pd.to_numeric)"))
            order = np.argsort(num.to_numpy(), kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            period, uniq = rank[period], uniq[order]
    return period, uniq


def panel_frame(data: pd.DataFrame, w, entity: str, time: str, *, balanced: bool = True,
                variables: Sequence[str] = ()) -> PanelFrame:
    """Validate ``data`` against ``w`` and compute the time-major order once.

    Parameters
    ----------
    data : DataFrame
        Long panel, one row per (entity, period).
    w : libpysal W, or (matrix, ids)
        See :func:`spillover.weights.as_matrix`.
    entity, time : str
        Column names.
    balanced : bool
        Require every unit of W in every period (False: any subset in each period).
    variables : sequence of str
        Columns that must exist, be numeric and be finite.

    Raises
    ------
    SpecificationError
        ``entity``/``time`` not a column name (str), a missing column, rows
        without an entity or a period, fewer than 2 units, periods that name
        the same number twice (``'8'`` and ``'08'``), duplicated (entity,
        period) rows, units missing in a period (``balanced``), non-numeric
        or non-finite values.
    WeightsError
        Entities that are not ids of W, or (``balanced``) ids of W absent from the data.
    """
    from spillover.weights import as_matrix

    _check_columns(data, [entity], "entity column")
    _check_columns(data, [time], "time column")
    _check_columns(data, variables, "variable")
    W, ids, label = as_matrix(w)
    df = data.reset_index(drop=True)
    for col, role in ((entity, "entity"), (time, "time")):
        missing = df[col].isna().to_numpy()
        if missing.any():
            other = df[time if role == "entity" else entity]
            rows = list(data.index[missing])
            raise SpecificationError(format_error(
                f"{int(missing.sum())} row(s) without a value in the {role} column; rows {show(rows)}",
                column=col, **{("time" if role == "entity" else "entity"): [_py(v) for v in
                                                                           pd.unique(other[missing])[:_MAX_LISTED]]},
                hint=f"fill in the {role} of those rows or drop them"))
    unit = unit_codes(df[entity], ids, entity, all_present=balanced)
    n_units = len(np.unique(unit))
    if n_units < 2:
        raise SpecificationError(format_error(
            f"the panel has {n_units} unit(s); a spatial model needs at least 2 units (W links units to each other)",
            column=entity, units=[_py(v) for v in pd.unique(df[entity])],
            hint="use a non-spatial panel model (spillover.panel.fit_panel) for one unit's time series"))
    period, uniq = period_codes(df[time], time)
    periods = [_py(p) for p in uniq]
    n, t = len(ids), len(periods)
    key = period.astype(np.int64) * n + unit
    counts = np.bincount(key, minlength=n * t)
    if counts.max() > 1:
        dup = df.duplicated([entity, time], keep=False)
        pairs = list(df.loc[dup, [entity, time]].drop_duplicates().itertuples(index=False, name=None))
        raise SpecificationError(format_error(f"duplicate entity-period rows ({entity}, {time}): {show(pairs)}",
                                              hint="keep one row per unit and period (aggregate or drop)"))
    if balanced and len(df) != n * t:
        holes = counts.reshape(t, n) == 0
        p = int(np.argmax(holes.any(axis=1)))
        raise SpecificationError(format_error(
            f"unbalanced panel: {len(df)} rows for {n} units x {t} periods; units missing in {time} "
            f"{periods[p]!r}: {show(ids[i] for i in np.flatnonzero(holes[p]))}",
            hint="fill or drop the period; spillover.fit_unbalanced fits fixed-effects SAR/SEM/SDM on an "
                 "unbalanced panel"))
    order = np.argsort(key, kind="stable")
    fr = PanelFrame(data=df, index=data.index, entity=entity, time=time, w=W, ids=ids, periods=periods,
                    w_label=label, unit=unit, period=period.astype(np.int64), order=order)
    for var in variables:
        col = df[var]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise SpecificationError(format_error(f"variable {var!r} is not numeric", dtype=str(col.dtype)))
    if variables:
        fr.check_finite(df[list(variables)].to_numpy(dtype=float), list(variables),
                        hint="impute or drop the units/periods first")
    return fr
