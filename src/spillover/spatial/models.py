"""Spatial panel models: SAR, SEM, SDM, SDEM, SAC, GNS (maximum likelihood) and SLX (least squares).

Constructors only store and check the configuration; :meth:`fit` does the
work. The likelihoods and their conventions are documented in
:mod:`spillover.spatial.likelihood` and :mod:`spillover.spatial.transforms`.

Covariance estimators (``cov=``): see :mod:`spillover.spatial.covariance`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from spillover.errors import SpecificationError, format_error
from spillover.options import check_seed
from spillover.spatial.design import PanelDesign, build_design, design_from_arrays, other_weights
from spillover.spatial.impacts import ImpactContext
from spillover.spatial import covariance, sandwich
from spillover.spatial.core import MLProblem, fit_ml, warn_flags
from spillover.spatial.likelihood import Moments, concentrated, concentrated_score, full_loglik
from spillover.spatial.results import SpatialResults, row_series
from spillover.spatial.transforms import FE_CHOICES, METHOD_CHOICES, convention, demean, recover_effects, spatial_lag

__all__ = ["SAR", "SEM", "SDM", "SDEM", "SAC", "GNS", "SLX"]

COV_CHOICES = tuple(covariance.CHOICES) + sandwich.KINDS


@dataclass(frozen=True)
class _Spec:
    name: str
    lag: bool  # rho W y
    err: bool  # lam W u
    durbin: bool  # W X terms


class _SpatialPanelModel:
    """Common machinery; use :class:`SAR`, :class:`SEM`, :class:`SDM`, :class:`SDEM`, :class:`SAC`."""

    _spec: _Spec

    def __init__(
        self,
        formula: str | None = None,
        data: pd.DataFrame | None = None,
        w=None,
        entity: str | None = None,
        time: str | None = None,
        *,
        fe: str = "twoways",
        method: str = "lee-yu",
        wx: list[str] | None = None,
        w_x=None,
        w_u=None,
        logdet: str = "auto",
        cov: str | None = None,
        seed: int = 0,
    ) -> None:
        if fe not in FE_CHOICES + ("random",):
            raise SpecificationError(format_error(f"fe={fe!r} is not supported", option="fe", hint=f"choose one of {FE_CHOICES + ('random',)}"))
        if fe == "random" and self._spec.lag == self._spec.err:  # SAC and SLX
            raise SpecificationError(
                format_error(
                    f"random effects are implemented for SAR, SDM, SEM and SDEM, not {self._spec.name}",
                    option="fe", hint="use fe='entity' (or 'twoways') for this model",
                )
            )
        if method not in METHOD_CHOICES:
            raise SpecificationError(format_error(f"method={method!r} is not supported", option="method", hint=f"choose one of {METHOD_CHOICES}"))
        default_cov = "numerical" if (self._spec.lag and self._spec.err) else "information"
        cov = cov or default_cov
        if cov not in COV_CHOICES:
            raise SpecificationError(format_error(f"cov={cov!r} is not supported", option="cov", hint=f"choose one of {COV_CHOICES}"))
        if self._spec.lag and self._spec.err and cov not in ("numerical",) + sandwich.KINDS:
            raise SpecificationError(format_error(f"{self._spec.name} standard errors come from the numerical Hessian",
                                                  option="cov", hint="use cov='numerical' (or 'robust', 'cluster')"))
        if cov == "robust" and fe == "random":
            raise SpecificationError(format_error(
                "cov='robust' with fe='random': the random effect correlates a unit's errors over time, so the "
                "robust covariance of a random-effects model clusters by unit", option="cov",
                hint="use cov='cluster' (SAR, SDM) or cov='numerical'"))
        if cov == "cluster" and fe == "random" and self._spec.err:
            raise SpecificationError(format_error(
                f"cov='cluster' with fe='random' is not offered for {self._spec.name}: its spatial error mixes "
                "the units' random effects (u = mu + B^-1 e), so no score splits into independent unit terms",
                option="cov", hint="use fe='entity' with cov='cluster', or cov='numerical' with fe='random'"))
        if wx is not None and not self._spec.durbin:
            raise SpecificationError(
                format_error(f"{self._spec.name} has no W*x terms", option="wx", hint="use SDM/SDEM/SLX for W*x terms")
            )
        if w is None:
            raise SpecificationError(format_error("a spatial weights matrix is required", option="w"))
        if w_x is not None and not self._spec.durbin:
            raise SpecificationError(format_error(f"{self._spec.name} has no W*x terms, so w_x does not apply",
                                                  option="w_x", hint="use SDM, SDEM, SLX or GNS for W*x terms"))
        if w_u is not None and not self._spec.err:
            raise SpecificationError(format_error(f"{self._spec.name} has no spatial error, so w_u does not apply",
                                                  option="w_u", hint="use SEM, SDEM, SAC or GNS"))
        check_seed(seed)
        if not getattr(self, "_from_arrays", False):
            if not isinstance(formula, str):
                raise SpecificationError(format_error(
                    f"{self._spec.name} needs a formula such as 'y ~ x1 + x2'", option="formula",
                    hint=f"{self._spec.name}(formula, data, w, entity, time), or {self._spec.name}.from_arrays(y, x, w, n_periods)"))
            if data is None or entity is None or time is None:
                raise SpecificationError(format_error("formula interface needs data, entity and time", option="data"))
        self.formula, self.data, self.w = formula, data, w
        self.entity, self.time = entity, time
        self.fe, self.method, self.wx = fe, method, wx
        self.w_x, self.w_u = w_x, w_u
        self.logdet, self.cov, self.seed = logdet, cov, seed
        self._arrays: dict | None = None

    @classmethod
    def from_arrays(cls, y, x, w, n_periods: int, *, names: list[str] | None = None, **kwargs):
        """Arrays stacked time-major (period 1's N units in W's order, then period 2's, ...)."""
        obj = cls.__new__(cls)
        obj._from_arrays = True
        wx = kwargs.pop("wx", None)
        cls.__init__(obj, None, None, w, None, None, wx=wx, **kwargs)
        obj._arrays = {"y": y, "x": x, "n_periods": n_periods, "names": names}
        return obj

    # ------------------------------------------------------------------
    def _design(self) -> PanelDesign:
        want_wx: bool | list[str] = (self.wx if self.wx is not None else True) if self._spec.durbin else False
        if self._arrays is not None:
            a = self._arrays
            d = design_from_arrays(a["y"], a["x"], self.w, a["n_periods"], names=a["names"], wx=want_wx)
        else:
            d = build_design(self.formula, self.data, self.w, self.entity, self.time,
                             intercept=(self.fe in ("none", "random")), wx=want_wx)
        others = {opt: other_weights(v, d.ids, opt, bare_ok=self._arrays is not None)
                  for opt, v in (("w_x", self.w_x), ("w_u", self.w_u)) if v is not None}
        return replace(d, **others) if others else d

    def fit(self) -> SpatialResults:
        """Estimate by maximum likelihood and return a :class:`SpatialResults`."""
        from spillover.spatial.logdet import make_logdet

        spec = self._spec
        d = self._design()
        if self.fe == "random":
            from spillover.spatial.random_effects import fit_random_effects, fit_random_effects_error

            return fit_random_effects_error(self, d) if spec.err else fit_random_effects(self, d)
        n, t, fe = d.n, d.t, self.fe
        conv = convention(fe, self.method, n, t)
        if conv.requires_row_standardised and not d.row_standardised:
            empty = np.flatnonzero(np.asarray(d.w.sum(axis=1)).ravel() == 0)
            why = (f"; {empty.size} unit(s) have no neighbours ({', '.join(map(str, [d.ids[i] for i in empty[:10]]))}), "
                   "e.g. beyond a distance cut-off, so their rows cannot sum to 1" if empty.size else "")
            raise SpecificationError(
                format_error(
                    f"method='lee-yu' with fe={fe!r} needs a row-standardised W (Lee & Yu 2010 use W 1 = 1){why}",
                    option="method",
                    hint=("give every unit a neighbour (a larger cut-off, islands='nearest') or use method='direct'"
                          if empty.size else "row-standardise W (libpysal: w.transform = 'r') or use "
                          "method='direct'"),
                )
            )
        W = d.w
        M = W if d.w_u is None else d.w_u  # the error's W

        def tr(a):
            return demean(a, n, t, fe)

        z, z_names = d.regressors(tr)
        y = d.y
        wy = spatial_lag(W, y, n, t)
        my = spatial_lag(M, y, n, t) if spec.err else np.zeros_like(y)
        mwy = spatial_lag(M, wy, n, t) if (spec.lag and spec.err) else np.zeros_like(y)
        mz = spatial_lag(M, z, n, t) if spec.err else np.zeros_like(z)

        zt = tr(z)
        yt, wyt, myt, mwyt, mzt = tr(y), tr(wy), tr(my), tr(mwy), tr(mz)
        mom = Moments.from_arrays(yt, wyt, mwyt, zt, mzt, my=myt)
        engine = make_logdet(W, self.logdet, seed=self.seed)
        engine_u = engine if d.w_u is None else make_logdet(M, self.logdet, seed=self.seed)
        corr_on = conv.jac_corr > 0

        def parts(rho: float, lam: float) -> tuple[float, float]:
            ld = (engine.logdet(rho) if spec.lag else 0.0) + (engine_u.logdet(lam) if spec.err else 0.0)
            cr = 0.0
            if corr_on:
                cr = (np.log1p(-rho) if spec.lag else 0.0) + (np.log1p(-lam) if spec.err else 0.0)
            return float(ld), float(cr)

        def neg_conc(rho: float, lam: float) -> float:
            _, ssr = mom.beta_ssr(rho, lam)
            ld, cr = parts(rho, lam)
            return -concentrated(ssr, ld, cr, conv)

        def unpack(p: np.ndarray) -> tuple[float, float]:
            if spec.lag and spec.err:
                return float(p[0]), float(p[1])
            return (float(p[0]), 0.0) if spec.lag else (0.0, float(p[0]))

        def score(p: np.ndarray) -> np.ndarray:
            rho, lam = unpack(p)
            b, ssr = mom.beta_ssr(rho, lam)
            d_rho, d_lam = mom.dssr(rho, lam, b)
            out = []
            for on, val, d, eng in ((spec.lag, rho, d_rho, engine), (spec.err, lam, d_lam, engine_u)):
                if on:
                    dcorr = -1.0 / (1.0 - val) if corr_on else 0.0
                    out.append(concentrated_score(ssr, d, float(eng.dlogdet(val)), dcorr, conv))
            return np.array(out)

        names_sp = tuple(nm for nm, on in (("rho", spec.lag), ("lambda", spec.err)) if on)
        box = [eng.bounds for eng, on in ((engine, spec.lag), (engine_u, spec.err)) if on]
        problem = MLProblem(spec.name, names_sp, box, lambda p: neg_conc(*unpack(p)),
                            score=score, starts=((0.0, 0.0), (0.5, 0.0), (0.0, 0.5)))
        found = fit_ml(problem)
        rho, lam = unpack(found.x)
        flags = list(found.flags)
        isolated = np.flatnonzero(np.asarray(W.sum(axis=1)).ravel() == 0)
        if isolated.size:
            flags.append(f"{isolated.size} unit(s) without neighbours ({', '.join(map(str, [d.ids[i] for i in isolated[:10]]))}"
                         f"{', ...' if isolated.size > 10 else ''}): their row of W is 0, so their spatial lag is 0")
        warn_flags(spec.name, flags)

        beta, ssr = mom.beta_ssr(rho, lam)
        sigma2 = ssr / conv.n_eff
        ld, cr = parts(rho, lam)
        llf = full_loglik(ssr, sigma2, ld, cr, conv)

        # ---- covariance --------------------------------------------------
        names = list(z_names) + list(names_sp)
        theta = np.concatenate([beta, [rho] if spec.lag else [], [lam] if spec.err else [], [sigma2]])
        if self.cov in sandwich.KINDS:
            sandwich.check_size(n, self.cov)
        if self.cov == "numerical" or (self.cov in sandwich.KINDS and spec.lag and spec.err):

            def llf_at(th: np.ndarray) -> float:
                b = th[: len(beta)]
                rr = th[len(beta)] if spec.lag else 0.0
                ll = th[len(beta) + int(spec.lag)] if spec.err else 0.0
                ldx, crx = parts(rr, ll)
                e_x = mom.residual(rr, ll, b, yt, wyt, mwyt, zt, mzt, my=myt)  # e'e from e: no Gram cancellation
                return full_loglik(float(e_x @ e_x), th[-1], ldx, crx, conv)

            info = covariance.numerical(llf_at, theta)
        elif self.cov in ("hessian",) + sandwich.KINDS:
            info = -covariance.observed_hessian(spec, mom, beta, rho, lam, sigma2, engine if spec.lag else engine_u,
                                                conv)
        else:
            info = covariance.expected_information(spec, mom, beta, rho, lam, sigma2,
                                                   engine if spec.lag else engine_u, conv, W if spec.lag else M, zt,
                                                   n, t, fe)
        if self.cov in sandwich.KINDS:
            parts = sandwich.score_parts(W, n, t, conv, lag=spec.lag, err=spec.err, beta=beta, rho=rho, lam=lam,
                                         sigma2=sigma2, yt=yt, wyt=wyt, mwyt=mwyt, zt=zt, mzt=mzt, myt=myt, M=M)
            cov_full = sandwich.sandwich(info, parts, self.cov)
        else:
            cov_full = covariance.invert(info)

        # ---- fitted values, residuals, fixed effects ----------------------
        zb = z @ beta
        total = y - (rho * wy if spec.lag else 0.0) - zb
        grand, mu, alpha = recover_effects(total, n, t, fe)
        effects = grand + np.tile(mu, t) + np.repeat(alpha, n)
        resid = total - effects  # structural disturbance u (= e for lag models)
        e_t = mom.residual(rho, lam, beta, yt, wyt, mwyt, zt, mzt, my=myt)
        yc = yt - yt.mean()
        rsq = 1.0 - float(e_t @ e_t) / float(yc @ yc)
        fixed = {
            "intercept": grand,
            "entity": pd.Series(mu, index=pd.Index(d.ids, name=self.entity or "entity"), name="mu"),
            "time": pd.Series(alpha, index=pd.Index(d.periods, name=self.time or "time"), name="alpha"),
        }
        ctx = None
        if spec.lag or spec.durbin:
            ctx = ImpactContext.for_fit(d.x_names, names, W, engine=engine if spec.lag else None, w_x=d.w_x)
        return SpatialResults.from_fit(
            theta=theta, names=names, cov_full=cov_full, y=y, resid=resid, rows=d.rows, order=d.order,
            model=spec.name, fe=fe, method=self.method, llf=float(llf),
            nobs=n * t, n_eff=conv.n_eff, N=n, T=t, y_name=d.y_name, x_names=d.x_names, wx_names=d.wx_names,
            w_label=d.w_label, logdet_strategy=",".join(dict.fromkeys(
                e_.strategy for e_, on in ((engine, spec.lag or not spec.err), (engine_u, spec.err)) if on)),
            cov_type=self.cov,
            rsquared=rsq, rsquared_label="R2 (transformed)" if fe != "none" else "R2",
            fixed_effects=fixed, flags=tuple(flags),
            extra={"bounds": box[0] if box else engine.bounds, "convention": conv}, _impact_ctx=ctx,
        )


# ---------------------------------------------------------------------------
# public classes


class SAR(_SpatialPanelModel):
    """Spatial autoregressive (spatial lag) panel model ``y = rho W y + X b + effects + e``.

    Parameters
    ----------
    formula : str
        ``"y ~ x1 + x2"`` (formulaic syntax); the intercept is kept only with ``fe="none"``.
    data : DataFrame
        Long panel with ``entity`` and ``time`` columns; entities must be exactly W's ids.
    w : libpysal W, scipy sparse matrix or ndarray
    fe : "none" | "entity" | "time" | "twoways" | "random" (SAR, SDM, SEM, SDEM)
    method : "direct" (Elhorst 2014) | "lee-yu" (Lee & Yu 2010)
    w_x, w_u : libpysal W or (matrix, ids), optional
        Separate weights of the W X terms (SDM, SDEM, SLX, GNS) and of the error
        (SEM, SDEM, SAC, GNS); default ``w``. Same units as ``w``, any order.
        The error's log-determinant uses its own strategy and interval.
    logdet : "auto" | "eigen" | "lu" | "mc" (see :mod:`spillover.spatial.logdet`)
    cov : "information" | "hessian" | "numerical" | "robust" | "cluster"
        ``"robust"``: QML sandwich valid under heteroskedasticity; ``"cluster"``: also
        under correlation over time within a unit (clusters = units); both with the
        observed Hessian as bread and the score convention of :mod:`spillover.spatial.sandwich`.
        With ``fe="random"`` (SAR, SDM) only ``"cluster"``, on the Hessian of the
        random-effects likelihood (:func:`spillover.spatial.sandwich.random_effects_parts`).
    """

    _spec = _Spec("SAR", lag=True, err=False, durbin=False)


class SDM(_SpatialPanelModel):
    """Spatial Durbin panel model ``y = rho W y + X b + W X t + effects + e``.

    ``wx`` selects the regressors that get a W*x term (default: all).
    See :class:`SAR` for the other parameters.
    """

    _spec = _Spec("SDM", lag=True, err=False, durbin=True)


class SEM(_SpatialPanelModel):
    """Spatial error panel model ``y = X b + effects + u, u = lambda W u + e``. See :class:`SAR`."""

    _spec = _Spec("SEM", lag=False, err=True, durbin=False)


class SDEM(_SpatialPanelModel):
    """Spatial Durbin error model ``y = X b + W X t + effects + u, u = lambda W u + e``. See :class:`SDM`."""

    _spec = _Spec("SDEM", lag=False, err=True, durbin=True)


class SAC(_SpatialPanelModel):
    """Spatial autoregressive model with autoregressive disturbances (Kelejian & Prucha 1998; Elhorst 2014 eq. 2.5).

    ``y = rho W y + X b + effects + u, u = lambda W u + e`` with the same W in
    both parts; standard errors from the numerical Hessian.
    """

    _spec = _Spec("SAC", lag=True, err=True, durbin=False)


class GNS(_SpatialPanelModel):
    """General nesting spatial model ``y = rho W y + X b + W X t + effects + u, u = lambda W u + e``.

    Elhorst (2014, *Spatial Econometrics*, eq. 2.8; Manski 1993): SAC with
    W X terms; every other model here is a restriction of it (theta = 0: SAC,
    lambda = 0: SDM, rho = 0: SDEM). Same W in all three parts; standard
    errors from the numerical Hessian. Parameters are only weakly identified
    when the three spatial terms use one W (Elhorst 2014, sec. 2.3), so read
    the standard errors before the point estimates.
    """

    _spec = _Spec("GNS", lag=True, err=True, durbin=True)


class SLX(_SpatialPanelModel):
    """Spatial lag of X panel model ``y = X b + W X t + effects + e``, by least squares.

    Estimated with :class:`linearmodels.PanelOLS` (entity and/or time effects,
    ``cov_type="unadjusted"``; Wooldridge 2010, eq. 10.52). ``method`` does not
    apply and is reported as ``"ls"``. Impacts are linear in the coefficients
    (Halleck Vega & Elhorst 2015, J. Regional Science 55).
    """

    _spec = _Spec("SLX", lag=False, err=False, durbin=True)

    def fit(self) -> SpatialResults:
        from linearmodels import PanelOLS

        d = self._design()
        n, t, fe = d.n, d.t, self.fe
        W = d.w
        z, names = d.regressors(lambda a: demean(a, n, t, fe))
        index = pd.MultiIndex.from_arrays(
            [np.tile(np.arange(n), t), np.repeat(np.arange(t), n)], names=["entity", "time"]
        )
        exog = pd.DataFrame(z, index=index, columns=names)
        mod = PanelOLS(
            pd.Series(d.y, index=index, name=d.y_name), exog,
            entity_effects=fe in ("entity", "twoways"), time_effects=fe in ("time", "twoways"),
        )
        lr = mod.fit(cov_type="unadjusted")
        params = lr.params.rename("params")
        cov = lr.cov
        resid_arr = lr.resids.to_numpy()
        fitted = d.y - resid_arr
        eff = lr.estimated_effects.to_numpy().ravel()
        grand, mu, alpha = recover_effects(eff + (0.0), n, t, fe)
        rows = d.rows
        ctx = ImpactContext.for_fit(d.x_names, names, W)
        s2 = float(lr.s2)
        return SpatialResults(
            model="SLX", fe=fe, method="ls", params=params, cov_params=cov, sigma2=s2, sigma2_se=float("nan"),
            llf=float(lr.loglik), nobs=n * t, n_eff=int(lr.df_resid), N=n, T=t, y_name=d.y_name,
            x_names=d.x_names, wx_names=d.wx_names, w_label=d.w_label, logdet_strategy="none",
            cov_type="ols (unadjusted)", rsquared=float(lr.rsquared),
            rsquared_label="R2 (within)" if fe != "none" else "R2", corr2=float(np.corrcoef(d.y, fitted)[0, 1] ** 2),
            **row_series(rows, d.order, fitted_values=fitted, resid=resid_arr),
            fixed_effects={"intercept": grand, "entity": pd.Series(mu, index=pd.Index(d.ids)),
                           "time": pd.Series(alpha, index=pd.Index(d.periods))},
            _impact_ctx=ctx,
        )
