"""Random-effects spatial lag (SAR/SDM) panel model by maximum likelihood.

Model (Elhorst 2014, *Spatial Econometrics*, sec. 3.4, eqs. 3.24-3.27;
Baltagi 2021, ch. 13): ``y_t = rho W y_t + X_t b + mu + e_t`` with unit
effects ``mu_i ~ iid(0, s2_mu)`` independent of X. With
``phi = s2 / (T s2_mu + s2)`` and the quasi-demeaning
``v* = v - (1 - sqrt(phi)) vbar_i`` of y, W y and X (intercept included),
the log-likelihood is::

    l = -NT/2 log(2 pi s2) + N/2 log(phi) + T log|I - rho W| - e*'e*/(2 s2)

(rho, log phi) are found by :func:`spillover.spatial.core.maximize` and polished on the
analytic score of the concentrated likelihood (see ``score`` in :func:`fit_random_effects`).

Because ``sum_t (v_t - c vbar)(u_t - c ubar) = v'u - (1 - phi) T vbar'ubar``
with ``c = 1 - sqrt(phi)``, the quasi-demeaned Gram matrix is
``G_raw - (1 - phi) G_means``; b and s2 are concentrated out and (rho, phi)
maximised jointly. Standard errors come from a central-difference Hessian of
the full log-likelihood in (b, rho, phi, s2).

Both random-effects fits keep in ``extra``: ``cov_gls``, the GLS covariance
``s2 (Z' Omega^-1 Z)^-1`` of the coefficients at the estimated spatial and
variance parameters, and ``design``, the stacked panel they were fitted on;
the Hausman tests of :mod:`spillover.diagnostics.tests` use them.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from spillover.errors import SpecificationError, format_error
from spillover.spatial import covariance, sandwich
from spillover.spatial.core import MLProblem, fit_ml, warn_flags
from spillover.spatial.impacts import ImpactContext
from spillover.spatial.likelihood import LOG2PI
from spillover.spatial.results import SpatialResults
from spillover.spatial.transforms import spatial_lag


def fit_random_effects(model, d) -> SpatialResults:
    from spillover.spatial.logdet import make_logdet

    n, t = d.n, d.t
    W = d.w
    z, names = d.regressors()
    y = d.y
    wy = spatial_lag(W, y, n, t)
    m = np.column_stack([y, wy, z])
    g_raw = m.T @ m
    means = m.reshape(t, n, -1).mean(axis=0)
    g_mean = t * means.T @ means
    k = z.shape[1]
    nt = n * t
    engine = make_logdet(W, model.logdet, seed=model.seed)
    lo, hi = engine.bounds

    def solve(rho, phi):
        g = g_raw - (1.0 - phi) * g_mean
        a = np.zeros(2 + k)
        a[0], a[1] = 1.0, -rho
        zz = g[2:, 2:]
        zy = g[2:, :] @ a
        b = np.linalg.solve(zz, zy)
        ssr = float(a @ g @ a - zy @ b)
        return b, ssr

    def full(b, rho, phi, s2):
        g = g_raw - (1.0 - phi) * g_mean
        c = np.concatenate([[1.0, -rho], -b])
        ssr = float(c @ g @ c)
        return -0.5 * nt * (LOG2PI + np.log(s2)) + 0.5 * n * np.log(phi) + t * float(engine.logdet(rho)) - ssr / (2 * s2)

    def neg_conc(p):
        rho, phi = p[0], np.exp(p[1])
        _, ssr = solve(rho, phi)
        return -full(solve(rho, phi)[0], rho, phi, ssr / nt)

    def score(p):
        # l_c = -NT/2 log(e'e/NT) + N/2 log(phi) + T log|I - rho W|; by the envelope theorem
        # d e'e/d rho = 2 c'G a_rho (a_rho = d c/d rho) and d e'e/d phi = c'G_means c (G = G_raw - (1 - phi) G_means)
        rho, phi = p[0], np.exp(p[1])
        b, ssr = solve(rho, phi)
        g = g_raw - (1.0 - phi) * g_mean
        c = np.concatenate([[1.0, -rho], -b])
        d_rho = -2.0 * float(c @ g[:, 1])
        return np.array([-0.5 * nt * d_rho / ssr + t * float(engine.dlogdet(rho)),
                         -0.5 * nt * phi * float(c @ g_mean @ c) / ssr + 0.5 * n])

    best = fit_ml(MLProblem(model._spec.name, ("rho", "log_phi"), [(lo, hi), (np.log(1e-10), 0.0)], neg_conc,
                            score=score, starts=((0.0, np.log(0.5)), (0.5, np.log(0.1)), (0.3, np.log(0.9))),
                            checked=1))
    rho, phi = float(best.x[0]), float(np.exp(best.x[1]))
    b, ssr = solve(rho, phi)
    s2 = ssr / nt
    llf = full(b, rho, phi, s2)
    flags = list(best.flags)
    if phi > 1 - 1e-6:
        flags.append("phi = 1: the random-effects variance is estimated at zero (pooled model)")
    pnames = names + ["rho"]
    def grad(th):  # analytic gradient of full(b, rho, phi, s2); c = (1, -rho, -b) on the Gram G_raw - (1 - phi) G_means
        b_, r_, f_, s_ = th[:k], th[k], th[k + 1], th[k + 2]
        g = g_raw - (1.0 - f_) * g_mean
        c = np.concatenate([[1.0, -r_], -b_])
        gc = g @ c
        return np.concatenate([gc[2:] / s_, [t * float(engine.dlogdet(r_)) + gc[1] / s_,
                                             0.5 * n / f_ - float(c @ g_mean @ c) / (2 * s_),
                                             -0.5 * nt / s_ + float(c @ gc) / (2 * s_**2)]])

    theta, info = _inference(d, flags, np.concatenate([b, [rho, phi, s2]]), full, pnames, grad)
    resid = y - rho * wy - z @ b
    if model.cov == "cluster":
        sandwich.check_size(n, model.cov)
        parts = sandwich.random_effects_parts(W, n, t, beta=b, rho=rho, phi=phi, sigma2=s2, y=y, wy=wy, z=z)
        cov_full = sandwich.sandwich(info, parts, "cluster")
    else:
        cov_full = covariance.invert(info)
    ctx = ImpactContext.for_fit(d.x_names, pnames, W, engine=engine, w_x=d.w_x)
    yc = y - y.mean()
    return SpatialResults.from_fit(
        theta=theta, names=pnames, cov_full=cov_full, y=y, resid=resid, rows=d.rows, order=d.order,
        model=model._spec.name, fe="random", method="ml", llf=float(llf), nobs=nt, n_eff=nt, N=n, T=t,
        y_name=d.y_name, x_names=d.x_names, wx_names=d.wx_names, w_label=d.w_label,
        logdet_strategy=engine.strategy, cov_type="cluster" if model.cov == "cluster" else "numerical",
        rsquared=1 - float(resid @ resid) / float(yc @ yc), rsquared_label="R2",
        fixed_effects={}, flags=tuple(flags),
        extra={"phi": phi, "phi_se": float(np.sqrt(cov_full[k + 1, k + 1])), "theta": 1 - np.sqrt(phi),
               "cov_gls": _gls_cov(s2, (g_raw - (1.0 - phi) * g_mean)[2:, 2:], names), "design": d},
        _impact_ctx=ctx,
    )


def fit_random_effects_error(model, d) -> SpatialResults:
    """Random-effects spatial error model (SEM, SDEM) by maximum likelihood.

    Model (Baltagi, Song & Koh 2003, J. Econometrics 117, eq. 2.1; Elhorst
    2003, Int. Regional Science Review 26, sec. 3; Elhorst 2014, sec. 3.4):
    ``y = Z b + u``, ``u = (1_T kron I_N) mu + (I_T kron B^-1) e``,
    ``B = I - lambda W``, ``mu_i ~ iid(0, s2_mu)``, ``e ~ N(0, s2 I)``. With
    ``f = s2_mu / s2``, ``A = B'B`` and the projections ``Jbar_T = 11'/T``,
    ``E_T = I - Jbar_T``::

        Omega / s2 = Jbar_T kron V + E_T kron A^-1,   V = T f I + A^-1
        log|Omega / s2| = log|I + T f A| - 2 T log|B|
        e' (Omega/s2)^-1 e = T ebar' V^-1 ebar + sum_t (e_t - ebar)' A (e_t - ebar)

    (Baltagi et al. 2003, eqs. 2.4-2.6). b and s2 are concentrated out and
    (lambda, f) maximised jointly; V^-1 = (T f A + I)^-1 A uses one dense
    eigendecomposition of A per lambda, so this estimator is meant for
    N up to a few thousand. Standard errors from a central-difference Hessian
    of the full log-likelihood in (b, lambda, f, s2). ``extra["phi"]`` is
    reported on the same scale as the lag model's, ``s2 / (T s2_mu + s2)``.
    """
    n, t = d.n, d.t
    if n > 3000:
        raise SpecificationError(
            format_error(f"random-effects error models use dense N x N algebra; N = {n} is too large",
                         option="fe", hint="use fe='entity' (any N) for large panels")
        )
    W = d.w
    M = W if d.w_u is None else d.w_u  # the error's W
    Wd = M.toarray()
    z, names = d.regressors()
    m = np.column_stack([d.y, z]).reshape(t, n, -1)  # [y, Z] as (T, N, 1+k)
    means = m.mean(axis=0)  # (N, 1+k)
    dev = m - means  # (T, N, 1+k)
    k = z.shape[1]
    nt = n * t
    eye = np.eye(n)

    def pieces(lam: float, f: float):
        """Gram matrix of [y, Z] under (Omega/s2)^-1, log|I + T f A| and log|B|."""
        b = eye - lam * Wd
        a = b.T @ b
        vals, vecs = np.linalg.eigh(a)
        if vals.min() <= 0:
            return None
        vinv = (vecs * (vals / (t * f * vals + 1.0))) @ vecs.T
        bd = np.einsum("ij,tjk->tik", b, dev)
        gram = t * means.T @ vinv @ means + np.einsum("tik,til->kl", bd, bd)
        return gram, float(np.sum(np.log1p(t * f * vals))), 0.5 * float(np.sum(np.log(vals)))

    def full(beta, lam, f, s2):
        p = pieces(lam, f)
        if p is None or f < 0 or s2 <= 0:
            return -np.inf
        gram, ld_v, ld_b = p
        c = np.concatenate([[1.0], -beta])
        q = float(c @ gram @ c)
        return -0.5 * nt * (LOG2PI + np.log(s2)) + t * ld_b - 0.5 * ld_v - q / (2 * s2)

    def profile(lam, f):
        p = pieces(lam, f)
        if p is None:
            return None
        gram, ld_v, ld_b = p
        beta = np.linalg.solve(gram[1:, 1:], gram[1:, 0])
        q = float(gram[0, 0] - gram[0, 1:] @ beta)
        return beta, q / nt, -0.5 * nt * (LOG2PI + np.log(q / nt) + 1) + t * ld_b - 0.5 * ld_v

    from spillover.spatial.logdet import make_logdet

    lo, hi = make_logdet(M, "eigen").bounds

    def neg(p):
        r = profile(p[0], np.exp(p[1]))
        return np.inf if r is None else -r[2]

    best = fit_ml(MLProblem(model._spec.name, ("lambda", "log_ratio"), [(lo, hi), (np.log(1e-10), np.log(1e6))],
                            neg, starts=((0.0, 0.0), (0.5, np.log(0.5)), (0.3, np.log(3.0))), checked=1))
    lam, f = float(best.x[0]), float(np.exp(best.x[1]))
    beta, s2, llf = profile(lam, f)
    flags = list(best.flags)
    if f < 1e-8:
        flags.append("the random-effects variance is estimated at zero (pooled model)")
    pnames = names + ["lambda"]
    theta, info = _inference(d, flags, np.concatenate([beta, [lam, f, s2]]), full, pnames)
    cov_full = covariance.invert(info)
    y = d.y
    resid = y - z @ beta
    ctx = ImpactContext.for_fit(d.x_names, pnames, W, w_x=d.w_x) if d.wx_idx else None
    yc = y - y.mean()
    return SpatialResults.from_fit(
        theta=theta, names=pnames, cov_full=cov_full, y=y, resid=resid, rows=d.rows, order=d.order,
        model=model._spec.name, fe="random", method="ml", llf=float(llf), nobs=nt, n_eff=nt, N=n, T=t,
        y_name=d.y_name, x_names=d.x_names, wx_names=d.wx_names, w_label=d.w_label,
        logdet_strategy="dense eigen (B'B)", cov_type="numerical",
        rsquared=1 - float(resid @ resid) / float(yc @ yc), rsquared_label="R2",
        fixed_effects={}, flags=tuple(flags),
        extra={"phi": 1.0 / (t * f + 1.0), "sigma2_mu": f * s2, "sigma2_mu_over_sigma2": f,
               "sigma2_mu_over_sigma2_se": float(np.sqrt(cov_full[k + 1, k + 1])),
               "cov_gls": _gls_cov(s2, pieces(lam, f)[0][1:, 1:], names), "design": d},
        _impact_ctx=ctx,
    )


def _gls_cov(s2: float, gram: np.ndarray, names: list[str]) -> pd.DataFrame:
    """``s2 (Z' Omega^-1 Z)^-1``: the GLS covariance of the coefficients at the estimated spatial and variance
    parameters, i.e. conditional on them (``gram`` is ``Z' (Omega/s2)^-1 Z``). It leaves out the sampling error of
    rho or lambda and of the variance ratio, which ``cov_params`` (the inverse Hessian) includes; it is the
    random-effects covariance of splm's Hausman test (:func:`spillover.diagnostics.tests.hausman`, kind="splm")."""
    return pd.DataFrame(s2 * np.linalg.inv(gram), index=names, columns=names)


def _inference(d, flags, theta, full, pnames, grad=None):
    """Warn about flags; minus the Hessian of ``full(b, spatial, variance ratio, s2)`` (the information whose
    inverse is the covariance, and the bread of the clustered sandwich): central differences of the analytic
    ``grad`` when given (see :func:`spillover.spatial.likelihood.hessian_from_gradient`), else of ``full``."""
    warn_flags(f"random-effects model of {d.y_name}", flags)
    k = len(pnames) - 1
    if grad is not None:
        info = covariance.from_gradient(grad, theta)
    else:
        info = covariance.numerical(lambda th: full(th[:k], th[k], th[k + 1], th[k + 2]), theta)
    return theta, info
