"""Random-effects spatial lag (SAR/SDM) panel model by maximum likelihood.

Model (Elhorst 2014, *Spatial Econometrics*, sec. 3.4, eqs. 3.24-3.27;
Baltagi 2021, ch. 13): ``y_t = rho W y_t + X_t b + mu + e_t`` with unit
effects ``mu_i ~ iid(0, s2_mu)`` independent of X. With
``phi = s2 / (T s2_mu + s2)`` and the quasi-demeaning
``v* = v - (1 - sqrt(phi)) vbar_i`` of y, W y and X (intercept included),
the log-likelihood is::

    l = -NT/2 log(2 pi s2) + N/2 log(phi) + T log|I - rho W| - e*'e*/(2 s2)

Because ``sum_t (v_t - c vbar)(u_t - c ubar) = v'u - (1 - phi) T vbar'ubar``
with ``c = 1 - sqrt(phi)``, the quasi-demeaned Gram matrix is
``G_raw - (1 - phi) G_means``; b and s2 are concentrated out and (rho, phi)
maximised jointly. Standard errors come from a central-difference Hessian of
the full log-likelihood in (b, rho, phi, s2).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import optimize

from spillover.errors import ConvergenceWarning, SpecificationError, format_error
from spillover.spatial.design import collinear_columns
from spillover.spatial.impacts import ImpactContext
from spillover.spatial.likelihood import LOG2PI, numerical_hessian
from spillover.spatial.results import SpatialResults
from spillover.spatial.transforms import spatial_lag


def fit_random_effects(model, d) -> SpatialResults:
    from spillover.spatial.logdet import make_logdet

    n, t = d.n, d.t
    W = d.w
    x = d.x
    wx = spatial_lag(W, x[:, d.wx_idx], n, t) if d.wx_idx else np.empty((n * t, 0))
    z = np.column_stack([x, wx])
    names = d.x_names + d.wx_names
    bad = collinear_columns(z, names)
    if bad:
        raise SpecificationError(format_error("perfectly collinear regressor(s)", variables=bad, hint="drop them"))
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

    best = None
    for start in ((0.0, np.log(0.5)), (0.5, np.log(0.1)), (0.3, np.log(0.9))):
        r = optimize.minimize(neg_conc, np.array(start), method="L-BFGS-B",
                              bounds=[(lo + 1e-7, hi - 1e-7), (np.log(1e-10), 0.0)],
                              options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 1000})
        if best is None or r.fun < best.fun:
            best = r
    polish = optimize.minimize(neg_conc, best.x, method="Nelder-Mead",
                               options={"xatol": 1e-11, "fatol": 1e-13, "maxiter": 4000})
    if polish.fun <= best.fun and lo < polish.x[0] < hi and polish.x[1] <= 0.0:
        best = polish
    rho, phi = float(best.x[0]), float(np.exp(best.x[1]))
    b, ssr = solve(rho, phi)
    s2 = ssr / nt
    llf = full(b, rho, phi, s2)
    flags = []
    if rho - lo < 1e-5 or hi - rho < 1e-5:
        flags.append(f"rho = {rho:.6f} is at the bound of its admissible interval")
    if phi > 1 - 1e-6:
        flags.append("phi = 1: the random-effects variance is estimated at zero (pooled model)")
    for msg in flags:
        warnings.warn(f"{d.y_name}: {msg}", ConvergenceWarning, stacklevel=3)
    theta = np.concatenate([b, [rho, phi, s2]])
    hess = numerical_hessian(lambda th: full(th[:k], th[k], th[k + 1], th[k + 2]), theta)
    cov_full = np.linalg.inv(-hess)
    pnames = names + ["rho"]
    cov = pd.DataFrame(cov_full[: k + 1, : k + 1], index=pnames, columns=pnames)
    params = pd.Series(theta[: k + 1], index=pnames, name="params")
    resid = y - rho * wy - z @ b
    fitted = y - resid
    idx = model.data.index[d.order] if model._arrays is None else pd.RangeIndex(nt)
    x_imp = [c for c in d.x_names if c != "Intercept"]
    ctx = ImpactContext(
        x_names=x_imp, beta_names=x_imp, theta_names=[f"W*{c}" if f"W*{c}" in pnames else None for c in x_imp],
        rho_name="rho", engine=engine, n=n, w_trace=float(W.diagonal().sum()), w_sum=float(W.sum()),
    )
    yc = y - y.mean()
    return SpatialResults(
        model=model._spec.name, fe="random", method="ml", params=params, cov_params=cov, sigma2=float(s2),
        sigma2_se=float(np.sqrt(cov_full[-1, -1])), llf=float(llf), nobs=nt, n_eff=nt, N=n, T=t, y_name=d.y_name,
        x_names=d.x_names, wx_names=d.wx_names, w_label=d.w_label, logdet_strategy=engine.strategy,
        cov_type="numerical", rsquared=1 - float(resid @ resid) / float(yc @ yc), rsquared_label="R2",
        corr2=float(np.corrcoef(y, fitted)[0, 1] ** 2),
        fitted_values=pd.Series(fitted, index=idx, name="fitted").sort_index(),
        resid=pd.Series(resid, index=idx, name="resid").sort_index(),
        fixed_effects={}, converged=not flags, flags=tuple(flags),
        extra={"phi": phi, "phi_se": float(np.sqrt(cov_full[k + 1, k + 1])), "theta": 1 - np.sqrt(phi)},
        _impact_ctx=ctx,
    )
