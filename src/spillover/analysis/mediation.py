"""Mediation analysis for panel and spatial panel models.

Stepwise mediation (Baron & Kenny 1986, *J. Personality and Social
Psychology* 51, 1173-1182), in the modern reading that tests the indirect
effect ``a b`` directly (MacKinnon, Lockwood, Hoffman, West & Sheets 2002,
*Psychological Methods* 7, 83-104; Zhao, Lynch & Chen 2010, *J. Consumer
Research* 37, 197-206) rather than requiring a significant total effect:

    (1) total    y = c  x + Z g1 + effects + e1
    (2) a-path   m = a  x + Z g2 + effects + e2
    (3) b-path   y = c' x + b m + Z g3 + effects + e3

All three use the same fixed effects (within estimator via
:func:`spillover.panel.fit_panel`). For linear least squares with the same
controls and effects the decomposition ``c = c' + a b`` is an exact algebraic
identity (MacKinnon, Warsi & Dwyer 1995, *Multivariate Behavioral Research*
30, 41-62), which the tests check.

Inference on ``a b``:

* Sobel (1982, *Sociological Methodology* 13, 290-312) first-order delta
  method: ``se(ab) = sqrt(b^2 se(a)^2 + a^2 se(b)^2)``, ``z = ab / se``.
* Cluster (by entity) bootstrap percentile interval (Cameron, Gelbach &
  Miller 2008, *REStud* 90, 414-427, pairs cluster bootstrap; Preacher &
  Hayes 2008 for percentile CIs of ``ab``): resample entities with
  replacement (duplicates become distinct entities), re-estimate (2) and (3)
  with the same effects, take the 2.5 and 97.5 percentiles of ``a* b*``.
  Draws come from ``numpy.random.SeedSequence(seed)``, one child per chunk of
  replications (:func:`spillover.engine.chunk_seeds`).

Spatial mediation (:func:`spatial_mediation`): SDM for the mediator and for
the outcome (with ``m`` and ``W m`` as regressors),

    m = rho_m W m + a x + theta_a W x + ...   =>  dE[m]/dx' = A = S_m (a I + theta_a W)
    y = rho_y W y + c' x + theta_c W x + b m + theta_b W m + ...
                                                =>  dE[y]/dm' = B = S_y (b I + theta_b W)

with ``S = (I - rho W)^-1``. The chain rule gives the N x N matrix of mediated
effects ``B A`` (the effect of x on y that runs through m, both own-region and
cross-region), summarised as LeSage & Pace (2009, eqs. 2.48-2.50) do for a
single impacts matrix: mediated direct = ``tr(BA)/N``, mediated total =
``1'BA1/N``, mediated indirect (spillover) = total - direct. With a
row-standardised W, ``A 1 = total_A 1``, so mediated total = total(x->m) x
total(m->y) exactly; the direct part is *not* the product of the direct
effects, since spillovers of x on m feed back into y. Standard errors by
simulation: independent draws from N(theta_hat, V_hat) of each equation
(seeded; draws with rho outside the admissible interval are replaced),
treating the two equations' estimators as independent as Sobel does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from spillover.engine import bootstrap_map
from spillover.errors import SpecificationError, format_error
from spillover.formula import parse, variables
from spillover.options import check_count, check_seed
from spillover.spatial.impacts import parameter_draws, rho_inside

__all__ = ["mediation", "spatial_mediation", "sobel", "MediationResult", "SpatialMediationResult"]


#: Row of :class:`SpatialMediationResult.table` holding the mediated effect ``B A``.
TOTAL = "x -> y (total, SDM without m)"
MEDIATED = "x -> m -> y (mediated BA)"


def sobel(a: float, se_a: float, b: float, se_b: float) -> tuple[float, float, float, float]:
    """Sobel (1982) test of ``a b``: returns (ab, se, z, two-sided p)."""
    ab = a * b
    se = float(np.sqrt(b ** 2 * se_a ** 2 + a ** 2 * se_b ** 2))
    z = ab / se if se > 0 else np.nan
    return float(ab), se, float(z), float(2 * stats.norm.sf(abs(z)))


def _split_formula(formula: str) -> tuple[str, str]:
    """Dependent variable and right-hand side text of ``formula`` (checked by :func:`spillover.formula.parse`)."""
    p = parse(formula)
    if p.endog:
        raise SpecificationError(format_error("mediation takes no [endog ~ instruments] part", value=formula))
    return p.lhs, formula.split("~", 1)[1].strip()


@dataclass
class MediationResult:
    """Stepwise mediation results.

    Attributes
    ----------
    c, c_prime, a, b : float
        Total effect, direct effect, a-path and b-path coefficients.
    indirect : float
        ``a b``.
    sobel_se, sobel_z, sobel_p : float
        Sobel (1982) inference.
    boot_ci : (float, float)
        Entity-cluster bootstrap percentile interval of ``a b``.
    boot_draws : numpy.ndarray
        Bootstrap draws of ``a b``.
    fits : dict
        linearmodels results ``{"total", "mediator", "outcome"}``.
    """

    treatment: str
    mediator: str
    outcome: str
    c: float
    c_se: float
    a: float
    a_se: float
    b: float
    b_se: float
    c_prime: float
    c_prime_se: float
    indirect: float
    sobel_se: float
    sobel_z: float
    sobel_p: float
    boot_ci: tuple[float, float]
    boot_se: float
    boot_draws: np.ndarray = field(repr=False)
    bootstrap: int = 0
    seed: int | None = 0
    fe: str = "twoways"
    fits: dict = field(default_factory=dict, repr=False)

    @property
    def proportion_mediated(self) -> float:
        return self.indirect / self.c if self.c != 0 else np.nan

    @property
    def table(self) -> pd.DataFrame:
        """Tidy table: one row per path (c, a, b, c', ab)."""
        rows = [
            ("total effect c", f"{self.outcome} ~ {self.treatment}", self.c, self.c_se),
            ("a path", f"{self.mediator} ~ {self.treatment}", self.a, self.a_se),
            ("b path", f"{self.outcome} ~ {self.mediator} | {self.treatment}", self.b, self.b_se),
            ("direct effect c'", f"{self.outcome} ~ {self.treatment} | {self.mediator}", self.c_prime, self.c_prime_se),
            ("indirect a*b (Sobel)", f"{self.treatment} -> {self.mediator} -> {self.outcome}", self.indirect, self.sobel_se),
        ]
        t = pd.DataFrame(rows, columns=["path", "equation", "estimate", "se"]).set_index("path")
        t["z"] = t["estimate"] / t["se"]
        t["p"] = 2 * stats.norm.sf(np.abs(t["z"]))
        t["ci_low"] = t["estimate"] - 1.959963984540054 * t["se"]
        t["ci_high"] = t["estimate"] + 1.959963984540054 * t["se"]
        t.loc["indirect a*b (Sobel)", ["ci_low", "ci_high"]] = list(self.boot_ci)
        t["ci"] = ["normal"] * 4 + [f"cluster bootstrap percentile ({self.bootstrap})"]
        return t

    def __repr__(self) -> str:
        return (f"MediationResult({self.treatment} -> {self.mediator} -> {self.outcome}: ab = {self.indirect:.4g}, "
                f"Sobel p = {self.sobel_p:.3g}, bootstrap CI = ({self.boot_ci[0]:.4g}, {self.boot_ci[1]:.4g}))")


def _within_coefs(y: np.ndarray, X: np.ndarray, ent: np.ndarray, tim: np.ndarray, fe: str) -> np.ndarray:
    """OLS coefficients after the within transformation (the same estimator fit_panel uses)."""
    from spillover.analysis.threshold import _Within

    if fe == "none":
        Z = np.column_stack([np.ones(len(y)), X])
        return np.linalg.lstsq(Z, y, rcond=None)[0][1:]
    if fe == "time":
        W = _Within(tim, ent, twoways=False)
    else:
        W = _Within(ent, tim, twoways=(fe == "twoways"))
    return np.linalg.lstsq(W(X), W(y), rcond=None)[0]


def mediation(formula: str, data: pd.DataFrame, entity: str, time: str, *, mediator: str, treatment: str,
              fe: str = "twoways", bootstrap: int = 500, seed: int | None = 0, alpha: float = 0.05, engine=None,
              cov: str = "unadjusted", **cov_kw) -> MediationResult:
    """Stepwise panel mediation with Sobel and entity-cluster bootstrap inference.

    Parameters
    ----------
    formula : str
        Total-effect equation ``"y ~ x + controls"`` (Baron & Kenny 1986, eq. 1);
        must contain ``treatment`` and not ``mediator``.
    mediator, treatment : str
        Column names of ``m`` and ``x``.
    fe : {"none", "entity", "time", "twoways"}
        Effects in all three equations (:func:`spillover.panel.fit_panel`).
    bootstrap : int
        Entity-cluster bootstrap replications for the percentile CI of ``a b``: 0 skips the
        bootstrap (the CI is then NaN), otherwise at least 2.
    seed : int or None
        Seed for ``numpy.random.SeedSequence``; replications run in seeded
        chunks (:func:`spillover.engine.bootstrap_map`), so the draws do not
        depend on where they run.
    engine : spillover.engine.Engine, optional
        Where the bootstrap chunks run (default: this process).
    cov, **cov_kw
        Covariance (linearmodels' ``cov_type``) for the reported SEs (e.g.
        ``cov="clustered", cluster_entity=True``).

    Returns
    -------
    MediationResult
    """
    from spillover.panel import fit_panel

    if fe == "random":
        raise SpecificationError(format_error("mediation needs a fixed-effects or pooled model", option="fe"))
    bootstrap = check_count(bootstrap, "bootstrap", minimum=2, zero="no bootstrap",
                            reason="a bootstrap interval and standard error need at least 2 replications")
    check_seed(seed)
    y, rhs = _split_formula(formula)
    terms = parse(formula).exog
    if treatment not in terms:
        raise SpecificationError(format_error("treatment is not a regressor of the formula", column=treatment))
    if mediator in terms:
        raise SpecificationError(format_error("the mediator must not be in the total-effect formula", column=mediator))
    controls = [t for t in terms if t != treatment]
    cols = [entity, time, mediator, treatment] + sorted(variables(formula) & set(data.columns))
    df = data[list(dict.fromkeys(cols))].dropna().sort_values([entity, time]).reset_index(drop=True)
    kw = dict(fe=fe, cov=cov, **cov_kw)
    f_total = fit_panel(formula, df, entity, time, **kw)
    f_med = fit_panel(f"{mediator} ~ {rhs}", df, entity, time, **kw)
    f_out = fit_panel(f"{y} ~ {rhs} + {mediator}", df, entity, time, **kw)
    c, c_se = float(f_total.params[treatment]), float(f_total.std_errors[treatment])
    a, a_se = float(f_med.params[treatment]), float(f_med.std_errors[treatment])
    b, b_se = float(f_out.params[mediator]), float(f_out.std_errors[mediator])
    cp, cp_se = float(f_out.params[treatment]), float(f_out.std_errors[treatment])
    ab, s_se, s_z, s_p = sobel(a, a_se, b, b_se)

    draws = np.empty(0)
    ci = (np.nan, np.nan)
    boot_se = np.nan
    if bootstrap:
        X = df[[treatment] + controls].to_numpy(dtype=float)
        XM = np.column_stack([X, df[mediator].to_numpy(dtype=float)])
        mv, yv = df[mediator].to_numpy(dtype=float), df[y].to_numpy(dtype=float)
        codes, ent = np.unique(df[entity].to_numpy(), return_inverse=True)
        tim = df[time].to_numpy()
        rows = [np.flatnonzero(ent == i) for i in range(len(codes))]
        payload = {"X": X, "XM": XM, "m": mv, "y": yv, "time": tim, "rows": rows, "fe": fe}
        draws = bootstrap_map(_ab_chunk, bootstrap, seed, payload, engine=engine,
                              name=f"mediation bootstrap ({mediator})")
        ci = tuple(float(v) for v in np.quantile(draws, [alpha / 2, 1 - alpha / 2]))
        boot_se = float(draws.std(ddof=1))
    return MediationResult(
        treatment=treatment, mediator=mediator, outcome=y, c=c, c_se=c_se, a=a, a_se=a_se, b=b, b_se=b_se,
        c_prime=cp, c_prime_se=cp_se, indirect=ab, sobel_se=s_se, sobel_z=s_z, sobel_p=s_p, boot_ci=ci,
        boot_se=boot_se, boot_draws=draws, bootstrap=int(bootstrap or 0), seed=seed, fe=fe,
        fits={"total": f_total, "mediator": f_med, "outcome": f_out},
    )


# ----------------------------------------------------------------------------- spatial


@dataclass
class SpatialMediationResult:
    """Spatial (SDM) mediation: impacts of each path and the mediated effect ``B A``.

    ``table`` has rows ``x -> m`` (A), ``m -> y | x`` (B), ``x -> y | m`` (the
    unmediated path), ``x -> m -> y`` (mediated, ``BA``) and, if fitted,
    ``x -> y (total)``; columns direct, indirect, total with ``_se`` and ``_p``.
    """

    table: pd.DataFrame
    fits: dict = field(repr=False)
    draws: int = 1000
    seed: int | None = 0
    mediated_draws: np.ndarray = field(default=None, repr=False)

    def __repr__(self) -> str:
        return "SpatialMediationResult\n" + self.table[["direct", "indirect", "total"]].to_string()


def _impact_matrix(Wd: np.ndarray, rho: float, b: float, t: float) -> np.ndarray:
    n = Wd.shape[0]
    S = np.linalg.inv(np.eye(n) - rho * Wd)
    return S @ (b * np.eye(n) + t * Wd)


def _summ(M: np.ndarray) -> tuple[float, float, float]:
    n = M.shape[0]
    d = np.trace(M) / n
    tot = M.sum() / n
    return d, tot - d, tot


def _draw(res, rng, draws: int) -> pd.DataFrame:
    accept = rho_inside("rho", res._impact_ctx.engine.bounds) if "rho" in res.params.index else None
    return parameter_draws(res.params, res.cov_params, draws, rng, accept)


def spatial_mediation(formula: str, data: pd.DataFrame, w, entity: str, time: str, *, mediator: str,
                      treatment: str, fe: str = "twoways", method: str = "lee-yu", draws: int = 1000, seed: int | None = 0,
                      total: bool = True) -> SpatialMediationResult:
    """Spatial Durbin mediation: mediated direct / spillover / total effects of ``treatment`` through ``mediator``.

    Fits ``m ~ rhs`` and ``y ~ rhs + m`` as SDMs (W*x for every regressor,
    including ``W m`` in the outcome equation) and, if ``total``, ``y ~ rhs``.
    The mediated-effect matrix is ``B A`` with ``A = S_m (a I + theta_a W)``
    and ``B = S_y (b I + theta_b W)`` (chain rule on the two reduced forms;
    summary measures of LeSage & Pace 2009, eqs. 2.48-2.50). See the module
    docstring for the decomposition and the simulation standard errors.

    Parameters
    ----------
    formula : str
        ``"y ~ x + controls"``.
    mediator, treatment : str
    w : libpysal.weights.W
        Row-standardised weights with ids equal to the entity values.
    fe, method : str
        Passed to :class:`spillover.SDM`.
    draws, seed : int
        Simulation draws (from each equation's N(theta_hat, V_hat)) and seed
        (``numpy.random.SeedSequence``).
    total : bool
        Also fit the total-effect SDM ``y ~ rhs`` and report its impacts.

    Returns
    -------
    SpatialMediationResult
    """
    from spillover.spatial.models import SDM

    draws = check_count(draws, "draws", minimum=2, reason="simulated standard errors need at least 2 draws")
    check_seed(seed)
    y, rhs = _split_formula(formula)
    if treatment not in parse(formula).exog:
        raise SpecificationError(format_error("treatment is not a regressor of the formula", column=treatment))
    res_m = SDM(f"{mediator} ~ {rhs}", data, w, entity, time, fe=fe, method=method).fit()
    res_y = SDM(f"{y} ~ {rhs} + {mediator}", data, w, entity, time, fe=fe, method=method).fit()
    res_t = SDM(formula, data, w, entity, time, fe=fe, method=method).fit() if total else None
    Wd = np.asarray(w.full()[0], dtype=float)
    wt = f"W*{treatment}"
    wm = f"W*{mediator}"

    def mats(pm, py):
        A = _impact_matrix(Wd, pm["rho"], pm[treatment], pm[wt])
        B = _impact_matrix(Wd, py["rho"], py[mediator], py[wm])
        C = _impact_matrix(Wd, py["rho"], py[treatment], py[wt])
        return A, B, C

    A, B, C = mats(res_m.params, res_y.params)
    est = {"x -> m (A)": _summ(A), "m -> y | x (B)": _summ(B), "x -> y | m (unmediated)": _summ(C),
           MEDIATED: _summ(B @ A)}
    ss = np.random.SeedSequence(seed)
    cm, cy, ct = ss.spawn(3)  # the first two children are those of spawn(2): adding ct leaves their draws alone
    dm = _draw(res_m, np.random.default_rng(cm), draws)
    dy = _draw(res_y, np.random.default_rng(cy), draws)
    sims = {k: np.empty((draws, 3)) for k in est}
    for r in range(draws):
        A_, B_, C_ = mats(dm.iloc[r], dy.iloc[r])
        sims["x -> m (A)"][r] = _summ(A_)
        sims["m -> y | x (B)"][r] = _summ(B_)
        sims["x -> y | m (unmediated)"][r] = _summ(C_)
        sims[MEDIATED][r] = _summ(B_ @ A_)
    if res_t is not None:  # the SDM without m, simulated the same way so that its interval is a percentile one too
        est[TOTAL] = _summ(_impact_matrix(Wd, res_t.params["rho"], res_t.params[treatment], res_t.params[wt]))
        dt = _draw(res_t, np.random.default_rng(ct), draws)
        sims[TOTAL] = np.array([_summ(_impact_matrix(Wd, p["rho"], p[treatment], p[wt])) for _, p in dt.iterrows()])
    rows = []
    for k, v in est.items():
        se = sims[k].std(axis=0, ddof=1)
        lo, hi = np.quantile(sims[k], [0.025, 0.975], axis=0)
        row = {"path": k}
        for i, part in enumerate(("direct", "indirect", "total")):
            row[part] = v[i]
            row[f"{part}_se"] = se[i]
            row[f"{part}_p"] = 2 * stats.norm.sf(abs(v[i] / se[i])) if se[i] > 0 else np.nan
            row[f"{part}_ci_low"], row[f"{part}_ci_high"] = lo[i], hi[i]
        rows.append(row)
    table = pd.DataFrame(rows).set_index("path")
    return SpatialMediationResult(table=table, fits={"mediator": res_m, "outcome": res_y, "total": res_t},
                                  draws=draws, seed=seed, mediated_draws=sims[MEDIATED])


def _ab_chunk(rng: np.random.Generator, size: int, p: dict) -> np.ndarray:
    """a*b on ``size`` entity-cluster bootstrap samples (pairs cluster bootstrap, Cameron et al. 2008)."""
    rows = p["rows"]
    n = len(rows)
    out = np.empty(size)
    for r in range(size):
        pick = rng.integers(0, n, size=n)
        idx = np.concatenate([rows[j] for j in pick])
        new_ent = np.concatenate([np.full(len(rows[j]), i) for i, j in enumerate(pick)])
        a_r = _within_coefs(p["m"][idx], p["X"][idx], new_ent, p["time"][idx], p["fe"])[0]
        b_r = _within_coefs(p["y"][idx], p["XM"][idx], new_ent, p["time"][idx], p["fe"])[-1]
        out[r] = a_r * b_r
    return out
