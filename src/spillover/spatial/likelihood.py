"""Gaussian log-likelihoods of the fixed-effects spatial panel models.

All models share one representation. With the transformed (demeaned) data
``y~, (Wy)~, (My)~, (MWy)~, Z~, (MZ)~`` (spatial lags formed on raw data first;
``M`` is the W of the error, ``w_u``, by default ``W``) the residual of the
general SAC model

    y = rho W y + Z b + u,   u = lam M u + e           (Elhorst 2014, eq. 2.5)

is ``e = [y~ - rho (Wy)~ - lam (My)~ + rho lam (MWy)~] - [Z~ - lam (MZ)~] b``, which is
linear in the columns of ``C = [y~, (Wy)~, (My)~, (MWy)~, Z~, (MZ)~]``. With the Gram
matrix ``C'C`` computed once, b(rho, lam) and e'e cost O(k^3) per evaluation,
whatever N T is; SAR/SDM set lam = 0 and SEM/SDEM set rho = 0.

Concentrated log-likelihood (Anselin 1988, eq. 12.7; Elhorst 2014, eq. 3.18)::

    l_c = -n_eff/2 log(e'e / n_eff) + jac [ld(rho) + ld(lam)]
          - jac_corr [log(1-rho) + log(1-lam)]

with ``ld = log|I - . W|`` from :mod:`spillover.spatial.logdet` and the
convention constants of :mod:`spillover.spatial.transforms`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOG2PI = float(np.log(2.0 * np.pi))


@dataclass
class Moments:
    """Gram matrix of the transformed columns ``[y, Wy, My, MWy, Z, MZ]`` (module docstring)."""

    gram: np.ndarray
    k: int  # number of regressors in Z

    #: Position of the first column of Z (those of MZ follow Z's).
    Z0 = 4

    @classmethod
    def from_arrays(cls, y, wy, mwy, z, mz, my=None) -> Moments:
        """The Gram matrix; ``my`` defaults to ``wy`` (the error's W is the lag's)."""
        m = np.column_stack([y, wy, wy if my is None else my, mwy, z, mz])
        return cls(gram=m.T @ m, k=z.shape[1])

    def _vectors(self, rho: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
        k, z0 = self.k, self.Z0
        a = np.zeros(z0 + 2 * k)
        a[0], a[1], a[2], a[3] = 1.0, -rho, -lam, rho * lam
        b = np.zeros((z0 + 2 * k, k))
        b[z0 : z0 + k] = np.eye(k)
        b[z0 + k :] = -lam * np.eye(k)
        return a, b

    def beta_ssr(self, rho: float, lam: float) -> tuple[np.ndarray, float]:
        """GLS coefficients and residual sum of squares at (rho, lam)."""
        a, b = self._vectors(rho, lam)
        g = self.gram
        zz = b.T @ g @ b
        zy = b.T @ g @ a
        beta = np.linalg.solve(zz, zy)
        ssr = float(a @ g @ a - zy @ beta)
        return beta, max(ssr, 0.0)

    def ssr_at(self, rho: float, lam: float, beta: np.ndarray) -> float:
        """e'e at arbitrary (rho, lam, beta), for the full log-likelihood."""
        a, b = self._vectors(rho, lam)
        c = a - b @ np.asarray(beta)
        return float(c @ self.gram @ c)

    def dssr(self, rho: float, lam: float, beta: np.ndarray) -> tuple[float, float]:
        """``(d e'e / d rho, d e'e / d lam)`` at ``beta``; at the GLS ``beta`` these are the
        derivatives of the concentrated e'e (envelope theorem: ``d e'e / d beta = 0`` there)."""
        a, b = self._vectors(rho, lam)
        c = a - b @ np.asarray(beta)
        gc = self.gram @ c
        k, z0 = self.k, self.Z0
        da_rho = np.zeros_like(a)
        da_rho[1], da_rho[3] = -1.0, lam
        dc_lam = np.zeros_like(a)
        dc_lam[2], dc_lam[3] = -1.0, rho
        dc_lam[z0 + k :] = beta  # rows of M Z carry -lam I in b
        return 2.0 * float(gc @ da_rho), 2.0 * float(gc @ dc_lam)

    def loglik_gradient(self, beta, rho: float, lam: float, sigma2: float, dld: tuple[float, float],
                        dcorr: tuple[float, float], conv) -> tuple[np.ndarray, float, float, float]:
        """Gradient of :func:`full_loglik` in (beta, rho, lam, sigma2), analytic.

        ``dld``/``dcorr``: derivatives of the log-determinant and of the Lee-Yu
        correction term in rho and in lam (zero for a parameter not in the model).
        """
        a, b = self._vectors(rho, lam)
        c = a - b @ np.asarray(beta)
        gc = self.gram @ c
        ssr = float(c @ gc)
        d_rho, d_lam = self.dssr(rho, lam, beta)
        g_beta = (b.T @ gc) / sigma2  # d e'e / d beta = -2 B'G c
        g_rho = conv.jac * dld[0] - conv.jac_corr * dcorr[0] - d_rho / (2.0 * sigma2)
        g_lam = conv.jac * dld[1] - conv.jac_corr * dcorr[1] - d_lam / (2.0 * sigma2)
        g_s2 = -0.5 * conv.n_eff / sigma2 + ssr / (2.0 * sigma2**2)
        return g_beta, g_rho, g_lam, g_s2

    @staticmethod
    def residual(rho, lam, beta, y, wy, mwy, z, mz, my=None) -> np.ndarray:
        """The transformed residual vector e (see module docstring); ``my`` defaults to ``wy``."""
        my = wy if my is None else my
        return y - rho * wy - lam * my + rho * lam * mwy - (z - lam * mz) @ beta


def full_loglik(ssr: float, sigma2: float, ld_total: float, corr_total: float, conv) -> float:
    """Full log-likelihood at given sigma2 (Elhorst 2014, eq. 3.13)."""
    return (
        -0.5 * conv.n_eff * (LOG2PI + np.log(sigma2))
        + conv.jac * ld_total
        - conv.jac_corr * corr_total
        - ssr / (2.0 * sigma2)
    )


def concentrated(ssr: float, ld_total: float, corr_total: float, conv) -> float:
    """Log-likelihood with sigma2 = e'e/n_eff substituted (constants included)."""
    sigma2 = ssr / conv.n_eff
    return full_loglik(ssr, sigma2, ld_total, corr_total, conv)


def concentrated_score(ssr: float, dssr: float, dld_total: float, dcorr_total: float, conv) -> float:
    """Derivative of :func:`concentrated` in one spatial parameter, given the derivatives of its parts."""
    return -0.5 * conv.n_eff * dssr / ssr + conv.jac * dld_total - conv.jac_corr * dcorr_total


def hessian_from_gradient(grad, x: np.ndarray, rel_step: float = 1e-5) -> np.ndarray:
    """Hessian as central differences of an analytic gradient, symmetrised.

    Rounding error ``eps |g| / h`` instead of :func:`numerical_hessian`'s
    ``eps |l| / h^2``: about 1e-11 relative at ``h = 1e-5``, against 1e-3 for
    a log-likelihood of order 1e3, which made standard errors depend on the
    BLAS kernel. Step ``rel_step * max(|x_i|, 0.1)``.
    """
    x = np.asarray(x, dtype=float)
    p = len(x)
    h = rel_step * np.maximum(np.abs(x), 0.1)
    hess = np.empty((p, p))
    for i in range(p):
        e = np.zeros(p)
        e[i] = h[i]
        hess[:, i] = (np.asarray(grad(x + e)) - np.asarray(grad(x - e))) / (2 * h[i])
    return (hess + hess.T) / 2


def numerical_hessian(f, x: np.ndarray, rel_step: float = 1e-4) -> np.ndarray:
    """Central-difference Hessian of a scalar function (Dennis & Schnabel 1996, sec. 5.6).

    The step for coordinate i is ``rel_step * max(|x_i|, 0.1)``.
    """
    x = np.asarray(x, dtype=float)
    p = len(x)
    h = rel_step * np.maximum(np.abs(x), 0.1)
    hess = np.empty((p, p))
    f0 = f(x)
    for i in range(p):
        ei = np.zeros(p)
        ei[i] = h[i]
        hess[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / h[i] ** 2
        for j in range(i):
            ej = np.zeros(p)
            ej[j] = h[j]
            v = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h[i] * h[j])
            hess[i, j] = hess[j, i] = v
    return hess
