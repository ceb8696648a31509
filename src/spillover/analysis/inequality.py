"""Regional-gap decompositions: Dagum Gini, Theil and the coefficient of variation.

All three work period by period on a long panel (one row per unit and period).

Dagum Gini decomposition
------------------------
Dagum (1997, *Empirical Economics* 22, 515-531). With ``n`` units in ``k``
groups, group ``j`` holding ``n_j`` units with values ``y_ji`` and mean
``mu_j``, overall mean ``mu``:

    G     = sum_j sum_h sum_i sum_r |y_ji - y_hr| / (2 n^2 mu)           overall Gini
    G_jj  = sum_i sum_r |y_ji - y_jr| / (2 n_j^2 mu_j)                   within group j
    G_jh  = sum_i sum_r |y_ji - y_hr| / (n_j n_h (mu_j + mu_h))          between j and h
    p_j   = n_j / n,   s_j = n_j mu_j / (n mu)                           population, value shares

Groups are ordered by their means: in every pair ``(j, h)`` the group ``j``
has the higher mean (``mu_j >= mu_h``). The relative economic affluence is

    d_jh  = sum_i sum_r max(y_ji - y_hr, 0) / (n_j n_h)                  gross economic affluence
    p_jh  = sum_i sum_r max(y_hr - y_ji, 0) / (n_j n_h)                  first-order transvariation
    D_jh  = (d_jh - p_jh) / (d_jh + p_jh)                                in [0, 1]

and the decomposition ``G = G_w + G_nb + G_t`` is

    G_w   = sum_j G_jj p_j s_j                                           within groups
    G_gb  = sum_{j>h} G_jh (p_j s_h + p_h s_j)                            gross between groups
    G_nb  = sum_{j>h} G_jh (p_j s_h + p_h s_j) D_jh                       net between groups
    G_t   = sum_{j>h} G_jh (p_j s_h + p_h s_j) (1 - D_jh)                 transvariation (overlap)

The identity is algebraic: ``G_jj p_j s_j`` is the group's own share of the
double sum in ``G`` and ``G_jh (p_j s_h + p_h s_j)`` the share of the pair
(both orders), so the components add up to ``G`` to rounding error.

Conventions. A group with one unit has ``G_jj = 0`` (the double sum is zero).
A group whose values are all zero has ``G_jj = 0`` (no dispersion; its weight
``s_j`` is zero anyway). A pair whose values are all equal (``d_jh + p_jh =
0``) has ``G_jh = 0`` and ``D_jh = 0``. A period with a single group has
``G = G_w`` and no between-group rows. The sums of absolute differences are
computed by sorting one group and using cumulative sums, O(n log n).

Theil index
-----------
``T = (1/n) sum_i (y_i / mu) ln(y_i / mu)`` (Theil 1967, *Economics and
Information Theory*; the GE(1) index), with ``0 ln 0 = 0``. With value shares
``s_j`` as above it decomposes exactly (Shorrocks 1980, *Econometrica* 48,
613-625) as

    T = sum_j s_j T_j + sum_j s_j ln(mu_j / mu) = within + between.

A group whose values are all zero has ``T_j = 0`` and contributes nothing.
The formula is implemented here directly (the ``inequality`` package of the
PySAL family is not a dependency).

Coefficient of variation
------------------------
:func:`variation` returns, per period, ``cv = sd / mean`` with the population
standard deviation (``ddof=0``, as in sigma-convergence studies) unless
``ddof`` says otherwise. It is a separate function rather than a column of
:func:`theil` because it needs no grouping.

Input rules (all three functions)
---------------------------------
The value column must be numeric, finite, without missing values and
non-negative; the group and period columns must have no missing values;
every period needs at least two units and a positive mean. Anything else
raises :class:`spillover.errors.SpecificationError` naming the column and
period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spillover.errors import SpecificationError, format_error

__all__ = ["dagum", "theil", "variation", "DagumResult", "TheilResult", "gini"]


@dataclass(frozen=True, eq=False)
class DagumResult:
    """Result of :func:`dagum`.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per period: the period (named as the ``time`` column), ``n``
        units, ``k`` groups, ``mean``, ``G``, ``G_w``, ``G_nb``, ``G_t``,
        ``G_gb`` (= ``G_nb + G_t``) and the shares of ``G`` ``share_w``,
        ``share_nb``, ``share_t`` (they sum to one).
    within : pandas.DataFrame
        One row per (period, group): ``group``, ``n``, ``mean``, ``p`` (=
        ``p_j``), ``s`` (= ``s_j``), ``gini`` (= ``G_jj``) and
        ``contribution`` (= ``G_jj p_j s_j``; these sum to ``G_w``). Groups
        appear in decreasing order of their mean within each period.
    between : pandas.DataFrame
        One row per (period, pair): ``group_j`` (higher mean), ``group_h``
        (lower mean), ``gini`` (= ``G_jh``), ``D`` (= ``D_jh``), ``d``
        (= ``d_jh``), ``p`` (= ``p_jh``), ``weight`` (= ``p_j s_h + p_h
        s_j``), and the pair's contributions ``gb``, ``nb``, ``t`` (these sum
        to ``G_gb``, ``G_nb`` and ``G_t``).
    """

    summary: pd.DataFrame
    within: pd.DataFrame
    between: pd.DataFrame


@dataclass(frozen=True, eq=False)
class TheilResult:
    """Result of :func:`theil`.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per period: the period, ``n``, ``k``, ``mean``, ``T``,
        ``within``, ``between`` and ``share_within``, ``share_between``
        (shares of ``T``; NaN when ``T = 0``). Read the index as
        ``summary["T"]``: ``summary.T`` is the pandas transpose.
    within : pandas.DataFrame
        One row per (period, group): ``group``, ``n``, ``mean``, ``s``,
        ``theil`` (= ``T_j``), ``contribution`` (= ``s_j T_j``; they sum to
        ``within``) and ``between`` (= ``s_j ln(mu_j / mu)``; they sum to
        ``between``).
    """

    summary: pd.DataFrame
    within: pd.DataFrame


# --------------------------------------------------------------------------- validation

def _validate(data: pd.DataFrame, column: str, time: str, group: str | None = None) -> pd.DataFrame:
    """Check the inputs and return a frame with columns ``y``, ``t`` (and ``g``)."""
    if not isinstance(data, pd.DataFrame):
        raise SpecificationError(format_error(f"data must be a pandas DataFrame, not {type(data).__name__}",
                                              option="data"))
    names = {"column": column, "time": time} | ({"group": group} if group is not None else {})
    for role, name in names.items():
        if name not in data.columns:
            raise SpecificationError(format_error(f"{role} column not in the data", column=name,
                                                  hint=f"available: {', '.join(map(str, data.columns[:20]))}"))
    if len(set(names.values())) < len(names):
        raise SpecificationError(format_error("column, group and time must be different columns",
                                              column=column, option="group/time"))
    for role, name in names.items():
        if role != "column" and data[name].isna().any():
            period = data.loc[data[name].isna(), time].iloc[0] if role != "time" else None
            raise SpecificationError(format_error(f"missing {role} label", column=name, period=period,
                                                  hint="drop or label these rows"))
    y = _numeric(data, column, time)
    out = pd.DataFrame({"y": y, "t": data[time].to_numpy()})
    if group is not None:
        out["g"] = data[group].to_numpy()
    for t, yt in out.groupby("t", sort=True)["y"]:
        if len(yt) < 2:
            raise SpecificationError(format_error("fewer than two units in the period", column=column, period=t,
                                                  hint="inequality needs two or more units; drop the period"))
        if (yt < 0).any():
            raise SpecificationError(format_error("negative value", column=column, period=t, value=float(yt.min()),
                                                  hint="Gini, Theil and CV need non-negative values; use a level, "
                                                       "not a growth rate"))
        if not yt.sum() > 0:
            raise SpecificationError(format_error("all values are zero", column=column, period=t,
                                                  hint="inequality needs a positive mean; drop the period"))
    return out


def _numeric(data: pd.DataFrame, column: str, time: str) -> np.ndarray:
    """The value column as float; names the first non-numeric, missing or infinite cell."""
    s = data[column]
    if pd.api.types.is_bool_dtype(s):
        raise SpecificationError(format_error(f"column is not numeric (dtype {s.dtype})", column=column,
                                              hint="convert it to numbers"))
    if pd.api.types.is_numeric_dtype(s):
        y = s.to_numpy(dtype=float, na_value=np.nan)
    else:                                                   # text or object: numbers written as text are accepted
        y = pd.to_numeric(s.astype(object), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.isnan(y) & s.notna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SpecificationError(format_error("non-numeric value", column=column, period=data[time].iloc[i],
                                              value=s.iloc[i], hint="fix the cell or convert the column"))
    if np.isnan(y).any():
        i = int(np.flatnonzero(np.isnan(y))[0])
        raise SpecificationError(format_error("missing value", column=column, period=data[time].iloc[i],
                                              hint="drop or impute the missing rows first"))
    if not np.isfinite(y).all():
        i = int(np.flatnonzero(~np.isfinite(y))[0])
        raise SpecificationError(format_error("infinite value", column=column, period=data[time].iloc[i],
                                              hint="fix the cell"))
    return y


# --------------------------------------------------------------------------- building blocks

def _pair_sums(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``(sum_i sum_r max(a_i - b_r, 0), sum_i sum_r max(b_r - a_i, 0))`` by sorting ``b``.

    For each ``a_i`` the ``k`` values of ``b`` not above it contribute
    ``k a_i - (their sum)``, the others ``(their sum) - (n_b - k) a_i``.
    """
    b = np.sort(np.asarray(b, dtype=float))
    a = np.asarray(a, dtype=float)
    cum = np.concatenate(([0.0], np.cumsum(b)))
    k = np.searchsorted(b, a, side="right")
    below = k * a - cum[k]
    above = (cum[-1] - cum[k]) - (b.size - k) * a
    return float(below.sum()), float(above.sum())


def gini(y: np.ndarray) -> float:
    """Gini coefficient ``sum_i sum_r |y_i - y_r| / (2 n^2 mu)`` (Dagum 1997, ``G``), 0 when ``mu = 0``.

    Parameters
    ----------
    y : array_like
        Non-negative values.

    Returns
    -------
    float
    """
    y = np.asarray(y, dtype=float)
    total = y.sum()
    if y.size == 0 or total == 0:
        return 0.0
    plus, minus = _pair_sums(y, y)
    return (plus + minus) / (2.0 * y.size * total)   # 2 n^2 mu = 2 n sum(y)


def _dagum_period(y: np.ndarray, g: np.ndarray) -> tuple[dict, list[dict], list[dict]]:
    """Dagum (1997) decomposition for one period; returns summary, within rows, between rows."""
    labels, inv = np.unique(g, return_inverse=True)
    parts = [y[inv == j] for j in range(labels.size)]
    means = np.array([x.mean() for x in parts])
    order = np.argsort(-means, kind="stable")            # decreasing mean: j before h => mu_j >= mu_h
    n, mu = y.size, y.mean()
    nj = np.array([x.size for x in parts], dtype=float)
    p = nj / n
    s = nj * means / (n * mu)
    within = []
    for j in order:
        plus, minus = _pair_sums(parts[j], parts[j])
        g_jj = (plus + minus) / (2.0 * nj[j] ** 2 * means[j]) if means[j] > 0 else 0.0
        within.append({"group": labels[j], "n": int(nj[j]), "mean": means[j], "p": p[j], "s": s[j],
                       "gini": g_jj, "contribution": g_jj * p[j] * s[j]})
    between = []
    for a, j in enumerate(order):
        for h in order[a + 1:]:
            d, t = _pair_sums(parts[j], parts[h])        # sum (y_ji - y_hr)_+, sum (y_hr - y_ji)_+
            dens = nj[j] * nj[h]
            g_jh = (d + t) / (dens * (means[j] + means[h])) if d + t > 0 else 0.0
            D = (d - t) / (d + t) if d + t > 0 else 0.0
            w = p[j] * s[h] + p[h] * s[j]
            between.append({"group_j": labels[j], "group_h": labels[h], "gini": g_jh, "D": D,
                            "d": d / dens, "p": t / dens, "weight": w,
                            "gb": g_jh * w, "nb": g_jh * w * D, "t": g_jh * w * (1.0 - D)})
    G = gini(y)
    G_w = float(sum(r["contribution"] for r in within))
    G_nb = float(sum(r["nb"] for r in between))
    G_t = float(sum(r["t"] for r in between))
    summary = {"n": n, "k": int(labels.size), "mean": mu, "G": G, "G_w": G_w, "G_nb": G_nb, "G_t": G_t,
               "G_gb": G_nb + G_t, "share_w": G_w / G if G > 0 else np.nan,
               "share_nb": G_nb / G if G > 0 else np.nan, "share_t": G_t / G if G > 0 else np.nan}
    return summary, within, between


def _theil_index(y: np.ndarray) -> float:
    """``(1/n) sum (y/mu) ln(y/mu)`` with ``0 ln 0 = 0``; 0 when ``mu = 0``."""
    mu = y.mean()
    if mu == 0:
        return 0.0
    r = y[y > 0] / mu
    return float(np.sum(r * np.log(r)) / y.size)


def _theil_period(y: np.ndarray, g: np.ndarray) -> tuple[dict, list[dict]]:
    """Theil decomposition ``T = sum s_j T_j + sum s_j ln(mu_j/mu)`` for one period."""
    labels, inv = np.unique(g, return_inverse=True)
    n, mu = y.size, y.mean()
    rows = []
    for j, lab in enumerate(labels):
        x = y[inv == j]
        s = x.sum() / y.sum()
        rows.append({"group": lab, "n": int(x.size), "mean": x.mean(), "s": s, "theil": _theil_index(x),
                     "contribution": s * _theil_index(x),
                     "between": s * np.log(x.mean() / mu) if s > 0 else 0.0})
    rows.sort(key=lambda r: -r["mean"])
    T = _theil_index(y)
    w = float(sum(r["contribution"] for r in rows))
    b = float(sum(r["between"] for r in rows))
    summary = {"n": n, "k": int(labels.size), "mean": mu, "T": T, "within": w, "between": b,
               "share_within": w / T if T > 0 else np.nan, "share_between": b / T if T > 0 else np.nan}
    return summary, rows


# --------------------------------------------------------------------------- public API

def dagum(data: pd.DataFrame, column: str, group: str, time: str) -> DagumResult:
    """Dagum (1997) Gini decomposition by group, period by period.

    ``G = G_w + G_nb + G_t``: within-group inequality, net between-group
    inequality and transvariation (the overlap of the groups' distributions);
    see the module docstring for the formulas.

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel, one row per unit and period.
    column : str
        Non-negative numeric variable (e.g. ``"dei"``).
    group : str
        Group label (e.g. ``"region"``); a group may have a single unit
        (its within Gini is 0).
    time : str
        Period column (e.g. ``"year"``); each period needs two or more units
        and a positive mean.

    Returns
    -------
    DagumResult
        ``.summary`` (one row per period), ``.within`` (period, group) and
        ``.between`` (period, pair of groups).

    Raises
    ------
    spillover.errors.SpecificationError
        Missing columns, non-numeric/missing/infinite or negative values, a
        period with fewer than two units or with all values zero.

    Examples
    --------
    >>> import spillover as sp
    >>> res = sp.analysis.dagum(sp.data.default_panel(), "dei", "region", "year")  # doctest: +SKIP
    >>> res.summary[["year", "G", "G_w", "G_nb", "G_t"]]                         # doctest: +SKIP
    """
    df = _validate(data, column, time, group)
    summary, within, between = [], [], []
    for t, d in df.groupby("t", sort=True):
        s, w, b = _dagum_period(d["y"].to_numpy(), d["g"].to_numpy())
        summary.append({time: t} | s)
        within += [{time: t} | r for r in w]
        between += [{time: t} | r for r in b]
    wcols = [time, "group", "n", "mean", "p", "s", "gini", "contribution"]
    bcols = [time, "group_j", "group_h", "gini", "D", "d", "p", "weight", "gb", "nb", "t"]
    return DagumResult(summary=pd.DataFrame(summary), within=pd.DataFrame(within, columns=wcols),
                       between=pd.DataFrame(between, columns=bcols))


def theil(data: pd.DataFrame, column: str, group: str, time: str) -> TheilResult:
    """Theil (GE(1)) index and its exact within/between decomposition, period by period.

    ``T = sum_j s_j T_j + sum_j s_j ln(mu_j / mu)`` with value shares
    ``s_j = n_j mu_j / (n mu)`` (Shorrocks 1980); see the module docstring.

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel, one row per unit and period.
    column, group, time : str
        Value (non-negative), group and period columns, as in :func:`dagum`.

    Returns
    -------
    TheilResult
        ``.summary`` (one row per period) and ``.within`` (period, group).

    Raises
    ------
    spillover.errors.SpecificationError
        As :func:`dagum`.
    """
    df = _validate(data, column, time, group)
    summary, within = [], []
    for t, d in df.groupby("t", sort=True):
        s, w = _theil_period(d["y"].to_numpy(), d["g"].to_numpy())
        summary.append({time: t} | s)
        within += [{time: t} | r for r in w]
    wcols = [time, "group", "n", "mean", "s", "theil", "contribution", "between"]
    return TheilResult(summary=pd.DataFrame(summary), within=pd.DataFrame(within, columns=wcols))


def variation(data: pd.DataFrame, column: str, time: str, *, ddof: int = 0) -> pd.DataFrame:
    """Coefficient of variation ``sd / mean`` per period (sigma convergence).

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel, one row per unit and period.
    column, time : str
        Non-negative value column and period column.
    ddof : int, default 0
        Delta degrees of freedom of the standard deviation: 0 for the
        population standard deviation, 1 for the sample one.

    Returns
    -------
    pandas.DataFrame
        One row per period: the period, ``n``, ``mean``, ``sd``, ``cv``.

    Raises
    ------
    spillover.errors.SpecificationError
        As :func:`dagum`, and for a ``ddof`` that is not 0 or 1.
    """
    if ddof not in (0, 1) or isinstance(ddof, bool):
        raise SpecificationError(format_error(f"ddof={ddof!r}", option="ddof", hint="0 (population) or 1 (sample)"))
    df = _validate(data, column, time)
    rows = []
    for t, d in df.groupby("t", sort=True):
        y = d["y"].to_numpy()
        sd = float(np.std(y, ddof=ddof))
        rows.append({time: t, "n": y.size, "mean": y.mean(), "sd": sd, "cv": sd / y.mean()})
    return pd.DataFrame(rows)
