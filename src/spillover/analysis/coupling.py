"""Coupling coordination degree of two systems.

For two subsystem indices :math:`U_1, U_2 \\in [0, 1]` of the same unit and
period (the physics "capacity coupling" definition as carried over to
regional systems by Liu, Li & Song 2005 and the literature after it),

.. math::

    C = \\frac{2\\sqrt{U_1 U_2}}{U_1 + U_2}, \\qquad
    T = a U_1 + b U_2, \\qquad D = \\sqrt{C\\,T}.

The coupling degree is written in the two-system form
:math:`C = 2\\sqrt{U_1 U_2}/(U_1 + U_2)`; the form
:math:`C = [U_1 U_2 / ((U_1 + U_2)/2)^2]^{1/2}` found in other papers is
algebraically the same number. (Papers that use
:math:`C = \\{U_1 U_2/(U_1+U_2)^2\\}^{1/2}` without the factor 2 get
:math:`C/2`; that variant is not used here.) :math:`C \\in [0, 1]` equals
one when :math:`U_1 = U_2`. When :math:`U_1 = U_2 = 0`, :math:`C` is
undefined (NaN) while :math:`T = 0` and hence :math:`D = 0` (the limit of
:math:`\\sqrt{C T}` as :math:`T \\to 0`, since :math:`C \\le 1`).

:math:`D` is classed in ten steps of 0.1, each interval closed on the left
(``D = 0.3`` is "mild disorder") and the last closed on both sides:

====== ===================================
D      class
====== ===================================
0-0.1  extreme disorder
0.1-   serious disorder
0.2-   moderate disorder
0.3-   mild disorder
0.4-   on the verge of disorder
0.5-   barely coordinated
0.6-   primary coordination
0.7-   intermediate coordination
0.8-   good coordination
0.9-1  high-quality coordination
====== ===================================

References
----------
Liu, Y., Li, R., & Song, X. (2005). Analysis of coupling degrees of
urbanization and ecological environment in China [in Chinese]. Journal of
Natural Resources, 20(1), 105-112.

Wang, S., Kong, W., Ren, L., Zhi, D., & Dai, B. (2021). Research on
misuses and modification of coupling coordination degree model in China
[in Chinese]. Journal of Natural Resources, 36(3), 793-810.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from spillover.errors import SpecificationError, format_error

__all__ = ["coupling", "coordination_class", "COORDINATION_CLASSES"]

#: The ten coordination classes, lowest first; class k covers D in [k/10, (k+1)/10).
COORDINATION_CLASSES: tuple[str, ...] = (
    "extreme disorder", "serious disorder", "moderate disorder", "mild disorder", "on the verge of disorder",
    "barely coordinated", "primary coordination", "intermediate coordination", "good coordination",
    "high-quality coordination",
)


def coordination_class(D) -> np.ndarray:
    """Class name of each coordination degree ``D`` in [0, 1] (module table).

    Intervals are closed on the left; ``D = 1`` is "high-quality
    coordination". ``D`` is rounded to 12 decimals before classing so that
    e.g. ``sqrt(0.09) = 0.30000000000000004`` and ``0.3`` fall in the same
    class. NaN gives None.
    """
    d = np.asarray(D, dtype=float)
    k = np.floor(np.round(np.where(np.isnan(d), 0.0, d) * 10.0, 12)).astype(int)
    names = np.asarray(COORDINATION_CLASSES, dtype=object)[np.clip(k, 0, 9)]
    return np.where(np.isnan(d), None, names)


def _check(data: pd.DataFrame, columns: Sequence[str], entity: str, time: str) -> None:
    for c in (entity, time, *columns):
        if c not in data.columns:
            raise SpecificationError(format_error("column not in the data", column=c,
                                                  hint=f"available columns: {list(data.columns)[:20]}"))
    dup = data.duplicated([entity, time])
    if dup.any():
        r = data[dup].iloc[0]
        raise SpecificationError(format_error("unit-period appears twice", unit=r[entity], period=r[time],
                                              hint="pass one row per unit and period"))
    for c in columns:
        if not pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_bool_dtype(data[c]):
            raise SpecificationError(format_error("index column is not numeric", column=c,
                                                  hint="convert the column to numbers in [0, 1]"))
        v = data[c].to_numpy(dtype=float)
        bad = ~((v >= 0) & (v <= 1))  # NaN and inf fail too
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SpecificationError(format_error(
                f"index value {v[i]!r} is not in [0, 1]", column=c, unit=data[entity].iloc[i],
                period=data[time].iloc[i],
                hint="coupling needs normalised subsystem indices (e.g. an EntropyIndex score); "
                     "rescale the column or fill the missing value"))


def coupling(data: pd.DataFrame, a: str, b: str, entity: str, time: str,
             weights: tuple[float, float] = (0.5, 0.5)) -> pd.DataFrame:
    """Coupling degree, comprehensive index and coupling coordination degree.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit and period.
    a, b : str
        Columns holding the two subsystem indices :math:`U_1, U_2`, each in
        [0, 1].
    entity, time : str
        Unit and period columns (copied to the output and used in error
        messages).
    weights : (float, float), default (0.5, 0.5)
        Contributions :math:`(a, b)` of the two systems to
        :math:`T = a U_1 + b U_2`; non-negative, summing to one.

    Returns
    -------
    pandas.DataFrame
        Same index and row order as ``data``, columns ``entity``, ``time``,
        ``a``, ``b``, ``C`` (coupling degree), ``T`` (comprehensive index),
        ``D`` (coordination degree :math:`\\sqrt{CT}`) and ``class``
        (module table).

    Raises
    ------
    SpecificationError
        A column is missing or not numeric, a value is outside [0, 1] or
        missing (names the column, unit and period), a unit-period repeats,
        or the weights are not non-negative summing to one.
    """
    try:
        wa, wb = (float(x) for x in weights)
    except (TypeError, ValueError):
        raise SpecificationError(format_error(f"weights must be two numbers, got {weights!r}", option="weights",
                                              hint="e.g. weights=(0.5, 0.5)")) from None
    if not (wa >= 0 and wb >= 0 and abs(wa + wb - 1.0) < 1e-9):
        raise SpecificationError(format_error(f"weights {weights!r} must be non-negative and sum to 1",
                                              option="weights", hint="e.g. weights=(0.5, 0.5)"))
    if a == b:
        raise SpecificationError(format_error("the two systems are the same column", column=a,
                                              hint="pass two different index columns"))
    _check(data, [a, b], entity, time)
    u1, u2 = data[a].to_numpy(dtype=float), data[b].to_numpy(dtype=float)
    s = u1 + u2
    C = np.divide(2.0 * np.sqrt(u1 * u2), s, out=np.full_like(s, np.nan), where=s > 0)
    C = np.minimum(C, 1.0)  # AM-GM: C <= 1; guard against rounding above it
    T = wa * u1 + wb * u2
    D = np.sqrt(np.where(s > 0, C, 0.0) * T)
    out = data[[entity, time, a, b]].copy()
    out["C"], out["T"], out["D"] = C, T, D
    out["class"] = coordination_class(D)
    return out
