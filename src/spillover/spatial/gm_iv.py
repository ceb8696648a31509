"""Instrumental-variable building blocks of the spatial panel GM estimators.

Two-stage least squares (2SLS) on within, between and GLS-transformed
panels, with the instruments of Kelejian & Prucha (1998, *A generalized
spatial two-stage least squares procedure for estimating a spatial
autoregressive model with autoregressive disturbances*, J. Real Estate
Finance and Economics 17, 99-121; KP98 below): the exogenous regressors X
and their spatial lags ``W X``, ``W^2 X``, plus any external instruments. The
panel versions follow Baltagi & Liu (2011, *Instrumental variable estimation
of a spatial autoregressive panel model with random effects*, Economics
Letters 111, 135-137) and Mutl & Pfaffermayr (2011, *The Hausman test in a
Cliff and Ord panel model*, Econometrics Journal 14, 48-76): the within
(W2SLS), between (B2SLS) and error-component (EC2SLS) regressions.

All arrays are stacked time-major (period 1's N units in W's order, then
period 2's, ...). The fixed effects may be unit ("entity"), period ("time")
or both ("twoways"): the within operator ``Q`` then removes unit means,
period means or both (Baltagi 2021, *Econometric Analysis of Panel Data*,
eq. 3.4), applied to spatial lags formed on the raw data. By the
Frisch-Waugh-Lovell theorem for 2SLS, the within 2SLS with period effects is
the unit-effects 2SLS with period dummies among the exogenous regressors and
the instruments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spillover.spatial.transforms import demean, spatial_lag


@dataclass(frozen=True)
class Panel:
    """The panel operators on time-major arrays: within (Q), unit means, between (Q1) and the spatial lags.

    ``effects``: what the within operator removes ("entity": KKP's Q0, also
    the Q0 of random effects; "time"; "twoways"). ``w_x`` and ``w_u`` are the
    weights of the Durbin terms and of the error (None: ``w``).
    """

    w: object
    n: int
    t: int
    effects: str = "entity"
    w_x: object = None
    w_u: object = None

    def within(self, a: np.ndarray) -> np.ndarray:
        """``Q a``: unit means, period means or both removed (``effects``).

        A column that the transformation removes up to rounding (norm below
        ``1e-10`` times the raw column's: the intercept, its spatial lags, a
        variable constant over time or, with period effects, across units) is
        returned as exact zeros, so that it reads as absent rather than as a
        direction of rounding noise.
        """
        out = demean(a, self.n, self.t, self.effects)
        if out.ndim == 2 and out.shape[1]:
            gone = np.sqrt((out * out).sum(axis=0)) <= 1e-10 * np.sqrt((np.asarray(a) ** 2).sum(axis=0))
            out[:, gone] = 0.0
        return out

    @property
    def rank(self) -> int:
        """Rank of ``Q``: N(T-1), (N-1)T or (N-1)(T-1)."""
        return (self.n - (self.effects != "entity")) * (self.t - (self.effects != "time"))

    @property
    def absorbed(self) -> int:
        """Degrees of freedom taken by the within transformation, ``NT - rank(Q)``."""
        return self.n * self.t - self.rank

    def lag_x(self, a: np.ndarray) -> np.ndarray:
        """``(I_T kron W_x) a``, the lag of the Durbin terms."""
        return spatial_lag(self.w if self.w_x is None else self.w_x, a, self.n, self.t)

    def lag_u(self, a: np.ndarray) -> np.ndarray:
        """``(I_T kron W_u) a``, the lag of the error process."""
        return spatial_lag(self.w if self.w_u is None else self.w_u, a, self.n, self.t)

    @property
    def m(self):
        """The error's weights matrix."""
        return self.w if self.w_u is None else self.w_u

    def means(self, a: np.ndarray) -> np.ndarray:
        """Unit means, shape (N,) or (N, k)."""
        a = np.asarray(a, dtype=float)
        return a.reshape(self.t, self.n, *a.shape[1:]).mean(axis=0)

    def between(self, a: np.ndarray) -> np.ndarray:
        """``Q1 a``: each unit's time mean, repeated over the periods."""
        m = self.means(a)
        return np.tile(m, (self.t,) + (1,) * (m.ndim - 1))

    def lag(self, a: np.ndarray) -> np.ndarray:
        """``(I_T kron W) a``."""
        return spatial_lag(self.w, a, self.n, self.t)

    def lag_means(self, a: np.ndarray) -> np.ndarray:
        """``W a`` for an (N,) or (N, k) array of unit means."""
        return np.asarray(self.w @ a)


def col_basis(h: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """Orthonormal basis of the column space of ``h`` (collinear and all-zero columns add nothing).

    Columns are scaled to unit length before the SVD, so the rank decision
    does not depend on their units.
    """
    h = np.asarray(h, dtype=float)
    if h.ndim == 1:
        h = h[:, None]
    norms = np.sqrt((h * h).sum(axis=0))
    h = h[:, norms > 0] / norms[norms > 0]
    if h.shape[1] == 0:
        return h
    u, s, _ = np.linalg.svd(h, full_matrices=False)
    return u[:, s > tol * s[0]]


@dataclass(frozen=True)
class TSLS:
    """A 2SLS fit: ``coef = (Zh'Z)^-1 Zh'y`` with ``Zh = P_H Z`` (KP98, step 1)."""

    coef: np.ndarray
    resid: np.ndarray  # y - Z coef (structural residuals, not second-stage ones)
    zhat: np.ndarray
    z: np.ndarray | None = None  # the regressors
    h: np.ndarray | None = None  # the instruments (None: least squares)

    @property
    def sse(self) -> float:
        return float(self.resid @ self.resid)

    def cov(self, sigma2: float) -> np.ndarray:
        """``sigma2 (Zh'Zh)^-1``, the homoskedastic 2SLS covariance."""
        return sigma2 * np.linalg.inv(self.zhat.T @ self.zhat)

    def cov_sandwich(self, scores: np.ndarray, scale: float) -> np.ndarray:
        """``scale (Zh'Zh)^-1 S'S (Zh'Zh)^-1`` from score rows ``S`` (observations or clusters)."""
        bread = np.linalg.inv(self.zhat.T @ self.zhat)
        v = scale * bread @ (scores.T @ scores) @ bread
        return (v + v.T) / 2


#: ``cov=`` choices of :class:`spillover.spatial.gm.GM`.
COV_KINDS = ("homoskedastic", "robust", "cluster")


def robust_cov(fit: TSLS, n: int, t: int, absorbed: int, kind: str) -> np.ndarray:
    """Heteroskedasticity-robust (``kind="robust"``) or unit-clustered (``"cluster"``) 2SLS covariance.

    ``(Zh'Zh)^-1 Zh' Omega Zh (Zh'Zh)^-1`` with ``Zh = P_H Z`` and the
    structural residuals ``e`` of the (transformed) regression (White 1980,
    Econometrica 48, 817-838; for 2SLS, Wooldridge 2010, *Econometric
    Analysis of Cross Section and Panel Data*, eq. 5.34): ``Omega =
    diag(e^2)`` scaled by ``NT / (NT - absorbed)``, or the sum over units of
    ``(sum_t Zh_it e_it)(sum_t Zh_it e_it)'`` scaled by ``C / (C - 1)`` (C = N
    units; Arellano 1987, Oxford Bulletin 49, 431-434). The scalings are
    those of the ML sandwich (:mod:`spillover.spatial.sandwich`): within
    residuals have ``NT - absorbed`` degrees of freedom, so their squares
    understate the error variances by that ratio (Stock & Watson 2008,
    Econometrica 76, 155-174), while the cluster sums need only the
    few-clusters factor ``C/(C-1)`` (Cameron & Miller 2015, J. Human
    Resources 50, 317-372, sec. VI) -- no ``(NT-1)/(NT-K)``, which tends to 1
    for fixed K. Time-major rows; ``absorbed`` is 0 without a within step.
    """
    s = fit.zhat * fit.resid[:, None]
    if kind == "robust":
        return fit.cov_sandwich(s, n * t / (n * t - absorbed))
    return fit.cov_sandwich(s.reshape(t, n, -1).sum(axis=0), n / (n - 1))


def tsls(y: np.ndarray, z: np.ndarray, h: np.ndarray | None) -> TSLS:
    """2SLS of ``y`` on ``z`` with instruments ``h`` (``h=None``: ordinary least squares, ``Zh = Z``)."""
    z = np.asarray(z, dtype=float)
    zhat = z if h is None else (lambda q: q @ (q.T @ z))(col_basis(h))
    coef = np.linalg.solve(zhat.T @ z, zhat.T @ y)
    return TSLS(coef, y - z @ coef, zhat, z, h)


def identified(fit_z: np.ndarray, h: np.ndarray) -> bool:
    """True when the projection of every regressor on the instruments is of full column rank."""
    q = col_basis(h)
    zhat = q @ (q.T @ fit_z)
    return col_basis(zhat).shape[1] == fit_z.shape[1]


def drop_zero(a: np.ndarray) -> np.ndarray:
    """``a`` without its all-zero columns (the intercept after the within transformation)."""
    keep = np.abs(a).max(axis=0) > 0
    return a[:, keep]


@dataclass(frozen=True)
class Parts:
    """The data of one fit: y, exogenous X (intercept included for random effects), endogenous E, instruments Hx.

    ``lag``: the model has ``rho W y`` (W y is then the last endogenous regressor).
    ``h``: the raw (untransformed) instruments of the 2SLS steps, ``[X, Hx]``
    and, with a spatial lag, the spatial lags of X (built by
    :func:`spillover.spatial.gm.GM`); each step transforms them.
    """

    y: np.ndarray
    x: np.ndarray
    e: np.ndarray  # (NT, q), q = 0 without endogenous regressors
    hx: np.ndarray  # (NT, m)
    lag: bool
    h: np.ndarray | None = None

    def z(self, p: Panel, y: np.ndarray | None = None) -> np.ndarray:
        """The regressors ``[X, E, (W y)]`` (the order of the reported coefficients)."""
        y = self.y if y is None else y
        cols = [self.x, self.e] + ([p.lag(y)[:, None]] if self.lag else [])
        return np.column_stack(cols)


def within_2sls(p: Panel, d: Parts) -> tuple[TSLS, np.ndarray]:
    """W2SLS: 2SLS on within-transformed data (Baltagi & Liu 2011; Mutl & Pfaffermayr 2011).

    Regressors ``Q [X, E, W y]`` (the intercept vanishes), instruments ``Q``
    times the raw instruments ``d.h`` (``[X, Hx]`` and, with a spatial lag,
    ``W X``, ``W^2 X``; KP98). Returns the fit and the instrument matrix.
    """
    z = drop_zero(p.within(d.z(p)))
    h = p.within(d.h)
    return tsls(p.within(d.y), z, h), h


def between_2sls(p: Panel, d: Parts) -> tuple[TSLS, np.ndarray]:
    """B2SLS: 2SLS on the unit means (N observations), the instruments of :func:`within_2sls` in means.

    Regressors ``[Xbar, Ebar, W ybar]``, instruments the unit means of
    ``d.h``. Returns the fit (residuals are the unit-mean residuals) and the
    instruments (N rows).
    """
    yb = p.means(d.y)
    z = np.column_stack([p.means(d.x), p.means(d.e)] + ([p.lag_means(yb)[:, None]] if d.lag else []))
    return tsls(yb, z, p.means(d.h)), p.means(d.h)


def between_sigma2_1(fit: TSLS, t: int) -> float:
    """``sigma2_1`` from the B2SLS: ``T ||ubar||^2 / (N - p)`` (the between regression's scale, times T)."""
    n, k = fit.zhat.shape
    return t * fit.sse / (n - k)


def within_sigma2_v(fit: TSLS, p: Panel) -> float:
    """``sigma2_v`` from the W2SLS: ``||u_w||^2 / (rank(Q) - p)``, degrees of freedom net of the absorbed means
    (``N (T-1) - p`` with unit effects)."""
    return fit.sse / (p.rank - fit.zhat.shape[1])


def ec2sls(p: Panel, d: Parts) -> tuple[TSLS, float, float]:
    """EC2SLS of the random-effects spatial lag panel (Baltagi & Liu 2011; Baltagi 2021, *Econometric Analysis
    of Panel Data*, ch. 7, for the non-spatial EC2SLS).

    The variance components come from the W2SLS and B2SLS residuals
    (:func:`within_sigma2_v`, :func:`between_sigma2_1`); every variable is
    then GLS-scaled, ``v* = Q0 v / sigma_v + Q1 v / sigma_1``, and the
    instruments are ``[Q0 A, Q1 A]`` with ``A = [1, X, Hx, W X, W^2 X]``
    (the lags of the within and between parts). Returns the fit and
    ``(sigma2_v, sigma2_1)``.
    """
    fw, hw = within_2sls(p, d)
    fb, hb = between_2sls(p, d)
    s2v, s21 = within_sigma2_v(fw, p), between_sigma2_1(fb, p.t)
    sv, s1 = np.sqrt(s2v), np.sqrt(s21)

    def star(a: np.ndarray) -> np.ndarray:
        return p.within(a) / sv + p.between(a) / s1

    h = np.column_stack([np.ones(p.n * p.t), hw, np.tile(hb, (p.t, 1))])
    return tsls(star(d.y), star(d.z(p)), h), s2v, s21


@dataclass(frozen=True)
class FirstStage:
    """First-stage regressions of the endogenous regressors of one 2SLS fit (one entry per endogenous column).

    ``f`` is the partial F statistic of the excluded instruments,
    ``((SSR_r - SSR_u) / df1) / (SSR_u / df2)``, with ``SSR_r`` from the
    regression on the included exogenous regressors and ``SSR_u`` from the
    one on every instrument; ``partial_r2 = 1 - SSR_u / SSR_r`` (Staiger &
    Stock 1997, Econometrica 65, 557-586, for the F rule of thumb;
    homoskedastic form).
    """

    f: np.ndarray
    partial_r2: np.ndarray
    df1: int
    df2: int


def first_stage(z: np.ndarray, n_exog: int, h: np.ndarray, absorbed: int = 0) -> FirstStage:
    """Partial F and partial R-squared of each endogenous column ``z[:, n_exog:]`` (:class:`FirstStage`).

    ``z[:, :n_exog]`` are the included exogenous regressors and ``h`` the
    instruments, both as in the 2SLS fit; ``absorbed`` degrees of freedom
    are taken by a transformation before it (N unit means for the within
    transformation), so ``df2 = rows - absorbed - rank([h, z_exog])``.
    """
    inc = z[:, :n_exog]
    endo = z[:, n_exog:]
    q_r = col_basis(inc) if n_exog else np.empty((z.shape[0], 0))
    q_u = col_basis(np.column_stack([h, inc]))
    ssr_r = ((endo - q_r @ (q_r.T @ endo)) ** 2).sum(axis=0)
    ssr_u = ((endo - q_u @ (q_u.T @ endo)) ** 2).sum(axis=0)
    df1 = q_u.shape[1] - q_r.shape[1]
    df2 = z.shape[0] - absorbed - q_u.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        f = ((ssr_r - ssr_u) / df1) / (ssr_u / df2) if df1 > 0 and df2 > 0 else np.full(endo.shape[1], np.nan)
        r2 = 1.0 - ssr_u / ssr_r
    return FirstStage(np.asarray(f, dtype=float), np.asarray(r2, dtype=float), int(df1), int(df2))
