"""Fixed-effects panel threshold regression (Hansen 1999).

Hansen, B. E. (1999). Threshold effects in non-dynamic panels: estimation,
testing, and inference. *Journal of Econometrics* 93, 345-368.

Model (Hansen eq. 1, with ``k`` regime-dependent regressors ``x`` and common
controls ``z``)::

    y_it = mu_i [+ lambda_t] + z_it' delta + x_it' beta_1 I(q_it <= g)
           + x_it' beta_2 I(q_it > g) + e_it

* Estimation (Hansen eqs. 5-11): the within transformation removes ``mu_i``
  (and ``lambda_t`` for ``fe="twoways"``); for each candidate ``g`` the slopes
  are OLS on the transformed data and ``S1(g)`` is the residual sum of squares.
  ``g_hat = argmin S1(g)`` over a trimmed grid; ``beta_hat = beta_hat(g_hat)``
  with ``Var(beta_hat) = sigma2 (X*'X*)^-1`` (eq. 11),
  ``sigma2 = S1(g_hat) / (n (T - 1))`` (eq. 10; ``(n-1)(T-1)`` with time
  effects).
* Test of no threshold (eq. 12): ``F1 = (S0 - S1(g_hat)) / sigma2``. Its
  null distribution is non-standard (``g`` unidentified), so the p-value is
  the fixed-regressor bootstrap of Hansen sec. 3.2 (after eq. 12): keep the
  regressors and ``q`` fixed, resample the individuals' *vectors* of
  within residuals (from the alternative model) with replacement, and
  recompute ``F1`` on each bootstrap sample (``y* = e*`` suffices since the
  statistic is invariant to the null coefficients). Draws use
  ``numpy.random.SeedSequence(seed)``, so reruns are identical.
* Confidence region (eqs. 13-16): ``LR1(g) = (S1(g) - S1(g_hat)) / sigma2``;
  the 1 - alpha set is ``{g : LR1(g) <= c(alpha)}`` with
  ``c(alpha) = -2 log(1 - sqrt(1 - alpha))`` (eq. 16; 7.35 at 95 %). We report
  the smallest and largest grid points in the set.
* Double threshold (sec. 3.7, eqs. 19-26): given ``g1_hat`` search ``g2``
  (``S2^r``), then re-estimate ``g1`` given ``g2`` (the refinement, eq. 23).
  ``F2 = (S1(g1_hat) - S2^r(g2_hat^r)) / sigma2_2`` (eq. 25) with a bootstrap
  under the one-threshold null: ``y* = X(g1_hat) beta_hat + e*`` with ``e*``
  resampled from the two-threshold residuals; each bootstrap sample repeats
  the sequential search. Confidence intervals for the refined estimators use
  ``LR2^r`` and ``LR1^r`` (eqs. 24-26).

The grid is the set of unique values of ``q`` strictly inside the trimmed
quantile range, thinned to at most ``max_grid`` quantiles; every regime must
hold at least a fraction ``trim`` of the observations (for the second search: the two
regimes created by the new split, so a first threshold near the edge of the grid
does not exclude every second candidate).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.linalg
from scipy import stats

from spillover.engine import bootstrap_map
from spillover.errors import SpecificationError, format_error
from spillover.options import check_count, check_seed

__all__ = ["panel_threshold", "ThresholdResult", "lr_critical_value"]


def lr_critical_value(alpha: float = 0.05) -> float:
    """Hansen (1999, eq. 16) critical value ``c(alpha) = -2 log(1 - sqrt(1 - alpha))``."""
    return float(-2.0 * np.log(1.0 - np.sqrt(1.0 - alpha)))


class _Within:
    """Within transformation over units (and periods) for a possibly unbalanced panel."""

    def __init__(self, ent: np.ndarray, tim: np.ndarray, twoways: bool):
        self.e_codes, self.e = np.unique(ent, return_inverse=True)
        self.t_codes, self.t = np.unique(tim, return_inverse=True)
        self.twoways = twoways
        self.ne, self.nt = len(self.e_codes), len(self.t_codes)
        self.balanced = len(ent) == self.ne * self.nt

    @staticmethod
    def _demean(a: np.ndarray, g: np.ndarray, ng: int) -> np.ndarray:
        cnt = np.bincount(g, minlength=ng).astype(float)
        out = np.empty_like(a)
        for j in range(a.shape[1]):
            m = np.bincount(g, weights=a[:, j], minlength=ng) / cnt
            out[:, j] = a[:, j] - m[g]
        return out

    def __call__(self, a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=float)
        one = a.ndim == 1
        a2 = a[:, None] if one else a
        out = self._demean(a2, self.e, self.ne)
        if self.twoways:
            out = self._demean(out, self.t, self.nt)
            if not self.balanced:  # alternating projections (Gaure 2013)
                for _ in range(1000):
                    new = self._demean(self._demean(out, self.e, self.ne), self.t, self.nt)
                    if np.max(np.abs(new - out)) < 1e-12:
                        out = new
                        break
                    out = new
        return out[:, 0] if one else out


@dataclass
class ThresholdResult:
    """Result of :func:`panel_threshold`.

    Attributes
    ----------
    thresholds : list of float
        Estimated thresholds (refined estimates for two thresholds), ascending.
    ci : list of (float, float)
        95 % (``1 - alpha``) LR-inversion intervals (Hansen eq. 16), one per threshold.
    F : dict
        ``{"F1": ..., "F2": ...}`` LR statistics (Hansen eqs. 12, 25).
    pvalues, crit : dict
        Bootstrap p-values and bootstrap critical values (10 %, 5 %, 1 %).
    params, bse : pandas.Series
        Within slopes (regime coefficients named ``x[q<=g1]``, ``x[g1<q<=g2]``,
        ``x[q>g2]``) and standard errors (Hansen eq. 11).
    ssr_path : pandas.DataFrame
        Columns ``gamma``, ``ssr1`` (S1), ``lr1`` (and ``ssr2``, ``lr2`` for the
        second threshold given the first, refined).
    """

    formula: str
    threshold_var: str
    regime_vars: list[str]
    n_thresholds: int
    thresholds: list[float]
    ci: list[tuple[float, float]]
    F: dict
    pvalues: dict
    crit: dict
    params: pd.Series
    bse: pd.Series
    sigma2: float
    ssr: dict
    ssr_path: pd.DataFrame
    nobs: int
    N: int
    T: int
    fe: str
    bootstrap: int
    seed: int | None
    alpha: float = 0.05
    first_stage: dict = field(default_factory=dict)
    #: per threshold, (lower, upper) interval bound is the first / last admissible candidate: the interval is cut
    #: by the trimming (each regime keeps a share ``trim`` of the observations), not by the likelihood ratio
    ci_at_edge: list[tuple[bool, bool]] = field(default_factory=list)

    @property
    def tvalues(self) -> pd.Series:
        return self.params / self.bse

    @property
    def pvalues_params(self) -> pd.Series:
        return pd.Series(2 * stats.norm.sf(np.abs(self.tvalues)), index=self.params.index)

    def table(self) -> pd.DataFrame:
        """Threshold tests and estimates, one row per threshold (report table)."""
        rows = []
        for i, g in enumerate(self.thresholds, start=1):
            key = f"F{i}"
            rows.append({
                "threshold": f"gamma{i}", "estimate": g, "ci_low": self.ci[i - 1][0], "ci_high": self.ci[i - 1][1],
                "F": self.F.get(key), "p_bootstrap": self.pvalues.get(key),
                "crit10": self.crit.get(key, (np.nan,) * 3)[0], "crit5": self.crit.get(key, (np.nan,) * 3)[1],
                "crit1": self.crit.get(key, (np.nan,) * 3)[2], "bootstrap": self.bootstrap,
                "ci_note": _edge_note(self.ci_at_edge[i - 1] if len(self.ci_at_edge) >= i else (False, False)),
            })
        return pd.DataFrame(rows).set_index("threshold")

    def coef_table(self) -> pd.DataFrame:
        """Slope coefficients with within standard errors (Hansen eq. 11)."""
        return pd.DataFrame({"coef": self.params, "se": self.bse, "t": self.tvalues, "p": self.pvalues_params})

    def __repr__(self) -> str:
        return (f"ThresholdResult({self.formula!r}, q={self.threshold_var}, thresholds={self.thresholds}, "
                f"F={self.F}, p={self.pvalues})")


def _grid(q: np.ndarray, trim: float, grid, max_grid: int) -> np.ndarray:
    if grid is not None:
        return np.unique(np.asarray(grid, dtype=float))
    qs = np.sort(q)
    lo, hi = np.quantile(qs, trim), np.quantile(qs, 1 - trim)
    u = np.unique(qs[(qs >= lo) & (qs <= hi)])
    if len(u) > max_grid:
        u = np.unique(np.quantile(u, np.linspace(0, 1, max_grid), method="nearest"))
    return u


def _design(xz: np.ndarray, xr: np.ndarray, q: np.ndarray, gammas: list[float]) -> np.ndarray:
    """Common regressors, then regime blocks x*I(q<=g1), x*I(g1<q<=g2), ..., x*I(q>g_last)."""
    cuts = [-np.inf] + sorted(gammas) + [np.inf]
    blocks = [xr * ((q > a) & (q <= b))[:, None] for a, b in zip(cuts[:-1], cuts[1:])]
    return np.column_stack([xz] + blocks)


def _ok(q: np.ndarray, gammas: list[float], trim: float) -> bool:
    cuts = [-np.inf] + sorted(gammas) + [np.inf]
    n = len(q)
    return all(((q > a) & (q <= b)).sum() >= max(trim * n, 1) for a, b in zip(cuts[:-1], cuts[1:]))


def _ok_new(q: np.ndarray, g_fix: float, g: float, trim: float) -> bool:
    """Both regimes created by splitting at ``g`` the regime of the fixed threshold hold >= trim of the data."""
    n = len(q)
    if g > g_fix:
        parts = [(q > g_fix) & (q <= g), q > g]
    else:
        parts = [q <= g, (q > g) & (q <= g_fix)]
    return all(p.sum() >= max(trim * n, 1) for p in parts)


#: Singular values below this fraction of the largest count as zero (rank of a design, scale free).
RANK_RTOL = 1e-10


def _span(z: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the column space of ``z``, also when ``z`` is rank deficient (SVD, ``scipy.linalg.orth``)."""
    return scipy.linalg.orth(z, rcond=RANK_RTOL)


class _Projector:
    """Orthonormal bases of the within-transformed design for each candidate threshold set."""

    def __init__(self, W: _Within, xz, xr, q):
        self.W, self.xz, self.xr, self.q = W, xz, xr, q

    def basis(self, gammas: list[float]) -> np.ndarray:
        return _span(self.W(_design(self.xz, self.xr, self.q, gammas)))

    def split_ssr(self, Y: np.ndarray, g_fix: float, cand: np.ndarray) -> np.ndarray:
        """SSR of the two-threshold fits ``{g_fix, g}``, one row per ``g`` in ``cand``, one column per column of ``Y``.

        Splitting at ``g`` the regime of ``g_fix`` adds the block
        ``D_g = x_r * I(q in the new sub-regime)`` to the one-threshold design
        (whose span already holds ``x_r * I(regime)``), so by Frisch-Waugh-Lovell
        ``SSR(g_fix, g) = e'e - ||Q_g' e||^2`` with ``e = M Y``, ``M`` the residual
        maker of the one-threshold fit and ``Q_g`` an orthonormal basis of ``M D_g``
        (Hansen 1999, sec. 3.7). Batched ``n x k_r`` SVDs replace a QR of the
        whole design per candidate; ``Y`` is within-transformed.
        """
        B = self.basis([g_fix])
        E = Y - B @ (B.T @ Y)
        kr = self.xr.shape[1]
        cand = np.asarray(cand, dtype=float)
        inside = (self.q[:, None] <= cand[None, :]) & ((self.q > g_fix)[:, None] | (cand < g_fix)[None, :])
        D = self.W((self.xr[:, :, None] * inside[:, None, :]).reshape(len(self.q), kr * len(cand)))
        Dm = (D - B @ (B.T @ D)).reshape(len(self.q), kr, len(cand)).transpose(2, 0, 1)
        U, sv, _ = np.linalg.svd(Dm, full_matrices=False)  # one small SVD per candidate
        scale = np.sqrt((D ** 2).sum(0)).reshape(kr, len(cand)).max(0)
        keep = sv > RANK_RTOL * scale[:, None]  # the rank rule of _span, relative to the new columns
        gain = np.einsum("ck,cks->cs", keep.astype(float), np.einsum("cnk,ns->cks", U, E) ** 2)
        return (E ** 2).sum(0)[None, :] - gain


def _edge_note(edge: tuple[bool, bool]) -> str:
    sides = [s for s, at in zip(("lower", "upper"), edge, strict=True) if at]
    return f"{' and '.join(sides)} bound cut by the trimming" if sides else ""


def _at_edge(gr: np.ndarray, ci: tuple[float, float]) -> tuple[bool, bool]:
    """Whether each bound of ``ci`` is the first / last candidate of ``gr`` (the interval may extend beyond it)."""
    return bool(ci[0] <= gr.min()), bool(ci[1] >= gr.max())


def _ci(gr: np.ndarray, lr: np.ndarray, c: float, g_hat: float) -> tuple[float, float]:
    inside = gr[lr <= c]
    if len(inside) == 0:
        return (g_hat, g_hat)
    return (float(min(inside.min(), g_hat)), float(max(inside.max(), g_hat)))


def panel_threshold(formula: str, data: pd.DataFrame, entity: str, time: str, *, threshold_var: str,
                    regime_vars: list[str] | None = None, n_thresholds: int = 1, trim: float | tuple = (0.05, 0.10),
                    grid=None, max_grid: int = 300, bootstrap: int = 300, seed: int | None = 0, engine=None,
                    fe: str = "entity", alpha: float = 0.05) -> ThresholdResult:
    """Hansen (1999) fixed-effects panel threshold regression with one or two thresholds.

    Parameters
    ----------
    formula : str
        ``"y ~ x1 + x2 + ..."`` (formulaic syntax; the intercept is absorbed by the effects).
    data : pandas.DataFrame
        Long panel with ``entity`` and ``time`` columns.
    threshold_var : str
        Threshold variable ``q`` (Hansen eq. 1).
    regime_vars : list of str, optional
        Regressors whose slopes change across regimes (default ``[threshold_var]``);
        all other regressors have common slopes.
    n_thresholds : {1, 2}
        Single (sec. 3) or double threshold with sequential estimation and refinement (sec. 3.7).
    trim : float or (float, float)
        Minimum share of observations in every regime, for the first and second search
        (Hansen uses 1 % - 5 %; default 5 % then 10 %).
    grid : array-like, optional
        Candidate thresholds; default unique values of ``q`` inside the trimmed range,
        thinned to at most ``max_grid`` quantiles.
    bootstrap : int
        Bootstrap replications for the p-values of F1 (and F2) (Hansen sec. 3.2, 3.7);
        0 skips the bootstrap (p-values and critical values are then NaN).
    seed : int or None
        Seed for ``numpy.random.SeedSequence``; identical results on re-run.
        Replications run in chunks of :data:`spillover.engine.DEFAULT_CHUNK`,
        chunk ``k`` seeded by child ``k`` of the F1 (F2) sequence.
    engine : spillover.engine.Engine, optional
        Where the bootstrap chunks run (default: this process); the numbers do
        not depend on it.
    fe : {"entity", "twoways"}
        Unit effects (Hansen's model) or unit and time effects.
    alpha : float
        Level for the LR confidence intervals (Hansen eq. 16).

    Returns
    -------
    ThresholdResult
    """
    if n_thresholds not in (1, 2):
        raise SpecificationError(format_error("n_thresholds must be 1 or 2", option="n_thresholds"))
    if fe not in ("entity", "twoways"):
        raise SpecificationError(format_error(f"fe={fe!r} not supported", option="fe", hint="use 'entity' or 'twoways'"))
    bootstrap = check_count(bootstrap, "bootstrap", zero="no bootstrap p-values")
    check_seed(seed)
    trims = (trim, trim) if np.isscalar(trim) else tuple(trim)
    given = list(regime_vars) if regime_vars is not None else []
    regime_vars = given or [threshold_var]
    from spillover.formula import model_arrays

    df = data.sort_values([entity, time]).reset_index(drop=True)
    if threshold_var not in df.columns:
        raise SpecificationError(format_error("threshold variable not in the data", column=threshold_var,
                                              hint=f"columns: {sorted(map(str, df.columns))[:40]}"))
    y, X, _ = model_arrays(formula, df)
    X = X.drop(columns=[c for c in X.columns if c == "Intercept"])
    bad = ~np.isfinite(np.column_stack([y, X.to_numpy(dtype=float)])).all(axis=1)
    if bad.any():
        r = int(np.argmax(bad))
        raise SpecificationError(format_error(f"missing or infinite values in {int(bad.sum())} row(s) of the formula's "
                                              "variables; first", entity=df[entity].iloc[r], time=df[time].iloc[r]))
    for v in regime_vars:
        if v not in X.columns:
            what = ("the threshold variable is not a regressor of the formula, so it cannot be the default regime "
                    "variable" if v == threshold_var and v not in given else "regime variable is not a regressor "
                    "of the formula")
            raise SpecificationError(format_error(what, column=v, hint=f"give regime_vars from {list(X.columns)} "
                                                  "(the regressors whose slopes change across regimes)"))
    q = df[threshold_var].to_numpy(dtype=float)
    if not np.all(np.isfinite(q)):
        raise SpecificationError(format_error("the threshold variable has missing or infinite values",
                                              column=threshold_var))
    if np.unique(q).size < 2:
        raise SpecificationError(format_error("the threshold variable is constant: there is nothing to split on",
                                              column=threshold_var))
    common = [c for c in X.columns if c not in regime_vars]
    xz = X[common].to_numpy(dtype=float)
    xr = X[regime_vars].to_numpy(dtype=float)
    W = _Within(df[entity].to_numpy(), df[time].to_numpy(), twoways=(fe == "twoways"))
    n, nt = W.ne, len(y)
    T = W.nt
    dof = (n - 1) * (T - 1) if fe == "twoways" else n * (T - 1)
    if not W.balanced:
        dof = nt - n - ((T - 1) if fe == "twoways" else 0)
    P = _Projector(W, xz, xr, q)
    ys = W(y)
    gr = _grid(q, trims[0], grid, max_grid)
    gr1 = np.array([g for g in gr if _ok(q, [g], trims[0])])
    if len(gr1) == 0:
        raise SpecificationError(format_error("no admissible threshold in the grid", hint="reduce trim"))

    # no threshold (S0) and single threshold search
    Q0 = _span(W(np.column_stack([xz, xr])))
    s0 = float(ys @ ys - ((Q0.T @ ys) ** 2).sum())
    bases1 = [P.basis([g]) for g in gr1]
    s1 = np.array([ys @ ys - ((Qb.T @ ys) ** 2).sum() for Qb in bases1])
    i1 = int(np.argmin(s1))
    g1 = float(gr1[i1])
    sig1 = s1[i1] / dof
    F1 = (s0 - s1[i1]) / sig1
    lr1 = (s1 - s1[i1]) / sig1
    c = lr_critical_value(alpha)

    ent_idx = [np.flatnonzero(W.e == i) for i in range(n)]
    if bootstrap and bootstrap > 0 and len({len(ix) for ix in ent_idx}) > 1:
        raise SpecificationError("bootstrap requires a balanced panel")
    seed1, seed2 = np.random.SeedSequence(seed).spawn(2)
    resampler = {"ent_idx": ent_idx, "n": n, "nt": nt, "W": W}

    # F1 bootstrap
    e1 = ys - bases1[i1] @ (bases1[i1].T @ ys)
    p1, crit1 = np.nan, (np.nan,) * 3
    if bootstrap and bootstrap > 0:
        payload = {**resampler, "resid": e1, "Q0": Q0, "bases1": bases1, "dof": dof}
        Fb = bootstrap_map(_f1_chunk, bootstrap, seed1, payload, engine=engine, name="threshold F1 bootstrap")
        p1 = float(np.mean(Fb >= F1))
        crit1 = tuple(float(v) for v in np.quantile(Fb, [0.90, 0.95, 0.99]))

    path = pd.DataFrame({"gamma": gr1, "ssr1": s1, "lr1": lr1})
    F, pv, crit = {"F1": float(F1)}, {"F1": p1}, {"F1": crit1}
    ssr = {"S0": s0, "S1": float(s1[i1])}
    first_stage = {}
    thresholds = [g1]
    cis = [_ci(gr1, lr1, c, g1)]
    edges = [_at_edge(gr1, cis[0])]
    sigma2 = sig1

    if n_thresholds == 2:
        def second_search(g_fix: float, Y: np.ndarray):
            cand = np.array([g for g in gr if g != g_fix and _ok_new(q, g_fix, g, trims[1])])
            if len(cand) == 0:
                raise SpecificationError(format_error("no admissible second threshold", hint="reduce trim"))
            return cand, P.split_ssr(Y, g_fix, cand)

        cand2, S2 = second_search(g1, ys[:, None])
        S2 = S2[:, 0]
        j2 = int(np.argmin(S2))
        g2r = float(cand2[j2])
        # refinement of gamma1 given gamma2 (Hansen eq. 23)
        cand1, S1r = second_search(g2r, ys[:, None])
        S1r = S1r[:, 0]
        j1 = int(np.argmin(S1r))
        g1r = float(cand1[j1])
        # re-fit S2^r given the refined gamma1 for the LR2 path
        cand2r, S2r = second_search(g1r, ys[:, None])
        S2r = S2r[:, 0]
        s2 = float(min(S1r[j1], S2r.min()))
        sig2 = s2 / dof
        F2 = (s1[i1] - s2) / sig2
        lr2 = (S2r - S2r.min()) / sig2
        lr1r = (S1r - S1r[j1]) / sig2
        g2_final = float(cand2r[int(np.argmin(S2r))])
        # bootstrap under the one-threshold null
        p2, crit2 = np.nan, (np.nan,) * 3
        if bootstrap and bootstrap > 0:
            B2 = P.basis([g1r, g2_final])
            e2 = ys - B2 @ (B2.T @ ys)
            payload = {**resampler, "resid": e2, "fit1": ys - e1, "bases1": bases1, "gr1": gr1, "dof": dof,
                       "second_search": second_search}
            Fb = bootstrap_map(_f2_chunk, bootstrap, seed2, payload, engine=engine, name="threshold F2 bootstrap")
            p2 = float(np.mean(Fb >= F2))
            crit2 = tuple(float(v) for v in np.quantile(Fb, [0.90, 0.95, 0.99]))
        first_stage = {"gamma1_first_stage": g1, "gamma2_given_first": g2r}
        F["F2"], pv["F2"], crit["F2"] = float(F2), p2, crit2
        ssr["S2"] = s2
        lo_hi = sorted([(g1r, _ci(cand1, lr1r, c, g1r)), (g2_final, _ci(cand2r, lr2, c, g2_final))])
        thresholds = [lo_hi[0][0], lo_hi[1][0]]
        cis = [lo_hi[0][1], lo_hi[1][1]]
        grids = {g1r: cand1, g2_final: cand2r}
        edges = [_at_edge(grids[g], ci) for g, ci in lo_hi]
        sigma2 = sig2
        p2path = pd.DataFrame({"gamma": cand2r, "ssr2": S2r, "lr2": lr2})
        path = path.merge(p2path, on="gamma", how="outer")

    # slopes (Hansen eq. 11)
    Z = W(_design(xz, xr, q, thresholds))
    ZtZ = Z.T @ Z
    beta = np.linalg.solve(ZtZ, Z.T @ ys)
    V = sigma2 * np.linalg.inv(ZtZ)
    g = thresholds
    if len(g) == 1:
        labels = [f"[q<={g[0]:.4g}]", f"[q>{g[0]:.4g}]"]
    else:
        labels = [f"[q<={g[0]:.4g}]", f"[{g[0]:.4g}<q<={g[1]:.4g}]", f"[q>{g[1]:.4g}]"]
    names = common + [f"{v}{lab}" for lab in labels for v in regime_vars]
    params = pd.Series(beta, index=names, name="coef")
    bse = pd.Series(np.sqrt(np.diag(V)), index=names, name="se")

    return ThresholdResult(
        formula=formula, threshold_var=threshold_var, regime_vars=regime_vars, n_thresholds=n_thresholds,
        thresholds=[float(v) for v in thresholds], ci=cis, ci_at_edge=edges, F=F, pvalues=pv, crit=crit, params=params, bse=bse,
        sigma2=float(sigma2), ssr=ssr, ssr_path=path, nobs=nt, N=n, T=T, fe=fe, bootstrap=int(bootstrap or 0),
        seed=seed, alpha=alpha, first_stage=first_stage,
    )


# ----------------------------------------------------------------------------- bootstrap chunks
def _resample(resid: np.ndarray, rng: np.random.Generator, size: int, ent_idx: list, n: int, nt: int) -> np.ndarray:
    """Hansen (1999, sec. 3.2): draw units with replacement, each keeping its whole residual vector."""
    out = np.empty((nt, size))
    for b in range(size):
        draw = rng.integers(0, n, size=n)
        for i, j in enumerate(draw):
            out[ent_idx[i], b] = resid[ent_idx[j]]
    return out


def _f1_chunk(rng: np.random.Generator, size: int, p: dict) -> np.ndarray:
    """Bootstrap F1 statistics of one chunk under the no-threshold null (Hansen 1999, eq. 12)."""
    Ys = p["W"](_resample(p["resid"], rng, size, p["ent_idx"], p["n"], p["nt"]))
    yy = (Ys ** 2).sum(0)
    s0b = yy - ((p["Q0"].T @ Ys) ** 2).sum(0)
    s1b = np.stack([yy - ((Qb.T @ Ys) ** 2).sum(0) for Qb in p["bases1"]])
    mb = s1b.min(0)
    return (s0b - mb) / (mb / p["dof"])


def _f2_chunk(rng: np.random.Generator, size: int, p: dict) -> np.ndarray:
    """Bootstrap F2 statistics of one chunk under the one-threshold null (Hansen 1999, eq. 25)."""
    Ys = p["W"](p["fit1"][:, None] + _resample(p["resid"], rng, size, p["ent_idx"], p["n"], p["nt"]))
    yy = (Ys ** 2).sum(0)
    s1b = np.stack([yy - ((Qb.T @ Ys) ** 2).sum(0) for Qb in p["bases1"]])
    ib = s1b.argmin(0)
    Fb = np.empty(size)
    for k in np.unique(ib):
        cols = np.flatnonzero(ib == k)
        _, Sb = p["second_search"](float(p["gr1"][k]), Ys[:, cols])
        mb = Sb.min(0)
        Fb[cols] = (s1b[k, cols] - mb) / (mb / p["dof"])
    return Fb
