"""Fixed-effects SAR, SEM and SDM for unbalanced spatial panels (direct method).

Model (Elhorst 2014, *Spatial Econometrics*, ch. 3, eq. 3.1, written period by
period for the units observed in period t, the set ``S_t``)::

    y_t = rho W_t y_t + X_t b + W_t X_t theta + mu_{S_t} + alpha_t 1 + u_t,
    u_t = lam W_t u_t + e_t   (SEM),       e ~ N(0, sigma2 I)

Conventions (project DESIGN.md, "Numerical conventions", extended to
unbalanced panels):

* **Per-period weights.** ``W_t`` is ``W`` restricted to ``S_t`` (rows and
  columns) and row-standardised again. A unit none of whose neighbours is
  observed in t is an *island* of ``W_t``: its row stays zero (its spatial
  lags are 0 in that period). Islands are reported in ``res.extra["islands"]``
  as ``{period: [ids]}``. A unit that is an island in *every* period it is
  observed ("never observed with others") has no spatial information and is
  refused, as is a period with a single unit.
* **Spatial lags** ``W_t y_t``, ``W_t X_t`` (and ``W_t W_t y_t``) are formed
  per period on the raw data, then transformed.
* **Within transformation** ``Q = I - D (D'D)^+ D'`` is the exact
  least-squares projection off the effect dummies ``D`` (entity, time or
  both). Entity: subtract each unit's mean over its observed periods. Time:
  subtract each period's mean over its observed units. Two-way: the
  Frisch-Waugh-Lovell form of the same projection (Wansbeek & Kapteyn 1989,
  J. Econometrics 41, 341-361, eq. 2.9; Davis 2002, J. Econometrics 110,
  1-22): entity-demean, then remove the projection on the entity-demeaned
  time dummies (a ``T x T`` system factorised once). For a balanced panel
  this is the usual two-way demeaning.
* **Residual** (the SAC form of :mod:`spillover.spatial.likelihood`)::

      e = [Q y - (rho + lam) Q W y] - [Q Z - lam Q W Z] b

  i.e. for SEM the effects enter after the spatial filter, as in the
  balanced direct method (Elhorst 2014, eq. 3.19).
* **Jacobian** ``sum_t log|I - rho W_t|`` with one
  :func:`spillover.spatial.logdet.make_logdet` engine per distinct unit set
  (exact eigenvalues for small N); ``sigma2 = e'e / n_obs``.
* **Estimation.** The concentrated log-likelihood (Elhorst 2014, eq. 3.18) is
  maximised over rho (or lambda) on the intersection of the per-period
  admissible intervals; b and sigma2 follow by GLS.
* **Standard errors** from the inverse of minus the Hessian of the full
  log-likelihood in ``(b, rho | lam, sigma2)`` (Elhorst 2014, eq. 3.13):
  central differences of its analytic gradient
  (:func:`spillover.spatial.likelihood.hessian_from_gradient`).
* **Impacts** (LeSage & Pace 2009, eq. 2.46) are evaluated with the *full*
  ``W`` (the complete cross-section, row-standardised as given), i.e. the
  effects of a change when every unit is present.
* **Separate weights** (``w_x=`` for the W X terms of SDM, ``w_u=`` for the
  error of SEM): each is restricted to ``S_t`` and row-standardised again per
  period, as ``W`` is; the Jacobian of SEM is then ``sum_t log|I - lam M_t|``
  and the never-observed-with-a-neighbour check applies to ``M``. A unit
  without an observed ``w_x`` neighbour has ``W_x X = 0`` in that period
  (reported in ``extra["islands_w_x"]``). Impacts use the full ``w_x``.
* **Robust and clustered covariances** (``cov="robust"``, ``"cluster"``): the
  sandwich of :mod:`spillover.spatial.sandwich` with the score split period by
  period (:func:`spillover.spatial.sandwich.block_score_parts`: ``A_t`` from
  ``W_t``, pair terms within periods, clusters = units), around the analytic
  observed Hessian (:func:`spillover.spatial.covariance.observed_hessian` with
  ``tr(G^2)`` summed over the periods), as for the static models.
"""

from __future__ import annotations


from types import SimpleNamespace

import numpy as np
import pandas as pd
import scipy.sparse as sp_sparse

from spillover.errors import SpecificationError, format_error
from spillover.spatial.design import collinear_columns, is_row_standardised, other_weights
from spillover.spatial.impacts import ImpactContext
from spillover.spatial import covariance, sandwich
from spillover.spatial.core import MLProblem, fit_ml, warn_flags
from spillover.spatial.likelihood import Moments, concentrated_score, full_loglik
from spillover.spatial.results import SpatialResults
from spillover.spatial.transforms import Convention

__all__ = ["fit_unbalanced", "UnbalancedPanel", "within_unbalanced"]

MODELS = {"sar": (True, False, False), "sem": (False, True, False), "sdm": (True, False, True)}
FE_UNBALANCED = ("none", "entity", "time", "twoways")
#: ``cov=`` choices of :func:`fit_unbalanced`.
COVS = ("numerical",) + sandwich.KINDS


class UnbalancedPanel:
    """Time-major stacking of an unbalanced panel with its per-period weights.

    Attributes
    ----------
    unit, period : (n_obs,) integer codes (W's unit order, sorted periods)
    blocks : list of (period index, row slice, unit codes, W_t csr)
    islands : {period label: [unit ids]}

    ``refuse_lonely=False`` keeps units that are an island of every ``W_t``
    (for a W that carries no spatial parameter, e.g. that of the W X terms).
    """

    def __init__(self, unit: np.ndarray, period: np.ndarray, w: sp_sparse.csr_array, ids: list, periods: list,
                 *, refuse_lonely: bool = True):
        self.unit, self.period = unit, period
        self.ids, self.periods = ids, periods
        self.n_units, self.n_periods = len(ids), len(periods)
        self.blocks = []
        self.islands: dict = {}
        w = sp_sparse.csr_array(w, dtype=float)
        has_nb = np.zeros(len(ids), dtype=bool)
        for s in range(len(periods)):
            rows = np.flatnonzero(period == s)
            if len(rows) == 0:
                continue
            if len(rows) == 1:
                raise SpecificationError(
                    format_error(
                        "a period with a single observed unit has no spatial structure",
                        time=periods[s], entity=ids[unit[rows[0]]], hint="drop that period or that observation",
                    )
                )
            u = unit[rows]
            wt = sp_sparse.csr_array(w[u][:, u])
            rs = np.asarray(wt.sum(axis=1)).ravel()
            inv = np.where(rs > 0, 1.0 / np.where(rs > 0, rs, 1.0), 0.0)
            wt = sp_sparse.csr_array(sp_sparse.diags_array(inv) @ wt)
            isl = rs <= 0
            has_nb[u[~isl]] = True
            if isl.any():
                self.islands[periods[s]] = [ids[i] for i in u[isl]]
            self.blocks.append((s, slice(int(rows[0]), int(rows[-1]) + 1), u, wt))
        observed = np.unique(unit)
        lonely = [ids[i] for i in observed if not has_nb[i]]
        if lonely and refuse_lonely:
            raise SpecificationError(
                format_error(
                    "unit(s) never observed together with any of their neighbours (an island of every W_t)",
                    entity=lonely[:10], hint="drop them or use a W that connects them",
                )
            )

    def lag(self, a: np.ndarray) -> np.ndarray:
        """Per-period spatial lag ``W_t a_t`` of a stacked array."""
        a = np.asarray(a, dtype=float)
        out = np.empty_like(a)
        for _, sl, _, wt in self.blocks:
            out[sl] = wt @ a[sl]
        return out


def within_unbalanced(a: np.ndarray, unit: np.ndarray, period: np.ndarray, fe: str) -> np.ndarray:
    """Exact least-squares projection of ``a`` off entity and/or time dummies.

    Parameters
    ----------
    a : (n_obs,) or (n_obs, k)
    unit, period : (n_obs,) integer codes
    fe : "none" | "entity" | "time" | "twoways"

    Notes
    -----
    Two-way case by Frisch-Waugh-Lovell (Wansbeek & Kapteyn 1989, eq. 2.9;
    Davis 2002): with ``M_N`` the entity demeaning and ``D_T`` the time
    dummies, ``Q a = M_N a - M_N D_T (D_T' M_N D_T)^+ D_T' M_N a``.
    """
    a = np.asarray(a, dtype=float)
    vec = a.ndim == 1
    a2 = a[:, None] if vec else a
    if fe == "none":
        out = a2.copy()
    elif fe == "entity":
        out = _demean_by(a2, unit)
    elif fe == "time":
        out = _demean_by(a2, period)
    elif fe == "twoways":
        ma = _demean_by(a2, unit)
        nt = int(period.max()) + 1
        dt = np.zeros((len(period), nt))
        dt[np.arange(len(period)), period] = 1.0
        mdt = _demean_by(dt, unit)
        g = np.linalg.pinv(mdt.T @ mdt, rcond=1e-12, hermitian=True)
        out = ma - mdt @ (g @ (mdt.T @ ma))
    else:
        raise SpecificationError(format_error(f"fe={fe!r} is not supported", option="fe", hint=f"choose one of {FE_UNBALANCED}"))
    return out[:, 0] if vec else out


def _demean_by(a: np.ndarray, code: np.ndarray) -> np.ndarray:
    m = int(code.max()) + 1
    cnt = np.bincount(code, minlength=m).astype(float)
    sums = np.zeros((m, a.shape[1]))
    np.add.at(sums, code, a)
    means = sums / np.where(cnt > 0, cnt, 1.0)[:, None]
    return a - means[code]


def _prepare(formula, data, w, entity, time, fe, durbin):
    """Stacked arrays of an unbalanced panel; rows whose ``lag(x, k)`` has no earlier observation are dropped."""
    from spillover.formula import PanelLag, max_lag, model_arrays
    from spillover.frame import panel_frame

    fr = panel_frame(data, w, entity, time, balanced=False)  # units of W may be absent in any period
    lhs, rhs, y_name = model_arrays(formula, fr.data, lag=PanelLag(fr.unit, fr.period) if max_lag(formula) else None)
    if max_lag(formula):
        lagged = [c for c in rhs.columns if c.startswith("lag(")]
        keep = np.isfinite(rhs[lagged].to_numpy()).all(axis=1)
        lhs, rhs = lhs[keep], rhs[keep].reset_index(drop=True)
        data = data.iloc[np.flatnonzero(keep)]
        fr = panel_frame(data, w, entity, time, balanced=False)
    df = fr.data
    fr.check_finite(np.column_stack([lhs, rhs.to_numpy()]), [y_name] + list(rhs.columns),
                    hint="drop those rows: an unbalanced panel is fine")
    if fe != "none" and "Intercept" in rhs.columns:
        rhs = rhs.drop(columns="Intercept")
    if fe == "none" and "Intercept" not in rhs.columns:
        rhs.insert(0, "Intercept", 1.0)
    W, ids, label, periods, unit, period = fr.w, fr.ids, fr.w_label, fr.periods, fr.unit, fr.period
    order = np.lexsort((unit, period))
    names = list(rhs.columns)
    wx_idx = [j for j, c in enumerate(names) if c != "Intercept"] if durbin else []
    return dict(
        y=lhs[order], x=rhs.to_numpy()[order], names=names, wx_idx=wx_idx, W=W, label=label,
        ids=ids, periods=periods, unit=unit[order], period=period[order], order=order,
        y_name=y_name, index=df.index, data_index=data.index,
    )


def fit_unbalanced(
    formula: str,
    data: pd.DataFrame,
    w,
    entity: str,
    time: str,
    *,
    model: str = "sdm",
    fe: str = "twoways",
    logdet: str = "auto",
    seed: int = 0,
    w_x=None,
    w_u=None,
    cov: str = "numerical",
) -> SpatialResults:
    """Fixed-effects SAR / SEM / SDM on an unbalanced panel (direct method; see module docstring).

    Parameters
    ----------
    formula : str
        ``"y ~ x1 + x2"``; the intercept is kept only with ``fe="none"``.
    data : DataFrame
        Long panel, any subset of W's units in each period, no duplicate
        entity-period rows.
    w : libpysal W, or (matrix, ids) for all N units
    entity, time : str
        Column names.
    model : "sdm" (default) | "sar" | "sem"
    fe : "twoways" (default) | "entity" | "time" | "none"
    logdet : strategy passed to :func:`spillover.spatial.logdet.make_logdet`
        for each distinct per-period unit set.
    w_x, w_u : libpysal W or (matrix, ids), optional
        W of the W X terms (``model="sdm"``) and of the error (``model="sem"``);
        default ``w``. Restricted and row-standardised per period as ``w``.
    cov : "numerical" (default) | "robust" | "cluster"
        Minus the inverse Hessian, or the sandwich robust to heteroskedasticity
        (and, ``"cluster"``, to correlation over time within a unit).

    Returns
    -------
    SpatialResults
        ``method="direct-unbalanced"``, ``cov_type=cov``; ``T`` is the
        number of periods, ``nobs`` the number of observations; per-period
        islands in ``extra["islands"]`` (of the W that carries rho or lambda),
        ``extra["islands_w_x"]`` with ``w_x``.
    """
    from spillover.spatial.logdet import make_logdet

    key = str(model).lower()
    if key not in MODELS:
        raise SpecificationError(format_error(f"model={model!r} is not supported", option="model", hint="choose 'sar', 'sem' or 'sdm'"))
    if fe not in FE_UNBALANCED:
        raise SpecificationError(format_error(f"fe={fe!r} is not supported", option="fe", hint=f"choose one of {FE_UNBALANCED}"))
    from spillover.options import check_seed

    check_seed(seed)
    lag, err, durbin = MODELS[key]
    name = key.upper()
    _check_options(name, durbin, err, w_x, w_u, cov)
    d = _prepare(formula, data, w, entity, time, fe, durbin)
    if cov in sandwich.KINDS:
        sandwich.check_size(len(d["ids"]), cov)
    own = {opt: other_weights(v, d["ids"], opt) for opt, v in (("w_x", w_x), ("w_u", w_u)) if v is not None}

    def per_period(m, refuse_lonely=True):
        return UnbalancedPanel(d["unit"], d["period"], m, d["ids"], d["periods"], refuse_lonely=refuse_lonely)

    panel = per_period(d["W"], refuse_lonely="w_u" not in own)
    panel_x = per_period(own["w_x"], refuse_lonely=False) if "w_x" in own else panel
    panel_u = per_period(own["w_u"]) if "w_u" in own else panel
    y, x = d["y"], d["x"]
    n_obs = len(y)
    wx = panel_x.lag(x[:, d["wx_idx"]]) if d["wx_idx"] else np.empty((n_obs, 0))
    z = np.column_stack([x, wx])
    z_names = d["names"] + [f"W*{d['names'][j]}" for j in d["wx_idx"]]
    wy = panel.lag(y)
    my = panel_u.lag(y) if err else wy
    wz = panel_u.lag(z) if err else np.zeros_like(z)

    def tr(a):
        return within_unbalanced(a, d["unit"], d["period"], fe)

    zt = tr(z)
    bad = collinear_columns(zt, z_names)
    if bad:
        raise SpecificationError(format_error("perfectly collinear regressor(s) after the fixed-effects transformation", variables=bad, hint="drop them"))
    yt, wyt, myt, wzt = tr(y), tr(wy), tr(my), tr(wz)
    mom = Moments.from_arrays(yt, wyt, np.zeros_like(yt), zt, wzt, my=myt)

    # one log-determinant engine per distinct unit set, weighted by its number of periods
    groups: dict[bytes, list] = {}
    for _, _, u, wt in (panel if lag else panel_u).blocks:
        k = u.tobytes()
        if k in groups:
            groups[k][1] += 1
        else:
            groups[k] = [wt, 1]
    engines = [(make_logdet(wt, logdet, seed=seed), cnt) for wt, cnt in groups.values()]
    lo = max(e.bounds[0] for e, _ in engines)
    hi = min(e.bounds[1] for e, _ in engines)
    conv = Convention(fe, "direct-unbalanced", 1.0, 0.0, n_obs, False)

    def ld_sum(p: float) -> float:
        return float(sum(c * float(e.logdet(p)) for e, c in engines))

    def split(p):
        return (p, 0.0) if lag else (0.0, p)

    def neg_conc(p: float) -> float:
        rho, lam = split(p)
        _, ssr = mom.beta_ssr(rho, lam)
        s2 = ssr / n_obs
        return -full_loglik(ssr, s2, ld_sum(p), 0.0, conv)

    def score(x: np.ndarray) -> np.ndarray:
        rho, lam = split(float(x[0]))
        b, ssr = mom.beta_ssr(rho, lam)
        d = mom.dssr(rho, lam, b)[0 if lag else 1]
        dld = float(sum(c * float(e.dlogdet(float(x[0]))) for e, c in engines))
        return np.array([concentrated_score(ssr, d, dld, 0.0, conv)])

    pname = "rho" if lag else "lambda"
    found = fit_ml(MLProblem(f"{name} (unbalanced)", (pname,), [(lo, hi)], lambda x: neg_conc(float(x[0])),
                             score=score))
    p = float(found.x[0])
    flags = list(found.flags)
    warn_flags(f"{name} (unbalanced)", flags)
    rho, lam = split(p)
    beta, ssr = mom.beta_ssr(rho, lam)
    sigma2 = ssr / n_obs
    llf = full_loglik(ssr, sigma2, ld_sum(p), 0.0, conv)

    kb = len(beta)
    theta = np.concatenate([beta, [p, sigma2]])

    def grad(th: np.ndarray) -> np.ndarray:
        rr, ll = split(th[kb])
        dld = float(sum(c * float(e.dlogdet(th[kb])) for e, c in engines))
        g_b, g_r, g_l, g_s = mom.loglik_gradient(th[:kb], rr, ll, th[-1], (dld, dld), (0.0, 0.0), conv)
        return np.concatenate([g_b, [g_r if lag else g_l, g_s]])

    if cov in sandwich.KINDS:  # the analytic observed Hessian, as the static models' sandwich uses
        traces = _PeriodTraces(engines)
        info = -covariance.observed_hessian(SimpleNamespace(lag=lag), mom, beta, rho, lam, sigma2, traces, conv)
        blocks = [(sl, u, wt, mt) for (_, sl, u, wt), (_, _, _, mt) in zip(panel.blocks, panel_u.blocks, strict=True)]
        parts = sandwich.block_score_parts(blocks, d["unit"], conv, lag=lag, err=err, beta=beta, rho=rho, lam=lam,
                                           sigma2=sigma2, yt=yt, wyt=wyt, mwyt=np.zeros_like(yt), zt=zt, mzt=wzt,
                                           myt=myt)
        cov_full = sandwich.sandwich(info, parts, cov)
    else:
        cov_full = covariance.invert(covariance.from_gradient(grad, theta), "Hessian")
    names = z_names + [pname]
    e = Moments.residual(rho, lam, beta, yt, wyt, np.zeros_like(yt), zt, wzt, my=myt)
    yc = yt - yt.mean()
    rsq = 1.0 - float(e @ e) / float(yc @ yc)
    idx = d["data_index"][d["order"]]
    ctx = ImpactContext.for_fit(d["names"], names, d["W"], engine=make_logdet(d["W"], logdet, seed=seed),
                                w_x=own.get("w_x")) if lag else None
    effects = pd.Series(y - (rho * wy if lag else 0.0) - z @ beta - e, index=idx, name="effects")
    return SpatialResults.from_fit(
        theta=theta, names=names, cov_full=cov_full, y=y, resid=e, rows=d["data_index"], order=d["order"],
        model=name, fe=fe, method="direct-unbalanced", llf=float(llf), nobs=n_obs, n_eff=n_obs,
        N=len(np.unique(d["unit"])), T=len(d["periods"]), y_name=d["y_name"], x_names=d["names"],
        wx_names=[f"W*{d['names'][j]}" for j in d["wx_idx"]], w_label=d["label"],
        logdet_strategy=",".join(sorted({e_.strategy for e_, _ in engines})), cov_type=cov,
        rsquared=rsq, rsquared_label="R2 (transformed)" if fe != "none" else "R2",
        fixed_effects=_split_effects(effects.to_numpy(), d["unit"], d["period"], d["ids"], d["periods"], fe)
        | {"combined": effects.sort_index()},
        flags=tuple(flags),
        extra={"bounds": (lo, hi), "islands": (panel if lag else panel_u).islands, "n_unit_sets": len(engines),
               "row_standardised_input": is_row_standardised(d["W"]), "impacts_w": "full W"}
        | ({"islands_w_x": panel_x.islands} if "w_x" in own else {}),
        _impact_ctx=ctx,
    )


class _PeriodTraces:
    """``tr(G^2)`` summed over the periods (each unit set's engine times its periods), for the analytic Hessian."""

    def __init__(self, engines: list):
        self.engines = engines

    def tr_G2(self, p: float) -> float:
        return float(sum(c * float(e.tr_G2(p)) for e, c in self.engines))


def _check_options(name: str, durbin: bool, err: bool, w_x, w_u, cov: str) -> None:
    """Refuse ``w_x`` without W X terms, ``w_u`` without a spatial error and an unknown ``cov``."""
    if w_x is not None and not durbin:
        raise SpecificationError(format_error(f"{name} has no W*x terms, so w_x does not apply", option="w_x",
                                              hint="use model='sdm'"))
    if w_u is not None and not err:
        raise SpecificationError(format_error(f"{name} has no spatial error, so w_u does not apply", option="w_u",
                                              hint="use model='sem'"))
    if cov not in COVS:
        raise SpecificationError(format_error(f"cov={cov!r} is not supported by the unbalanced estimator",
                                              option="cov", hint=f"choose one of {COVS}"))


def _split_effects(total: np.ndarray, unit: np.ndarray, period: np.ndarray, ids: list, periods: list,
                   fe: str) -> dict:
    """Intercept, unit and time effects from the combined effects of an unbalanced fit.

    The combined effect of each observation lies in the span of the effect
    dummies, so ``total_it = c + mu_i + alpha_t`` holds exactly; with both
    effects present the unit and time effects are normalised to sum to zero
    over the units and periods observed (Elhorst 2014, eq. 3.21, the same
    convention as the balanced models). Solved by least squares in the
    sum-to-zero (effect) coding; ``"max_abs_residual"`` reports the fit.
    """
    used_u, used_t = np.unique(unit), np.unique(period)

    def coding(codes: np.ndarray, levels: np.ndarray) -> np.ndarray:
        k = len(levels)
        if k < 2:
            return np.empty((len(codes), 0))
        pos = np.searchsorted(levels, codes)
        m = np.zeros((len(codes), k - 1))
        rows = pos < k - 1
        m[np.flatnonzero(rows), pos[rows]] = 1.0
        m[~rows, :] = -1.0
        return m

    cols = [np.ones((len(total), 1))]
    if fe in ("entity", "twoways"):
        cols.append(coding(unit, used_u))
    if fe in ("time", "twoways"):
        cols.append(coding(period, used_t))
    x = np.column_stack(cols)
    coef = np.linalg.lstsq(x, total, rcond=None)[0]
    resid = total - x @ coef
    out: dict = {"intercept": float(coef[0]), "max_abs_residual": float(np.max(np.abs(resid))) if len(resid) else 0.0}
    pos = 1
    if fe in ("entity", "twoways"):
        k = len(used_u) - 1
        mu = np.concatenate([coef[pos:pos + k], [-coef[pos:pos + k].sum()]])
        out["entity"] = pd.Series(mu, index=pd.Index([ids[i] for i in used_u]), name="entity")
        pos += k
    if fe in ("time", "twoways"):
        k = len(used_t) - 1
        al = np.concatenate([coef[pos:pos + k], [-coef[pos:pos + k].sum()]])
        out["time"] = pd.Series(al, index=pd.Index([periods[i] for i in used_t]), name="time")
    return out
