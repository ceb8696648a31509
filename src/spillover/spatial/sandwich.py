"""Heteroskedasticity-robust and cluster-robust (QML sandwich) covariances of the static spatial ML fits.

``V = H^-1 J H^-1`` with ``H`` minus the Hessian of the log-likelihood at the
estimate and ``J`` an estimate of the variance of the score that stays valid
when the errors are heteroskedastic (``cov="robust"``) or, in addition,
correlated over time within a unit (``cov="cluster"``, clusters = units).

Why not the outer product of per-observation scores
---------------------------------------------------
The score of a spatial parameter is a linear-quadratic form in the errors,
e.g. for the lag model ``(W y)'e / sigma2 - jac tr(G)`` with ``W y = G Z b + G e``,
``G = W (I - rho W)^-1``. Its variance holds, besides the squares of each
observation's term, the pair terms ``sum_{i != j} G_ij (G_ij + G_ji) s_i^2 s_j^2``
(Kelejian & Prucha 2001, J. Econometrics 104, Lemma A.1; 2010, J. Econometrics
157, 53-67, eq. 25). An outer product of per-observation scores drops the
``G_ij G_ji`` half of them, so it is not consistent for ``rho`` or ``lambda``.
Here every score is written as ``a'e + e'A e - c`` (``A`` block-diagonal by
period) and ``J`` is

    J = sum_c S_c S_c' + Q,
    S_c = sum over the observations m of cluster c of  g_m,
    g_m = a_m e_m / sigma2 + A_mm e_m^2 / sigma2 - kappa_m,
    Q_kl = sum_{i != j} O^k_ij (O^l_ij + O^l_ji) K_ij / sigma2^2,

with ``O = A - diag(A)``, ``K_ij = sum_t e_it^2 e_jt^2`` (robust: each
observation its own cluster) or ``K_ij = (sum_t e_it e_jt)^2`` (cluster: the
within-unit covariances of Kelejian & Prucha's ``s_i^2 s_j^2`` estimated by the
products of the unit's residuals over time). Cluster sums are scaled by
``C / (C - 1)`` (C clusters). The robust form is scaled by ``N T / n_eff``:
the residuals of the transformed model have ``n_eff`` degrees of freedom, so
their squares understate the error variances by ``n_eff / (N T)`` (``(T-1)/T``
with unit effects; Stock & Watson 2008, Econometrica 76, 155-174, show the
unscaled estimator is biased downward for fixed T). Clustering by unit needs
no such scaling (Arellano 1987, Oxford Bulletin 49, 431-434).

Score convention (which observation carries the log-determinant term)
---------------------------------------------------------------------
The deterministic part of a spatial score, ``-jac tr(G) + jac_corr / (1 - rho)``,
is spread over the observations as ``kappa_(t,i) = (jac / T) A_ii - jac_corr /
((1 - rho) N T)``: unit ``i`` carries its own diagonal element of ``A`` in each
period (so that each ``g_m`` has mean zero under homoskedasticity), and Lee &
Yu's rank-one correction is spread evenly. ``sigma2``'s score spreads
``n_eff / (2 sigma2)`` evenly over the ``N T`` transformed observations.

Under heteroskedasticity the QML estimate of a spatial parameter is itself
consistent only when the error variances are not correlated with the
diagonal of ``G`` (Lin & Lee 2010, J. Econometrics 157, 34-52, sec. 3); with a
row-standardised W the diagonal varies little. The sandwich corrects the
standard errors, not that bias.

Panels whose periods hold different units (unbalanced)
-----------------------------------------------------
:func:`block_score_parts` splits the score period by period: ``A`` is
block-diagonal with the period's own ``A_t`` (from ``W_t``, W restricted to the
units observed in t), and each period's log-determinant carries the weight
``conv.jac``. The pair terms are summed within periods. Robust:
``Q_kl = sum_t sum_{i != j in S_t} O^k_t,ij (O^l_t,ij + O^l_t,ji) e_it^2 e_jt^2 / sigma2^2``.
Cluster: the variance of ``sum_t e_t' O_t e_t`` under dependence within a
unit over time has the terms ``O_t,ij (O_s,ij + O_s,ji) E[e_it e_is] E[e_jt e_js]``
for every pair of periods (t, s), estimated by

    Q_kl = sum_{i != j} P^k_ij (P^l_ij + P^l_ji) / sigma2^2,
    P^k_ij = sum over the periods t where i and j are both observed of O^k_t,ij e_it e_jt,

which is the balanced ``O^k_ij (O^l_ij + O^l_ji) (sum_t e_it e_jt)^2`` when
``O_t`` is the same in every period. Robust sums are scaled by
``n_obs / n_eff``, cluster sums by ``C / (C - 1)`` (C units observed); on a
balanced panel both give :func:`meat`'s numbers.

The matrices ``A`` are formed dense (N x N), so these covariances are offered
up to :data:`MAX_N` units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp_sparse

from spillover.errors import SpecificationError, format_error

#: Largest number of units for which the dense N x N matrices of the sandwich are formed.
MAX_N = 6000

#: ``cov=`` values handled here.
KINDS = ("robust", "cluster")


@dataclass(frozen=True)
class ScoreParts:
    """The score of ``(beta, rho, lambda, sigma2)`` split as in the module docstring.

    ``g`` holds each observation's share (rows: observations, time-major;
    columns: parameters); ``off`` the matrices ``O`` of the spatial parameters
    (column index -> N x N matrix), ``e`` the residuals and ``sigma2``.
    ``total()`` is the score itself.
    """

    g: np.ndarray
    off: dict
    e: np.ndarray
    sigma2: float
    n: int
    t: int
    n_eff: int

    def total(self) -> np.ndarray:
        out = self.g.sum(axis=0)
        e = self.e.reshape(self.t, self.n)
        for col, o in self.off.items():
            out[col] += float(np.einsum("ti,ij,tj->", e, o.T, e)) / self.sigma2  # sum_t e_t' O' e_t
        return out


def _dense_w(W) -> np.ndarray:
    return W.toarray() if sp_sparse.issparse(W) else np.asarray(W, dtype=float)


def score_parts(W, n: int, t: int, conv, *, lag: bool, err: bool, beta, rho: float, lam: float, sigma2: float,
                yt, wyt, mwyt, zt, mzt, myt=None, M=None) -> ScoreParts:
    """Split the score of the transformed model at ``(beta, rho, lam, sigma2)``; see the module docstring.

    ``yt, wyt, myt, mwyt, zt, mzt`` are the transformed columns of
    :class:`spillover.spatial.likelihood.Moments` (spatial lags formed on the
    raw data, then transformed); ``M`` is the error's W (default ``W``, and
    ``myt`` then defaults to ``wyt``). The linear part ``a`` of a spatial score is
    taken as the observed ``B (W y)~`` (lag) or ``(W u)~`` (error) minus
    ``A e``, so that the parts add up to the observed score exactly, also
    where the transformation and W do not commute (time effects).
    """
    beta = np.asarray(beta, dtype=float)
    wd = _dense_w(W)
    md = wd if M is None else _dense_w(M)
    myt = wyt if myt is None else myt
    eye = np.eye(n)
    e = yt - rho * wyt - lam * myt + rho * lam * mwyt - (zt - lam * mzt) @ beta
    ep, s2, nt = e.reshape(t, n), sigma2, n * t
    cols = [((zt - lam * mzt) * e[:, None]) / s2]  # beta: (B Z)' e / sigma2
    off: dict[int, np.ndarray] = {}
    k = len(beta)
    b_inv = np.linalg.inv(eye - lam * md) if err else eye
    if lag:
        g_mat = wd @ np.linalg.inv(eye - rho * wd)
        a_mat = (eye - lam * md) @ g_mat @ b_inv if err else g_mat  # B G B^-1
        bwy = (wyt - lam * mwyt).reshape(t, n)  # B (W y)~
        cols.append(_spatial_column(a_mat, bwy, ep, s2, conv, n, t, rho))
        off[k] = a_mat - np.diag(np.diag(a_mat))
    if err:
        h_mat = md @ b_inv  # M B^-1
        wu = (myt - rho * mwyt - mzt @ beta).reshape(t, n)  # (M u)~
        cols.append(_spatial_column(h_mat, wu, ep, s2, conv, n, t, lam))
        off[k + int(lag)] = h_mat - np.diag(np.diag(h_mat))
    cols.append(((e**2 - s2 * conv.n_eff / nt) / (2 * s2**2))[:, None])
    return ScoreParts(np.column_stack(cols), off, e, s2, n, t, conv.n_eff)


def _spatial_column(a_mat: np.ndarray, lagged: np.ndarray, ep: np.ndarray, s2: float, conv, n: int, t: int,
                    p: float) -> np.ndarray:
    """One spatial parameter's per-observation shares: ``a e / s2 + A_ii e^2 / s2 - kappa`` (time-major)."""
    ae = ep @ a_mat.T  # rows: A e_t
    lin = (lagged - ae) * ep  # a_m e_m
    d = np.diag(a_mat)
    kappa = conv.jac / t * d[None, :] - conv.jac_corr / ((1.0 - p) * n * t)
    return ((lin + d[None, :] * ep**2) / s2 - kappa).reshape(-1)


def random_effects_parts(W, n: int, t: int, *, beta, rho: float, phi: float, sigma2: float, y, wy, z) -> ScoreParts:
    """Score of the random-effects lag model (SAR/SDM, ``fe="random"``) in ``(beta, rho, phi, sigma2)``, split.

    The model and likelihood are those of
    :func:`spillover.spatial.random_effects.fit_random_effects` (Elhorst 2014,
    sec. 3.4). The quasi-demeaning ``v* = v - (1 - sqrt(phi)) vbar_i`` acts
    within each unit and commutes with ``I_T kron G``, so in the transformed
    errors ``e* = y* - rho (W y)* - Z* b`` (independent across units, iid
    under the model) the scores of ``beta``, ``rho`` and ``sigma2`` are those
    of the pooled lag model (``jac = T``, ``n_eff = N T``) and
    :func:`score_parts` splits them. The score of ``phi`` is
    ``sum_i [1/(2 phi) - T ubar_i^2 / (2 sigma2)]`` with ``ubar_i`` the
    unit's mean raw residual ``u = y - rho W y - Z b``: a form within each
    unit, so it has no pair terms; observation ``(t, i)`` carries
    ``1/(2 phi T) - ubar_i u_it / (2 sigma2)`` (the shares of a unit add up to
    its term). Only the clustered meat is meaningful here: the random effect
    correlates a unit's errors over time by construction.
    """
    from spillover.spatial.transforms import Convention

    beta = np.asarray(beta, dtype=float)
    c = 1.0 - np.sqrt(phi)

    def quasi(v: np.ndarray) -> np.ndarray:
        shaped = v.reshape(t, n, -1)
        return (shaped - c * shaped.mean(axis=0)).reshape(v.shape)

    conv = Convention("random", "ml", float(t), 0.0, n * t, False)
    zeros = np.zeros(n * t)
    zq = quasi(z)
    parts = score_parts(W, n, t, conv, lag=True, err=False, beta=beta, rho=rho, lam=0.0, sigma2=sigma2,
                        yt=quasi(y), wyt=quasi(wy), mwyt=zeros, zt=zq, mzt=np.zeros_like(zq))
    u = (y - rho * wy - z @ beta).reshape(t, n)
    phi_col = (1.0 / (2.0 * phi * t) - u.mean(axis=0)[None, :] * u / (2.0 * sigma2)).reshape(-1)
    g = np.insert(parts.g, len(beta) + 1, phi_col, axis=1)
    return ScoreParts(g, parts.off, parts.e, sigma2, n, t, n * t)


@dataclass(frozen=True)
class BlockScoreParts:
    """The score split as in :class:`ScoreParts` for periods that hold different units (module docstring).

    ``g`` holds each observation's share (time-major rows); ``blocks`` lists,
    per period, its rows (a slice), their unit codes and the matrices ``O_t``
    of the spatial parameters (column index -> n_t x n_t); ``unit`` is every
    observation's unit code.
    """

    g: np.ndarray
    blocks: list
    e: np.ndarray
    sigma2: float
    unit: np.ndarray
    n_units: int
    n_eff: int

    def total(self) -> np.ndarray:
        out = self.g.sum(axis=0)
        for rows, _, off in self.blocks:
            et = self.e[rows]
            for col, o in off.items():
                out[col] += float(et @ o @ et) / self.sigma2
        return out


def _spatial_matrices(wd: np.ndarray, md: np.ndarray, rho: float, lam: float, lag: bool, err: bool) -> list:
    """``A`` of the lag (``B G B^-1``) and of the error (``M B^-1``) for one W and M, in that order."""
    eye = np.eye(wd.shape[0])
    b_inv = np.linalg.inv(eye - lam * md) if err else eye
    out = []
    if lag:
        g_mat = wd @ np.linalg.inv(eye - rho * wd)
        out.append((eye - lam * md) @ g_mat @ b_inv if err else g_mat)
    if err:
        out.append(md @ b_inv)
    return out


def block_score_parts(blocks, unit: np.ndarray, conv, *, lag: bool, err: bool, beta, rho: float, lam: float,
                      sigma2: float, yt, wyt, mwyt, zt, mzt, myt=None) -> BlockScoreParts:
    """The score of :func:`score_parts` for periods with their own units; see the module docstring.

    ``blocks`` lists per period ``(rows, units, W_t, M_t)``: a slice of the
    time-major stacking, the unit codes of those rows, and the period's
    weights (``M_t`` None: ``W_t``). Each period's log-determinant carries the
    weight ``conv.jac``; ``conv.jac_corr`` is spread evenly over the
    observations. The other arguments are those of :func:`score_parts`.
    """
    beta = np.asarray(beta, dtype=float)
    myt = wyt if myt is None else myt
    e = yt - rho * wyt - lam * myt + rho * lam * mwyt - (zt - lam * mzt) @ beta
    s2, nobs, k = sigma2, len(e), len(beta)
    params, observed = [], []  # each spatial parameter and the observed B (W y)~ (lag) or (M u)~ (error)
    if lag:
        params.append(rho)
        observed.append(wyt - lam * mwyt)
    if err:
        params.append(lam)
        observed.append(myt - rho * mwyt - mzt @ beta)
    spatial = np.zeros((nobs, len(params)))
    cache: dict[bytes, list] = {}
    out_blocks = []
    for rows, units, wt, mt in blocks:
        key = np.asarray(units).tobytes()
        if key not in cache:
            wd = _dense_w(wt)
            cache[key] = _spatial_matrices(wd, wd if mt is None else _dense_w(mt), rho, lam, lag, err)
        et = e[rows]
        off = {}
        for j, (a_mat, p, obs) in enumerate(zip(cache[key], params, observed)):
            d = np.diag(a_mat)
            lin = (obs[rows] - a_mat @ et) * et  # a_m e_m, a = observed minus A e
            kappa = conv.jac * d - conv.jac_corr / ((1.0 - p) * nobs)
            spatial[rows, j] = (lin + d * et**2) / s2 - kappa
            off[k + j] = a_mat - np.diag(d)
        out_blocks.append((rows, np.asarray(units), off))
    g = np.column_stack([(zt - lam * mzt) * e[:, None] / s2, spatial,
                         (e**2 - s2 * conv.n_eff / nobs) / (2 * s2**2)])
    unit = np.asarray(unit)
    return BlockScoreParts(g, out_blocks, e, s2, unit, int(unit.max()) + 1, conv.n_eff)


def _block_meat(parts: BlockScoreParts, kind: str) -> np.ndarray:
    """``J`` for :class:`BlockScoreParts`: pair terms summed within periods (module docstring)."""
    g, e, s2sq = parts.g, parts.e, parts.sigma2**2
    cols = list(parts.blocks[0][2]) if parts.blocks else []
    if kind == "robust":
        j = g.T @ g
        for rows, _, off in parts.blocks:
            e2 = e[rows] ** 2
            kmat = np.outer(e2, e2)
            for a in cols:
                for b in cols:
                    j[a, b] += float(np.sum(off[a] * (off[b] + off[b].T) * kmat)) / s2sq
        return j * (len(e) / parts.n_eff)
    s = np.zeros((parts.n_units, g.shape[1]))
    np.add.at(s, parts.unit, g)  # per unit
    j = s.T @ s
    pm = {c: np.zeros((parts.n_units, parts.n_units)) for c in cols}
    for rows, units, off in parts.blocks:
        ee = np.outer(e[rows], e[rows])
        for c in cols:
            pm[c][np.ix_(units, units)] += off[c] * ee
    for a in cols:
        for b in cols:
            j[a, b] += float(np.sum(pm[a] * (pm[b] + pm[b].T))) / s2sq
    c_units = len(np.unique(parts.unit))
    return j * (c_units / (c_units - 1))


def meat(parts: ScoreParts | BlockScoreParts, kind: str) -> np.ndarray:
    """``J`` of the module docstring for ``kind`` in :data:`KINDS`."""
    if isinstance(parts, BlockScoreParts):
        return _block_meat(parts, kind)
    n, t = parts.n, parts.t
    p = parts.g.shape[1]
    ep = parts.e.reshape(t, n)
    if kind == "robust":
        j = parts.g.T @ parts.g
        kmat = (ep**2).T @ (ep**2)
    else:
        s = parts.g.reshape(t, n, p).sum(axis=0)  # per unit
        j = s.T @ s
        kmat = (ep.T @ ep) ** 2
    np.fill_diagonal(kmat, 0.0)
    for a, oa in parts.off.items():
        for b, ob in parts.off.items():
            j[a, b] += float(np.sum(oa * (ob + ob.T) * kmat)) / parts.sigma2**2
    return j * (n / (n - 1)) if kind == "cluster" else j * (n * t / parts.n_eff)


def sandwich(info: np.ndarray, parts: ScoreParts | BlockScoreParts, kind: str) -> np.ndarray:
    """``info^-1 J info^-1`` (symmetrised); ``info`` is minus the Hessian in the order of the score."""
    from spillover.spatial.covariance import invert

    bread = invert(info, "Hessian")
    v = bread @ meat(parts, kind) @ bread
    return (v + v.T) / 2


def check_size(n: int, kind: str) -> None:
    """Refuse the dense sandwich above :data:`MAX_N` units, naming the option."""
    if n > MAX_N:
        raise SpecificationError(format_error(
            f"cov={kind!r} forms dense N x N matrices and is offered up to {MAX_N:,} units (N = {n:,})",
            option="cov", hint="use cov='information' (or 'hessian') at this size"))
