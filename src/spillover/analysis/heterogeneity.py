"""Regional heterogeneity: full-sample regime SDM and sub-sample SDMs.

Regime SDM
----------
One spatial Durbin model on the full sample with regime-specific slopes of
``var`` (e.g. ``dei``): the regressor is replaced by the interactions
``var x 1(region = g)`` for every group ``g``, and, through the SDM's W*x
mechanism, their spatial lags ``W (var x 1(region = g))``:

    y = rho W y + sum_g [beta_g D_g x + theta_g W D_g x] + Z b + W Z t + effects + e

(``D_g`` the diagonal group indicator; regime SDMs in the sense of Anselin
1988, ch. 9, spatial regimes, with the Durbin terms of LeSage & Pace 2009,
ch. 2). Equality of the regional effects is the linear restriction
``R b = 0`` with rows ``beta_g - beta_G`` (and ``theta_g - theta_G``),
``g = 1..G-1``, tested by the Wald statistic
``(R b)' (R V R')^-1 (R b) ~ chi2(rank R)`` (Greene 2018, eq. 5-23), with ``V``
the ML covariance of the SDM.

Regime-specific impacts
-----------------------
The effect on E[y] of a change in ``var`` at unit ``j`` of group ``g`` is
column ``j`` of ``M_g = S (beta_g I + theta_g W)``, ``S = (I - rho W)^-1``.
Following the LeSage & Pace (2009, eqs. 2.48-2.50) summaries restricted to
the units of group g: direct_g = mean over j in g of ``M_g[j, j]``,
total_g = mean over j in g of the column sum ``1' M_g[:, j]`` (the total
effect *from* a unit of group g on all regions), indirect_g = total_g -
direct_g. Standard errors by simulation from N(theta_hat, V_hat) with a seed.
The standard impacts table of the fit (averaging over all N units, as if
every unit belonged to g) is also returned.

Sub-samples
-----------
``subsample_sdm`` fits the SDM on one group with W restricted to the group's
sub-graph (``libpysal.weights.w_subset``) and row-standardised again.
Units with no neighbour inside the group (islands) make the
row-standardised W singular in its rows: they are reported by id, and either
raise (``islands="raise"``) or are dropped from W and data (``"drop"``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from spillover.diagnostics.tests import TestResult
from spillover.errors import SpecificationError, format_error
from spillover.options import check_count, check_seed
from spillover.spatial.impacts import parameter_draws, rho_inside

__all__ = ["regime_sdm", "subsample_sdm", "wald_linear", "RegimeSDMResult", "SubsampleResult"]


def wald_linear(params: pd.Series, cov: pd.DataFrame, R: np.ndarray, r: np.ndarray | None = None, *,
                name: str = "Wald", null: str = "R b = r") -> TestResult:
    """Wald test of ``R b = r``: ``(Rb - r)' (R V R')^-1 (Rb - r) ~ chi2(rank R)`` (Greene 2018, eq. 5-23)."""
    b = params.to_numpy(dtype=float)
    V = cov.to_numpy(dtype=float)
    R = np.atleast_2d(np.asarray(R, dtype=float))
    r = np.zeros(R.shape[0]) if r is None else np.asarray(r, dtype=float)
    d = R @ b - r
    stat = float(d @ np.linalg.pinv(R @ V @ R.T) @ d)
    df = int(np.linalg.matrix_rank(R))
    return TestResult(name, stat, df, float(stats.chi2.sf(stat, df)), null)


def _safe(g) -> str:
    return re.sub(r"\W+", "_", str(g)).strip("_")


@dataclass
class RegimeSDMResult:
    """Result of :func:`regime_sdm`.

    Attributes
    ----------
    fit : SpatialResults
        The regime SDM.
    wald : TestResult
        Equality of the regional effects (``beta`` and, with ``test="both"``, ``theta``).
    wald_tests : pandas.DataFrame
        Wald tests for beta only, theta only and both.
    impacts : pandas.DataFrame
        Regime-specific impacts (rows = groups; direct, indirect, total, _se, _p).
    impacts_standard : pandas.DataFrame
        The fit's standard impacts table (all regressors).
    columns : dict
        Group -> name of the interaction regressor.
    """

    fit: object
    wald: TestResult
    wald_tests: pd.DataFrame
    impacts: pd.DataFrame
    impacts_standard: pd.DataFrame
    columns: dict
    var: str
    regime_col: str
    groups: list = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """Regime impacts with the Wald test of equal effects in the ``attrs``."""
        t = self.impacts.copy()
        t.attrs["wald"] = self.wald.as_row()
        return t


def _regime_impacts(params: pd.DataFrame, Wd: np.ndarray, cols: dict, members: dict) -> np.ndarray:
    """(draws, G, 3) direct, indirect, total for each group."""
    n = Wd.shape[0]
    out = np.empty((len(params), len(cols), 3))
    eye = np.eye(n)
    for r, (_, p) in enumerate(params.iterrows()):
        S = np.linalg.inv(eye - p["rho"] * Wd)
        SW = S @ Wd
        for k, (g, c) in enumerate(cols.items()):
            M = p[c] * S + p[f"W*{c}"] * SW
            idx = members[g]
            d = np.mean(np.diag(M)[idx])
            tot = np.mean(M[:, idx].sum(axis=0))
            out[r, k] = (d, tot - d, tot)
    return out


def regime_sdm(formula: str, data: pd.DataFrame, w, entity: str, time: str, *, regime_col: str,
               var: str, groups: list | None = None, fe: str = "twoways", method: str = "lee-yu",
               test: str = "both", draws: int = 1000, seed: int | None = 0) -> RegimeSDMResult:
    """Full-sample SDM with regime-specific slopes of ``var`` and a Wald test of equal regional effects.

    Parameters
    ----------
    formula : str
        ``"y ~ var + controls"``; ``var`` is replaced by its regime interactions.
    w : libpysal.weights.W
        Row-standardised weights (ids = entity values).
    regime_col : str
        Time-invariant group column (e.g. ``"region"``).
    groups : list, optional
        Groups and their order (default: sorted unique values); the last one is
        the reference row of ``R``.
    test : {"both", "beta", "theta"}
        Restrictions of the reported Wald test: equal ``beta_g`` and equal
        ``theta_g`` (``2(G-1)`` restrictions), or only one of the two sets.
    draws, seed : int
        Simulation draws and seed for the regime impacts.

    Returns
    -------
    RegimeSDMResult
    """
    from spillover.spatial.models import SDM

    from spillover.formula import parse

    draws = check_count(draws, "draws", minimum=2, reason="simulated standard errors need at least 2 draws")
    check_seed(seed)
    parsed = parse(formula)
    lhs, terms = parsed.lhs, parsed.exog
    if var not in terms:
        raise SpecificationError(format_error("var is not a regressor of the formula", column=var))
    if regime_col not in data.columns:
        raise SpecificationError(format_error("regime column not in the data", column=regime_col))
    groups = sorted(data[regime_col].dropna().unique()) if groups is None else list(groups)
    if len(groups) < 2:
        raise SpecificationError(format_error("need at least two groups", option="groups"))
    missing = set(data[regime_col].dropna().unique()) - set(groups)
    if missing:
        raise SpecificationError(format_error("groups do not cover every value of the regime column",
                                              column=regime_col, value=sorted(missing)))
    df = data.copy()
    cols = {}
    for g in groups:
        c = f"{var}_x_{_safe(g)}"
        df[c] = df[var] * (df[regime_col] == g).astype(float)
        cols[g] = c
    new_terms = [t for t in terms if t != var]
    f = f"{lhs} ~ " + " + ".join(list(cols.values()) + new_terms)
    fit = SDM(f, df, w, entity, time, fe=fe, method=method).fit()

    names = list(fit.params.index)
    G = len(groups)

    def R_for(prefix: str) -> np.ndarray:
        R = np.zeros((G - 1, len(names)))
        ref = names.index(prefix + cols[groups[-1]])
        for i, g in enumerate(groups[:-1]):
            R[i, names.index(prefix + cols[g])] = 1.0
            R[i, ref] = -1.0
        return R

    Rb, Rt = R_for(""), R_for("W*")
    tests = {
        "beta": wald_linear(fit.params, fit.cov_params, Rb, name=f"Wald equal {var} (beta)",
                            null=f"the coefficient of {var} (beta) is equal across {regime_col}"),
        "theta": wald_linear(fit.params, fit.cov_params, Rt, name=f"Wald equal W*{var} (theta)",
                             null=f"the coefficient of W*{var} (theta) is equal across {regime_col}"),
        "both": wald_linear(fit.params, fit.cov_params, np.vstack([Rb, Rt]), name=f"Wald equal {var} (beta, theta)",
                            null=f"the coefficients of {var} and W*{var} are equal across {regime_col}"),
    }
    if test not in tests:
        raise SpecificationError(format_error(f"test={test!r}", option="test", hint="beta, theta or both"))
    wald_tab = pd.DataFrame([t.as_row() for t in tests.values()], index=list(tests))

    # regime-specific impacts on the W ordering
    Wd, ids = w.full()
    Wd = np.asarray(Wd, dtype=float)
    unit_group = df.drop_duplicates(entity).set_index(entity)[regime_col]
    members = {g: np.array([i for i, u in enumerate(ids) if unit_group.get(u) == g]) for g in groups}
    point = _regime_impacts(fit.params.to_frame().T, Wd, cols, members)[0]
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    sample = parameter_draws(fit.params, fit.cov_params, draws, rng, rho_inside("rho", fit._impact_ctx.engine.bounds))
    sims = _regime_impacts(sample, Wd, cols, members)
    se = sims.std(axis=0, ddof=1)
    imp = pd.DataFrame(index=pd.Index(groups, name=regime_col))
    for i, part in enumerate(("direct", "indirect", "total")):
        imp[part] = point[:, i]
    for i, part in enumerate(("direct", "indirect", "total")):
        imp[f"{part}_se"] = se[:, i]
    for i, part in enumerate(("direct", "indirect", "total")):
        with np.errstate(divide="ignore", invalid="ignore"):
            imp[f"{part}_p"] = 2 * stats.norm.sf(np.abs(point[:, i] / se[:, i]))
    imp["n_units"] = [len(members[g]) for g in groups]
    return RegimeSDMResult(fit=fit, wald=tests[test], wald_tests=wald_tab, impacts=imp,
                           impacts_standard=fit.impacts(draws=draws, seed=seed).table, columns=cols, var=var,
                           regime_col=regime_col, groups=groups)


@dataclass
class SubsampleResult:
    """Result of :func:`subsample_sdm`: the fit, the sub-sample W and the islands found."""

    fit: object
    w: object
    group: object
    units: list
    islands: list
    dropped: list


def subset_weights(w, ids, *, islands: str = "raise"):
    """W restricted to ``ids`` and row-standardised again; returns (W, islands, dropped).

    The restriction keeps W's weights (not only its links): row ``i`` of the
    result is ``w_ij / sum_{k in ids} w_ik`` over the kept units, which is the
    same whether W was row-standardised before or not. A unit whose kept row
    sums to zero is an island. Raises ``SpecificationError`` naming the
    islands when ``islands="raise"``.
    """
    import libpysal

    if islands not in ("raise", "drop"):
        raise SpecificationError(format_error(f"islands={islands!r}", option="islands", hint="'raise' or 'drop'"))
    keep = [i for i in w.id_order if i in set(ids)]
    unknown = set(ids) - set(w.id_order)
    if unknown:
        raise SpecificationError(format_error("ids not in W", value=sorted(map(str, unknown))[:10]))
    full, order = w.full()
    pos = {u: k for k, u in enumerate(order)}

    def restrict(units: list) -> tuple[np.ndarray, list]:
        ix = [pos[u] for u in units]
        sub = np.asarray(full)[np.ix_(ix, ix)]
        return sub, [u for u, r in zip(units, sub.sum(axis=1), strict=True) if r <= 0]

    sub, isl = restrict(keep)
    dropped = []
    if isl:
        if islands == "raise":
            raise SpecificationError(format_error(
                f"{len(isl)} unit(s) have no neighbour inside the sub-sample (islands): {', '.join(map(str, isl))}",
                option="islands", hint="pass islands='drop' to drop them, or use another W"))
        dropped = isl
        keep = [i for i in keep if i not in set(isl)]
        sub, more = restrict(keep)
        if more:  # dropping islands can leave new ones
            inner, _, extra = subset_weights(w, keep, islands="drop")
            return inner, isl + [u for u in more if u not in isl], dropped + list(extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ws = libpysal.weights.full2W(sub / sub.sum(axis=1, keepdims=True), ids=keep)
    ws.transform = "r"
    return ws, isl, dropped


def subsample_sdm(formula: str, data: pd.DataFrame, w, entity: str, time: str, *, regime_col: str | None = None,
                  group=None, units: list | None = None, islands: str = "raise", fe: str = "twoways",
                  method: str = "lee-yu", **kw) -> SubsampleResult:
    """SDM on one group (or an explicit unit list) with W restricted to the sub-graph and re-standardised.

    Parameters
    ----------
    group : object
        Value of ``regime_col`` selecting the units (ignored if ``units`` is given).
    islands : {"raise", "drop"}
        Units without a neighbour in the sub-sample: raise an error naming them,
        or drop them from W and the data (listed in ``SubsampleResult.dropped``).
    **kw
        Passed to :class:`spillover.SDM`.
    """
    from spillover.spatial.models import SDM

    if units is None:
        if group is None or regime_col is None:
            raise SpecificationError(format_error("give units, or group with its regime_col", option="group"))
        units = sorted(data.loc[data[regime_col] == group, entity].unique())
    if len(units) == 0:
        raise SpecificationError(format_error("no units in the sub-sample", value=group))
    ws, isl, dropped = subset_weights(w, list(units), islands=islands)
    keep = list(ws.id_order)
    sub = data[data[entity].isin(keep)]
    fit = SDM(formula, sub, ws, entity, time, fe=fe, method=method, **kw).fit()
    return SubsampleResult(fit=fit, w=ws, group=group, units=keep, islands=isl, dropped=dropped)
