"""Generalized moments (GM) and spatial two-stage least squares for spatial panels: :class:`GM`.

Models (time-major stacking, unit effects ``mu``)::

    sem    y = X b + E g + u,            u = lambda W u + e
    sar    y = rho W y + X b + E g + e
    sarar  y = rho W y + X b + E g + u,  u = lambda W u + e

with ``e = mu + nu``; ``fe="entity"`` treats ``mu`` as fixed (within
transformation), ``fe="random"`` as random, uncorrelated with X (error
components). ``fe="time"`` and ``"twoways"`` add fixed period effects
``alpha_t`` (``"time"``: without unit effects): every variable, its spatial
lags formed on the raw data first, is demeaned by period (and unit), which
for the 2SLS steps is the unit-effects fit with period dummies among the
regressors and instruments (Frisch-Waugh-Lovell); the GM moments take their
expectations under the two-way operator (:mod:`spillover.spatial.gm_moments`),
and the error models need a row-standardised error W there (``W 1 = 1`` lets
``alpha_t`` pass the filter ``u - lambda W u`` unchanged). ``E`` are optional
endogenous regressors with external instruments ``Hx``. Instrument columns
that vanish or are collinear after a fixed-effects transformation (the lags
``W D = D`` of period dummies, ``W x`` of a variable common to all units of a
period) are dropped and named in ``GMResults.notes``.

Durbin terms (``durbin=``): ``W Xd t + W Ed g_w`` join the regressors, an
SDM (``sar``), an SDEM (``sem``: W X with a spatial error, impacts linear in
the coefficients) or an SDM with a spatial error, the general nesting model
(``sarar``; Halleck Vega & Elhorst 2015, *The SLX model*, J. Regional
Science 55, 339-363). ``w_x=`` gives the Durbin terms their own ``W_x``
(``W_x Xd``, ``W_x Ed`` instrumented by ``W_x Hx``); the instruments of ``W
y`` are then the exogenous regressors ``[X, W_x Xd]`` and their first two
lags in ``W``. ``w_u=`` gives the error process its own ``M`` (the GM
moments and the filter ``v - lambda M v``); in the SARAR the instruments
then add ``M [X, W X, W^2 X]`` (Kelejian & Prucha 2010, J. Econometrics 157,
53-67, sec. 2.2). ``W Xd`` are exogenous; the lag ``W Ed`` of an
endogenous regressor is endogenous and its instruments are the lags ``W Hx``
of the external instruments. The instruments of ``W y`` follow Kelejian &
Prucha (1998): the exogenous regressors of the model and their first two
spatial lags. With Durbin terms the exogenous regressors are ``[X, W Xd]``,
so the set is ``[X, W X, W^2 X, W^3 Xd]`` (``W Xd`` and ``W^2 Xd`` are
already in it), the second-order approximation of the ideal instrument
``E[W y] = W (I - rho W)^-1 (X b + W Xd t)``; the external instruments enter
as ``[Hx, W Hx]``, unlagged for ``W y`` as without Durbin terms. Drukker,
Egger & Prucha (2013, *On two-step estimation of a spatial autoregressive
model with autoregressive disturbances and endogenous regressors*,
Econometric Reviews 32, 686-733) give the GS2SLS with endogenous regressors
and external instruments this builds on. pysal ``spreg.GM_Lag`` with
``slx_lags=1, w_lags=2`` uses the same set for an all-exogenous SDM
(tests/test_gm.py compares).

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
    1998; with Durbin terms see above): W2SLS on within data with fixed effects, covariance
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

``cov="robust"`` and ``"cluster"`` replace the covariance of the final
regression by the heteroskedasticity-robust or unit-clustered 2SLS sandwich
(:func:`spillover.spatial.gm_iv.robust_cov`), given lambda: KP (1998, 2010)
show the GS2SLS coefficients' limit distribution does not depend on the
estimation of lambda.

KKP give no standard error for the GM estimate of lambda: it is reported
with a NaN standard error (its row and column of ``cov_params`` are NaN),
also with ``cov="robust"``/``"cluster"``: KKP's moments use
``E[e'W'We] = sigma2 tr(W'W)``, which holds only for homoskedastic errors,
so their lambda is not consistent under heteroskedasticity and a robust
variance for it would be the variance of the wrong quantity. Kelejian &
Prucha (2010)'s heteroskedasticity-robust GM (moments with ``W'W -
diag(W'W)`` and ``W``, and its variance) is a different estimator, not
implemented here.
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
FE = ("entity", "time", "twoways", "random")
MOMENTS = ("initial", "weights", "fullweights")
COV = gm_iv.COV_KINDS
#: the within operator of each fixed-effects choice, as the summary names it
WITHIN = {"entity": "within", "time": "time-demeaned", "twoways": "two-way within"}
#: ``cov=`` -> ``GMResults.cov_type`` (the tables' covariance names) and its summary line
COV_TYPE = {"homoskedastic": "2sls (homoskedastic)", "robust": "robust", "cluster": "cluster"}
COV_LABEL = {"2sls (homoskedastic)": "homoskedastic, s2 (Zh'Zh)^-1",
             "robust": "heteroskedasticity-robust sandwich (White), scaled NT / (NT - absorbed)",
             "cluster": "cluster-robust sandwich by unit, scaled C / (C - 1)"}


def _as_terms(value, option: str) -> tuple[str, ...]:
    """A list of formula terms (a single string is one term), spelled as formulaic names their columns.

    Stata's lag spelling ``L{k}.v`` (as in the IV bracket of :mod:`spillover.formula`) is ``lag(v, k)``.
    """
    import re

    from spillover.formula import terms

    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(v, str) and v.strip() for v in items):
        raise SpecificationError(format_error(f"{option}={value!r} must be a list of column names or formula terms",
                                              option=option, hint=f"e.g. {option}=['lpcap']"))
    out = []
    for v in items:
        parsed = terms(re.sub(r"^\s*L(\d+)\.([A-Za-z_]\w*)\s*$", r"lag(\2, \1)", v), what=option)
        if len(parsed) != 1:
            raise SpecificationError(format_error(f"{option} item {v!r} is not one term", option=option,
                                                  hint="give one variable or expression per list item"))
        out.append(parsed[0])
    return tuple(out)


def _durbin(value, regressors: tuple[str, ...], instruments: tuple[str, ...]) -> bool | tuple[str, ...]:
    """``durbin=`` checked: False (none), True (every regressor but the intercept) or the terms named."""
    if value is None or value is False:
        return False
    if value is True:
        return True
    if isinstance(value, (int, float)):
        raise SpecificationError(format_error(f"durbin={value!r} must be True, False or a list of regressors",
                                              option="durbin", hint="e.g. durbin=True or durbin=['x1']"))
    named = _as_terms(value, "durbin")
    for term in named:
        if term in instruments:
            raise SpecificationError(format_error(
                f"durbin term {term!r} is an external instrument, not a regressor", option="durbin",
                hint=f"choose among the regressors {list(regressors)}"))
        if term not in regressors:
            raise SpecificationError(format_error(
                f"durbin term {term!r} is not a regressor of the formula nor an endogenous regressor",
                option="durbin", hint=f"choose among {list(regressors)}"))
    if len(set(named)) < len(named):
        raise SpecificationError(format_error(f"durbin={list(named)} lists a term twice", option="durbin",
                                              hint="name each regressor once"))
    return named


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
    fe : "entity" | "time" | "twoways" (fixed unit, period or both effects: within 2SLS / GM on the
        within-transformed data, spatial lags formed on the raw data first) | "random" (random unit effects).
        Period effects in a model with a spatial error need a row-standardised error W (module docstring).
    moments : "initial" | "weights" | "fullweights"
        The GM weighting of KKP (2007) for models with a spatial error (see
        :mod:`spillover.spatial.gm_moments`); "sar" takes only "initial".
    endog, instruments : list of str
        Endogenous regressors (not in the formula) and their external
        instruments; ``L1.z`` (Stata's spelling) is ``lag(z, 1)``.
    durbin : bool or list of str
        Durbin terms ``W x`` (``model="sar"``: an SDM; ``"sarar"``: an SDM
        with a spatial error; ``"sem"``: an SDEM). ``True`` lags every
        regressor but the intercept, the endogenous ones included; a list
        lags those named. ``W d`` of an endogenous ``d`` is endogenous,
        instrumented by ``W Hx`` (module docstring).
    cov : "homoskedastic" | "robust" | "cluster"
        Covariance of the coefficients of the final 2SLS / GLS regression:
        ``s2 (Zh'Zh)^-1``, the heteroskedasticity-robust sandwich, or the
        sandwich clustered by unit (:func:`spillover.spatial.gm_iv.robust_cov`).
        The GM lambda has no standard error in any case (module docstring).
    w_x, w_u : libpysal W or ``(matrix, ids)``, optional
        Weights of the Durbin terms ``W_x X`` (and ``W_x Hx``, their
        instruments when endogenous) and of the error process (the GM step and
        the spatial Cochrane-Orcutt filter); default ``w``. ``W y`` keeps
        ``w`` and its instruments are lags in ``w``.

    Constructing only validates the options; :meth:`fit` estimates.
    """

    def __init__(self, formula: str | None = None, data: pd.DataFrame | None = None, w=None,
                 entity: str | None = None, time: str | None = None, *, model: str = "sem", fe: str = "entity",
                 moments: str = "initial", endog=None, instruments=None, durbin=False, cov: str = "homoskedastic",
                 w_x=None, w_u=None) -> None:
        _choice(model, MODELS, "model")
        _choice(fe, FE, "fe", "fixed unit, period or both effects ('entity', 'time', 'twoways'; within "
                "transformation) or random unit effects ('random')")
        _choice(moments, MOMENTS, "moments")
        _choice(cov, COV, "cov", "'cluster' clusters by unit (entity)")
        if w_u is not None and model == "sar":
            raise SpecificationError(format_error("model='sar' has no spatial error, so w_u does not apply",
                                                  option="w_u", hint="use model='sem' or 'sarar'"))
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
        self.model, self.fe, self.moments, self.cov = model, fe, moments, cov
        self._lhs, self._exog = parsed.lhs, parsed.exog
        self.endog, self.instruments = list(endog_t), list(inst_t)
        self.durbin = _durbin(durbin, parsed.exog + endog_t, inst_t)
        if w_x is not None and not self.durbin:
            raise SpecificationError(format_error("w_x weights the Durbin terms W x, and there are none",
                                                  option="w_x", hint="pass durbin=True (or a list) with w_x"))
        self.w_x, self.w_u = w_x, w_u

    # ------------------------------------------------------------------
    def _parts(self):
        """The design (y, X, E, Hx) stacked time-major with the Durbin lags appended (``X = [X, W_x Xd]``,
        ``E = [E, W_x Ed]``, ``Hx = [Hx, W_x Hx]``) and the raw instruments, checked for collinearity and
        identification. Returns the design, the panel operators, the parts, the layout and notes."""
        from spillover.spatial.design import build_design

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
        p = self._panel(d)
        x_names = [d.x_names[j] for j in ix]
        lay = self._layout(x_names, d.x_names)
        x, e, hx = d.x[:, ix], d.x[:, ie], d.x[:, ih]
        if lay.dx:
            x = np.column_stack([x, p.lag_x(x[:, [x_names.index(c) for c in lay.dx]])])
        if lay.de:
            e = np.column_stack([e, p.lag_x(e[:, [self.endog.index(c) for c in lay.de]])])
            hx = np.column_stack([hx, p.lag_x(hx)])
        parts = Parts(d.y, x, e, hx, lag=self.model != "sem")
        self._check_collinear(p, np.column_stack([parts.x, parts.e]), lay.fit_names)
        h, notes = self._instruments(p, parts, lay)
        parts = replace(parts, h=h)
        self._check_identified(p, parts)
        return d, p, parts, lay, notes

    def _panel(self, d) -> Panel:
        """The panel operators with ``w_x`` and ``w_u`` in the design's unit order; period effects in a model
        with a spatial error need an error W with equal row sums (``W 1 = 1``, so that the period effects
        leave the Cochrane-Orcutt filter and the GM moments exactly; :mod:`spillover.spatial.gm_moments`)."""
        from spillover.spatial.design import is_row_standardised, other_weights

        others = {k: other_weights(v, d.ids, k) for k, v in (("w_x", self.w_x), ("w_u", self.w_u)) if v is not None}
        others = {k: m for k, m in others.items() if (m != d.w).nnz}  # the same matrix as w: the default fit
        p = Panel(d.w, d.n, d.t, "entity" if self.fe == "random" else self.fe, **others)
        if self.fe in ("time", "twoways") and self.model != "sar" and not is_row_standardised(p.m):
            option = "w_u" if p.w_u is not None else "w"
            raise SpecificationError(format_error(
                f"fe={self.fe!r} with a spatial error needs a row-standardised {option}: period effects pass the "
                "filter u - lambda W u and the GM moments unchanged only when W 1 = 1", option=option,
                hint=f"row-standardise {option} (libpysal: w.transform = 'r'), or use fe='entity'"))
        return p

    def _check_collinear(self, p: Panel, z: np.ndarray, names: list[str]) -> None:
        """SpecificationError naming regressors that are collinear (after the within transformation)."""
        from spillover.spatial.design import collinear_columns

        fixed = self.fe != "random"
        bad = collinear_columns(p.within(z) if fixed else z, names)
        if bad:
            hint = {"entity": "time-invariant variables vanish with unit effects",
                    "time": "variables common to all units in a period vanish with period effects",
                    "twoways": "time-invariant variables and variables common to all units in a period vanish "
                               "with two-way effects (and so do period dummies)"}.get(self.fe, "")
            raise SpecificationError(format_error(
                "perfectly collinear regressor(s)" + (f" after the {WITHIN[self.fe]} transformation" if fixed else ""),
                variables=bad, hint="drop them" + (f"; {hint}" if hint else "")))
        if fixed and not names and self.model == "sem":
            raise SpecificationError(format_error("the formula has no regressor", option="formula"))

    def _instruments(self, p: Panel, parts: Parts, lay: _Layout) -> tuple[np.ndarray, tuple[str, ...]]:
        """The raw instruments ``[X, Hx]`` and, with ``W y``, their first two lags in W (KP98) of the exogenous
        regressors; with a separate ``w_u`` in the SARAR, also their lags in ``W_u`` (Kelejian & Prucha 2010,
        sec. 2.2: ``H = [X, W X, W^2 X, M X, M W X, M W^2 X]``).

        Columns are named symbolically (``W*x``, ``W*W*x``, ``W_x*x``, ``W_u*x``) and a name seen before is
        skipped (with ``w_x = w`` the lag ``W*x`` of x is the Durbin regressor itself). With fixed effects, a
        column that vanishes or is collinear with earlier ones after the within transformation is dropped
        and named in a note (e.g. ``W*x`` of a variable common to all units of a period).
        """
        from spillover.spatial.design import collinear_columns

        sx = "W*" if p.w_x is None else "W_x*"
        x_names = lay.x + [sx + c for c in lay.dx]
        hx_names = list(self.instruments) + ([sx + c for c in self.instruments] if lay.de else [])
        blocks = [(x_names, parts.x), (hx_names, parts.hx)]
        if parts.lag:
            wx = p.lag(parts.x)
            blocks += [(["W*" + c for c in x_names], wx), (["W*W*" + c for c in x_names], p.lag(wx))]
            if p.w_u is not None and self.model == "sarar":
                blocks += [(["W_u*" + c for c in names], p.lag_u(a)) for names, a in list(blocks[:1]) + blocks[2:]]
        seen: dict[str, np.ndarray] = {}
        for names, a in blocks:
            for j, c in enumerate(names):
                seen.setdefault(c, a[:, j])
        names = list(seen)
        h = np.column_stack(list(seen.values())) if seen else np.empty((p.n * p.t, 0))
        if self.fe == "random":
            return h, ()
        bad = collinear_columns(p.within(h), names)
        if not bad:
            return h, ()
        keep = [j for j, c in enumerate(names) if c not in bad]
        listed = ", ".join(bad[:6]) + (f" and {len(bad) - 6} more" if len(bad) > 6 else "")
        note = (f"{len(bad)} instrument(s) dropped, zero or collinear with the other instruments after the "
                f"{WITHIN[self.fe]} transformation: {listed}")
        return h[:, keep], (note,)

    def _layout(self, x_names: list[str], columns: list[str]) -> _Layout:
        """Which regressors get a Durbin term (``durbin=True``: all but the intercept)."""
        if self.durbin is True:
            dx = [c for c in x_names if c != "Intercept"]
            return _Layout(x_names, dx, list(self.endog), list(self.endog))
        named = list(self.durbin or ())
        missing = [c for c in named if c not in x_names and c not in self.endog]
        if missing:
            raise SpecificationError(format_error(f"durbin term {missing[0]!r} is not one numeric column",
                                                  option="durbin", hint=f"columns of the design: {columns}"))
        return _Layout(x_names, [c for c in x_names if c in named], list(self.endog),
                       [c for c in self.endog if c in named])

    def _check_identified(self, p: Panel, parts: Parts) -> None:
        """SpecificationError when the instruments cannot identify the endogenous regressors (and W y)."""
        if not (parts.lag or parts.e.shape[1]):
            return
        xw = gm_iv.drop_zero(p.within(parts.x)) if parts.x.shape[1] else np.empty((p.n * p.t, 0))
        endo = [p.within(parts.e)] + ([p.within(p.lag(parts.y))[:, None]] if parts.lag else [])
        h = p.within(parts.h)
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
        d, p, parts, lay, notes = self._parts()
        fit = {"sem": _fit_sem, "sar": _fit_sar, "sarar": _fit_sarar}[self.model]
        est = fit(p, parts, self.fe, self.moments, lay.instruments(parts.lag, p.w_x is not None,
                                                                   p.w_u is not None and self.model == "sarar"))
        if self.cov != "homoskedastic":
            est = replace(est, cov=gm_iv.robust_cov(est.fit, p.n, p.t, est.absorbed, self.cov))
        from spillover.spatial.core import warn_flags

        warn_flags(f"GM {_model_name(self.model, lay)}", est.flags)
        return _results(self, d, p, parts, lay, est, notes)


@dataclass(frozen=True)
class _Layout:
    """Names of the columns of a fit: exogenous ``x``, the Durbin ones ``dx`` (their ``W x`` follow X),
    endogenous ``endog`` and the Durbin ones ``de`` (their ``W d`` follow E)."""

    x: list[str]
    dx: list[str]
    endog: list[str]
    de: list[str]

    @property
    def fit_names(self) -> list[str]:
        """Columns of ``[Parts.x, Parts.e]``."""
        return self.x + [f"W*{c}" for c in self.dx] + self.endog + [f"W*{c}" for c in self.de]

    @property
    def shown(self) -> list[str]:
        """Coefficients as reported: regressors, endogenous regressors, then their W x (the ML models' order)."""
        return self.x + self.endog + [f"W*{c}" for c in self.dx + self.de]

    def instruments(self, lag: bool, own_wx: bool = False, own_wu: bool = False) -> str:
        """The instrument set in words (X: the exogenous regressors; Xd: those with a Durbin term; W_x, W_u: the
        separate weights of the Durbin terms and of the error)."""
        if own_wx and self.dx:
            exog = ["X", "W_x Xd"]
            parts = exog + ([f"{lag_} {c}" for lag_ in ("W", "W^2") for c in exog] if lag else [])
        else:
            parts = ["X"] + (["W X", "W^2 X"] + (["W^3 Xd"] if self.dx else []) if lag else [])
        if lag and own_wu:
            parts += ["W_u [" + ", ".join(parts) + "]"]
        if self.endog:
            parts += ["Hx"] + ([("W_x" if own_wx else "W") + " Hx"] if self.de else [])
        return ", ".join(parts)


def _model_name(model: str, lay: _Layout) -> str:
    """SAR, SARAR, SEM; with Durbin terms SDM, SDEM, and GNS for the SDM with a spatial error (Halleck Vega &
    Elhorst 2015's general nesting spatial model)."""
    if lay.dx or lay.de:
        return {"sar": "SDM", "sarar": "GNS", "sem": "SDEM"}[model]
    return model.upper()


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
    absorbed: int = 0  # degrees of freedom taken before the final regression (N unit means when within)


def _quasi(p: Panel, theta: float):
    """``v - theta Q1 v``: the random-effects GLS transformation (KKP's feasible GLS; Baltagi 2021,
    *Econometric Analysis of Panel Data*, ch. 2)."""
    return lambda a: a - theta * p.between(a)


def _gm_step(p: Panel, parts: Parts, fe: str, moments: str, first: TSLS, between: TSLS | None) -> GMFit:
    """GM estimate of the error process (in ``W_u``) from first-step residuals.

    Fixed effects: the raw residuals ``y - Z b`` (effects included), whose lags the moments form before the
    within transformation. Random effects: the within part for Q0, unit means (``between``, else
    ``first``'s) for Q1.
    """
    if fe != "random":
        return estimate(parts.y - parts.z(p) @ first.coef, None, p.m, p.n, p.t, moments, p.effects)
    u0 = first.resid if between is not None else p.within(first.resid)
    ubar = between.resid if between is not None else p.means(first.resid)
    return estimate(u0, ubar, p.m, p.n, p.t, moments)


def _transform(p: Panel, fe: str, gm: GMFit):
    """Spatial Cochrane-Orcutt filter ``v - lambda W_u v`` followed by the within or the quasi-demeaning step."""
    lam = gm.lam
    if fe != "random":
        return lambda a: p.within(a - lam * p.lag_u(a))
    s2v, s21 = gm.variances
    q = _quasi(p, 1.0 - np.sqrt(s2v / s21))
    return lambda a: q(a - lam * p.lag_u(a))


def _fit_sem(p: Panel, parts: Parts, fe: str, moments: str, _inst: str = "") -> _Est:
    """KKP (2007): first-step residuals, GM, then FGLS / within (2SLS with endogenous regressors).

    The instruments are those of the transformed regression (described here, not from ``_inst``).
    """
    has_e = parts.e.shape[1] > 0
    fixed = fe != "random"
    q0 = "Q0" if fe == "entity" else "Q"
    between = None
    if has_e:
        first, _ = gm_iv.within_2sls(p, parts)
        if not fixed:
            between, _ = gm_iv.between_2sls(p, parts)
        step1 = "W2SLS" + ("" if fixed else "/B2SLS")
    elif fixed:
        first, step1 = tsls(p.within(parts.y), p.within(parts.x), None), f"{WITHIN[fe]} OLS"
    else:
        first, step1 = tsls(parts.y, parts.x, None), "pooled OLS"
    gm = _gm_step(p, parts, fe, moments, first, between)
    tr = _transform(p, fe, gm)
    y_t, z_t = tr(parts.y), tr(parts.z(p))
    h = None
    inst = "none (exogenous regressors)"
    if has_e:
        hx = [p.within(parts.hx)] + ([] if fixed else [p.between(parts.hx)])
        h = np.column_stack([tr(parts.x)] + hx)
        inst = "transformed X, " + (f"{q0} Hx" if fixed else "Q0 Hx, Q1 Hx")
    fit = tsls(y_t, z_t, h)
    final = (f"{WITHIN[fe]} " if fixed else "FGLS ") + ("2SLS" if has_e else "regression")
    return _Est(fit, y_t, fit.cov(gm.variances[0]), f"{step1} -> GM ({moments}) -> {final}", inst,
                float(gm.variances[0]), float("nan") if fixed else float(gm.variances[1]), gm, gm.flags,
                absorbed=p.absorbed if fixed else 0)


def _fit_sar(p: Panel, parts: Parts, fe: str, moments: str, inst: str) -> _Est:
    """Spatial 2SLS: W2SLS (fixed effects) or EC2SLS (random effects)."""
    if fe != "random":
        fit, _ = gm_iv.within_2sls(p, parts)
        s2 = gm_iv.within_sigma2_v(fit, p)
        q0 = "Q0" if fe == "entity" else "Q"
        return _Est(fit, p.within(parts.y), fit.cov(s2), f"W2SLS ({WITHIN[fe]} spatial 2SLS)", f"{q0} [{inst}]", s2,
                    absorbed=p.absorbed)
    fit, s2v, s21 = gm_iv.ec2sls(p, parts)
    s2 = fit.sse / (p.n * p.t - fit.zhat.shape[1])
    y_t = p.within(parts.y) / np.sqrt(s2v) + p.between(parts.y) / np.sqrt(s21)
    return _Est(fit, y_t, fit.cov(s2), "EC2SLS (error-components spatial 2SLS)", "Q0 [" + inst + "], Q1 [" + inst + "]",
                s2v, s21)


def _fit_sarar(p: Panel, parts: Parts, fe: str, moments: str, inst: str) -> _Est:
    """Generalized spatial 2SLS (KP 1998 steps 1-3 on the panel; Mutl & Pfaffermayr 2011)."""
    fixed = fe != "random"
    first, hw = gm_iv.within_2sls(p, parts)
    between, hb = (None, None) if fixed else gm_iv.between_2sls(p, parts)
    gm = _gm_step(p, parts, fe, moments, first, between)
    tr = _transform(p, fe, gm)
    y_t, z_t = tr(parts.y), tr(parts.z(p))
    if fixed:
        h, inst = hw, ("Q0" if fe == "entity" else "Q") + " [" + inst + "]"
    else:
        h = np.column_stack([tr(parts.x), np.ones(p.n * p.t), hw, np.tile(hb, (p.t, 1))])
        inst = "1, Q0 [" + inst + "], Q1 [" + inst + "]"
    fit = tsls(y_t, z_t, h)
    step1 = "W2SLS" + ("" if fixed else "/B2SLS")
    final = WITHIN[fe] if fixed else "GLS"
    return _Est(fit, y_t, fit.cov(gm.variances[0]), f"{step1} -> GM ({moments}) -> {final} GS2SLS", inst,
                float(gm.variances[0]), float("nan") if fixed else float(gm.variances[1]), gm, gm.flags,
                absorbed=p.absorbed if fixed else 0)


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False, repr=False)
class GMResults(SpatialResults):
    """Results of :class:`GM`: a :class:`SpatialResults` with the GM options and variance components.

    ``params`` are the regressors, the endogenous regressors, the Durbin
    terms ``W*x`` (``wx_names``), ``rho`` (lag models) and ``lambda`` (error
    models; NaN standard error). ``sigma2`` is ``sigma2_v``; with random effects
    ``sigma2_1 = sigma2_v + T sigma2_mu`` and ``theta = 1 - sigma_v / sigma_1``.
    There is no likelihood (``llf`` NaN). ``extra["sse"]`` is the residual sum
    of squares of the final (transformed) regression, ``extra["gm_criterion"]``
    the minimised GM criterion. ``first_stage`` holds, per endogenous
    regressor of the final regression (``W*y`` for ``W y``), the partial F of
    the excluded instruments with its degrees of freedom and the partial
    R-squared (:func:`spillover.spatial.gm_iv.first_stage`); None without
    instruments. ``cov_type`` is "2sls (homoskedastic)", "robust" or
    "cluster" (``cov=``); ``notes`` say what the fit changed on its own (instruments dropped).
    """

    moments: str = "initial"
    estimator: str = ""
    instruments: str = ""
    endog: tuple[str, ...] = ()
    external_instruments: tuple[str, ...] = ()
    sigma2_1: float = float("nan")
    theta: float = float("nan")
    first_stage: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()

    def impacts(self, draws: int = 1000, seed: int | None = 0, method: str = "simulation"):
        """Direct, indirect and total effects of the lag and Durbin models (see :meth:`SpatialResults.impacts`).

        Parameters without a variance (the GM lambda) are held at their estimate.
        """
        keep = [c for c in self.params.index if np.isfinite(self.cov_params.loc[c, c])]
        sub = replace(self, params=self.params[keep], cov_params=self.cov_params.loc[keep, keep])
        return SpatialResults.impacts(sub, draws=draws, seed=seed, method=method)

    def header(self) -> list[str]:
        """The summary's header: model, effects, moments, estimator, instruments and covariance."""
        fe = {"entity": "fixed unit effects (within)", "time": "fixed period effects (time-demeaned)",
              "twoways": "fixed unit and period effects (two-way within)", "random": "random unit effects"}[self.fe]
        head = [
            f"{self.model} spatial panel ({'generalized moments' if 'lambda' in self.params else 'spatial 2SLS'})",
            *([f"Durbin terms: {', '.join(self.wx_names)}"] if self.wx_names else []),
            f"Dependent variable: {self.y_name}",
            f"Effects: {fe}    Moments: {self.moments if 'lambda' in self.params else 'n/a'}",
            f"Estimator: {self.estimator}",
            f"Instruments: {self.instruments}",
            f"Covariance: {COV_LABEL[self.cov_type]}",
        ]
        if self.endog:
            head.append(f"Endogenous: {', '.join(self.endog)}    External instruments: "
                        f"{', '.join(self.external_instruments)}")
        if self.first_stage is not None:
            head.append("First-stage partial F: " + ", ".join(
                f"{k} {r.F:.2f} ({r.df1:.0f}, {r.df2:.0f})" for k, r in self.first_stage.iterrows()))
        var = f"sigma2_v = {self.sigma2:.6g}"
        if self.fe == "random":
            var += f"   sigma2_1 = {self.sigma2_1:.6g}   theta = {self.theta:.6g}"
        head += [f"Weights: {self.w_label}    N = {self.N}   T = {self.T}   NT = {self.nobs}", var,
                 f"{self.rsquared_label} = {self.rsquared:.4f}   corr^2(y, fitted) = {self.corr2:.4f}"]
        if "lambda" in self.params:
            head.append("lambda: GM estimate without a standard error (Kapoor, Kelejian & Prucha 2007 give none)")
            if self.cov_type != COV_TYPE["homoskedastic"]:
                head.append("  its GM moments assume homoskedastic errors; the coefficient covariance is robust "
                            "given lambda (Kelejian & Prucha 2010's heteroskedasticity-robust GM is not implemented)")
        head += [f"Note: {n}" for n in self.notes]
        return head


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


def _first_stage(lay: _Layout, parts: Parts, est: _Est, y_name: str) -> pd.DataFrame | None:
    """:func:`gm_iv.first_stage` of the final regression, one row per endogenous regressor (None without one)."""
    fit = est.fit
    k = parts.x.shape[1]
    if fit.h is None or fit.z is None or fit.z.shape[1] <= k:
        return None
    fs = gm_iv.first_stage(fit.z, k, fit.h, est.absorbed)
    names = lay.endog + [f"W*{c}" for c in lay.de] + ([f"W*{y_name}"] if parts.lag else [])
    return pd.DataFrame({"F": fs.f, "df1": float(fs.df1), "df2": float(fs.df2), "partial_r2": fs.partial_r2},
                        index=pd.Index(names, name="endogenous"))


def _results(model: GM, d, p: Panel, parts: Parts, lay: _Layout, est: _Est, notes: tuple[str, ...]) -> GMResults:
    """Name the coefficients (in the ML models' order), add lambda, recover effects and residuals, and build the
    impact context."""
    from spillover.spatial.impacts import ImpactContext
    from spillover.spatial.results import row_series
    from spillover.spatial.transforms import recover_effects

    fitted_names = lay.fit_names + (["rho"] if parts.lag else [])
    names = lay.shown + (["rho"] if parts.lag else [])
    order = [fitted_names.index(c) for c in names]
    coef, cov = est.fit.coef[order], est.cov[np.ix_(order, order)]
    if est.gm is not None:
        names = names + ["lambda"]
        coef = np.append(coef, est.gm.lam)
        cov = np.pad(cov, (0, 1), constant_values=np.nan)
    x_names = lay.x
    n, t = p.n, p.t
    total = parts.y - parts.z(p) @ est.fit.coef
    fixed: dict = {}
    resid = total
    if model.fe != "random":
        grand, mu, alpha = recover_effects(total, n, t, model.fe)
        fixed = {"intercept": grand, "entity": pd.Series(mu, index=pd.Index(d.ids, name=model.entity), name="mu")}
        if model.fe != "entity":
            fixed["time"] = pd.Series(alpha, index=pd.Index(d.periods, name=model.time), name="alpha")
        resid = total - grand - np.tile(mu, t) - np.repeat(alpha, n)
    yc = est.y_t - est.y_t.mean()
    ctx = None
    if parts.lag or lay.dx or lay.de:
        ctx = ImpactContext.for_fit(x_names + lay.endog, names, d.w, engine=_LazyEngine(d.w) if parts.lag else None,
                                    w_x=p.w_x)
    theta = 1.0 - np.sqrt(est.sigma2_v / est.sigma2_1) if model.fe == "random" else float("nan")
    fitted = parts.y - resid
    return GMResults(
        model=_model_name(model.model, lay), fe=model.fe, method="gm" if est.gm is not None else "2sls",
        params=pd.Series(coef, index=names, name="params"), cov_params=pd.DataFrame(cov, index=names, columns=names),
        sigma2=est.sigma2_v, sigma2_se=float("nan"), llf=float("nan"), nobs=n * t,
        n_eff=p.rank if model.fe != "random" else n * t, N=n, T=t, y_name=d.y_name, x_names=x_names,
        wx_names=[f"W*{c}" for c in lay.dx + lay.de], w_label=d.w_label, logdet_strategy="none (GM)",
        cov_type=COV_TYPE[model.cov],
        rsquared=1.0 - est.fit.sse / float(yc @ yc), rsquared_label="R2 (transformed)",
        corr2=float(np.corrcoef(parts.y, fitted)[0, 1] ** 2),
        **row_series(d.rows, d.order, fitted_values=fitted, resid=resid), fixed_effects=fixed,
        flags=est.flags, extra={"gm_criterion": est.gm.criterion if est.gm else None, "sse": est.fit.sse},
        _impact_ctx=ctx,
        moments=model.moments, estimator=est.estimator, instruments=est.instruments, endog=tuple(model.endog),
        external_instruments=tuple(model.instruments), sigma2_1=est.sigma2_1, theta=float(theta),
        first_stage=_first_stage(lay, parts, est, d.y_name), notes=notes,
    )
