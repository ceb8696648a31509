"""Data-generating processes for Monte Carlo studies of the spatial panel estimators.

Four static spatial panel models (LeSage & Pace 2009, ch. 2; Elhorst 2014,
ch. 3), optionally dynamic in time (Yu, de Jong & Lee 2008), with unit and/or
time effects, on any spatial weights matrix ``W`` (N x N):

* SAR  : ``y_t = (I - rho W)^-1 (tau y_{t-1} + X_t b + mu + alpha_t 1 + u_t)``
* SDM  : ``y_t = (I - rho W)^-1 (tau y_{t-1} + X_t b + W X_t theta + mu + alpha_t 1 + u_t)``
* SEM  : ``y_t = tau y_{t-1} + X_t b + mu + alpha_t 1 + (I - lambda W)^-1 u_t``
* SDEM : ``y_t = tau y_{t-1} + X_t b + W X_t theta + mu + alpha_t 1 + (I - lambda W)^-1 u_t``

with, for unit i, period t and regressor k (all draws independent),

* ``u_it ~ N(0, sigma2)``,
* ``mu_i ~ N(0, effect_scale^2)`` when ``fe`` is ``"entity"`` or ``"twoways"``, else 0,
* ``alpha_t ~ N(0, effect_scale^2)`` when ``fe`` is ``"time"`` or ``"twoways"``, else 0,
* ``x_itk = e_itk + c (mu_i + alpha_t)`` with ``e_itk ~ N(0, 1)`` and
  ``c = x_effect_corr``: regressors correlated with the effects, so that
  pooled estimation is biased and the fixed-effects transformations matter.

``(I - rho W)^-1 v`` is never formed as a dense inverse: ``I - rho W`` is
factorised once by sparse LU (SuperLU, :func:`scipy.sparse.linalg.splu`) and
each period's right-hand side is solved with the factors (all periods in one
solve when ``tau == 0``, period by period otherwise). A dynamic process starts
from ``y_0 = 0`` and discards ``burn_in`` periods, drawn with their own ``X``
and ``alpha``.

Randomness: one :class:`numpy.random.Generator` built from a
:class:`numpy.random.SeedSequence`. :func:`replication_seed` gives
replication ``r`` of a design the child sequence
``SeedSequence(base_seed, spawn_key=(r,))`` -- identical to
``SeedSequence(base_seed).spawn(R)[r]`` for any ``R > r`` -- so replication
``r`` is reproducible on its own, whatever number of replications is run and in
whatever order or on whatever worker.

Arrays are stacked time-major (period 1's N units in W's order, then period
2's, ...), the layout of ``Model.from_arrays``.

References
----------
Elhorst, J. P. (2014). *Spatial Econometrics: From Cross-Sectional Data to Spatial Panels*. Springer.
Lee, L.-F. and Yu, J. (2010). Estimation of spatial autoregressive panel data models with fixed
effects. *Journal of Econometrics* 154(2), 165-185.
LeSage, J. and Pace, R. K. (2009). *Introduction to Spatial Econometrics*. CRC Press.
Yu, J., de Jong, R. and Lee, L.-F. (2008). Quasi-maximum likelihood estimators for spatial dynamic
panel data with fixed effects when both n and T are large. *Journal of Econometrics* 146(1), 118-134.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sps
from scipy.sparse.linalg import splu

MODELS = ("sar", "sem", "sdm", "sdem")
FIXED_EFFECTS = ("none", "entity", "time", "twoways")
_LAG_MODELS = ("sar", "sdm")
_DURBIN_MODELS = ("sdm", "sdem")


def replication_seed(base_seed: int, replication: int) -> np.random.SeedSequence:
    """Seed sequence of replication ``replication`` of a design with ``base_seed``.

    Equal to ``SeedSequence(base_seed).spawn(R)[replication]`` for every
    ``R > replication`` (numpy's ``spawn`` sets ``spawn_key=(i,)``), so the
    draws of one replication do not depend on how many are run.
    """
    if replication < 0:
        raise ValueError(f"replication must be >= 0, got {replication}")
    return np.random.SeedSequence(int(base_seed), spawn_key=(int(replication),))


def as_sparse_w(w) -> sps.csr_matrix:
    """Return ``w`` (libpysal W, scipy sparse matrix or dense array) as a CSR matrix."""
    if hasattr(w, "sparse"):  # libpysal.weights.W
        w = w.sparse
    m = sps.csr_matrix(w, dtype=float)
    if m.shape[0] != m.shape[1]:
        raise ValueError(f"W must be square, got shape {m.shape}")
    return m


@dataclass(frozen=True)
class SimulatedPanel:
    """One simulated panel and the true values that generated it.

    Attributes
    ----------
    y, x : ndarray
        ``(N*T,)`` and ``(N*T, k)``, stacked time-major in W's order.
    w : scipy.sparse.csr_matrix
        The weights matrix used.
    n, t : int
        Units and periods (burn-in excluded).
    names : list of str
        Regressor names ``x1, ..., xk``.
    truth : pandas.Series
        True values indexed like the estimator's ``params`` (``x*``, ``W*x*``
        for Durbin models, ``rho`` or ``lambda``) plus ``sigma2`` (and ``tau``
        when the process is dynamic).
    impacts : pandas.DataFrame
        True direct, indirect and total impacts per regressor (LeSage & Pace
        2009, eq. 2.46): ``M_k = S (b_k I + theta_k W)`` with
        ``S = (I - rho W)^-1`` for SAR/SDM and ``S = I`` for SEM/SDEM;
        direct = tr(M_k)/N, total = 1'M_k 1/N. Static (short-run) impacts.
    y_lag : ndarray or None
        ``y_{t-1}`` stacked like ``y`` for a dynamic process, else None.
    mu, alpha : ndarray
        The unit (N,) and time (T,) effects drawn.
    """

    y: np.ndarray
    x: np.ndarray
    w: sps.csr_matrix
    n: int
    t: int
    names: list[str]
    truth: pd.Series
    impacts: pd.DataFrame
    y_lag: np.ndarray | None = None
    mu: np.ndarray = field(default_factory=lambda: np.zeros(0))
    alpha: np.ndarray = field(default_factory=lambda: np.zeros(0))


def true_impacts(model: str, w, beta: Sequence[float], theta: Sequence[float] | None,
                 spatial: float, names: Sequence[str]) -> pd.DataFrame:
    """True direct/indirect/total impacts (LeSage & Pace 2009, sec. 2.7).

    ``S = (I - rho W)^-1`` is obtained by sparse LU solves against the identity
    (dense N x N result; meant for the N of a Monte Carlo study, N <= a few
    thousand).
    """
    W = as_sparse_w(w)
    n = W.shape[0]
    beta = np.asarray(beta, float)
    theta = np.zeros_like(beta) if theta is None else np.asarray(theta, float)
    if model in _LAG_MODELS:
        S = splu((sps.identity(n, format="csc") - spatial * W).tocsc()).solve(np.eye(n))
    else:
        S = np.eye(n)
    SW = np.asarray(W.T @ S.T).T  # S @ W
    tr_s, tr_sw = np.trace(S) / n, np.trace(SW) / n
    tot_s, tot_sw = S.sum() / n, SW.sum() / n
    direct = beta * tr_s + theta * tr_sw
    total = beta * tot_s + theta * tot_sw
    return pd.DataFrame({"direct": direct, "indirect": total - direct, "total": total},
                        index=pd.Index(list(names), name="variable"))


def simulate(
    model: str,
    w,
    n_periods: int,
    *,
    beta: Sequence[float] = (1.0, -0.5),
    theta: Sequence[float] | None = None,
    rho: float = 0.0,
    lam: float = 0.0,
    sigma2: float = 1.0,
    tau: float = 0.0,
    fe: str = "twoways",
    effect_scale: float = 1.0,
    x_effect_corr: float = 0.5,
    burn_in: int = 20,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> SimulatedPanel:
    """Simulate one spatial panel; see the module docstring for the exact process.

    Parameters
    ----------
    model : {"sar", "sem", "sdm", "sdem"}
    w : libpysal W or scipy sparse / dense (N, N)
        Used as given (row-standardise it beforehand if the estimator needs it).
    n_periods : int
        T, periods kept (>= 1).
    beta : sequence of float
        Coefficients of ``X_t``; its length sets k.
    theta : sequence of float, optional
        Coefficients of ``W X_t`` (SDM/SDEM only; default ``0.5 * beta``).
    rho : float
        Spatial lag parameter (SAR, SDM); |rho| < 1 for a row-standardised W.
    lam : float
        Spatial error parameter (SEM, SDEM).
    sigma2 : float
        Variance of the idiosyncratic error u.
    tau : float
        Coefficient of ``y_{t-1}`` (0 = static). ``|tau| + |rho| < 1`` keeps the
        SAR process stable (Yu, de Jong & Lee 2008, assumption 4).
    fe : {"none", "entity", "time", "twoways"}
        Which effects are drawn.
    effect_scale, x_effect_corr : float
        Standard deviation of the effects, and their loading in X.
    burn_in : int
        Discarded initial periods when ``tau != 0``.
    seed : int, SeedSequence, Generator or None
        Source of randomness; use :func:`replication_seed` for Monte Carlo.

    Returns
    -------
    SimulatedPanel
    """
    model = model.lower()
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if fe not in FIXED_EFFECTS:
        raise ValueError(f"fe must be one of {FIXED_EFFECTS}, got {fe!r}")
    if n_periods < 1:
        raise ValueError(f"n_periods must be >= 1, got {n_periods}")
    if sigma2 <= 0:
        raise ValueError(f"sigma2 must be > 0, got {sigma2}")
    W = as_sparse_w(w)
    n, t = W.shape[0], int(n_periods)
    beta = np.asarray(beta, float).ravel()
    k = beta.size
    durbin = model in _DURBIN_MODELS
    if durbin:
        theta = 0.5 * beta if theta is None else np.asarray(theta, float).ravel()
        if theta.size != k:
            raise ValueError(f"theta needs {k} values (one per beta), got {theta.size}")
    elif theta is not None and np.any(np.asarray(theta) != 0):
        raise ValueError(f"theta is only used by sdm/sdem, not {model}")
    else:
        theta = np.zeros(k)
    spatial = rho if model in _LAG_MODELS else lam
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    burn = int(burn_in) if tau != 0 else 0
    tt = t + burn
    # draws in a fixed order: effects, X, u (so a design's draws depend on its seed only)
    mu = rng.standard_normal(n) * effect_scale if fe in ("entity", "twoways") else np.zeros(n)
    alpha = rng.standard_normal(tt) * effect_scale if fe in ("time", "twoways") else np.zeros(tt)
    X = rng.standard_normal((tt, n, k)) + x_effect_corr * (mu[None, :, None] + alpha[:, None, None])
    U = rng.standard_normal((tt, n)) * np.sqrt(sigma2)

    # systematic part per period, shape (tt, n): X_t b + W X_t theta + mu + alpha_t
    xb = X @ beta
    if durbin:
        xb = xb + (W @ (X @ theta).T).T
    base = xb + mu[None, :] + alpha[:, None]
    lu = splu((sps.identity(n, format="csc") - spatial * W).tocsc())
    if model in _LAG_MODELS:
        shock = base + U                      # inside (I - rho W)^-1
    else:
        shock = base + lu.solve(U.T).T        # SEM/SDEM: (I - lam W)^-1 u_t added outside
    Y = np.empty((tt, n))
    if tau == 0:
        Y[:] = lu.solve(np.ascontiguousarray(shock.T)).T if model in _LAG_MODELS else shock
        ylag = None
    else:
        prev = np.zeros(n)
        for s in range(tt):
            rhs = shock[s] + tau * prev
            Y[s] = lu.solve(rhs) if model in _LAG_MODELS else rhs
            prev = Y[s]
        ylag_full = np.vstack([np.zeros((1, n)), Y[:-1]])
        ylag = ylag_full[burn:].reshape(-1)
    Y, X, alpha = Y[burn:], X[burn:], alpha[burn:]

    names = [f"x{j + 1}" for j in range(k)]
    idx = list(names) + ([f"W*{nm}" for nm in names] if durbin else []) + (
        ["rho"] if model in _LAG_MODELS else ["lambda"])
    vals = list(beta) + (list(theta) if durbin else []) + [spatial]
    truth = pd.Series(vals, index=idx, dtype=float, name="truth")
    truth["sigma2"] = float(sigma2)
    if tau != 0:
        truth["tau"] = float(tau)
    imp = true_impacts(model, W, beta, theta if durbin else None, spatial, names)
    return SimulatedPanel(y=Y.reshape(-1), x=X.reshape(t * n, k), w=W, n=n, t=t, names=names,
                          truth=truth, impacts=imp, y_lag=ylag, mu=mu, alpha=alpha)
