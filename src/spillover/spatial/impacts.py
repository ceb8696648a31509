"""Direct, indirect and total effects with standard errors.

For a model ``y = rho W y + X b + W X t + ...`` the matrix of partial
derivatives of E[y] with respect to regressor k is
``M_k = S (b_k I + t_k W)``, ``S = (I - rho W)^-1`` (LeSage & Pace 2009,
*Introduction to Spatial Econometrics*, eq. 2.46). The average direct effect
is ``tr(M_k)/N``, the average total effect ``1' M_k 1 / N`` and the indirect
(spillover) effect their difference (LeSage & Pace 2009, eqs. 2.48-2.50):

    direct_k = [b_k tr(S) + t_k tr(S W)] / N
    total_k  = [b_k 1'S1 + t_k 1'SW1] / N

For SLX and SDEM (no rho) ``S = I`` and the effects are linear in the
coefficients: direct = b_k + t_k tr(W)/N, total = b_k + t_k 1'W1/N.

Inference
---------
* ``method="simulation"``: draws from N(theta_hat, V_hat) (LeSage & Pace 2009,
  sec. 2.7), seeded; draws with rho outside its admissible interval are
  discarded and replaced. Standard errors are the draws' standard
  deviations; the point estimates are evaluated at theta_hat.
* ``method="delta"``: first-order delta method with the analytic gradient
  (d tr(S)/d rho = tr(G) + rho tr(G^2), d tr(G)/d rho = tr(G^2); the
  derivatives of 1'S1 and 1'SW1 by central differences).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from spillover.errors import SpecificationError, format_error


@dataclass(frozen=True)
class ImpactContext:
    """What the impacts need from a fit: coefficient names and the trace engine."""

    x_names: list[str]  # regressors with an impact (no intercept)
    beta_names: list[str]  # parameter name of b_k for each x
    theta_names: list[str | None]  # parameter name of t_k (W*x) or None
    rho_name: str | None  # "rho" or None (SLX/SDEM)
    engine: object | None  # LogDet, when rho_name is set
    n: int
    w_trace: float  # tr(W_x)
    w_sum: float  # 1'W_x 1
    cross: CrossTraces | None = None  # tr(S W_x), 1'S W_x 1 when the W X terms have their own W

    @classmethod
    def for_fit(cls, x_names: list[str], params: list[str], w, *, engine=None, w_x=None) -> ImpactContext:
        """The context of a fit whose parameters are ``params``: every non-intercept x, its ``W*x``
        term when estimated, and ``rho`` (with its log-det ``engine``) when given; ``w_x`` the W of
        the W X terms when it is not ``w``."""
        xs = [c for c in x_names if c != "Intercept"]
        wx = w if w_x is None else w_x
        cross = CrossTraces(w, w_x) if (w_x is not None and engine is not None) else None
        return cls(x_names=xs, beta_names=xs, theta_names=[f"W*{c}" if f"W*{c}" in params else None for c in xs],
                   rho_name="rho" if engine is not None else None, engine=engine, n=w.shape[0],
                   w_trace=float(wx.diagonal().sum()), w_sum=float(wx.sum()), cross=cross)


class CrossTraces:
    """``tr(S W_x)`` and ``1' S W_x 1`` with ``S = (I - rho W)^-1``, for W X terms with their own W.

    Dense (``W`` up to :data:`MAX_N` units): ``S`` by one LU per ``rho``; at many
    ``rho`` (impacts draws) the values at Chebyshev points of the draws' range
    are interpolated (:func:`spillover.spatial.logdet.interpolate_over_rho`), as
    :class:`spillover.spatial.logdet.LULogDet` does for ``tr(G)``. Derivatives
    in ``rho``: ``tr(S W S W_x)``, ``1' S W S W_x 1``.
    """

    MAX_N = 3000

    def __init__(self, w, w_x):
        n = w.shape[0]
        if n > self.MAX_N:
            raise SpecificationError(format_error(
                f"impacts with a separate w_x in a model with rho need dense N x N solves, offered up to "
                f"{self.MAX_N:,} units (N = {n:,})", option="w_x", hint="use w_x = w, or a model without rho (SDEM)"))
        self.w = np.asarray(w.todense()) if hasattr(w, "todense") else np.asarray(w, dtype=float)
        self.wx = np.asarray(w_x.todense()) if hasattr(w_x, "todense") else np.asarray(w_x, dtype=float)
        self._cache: dict[float, tuple[float, float, float, float]] = {}

    def _at(self, rho: float) -> tuple[float, float, float, float]:
        if rho not in self._cache:
            n = self.w.shape[0]
            s = np.linalg.solve(np.eye(n) - rho * self.w, np.eye(n))
            swx = s @ self.wx
            sws = s @ self.w @ swx
            ones = np.ones(n)
            self._cache[rho] = (float(np.trace(swx)), float(ones @ swx @ ones), float(np.trace(sws)),
                                float(ones @ sws @ ones))
        return self._cache[rho]

    def values(self, rho) -> tuple[np.ndarray, np.ndarray]:
        """``(tr(S W_x), 1'S W_x 1)`` at each rho of ``rho``."""
        from spillover.spatial.logdet import interpolate_over_rho

        v = interpolate_over_rho(lambda x: self._at(x)[:2], np.atleast_1d(np.asarray(rho, dtype=float)))
        return v[:, 0], v[:, 1]

    def derivatives(self, rho: float) -> tuple[float, float]:
        """``d/d rho`` of ``(tr(S W_x), 1'S W_x 1)``."""
        return self._at(float(rho))[2:]


@dataclass(frozen=True)
class ImpactsResult:
    """Table of impacts and the inference settings that produced it."""

    table: pd.DataFrame
    method: str
    draws: int | None
    seed: int | None
    model: str

    def summary(self) -> str:
        how = f"simulation, {self.draws} draws, seed {self.seed}" if self.method == "simulation" else "delta method"
        cols = []
        for part in ("direct", "indirect", "total"):
            cols += [part, f"{part}_se", f"{part}_p"]
        return f"Impacts of {self.model} ({how})\n" + self.table[cols].to_string(float_format=lambda v: f"{v: .6f}")

    def __repr__(self) -> str:
        return self.summary()


def _effects(ctx: ImpactContext, b: np.ndarray, t: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Direct and total effects; b, t of shape (m, K), rho of shape (m,)."""
    n = ctx.n
    if ctx.rho_name is None:
        direct = b + t * ctx.w_trace / n
        total = b + t * ctx.w_sum / n
        return direct, total
    eng = ctx.engine
    trs = np.atleast_1d(eng.tr_S(rho))[:, None]
    s1 = np.atleast_1d(eng.sum_S(rho))[:, None]
    if ctx.cross is not None:
        trg, sw1 = (np.atleast_1d(v)[:, None] for v in ctx.cross.values(rho))
    else:
        trg = np.atleast_1d(eng.tr_G(rho))[:, None]
        sw1 = np.atleast_1d(eng.sum_SW(rho))[:, None]
    direct = (b * trs + t * trg) / n
    total = (b * s1 + t * sw1) / n
    return direct, total


def _split(ctx: ImpactContext, params: pd.Series | pd.DataFrame):
    p = params if isinstance(params, pd.DataFrame) else params.to_frame().T
    b = p[ctx.beta_names].to_numpy()
    t = np.column_stack([p[c].to_numpy() if c else np.zeros(len(p)) for c in ctx.theta_names])
    rho = p[ctx.rho_name].to_numpy() if ctx.rho_name else np.zeros(len(p))
    return b, t, rho


def _gradients(ctx: ImpactContext, b: float, t: float, rho: float) -> dict[str, np.ndarray]:
    """Gradient of (direct, total) for one regressor w.r.t. (b, t, rho)."""
    n = ctx.n
    if ctx.rho_name is None:
        return {
            "direct": np.array([1.0, ctx.w_trace / n, 0.0]),
            "total": np.array([1.0, ctx.w_sum / n, 0.0]),
        }
    eng = ctx.engine
    trs, trg, trg2 = float(eng.tr_S(rho)), float(eng.tr_G(rho)), float(eng.tr_G2(rho))
    s1, sw1 = float(eng.sum_S(rho)), float(eng.sum_SW(rho))
    h = 1e-6 * max(1.0, abs(rho))
    ds1 = (float(eng.sum_S(rho + h)) - float(eng.sum_S(rho - h))) / (2 * h)
    dsw1 = (float(eng.sum_SW(rho + h)) - float(eng.sum_SW(rho - h))) / (2 * h)
    d_trs = trg + rho * trg2
    if ctx.cross is not None:  # the W X terms' own W: tr(S W_x), 1'S W_x 1 and their derivatives
        (trg_x,), (sw1,) = ctx.cross.values(rho)
        trg2, dsw1 = ctx.cross.derivatives(rho)
        trg = trg_x
    return {
        "direct": np.array([trs / n, trg / n, (b * d_trs + t * trg2) / n]),
        "total": np.array([s1 / n, sw1 / n, (b * ds1 + t * dsw1) / n]),
    }


def covariance_root(v: np.ndarray) -> np.ndarray:
    """A deterministic ``L`` with ``L L' = v``: Cholesky, or a sign-fixed eigen root for a semi-definite ``v``."""
    try:
        return np.linalg.cholesky(v)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(v)
        big = np.argmax(np.abs(vecs), axis=0)
        vecs = vecs * np.sign(vecs[big, np.arange(vecs.shape[1])])
        return vecs * np.sqrt(np.clip(vals, 0.0, None))


def parameter_draws(params: pd.Series, cov, draws: int, rng: np.random.Generator, accept=None,
                    max_rounds: int = 100) -> pd.DataFrame:
    """Draws of the parameter vector from N(params, cov) for simulated inference (LeSage & Pace 2009, sec. 2.7).

    ``cov`` is symmetrised; the draws are ``params + L z`` with ``L`` its
    Cholesky factor, which is unique, so the draws do not depend on the BLAS
    kernel (eigenvectors are defined only up to sign and would rotate the
    draws from one machine to the next). A covariance that is only
    semi-definite falls back to ``V^(1/2)`` from its eigen-decomposition, with
    negative eigenvalues set to zero and each eigenvector's largest entry made
    positive. ``accept(frame) -> bool
    mask`` keeps admissible draws (e.g. rho inside its interval, or a stable
    dynamic process); rounds of ``draws`` candidates are drawn until ``draws``
    are kept or ``max_rounds`` rounds have run, so the result may be shorter
    when few draws are admissible. Columns are ``params.index``.
    """
    names = list(params.index)
    mean = np.asarray(params, dtype=float)
    c = np.asarray(cov, dtype=float)
    root = covariance_root((c + c.T) / 2)
    kept, got = [], 0
    for _ in range(max_rounds):
        d = pd.DataFrame(mean + rng.standard_normal((draws, len(mean))) @ root.T, columns=names)
        if accept is not None:
            d = d[np.asarray(accept(d), dtype=bool)]
        kept.append(d)
        got += len(d)
        if got >= draws:
            break
    return pd.concat(kept, ignore_index=True).iloc[:draws]


def rho_inside(name: str, bounds: tuple[float, float]):
    """``accept`` for :func:`parameter_draws`: the spatial parameter ``name`` strictly inside ``bounds``."""
    lo, hi = bounds
    return lambda d: (d[name] > lo) & (d[name] < hi)


def check_impact_options(draws: int, method: str, seed: int | None = 0) -> None:
    """SpecificationError for an unknown ``method`` or, with simulation, fewer than 2 draws (no SE) or a bad seed."""
    from spillover.errors import SpecificationError, format_error
    from spillover.options import check_count, check_seed

    if method not in ("simulation", "delta"):
        raise SpecificationError(format_error(f"method={method!r}", option="method",
                                              hint="choose 'simulation' or 'delta'"))
    if method == "simulation":
        check_count(draws, "draws", minimum=2, reason="simulated standard errors need at least 2 draws",
                    hint="use e.g. draws=1000, or method='delta'")
        check_seed(seed)


def compute_impacts(res, ctx: ImpactContext, *, draws: int = 1000, seed: int | None = 0, method: str = "simulation") -> ImpactsResult:
    """Impacts table for a fitted model (see module docstring)."""
    check_impact_options(draws, method, seed)
    b, t, rho = _split(ctx, res.params)
    direct, total = _effects(ctx, b, t, rho)
    direct, total = direct[0], total[0]
    indirect = total - direct
    k = len(ctx.x_names)
    se = {"direct": np.zeros(k), "indirect": np.zeros(k), "total": np.zeros(k)}

    if method == "simulation":
        rng = np.random.default_rng(seed)
        cov = res.cov_params.to_numpy()
        vals = np.linalg.eigvalsh((cov + cov.T) / 2)
        if vals.min() < -1e-10 * max(vals.max(), 1e-300):
            warnings.warn(
                f"{res.model}: the parameter covariance is not positive definite (smallest eigenvalue "
                f"{vals.min():.3g}; flags: {'; '.join(res.flags) or 'none'}); simulating from its "
                "positive semi-definite part",
                RuntimeWarning,
                stacklevel=3,
            )
        accept = rho_inside(ctx.rho_name, ctx.engine.bounds) if ctx.rho_name else None
        sample = parameter_draws(res.params, cov, draws, rng, accept)
        sb, stt, srho = _split(ctx, sample)
        d_dir, d_tot = _effects(ctx, sb, stt, srho)
        se["direct"] = d_dir.std(axis=0, ddof=1)
        se["total"] = d_tot.std(axis=0, ddof=1)
        se["indirect"] = (d_tot - d_dir).std(axis=0, ddof=1)
    else:
        cov = res.cov_params
        for j in range(k):
            idx = [ctx.beta_names[j], ctx.theta_names[j], ctx.rho_name]
            present = [i for i, c in enumerate(idx) if c is not None]
            sub = cov.loc[[idx[i] for i in present], [idx[i] for i in present]].to_numpy()
            g = _gradients(ctx, b[0, j], t[0, j], rho[0])
            gd, gt = g["direct"][present], g["total"][present]
            se["direct"][j] = np.sqrt(gd @ sub @ gd)
            se["total"][j] = np.sqrt(gt @ sub @ gt)
            gi = gt - gd
            se["indirect"][j] = np.sqrt(gi @ sub @ gi)

    table = pd.DataFrame(index=pd.Index(ctx.x_names, name="variable"))
    for part, val in (("direct", direct), ("indirect", indirect), ("total", total)):
        table[part] = val
    for part, val in (("direct", direct), ("indirect", indirect), ("total", total)):
        table[f"{part}_se"] = se[part]
    for part, val in (("direct", direct), ("indirect", indirect), ("total", total)):
        with np.errstate(divide="ignore", invalid="ignore"):
            table[f"{part}_z"] = val / se[part]
    for part in ("direct", "indirect", "total"):
        table[f"{part}_p"] = 2 * stats.norm.sf(np.abs(table[f"{part}_z"]))
    return ImpactsResult(
        table=table, method=method, draws=draws if method == "simulation" else None,
        seed=seed if method == "simulation" else None, model=res.model,
    )
