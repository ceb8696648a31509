"""Convergence of a regional indicator: sigma, absolute and conditional beta, spatial beta.

* sigma convergence: the dispersion (coefficient of variation and Gini) falls
  over time; the trend is the OLS slope of the coefficient of variation (or,
  with ``measure="gini"``, of the Gini) on the period (classical standard
  error), as in Barro & Sala-i-Martin (1992, Journal of Political Economy 100,
  223-251, sec. III). :func:`trend` is that test for any per-period series
  (a Dagum or Theil component too), over all periods or a sub-period.
* beta convergence: the one-period growth ``g_it = ln x_it - ln x_i,t-1``
  regressed on ``ln x_i,t-1`` with unit and period fixed effects (absolute:
  no other regressor; conditional: with ``controls`` measured at ``t-1``);
  ``beta < 0`` is convergence. With ``g = a - (1 - exp(-s tau)) ln x + ...``
  (Barro & Sala-i-Martin 1992, eq. 11) the speed is ``s = -ln(1 + beta) / tau``
  and the half-life ``ln 2 / s``, ``tau`` the length of a period.
* spatial beta: the same regression as a SAR, SEM or SDM with a W
  (Rey & Montouri 1999, Regional Studies 33, 143-156), fitted by
  :mod:`spillover.spatial` (two-way effects, Lee-Yu transformation by
  default); speed and half-life from the coefficient of ``ln x_i,t-1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from spillover.errors import SpecificationError, format_error

KINDS = ("sigma", "beta", "spatial_beta")
MEASURES = ("cv", "gini")


@dataclass(frozen=True)
class Trend:
    """OLS trend of a per-period series: ``slope`` per period, its classical ``se``, two-sided ``p``, ``n`` periods."""

    slope: float
    se: float
    p: float
    n: int
    first: Any
    last: Any


def trend(frame: pd.DataFrame, column: str, time: str, years: Sequence | None = None) -> Trend:
    """The OLS slope of ``column`` on ``time`` with its classical standard error and two-sided t-test p-value.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per period (e.g. ``ConvergenceResult.table`` of sigma
        convergence, ``DagumResult.summary``, ``TheilResult.summary``).
    column, time : str
        The series and the period column.
    years : (first, last), optional
        Only the periods from ``first`` to ``last`` (both included).

    Returns
    -------
    Trend
        With ``n - 2`` degrees of freedom for the test.

    Raises
    ------
    SpecificationError
        A column is missing, a value is not finite, or fewer than three periods remain.
    """
    missing = [c for c in (column, time) if c not in frame.columns]
    if missing:
        raise SpecificationError(format_error("columns not in the per-period frame", columns=missing,
                                              hint=f"available: {list(frame.columns)}"))
    rows = frame.sort_values(time, kind="mergesort")
    if years is not None:
        first, last = years
        rows = rows[(rows[time] >= first) & (rows[time] <= last)]
    if rows[time].duplicated().any():
        raise SpecificationError(format_error("one row per period expected", column=time,
                                              hint="pass a per-period series (one group or variable at a time)"))
    if len(rows) < 3:
        raise SpecificationError(format_error(f"a trend test needs three or more periods, got {len(rows)}",
                                              column=column, years=None if years is None else list(years),
                                              hint="widen the years"))
    y = rows[column].to_numpy(dtype=float)
    if not np.isfinite(y).all():
        raise SpecificationError(format_error("the series has missing or infinite values", column=column))
    fit = stats.linregress(rows[time].to_numpy(dtype=float), y)
    return Trend(float(fit.slope), float(fit.stderr), float(fit.pvalue), len(rows), rows[time].iloc[0],
                 rows[time].iloc[-1])


@dataclass(frozen=True)
class ConvergenceResult:
    """``table``: per period (sigma) or per coefficient (beta); ``beta``, its SE and p, ``speed``, ``half_life``.

    For sigma convergence ``beta`` is the trend of the coefficient of
    variation per period (negative: sigma convergence) and ``speed`` /
    ``half_life`` are NaN. ``model`` is the fitted regression (beta kinds).
    """

    kind: str
    table: pd.DataFrame
    beta: float
    se: float
    p: float
    speed: float
    half_life: float
    model: Any = None


def _check(data: pd.DataFrame, column: str, entity: str, time: str, controls: Sequence[str]) -> pd.DataFrame:
    missing = [c for c in (column, entity, time, *controls) if c not in data.columns]
    if missing:
        raise SpecificationError(format_error("columns not in the data", columns=missing,
                                              hint=f"available: {list(data.columns)[:20]}"))
    df = data[[entity, time, column, *controls]].copy()
    for c in (column, *controls):
        if not pd.api.types.is_numeric_dtype(df[c]) or not np.isfinite(df[c].to_numpy(dtype=float)).all():
            raise SpecificationError(format_error("values must be finite numbers", column=c,
                                                  hint="fill in or drop the missing cells first"))
    return df.sort_values([entity, time], kind="mergesort").reset_index(drop=True)


def growth_frame(data: pd.DataFrame, column: str, entity: str, time: str,
                 controls: Sequence[str] = ()) -> tuple[pd.DataFrame, float]:
    """One row per unit and period from the second on: ``growth``, ``initial`` (= ln x at t-1) and lagged controls.

    Returns the frame and the period length ``tau``; periods must be equally spaced.
    """
    df = _check(data, column, entity, time, controls)
    bad = df[df[column] <= 0]
    if len(bad):
        r = bad.iloc[0]
        raise SpecificationError(format_error("beta convergence takes logarithms: values must be positive",
                                              column=column, unit=r[entity], period=r[time],
                                              hint="use a positive indicator (an index shifted away from 0)"))
    steps = np.unique(np.diff(np.sort(df[time].unique().astype(float))))
    if steps.size != 1:
        raise SpecificationError(format_error("periods are not equally spaced", column=time,
                                              periods=sorted(df[time].unique().tolist()),
                                              hint="the speed of convergence needs one period length"))
    log = np.log(df[column].to_numpy(dtype=float))
    prev = df.groupby(entity, sort=False)[column].shift(1)
    out = pd.DataFrame({entity: df[entity], time: df[time], "growth": log - np.log(prev),
                        "initial": np.log(prev)})
    for c in controls:
        out[c] = df.groupby(entity, sort=False)[c].shift(1)
    return out.dropna().reset_index(drop=True), float(steps[0])


def speed_and_half_life(beta: float, tau: float = 1.0) -> tuple[float, float]:
    """``s = -ln(1 + beta) / tau`` and ``ln 2 / s`` (Barro & Sala-i-Martin 1992, eq. 11); NaN when undefined."""
    if not beta > -1:
        return float("nan"), float("nan")
    s = -np.log1p(beta) / tau
    return float(s), float(np.log(2) / s) if s > 0 else float("nan")


def _sigma(data, column, entity, time, measure: str = "cv") -> ConvergenceResult:
    from spillover.analysis.inequality import gini

    df = _check(data, column, entity, time, ())
    rows = []
    for t, g in df.groupby(time, sort=True):
        y = g[column].to_numpy(dtype=float)
        rows.append({time: t, "n": len(y), "mean": y.mean(), "sd": y.std(ddof=0),
                     "cv": y.std(ddof=0) / y.mean(), "gini": gini(y) if (y >= 0).all() else float("nan")})
    tab = pd.DataFrame(rows)
    fit = trend(tab, measure, time)
    return ConvergenceResult("sigma", tab, fit.slope, fit.se, fit.p, float("nan"), float("nan"))


def convergence(data: pd.DataFrame, column: str, entity: str, time: str, kind: str = "sigma", *, w=None,
                controls: Sequence[str] = (), fe: str = "twoways", model: str = "sar",
                method: str = "lee-yu", measure: str = "cv") -> ConvergenceResult:
    """Sigma, beta or spatial-beta convergence of ``column`` (see the module docstring).

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel with ``entity`` and ``time`` columns.
    kind : {"sigma", "beta", "spatial_beta"}
    w : libpysal W or (matrix, ids)
        Spatial beta only.
    controls : sequence of str
        Conditional beta convergence: regressors measured at ``t-1``.
    fe : str
        Fixed effects of the beta regressions (default two-way).
    model : {"sar", "sem", "sdm"}
        Spatial beta only; ``method`` as in :mod:`spillover.spatial`.
    measure : {"cv", "gini"}
        Sigma only: the dispersion whose trend is tested (default the
        coefficient of variation); the table holds both.
    """
    if kind not in KINDS:
        raise SpecificationError(format_error(f"kind={kind!r} is not supported", option="kind",
                                              hint=f"choose one of {KINDS}"))
    if measure not in MEASURES:
        raise SpecificationError(format_error(f"measure={measure!r} is not supported", option="measure",
                                              hint=f"choose one of {MEASURES}"))
    if kind == "sigma":
        return _sigma(data, column, entity, time, measure)
    g, tau = growth_frame(data, column, entity, time, controls)
    formula = "growth ~ " + " + ".join(["initial", *controls])
    if kind == "beta":
        from spillover.panel import fit_panel

        res = fit_panel(formula, g, entity, time, fe=fe)
        params, bse, pv = res.params, res.std_errors, res.pvalues
    else:
        import spillover as sp

        if w is None:
            raise SpecificationError(format_error("spatial beta convergence needs a W", option="w"))
        if model not in ("sar", "sem", "sdm"):
            raise SpecificationError(format_error(f"model={model!r} is not supported", option="model",
                                                  hint="choose 'sar', 'sem' or 'sdm'"))
        res = getattr(sp, model.upper())(formula, g, w, entity, time, fe=fe, method=method).fit()
        params, bse, pv = res.params, res.bse, res.pvalues
    table = pd.DataFrame({"coef": params, "se": bse, "p": pv})
    beta = float(params["initial"])
    speed, half = speed_and_half_life(beta, tau)
    return ConvergenceResult(kind, table, beta, float(bse["initial"]), float(pv["initial"]), speed, half, res)
