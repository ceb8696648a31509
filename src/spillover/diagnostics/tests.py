"""Likelihood-ratio, Wald and Hausman tests for spatial panel models.

* LR: ``2 (l_u - l_r)`` ~ chi2(df) (Wilks 1938); both models must be fitted on
  the same observations with comparable likelihoods (same ``method``).
* Joint significance of unit / time fixed effects (Elhorst 2014, sec. 3.3):
  LR of the two-way model against the model without unit (time) effects,
  df = N - 1 (T - 1). These likelihoods are comparable only under
  ``method="direct"`` (same n and Jacobian), which the test uses.
* SDM restrictions (Elhorst 2010, Spatial Economic Analysis 5(1), 9-28;
  Burridge 1981 for the common factor): ``theta = 0`` (SDM -> SAR) and
  ``theta + rho beta = 0`` (SDM -> SEM). The Wald statistic for the
  nonlinear one uses the delta method with Jacobian
  ``[rho I | I | beta]`` with respect to ``(beta, theta, rho)``.
* Hausman (1978) for fixed vs random effects:
  ``(b_FE - b_RE)' [V_FE - V_RE]^-1 (b_FE - b_RE)`` over the coefficients both
  models estimate; a generalised inverse is used, and a warning issued, when
  the difference of covariances is not positive definite.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class TestResult:
    """A test statistic with its reference distribution chi2(df)."""

    name: str
    stat: float
    df: int
    p: float
    null: str

    def as_row(self) -> dict:
        return {"test": self.name, "stat": self.stat, "df": self.df, "p": self.p, "null": self.null}

    def __repr__(self) -> str:
        return f"{self.name}: stat = {self.stat:.4f}, df = {self.df}, p = {self.p:.4g}  (H0: {self.null})"


def _chi2(name: str, stat: float, df: int, null: str) -> TestResult:
    return TestResult(name, float(stat), int(df), float(stats.chi2.sf(stat, df)), null)


def lr_test(restricted, unrestricted, *, name: str = "LR", null: str = "restricted model") -> TestResult:
    """``2 (llf_u - llf_r)`` with df = difference in the number of parameters."""
    if restricted.nobs != unrestricted.nobs:
        raise ValueError("LR test: the two models were fitted on different numbers of observations")
    df = unrestricted.df_model - restricted.df_model
    if df <= 0:
        raise ValueError("LR test: the unrestricted model must have more parameters")
    return _chi2(name, 2.0 * (unrestricted.llf - restricted.llf), df, null)


def fe_lr_tests(model_cls, formula, data, w, entity, time, **kw) -> pd.DataFrame:
    """LR tests of the joint significance of unit and of time fixed effects (method="direct")."""
    kw = {**kw, "method": "direct"}
    two = model_cls(formula, data, w, entity, time, fe="twoways", **kw).fit()
    ent = model_cls(formula, data, w, entity, time, fe="entity", **kw).fit()
    tim = model_cls(formula, data, w, entity, time, fe="time", **kw).fit()
    rows = [
        _chi2("LR unit effects", 2 * (two.llf - tim.llf), two.N - 1, "no unit fixed effects").as_row(),
        _chi2("LR time effects", 2 * (two.llf - ent.llf), two.T - 1, "no time fixed effects").as_row(),
    ]
    return pd.DataFrame(rows).set_index("test")


def _sdm_blocks(res):
    if res.model != "SDM":
        raise ValueError(f"this test needs an SDM result, got {res.model}")
    xs = [c for c in res.x_names if c != "Intercept" and f"W*{c}" in res.params.index]
    ws = [f"W*{c}" for c in xs]
    return xs, ws


def wald_sdm_sar(res) -> TestResult:
    """Wald test of ``theta = 0`` in an SDM (does it reduce to SAR?)."""
    xs, ws = _sdm_blocks(res)
    th = res.params[ws].to_numpy()
    v = res.cov_params.loc[ws, ws].to_numpy()
    return _chi2("Wald SDM vs SAR", th @ np.linalg.solve(v, th), len(ws), "theta = 0 (SAR)")


def wald_sdm_sem(res) -> TestResult:
    """Wald test of the common-factor restriction ``theta + rho beta = 0`` (SDM -> SEM), delta method."""
    xs, ws = _sdm_blocks(res)
    b = res.params[xs].to_numpy()
    th = res.params[ws].to_numpy()
    rho = float(res.params["rho"])
    g = th + rho * b
    k = len(xs)
    names = xs + ws + ["rho"]
    jac = np.hstack([rho * np.eye(k), np.eye(k), b[:, None]])
    v = jac @ res.cov_params.loc[names, names].to_numpy() @ jac.T
    return _chi2("Wald SDM vs SEM", g @ np.linalg.solve(v, g), k, "theta + rho beta = 0 (SEM)")


def hausman(fe_result, re_result) -> TestResult:
    """Hausman (1978) test of random against fixed effects on the common coefficients."""
    common = [c for c in fe_result.params.index if c in re_result.params.index and c != "Intercept"]
    d = fe_result.params[common].to_numpy() - re_result.params[common].to_numpy()
    v = fe_result.cov_params.loc[common, common].to_numpy() - re_result.cov_params.loc[common, common].to_numpy()
    eig = np.linalg.eigvalsh((v + v.T) / 2)
    if eig.min() <= 0:
        warnings.warn(
            "Hausman: V_FE - V_RE is not positive definite; a generalised inverse is used and df = its rank",
            RuntimeWarning,
            stacklevel=2,
        )
        stat = float(d @ np.linalg.pinv(v) @ d)
        df = int(np.sum(np.abs(eig) > 1e-12 * max(abs(eig).max(), 1e-300)))
    else:
        stat = float(d @ np.linalg.solve(v, d))
        df = len(common)
    if stat < 0:
        warnings.warn(
            f"Hausman statistic is negative ({stat:.4f}): the test is not informative here (p reported as NaN)",
            RuntimeWarning,
            stacklevel=2,
        )
        return TestResult("Hausman FE vs RE", stat, max(df, 1), float("nan"), "random effects consistent")
    return _chi2("Hausman FE vs RE", stat, max(df, 1), "random effects consistent")
