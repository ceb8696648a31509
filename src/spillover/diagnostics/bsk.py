"""LM tests for random effects, spatial error and serial correlation in a pooled panel regression.

The model behind all rows is the spatial error component regression, stacked
time-major (period 1's N units in W's order, then period 2's, ...)::

    y = X b + u,   u = (iota_T kron I_N) mu + e,   e_t = lambda W e_t + v_t,
    v_it = rho v_i,t-1 + eps_it,   mu_i ~ iid(0, s2_mu),   eps_it ~ iid(0, s2_e)

so that ``Omega = E[u u'] = s2_mu (J_T kron I_N) + s2_e (V_rho kron (B'B)^-1)``
with ``B = I_N - lambda W`` and ``V_rho`` the AR(1) correlation matrix
``rho^|t-s| / (1 - rho^2)``. Baltagi, Song & Koh (2003, *Journal of
Econometrics* 117, 123-150; "BSK") set ``rho = 0``; Baltagi, Song, Jung & Koh
(2007, *Journal of Econometrics* 140, 5-51; "BSJK") keep all three.

Rows of :func:`panel_lm_tests` (``u`` OLS residuals unless said otherwise;
``J_T`` the T x T matrix of ones, ``Jbar_T = J_T / T``, ``E_T = I_T - Jbar_T``,
``b = tr(W^2 + W'W)``; BSK equation numbers are those of its section 2, numbered as
in the December 2001 working-paper version of the article):

* ``LM1`` -- H0: s2_mu = 0 (assuming lambda = 0). Honda's one-sided statistic
  ``sqrt(NT / (2(T-1))) G``, ``G = u'(J_T kron I_N)u / u'u - 1`` (BSK eq. 2.12).
  N(0, 1) under H0; p is the upper tail (s2_mu > 0).
* ``LM2`` -- H0: lambda = 0 (assuming s2_mu = 0).
  ``sqrt(N^2 T / b) H``, ``H = u'(I_T kron (W + W')/2)u / u'u`` (BSK eq. 2.16).
  N(0, 1); p is the upper tail (lambda > 0, the alternative BSK's joint tests use).
* ``LMH`` -- H0: s2_mu = lambda = 0. The Gourieroux-Holly-Monfort statistic
  ``chi2_m = max(LM1, 0)^2 + max(LM2, 0)^2`` (BSK eq. 2.19) with the mixed null
  ``1/4 chi2(0) + 1/2 chi2(1) + 1/4 chi2(2)`` (eq. 2.20); this is what R splm's
  ``bsktest(test = "LMH")`` reports as "LM-H". Honda's ``(LM1 + LM2)/sqrt(2)``
  (eq. 2.18, N(0, 1)) is in ``attrs["honda"]``.
* ``CLM_lambda`` -- H0: lambda = 0 given s2_mu >= 0. On the residuals of the ML
  random-effects regression, with ``s2_v = u'(E_T kron I_N)u / N(T-1)`` and
  ``s2_1 = u'(Jbar_T kron I_N)u / N``,
  ``D = 1/2 u'[(s2_v/s2_1^2)(Jbar_T kron (W'+W)) + (1/s2_v)(E_T kron (W'+W))]u``
  and the one-sided ``LM*_lambda = D / sqrt(((T-1) + s2_v^2/s2_1^2) b)``
  (BSK eqs. 2.24-2.25). N(0, 1), upper tail.
* ``CLM_mu`` -- H0: s2_mu = 0 given lambda. On the residuals of the ML pooled
  spatial error regression, ``D_mu = -(T / 2 s2_v) tr(B'B) + u'(J_T kron (B'B)^2)u / (2 s2_v^2)``
  (eq. 2.27), the 3 x 3 information of (s2_mu, s2_v, lambda) (eq. 2.29) and
  the one-sided ``LM*_mu = D_mu sqrt([J^-1]_mu,mu)`` (eqs. 2.30-2.31). N(0, 1), upper tail.
* ``BSJK_C1`` -- H0: lambda = 0 given rho and s2_mu (restricted model: random
  effects with AR(1) errors, by ML). chi2(1).
* ``BSJK_C2`` -- H0: rho = 0 given lambda and s2_mu (restricted model: random
  effects with spatial error, by ML). chi2(1).
* ``BSJK_C3`` -- H0: s2_mu = 0 given rho and lambda (restricted model: spatial
  error with AR(1) errors, by ML). chi2(1).
* ``BSJK_J`` -- H0: s2_mu = lambda = rho = 0. With ``A = G``,
  ``F = u'(G_T kron I_N)u / (2 u'u)`` (``G_T`` ones on the first sub- and
  super-diagonal) and ``H`` as in LM2, ``LM_J = NT^2/(2(T-1)(T-2)) (A^2 - 4AF + 2T F^2) + N^2 T H^2 / b``.
  chi2(3).

Every conditional statistic is the score form ``LM = D_k^2 [J^-1]_kk`` of the
tested parameter k, evaluated at the restricted ML estimates, with
``D_k = -1/2 tr(Omega^-1 Omega_k) + 1/2 u'Omega^-1 Omega_k Omega^-1 u`` and
``J_kl = 1/2 tr(Omega^-1 Omega_k Omega^-1 Omega_l)`` over
``(s2_e, s2_mu, [rho,] lambda)``; the papers' closed forms (BSK eqs. 2.24,
2.27-2.30 and appendices A.2-A.3; BSJK's conditional tests, labelled C.1-C.3
in splm) are these expressions worked out. Here they are computed on
Kronecker factors (T x T times N x N), never on NT x NT matrices.

Conventions and how they relate to R splm 1.6-5 (``bsktest``, ``bsjktest``)
--------------------------------------------------------------------------
* The regression is pooled with an intercept; residuals are those of OLS
  (LM1, LM2, LMH, BSJK_J) or of the restricted ML fit (GLS b at the ML
  variance parameters). The restricted fits maximise the exact Gaussian
  likelihood with splm's parameterisation and bounds: ``phi = s2_mu / s2_e``
  in [1e-8, 1e9] (a "zero" variance component sits at phi = 1e-8, not 0),
  rho and lambda in [-0.999, 0.999].
* Statistics LM1, LM2, LMH, CLM_lambda, CLM_mu and BSJK_J are splm's up to
  rounding (CLM_mu up to splm's optimiser, which stops about 1e-6 short of the
  spatial error ML estimate on Produc). splm prints ``|LM*|`` for CLMlambda
  and CLMmu; here the sign is kept.
* p-values: splm reports ``2 P(Z > stat)`` for LM1, LM2, CLMlambda and CLMmu.
  Here p is the one-sided upper tail BSK derive these statistics for, so
  ``splm_p = 2 p`` whenever the statistic is positive (for a negative LM1 or
  LM2 splm's "p" exceeds 1).
* BSJK C1-C3 are evaluated at the restricted ML estimates, as the LM principle
  requires. splm 1.6-5 differs in three places, so its values are not
  reproduced: (i) it replaces the ML s2_e by ``u'u / (NT (1 + phi))`` in C1
  and C2 and by ``u'u / NT`` in C3, which equal it only when rho = 0 (C1),
  lambda = 0 (C2) or both (C3); (ii) its information for rho in C2 leaves out
  ``s2_e (2T - 4)/T^2 tr(Z (B'B)^-1)``, ``Z = (T s2_mu I + s2_e (B'B)^-1)^-1``,
  the cross term of ``1/2 tr((Omega^-1 Omega_rho)^2)``; (iii) in C3 it divides
  ``iota' V_rho^-1 iota`` by s2_e^2 instead of s2_e, so its C3 changes when y
  is rescaled. On Munnell's Produc splm gives C1 = 0.26, C2 = 445.67 and
  C3 = 20.04 where the ML statistics are about 344, 491 and 0.37.
  ``tests/test_panel_lm.py`` reproduces splm's three numbers to 1e-9 from the
  building blocks here with exactly these changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from spillover.errors import SpecificationError, format_error

__all__ = ["panel_lm_tests", "ROWS"]

ROWS = ["LM1", "LM2", "LMH", "CLM_lambda", "CLM_mu", "BSJK_C1", "BSJK_C2", "BSJK_C3", "BSJK_J"]

#: free variance parameters of each restricted model (names as in splm's ``spreml``: re, sem, srre, semre, semsr)
MODELS: dict[str, tuple[str, ...]] = {
    "re": ("phi",),
    "sem": ("lam",),
    "srre": ("phi", "rho"),
    "semre": ("phi", "lam"),
    "semsr": ("rho", "lam"),
}
PHI_BOUNDS = (1e-8, 1e9)
CORR_BOUND = 0.999

Kron = list[tuple[np.ndarray | None, np.ndarray | None]]  # sum of P_k kron Q_k; None is the identity


# --------------------------------------------------------------------------- Kronecker algebra


def _apply(terms: Kron, a: np.ndarray) -> np.ndarray:
    """``(sum_k P_k kron Q_k) a`` for ``a`` stacked time-major and shaped (T, N) or (T, N, m)."""
    a3 = a[..., None] if a.ndim == 2 else a
    out = np.zeros_like(a3)
    for p, q in terms:
        b = a3 if q is None else np.matmul(q, a3)
        out += b if p is None else np.tensordot(p, b, axes=(1, 0))
    return out[..., 0] if a.ndim == 2 else out


def _mul(left: Kron, right: Kron) -> Kron:
    """Product of two Kronecker sums, term by term."""
    def dot(x: np.ndarray | None, y: np.ndarray | None) -> np.ndarray | None:
        if x is None:
            return y
        return x if y is None else x @ y

    return [(dot(p1, p2), dot(q1, q2)) for p1, q1 in left for p2, q2 in right]


def _trace(terms: Kron, t: int, n: int) -> float:
    """``tr(sum_k P_k kron Q_k) = sum_k tr(P_k) tr(Q_k)``."""
    return float(sum((t if p is None else np.trace(p)) * (n if q is None else np.trace(q)) for p, q in terms))


def _trace_product(left: Kron, right: Kron, t: int, n: int) -> float:
    """``tr(L R)`` without forming the products (``tr(XY) = sum(X * Y')``)."""
    def tr2(x: np.ndarray | None, y: np.ndarray | None, size: int) -> float:
        if x is None and y is None:
            return float(size)
        if x is None or y is None:
            return float(np.trace(y if x is None else x))
        return float(np.sum(x * y.T))

    return sum(tr2(p1, p2, t) * tr2(q1, q2, n) for p1, q1 in left for p2, q2 in right)


# --------------------------------------------------------------------------- AR(1) and spatial pieces


def ar1_cov(rho: float, t: int) -> np.ndarray:
    """``V_rho``: covariance of a stationary AR(1) with unit innovation variance, ``rho^|t-s| / (1 - rho^2)``."""
    k = np.abs(np.subtract.outer(np.arange(t), np.arange(t)))
    return rho**k / (1.0 - rho**2)


def ar1_cov_deriv(rho: float, t: int) -> np.ndarray:
    """``d V_rho / d rho`` (equals ``G_T``, ones next to the diagonal, at rho = 0)."""
    k = np.abs(np.subtract.outer(np.arange(t), np.arange(t)))
    lower = np.where(k > 0, k * rho ** np.maximum(k - 1, 0), 0.0)
    return lower / (1.0 - rho**2) + 2.0 * rho * rho**k / (1.0 - rho**2) ** 2


def ar1_precision(rho: float, t: int) -> np.ndarray:
    """``V_rho^-1``: tridiagonal, 1 + rho^2 inside the diagonal, 1 at its ends, -rho beside it."""
    p = np.diag(np.full(t, 1.0 + rho**2))
    p[0, 0] = p[-1, -1] = 1.0
    idx = np.arange(t - 1)
    p[idx, idx + 1] = p[idx + 1, idx] = -rho
    return p


@dataclass
class _Spatial:
    """W (dense), its eigenvalues and per-lambda matrices ``B = I - lambda W``, ``B'B`` and ``(B'B)^-1``."""

    w: np.ndarray
    eig: np.ndarray = field(init=False)
    _cache: dict = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.eig = np.linalg.eigvals(self.w)

    @property
    def n(self) -> int:
        return self.w.shape[0]

    def logdet_b(self, lam: float) -> float:
        """``log|I - lambda W|`` from the eigenvalues of W."""
        return float(np.sum(np.log(1.0 - lam * self.eig)).real)

    def bounds(self) -> tuple[float, float]:
        """splm's (-0.999, 0.999), narrowed to ``0.999 / eigenvalue`` when W's spectrum needs it."""
        re = self.eig.real
        lo = -CORR_BOUND if re.min() >= -1.0 else CORR_BOUND / re.min()
        hi = CORR_BOUND if re.max() <= 1.0 else CORR_BOUND / re.max()
        return lo, hi

    def mats(self, lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(B, B'B, (B'B)^-1)`` at ``lam``; the last lambda's matrices are kept, the inverse made on first use."""
        if self._cache.get("lam") != lam:
            b = np.eye(self.n) - lam * self.w
            self._cache = {"lam": lam, "b": b, "bb": b.T @ b}
        if "inv" not in self._cache:
            self._cache["inv"] = np.linalg.inv(self._cache["bb"])
        return self._cache["b"], self._cache["bb"], self._cache["inv"]

    def cross(self, lam: float) -> np.ndarray:
        """``B'B`` at ``lam`` (without the inverse)."""
        if self._cache.get("lam") != lam:
            b = np.eye(self.n) - lam * self.w
            self._cache = {"lam": lam, "b": b, "bb": b.T @ b}
        return self._cache["bb"]


# --------------------------------------------------------------------------- Omega and its derivatives


def omega_inverse(s2e: float, s2mu: float, rho: float, lam: float, sp: _Spatial, t: int) -> Kron:
    """``Omega^-1`` as a Kronecker sum; needs one of s2mu, rho, lam to be zero (it is under every null here).

    * ``s2mu = 0``: ``Omega = s2e V_rho kron (B'B)^-1`` -> ``V_rho^-1 kron B'B / s2e``;
    * ``lam = 0``: ``Omega = (s2mu J_T + s2e V_rho) kron I_N`` -> ``(s2mu J_T + s2e V_rho)^-1 kron I_N``;
    * ``rho = 0``: ``Omega = Jbar_T kron (T s2mu I + s2e A) + E_T kron s2e A`` with ``A = (B'B)^-1``
      -> ``Jbar_T kron (T s2mu I + s2e A)^-1 + E_T kron B'B / s2e`` (BSK 2003, appendix A.3).
    """
    if s2mu == 0.0:
        bb = sp.cross(lam)
        return [(ar1_precision(rho, t) / s2e, bb)]
    if lam == 0.0:
        return [(np.linalg.inv(s2mu * np.ones((t, t)) + s2e * ar1_cov(rho, t)), None)]
    if rho == 0.0:
        bb = sp.cross(lam)
        jbar = np.full((t, t), 1.0 / t)
        z = np.linalg.solve(t * s2mu * bb + s2e * np.eye(sp.n), bb)  # = (T s2mu I + s2e A)^-1
        return [(jbar, z), (np.eye(t) - jbar, bb / s2e)]
    raise ValueError("Omega^-1 is implemented when one of s2_mu, rho, lambda is zero")


def omega_derivatives(s2e: float, rho: float, lam: float, sp: _Spatial, t: int,
                      params: Sequence[str]) -> list[Kron]:
    """``d Omega / d theta`` for theta in ``params`` (from "s2e", "s2mu", "rho", "lam")."""
    v = None if rho == 0.0 else ar1_cov(rho, t)
    if lam == 0.0:
        a = None
        da = sp.w + sp.w.T  # d (B'B)^-1 / d lambda at lambda = 0
    else:
        b, _, a = sp.mats(lam)
        da = a @ (sp.w.T @ b + b.T @ sp.w) @ a
    out: dict[str, Kron] = {
        "s2e": [(v, a)],
        "s2mu": [(np.ones((t, t)), None)],
        "rho": [(s2e * ar1_cov_deriv(rho, t), a)],
        "lam": [(s2e * (np.eye(t) if v is None else v), da)],
    }
    return [out[p] for p in params]


def score_information(u: np.ndarray, s2e: float, s2mu: float, rho: float, lam: float, sp: _Spatial,
                      params: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Score ``D`` and information ``J`` of the Gaussian likelihood in ``params`` at the given point.

    ``D_k = -1/2 tr(Omega^-1 Omega_k) + 1/2 u' Omega^-1 Omega_k Omega^-1 u`` and
    ``J_kl = 1/2 tr(Omega^-1 Omega_k Omega^-1 Omega_l)`` (the information of
    the variance parameters, block-diagonal to that of b), ``u`` shaped (T, N).
    """
    t, n = u.shape
    inv = omega_inverse(s2e, s2mu, rho, lam, sp, t)
    oiu = _apply(inv, u)
    derivs = omega_derivatives(s2e, rho, lam, sp, t, params)
    m = [_mul(inv, d) for d in derivs]
    score = np.array([-0.5 * _trace(mk, t, n) + 0.5 * float(np.sum(oiu * _apply(dk, oiu)))
                      for mk, dk in zip(m, derivs)])
    info = np.array([[0.5 * _trace_product(mk, ml, t, n) for ml in m] for mk in m])
    return score, info


def score_lm(score: np.ndarray, info: np.ndarray, k: int) -> float:
    """Signed square root of the LM statistic of parameter ``k``: ``D_k sqrt([J^-1]_kk)``."""
    return float(score[k] * np.sqrt(np.linalg.inv(info)[k, k]))


# --------------------------------------------------------------------------- restricted ML fits


@dataclass(frozen=True)
class Restricted:
    """A restricted ML fit: GLS coefficients, residuals (T, N) and the variance parameters.

    ``sigma2`` is the ML s2_e (``u'Sigma^-1 u / NT``), ``phi = s2_mu / s2_e``.
    """

    model: str
    beta: np.ndarray
    resid: np.ndarray
    sigma2: float
    loglik: float
    phi: float = 0.0
    rho: float = 0.0
    lam: float = 0.0


def _logdet_sigma(phi: float, rho: float, lam: float, sp: _Spatial, t: int) -> float:
    """``log|Sigma|`` of ``Sigma = phi J_T kron I + V_rho kron (B'B)^-1`` (Omega / s2_e), same cases as Omega^-1."""
    n = sp.n
    if phi == 0.0:
        return -n * np.log(1.0 - rho**2) - 2 * t * sp.logdet_b(lam)
    if lam == 0.0:
        g = float(np.sum(ar1_precision(rho, t)))  # iota' V_rho^-1 iota
        return n * (-np.log(1.0 - rho**2) + np.log1p(phi * g))
    bb = sp.cross(lam)
    return float(np.linalg.slogdet(t * phi * bb + np.eye(n))[1]) - 2 * t * sp.logdet_b(lam)


def _gls(y: np.ndarray, x: np.ndarray, inv: Kron) -> tuple[np.ndarray, np.ndarray, float]:
    """GLS ``b``, residuals and ``e' Sigma^-1 e`` for ``Sigma^-1 = inv``."""
    sx = _apply(inv, x)
    k = x.shape[2]
    xx = np.tensordot(x, sx, axes=([0, 1], [0, 1]))
    xy = np.tensordot(sx, y, axes=([0, 1], [0, 1]))
    beta = np.linalg.solve(xx, xy)
    e = y - x @ beta if k else y.copy()
    return beta, e, float(np.sum(e * _apply(inv, e)))


def _profile(model: str, theta: np.ndarray, y: np.ndarray, x: np.ndarray, sp: _Spatial
             ) -> tuple[float, np.ndarray, np.ndarray, float, dict]:
    """Concentrated log-likelihood (b and s2_e profiled out) of ``model`` at ``theta``."""
    t, n = y.shape
    p = {"phi": 0.0, "rho": 0.0, "lam": 0.0}
    p.update(zip(MODELS[model], (float(v) for v in theta)))
    inv = omega_inverse(1.0, p["phi"], p["rho"], p["lam"], sp, t)
    beta, e, q = _gls(y, x, inv)
    nt = n * t
    s2 = q / nt
    ll = -0.5 * nt * (np.log(2 * np.pi) + 1.0 + np.log(s2)) - 0.5 * _logdet_sigma(p["phi"], p["rho"], p["lam"], sp, t)
    return float(ll), beta, e, s2, p


def _derivatives(f: Callable[[np.ndarray], float], x: np.ndarray, free: np.ndarray, scale: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Gradient (fourth-order central differences, step 1e-3 scale) and Hessian (second order, 1e-4 scale)
    of ``f`` in the ``free`` coordinates."""
    idx = np.flatnonzero(free)

    def at(shift: dict[int, float]) -> float:
        z = x.copy()
        for i, v in shift.items():
            z[i] += v
        return f(z)

    h, hh = 1e-3 * scale, 1e-4 * scale
    g = np.array([(at({i: -2 * h[i]}) - 8 * at({i: -h[i]}) + 8 * at({i: h[i]}) - at({i: 2 * h[i]})) / (12 * h[i])
                  for i in idx])
    f0 = f(x)
    hess = np.empty((len(idx), len(idx)))
    for a, i in enumerate(idx):
        hess[a, a] = (at({i: hh[i]}) - 2 * f0 + at({i: -hh[i]})) / hh[i] ** 2
        for c in range(a):
            j = idx[c]
            hess[a, c] = hess[c, a] = (at({i: hh[i], j: hh[j]}) - at({i: hh[i], j: -hh[j]})
                                       - at({i: -hh[i], j: hh[j]}) + at({i: -hh[i], j: -hh[j]})) / (4 * hh[i] * hh[j])
    return g, hess


def _polish(f: Callable[[np.ndarray], float], x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Newton steps on the coordinates off their bounds, until a step is below 1e-12.

    Finite-difference steps shrink with the distance to a bound (the
    likelihood changes fast as rho or lambda near +-1). A step is taken when
    it lowers ``f`` or when the decrease it predicts is below the rounding
    noise of ``f`` (there the gradient is a better guide than ``f`` itself).
    """
    for _ in range(25):
        gap = np.minimum(x - lo, hi - x)
        free = gap > 1e-9
        if not free.any():
            break
        scale = np.clip(gap, 1e-6, 1.0)
        g, hess = _derivatives(f, x, free, scale)
        try:
            if np.any(np.linalg.eigvalsh(hess) <= 0):
                break
            step = -np.linalg.solve(hess, g)
        except np.linalg.LinAlgError:
            break
        full = np.zeros_like(x)
        full[free] = step
        f0 = f(x)
        noise = 1e-13 * max(1.0, abs(f0))
        t = 1.0
        while t > 1e-6:
            cand = np.clip(x + t * full, lo, hi)
            if f(cand) <= f0 or -0.5 * t * float(g @ step) < noise:
                break
            t /= 2
        else:
            break
        x = cand
        if np.max(np.abs(t * full)) < 1e-12:
            break
    return x


def _search(f: Callable[[np.ndarray], float], start: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """L-BFGS-B from ``start`` in the box [lo, hi], then Newton steps (:func:`_polish`)."""
    res = optimize.minimize(f, start, method="L-BFGS-B", bounds=list(zip(lo, hi)),
                            options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 2000})
    return _polish(f, np.clip(np.asarray(res.x, dtype=float), lo, hi), lo, hi)


def fit_restricted(model: str, y: np.ndarray, x: np.ndarray, sp: _Spatial) -> Restricted:
    """Maximum likelihood fit of a restricted error model (one of :data:`MODELS`).

    The search runs on ``log(phi)``, rho and lambda: L-BFGS-B from phi = 1,
    rho = lambda = 0, then Newton steps on finite differences. phi is bounded
    by [1e-8, 1e9] and rho, lambda by [-0.999, 0.999] as in splm's ``spreml``;
    because the likelihood is flat in log(phi) as phi -> 0, the fit with phi
    pinned at 1e-8 is computed too and the better of the two kept.
    """
    names = MODELS[model]
    lam_lo, lam_hi = sp.bounds()
    box = {"phi": np.log(PHI_BOUNDS), "rho": (-CORR_BOUND, CORR_BOUND), "lam": (lam_lo, lam_hi)}
    lo = np.array([box[p][0] for p in names], dtype=float)
    hi = np.array([box[p][1] for p in names], dtype=float)

    def natural(z: np.ndarray) -> np.ndarray:
        return np.array([np.clip(np.exp(v), *PHI_BOUNDS) if p == "phi" else v for p, v in zip(names, z)])

    def negll(z: np.ndarray) -> float:
        return -_profile(model, natural(z), y, x, sp)[0]

    candidates = [_search(negll, np.zeros(len(names)), lo, hi)]
    if "phi" in names:  # phi on its lower bound: the other parameters free
        i = names.index("phi")
        pinned = hi.copy()
        pinned[i] = lo[i]
        start = np.zeros(len(names))
        start[i] = lo[i]
        candidates.append(start if len(names) == 1 else _search(negll, start, lo, pinned))
    z = min(candidates, key=negll)
    ll, beta, e, s2, p = _profile(model, natural(z), y, x, sp)
    return Restricted(model=model, beta=beta, resid=e, sigma2=s2, loglik=ll, phi=p["phi"], rho=p["rho"], lam=p["lam"])


# --------------------------------------------------------------------------- the statistics


def marginal_statistics(u: np.ndarray, w: np.ndarray) -> dict[str, float]:
    """LM1, LM2, GHM chi2_m, Honda's LM_H and BSJK's LM_J from OLS residuals ``u`` (T, N)."""
    t, n = u.shape
    uu = float(np.sum(u * u))
    tot = u.sum(axis=0)
    a = float(tot @ tot) / uu - 1.0  # G of BSK = A of BSJK
    f = float(np.sum(u[1:] * u[:-1])) / uu  # u'(G_T kron I)u / (2 u'u)
    h = float(np.sum(u * (u @ w.T))) / uu  # u'(I kron (W + W')/2)u / u'u = u'(I kron W)u / u'u
    b = float(np.sum(w * w.T) + np.sum(w * w))  # tr(W^2) + tr(W'W)
    lm1 = np.sqrt(n * t / (2.0 * (t - 1))) * a
    lm2 = np.sqrt(n * n * t / b) * h
    chi2m = max(lm1, 0.0) ** 2 + max(lm2, 0.0) ** 2
    lmj = n * t * t / (2.0 * (t - 1) * (t - 2)) * (a * a - 4 * a * f + 2 * t * f * f) + n * n * t / b * h * h
    return {"LM1": lm1, "LM2": lm2, "LMH": chi2m, "honda": (lm1 + lm2) / np.sqrt(2.0), "BSJK_J": lmj}


def clm_lambda(fit: Restricted, sp: _Spatial) -> float:
    """BSK's one-sided LM*_lambda (eqs. 2.24-2.25) on the residuals of the ML random-effects fit."""
    u = fit.resid
    t, n = u.shape
    means = u.mean(axis=0)
    s2_1 = t * float(means @ means) / n  # u'(Jbar_T kron I)u / N
    s2_v = (float(np.sum(u * u)) - t * float(means @ means)) / (n * (t - 1))  # u'(E_T kron I)u / N(T-1)
    score, info = score_information(u, s2_v, (s2_1 - s2_v) / t, 0.0, 0.0, sp, ("s2e", "s2mu", "lam"))
    return score_lm(score, info, 2)


def clm_mu(fit: Restricted, sp: _Spatial) -> float:
    """BSK's one-sided LM*_mu (eqs. 2.26-2.31) on the residuals of the ML pooled spatial error fit."""
    score, info = score_information(fit.resid, fit.sigma2, 0.0, 0.0, fit.lam, sp, ("s2e", "s2mu", "lam"))
    return score_lm(score, info, 1)


def bsjk_conditional(fit: Restricted, sp: _Spatial, s2e: float | None = None) -> float:
    """BSJK conditional LM statistic (chi2(1)) for the parameter that ``fit`` restricts to zero.

    ``srre`` -> C1 (lambda = 0), ``semre`` -> C2 (rho = 0), ``semsr`` -> C3
    (s2_mu = 0), at the restricted ML estimates; ``s2e`` replaces the ML s2_e
    (with s2_mu = phi s2e), to evaluate the statistic at other variance
    components.
    """
    tested = {"srre": "lam", "semre": "rho", "semsr": "s2mu"}[fit.model]
    s2e = fit.sigma2 if s2e is None else s2e
    params = ("s2e", "s2mu", "rho", "lam")
    score, info = score_information(fit.resid, s2e, fit.phi * s2e, fit.rho, fit.lam, sp, params)
    return score_lm(score, info, params.index(tested)) ** 2


# --------------------------------------------------------------------------- public entry point


def _design(formula: str, data: pd.DataFrame, w: Any, entity: str, time: str
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], Any]:
    """``(y (T, N), X (T, N, k), W dense, names, design)`` of the pooled regression with an intercept."""
    from spillover.spatial.design import build_design

    try:
        d = build_design(formula, data, w, entity, time, intercept=True, wx=False)
    except SpecificationError as exc:
        if str(exc).startswith("unbalanced panel"):
            what = str(exc).split(". Hint:")[0]  # the frame's hint points to fixed-effects estimators
            raise SpecificationError(format_error(
                f"panel_lm_tests needs a balanced panel; {what}", option="data",
                hint="the BSK/BSJK statistics are defined for balanced panels; fill or drop the missing units or "
                     "periods")) from None
        raise
    n, t = d.n, d.t
    if t < 3:
        raise SpecificationError(format_error(
            f"panel_lm_tests needs at least 3 periods, the panel has {t}", option="time",
            hint="the serial-correlation tests (BSJK) divide by T - 2"))
    z, names = d.regressors()
    wd = d.w.toarray() if hasattr(d.w, "toarray") else np.asarray(d.w, dtype=float)
    if not np.any(wd):
        raise SpecificationError(format_error("W has no links", option="w"))
    return d.y.reshape(t, n), z.reshape(t, n, -1), wd, names, d


def _p_values(stat: dict[str, float]) -> dict[str, tuple[float, float]]:
    """(df, p) of each row: one-sided N(0, 1), the GHM mixture, or chi-squared."""
    def chibar(x: float) -> float:
        return 1.0 if x <= 0 else 0.5 * stats.chi2.sf(x, 1) + 0.25 * stats.chi2.sf(x, 2)

    out = {k: (np.nan, float(stats.norm.sf(stat[k]))) for k in ("LM1", "LM2", "CLM_lambda", "CLM_mu")}
    out["LMH"] = (np.nan, chibar(stat["LMH"]))
    for k in ("BSJK_C1", "BSJK_C2", "BSJK_C3"):
        out[k] = (1.0, float(stats.chi2.sf(stat[k], 1)))
    out["BSJK_J"] = (3.0, float(stats.chi2.sf(stat["BSJK_J"], 3)))
    return out


NULLS = {
    "LM1": "H0: s2_mu = 0 (lambda = 0); N(0,1), upper tail",
    "LM2": "H0: lambda = 0 (s2_mu = 0); N(0,1), upper tail",
    "LMH": "H0: s2_mu = lambda = 0; 1/4 chi2(0) + 1/2 chi2(1) + 1/4 chi2(2)",
    "CLM_lambda": "H0: lambda = 0 given s2_mu >= 0; N(0,1), upper tail",
    "CLM_mu": "H0: s2_mu = 0 given lambda; N(0,1), upper tail",
    "BSJK_C1": "H0: lambda = 0 given rho, s2_mu; chi2(1)",
    "BSJK_C2": "H0: rho = 0 given lambda, s2_mu; chi2(1)",
    "BSJK_C3": "H0: s2_mu = 0 given rho, lambda; chi2(1)",
    "BSJK_J": "H0: s2_mu = lambda = rho = 0; chi2(3)",
}


def panel_lm_tests(formula: str, data: pd.DataFrame, w: Any, entity: str, time: str) -> pd.DataFrame:
    """Baltagi-Song-Koh (2003) and Baltagi-Song-Jung-Koh (2007) LM tests on a pooled panel regression.

    Tests for random unit effects (s2_mu), spatial error dependence (lambda)
    and AR(1) serial correlation (rho) in ``y = X b + u``, marginally, jointly
    and conditionally on the other components (see the module docstring for
    each statistic and its equation in the papers).

    Parameters
    ----------
    formula : str
        formulaic formula, e.g. ``"np.log(gsp) ~ np.log(pcap) + unemp"``; an
        intercept is always included (the regression is pooled).
    data : DataFrame
        Long balanced panel with columns ``entity`` and ``time``, T >= 3.
    w : libpysal.weights.W or (matrix, ids)
        Spatial weights with zero diagonal, ids equal to the entity values
        (used as given; splm's reference values use a row-standardised W).
    entity, time : str
        Unit and period columns.

    Returns
    -------
    DataFrame
        Index ``LM1, LM2, LMH, CLM_lambda, CLM_mu, BSJK_C1, BSJK_C2, BSJK_C3,
        BSJK_J``; columns ``stat``, ``df`` (chi-squared degrees of freedom; NaN
        for the N(0, 1) rows and the chi-bar mixture of LMH) and ``p``.

        * LM1, LM2, CLM_lambda, CLM_mu: signed N(0, 1) statistics, p = P(Z > stat)
          (alternatives s2_mu > 0 and lambda > 0);
        * LMH: GHM chi2_m, p from ``1/4 chi2(0) + 1/2 chi2(1) + 1/4 chi2(2)``;
        * BSJK_C1, C2, C3: chi2(1); BSJK_J: chi2(3).

        ``attrs`` holds ``null`` (the hypothesis and distribution of each row),
        ``honda`` (Honda's joint ``(LM1 + LM2)/sqrt(2)`` and its upper-tail p),
        ``restricted`` (phi, rho, lambda, sigma2, loglik, beta of the five
        restricted ML fits), ``formula``, ``dependent``, ``regressors``, ``N``, ``T``.

    Raises
    ------
    SpecificationError
        Missing columns or formula variables;
        unbalanced panel; fewer than 3 periods; collinear regressors; W
        without any link.
    WeightsError
        Entities and the ids of ``w`` differ; W links a unit to itself.

    Notes
    -----
    The five restricted models (random effects; spatial error; random
    effects with AR(1); random effects with spatial error; spatial error with
    AR(1)) are fitted by ML on every call. W is used as a dense N x N matrix
    and each likelihood evaluation with a spatial parameter costs O(N^3): a
    few seconds for N in the tens, minutes for N in the thousands.

    References
    ----------
    Baltagi, B. H., Song, S. H. & Koh, W. (2003). Testing panel data regression
    models with spatial error correlation. *Journal of Econometrics* 117, 123-150.
    Baltagi, B. H., Song, S. H., Jung, B. C. & Koh, W. (2007). Testing for serial
    correlation, spatial autocorrelation and random effects using panel data.
    *Journal of Econometrics* 140, 5-51.
    Gourieroux, C., Holly, A. & Monfort, A. (1982). Likelihood ratio test, Wald
    test, and Kuhn-Tucker test in linear models with inequality constraints on
    the regression parameters. *Econometrica* 50, 63-80.
    """
    y, x, wd, names, d = _design(formula, data, w, entity, time)
    sp = _Spatial(wd)
    beta = np.linalg.lstsq(x.reshape(-1, x.shape[2]), y.ravel(), rcond=None)[0]
    marg = marginal_statistics(y - x @ beta, wd)
    fits = {m: fit_restricted(m, y, x, sp) for m in MODELS}
    stat = {
        "LM1": marg["LM1"], "LM2": marg["LM2"], "LMH": marg["LMH"],
        "CLM_lambda": clm_lambda(fits["re"], sp), "CLM_mu": clm_mu(fits["sem"], sp),
        "BSJK_C1": bsjk_conditional(fits["srre"], sp),
        "BSJK_C2": bsjk_conditional(fits["semre"], sp),
        "BSJK_C3": bsjk_conditional(fits["semsr"], sp),
        "BSJK_J": marg["BSJK_J"],
    }
    dfp = _p_values(stat)
    out = pd.DataFrame({"stat": [stat[r] for r in ROWS], "df": [dfp[r][0] for r in ROWS],
                        "p": [dfp[r][1] for r in ROWS]}, index=pd.Index(ROWS))
    out.attrs.update({
        "null": dict(NULLS),
        "honda": {"stat": marg["honda"], "p": float(stats.norm.sf(marg["honda"]))},
        "restricted": {m: {"phi": f.phi, "rho": f.rho, "lambda": f.lam, "sigma2": f.sigma2, "loglik": f.loglik,
                           "beta": dict(zip(names, map(float, f.beta)))} for m, f in fits.items()},
        "formula": formula,
        "dependent": d.y_name,
        "regressors": names,
        "N": d.n,
        "T": d.t,
    })
    return out
