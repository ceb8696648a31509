"""Fixed-effects transformations and the likelihood conventions that go with them.

Data are stacked time-major: period 1's N units (in W's order), then period
2's, ... An array of shape (N*T, k) is viewed as (T, N, k).

Two conventions for the fixed-effects spatial panel likelihood are supported
(see the project DESIGN.md, "Numerical conventions"):

``method="direct"``
    Elhorst (2014), *Spatial Econometrics: From Cross-Sectional Data to
    Spatial Panels*, ch. 3, eqs. (3.13)-(3.19): demean y, X, W y and W X,
    Jacobian ``T log|I - rho W|`` and ``sigma2 = e'e / (N T)``.

``method="lee-yu"``
    Lee & Yu (2010), *Estimation of spatial autoregressive panel data models
    with fixed effects*, J. Econometrics 154, 165-185: transform with the
    orthonormal eigenvectors of the demeaning operator (``F_T`` over time,
    ``F_N`` over units). The transformed residual sum of squares equals the
    demeaned one (``F F' = J``) when spatial lags are formed on the raw data
    and W is row-standardised, so only the Jacobian and the effective sample
    size change:

    ===========  =====================================  ===============
    effects      Jacobian                               sigma2 divisor
    ===========  =====================================  ===============
    entity       (T-1) log|I - rho W|                   N (T-1)
    time         T [log|I - rho W| - log(1 - rho)]      (N-1) T
    twoways      (T-1) [log|I - rho W| - log(1 - rho)]  (N-1)(T-1)
    ===========  =====================================  ===============

    (Lee & Yu 2010, eqs. (9), (27) and (36)). The tests prove each case
    against a brute-force likelihood on explicitly orthonormally transformed
    data.

Spatial lags are always formed on the raw variables and then transformed:
``demean(W y)``, not ``W demean(y)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FE_CHOICES = ("none", "entity", "time", "twoways")
METHOD_CHOICES = ("direct", "lee-yu")


@dataclass(frozen=True)
class Convention:
    """Constants of the (transformed) log-likelihood.

    ``loglik = -n_eff/2 log(2 pi sigma2) + jac * log|I - rho W|
    - jac_corr * log(1 - rho) - e'e / (2 sigma2)``.
    """

    fe: str
    method: str
    jac: float
    jac_corr: float
    n_eff: int
    requires_row_standardised: bool


def convention(fe: str, method: str, n: int, t: int) -> Convention:
    """Return the likelihood constants for ``fe`` x ``method`` (see module docstring)."""
    if fe not in FE_CHOICES:
        raise ValueError(f"fe={fe!r} is not one of {FE_CHOICES}")
    if method not in METHOD_CHOICES:
        raise ValueError(f"method={method!r} is not one of {METHOD_CHOICES}")
    if method == "direct" or fe == "none":
        return Convention(fe, method, float(t), 0.0, n * t, False)
    if fe == "entity":
        return Convention(fe, method, float(t - 1), 0.0, n * (t - 1), False)
    if fe == "time":
        return Convention(fe, method, float(t), float(t), (n - 1) * t, True)
    return Convention(fe, method, float(t - 1), float(t - 1), (n - 1) * (t - 1), True)


def demean(a: np.ndarray, n: int, t: int, fe: str) -> np.ndarray:
    """Within-transform a time-major stacked array.

    Parameters
    ----------
    a : ndarray, shape (n*t,) or (n*t, k)
    fe : "none" | "entity" (subtract each unit's time mean) | "time" (subtract
        each period's cross-sectional mean) | "twoways" (both, adding back
        the grand mean; Baltagi 2021, *Econometric Analysis of Panel Data*,
        eq. 3.4).
    """
    a = np.asarray(a, dtype=float)
    if fe == "none":
        return a.copy()
    shape = a.shape
    v = a.reshape(t, n, -1)
    if fe == "entity":
        out = v - v.mean(axis=0, keepdims=True)
    elif fe == "time":
        out = v - v.mean(axis=1, keepdims=True)
    elif fe == "twoways":
        out = (
            v
            - v.mean(axis=0, keepdims=True)
            - v.mean(axis=1, keepdims=True)
            + v.mean(axis=(0, 1), keepdims=True)
        )
    else:
        raise ValueError(f"fe={fe!r} is not one of {FE_CHOICES}")
    return out.reshape(shape)


def spatial_lag(w, a: np.ndarray, n: int, t: int) -> np.ndarray:
    """``(I_T kron W) a`` for a time-major stacked array, without forming the kron."""
    a = np.asarray(a, dtype=float)
    shape = a.shape
    v = a.reshape(t, n, -1)
    out = np.stack([w @ v[s] for s in range(t)])
    return out.reshape(shape)


def recover_effects(
    total: np.ndarray, n: int, t: int, fe: str
) -> tuple[float, np.ndarray, np.ndarray]:
    """Split ``total = y - rho W y - Z b`` (raw data) into intercept, unit and time effects.

    With the normalisation that unit and time effects each sum to zero when
    both are present (Elhorst 2014, eq. 3.21; Hsiao 2014, ch. 3).
    Returns ``(intercept, mu (n,), alpha (t,))``.
    """
    v = np.asarray(total, dtype=float).reshape(t, n)
    grand = float(v.mean())
    mu = np.zeros(n)
    alpha = np.zeros(t)
    if fe in ("entity", "twoways"):
        mu = v.mean(axis=0) - grand
    if fe in ("time", "twoways"):
        alpha = v.mean(axis=1) - grand
    return grand, mu, alpha
