"""Bayesian log-marginal likelihoods and posterior model probabilities of static spatial panel models.

The comparison of LeSage (2014, "Spatial econometric panel data model
specification: a Bayesian approach", *Spatial Statistics* 9, 122-145;
LeSage & Pace 2009, *Introduction to Spatial Econometrics*, ch. 6) for

========  ===============================================  ==================
model     equation (after the fixed-effects transform)     regressors ``Z``
========  ===============================================  ==================
``ols``   y = Z b + e                                      X
``slx``   y = Z b + e                                      [X, W X]
``sar``   y = rho W y + Z b + e                            X
``sdm``   y = rho W y + Z b + e                            [X, W X]
``sem``   y = Z b + u,  u = lambda W u + e                 X
``sdem``  y = Z b + u,  u = lambda W u + e                 [X, W X]
========  ===============================================  ==================

with ``e ~ N(0, sigma2 I)``, ``W`` standing for ``I_T kron W`` on the panel
stacked time-major, and X holding an intercept only when ``fe="none"``.

Priors (LeSage 2014; LeSage & Pace 2009, ch. 6)
-----------------------------------------------
* ``b``: flat; ``sigma``: ``p(sigma) ∝ 1/sigma``. Both are integrated out
  analytically. With an improper prior on ``b`` the marginal likelihoods of
  models with different numbers of regressors are defined only up to the
  height of the flat prior. LeSage's constant, eq. (1) below, is the exact
  marginal likelihood under a flat prior of height sqrt(2) on every
  coefficient, times a factor that depends only on the sample size and so is
  common to all models compared (``2^(1 - nu/2)`` for the ``nu``
  observations of the demeaned data, ``2^(1 - NT/2)`` with ``fe="none"``,
  where the intercept is a coefficient).
* ``rho`` / ``lambda``: proper, either uniform on the admissible interval
  ``(1/omega_min, 1/omega_max)``, ``omega`` the smallest and largest real
  parts of W's eigenvalues, density ``1/D`` with ``D = 1/omega_max - 1/omega_min``
  (``prior="uniform"``, the default), or the beta(a, a) density on (-1, 1),
  ``p(rho) = (1 + rho)^(a-1) (1 - rho)^(a-1) / (B(a, a) 2^(2a-1))``
  (``prior="beta"``, LeSage & Pace 2009, ch. 5; ``a = 1.01`` by default).
* Every model has the same prior probability; with several W every
  (model, W) pair does, and OLS, which involves no W, counts once.

Log-marginal likelihoods
------------------------
With ``nu = N T - dofadj`` (``dofadj`` = 1, N, T or N + T - 1 for the
intercept / unit / period / both effects absorbed by the transform), ``p``
the number of regressors besides the intercept and the effects
(k for ``ols``/``sar``/``sem``, 2k for the Durbin models) and
``a = (nu - p) / 2``, integrating ``b`` and ``sigma`` out gives

(1)  ``log C = log Gamma(a) - a log(2 pi)``

(2)  OLS, SLX:  ``log p(y) = log C - 1/2 log|Z'Z| - a log S``, ``S`` the
     least-squares residual sum of squares;

(3)  SAR, SDM:  ``log p(y) = log C - 1/2 log|Z'Z| + log ∫ p(rho)
     |I_N - rho W|^T S(rho)^(-a) d rho`` with ``S(rho) = e0'e0 - 2 rho
     e0'ed + rho^2 ed'ed``, ``e0`` and ``ed`` the residuals of ``y`` and
     ``W y`` on ``Z``;

(4)  SEM, SDEM: ``log p(y) = log C + log ∫ p(lambda) |I_N - lambda W|^T
     |Z_l'Z_l|^(-1/2) S(lambda)^(-a) d lambda`` with ``Z_l = Z - lambda W Z``
     and ``S(lambda)`` the residual sum of squares of ``y - lambda W y`` on
     ``Z_l`` (LeSage 2014; LeSage & Parent 2007, *Geographical Analysis* 39,
     241-267, for the cross-section).

The Jacobian carries the exponent T whatever the effects, and ``nu``
subtracts the absorbed effects, as in LeSage's panel formulas and SDPDmod's
``blmpSDPD``. Probabilities are ``exp(log p_m - max) / sum``.

Integration over rho / lambda
-----------------------------
The trapezoid rule on the grid of SDPDmod (0.0.6) and of the MATLAB routine
it follows: from ``1/omega_min + 0.001`` to ``1/omega_max - 0.001`` in
steps of 0.001 (from -0.999 to 0.999 for the beta prior), about 2,600
points for a row-standardised contiguity W, with the exact log-determinant
at every point (from the eigenvalues; above N = 2,000, or 1,000 for a W
with complex eigenvalues, :func:`spillover.spatial.logdet.make_logdet`
switches to its Monte Carlo approximation). The integrand is scaled by its
maximum before it is exponentiated; the 0.001 left out at each end is
ignored. On the tests' panels this agrees with adaptive quadrature over the
whole interval to 5e-9 in the log-marginal. SDPDmod itself coarsens the
grid to 0.01 and interpolates the log-determinant by a spline for N >= 500,
and above N = 1,000 uses a Monte Carlo log-determinant on rho >= 0 only;
neither is imitated here.

Conventions (``convention=``)
----------------------------
``"paper"`` (default)
    The formulas above: the log of the integral, and spatial lags formed on
    the raw data and then transformed (``Q W y``), the package's rule
    (``spillover.spatial.transforms``).
``"sdpdmod"``
    Reproduces ``SDPDmod::blmpSDPD`` 0.0.6 (and ``log_marginal_panelprob.m``
    of LeSage, adjusted by Elhorst, 2013) number for number, for checking.
    Three things differ from ``"paper"``: (i) the integral term added to the
    log-marginal is ``sum_i (r_i+1 + r_i)(f_i+1 - f_i) / 2`` of the scaled
    integrand ``f`` -- the trapezoid sum with grid and integrand swapped,
    which approximates minus the integral, not its log; (ii) W is applied to
    the demeaned data (``W Q y``; the same as ``Q W y`` for unit effects, not
    for period effects unless W is also column-standardised); (iii) with
    ``fe="none"`` the error models take ``W 1 = 1`` for the intercept,
    exact only for a row-standardised W. Point (i) raises each spatial
    model's log-marginal by about ``-log(I) - I`` against OLS and SLX, with
    ``I`` the integral of the scaled integrand (about the width of the
    posterior of rho, so the shift is a few units: 2 to 3 on Produc with
    unit effects), and moves the spatial models against each other by the
    differences of those shifts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from spillover.errors import SpecificationError, WeightsError, format_error

__all__ = ["model_probabilities", "MODELS", "PRIORS", "CONVENTIONS", "GRID_STEP"]

MODELS = ("ols", "slx", "sar", "sdm", "sem", "sdem")
PRIORS = ("uniform", "beta")
CONVENTIONS = ("paper", "sdpdmod")
FE_CHOICES = ("none", "entity", "time", "twoways")
#: spacing of the rho / lambda grid, and the distance of its ends from the singular points
GRID_STEP = 0.001
#: W label of OLS when several W are compared (OLS involves no W)
NO_W = "-"

_DURBIN = {"ols": False, "slx": True, "sar": False, "sdm": True, "sem": False, "sdem": True}
_KIND = {"ols": "ls", "slx": "ls", "sar": "lag", "sdm": "lag", "sem": "error", "sdem": "error"}


# ------------------------------------------------------------------ inputs
def _check_models(models: Any) -> list[str]:
    """Lower-cased model names, in the order given; SpecificationError naming ``models`` otherwise."""
    if isinstance(models, str):
        models = [models]
    try:
        models = list(models)
    except TypeError:
        models = []
    if not models:
        raise SpecificationError(format_error("models must be a non-empty list of model names", option="models",
                                              hint=f"choose from {list(MODELS)}"))
    names = []
    for m in models:
        key = m.lower() if isinstance(m, str) else m
        if key not in MODELS:
            raise SpecificationError(format_error(f"unknown model {m!r}", option="models",
                                                  hint=f"choose from {list(MODELS)}"))
        if key in names:
            raise SpecificationError(format_error(f"model {m!r} is listed twice", option="models"))
        names.append(key)
    return names


def _check_choice(value: Any, choices: Sequence[str], option: str) -> str:
    if value not in choices:
        raise SpecificationError(format_error(f"{option}={value!r} is not one of {list(choices)}", option=option))
    return value


def _weights_list(w: Any) -> tuple[list[tuple[str, Any]], bool]:
    """``[(name, W), ...]`` and whether several W were given (a dict or a list, named ``W1``, ``W2``, ...)."""
    if isinstance(w, Mapping):
        items = [(str(k), v) for k, v in w.items()]
    elif isinstance(w, list):
        items = [(f"W{i + 1}", v) for i, v in enumerate(w)]
    else:
        return [("W", w)], False
    if not items:
        raise SpecificationError(format_error("no weights matrix given", option="w",
                                              hint="pass one W, or a dict name -> W"))
    if NO_W in {name for name, _ in items}:
        raise SpecificationError(format_error(f"{NO_W!r} cannot name a W: it marks OLS, which has none", option="w"))
    return items, True


# ------------------------------------------------------------------ data
@dataclass(frozen=True)
class _Panel:
    """Transformed arrays of one panel and one W (see the module docstring for the conventions).

    ``x`` holds the intercept (``fe="none"``) and the k regressors, ``wx``
    the lags of the k regressors, ``lag_x`` / ``lag_wx`` the lags of every
    column of ``x`` / ``wx`` (for the error models).
    """

    y: np.ndarray
    wy: np.ndarray
    x: np.ndarray
    wx: np.ndarray
    lag_x: np.ndarray
    lag_wx: np.ndarray
    names: list[str]
    n: int
    t: int
    dofadj: int
    w: Any


def _dofadj(fe: str, n: int, t: int) -> int:
    """Number of effects absorbed by the transform (the intercept when ``fe="none"``)."""
    return {"none": 1, "entity": n, "time": t, "twoways": n + t - 1}[fe]


def _prepare(formula: str, data: pd.DataFrame, w: Any, entity: str, time: str, fe: str,
             convention: str) -> _Panel:
    """Stack the panel in W's order and apply the fixed-effects transform ``Q`` (see the module docstring)."""
    from spillover.spatial.design import build_design
    from spillover.spatial.transforms import demean, spatial_lag

    try:
        d = build_design(formula, data, w, entity, time, intercept=fe == "none", wx=True)
    except WeightsError as exc:
        raise SpecificationError(f"{format_error('w does not fit the panel', option='w')}: {exc}") from None
    n, t = d.n, d.t

    def Q(a: np.ndarray) -> np.ndarray:
        return demean(a, n, t, fe)

    def L(a: np.ndarray) -> np.ndarray:
        return spatial_lag(d.w, a, n, t)

    icol = [j for j, c in enumerate(d.x_names) if c == "Intercept"]
    if convention == "paper":
        y, wy = Q(d.y), Q(L(d.y))
        x, lag_x = Q(d.x), Q(L(d.x))
        wx = lag_x[:, d.wx_idx]
        lag_wx = Q(L(L(d.x[:, d.wx_idx])))
    else:  # sdpdmod: W applied to the transformed data, W 1 taken as 1
        y, x = Q(d.y), Q(d.x)
        wy, lag_x = L(y), L(x)
        lag_x[:, icol] = 1.0
        wx = lag_x[:, d.wx_idx]
        lag_wx = L(wx)
    return _Panel(y=y, wy=wy, x=x, wx=wx, lag_x=lag_x, lag_wx=lag_wx, names=list(d.x_names), n=n, t=t,
                  dofadj=_dofadj(fe, n, t), w=d.w)


def _regressors(panel: _Panel, model: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``Z``, its spatial lag ``W Z`` and the names of Z's columns for ``model``."""
    if _DURBIN[model]:
        z = np.column_stack([panel.x, panel.wx])
        lag = np.column_stack([panel.lag_x, panel.lag_wx])
        names = panel.names + [f"W*{c}" for c in panel.names if c != "Intercept"]
    else:
        z, lag, names = panel.x, panel.lag_x, panel.names
    from spillover.spatial.design import collinear_columns

    bad = collinear_columns(z, names)
    if bad:
        raise SpecificationError(format_error(
            "perfectly collinear regressor(s) after the fixed-effects transformation", option="models",
            model=model, variables=bad,
            hint="drop them; with unit effects time-invariant variables vanish, with time effects common ones do"))
    return z, lag, names


# ------------------------------------------------------------------ rho grid and prior
@dataclass(frozen=True)
class _Grid:
    """Grid of rho / lambda, ``T log|I - rho W|`` and the log prior density on it."""

    rho: np.ndarray
    log_jacobian: np.ndarray
    log_prior: np.ndarray
    interval: tuple[float, float]


def _r_seq(start: float, stop: float, step: float) -> np.ndarray:
    """``start, start + step, ...`` up to ``stop``, as R's ``seq(start, stop, step)`` makes it."""
    count = int((stop - start) / step + 1e-10)
    return np.minimum(start + np.arange(count + 1) * step, stop)


def _admissible(ld: Any) -> tuple[float, float]:
    """``(1/omega_min, 1/omega_max)`` from W's smallest and largest real parts of the eigenvalues.

    SDPDmod asks RSpectra for the eigenvalues with the smallest and largest
    real part; with exact eigenvalues (``ld.eigenvalues``) those are read off
    here. Without them (large N) the log-determinant engine's own admissible
    interval is used.
    """
    lam = getattr(ld, "eigenvalues", None)
    if lam is not None:
        re = np.real(lam)
        lo, hi = float(re.min()), float(re.max())
        if lo < 0 < hi:
            return 1.0 / lo, 1.0 / hi
    lo, hi = ld.bounds
    return lo / (1.0 - ld.eps), hi / (1.0 - ld.eps)


def _grid(W: Any, t: int, prior: str, beta_a: float) -> _Grid:
    """The integration grid of the module docstring with the Jacobian and the prior on it."""
    from spillover.spatial.logdet import make_logdet

    ld = make_logdet(W, "auto")
    lo, hi = _admissible(ld)
    if prior == "uniform":
        rho = _r_seq(lo + GRID_STEP, hi - GRID_STEP, GRID_STEP)
        log_prior = np.full(rho.shape, -np.log(hi - lo))
    else:
        if lo >= -1.0 + GRID_STEP or hi <= 1.0 - GRID_STEP:  # a grid point outside W's interval
            raise SpecificationError(format_error(
                f"the beta prior lives on (-1, 1) but W admits rho only in ({lo:.4g}, {hi:.4g})", option="prior",
                hint="use prior='uniform', or scale W so that its eigenvalues lie in [-1, 1] (row-standardise it)"))
        rho = _r_seq(-1.0 + GRID_STEP, 1.0 - GRID_STEP, GRID_STEP)
        log_prior = beta_log_density(rho, beta_a)
    return _Grid(rho=rho, log_jacobian=t * np.asarray(ld.logdet(rho)), log_prior=log_prior, interval=(lo, hi))


def beta_log_density(rho: np.ndarray, a: float) -> np.ndarray:
    """Log of the beta(a, a) density on (-1, 1): ``(1+rho)^(a-1) (1-rho)^(a-1) / (B(a, a) 2^(2a-1))``."""
    return ((a - 1.0) * (np.log1p(rho) + np.log1p(-rho)) - special.betaln(a, a)
            - (2.0 * a - 1.0) * np.log(2.0))


# ------------------------------------------------------------------ integrals
def _log_integral(rho: np.ndarray, log_f: np.ndarray, convention: str) -> float:
    """``log ∫ exp(log_f) d rho`` by the trapezoid rule, the integrand scaled by its maximum.

    With ``convention="sdpdmod"`` the term SDPDmod adds instead (see the module docstring, point (i)).
    """
    top = float(np.max(log_f))
    f = np.exp(log_f - top)
    if convention == "sdpdmod":
        return top + float(np.sum((rho[1:] + rho[:-1]) * (f[1:] - f[:-1]) / 2.0))
    return top + float(np.log(np.sum(np.diff(rho) * (f[1:] + f[:-1]) / 2.0)))


def _half_dof(panel: _Panel, z: np.ndarray) -> float:
    """``a = (N T - dofadj - p) / 2`` with p the regressors besides the intercept."""
    p = z.shape[1] - (1 if "Intercept" in panel.names else 0)
    nu = panel.n * panel.t - panel.dofadj - p
    if nu <= 0:
        raise SpecificationError(format_error(
            f"{p} regressors and {panel.dofadj} absorbed effects leave no degrees of freedom on "
            f"{panel.n * panel.t} observations", option="formula"))
    return nu / 2.0


def _log_const(a: float) -> float:
    """Eq. (1): ``log Gamma(a) - a log(2 pi)``."""
    return float(special.gammaln(a) - a * np.log(2.0 * np.pi))


def _logdet_spd(a: np.ndarray) -> np.ndarray:
    """``log|A|`` of (a stack of) symmetric positive definite matrices."""
    return np.linalg.slogdet(a)[1]


def log_marginal_ls(y: np.ndarray, z: np.ndarray, a: float) -> float:
    """Eq. (2): OLS / SLX log-marginal likelihood."""
    zz = z.T @ z
    b = np.linalg.solve(zz, z.T @ y)
    e = y - z @ b
    return _log_const(a) - 0.5 * float(_logdet_spd(zz)) - a * float(np.log(e @ e))


def log_marginal_lag(y: np.ndarray, wy: np.ndarray, z: np.ndarray, a: float, grid: _Grid,
                     convention: str = "paper") -> float:
    """Eq. (3): SAR / SDM log-marginal likelihood."""
    zz = z.T @ z
    b = np.linalg.solve(zz, z.T @ np.column_stack([y, wy]))
    e0 = y - z @ b[:, 0]
    ed = wy - z @ b[:, 1]
    r = grid.rho
    s = e0 @ e0 - 2.0 * r * (ed @ e0) + r * r * (ed @ ed)
    log_f = -a * np.log(s) + grid.log_jacobian + grid.log_prior
    return _log_const(a) - 0.5 * float(_logdet_spd(zz)) + _log_integral(r, log_f, convention)


def error_profile(y: np.ndarray, wy: np.ndarray, z: np.ndarray, wz: np.ndarray,
                  lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(S(lambda), log|Z_l'Z_l|)`` on ``lam`` from cross-products, ``Z_l = Z - lambda W Z``."""
    g = lam[:, None]
    axx = z.T @ z - g[:, :, None] * (z.T @ wz + wz.T @ z) + g[:, :, None] ** 2 * (wz.T @ wz)
    axy = z.T @ y - g * (z.T @ wy + wz.T @ y) + g**2 * (wz.T @ wy)
    ayy = y @ y - 2.0 * lam * (y @ wy) + lam**2 * (wy @ wy)
    b = np.linalg.solve(axx, axy[:, :, None])[:, :, 0]
    s = ayy - np.einsum("gi,gi->g", b, axy)
    return s, _logdet_spd(axx)


def log_marginal_error(y: np.ndarray, wy: np.ndarray, z: np.ndarray, wz: np.ndarray, a: float, grid: _Grid,
                       convention: str = "paper") -> float:
    """Eq. (4): SEM / SDEM log-marginal likelihood."""
    s, logdet_zz = error_profile(y, wy, z, wz, grid.rho)
    log_f = -a * np.log(s) + grid.log_jacobian - 0.5 * logdet_zz + grid.log_prior
    return _log_const(a) + _log_integral(grid.rho, log_f, convention)


def _log_marginal(panel: _Panel, model: str, grid: _Grid, convention: str) -> float:
    z, wz, _ = _regressors(panel, model)
    a = _half_dof(panel, z)
    kind = _KIND[model]
    if kind == "ls":
        return log_marginal_ls(panel.y, z, a)
    if kind == "lag":
        return log_marginal_lag(panel.y, panel.wy, z, a, grid, convention)
    return log_marginal_error(panel.y, panel.wy, z, wz, a, grid, convention)


def probabilities(log_marginal: np.ndarray) -> np.ndarray:
    """Posterior probabilities under equal prior model probabilities: ``exp(l - max) / sum``."""
    v = np.exp(np.asarray(log_marginal, dtype=float) - np.max(log_marginal))
    return v / v.sum()


# ------------------------------------------------------------------ public
def model_probabilities(
    models: Sequence[str],
    formula: str,
    data: pd.DataFrame,
    w: Any,
    entity: str,
    time: str,
    fe: str = "entity",
    *,
    prior: str = "uniform",
    beta_a: float = 1.01,
    convention: str = "paper",
) -> pd.DataFrame:
    """Log-marginal likelihoods and posterior probabilities of spatial panel models (LeSage 2014).

    Parameters
    ----------
    models : list of str
        Any of ``"ols"``, ``"slx"``, ``"sar"``, ``"sdm"``, ``"sem"``,
        ``"sdem"`` (see the module docstring for the equations).
    formula : str
        ``"y ~ x1 + x2"``; the spatially lagged regressors of the Durbin
        models are the lags of every regressor.
    data : pandas.DataFrame
        Balanced long panel.
    w : libpysal.weights.W, (matrix, ids), or a dict name -> W / list of W
        One W, or several to compare (a list is named ``W1``, ``W2``, ...).
    entity, time : str
        Column names.
    fe : {"none", "entity", "time", "twoways"}
        Fixed effects removed by demeaning (an intercept with ``"none"``).
    prior : {"uniform", "beta"}
        Prior of rho / lambda: uniform on W's admissible interval, or
        beta(``beta_a``, ``beta_a``) on (-1, 1).
    beta_a : float
        Parameter of the beta prior (LeSage's default 1.01).
    convention : {"paper", "sdpdmod"}
        ``"sdpdmod"`` reproduces R SDPDmod's ``blmpSDPD`` exactly, including
        the way it adds the integral (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        Columns ``log_marginal`` and ``probability`` (summing to one over the
        rows); index ``model`` in the order given, or, when ``w`` is a dict or
        a list, a MultiIndex ``(model, W)`` over every model and W, OLS once
        with W ``"-"``. ``attrs`` records the prior, the convention and, per
        W, the admissible interval and the number of grid points.

    Raises
    ------
    SpecificationError
        Unknown model, fe, prior or convention; bad panel (unbalanced,
        missing values, W's ids differing from the entities, option ``w``);
        collinear regressors; the beta prior on a W whose admissible interval
        does not contain (-1, 1).
    """
    names = _check_models(models)
    fe = _check_choice(fe, FE_CHOICES, "fe")
    prior = _check_choice(prior, PRIORS, "prior")
    convention = _check_choice(convention, CONVENTIONS, "convention")
    if not (np.isfinite(beta_a) and beta_a >= 1.0):
        raise SpecificationError(format_error(f"beta_a={beta_a!r} must be a number >= 1", option="beta_a"))
    items, several = _weights_list(w)
    rows: list[tuple[str, str, float]] = []
    grids: dict[str, dict[str, Any]] = {}
    for wname, wi in items:
        panel = _prepare(formula, data, wi, entity, time, fe, convention)
        needs_grid = any(_KIND[m] != "ls" for m in names)
        grid = _grid(panel.w, panel.t, prior, beta_a) if needs_grid else None
        if grid is not None:
            grids[wname] = {"interval": grid.interval, "points": int(grid.rho.size),
                            "range": (float(grid.rho[0]), float(grid.rho[-1]))}
        for m in names:
            if several and m == "ols":
                if any(r[0] == "ols" for r in rows):
                    continue
                rows.append((m, NO_W, _log_marginal(panel, m, grid, convention)))
            else:
                rows.append((m, wname, _log_marginal(panel, m, grid, convention)))
    lm = np.array([r[2] for r in rows])
    if several:
        index = pd.MultiIndex.from_tuples([(r[0], r[1]) for r in rows], names=["model", "W"])
    else:
        index = pd.Index([r[0] for r in rows], name="model")
    out = pd.DataFrame({"log_marginal": lm, "probability": probabilities(lm)}, index=index)
    out.attrs.update({"prior": prior, "beta_a": beta_a if prior == "beta" else None, "fe": fe,
                      "convention": convention, "grid_step": GRID_STEP, "grid": grids})
    return out
