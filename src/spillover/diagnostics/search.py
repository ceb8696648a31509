"""The specification sequence of Elhorst (2010, 2014) in one call.

Elhorst (2010), "Applied spatial econometrics: raising the bar", Spatial
Economic Analysis 5(1), 9-28, sec. 4; Elhorst (2014), sec. 3.3 and 3.6:

1. LM tests (classic and robust) on the non-spatial model with the chosen
   effects, pointing to a spatial lag or a spatial error model;
2. LR tests of the joint significance of unit and time effects (non-spatial
   model, direct likelihood);
3. the SDM, then Wald and LR tests of ``theta = 0`` (SAR) and of
   ``theta + rho beta = 0`` (SEM);
4. decision rule: both restrictions rejected -> SDM; ``theta = 0`` not rejected
   and the robust LM tests point to the lag -> SAR; the common factor not
   rejected and the robust LM tests point to the error -> SEM; otherwise SDM,
   the model that nests both;
5. Hausman test of random against fixed unit effects for the SDM (entity
   effects, direct method), as a report.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from spillover.labels import FE_TEXT, METHOD_TEXT
from spillover.diagnostics.tests import hausman, lr_test, wald_sdm_sar, wald_sdm_sem




def _model_text(model: str, fe: str, method: str | None = None) -> str:
    """``"SDM, two-way fixed effects, Lee-Yu transformation"``."""
    parts = [model, FE_TEXT.get(fe, fe)] + ([METHOD_TEXT.get(method, method)] if method else [])
    return ", ".join(parts)


@dataclass(frozen=True)
class SpecificationSearch:
    """Every statistic of the sequence, the chosen model, and the fitted models."""

    table: pd.DataFrame
    chosen: str
    reason: str
    models: dict

    def summary(self) -> str:
        body = self.table.to_string(float_format=lambda v: f"{v:.4f}")
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
) -> SpecificationSearch:
    """Run the Elhorst sequence; see the module docstring."""
    import spillover as sp
    from spillover.diagnostics.lm import lm_tests

    rows: list[dict] = []
    lm = lm_tests(formula, data, w, entity, time, fe=fe)
    for name, r in lm.iterrows():
        target = "SAR" if "lag" in name else "SEM"
        rows.append({"test": name, "stat": r["stat"], "df": int(r["df"]), "p": r["p"],
                     "points_to": target if r["p"] < alpha else "-", "model": _model_text("OLS", fe)})
    lag_r = lm.loc["robust_lm_lag", "p"] < alpha
    err_r = lm.loc["robust_lm_error", "p"] < alpha

    llf = {f: _nonspatial_llf(formula, data, w, entity, time, f) for f in ("twoways", "entity", "time")}
    n, t = data[entity].nunique(), data[time].nunique()
    for label, stat, df in (("LR unit effects", 2 * (llf["twoways"] - llf["time"]), n - 1),
                            ("LR time effects", 2 * (llf["twoways"] - llf["entity"]), t - 1)):
        p = float(stats.chi2.sf(stat, df))
        rows.append({"test": label, "stat": stat, "df": df, "p": p,
                     "points_to": "keep effects" if p < alpha else "drop effects", "model": "OLS, unit/time/two-way effects, likelihoods compared"})

    kw = dict(fe=fe, method=method)
    sdm = sp.SDM(formula, data, w, entity, time, **kw).fit()
    sar = sp.SAR(formula, data, w, entity, time, **kw).fit()
    sem = sp.SEM(formula, data, w, entity, time, **kw).fit()
    tests = {
        "wald_sar": wald_sdm_sar(sdm),
        "lr_sar": lr_test(sar, sdm, name="LR SDM vs SAR", null="theta = 0 (SAR)"),
        "wald_sem": wald_sdm_sem(sdm),
        "lr_sem": lr_test(sem, sdm, name="LR SDM vs SEM", null="theta + rho beta = 0 (SEM)"),
    }
    for key, tr in tests.items():
        alt = "SAR" if key.endswith("sar") else "SEM"
        rows.append({**tr.as_row(), "points_to": "SDM" if tr.p < alpha else alt, "model": _model_text("SDM", fe, method)})
        rows[-1].pop("null")
    sar_ok = tests["wald_sar"].p >= alpha and tests["lr_sar"].p >= alpha
    sem_ok = tests["wald_sem"].p >= alpha and tests["lr_sem"].p >= alpha

    if not sar_ok and not sem_ok:
        chosen, reason = "SDM", "Both theta = 0 and theta + rho beta = 0 are rejected (Wald and LR)."
    elif sar_ok and lag_r and not err_r:
        chosen, reason = "SAR", "theta = 0 is not rejected and the robust LM tests point to a spatial lag."
    elif sem_ok and err_r and not lag_r:
        chosen, reason = "SEM", "The common-factor restriction is not rejected and the robust LM tests point to a spatial error."
    else:
        chosen, reason = "SDM", ("The LM tests and the Wald/LR tests do not point to the same restricted model, "
                                 "so the SDM, which nests SAR and SEM, is kept (Elhorst 2010).")
    models = {"SDM": sdm, "SAR": sar, "SEM": sem}
    if hausman_test:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fe_m = sp.SDM(formula, data, w, entity, time, fe="entity", method="direct").fit()
            re_m = sp.SDM(formula, data, w, entity, time, fe="random").fit()
            h = hausman(fe_m, re_m)
        rows.append({**h.as_row(), "points_to": "undefined (negative statistic)" if np.isnan(h.p) else ("fixed effects" if h.p < alpha else "random effects"),
                     "model": "SDM, unit effects (demeaning) vs random effects"})
        rows[-1].pop("null")
        models.update({"SDM_fe_entity": fe_m, "SDM_random": re_m})
    table = pd.DataFrame(rows).set_index("test")[["model", "stat", "df", "p", "points_to"]]
    return SpecificationSearch(table=table, chosen=chosen, reason=reason, models=models)
