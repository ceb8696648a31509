"""Immutable results of a spatial panel fit."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats


def row_series(index, order, **columns) -> dict[str, pd.Series]:
    """Stacked (time-major) arrays as Series on the user's rows: ``index[order]``, sorted back.

    ``row_series(data.index, d.order, fitted_values=f, resid=r)`` gives the
    ``fitted_values`` and ``resid`` fields of a results object.
    """
    idx = index[order]
    names = {"fitted_values": "fitted"}
    return {k: pd.Series(v, index=idx, name=names.get(k, k)).sort_index() for k, v in columns.items()}


class Inference:
    """Wald inference, information criteria and flags shared by every spatial results class.

    Needs ``params`` (Series), ``cov_params`` (DataFrame), ``llf``, ``nobs``
    and ``flags``; normal (z) reference distribution, as for maximum likelihood.
    """

    params: pd.Series
    cov_params: pd.DataFrame
    llf: float
    flags: tuple[str, ...]

    @property
    def bse(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.cov_params.to_numpy())), index=self.params.index, name="bse")

    @property
    def std_errors(self) -> pd.Series:  # linearmodels name
        return self.bse

    @property
    def tvalues(self) -> pd.Series:
        return (self.params / self.bse).rename("z")

    @property
    def pvalues(self) -> pd.Series:
        return pd.Series(2 * stats.norm.sf(np.abs(self.tvalues)), index=self.params.index, name="p")

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        q = stats.norm.ppf(1 - alpha / 2)
        return pd.DataFrame(
            {"lower": self.params - q * self.bse, "upper": self.params + q * self.bse}, index=self.params.index
        )

    @property
    def converged(self) -> bool:
        """False when the fit is flagged (not converged, at a bound, outside the stable region)."""
        return not self.flags

    @property
    def df_model(self) -> int:
        """Number of estimated parameters, sigma2 included."""
        return len(self.params) + 1

    @property
    def aic(self) -> float:
        return float(-2 * self.llf + 2 * self.df_model)

    @property
    def bic(self) -> float:
        return float(-2 * self.llf + np.log(self.nobs) * self.df_model)

    def summary_frame(self) -> pd.DataFrame:
        ci = self.conf_int()
        return pd.DataFrame({"coef": self.params, "std err": self.bse, "z": self.tvalues, "P>|z|": self.pvalues,
                             "[0.025": ci["lower"], "0.975]": ci["upper"]})


#: What a fit says when its log-determinant was approximated (:mod:`spillover.spatial.logdet`).
APPROXIMATE_LOGDET = ("log-determinant and traces by Monte Carlo (Barry & Pace 1999), an approximation; "
                      "logdet='lu' is exact")
APPROXIMATE_GTG = ("tr(G'G) of the expected information estimated (Hutchinson 1990) above 3,000 units; "
                   "cov='hessian' is exact")


@dataclass(frozen=True, eq=False)
class SpatialResults(Inference):
    """Estimates, inference and fit statistics of one spatial panel model.

    ``params``/``bse``/``tvalues``/``pvalues`` are indexed by the regressors,
    their ``W*`` terms, ``rho`` and/or ``lambda`` (``sigma2`` is reported
    separately; its variance is in ``cov_params_full``).
    """

    model: str
    fe: str
    method: str
    params: pd.Series
    cov_params: pd.DataFrame
    sigma2: float
    sigma2_se: float
    llf: float
    nobs: int
    n_eff: int
    N: int
    T: int
    y_name: str
    x_names: list[str]
    wx_names: list[str]
    w_label: str
    logdet_strategy: str
    cov_type: str
    rsquared: float
    rsquared_label: str
    corr2: float
    fitted_values: pd.Series
    resid: pd.Series
    fixed_effects: dict
    flags: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict, repr=False)
    _impact_ctx: object = field(default=None, repr=False)

    @classmethod
    def from_fit(cls, *, theta: np.ndarray, names: list[str], cov_full: np.ndarray, y: np.ndarray,
                 resid: np.ndarray, rows: pd.Index, order: np.ndarray, **fields) -> SpatialResults:
        """The results of a maximum-likelihood fit, from what every fit has in common.

        ``theta`` is the estimate (coefficients and spatial parameters, named
        by ``names``, then any nuisance parameters, ``sigma2`` last),
        ``cov_full`` its covariance; ``y`` and ``resid`` are stacked time-major, ``rows``
        and ``order`` map them back to the user's rows. ``fields`` are the
        remaining attributes (model, fe, method, llf, nobs, N, T, labels,
        flags, extra, ...).
        """
        fitted = y - resid
        k = len(names)
        return cls(params=pd.Series(theta[:k], index=names, name="params"),
                   cov_params=pd.DataFrame(cov_full[:k, :k], index=names, columns=names),
                   sigma2=float(theta[-1]), sigma2_se=float(np.sqrt(cov_full[-1, -1])),
                   corr2=float(np.corrcoef(y, fitted)[0, 1] ** 2),
                   **row_series(rows, order, fitted_values=fitted, resid=resid), **fields)

    @property
    def rho(self) -> float | None:
        return float(self.params["rho"]) if "rho" in self.params else None

    @property
    def lam(self) -> float | None:
        return float(self.params["lambda"]) if "lambda" in self.params else None

    # -- impacts -----------------------------------------------------------
    def impacts(self, draws: int = 1000, seed: int | None = 0, method: str = "simulation"):
        """Direct, indirect and total effects (LeSage & Pace 2009, ch. 2.7).

        ``method="simulation"`` draws ``draws`` parameter vectors from
        N(theta_hat, V_hat) with ``seed``; ``method="delta"`` uses the delta
        method. See :mod:`spillover.spatial.impacts`.
        """
        from spillover.spatial.impacts import compute_impacts

        if self._impact_ctx is None:
            raise ValueError(f"impacts are not defined for the {self.model} model")
        return compute_impacts(self, self._impact_ctx, draws=draws, seed=seed, method=method)

    # -- display -----------------------------------------------------------
    def summary(self) -> str:
        """Plain-text summary: :meth:`header` lines, then the coefficient table, between rules."""
        head = self.header()
        if self.flags:
            head.append("WARNING: " + "; ".join(self.flags))
        body = self.summary_frame().to_string(float_format=lambda v: f"{v: .6f}")
        rule = "=" * max(len(line) for line in head + body.splitlines())
        return "\n".join([rule, *head, rule, body, rule])

    def header(self) -> list[str]:
        """The summary's header: model, fe, method, W, N, T and log-determinant (an estimator may override)."""
        head = [
            f"{self.model} spatial panel (maximum likelihood)" if self.model != "SLX" else "SLX panel (least squares)",
            f"Dependent variable: {self.y_name}",
            f"Fixed effects: {self.fe}    Method: {self.method}    Covariance: {self.cov_type}",
            f"Weights: {self.w_label}    Log-determinant: {self.logdet_strategy}",
            f"N = {self.N}   T = {self.T}   NT = {self.nobs}   effective n = {self.n_eff}",
            f"sigma2 = {self.sigma2:.6g}   log-likelihood = {self.llf:.4f}   AIC = {self.aic:.3f}   BIC = {self.bic:.3f}",
            f"{self.rsquared_label} = {self.rsquared:.4f}   corr^2(y, fitted) = {self.corr2:.4f}",
        ]
        head += [f"Note: {note}" for note in self.approximations]
        return head

    @property
    def logdet_approximated(self) -> bool:
        """True when a log-determinant of the fit was approximated (the "mc" strategy)."""
        return "mc" in str(self.logdet_strategy).split(",")

    @property
    def approximations(self) -> tuple[str, ...]:
        """What the fit approximated, as notes for the summary and tables: a Monte Carlo log-determinant, or
        (strategy "lu" above :data:`spillover.spatial.logdet.GTG_EXACT_MAX` units) the expected information's
        ``tr(G'G)``."""
        from spillover.spatial.logdet import GTG_EXACT_MAX

        if self.logdet_approximated:
            return (APPROXIMATE_LOGDET,)
        if "lu" in str(self.logdet_strategy).split(",") and self.N > GTG_EXACT_MAX and self.cov_type == "information":
            return (APPROXIMATE_GTG,)
        return ()

    def __repr__(self) -> str:
        return self.summary()
