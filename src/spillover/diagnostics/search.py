"""The specification sequence of Elhorst (2010, 2014) and Halleck Vega & Elhorst (2015) in one call.

Elhorst (2010), "Applied spatial econometrics: raising the bar", Spatial
Economic Analysis 5(1), 9-28, sec. 4; Elhorst (2014), *Spatial Econometrics*,
sec. 3.3 and 3.6; Halleck Vega & Elhorst (2015), "The SLX model", Journal of
Regional Science 55(3), 339-363. Each step is a row of the table, in this order:

1. LR tests of the joint significance of unit and of time effects on the
   non-spatial model (Gaussian likelihood of the within regression, sigma2 =
   e'e/NT): the model with the chosen effects against the same model without
   unit (time) effects, df N - 1 (T - 1). An effect whose test does not reject
   at ``alpha`` is dropped, and every later step -- LM tests and spatial
   models -- uses the reduced effects (both dropped: no fixed effects). Each
   test keeps the other effect, so they are not a joint test of both.
2. LM tests (classic, Anselin 1988; robust, Anselin et al. 1996) on the
   non-spatial model with those effects, pointing to a spatial lag or error.
3. SLX (least squares): Wald test of ``theta = 0`` -- do the W X terms matter
   when there is no spatial lag of y or of the error (Halleck Vega & Elhorst
   2015 take the SLX as the point of departure)?
4. SDM: Wald and LR tests of ``theta = 0`` (SAR) and of ``theta + rho beta =
   0`` (SEM), and the Wald (squared z) test of ``rho = 0`` (SDM -> SLX).
5. SDEM: Wald test of ``lambda = 0`` (SDEM -> SLX).
6. A Hausman test of random against fixed unit effects for the SDM
   (:func:`spillover.diagnostics.tests.hausman`, one form, ``hausman_kind``,
   named in the row), as a report; only when unit effects are kept.

Decision (at level ``alpha``):

* neither rho in the SDM nor lambda in the SDEM is significant (rho and
  lambda do not matter once W X is in the model, Halleck Vega & Elhorst 2015):

  - the W X terms are significant (Wald in the SLX, or ``theta = 0`` rejected
    by the SDM's Wald or LR test) -> **SLX**;
  - else, if no LM test rejects and neither SDM restriction is rejected ->
    **OLS**: no spatial model, the non-spatial model with the effects kept;
* otherwise the general-to-specific rule of Elhorst (2010): both SDM
  restrictions rejected -> **SDM**; ``theta = 0`` not rejected and the robust
  LM tests point to the lag only -> **SAR**; the common factor not rejected
  and the robust LM tests point to the error only -> **SEM**; else **SDM**,
  the model that nests both.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from spillover.diagnostics.tests import (
    HAUSMAN_KINDS,
    HAUSMAN_MODEL_TEXT,
    hausman,
    lr_test,
    wald_sdm_sar,
    wald_sdm_sem,
    wald_zero,
)
from spillover.errors import SpecificationError, format_error
from spillover.labels import FE_TEXT, METHOD_TEXT

#: Why each model is chosen, in the words the tables print (translated in :mod:`spillover.report.i18n`).
REASONS = {
    "OLS": ("No LM test rejects, the W X terms are not significant (Wald in the SLX, Wald and LR in the SDM) and "
            "neither rho (SDM) nor lambda (SDEM) is, so no spatial model is needed: OLS with the effects kept "
            "(Halleck Vega & Elhorst 2015)."),
    "SLX": ("The W X terms are significant (Wald in the SLX, or Wald or LR in the SDM) but neither rho (SDM) nor "
            "lambda (SDEM) is, so the SLX model is chosen (Halleck Vega & Elhorst 2015)."),
    "SDM both": "Both theta = 0 and theta + rho beta = 0 are rejected (Wald and LR).",
    "SAR": "theta = 0 is not rejected and the robust LM tests point to a spatial lag.",
    "SEM": "The common-factor restriction is not rejected and the robust LM tests point to a spatial error.",
    "SDM": ("The LM tests and the Wald/LR tests do not point to the same restricted model, so the SDM, which nests "
            "SAR and SEM, is kept (Elhorst 2010)."),
}

#: What the LR tests of the effects say when they drop some, and the effects the later steps use.
DROPPED = {("entity",): "Unit effects are dropped (LR test).", ("time",): "Time effects are dropped (LR test).",
           ("entity", "time"): "Unit and time effects are dropped (LR test)."}
FITTED_WITH = "The spatial models are fitted with {}."

_LR_MODEL_TEXT = "OLS with and without these effects, likelihoods compared"
_FE_PARTS = {"none": (), "entity": ("entity",), "time": ("time",), "twoways": ("entity", "time")}


def _fe_from_parts(parts) -> str:
    parts = tuple(p for p in ("entity", "time") if p in parts)
    return {v: k for k, v in _FE_PARTS.items()}[parts]


def _model_text(model: str, fe: str, method: str | None = None) -> str:
    """``"SDM, two-way fixed effects, Lee-Yu transformation"`` (no method without fixed effects)."""
    parts = [model, FE_TEXT.get(fe, fe)] + ([METHOD_TEXT.get(method, method)] if method and fe != "none" else [])
    return ", ".join(parts)


@dataclass(frozen=True)
class SpecificationSearch:
    """Every step of the sequence, the chosen model, and the fitted models.

    Attributes
    ----------
    table : DataFrame
        One row per test, in the order of the steps (index ``test``; columns
        ``model``, ``stat``, ``df``, ``p``, ``points_to`` -- the step's decision).
    chosen : str
        "OLS", "SLX", "SAR", "SEM" or "SDM".
    reason : str
        Why, with the effects dropped by the LR tests, if any.
    models : dict
        The fitted models (``"SLX"``, ``"SDM"``, ``"SAR"``, ``"SEM"``, ``"SDEM"``, and for the Hausman test
        ``"SDM_fe_entity"``, ``"SDM_random"``).
    effects : str
        The fixed effects the LM tests and the spatial models use (``fe`` after the LR tests).
    hausman : HausmanResult or None
    """

    table: pd.DataFrame
    chosen: str
    reason: str
    models: dict
    effects: str = "twoways"
    hausman: object = None

    def summary(self) -> str:
        """The steps in order: test, model, statistic, df, p and the step's decision; then the choice."""
        t = self.table.reset_index()
        shown = pd.DataFrame({"step": np.arange(1, len(t) + 1), "test": t["test"], "model": t["model"],
                              "statistic": t["stat"], "df": t["df"], "p": t["p"], "decision": t["points_to"]})
        body = shown.to_string(index=False, float_format=lambda v: f"{v:.4f}")
        return f"{body}\n\nChosen model: {self.chosen}. {self.reason}"

    def __repr__(self) -> str:
        return self.summary()


def _nonspatial_llf(formula, data, w, entity, time, fe) -> float:
    """Gaussian log-likelihood of the within-transformed OLS model (n = NT)."""
    from spillover.spatial.design import build_design
    from spillover.spatial.transforms import demean

    d = build_design(formula, data, w, entity, time, intercept=(fe == "none"), wx=False)
    y = demean(d.y, d.n, d.t, fe)
    x = demean(d.x, d.n, d.t, fe)
    e = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
    nt = d.n * d.t
    return float(-nt / 2 * (np.log(2 * np.pi * (e @ e) / nt) + 1))


def specification_search(
    formula: str, data: pd.DataFrame, w, entity: str, time: str, *,
    fe: str = "twoways", method: str = "lee-yu", alpha: float = 0.05, hausman_test: bool = True,
    hausman_kind: str = "robust",
) -> SpecificationSearch:
    """Run the specification sequence (see the module docstring) and choose a model.

    Parameters
    ----------
    formula, data, w, entity, time
        As for :class:`spillover.SDM`.
    fe : "twoways" | "entity" | "time" | "none"
        The effects to start from; the LR tests may drop unit or time effects.
    method : "lee-yu" | "direct"
        Fixed-effects likelihood of the spatial models.
    alpha : float
        Level of every test.
    hausman_test : bool
        Add the Hausman test of random against fixed unit effects for the SDM.
    hausman_kind : "robust" | "splm" | "classic"
        Its form (:func:`spillover.diagnostics.tests.hausman`); the table's
        "model" column names it.
    """
    import spillover as sp
    from spillover.diagnostics.lm import lm_tests

    if fe not in _FE_PARTS:
        raise SpecificationError(format_error(f"fe={fe!r} is not supported by the specification search", option="fe",
                                              hint=f"choose one of {tuple(_FE_PARTS)}"))
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise SpecificationError(format_error(f"alpha={alpha!r} is not a level in (0, 1)", option="alpha"))
    if hausman_kind not in HAUSMAN_KINDS:
        raise SpecificationError(format_error(f"hausman_kind={hausman_kind!r} is not a Hausman test form",
                                              option="hausman_kind", hint=f"choose one of {tuple(HAUSMAN_KINDS)}"))

    rows: list[dict] = []

    def add(test: str, model: str, stat: float, df: int, p: float, decision: str) -> None:
        rows.append({"test": test, "model": model, "stat": float(stat), "df": int(df), "p": float(p),
                     "points_to": decision})

    # 1. LR tests of the effects, on the non-spatial model
    parts = _FE_PARTS[fe]
    n, t = data[entity].nunique(), data[time].nunique()
    dropped = []
    if parts:
        llf = {f: _nonspatial_llf(formula, data, w, entity, time, f)
               for f in {fe} | {_fe_from_parts(set(parts) - {p}) for p in parts}}
        for part, label, df in (("entity", "unit", n - 1), ("time", "time", t - 1)):
            if part not in parts:
                continue
            stat = 2 * (llf[fe] - llf[_fe_from_parts(set(parts) - {part})])
            p = float(stats.chi2.sf(stat, df))
            keep = p < alpha
            add(f"LR {label} effects", _LR_MODEL_TEXT, stat, df, p, f"{'keep' if keep else 'drop'} {label} effects")
            if not keep:
                dropped.append(part)
    used = _fe_from_parts(set(parts) - set(dropped))

    # 2. LM tests on the non-spatial model with the effects kept
    lm = lm_tests(formula, data, w, entity, time, fe=used)
    for name, r in lm.iterrows():
        target = "SAR" if "lag" in name else "SEM"
        add(name, _model_text("OLS", used), r["stat"], r["df"], r["p"], target if r["p"] < alpha else "-")
    lm_any = bool((lm["p"] < alpha).any())
    lag_r = lm.loc["robust_lm_lag", "p"] < alpha
    err_r = lm.loc["robust_lm_error", "p"] < alpha

    # 3. SLX: do the W X terms matter without rho and lambda?
    kw = dict(fe=used, method=method)
    slx = sp.SLX(formula, data, w, entity, time, fe=used).fit()
    w_slx = wald_zero(slx, slx.wx_names, name="Wald SLX vs OLS", null="theta = 0 (OLS)")
    add(w_slx.name, _model_text("SLX", used), w_slx.stat, w_slx.df, w_slx.p, "SLX" if w_slx.p < alpha else "OLS")

    # 4. SDM restrictions and rho; 5. lambda in the SDEM
    sdm = sp.SDM(formula, data, w, entity, time, **kw).fit()
    sar = sp.SAR(formula, data, w, entity, time, **kw).fit()
    sem = sp.SEM(formula, data, w, entity, time, **kw).fit()
    sdem = sp.SDEM(formula, data, w, entity, time, **kw).fit()
    tests = {
        "wald_sar": wald_sdm_sar(sdm),
        "lr_sar": lr_test(sar, sdm, name="LR SDM vs SAR", null="theta = 0 (SAR)"),
        "wald_sem": wald_sdm_sem(sdm),
        "lr_sem": lr_test(sem, sdm, name="LR SDM vs SEM", null="theta + rho beta = 0 (SEM)"),
    }
    for key, tr in tests.items():
        alt = "SAR" if key.endswith("sar") else "SEM"
        add(tr.name, _model_text("SDM", used, method), tr.stat, tr.df, tr.p, "SDM" if tr.p < alpha else alt)
    w_rho = wald_zero(sdm, ["rho"], name="Wald SDM vs SLX", null="rho = 0 (SLX)")
    add(w_rho.name, _model_text("SDM", used, method), w_rho.stat, w_rho.df, w_rho.p,
        "SDM" if w_rho.p < alpha else "SLX")
    w_lam = wald_zero(sdem, ["lambda"], name="Wald SDEM vs SLX", null="lambda = 0 (SLX)")
    add(w_lam.name, _model_text("SDEM", used, method), w_lam.stat, w_lam.df, w_lam.p,
        "SDEM" if w_lam.p < alpha else "SLX")

    sar_ok = tests["wald_sar"].p >= alpha and tests["lr_sar"].p >= alpha
    sem_ok = tests["wald_sem"].p >= alpha and tests["lr_sem"].p >= alpha
    no_rho_lambda = w_rho.p >= alpha and w_lam.p >= alpha
    wx_matter = w_slx.p < alpha or not sar_ok
    if no_rho_lambda and wx_matter:
        chosen, key = "SLX", "SLX"
    elif no_rho_lambda and not lm_any and sar_ok and sem_ok:
        chosen, key = "OLS", "OLS"
    elif not sar_ok and not sem_ok:
        chosen, key = "SDM", "SDM both"
    elif sar_ok and lag_r and not err_r:
        chosen, key = "SAR", "SAR"
    elif sem_ok and err_r and not lag_r:
        chosen, key = "SEM", "SEM"
    else:
        chosen, key = "SDM", "SDM"
    reason = REASONS[key]
    if dropped:
        reason = " ".join([DROPPED[tuple(dropped)], FITTED_WITH.format(FE_TEXT[used]), reason])
    models = {"SLX": slx, "SDM": sdm, "SAR": sar, "SEM": sem, "SDEM": sdem}

    # 6. Hausman, as a report
    h = None
    if hausman_test and "entity" in _FE_PARTS[used]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fe_m = sp.SDM(formula, data, w, entity, time, fe="entity", method=method).fit()
            re_m = sp.SDM(formula, data, w, entity, time, fe="random").fit()
            h = hausman(fe_m, re_m, kind=hausman_kind)
        decision = ("undefined (negative statistic)" if np.isnan(h.p)
                    else ("fixed effects" if h.p < alpha else "random effects"))
        add(h.name, f"SDM, {HAUSMAN_MODEL_TEXT[hausman_kind]}", h.stat, h.df, h.p, decision)
        models.update({"SDM_fe_entity": fe_m, "SDM_random": re_m})
    table = pd.DataFrame(rows).set_index("test")[["model", "stat", "df", "p", "points_to"]]
    return SpecificationSearch(table=table, chosen=chosen, reason=reason, models=models, effects=used, hausman=h)
