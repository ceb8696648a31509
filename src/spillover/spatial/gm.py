"""Generalized moments (GM) and spatial two-stage least squares for spatial panels: :class:`GM`.

Models (time-major stacking, unit effects ``mu``)::

    sem    y = X b + E g + u,            u = lambda W u + e
    sar    y = rho W y + X b + E g + e
    sarar  y = rho W y + X b + E g + u,  u = lambda W u + e

with ``e = mu + nu``; ``fe="entity"`` treats ``mu`` as fixed (within
transformation), ``fe="random"`` as random, uncorrelated with X (error
components). ``E`` are optional endogenous regressors with external
instruments ``Hx``.

Estimators
----------
``sem``
    Kapoor, Kelejian & Prucha (2007, J. Econometrics 140, 97-130; KKP):
    first-step residuals (OLS; within OLS with fixed effects; W2SLS/B2SLS with
    endogenous regressors), GM estimate of ``(lambda, sigma2_v, sigma2_1)``
    from the moments of :mod:`spillover.spatial.gm_moments` (``moments=``
    "initial", "weights" or "fullweights"), then the spatial Cochrane-Orcutt
    transformation ``v - lambda W v`` and feasible GLS (random effects:
    ``v - theta Q1 v``, ``theta = 1 - sigma_v/sigma_1``; KKP's feasible GLS) or the
    within regression (fixed effects); 2SLS on the transformed data with
    endogenous regressors. Covariance ``sigma2_v (Z*' P Z*)^-1``.
``sar``
    Spatial 2SLS with instruments ``[X, W X, W^2 X, Hx]`` (Kelejian & Prucha
    1998): W2SLS on within data with fixed effects, covariance
    ``s2 (Zh'Zh)^-1`` with ``s2 = e'e / (N(T-1) - p)``; EC2SLS with random
    effects (Baltagi & Liu 2011), covariance ``s2 (Zh*'Zh*)^-1`` with ``s2``
    the residual variance of the GLS-scaled regression (``NT - p`` degrees of
    freedom).
``sarar``
    Generalized spatial 2SLS, panel version (Kelejian & Prucha 1998, steps
    1-3; Mutl & Pfaffermayr 2011): W2SLS (and B2SLS for random effects)
    residuals, the GM step above on them, then 2SLS of the spatially filtered
    (and, with random effects, quasi-demeaned) data with the instruments of
    step 1. Covariance ``sigma2_v (Zh'Zh)^-1``.

KKP give no standard error for the GM estimate of lambda: it is reported
with a NaN standard error (its row and column of ``cov_params`` are NaN).
See the project notes in ``tests/test_gm.py`` for the comparison with R
``splm::spgm``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from spillover.errors import SpecificationError, format_error
from spillover.spatial import gm_iv
from spillover.spatial.gm_iv import Panel, Parts, TSLS, tsls
from spillover.spatial.gm_moments import GMFit, estimate
from spillover.spatial.results import SpatialResults

__all__ = ["GM", "GMResults"]

MODELS = ("sem", "sar", "sarar")
FE = ("entity", "random")
MOMENTS = ("initial", "weights", "fullweights")


def _as_terms(value, option: str) -> tuple[str, ...]:
    """A list of formula terms (a single string is one term), spelled as formulaic names their columns."""
    from spillover.formula import terms

    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(v, str) and v.strip() for v in items):
        raise SpecificationError(format_error(f"{option}={value!r} must be a list of column names or formula terms",
                                              option=option, hint=f"e.g. {option}=['lpcap']"))
    out = []
    for v in items:
        parsed = terms(v, what=option)
        if len(parsed) != 1:
            raise SpecificationError(format_error(f"{option} item {v!r} is not one term", option=option,
                                                  hint="give one variable or expression per list item"))
        out.append(parsed[0])
    return tuple(out)


def _choice(value, choices: tuple[str, ...], option: str, hint: str = "") -> str:
    if value not in choices:
        raise SpecificationError(format_error(f"{option}={value!r} is not supported", option=option,
                                              hint=f"choose one of {list(choices)}" + (f"; {hint}" if hint else "")))
    return value


class GM:
    """Generalized-moments / spatial 2SLS estimation of a balanced spatial panel.

    Parameters
    ----------
    formula : str
        ``"y ~ x1 + x2"`` (formulaic syntax); ``"y ~ x1 + [d ~ z1 + z2]"`` is
        the same as ``endog=["d"], instruments=["z1", "z2"]``. The intercept is
        kept only with ``fe="random"``.
    data : DataFrame
        Long panel with ``entity`` and ``time`` columns; entities must be W's ids.
    w : libpysal W or ``(matrix, ids)``
        Row-standardised for the usual parameter space (the GM search is over |lambda| < 1).
    model : "sem" | "sar" | "sarar"
    fe : "entity" (fixed unit effects, within) | "random" (random unit effects)
    moments : "initial" | "weights" | "fullweights"
        The GM weighting of KKP (2007) for models with a spatial error (see
        :mod:`spillover.spatial.gm_moments`); "sar" takes only "initial".
    endog, instruments : list of str
        Endogenous regressors (not in the formula) and their external instruments.

    Constructing only validates the options; :meth:`fit` estimates.
    """

    def __init__(self, formula: str | None = None, data: pd.DataFrame | None = None, w=None,
                 entity: str | None = None, time: str | None = None, *, model: str = "sem", fe: str = "entity",
                 moments: str = "initial", endog=None, instruments=None) -> None:
        _choice(model, MODELS, "model")
        _choice(fe, FE, "fe", "GM estimation here has unit fixed effects ('entity', within) or random unit "
                "effects ('random'); for time effects add period dummies, e.g. 'y ~ x + C(year)'")
        _choice(moments, MOMENTS, "moments")
        if model == "sar" and moments != "initial":
            raise SpecificationError(format_error(
                f"moments={moments!r}: the spatial lag model has no spatial error, so no GM moments to weight",
                option="moments", hint="drop moments= for model='sar', or use model='sarar'"))
        if not isinstance(formula, str):
            raise SpecificationError(format_error("GM needs a formula such as 'y ~ x1 + x2'", option="formula"))
        if data is None or entity is None or time is None:
            raise SpecificationError(format_error("GM needs data, entity and time", option="data",
                                                  hint="GM(formula, data, w, entity, time)"))
        if w is None:
            raise SpecificationError(format_error("a spatial weights matrix is required", option="w"))
        from spillover.formula import parse

        parsed = parse(formula)
        endog_t, inst_t = _as_terms(endog, "endog"), _as_terms(instruments, "instruments")
        if parsed.endog:
            if endog_t or inst_t:
                raise SpecificationError(format_error(
                    "endogenous regressors given twice: in the formula's [endog ~ instruments] and as endog=/"
                    "instruments=", option="endog", hint="use one of the two"))
            endog_t, inst_t = _as_terms(parsed.endog, "endog"), _as_terms(parsed.instruments, "instruments")
        if endog_t and not inst_t:
            raise SpecificationError(format_error(f"endog={list(endog_t)} needs external instruments",
                                                  option="instruments", hint="pass instruments=['z1', ...]"))
        if inst_t and not endog_t:
            raise SpecificationError(format_error(f"instruments={list(inst_t)} without endogenous regressors",
                                                  option="endog", hint="name the endogenous regressor(s) with "
                                                  "endog=[...]; the spatial lag's instruments W X, W^2 X are built in"))
        if len(inst_t) < len(endog_t):
            raise SpecificationError(format_error(
                f"{len(endog_t)} endogenous regressor(s) but {len(inst_t)} external instrument(s): not identified",
                option="instruments", hint="give at least one instrument per endogenous regressor"))
        both = sorted(set(endog_t) & set(inst_t)) or sorted(set(parsed.exog) & (set(endog_t) | set(inst_t)))
        if both:
            raise SpecificationError(format_error(
                f"term {both[0]!r} is listed twice among the formula's regressors, endog and instruments",
                option="endog", hint="an exogenous regressor instruments itself; list each term once"))
        self.formula, self.data, self.w, self.entity, self.time = formula, data, w, entity, time
        self.model, self.fe, self.moments = model, fe, moments
        self._lhs, self._exog = parsed.lhs, parsed.exog
        self.endog, self.instruments = list(endog_t), list(inst_t)

    # ------------------------------------------------------------------
    def _parts(self):
        """The design (y, X, E, Hx) stacked time-major, checked for collinearity and identification."""
        from spillover.spatial.design import build_design, collinear_columns

        rhs = " + ".join(self._exog + tuple(self.endog) + tuple(self.instruments)) or "1"
        d = build_design(f"{self._lhs} ~ {rhs}", self.data, self.w, self.entity, self.time,
                         intercept=self.fe == "random", wx=False)
        cols = {c: j for j, c in enumerate(d.x_names)}
        pick = []
        for role, names in (("endog", self.endog), ("instruments", self.instruments)):
            missing = [c for c in names if c not in cols]
            if missing:
                raise SpecificationError(format_error(f"{role} term {missing[0]!r} is not one numeric column",
                                                      option=role, hint=f"columns of the design: {d.x_names}"))
            pick.append([cols[c] for c in names])
        ie, ih = pick
        ix = [j for j in range(len(d.x_names)) if j not in ie and j not in ih]
        p = Panel(d.w, d.n, d.t)
        parts = Parts(d.y, d.x[:, ix], d.x[:, ie], d.x[:, ih], lag=self.model != "sem")
        x_names = [d.x_names[j] for j in ix]
        z = np.column_stack([parts.x, parts.e])
        z_names = x_names + self.endog
        bad = collinear_columns(p.within(z) if self.fe == "entity" else z, z_names)
        if bad:
            where = " after the within transformation" if self.fe == "entity" else ""
            raise SpecificationError(format_error(
                "perfectly collinear regressor(s)" + where, variables=bad, hint="drop them; with unit fixed effects time-invariant variables vanish"))
        if self.fe == "entity" and not z_names and self.model == "sem":
            raise SpecificationError(format_error("the formula has no regressor", option="formula"))
        self._check_identified(p, parts)
        return d, p, parts, x_names

    def _check_identified(self, p: Panel, parts: Parts) -> None:
        """SpecificationError when the instruments cannot identify the endogenous regressors (and W y)."""
        if not (parts.lag or parts.e.shape[1]):
            return
        xw = gm_iv.drop_zero(p.within(parts.x)) if parts.x.shape[1] else np.empty((p.n * p.t, 0))
        endo = [p.within(parts.e)] + ([p.within(p.lag(parts.y))[:, None]] if parts.lag else [])
        h = np.column_stack([xw, p.within(parts.hx)] + ([gm_iv.lag_instruments(p, xw)] if parts.lag and xw.shape[1]
                                                          else []))
        z = np.column_stack([xw] + endo)
        if h.shape[1] == 0 or not gm_iv.identified(z, h):
            what = "W y" if parts.lag and not parts.e.shape[1] else "the endogenous regressor(s)" + (
                " and W y" if parts.lag else "")
            raise SpecificationError(format_error(
                f"{what} not identified: the instruments (exogenous regressors"
                + (", their spatial lags W X, W^2 X" if parts.lag else "") + " and external instruments) "
                "do not span enough independent directions", option="instruments",
                hint="add exogenous regressors that vary within units, or more external instruments"))

    def fit(self) -> GMResults:
        """Estimate and return a :class:`GMResults`."""
        d, p, parts, x_names = self._parts()
        est = {"sem": _fit_sem, "sar": _fit_sar, "sarar": _fit_sarar}[self.model](p, parts, self.fe, self.moments)
        from spillover.spatial.core import warn_flags

        warn_flags(f"GM {self.model.upper()}", est.flags)
        return _results(self, d, p, parts, x_names, est)


# ---------------------------------------------------------------------------- the three models
@dataclass(frozen=True)
class _Est:
    """What a model's fit hands to :func:`_results`."""

    fit: TSLS  # the final (transformed) regression
    y_t: np.ndarray  # its dependent variable
    cov: np.ndarray  # covariance of fit.coef
    estimator: str
    instruments: str
    sigma2_v: float
    sigma2_1: float = float("nan")
    gm: GMFit | None = None
    flags: tuple[str, ...] = ()


def _quasi(p: Panel, theta: float):
    """``v - theta Q1 v``: the random-effects GLS transformation (KKP's feasible GLS; Baltagi 2021,
    *Econometric Analysis of Panel Data*, ch. 2)."""
    return lambda a: a - theta * p.between(a)


def _gm_step(p: Panel, parts: Parts, fe: str, moments: str, first: TSLS, between: TSLS | None) -> GMFit:
    """GM estimate from first-step residuals: within part for Q0, unit means (``between``, else ``first``'s) for Q1."""
    u0 = first.resid if fe == "entity" or between is not None else p.within(first.resid)
    if fe == "entity":
        return estimate(u0, None, p.w, p.n, p.t, moments)
    ubar = between.resid if between is not None else p.means(first.resid)
    return estimate(u0, ubar, p.w, p.n, p.t, moments)


def _transform(p: Panel, fe: str, gm: GMFit):
    """Spatial Cochrane-Orcutt filter ``v - lambda W v`` followed by the within or the quasi-demeaning step."""
    lam = gm.lam
    if fe == "entity":
        return lambda a: p.within(a - lam * p.lag(a))
    s2v, s21 = gm.variances
    q = _quasi(p, 1.0 - np.sqrt(s2v / s21))
    return lambda a: q(a - lam * p.lag(a))


def _fit_sem(p: Panel, parts: Parts, fe: str, moments: str) -> _Est:
    """KKP (2007): first-step residuals, GM, then FGLS / within (2SLS with endogenous regressors)."""
    has_e = parts.e.shape[1] > 0
    between = None
    if has_e:
        first, _ = gm_iv.within_2sls(p, parts)
        if fe == "random":
            between, _ = gm_iv.between_2sls(p, parts)
        step1 = "W2SLS" + ("/B2SLS" if fe == "random" else "")
    elif fe == "entity":
        first, step1 = tsls(p.within(parts.y), p.within(parts.x), None), "within OLS"
    else:
        first, step1 = tsls(parts.y, parts.x, None), "pooled OLS"
    gm = _gm_step(p, parts, fe, moments, first, between)
    tr = _transform(p, fe, gm)
    y_t, z_t = tr(parts.y), tr(parts.z(p))
    h = None
    inst = "none (exogenous regressors)"
    if has_e:
        hx = [p.within(parts.hx)] + ([p.between(parts.hx)] if fe == "random" else [])
        h = np.column_stack([tr(parts.x)] + hx)
        inst = "transformed X, " + ("Q0 Hx, Q1 Hx" if fe == "random" else "Q0 Hx")
    fit = tsls(y_t, z_t, h)
    final = ("within " if fe == "entity" else "FGLS ") + ("2SLS" if has_e else "regression")
    return _Est(fit, y_t, fit.cov(gm.variances[0]), f"{step1} -> GM ({moments}) -> {final}", inst,
                float(gm.variances[0]), float(gm.variances[1]) if fe == "random" else float("nan"), gm, gm.flags)


def _fit_sar(p: Panel, parts: Parts, fe: str, moments: str) -> _Est:
    """Spatial 2SLS: W2SLS (fixed effects) or EC2SLS (random effects)."""
    inst = "X, W X, W^2 X" + (", Hx" if parts.e.shape[1] else "")
    if fe == "entity":
        fit, _ = gm_iv.within_2sls(p, parts)
        s2 = gm_iv.within_sigma2_v(fit, p.n, p.t)
        return _Est(fit, p.within(parts.y), fit.cov(s2), "W2SLS (within spatial 2SLS)", "Q0 [" + inst + "]", s2)
    fit, s2v, s21 = gm_iv.ec2sls(p, parts)
    s2 = fit.sse / (p.n * p.t - fit.zhat.shape[1])
    y_t = p.within(parts.y) / np.sqrt(s2v) + p.between(parts.y) / np.sqrt(s21)
    return _Est(fit, y_t, fit.cov(s2), "EC2SLS (error-components spatial 2SLS)", "Q0 [" + inst + "], Q1 [" + inst + "]",
                s2v, s21)


def _fit_sarar(p: Panel, parts: Parts, fe: str, moments: str) -> _Est:
    """Generalized spatial 2SLS (KP 1998 steps 1-3 on the panel; Mutl & Pfaffermayr 2011)."""
    first, hw = gm_iv.within_2sls(p, parts)
    between, hb = gm_iv.between_2sls(p, parts) if fe == "random" else (None, None)
    gm = _gm_step(p, parts, fe, moments, first, between)
    tr = _transform(p, fe, gm)
    y_t, z_t = tr(parts.y), tr(parts.z(p))
    inst = "X, W X, W^2 X" + (", Hx" if parts.e.shape[1] else "")
    if fe == "entity":
        h, inst = hw, "Q0 [" + inst + "]"
    else:
        h = np.column_stack([tr(parts.x), np.ones(p.n * p.t), hw, np.tile(hb, (p.t, 1))])
        inst = "1, Q0 [" + inst + "], Q1 [" + inst + "]"
    fit = tsls(y_t, z_t, h)
    step1 = "W2SLS" + ("/B2SLS" if fe == "random" else "")
    final = "within" if fe == "entity" else "GLS"
    return _Est(fit, y_t, fit.cov(gm.variances[0]), f"{step1} -> GM ({moments}) -> {final} GS2SLS", inst,
                float(gm.variances[0]), float(gm.variances[1]) if fe == "random" else float("nan"), gm, gm.flags)


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False, repr=False)
class GMResults(SpatialResults):
    """Results of :class:`GM`: a :class:`SpatialResults` with the GM options and variance components.

    ``params`` are the regressors, the endogenous regressors, ``rho`` (lag
    models) and ``lambda`` (error models; NaN standard error). ``sigma2`` is
    ``sigma2_v``; with random effects ``sigma2_1 = sigma2_v + T sigma2_mu`` and
    ``theta = 1 - sigma_v / sigma_1``. There is no likelihood (``llf`` NaN). ``extra["sse"]`` is the
    residual sum of squares of the final (transformed) regression, ``extra["gm_criterion"]`` the
    minimised GM criterion.
    """

    moments: str = "initial"
    estimator: str = ""
    instruments: str = ""
    endog: tuple[str, ...] = ()
    external_instruments: tuple[str, ...] = ()
    sigma2_1: float = float("nan")
    theta: float = float("nan")

    def impacts(self, draws: int = 1000, seed: int | None = 0, method: str = "simulation"):
        """Direct, indirect and total effects of the lag models (see :meth:`SpatialResults.impacts`).

        Parameters without a variance (the GM lambda) are held at their estimate.
        """
        keep = [c for c in self.params.index if np.isfinite(self.cov_params.loc[c, c])]
        sub = replace(self, params=self.params[keep], cov_params=self.cov_params.loc[keep, keep])
        return SpatialResults.impacts(sub, draws=draws, seed=seed, method=method)

    def summary(self) -> str:
        """Plain-text summary naming the model, effects, moments, estimator and instruments."""
        fe = {"entity": "fixed unit effects (within)", "random": "random unit effects"}[self.fe]
        head = [
            f"{self.model} spatial panel ({'generalized moments' if 'lambda' in self.params else 'spatial 2SLS'})",
            f"Dependent variable: {self.y_name}",
            f"Effects: {fe}    Moments: {self.moments if 'lambda' in self.params else 'n/a'}",
            f"Estimator: {self.estimator}",
            f"Instruments: {self.instruments}",
        ]
        if self.endog:
            head.append(f"Endogenous: {', '.join(self.endog)}    External instruments: "
                        f"{', '.join(self.external_instruments)}")
        var = f"sigma2_v = {self.sigma2:.6g}"
        if self.fe == "random":
            var += f"   sigma2_1 = {self.sigma2_1:.6g}   theta = {self.theta:.6g}"
        head += [f"Weights: {self.w_label}    N = {self.N}   T = {self.T}   NT = {self.nobs}", var,
                 f"{self.rsquared_label} = {self.rsquared:.4f}   corr^2(y, fitted) = {self.corr2:.4f}"]
        if "lambda" in self.params:
            head.append("lambda: GM estimate without a standard error (Kapoor, Kelejian & Prucha 2007 give none)")
        if self.flags:
            head.append("WARNING: " + "; ".join(self.flags))
        body = self.summary_frame().to_string(float_format=lambda v: f"{v: .6f}")
        rule = "=" * max(len(line) for line in head + body.splitlines())
        return "\n".join([rule, *head, rule, body, rule])

    def __repr__(self) -> str:
        return self.summary()


class _LazyEngine:
    """The trace engine of the impacts (:func:`spillover.spatial.logdet.make_logdet`), built on first use:
    GM itself needs no log-determinant."""

    def __init__(self, w) -> None:
        self._w, self._engine = w, None

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if self._engine is None:
            from spillover.spatial.logdet import make_logdet

            self._engine = make_logdet(self._w, "auto")
        return getattr(self._engine, name)


def _results(model: GM, d, p: Panel, parts: Parts, x_names: list[str], est: _Est) -> GMResults:
    """Name the coefficients, add lambda, recover effects and residuals, and build the impact context."""
    from spillover.spatial.impacts import ImpactContext
    from spillover.spatial.results import row_series
    from spillover.spatial.transforms import recover_effects

    names = x_names + model.endog + (["rho"] if parts.lag else [])
    coef, cov = est.fit.coef, est.cov
    if est.gm is not None:
        names = names + ["lambda"]
        coef = np.append(coef, est.gm.lam)
        cov = np.pad(cov, (0, 1), constant_values=np.nan)
    n, t = p.n, p.t
    total = parts.y - parts.z(p) @ est.fit.coef
    mu = np.zeros(n)
    fixed: dict = {}
    if model.fe == "entity":
        grand, mu, _ = recover_effects(total, n, t, "entity")
        fixed = {"intercept": grand, "entity": pd.Series(mu, index=pd.Index(d.ids, name=model.entity), name="mu")}
        resid = total - grand - np.tile(mu, t)
    else:
        resid = total
    yc = est.y_t - est.y_t.mean()
    ctx = ImpactContext.for_fit(x_names + model.endog, names, d.w, engine=_LazyEngine(d.w)) if parts.lag else None
    theta = 1.0 - np.sqrt(est.sigma2_v / est.sigma2_1) if model.fe == "random" else float("nan")
    fitted = parts.y - resid
    return GMResults(
        model=model.model.upper(), fe=model.fe, method="gm" if est.gm is not None else "2sls",
        params=pd.Series(coef, index=names, name="params"), cov_params=pd.DataFrame(cov, index=names, columns=names),
        sigma2=est.sigma2_v, sigma2_se=float("nan"), llf=float("nan"), nobs=n * t,
        n_eff=n * (t - 1) if model.fe == "entity" else n * t, N=n, T=t, y_name=d.y_name, x_names=x_names,
        wx_names=[], w_label=d.w_label, logdet_strategy="none (GM)", cov_type="2sls (homoskedastic)",
        rsquared=1.0 - est.fit.sse / float(yc @ yc), rsquared_label="R2 (transformed)",
        corr2=float(np.corrcoef(parts.y, fitted)[0, 1] ** 2),
        **row_series(d.rows, d.order, fitted_values=fitted, resid=resid), fixed_effects=fixed,
        flags=est.flags, extra={"gm_criterion": est.gm.criterion if est.gm else None, "sse": est.fit.sse},
        _impact_ctx=ctx,
        moments=model.moments, estimator=est.estimator, instruments=est.instruments, endog=tuple(model.endog),
        external_instruments=tuple(model.instruments), sigma2_1=est.sigma2_1, theta=float(theta),
    )
