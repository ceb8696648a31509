"""Covariance estimators of the spatial maximum-likelihood fits: one place for every choice.

``cov=`` of the static models (:mod:`spillover.spatial.models`):

* ``"information"``: the inverse of the expected information matrix of the
  (transformed) model, Anselin (1988, eqs. 6.5 and 12.9 for SAR/SEM),
  Elhorst (2014, eq. 3.20), Lee & Yu (2010, eqs. 13 and 37) where the
  demeaning operator's unit eigenvalue is removed (``tr(G*) = tr(G) -
  1/(1-rho)``, ``tr(G*'G*) = tr(G'G) - |G'1|^2/N``): :func:`expected_information`.
* ``"hessian"``: the inverse of minus the analytic observed Hessian at the
  estimate: :func:`observed_hessian`.
* ``"numerical"``: the inverse of minus a central-difference Hessian of the
  full log-likelihood: :func:`numerical`; the only choice for SAC and GNS.

Random-effects, dynamic and unbalanced fits use :func:`from_gradient` (central
differences of the analytic gradient, rounding ``eps |g| / h``) where the
gradient is written out, else :func:`numerical`. ``cov="robust"`` and
``"cluster"`` (static, dynamic and unbalanced fits) are the sandwiches of
:mod:`spillover.spatial.sandwich`. Every information matrix is
inverted by :func:`invert`, which names the likely cause when it is singular.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp_sparse
from scipy.sparse.linalg import splu

from spillover.errors import SpecificationError, format_error
from spillover.spatial.likelihood import hessian_from_gradient, numerical_hessian
from spillover.spatial.logdet import one_blas_thread
from spillover.spatial.transforms import demean

#: ``cov=`` choices of the static ML models, with the label printed in tables.
CHOICES = {"information": "expected information", "hessian": "observed Hessian",
           "numerical": "numerical Hessian"}


def invert(info: np.ndarray, what: str = "information matrix") -> np.ndarray:
    """``info^-1``; a singular matrix is a :class:`SpecificationError` (collinear regressors, usually)."""
    try:
        return np.linalg.inv(info)
    except np.linalg.LinAlgError as exc:
        raise SpecificationError(format_error(f"the {what} is singular", hint="check for collinear regressors")) from exc


def numerical(llf, theta: np.ndarray) -> np.ndarray:
    """Minus the central-difference Hessian of ``llf`` at ``theta`` (an observed information)."""
    return -numerical_hessian(llf, theta)


def from_gradient(grad, theta: np.ndarray) -> np.ndarray:
    """Minus the central-difference Jacobian of the analytic gradient ``grad`` at ``theta``."""
    return -hessian_from_gradient(grad, theta)


def lag_lu(W, p: float):
    """Sparse LU of ``I - p W``, the one factorisation the information matrix needs.

    Minimum-degree ordering of ``A + A'`` without pivoting when ``I - p W``
    is strictly diagonally dominant (always for a row-standardised ``W`` and
    ``|p| < 1``), as in :class:`spillover.spatial.logdet.LULogDet`: at N =
    100,000 (6-NN) about half the time and memory of COLAMD with partial
    pivoting; otherwise COLAMD with partial pivoting. Exact either way.
    """
    w = sp_sparse.csr_matrix(W)
    a = sp_sparse.csc_matrix(sp_sparse.identity(w.shape[0]) - p * w)
    diag = np.abs(1.0 - p * w.diagonal())
    off = np.asarray(abs(w).sum(axis=1)).ravel() - np.abs(w.diagonal())
    if np.all(abs(p) * off < diag):
        return splu(a, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    return splu(a)


def _starred(engine, p: float, corr_on: bool, W, n: int, lu=None) -> tuple[float, float, float]:
    """tr(G), tr(G^2), tr(G'G) at p, with Lee-Yu's unit-eigenvalue removal when ``corr_on``.

    ``lu`` is the LU of ``I - p W`` (:func:`lag_lu`), needed when ``corr_on``: ``G'1`` comes
    from its transposed solve.
    """
    tg, tg2, tgg = float(engine.tr_G(p)), float(engine.tr_G2(p)), float(engine.tr_GtG(p))
    if corr_on:
        g1 = lu.solve(np.asarray(W.T @ np.ones(n)), trans="T")
        tg -= 1.0 / (1.0 - p)
        tg2 -= 1.0 / (1.0 - p) ** 2
        tgg -= float(g1 @ g1) / n
    return tg, tg2, tgg


@one_blas_thread
def expected_information(spec, mom, beta, rho, lam, sigma2, engine, conv, W, zt, n, t, fe):
    """Expected information of (beta, rho | lambda, sigma2); see the module docstring.

    ``W`` and ``engine`` are those of the model's one spatial parameter: the lag's W,
    or the error's (``w_u``).
    """
    k = len(beta)
    corr_on = conv.jac_corr > 0
    c = conv.jac
    p = rho if spec.lag else lam
    lu = lag_lu(W, p) if (spec.lag or corr_on) else None
    tg, tg2, tgg = _starred(engine, p, corr_on, W, n, lu)
    info = np.zeros((k + 2, k + 2))
    if spec.lag:
        zb = zt @ beta
        wzb = np.asarray(W @ zb.reshape(t, n).T)
        v = lu.solve(wzb).T.reshape(-1)  # (I_T kron G) Z b, time-major
        if corr_on:
            v = demean(v, n, t, fe)
        info[:k, :k] = zt.T @ zt / sigma2
        info[:k, k] = info[k, :k] = zt.T @ v / sigma2
        info[k, k] = c * (tg2 + tgg) + float(v @ v) / sigma2
    else:
        _, bmat = mom._vectors(0.0, lam)
        info[:k, :k] = bmat.T @ mom.gram @ bmat / sigma2
        info[k, k] = c * (tg2 + tgg)
    info[k, k + 1] = info[k + 1, k] = c * tg / sigma2
    info[k + 1, k + 1] = conv.n_eff / (2 * sigma2**2)
    return info


def observed_hessian(spec, mom, beta, rho, lam, sigma2, engine, conv):
    """Analytic Hessian of the full log-likelihood in (beta, rho | lambda, sigma2).

    ``engine`` is that of the model's one spatial parameter (the error's W for SEM/SDEM).
    """
    k, z0 = len(beta), mom.Z0
    g = mom.gram
    s2 = sigma2
    h = np.zeros((k + 2, k + 2))
    p = rho if spec.lag else lam
    curv = -conv.jac * float(engine.tr_G2(p)) + conv.jac_corr / (1.0 - p) ** 2
    m = z0 + 2 * k
    zsel = np.zeros((m, k))
    zsel[z0 : z0 + k] = np.eye(k)
    a_e, bmat = mom._vectors(rho, lam)
    a_e = a_e - bmat @ beta  # coefficients of e
    ee = float(a_e @ g @ a_e)
    if spec.lag:
        a_wy = np.zeros(m)
        a_wy[1] = 1.0
        h[:k, :k] = -zsel.T @ g @ zsel / s2
        h[:k, k] = h[k, :k] = -zsel.T @ g @ a_wy / s2
        h[k, k] = curv - float(a_wy @ g @ a_wy) / s2
        h[:k, k + 1] = h[k + 1, :k] = -zsel.T @ g @ a_e / s2**2
        h[k, k + 1] = h[k + 1, k] = -float(a_wy @ g @ a_e) / s2**2
    else:
        wzsel = np.zeros((m, k))
        wzsel[z0 + k :] = np.eye(k)
        a_uw = np.zeros(m)
        a_uw[2] = 1.0  # M y
        a_uw[z0 + k :] = -beta
        h[:k, :k] = -bmat.T @ g @ bmat / s2
        h[:k, k] = h[k, :k] = (-wzsel.T @ g @ a_e - bmat.T @ g @ a_uw) / s2
        h[k, k] = curv - float(a_uw @ g @ a_uw) / s2
        h[:k, k + 1] = h[k + 1, :k] = -bmat.T @ g @ a_e / s2**2
        h[k, k + 1] = h[k + 1, k] = -float(a_uw @ g @ a_e) / s2**2
    h[k + 1, k + 1] = conv.n_eff / (2 * s2**2) - ee / s2**3
    return h
