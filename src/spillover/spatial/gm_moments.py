"""Generalized moments for the spatial autoregressive disturbance of a panel (Kapoor, Kelejian & Prucha 2007).

Disturbance process (Kapoor, Kelejian & Prucha 2007, *Panel data models with
spatially correlated error components*, J. Econometrics 140, 97-130, sec. 2;
KKP below), stacked time-major as everywhere in this package::

    u = lambda (I_T kron W) u + e,    e = (1_T kron I_N) mu + nu,
    E[e e'] = sigma2_v Q0 + sigma2_1 Q1,   sigma2_1 = sigma2_v + T sigma2_mu,

with ``Q0 = (I_T - J_T/T) kron I_N`` (within) and ``Q1 = (J_T/T) kron I_N``
(between). With ``ubar = (I_T kron W) u``, ``e = u - lambda ubar`` and
``ebar = ubar - lambda (I_T kron W) ubar``, KKP (sec. 3) use six moment
conditions, three on each of the two orthogonal parts:

    E[e' Q0 e]       / (N (T-1)) = sigma2_v
    E[ebar' Q0 ebar] / (N (T-1)) = sigma2_v tr(W'W) / N
    E[ebar' Q0 e]    / (N (T-1)) = 0
    E[e' Q1 e]       / N         = sigma2_1
    E[ebar' Q1 ebar] / N         = sigma2_1 tr(W'W) / N
    E[ebar' Q1 e]    / N         = 0

Replacing u by residuals, each block is linear in ``(lambda, lambda^2,
sigma2)``: ``m = G [lambda, lambda^2, sigma2]' - g`` (KKP's ``Gamma_N`` and
``gamma_N``, one 3 x 3 block per part; :func:`within_block`,
:func:`between_block`). The three estimators of KKP sec. 3 minimise
``m' Psi m``:

``"initial"``
    the within block only, unweighted, over ``(lambda, sigma2_v)``;
    ``sigma2_1`` then solves the fourth condition at that lambda.
``"weights"`` (partially weighted)
    all six, ``Psi = Xi^-1`` with ``Xi = diag(sigma2_v^2/(T-1), sigma2_1^2)
    kron I_3`` at the initial estimates.
``"fullweights"`` (fully weighted)
    the same with ``kron T_W`` (:func:`t_w`), the covariance of the moments
    under normality, instead of ``I_3``.

With unit fixed effects only the within block exists (the between part is
absorbed by the effects): the partial weighting is then a multiple of the
identity and gives the initial estimate, the full weighting uses ``T_W^-1``.

Time effects (``fe="time"``, ``"twoways"``)
-------------------------------------------
With period effects ``alpha_t`` the within operator is ``Q = Q_T kron Q_N``
(``Q_T = I_T - J_T/T`` with unit effects, ``I_T`` without; ``Q_N = I_N -
J_N/N``), of rank ``r_T (N-1)`` (``r_T`` = T-1 or T). The residuals ``r =
alpha_t + mu_i + u`` are lagged first and transformed after (the package's
convention): with a row-standardised W, ``W (alpha_t 1_N) = alpha_t 1_N``,
so ``Q (r - lambda W r) = Q nu`` and ``Q W (r - lambda W r) = Q W nu``
exactly. The conditions keep KKP's form with their expectations taken under
``Q``::

    E[e' Q e]       / (r_T (N-1)) = sigma2_v
    E[ebar' Q ebar] / (r_T (N-1)) = sigma2_v tr(W' Q_N W) / (N-1)
    E[ebar' Q e]    / (r_T (N-1)) = sigma2_v tr(Q_N W) / (N-1)

(``tr(W' Q_N W) = tr(W'W) - |W'1|^2/N``, ``tr(Q_N W) = tr(W) - 1'W1/N``:
the third is ``-sigma2_v / (N-1)`` for a row-standardised W with a zero
diagonal, not 0). With ``Q_N = I_N`` they are KKP's. The full weighting
uses the normal-theory covariance of the three quadratic forms under
``Q`` (:func:`t_w`). This extends KKP's within moments to the two-way
transformation in the way Lee & Yu (2010, J. Econometrics 154, 165-185)
extend the likelihood: the period means are absorbed, and the moments are
those of the ``(N-1)``-dimensional transformed cross sections.

The criterion is a quartic polynomial in lambda once the variances (which
enter linearly) are concentrated out, so :func:`minimise` finds its global
minimum on the admissible interval exactly (roots of the cubic derivative),
with no optimiser tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from spillover.spatial.transforms import spatial_lag

#: search interval for the error coefficient (KKP's parameter space |lambda| < 1, as splm's bounds)
LAMBDA_BOUNDS = (-0.999, 0.999)


@dataclass(frozen=True)
class MomentBlock:
    """Three sample moments linear in ``(lambda, lambda^2, sigma2)``: ``m = G @ [lam, lam^2, s2] - g``."""

    G: np.ndarray  # (3, 3)
    g: np.ndarray  # (3,)

    def at(self, lam: float, s2: float) -> np.ndarray:
        """The three moments at ``(lam, s2)``."""
        return self.G @ np.array([lam, lam * lam, s2]) - self.g


def _block(u: np.ndarray, ub: np.ndarray, ubb: np.ndarray, scale: float, expect: np.ndarray) -> MomentBlock:
    """KKP's (Gamma, gamma) for one part from ``u``, ``W u``, ``W W u`` of that part, cross products times ``scale``.

    Expanding ``e = u - lam ub`` and ``ebar = ub - lam ubb`` in the three
    conditions gives, row by row, the coefficients of lam, lam^2 and sigma2;
    ``expect`` holds the three expectations per unit of sigma2 (:func:`expectations`).
    """
    uu, uub, uubb = u @ u, u @ ub, u @ ubb
    ubub, ububb, ubbubb = ub @ ub, ub @ ubb, ubb @ ubb
    G = np.array([
        [2 * uub * scale, -ubub * scale, expect[0]],
        [2 * ububb * scale, -ubbubb * scale, expect[1]],
        [(uubb + ubub) * scale, -ububb * scale, expect[2]],
    ])
    g = np.array([uu, ubub, uub]) * scale
    return MomentBlock(G, g)


def trace_wtw(w) -> float:
    """``tr(W'W)``, the sum of squared weights."""
    return float(w.multiply(w).sum()) if hasattr(w, "multiply") else float(np.sum(np.asarray(w) ** 2))


def expectations(w, time_effects: bool = False) -> np.ndarray:
    """Expected values of a block's three moments per unit of sigma2 (module docstring).

    ``[1, tr(W' Q_N W) / tr(Q_N), tr(Q_N W) / tr(Q_N)]`` with ``Q_N = I_N``
    (KKP: ``[1, tr(W'W)/N, tr(W)/N]``) or, with time effects, ``I_N - J_N/N``.
    """
    import scipy.sparse as sp_sparse

    W = sp_sparse.csr_array(w)
    n = W.shape[0]
    trww, trw = trace_wtw(W), float(W.diagonal().sum())
    if not time_effects:
        return np.array([1.0, trww / n, trw / n])
    colsum = np.asarray(W.sum(axis=0)).ravel()
    return np.array([1.0, (trww - colsum @ colsum / n) / (n - 1), (trw - colsum.sum() / n) / (n - 1)])


def within_block(u: np.ndarray, w, n: int, t: int, effects: str = "entity") -> MomentBlock:
    """The three within conditions (KKP sec. 3) from residuals ``u`` (N*T, time-major).

    ``effects`` is the within transformation ``Q`` ("entity": KKP's Q0,
    "time", "twoways"; module docstring). ``u`` may be raw (effects
    included): ``Q u``, ``Q W u`` and ``Q W W u`` are formed here, lags
    first. Cross products are divided by the rank of ``Q``.
    """
    from spillover.spatial.transforms import demean

    u = np.asarray(u, dtype=float).ravel()
    ub = spatial_lag(w, u, n, t)
    ubb = spatial_lag(w, ub, n, t)
    q = [demean(a, n, t, effects) for a in (u, ub, ubb)]
    time_effects = effects in ("time", "twoways")
    rank = (n - 1 if time_effects else n) * (t - 1 if effects in ("entity", "twoways") else t)
    return _block(*q, 1.0 / rank, expectations(w, time_effects))


def between_block(ubar: np.ndarray, w, n: int, t: int) -> MomentBlock:
    """The three Q1 conditions (KKP sec. 3) from the unit means ``ubar`` (N,) of the residuals.

    ``Q1 u`` repeats the unit means T times, so ``u' Q1 v = T ubar' vbar``
    and the cross products are ``T / N`` times those of the means.
    """
    ubar = np.asarray(ubar, dtype=float).ravel()
    ub = w @ ubar
    ubb = w @ ub
    return _block(ubar, ub, ubb, t / n, expectations(w))


@dataclass(frozen=True)
class _LowRank:
    """``S - sum_k u_k v_k'``: a sparse matrix minus a low-rank one (the time-demeaned matrices of :func:`t_w`)."""

    s: object  # scipy sparse (N, N)
    u: tuple = ()
    v: tuple = ()

    def trace_product(self, other: _LowRank) -> float:
        """``tr(self @ other)`` without forming either matrix densely."""
        out = float(self.s.multiply(other.s.T).sum())  # tr(S1 S2) = sum_ij S1_ij S2_ji
        out -= sum(float(vb @ (self.s @ ub)) for ub, vb in zip(other.u, other.v))  # tr(S1 u v') = v' S1 u
        out -= sum(float(va @ (other.s @ ua)) for ua, va in zip(self.u, self.v))
        out += sum(float(va @ ub) * float(vb @ ua)
                   for ua, va in zip(self.u, self.v) for ub, vb in zip(other.u, other.v))
        return out


def t_w(w, time_effects: bool = False) -> np.ndarray:
    """KKP's ``T_W`` (sec. 3): the normal-theory covariance pattern of one block's three moments.

    ``2 tr(A_i A_j) / tr(Q_N)`` with ``A_1 = Q_N``, ``A_2 = W' Q_N W``,
    ``A_3 = (W' Q_N + Q_N W) / 2`` (the symmetric matrices of the three
    quadratic forms); with ``Q_N = I_N`` this is KKP's ``[[2, 2 tr(W'W)/N, 0],
    [2 tr(W'W)/N, 2 tr(W'W W'W)/N, tr(W'W (W'+W))/N], [0, tr(W'W (W'+W))/N,
    tr(W W + W'W)/N]]`` (zero diagonal). With time effects ``Q_N = I_N -
    J_N/N`` (module docstring); its rank-one part is kept apart, so nothing is dense.
    """
    import scipy.sparse as sp_sparse

    W = sp_sparse.csr_array(w)
    n = W.shape[0]
    eye = sp_sparse.identity(n, format="csr")
    if not time_effects:
        mats = [_LowRank(eye), _LowRank((W.T @ W).tocsr()), _LowRank(((W.T + W) / 2).tocsr())]
        rank = n
    else:
        one, c = np.ones(n), np.asarray(W.sum(axis=0)).ravel()  # W'1
        mats = [_LowRank(eye, (one / n,), (one,)), _LowRank((W.T @ W).tocsr(), (c / n,), (c,)),
                _LowRank(((W.T + W) / 2).tocsr(), (c / (2 * n), one / (2 * n)), (one, c))]
        rank = n - 1
    return np.array([[2.0 * a.trace_product(b) / rank for b in mats] for a in mats])


@dataclass(frozen=True)
class GMFit:
    """The minimiser of a GM criterion: lambda, the variances (sigma2_v[, sigma2_1]) and flags."""

    lam: float
    variances: np.ndarray
    criterion: float
    flags: tuple[str, ...] = ()


def _stack(blocks: list[MomentBlock]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``A`` (coefficients of lam, lam^2), ``C`` (one variance column per block) and ``g`` of the stacked moments."""
    k = len(blocks)
    A = np.vstack([b.G[:, :2] for b in blocks])
    C = np.zeros((3 * k, k))
    for j, b in enumerate(blocks):
        C[3 * j:3 * j + 3, j] = b.G[:, 2]
    g = np.concatenate([b.g for b in blocks])
    return A, C, g


def _quartic(A: np.ndarray, C: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (highest first) of the concentrated criterion ``f(lam)`` and the matrix giving the variances.

    For fixed lam the variances are the least-squares coefficients of
    ``g - A [lam, lam^2]`` on ``C``; the residual ``M (A [lam, lam^2] - g)``
    (``M`` the annihilator of ``C``) is quadratic in lam, its square quartic.
    """
    pinv = np.linalg.pinv(C)
    M = np.eye(len(g)) - C @ pinv
    a1, a2, r = M @ A[:, 0], M @ A[:, 1], M @ g
    coef = np.array([a2 @ a2, 2 * a1 @ a2, a1 @ a1 - 2 * a2 @ r, -2 * a1 @ r, r @ r])
    return coef, pinv


def minimise(blocks: list[MomentBlock], weight: np.ndarray | None = None,
             bounds: tuple[float, float] = LAMBDA_BOUNDS) -> GMFit:
    """Global minimiser of ``m' Psi m`` over lambda in ``bounds`` and the (non-negative) variances.

    ``blocks``: one :class:`MomentBlock` per variance parameter (within:
    sigma2_v; between: sigma2_1). ``weight``: ``Psi`` (identity when None).
    The weighted problem is made unweighted with the Cholesky factor of
    ``Psi``; the concentrated criterion is a quartic in lambda whose minimum
    on ``bounds`` is at an end point or at a real root of its derivative.
    Should a variance come out negative there, the criterion is minimised
    numerically with the variances restricted to be non-negative (and flagged).
    """
    A, C, g = _stack(blocks)
    if weight is not None:
        L = np.linalg.cholesky((weight + weight.T) / 2).T  # Psi = L' L
        A, C, g = L @ A, L @ C, L @ g
    coef, pinv = _quartic(A, C, g)
    poly = np.poly1d(coef)
    lo, hi = bounds
    cands = [lo, hi] + [float(z.real) for z in poly.deriv().roots if abs(z.imag) < 1e-9 and lo < z.real < hi]
    lam = min(cands, key=lambda x: poly(x))
    lam = _polish(poly, lam, lo, hi)
    s2 = pinv @ (g - A @ np.array([lam, lam * lam]))
    flags = []
    if np.any(s2 < 0):
        lam, s2 = _nonnegative(A, C, g, bounds)
        flags.append("a GM variance estimate is at its lower bound 0")
    if min(abs(lam - lo), abs(lam - hi)) < 1e-9:
        flags.append(f"lambda is at the end of its search interval [{lo}, {hi}]")
    v = A @ np.array([lam, lam * lam]) + C @ s2 - g
    return GMFit(float(lam), np.asarray(s2, dtype=float), float(v @ v), tuple(flags))


def _polish(poly: np.poly1d, lam: float, lo: float, hi: float) -> float:
    """Two Newton steps on ``f'(lam) = 0`` for an interior minimum (the roots of a cubic lose a few digits)."""
    if not lo < lam < hi:
        return lam
    d1, d2 = poly.deriv(), poly.deriv(2)
    for _ in range(2):
        if d2(lam) <= 0:
            break
        step = d1(lam) / d2(lam)
        if not lo < lam - step < hi:
            break
        lam -= step
    return float(lam)


def _nonnegative(A: np.ndarray, C: np.ndarray, g: np.ndarray, bounds: tuple[float, float]) -> tuple[float, np.ndarray]:
    """The criterion minimised with variances >= 0 (non-negative least squares inside a bounded search)."""

    def inner(lam: float) -> tuple[float, np.ndarray]:
        s2, rnorm = optimize.nnls(C, g - A @ np.array([lam, lam * lam]))
        return rnorm * rnorm, s2

    grid = np.linspace(*bounds, 401)
    start = grid[int(np.argmin([inner(x)[0] for x in grid]))]
    step = grid[1] - grid[0]
    res = optimize.minimize_scalar(lambda x: inner(x)[0], bounds=(max(bounds[0], start - step),
                                                                  min(bounds[1], start + step)),
                                   method="bounded", options={"xatol": 1e-12})
    return float(res.x), inner(float(res.x))[1]


def sigma2_1_at(lam: float, ubar: np.ndarray, w, t: int) -> float:
    """``sigma2_1`` solving the first Q1 condition at ``lam``: ``T/N ||ubar - lam W ubar||^2`` (KKP sec. 3)."""
    e = ubar - lam * (w @ ubar)
    return float(t * (e @ e) / len(ubar))


def estimate(u0: np.ndarray, ubar: np.ndarray | None, w, n: int, t: int, moments: str,
             effects: str = "entity") -> GMFit:
    """KKP's GM estimate of ``(lambda, sigma2_v[, sigma2_1])`` from residuals ``u0`` and unit means ``ubar``.

    ``ubar`` is None with fixed effects (within block only, ``effects`` its
    transformation; ``u0`` raw or within residuals, see :func:`within_block`).
    The weighted estimators start from the initial one, whose variances set
    the weights ``Xi^-1`` (module docstring).
    """
    b0 = within_block(u0, w, n, t, effects)
    first = minimise([b0])
    if ubar is None:
        if moments != "fullweights":  # the partial weighting of one block is a multiple of I_3
            return first
        return _with_flags(minimise([b0], np.linalg.inv(t_w(w, effects in ("time", "twoways")))), first.flags)
    s2v = float(first.variances[0])
    s21 = sigma2_1_at(first.lam, ubar, w, t)
    if moments == "initial":
        return GMFit(first.lam, np.array([s2v, s21]), first.criterion, first.flags)
    tw = t_w(w) if moments == "fullweights" else np.eye(3)
    xi = np.kron(np.diag([s2v * s2v / (t - 1), s21 * s21]), tw)
    return _with_flags(minimise([b0, between_block(ubar, w, n, t)], np.linalg.inv(xi)), first.flags)


def _with_flags(fit: GMFit, earlier: tuple[str, ...]) -> GMFit:
    return GMFit(fit.lam, fit.variances, fit.criterion, tuple(dict.fromkeys(earlier + fit.flags)))
