"""Lagrange multiplier tests for spatial lag and spatial error dependence in panels.

The tests are computed from the OLS residuals of the (possibly fixed-effects
transformed) non-spatial panel regression ``y = X b + e``, stacked time-major
(DESIGN.md). With ``W_NT = I_T kron W`` and

* ``sigma2 = e'e / NT`` (Elhorst's ML convention, ``sige=res'*res/nobs`` in his
  MATLAB routine ``LMsarsem_panel.m``, revision of 25/06/2010), or
  ``e'e / (NT - k)`` on request (spreg's OLS convention),
* ``T_w = T * tr(W'W + W W)``,
* ``J = (1/sigma2) [ (W_NT X b)' M (W_NT X b) + T_w sigma2 ]``,
  ``M = I_NT - X (X'X)^-1 X'``,

the four statistics, each chi-squared with 1 degree of freedom under its null, are

* ``LM_lag  = (e' W_NT y / sigma2)^2 / J``
* ``LM_err  = (e' W_NT e / sigma2)^2 / T_w``
* ``RLM_lag = (e' W_NT y / sigma2 - e' W_NT e / sigma2)^2 / (J - T_w)``
* ``RLM_err = (e' W_NT e / sigma2 - (T_w / J) e' W_NT y / sigma2)^2 / (T_w (1 - T_w / J))``

These are the cross-sectional tests of Anselin (1988, *Spatial Econometrics:
Methods and Models*: LM_lag, LM_err) and the locally robust tests
of Anselin, Bera, Florax & Yoon (1996, "Simple diagnostic tests for spatial
dependence", *Regional Science and Urban Economics* 26, 77-104: RLM_lag,
RLM_err), written for the panel with ``I_T kron W`` -- each period contributes
its own cross-product, and the trace term is multiplied by T -- as in Anselin,
Le Gallo & Jayet (2008, "Spatial panel econometrics", in Matyas & Sevestre
(eds.), *The Econometrics of Panel Data*, 3rd ed., ch. 19) and Elhorst (2010,
"Spatial panel data models", in Fischer & Getis (eds.), *Handbook of Applied
Spatial Analysis*, ch. C.2; 2014, *Spatial Econometrics: From Cross-Sectional
Data to Spatial Panels*, ch. 3, LM tests on the pooled and fixed-effects
OLS residuals). The formulas above are line-for-line those of ``LMsarsem_panel.m``.
Debarsy & Ertur (2010, *Regional Science and Urban Economics* 40, 453-470)
derive LM tests for the fixed-effects model after the Lee & Yu (2010)
orthonormal transformation; this module does **not** implement those -- it applies Elhorst's formulas to the
transformed data, the common applied practice.

Fixed effects (``fe``)
----------------------
``"entity"``, ``"time"`` and ``"twoways"`` replace y and X by their within
transforms ``Q y`` and ``Q X`` (``_panel.demean``; no intercept). Following
DESIGN.md the spatial lag is formed on the raw variable and then transformed,
``(W y)* = Q (I_T kron W) y``, and likewise ``(W X b)* = Q (I_T kron W) X* b``.
``sigma2`` stays ``e'e/NT`` (Elhorst's convention; no correction for the
absorbed effects) unless ``sigma2="nt-k"``, where k counts only the columns of
X that remain (the absorbed effects are still not subtracted).

Elhorst's routine instead receives the already demeaned data and applies W to
it, ``(I_T kron W) Q y``. Because ``Q e = e``, ``e' Q W_NT y = e' W_NT Q y`` for
any row-standardised W, so both conventions give the same score terms; they
differ only in J, and only for ``"time"``/``"twoways"`` with a W that is not
also column-standardised, where ``(I - Q) W_NT Q X b != 0``. For ``"none"``
and ``"entity"`` the two coincide exactly.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sps
import pandas as pd
from scipy import stats

from spillover.diagnostics._panel import (
    FE_KINDS,
    demean,
    spatial_lag,
    trace_ww,
)
from spillover.errors import SpecificationError, format_error

__all__ = ["lm_tests", "lm_statistics"]

TEST_NAMES = ["lm_lag", "lm_error", "robust_lm_lag", "robust_lm_error"]
SIGMA2_CONVENTIONS = ("nt", "nt-k")

# functions a formula may call besides formulaic's own transforms


def lm_statistics(
    y: np.ndarray,
    x: np.ndarray,
    wsp: Any,
    fe: str = "none",
    sigma2: str = "nt",
) -> dict[str, float]:
    """The four panel LM statistics from arrays (see the module docstring).

    Parameters
    ----------
    y : ndarray, shape (T, N)
        Raw (untransformed) dependent variable, row t = period t in W's order.
    x : ndarray, shape (T, N, k)
        Raw regressors (include a column of ones only when ``fe="none"``).
    wsp : sparse matrix or ndarray, shape (N, N)
        Spatial weights.
    fe : {"none", "entity", "time", "twoways"}
        Within transformation applied to y, X and to the lag ``W y``.
    sigma2 : {"nt", "nt-k"}
        ``e'e/NT`` (Elhorst) or ``e'e/(NT-k)`` (spreg's OLS).

    Returns
    -------
    dict
        ``lm_lag, lm_error, robust_lm_lag, robust_lm_error`` and the pieces
        ``sigma2, J, T_w, e_wy, e_we, wxb_m_wxb, nobs, k``
        (``e_wy = e' (W y)*``, ``e_we = e' W_NT e``).
    """
    if fe not in FE_KINDS:
        raise SpecificationError(
            format_error("unknown fixed effects", fe=fe, hint=f"use one of {', '.join(FE_KINDS)}")
        )
    if sigma2 not in SIGMA2_CONVENTIONS:
        raise SpecificationError(
            format_error("unknown sigma2 convention", sigma2=sigma2, hint="use 'nt' or 'nt-k'")
        )
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    n_periods, n_units = y.shape
    k = x.shape[2]
    nobs = n_periods * n_units

    ys = demean(y, fe).ravel()
    xs = demean(x, fe).reshape(nobs, k)
    wy = demean(spatial_lag(wsp, y), fe).ravel()

    beta, *_ = np.linalg.lstsq(xs, ys, rcond=None)
    e = ys - xs @ beta
    ee = float(e @ e)
    s2 = ee / nobs if sigma2 == "nt" else ee / (nobs - k)

    wxb = demean(spatial_lag(wsp, (xs @ beta).reshape(n_periods, n_units)), fe).ravel()
    coef, *_ = np.linalg.lstsq(xs, wxb, rcond=None)
    m_wxb = wxb - xs @ coef
    wxb_m_wxb = float(wxb @ m_wxb)

    tr_ww, tr_wtw = trace_ww(wsp)
    t_w = n_periods * (tr_ww + tr_wtw)
    j = wxb_m_wxb / s2 + t_w

    we = spatial_lag(wsp, e.reshape(n_periods, n_units)).ravel()
    e_wy = float(e @ wy)
    e_we = float(e @ we)
    d_lag = e_wy / s2
    d_err = e_we / s2

    return {
        "lm_lag": d_lag**2 / j,
        "lm_error": d_err**2 / t_w,
        "robust_lm_lag": (d_lag - d_err) ** 2 / (j - t_w),
        "robust_lm_error": (d_err - (t_w / j) * d_lag) ** 2 / (t_w * (1.0 - t_w / j)),
        "sigma2": s2,
        "J": j,
        "T_w": t_w,
        "e_wy": e_wy,
        "e_we": e_we,
        "wxb_m_wxb": wxb_m_wxb,
        "nobs": nobs,
        "k": k,
    }


def _check_regressors(x: np.ndarray, names: list[str], fe: str, formula: str) -> None:
    """Refuse regressors that the fixed effects absorb, or that are collinear."""
    xs = demean(x, fe).reshape(-1, x.shape[2])
    scale = np.maximum(1.0, np.abs(x.reshape(-1, x.shape[2])).max(axis=0))
    absorbed = [n for n, s, c in zip(names, scale, xs.T) if np.max(np.abs(c)) <= 1e-10 * s]
    if absorbed:
        raise SpecificationError(
            format_error(
                f"regressors absorbed by the {fe!r} fixed effects: {', '.join(absorbed)}",
                formula=formula,
                hint="drop them (they do not vary within the transformation)",
            )
        )
    if np.linalg.matrix_rank(xs) < xs.shape[1]:
        raise SpecificationError(
            format_error(
                "regressors are collinear after the fixed-effects transformation",
                formula=formula,
                fe=fe,
                columns=", ".join(names),
            )
        )


def lm_tests(
    formula: str,
    data: pd.DataFrame,
    w: Any,
    entity: str,
    time: str,
    *,
    fe: str = "twoways",
    sigma2: str = "nt",
) -> pd.DataFrame:
    """(Robust) LM tests for a spatial lag and a spatial error in a panel regression.

    Implements, on the OLS residuals of ``formula`` (pooled or within-
    transformed), the panel LM tests of Anselin, Le Gallo & Jayet (2008) and
    Elhorst (2010; 2014, ch. 3) -- the classic LM_lag / LM_err of Anselin (1988)
    and the robust RLM_lag / RLM_err of Anselin, Bera, Florax & Yoon (1996)
    with ``I_T kron W`` and ``T_w = T tr(W'W + WW)``. The formulas and the
    fixed-effects convention are spelled out in the module docstring.

    Parameters
    ----------
    formula : str
        formulaic formula, e.g. ``"logc ~ logp + logy"``. The intercept is kept
        only for ``fe="none"`` (dropped otherwise); ``np``, ``log``, ``exp``,
        ``sqrt`` may be called in terms.
    data : DataFrame
        Long balanced panel with columns ``entity`` and ``time``.
    w : libpysal.weights.W
        Weights with ids equal to the entity values (used as given).
    entity, time : str
        Unit and period columns.
    fe : {"none", "entity", "time", "twoways"}
        Pooled OLS, or OLS on unit, period or two-way demeaned data.
    sigma2 : {"nt", "nt-k"}, keyword-only
        ``e'e/NT`` (default; Elhorst's ML-type estimate) or ``e'e/(NT-k)``
        (spreg's OLS ``sig2``), used everywhere sigma2 appears.

    Returns
    -------
    DataFrame
        Index ``lm_lag, lm_error, robust_lm_lag, robust_lm_error``; columns
        ``stat``, ``df`` (= 1) and ``p`` (chi-squared(1) upper tail). ``attrs``
        records ``formula, fe, sigma2_convention, sigma2, N, T, nobs, k,
        regressors, J, T_w``.

    Raises
    ------
    SpecificationError
        Unknown ``fe``/``sigma2``, missing variables, unbalanced panel,
        non-finite terms, regressors absorbed by the fixed effects or collinear.
    WeightsError
        Entities and ``w`` ids differ.

    Warns
    -----
    UserWarning
        ``fe`` is ``"time"``/``"twoways"`` and W is not row-standardised: the
        period effects do not cancel from ``(W y)*`` under the null.
    """
    if fe not in FE_KINDS:
        raise SpecificationError(
            format_error(
                "lm_tests supports fixed effects only",
                fe=fe,
                hint=f"use one of {', '.join(FE_KINDS)}"
            )
        )
    if sigma2 not in SIGMA2_CONVENTIONS:
        raise SpecificationError(
            format_error("unknown sigma2 convention", sigma2=sigma2, hint="use 'nt' or 'nt-k'")
        )
    from spillover.spatial.design import build_design

    d = build_design(formula, data, w, entity, time, intercept=(fe == "none"), wx=False)
    if not [c for c in d.x_names if c != "Intercept"]:
        raise SpecificationError(format_error("the formula has no regressors", formula=formula, fe=fe))
    n, t = d.n, d.t
    y, x, names, yname = d.y.reshape(t, n), d.x.reshape(t, n, -1), list(d.x_names), d.y_name
    _check_regressors(x, names, fe, formula)
    wsp = sps.csr_matrix(d.w)
    if fe in ("time", "twoways") and not d.row_standardised:
        warnings.warn(
            f"fe={fe!r} with a W that is not row-standardised: the period effects do not "
            "cancel from the transformed spatial lag, so LM_lag/J are not the textbook "
            "statistics; row-standardise W.",
            UserWarning,
            stacklevel=2,
        )
    res = lm_statistics(y, x, wsp, fe=fe, sigma2=sigma2)
    stat = np.array([res[name] for name in TEST_NAMES])
    out = pd.DataFrame(
        {"stat": stat, "df": np.ones(4, dtype=int), "p": stats.chi2.sf(stat, 1)},
        index=pd.Index(TEST_NAMES),
    )
    out.attrs.update(
        {
            "formula": formula,
            "dependent": yname,
            "regressors": names,
            "fe": fe,
            "sigma2_convention": "e'e/NT" if sigma2 == "nt" else "e'e/(NT-k)",
            "sigma2": res["sigma2"],
            "N": n,
            "T": t,
            "nobs": res["nobs"],
            "k": res["k"],
            "J": res["J"],
            "T_w": res["T_w"],
        }
    )
    return out
