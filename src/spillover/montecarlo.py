"""Monte Carlo experiments for the spatial panel estimators, run on dask.distributed.

A :class:`Design` is a grid of cells (W, T, rho, estimator model, method,
fixed effects) times R replications. Replication ``r`` of every cell draws its
data from :func:`spillover.simulate.replication_seed` ``(seed, r)``: cells that
differ only in the estimation method see the *same* simulated panels (common
random numbers), which makes the direct vs. Lee-Yu comparison sharper.

Execution: one task per (cell, chunk of replications) through
:class:`spillover.engine.Engine` -- a :class:`distributed.LocalCluster`
(threads, ``threads_per_worker=1``) by default, or an existing scheduler by
address; the same engine runs the study's specification grid and bootstraps.
Per-replication results are keyed by (cell, replication, quantity) and sorted
before aggregation, so the numbers do not depend on the number of workers or
the order tasks finish in.

Aggregation (per cell and quantity, over the R_ok replications that
converged): ``bias = mean(est - true)``, ``rmse = sqrt(mean((est - true)^2))``,
``sd = std(est, ddof=1)``, ``mean_se`` and ``coverage = mean(|est - true| <=
z_{0.975} se)``, the share of nominal 95% Wald intervals that contain the true
value. Impact standard errors are delta-method ones (LeSage & Pace 2009,
sec. 2.7; ``impacts(method="delta")``). ``bias_mcse = sd / sqrt(R_ok)`` is the
Monte Carlo standard error of the bias.

References
----------
Lee, L.-F. and Yu, J. (2010). Estimation of spatial autoregressive panel data models with fixed
effects. *Journal of Econometrics* 154(2), 165-185 (sec. 4: the direct approach's rho and sigma2 are
inconsistent for fixed T with time effects; sigma2 biased by the factor (T-1)/T with unit effects).
Morris, T. P., White, I. R. and Crowther, M. J. (2019). Using simulation studies to evaluate
statistical methods. *Statistics in Medicine* 38(11), 2074-2102 (performance measures, MCSE).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from spillover.simulate import FIXED_EFFECTS, as_sparse_w, replication_seed, simulate

METHODS = ("direct", "lee-yu")
#: Dynamic cells (``tau != 0``) also take the uncorrected QML of either approach.
DYNAMIC_METHODS = ("direct", "lee-yu", "direct-qml", "lee-yu-qml")
CELL_COLUMNS = ["cell", "weights", "n", "t", "model", "fe", "method", "spatial"]
_LATTICE = re.compile(r"^lattice(\d+)x(\d+)$")


# ----------------------------------------------------------------------------- weights
def weights_names_help() -> str:
    return "'provinces' (31-province queen contiguity) or 'latticeRxC' (rook lattice, e.g. 'lattice7x7')"


def load_weights(name: str):
    """Row-standardised sparse W by name: ``provinces`` or ``latticeRxC``."""
    if name == "provinces":
        import spillover as sp

        w = sp.weights.contiguity(sp.data.default_geometry(), id_col="adcode")
        w.transform = "r"
        return as_sparse_w(w)
    m = _LATTICE.match(name)
    if m:
        from libpysal.weights import lat2W

        w = lat2W(int(m.group(1)), int(m.group(2)), rook=True)
        w.transform = "r"
        return as_sparse_w(w)
    raise ValueError(f"unknown weights {name!r}: use {weights_names_help()}")


# ----------------------------------------------------------------------------- design
@dataclass(frozen=True)
class Cell:
    """One design point: DGP and estimator settings."""

    cell: int
    weights: str
    t: int
    model: str
    fe: str
    method: str
    spatial: float  # rho (sar, sdm) or lambda (sem, sdem)


@dataclass(frozen=True)
class Design:
    """A Monte Carlo design: cells x ``replications``, with shared DGP settings.

    Parameters
    ----------
    cells : tuple of Cell
    replications : int
        R per cell.
    seed : int
        Base seed; replication r uses ``replication_seed(seed, r)``.
    beta, theta : sequence of float
        Coefficients of X and (Durbin models) W X.
    sigma2, effect_scale, x_effect_corr : float
        See :func:`spillover.simulate.simulate`.
    chunk_size : int
        Replications per task.
    impacts : bool
        Also evaluate delta-method impacts (SAR, SDM, SDEM; short-run impacts for dynamic cells).
    tau : float
        Coefficient of ``y_{t-1}`` in the DGP. With ``tau != 0`` the SAR and
        SDM cells are estimated by :class:`spillover.spatial.dynamic.DynamicSDM`
        (y(t-1) as regressor, conditioning on the first period, so T - 1
        periods are used): ``method`` "direct" or "lee-yu" is the approach
        (two-way demeaning or the Lee-Yu transformation) with the bias
        correction (refused, and counted as a failed replication, when the
        QML estimate is not stable); "direct-qml" / "lee-yu-qml" are the
        uncorrected QML estimates.
    name : str
    """

    cells: tuple[Cell, ...]
    replications: int
    seed: int = 0
    beta: tuple[float, ...] = (1.0, -0.5)
    theta: tuple[float, ...] | None = None
    sigma2: float = 1.0
    effect_scale: float = 1.0
    x_effect_corr: float = 0.5
    chunk_size: int = 25
    impacts: bool = True
    tau: float = 0.0
    name: str = "montecarlo"

    @classmethod
    def grid(cls, *, weights: Sequence[str], periods: Sequence[int], spatial: Sequence[float],
             models: Sequence[str], methods: Sequence[str], fe: Sequence[str] = ("twoways",),
             **kwargs) -> Design:
        """Full factorial grid; cells numbered in the order weights, T, model, fe, spatial, method."""
        cells = tuple(
            Cell(i, wname, int(t), m, f, meth, float(s))
            for i, (wname, t, m, f, s, meth) in enumerate(
                itertools.product(weights, periods, models, fe, spatial, methods))
        )
        return cls(cells=cells, **kwargs)


# ----------------------------------------------------------------------------- one chunk
def run_chunk(design: Design, cell: Cell, w, reps: Sequence[int]) -> pd.DataFrame:
    """Simulate and estimate replications ``reps`` of ``cell``; one row per (rep, quantity).

    Columns: ``cell, rep, quantity, kind ("param"|"impact"), truth, estimate, se, ok``.
    A replication whose estimation raises is kept with ``ok = False`` and NaN estimates.
    """
    from spillover import registry

    entry = registry.get(cell.model)
    est_cls = entry.cls()
    rows: list[tuple] = []
    kw = {"rho": cell.spatial} if entry.params == ("rho",) else {"lam": cell.spatial}
    for r in reps:
        s = simulate(cell.model, w, cell.t, beta=design.beta, theta=design.theta, sigma2=design.sigma2,
                     fe=cell.fe, effect_scale=design.effect_scale, x_effect_corr=design.x_effect_corr,
                     tau=design.tau, seed=replication_seed(design.seed, r), **kw)
        truth = s.truth
        want_imp = design.impacts and entry.impacts
        imp_truth = s.impacts.stack() if want_imp else pd.Series(dtype=float)
        try:
            if design.tau != 0:
                est, se, tab = _fit_dynamic(s, cell, want_imp)
            else:
                res = est_cls.from_arrays(s.y, s.x, s.w, n_periods=s.t, names=s.names, fe=cell.fe,
                                          method=cell.method).fit()
                est = dict(res.params)
                se = dict(res.bse)
                est["sigma2"], se["sigma2"] = res.sigma2, res.sigma2_se
                if want_imp:
                    tab = res.impacts(method="delta").table
            ok = True
        except Exception:  # a failed fit is a result too (reported as R_ok < R)
            est, se, ok = {}, {}, False
        for q, tv in truth.items():
            rows.append((cell.cell, r, q, "param", float(tv), float(est.get(q, np.nan)),
                         float(se.get(q, np.nan)), ok))
        for (var, eff), tv in imp_truth.items():
            e = float(tab.loc[var, eff]) if ok else np.nan
            v = float(tab.loc[var, f"{eff}_se"]) if ok else np.nan
            rows.append((cell.cell, r, f"{eff}:{var}", "impact", float(tv), e, v, ok))
    return pd.DataFrame(rows, columns=["cell", "rep", "quantity", "kind", "truth", "estimate", "se", "ok"])


def _fit_dynamic(s, cell: Cell, want_imp: bool):
    """Dynamic SAR/SDM fit of one simulated panel: estimates, SEs and short-run delta-method impacts."""
    import warnings

    from spillover.spatial.dynamic import DynamicSDM

    n, t = s.n, s.t
    df = pd.DataFrame(s.x, columns=s.names).assign(y=s.y, unit=np.tile(np.arange(n), t),
                                                   period=np.repeat(np.arange(t), n))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        method = cell.method.removesuffix("-qml")
        res = DynamicSDM("y ~ " + " + ".join(s.names), df, (s.w, range(n)), "unit", "period", fe=cell.fe, time_lags=("y",),
                         wx=cell.model == "sdm", method=method, correction="none" if cell.method.endswith("-qml")
                         else "bias").fit()
        tab = res.impacts(kind="short", method="delta").table if want_imp else None
    lag = res.extra["lag_names"][0]
    est = {("tau" if k == lag else k): v for k, v in res.params.items()}
    se = {("tau" if k == lag else k): v for k, v in res.bse.items()}
    est["sigma2"], se["sigma2"] = res.sigma2, res.sigma2_se
    return est, se, tab


# ----------------------------------------------------------------------------- aggregation
def aggregate(reps: pd.DataFrame, cells: pd.DataFrame | None = None, level: float = 0.95) -> pd.DataFrame:
    """Bias, RMSE, SD, mean SE and interval coverage per (cell, quantity).

    ``reps`` is the per-replication frame of :func:`run_chunk` (any row order:
    it is sorted by cell, rep, quantity first). Failed replications are
    dropped and counted (``r_ok``). ``cells`` (one row per cell) is merged in
    to label the output.
    """
    z = norm.ppf(0.5 + level / 2)
    d = reps.sort_values(["cell", "quantity", "rep"], kind="mergesort").reset_index(drop=True)
    d = d[d["ok"]]
    err = d["estimate"] - d["truth"]
    cover = (err.abs() <= z * d["se"]).astype(float).where(d["se"].notna())  # no SE (dynamic sigma2): no coverage
    d = d.assign(err=err, err2=err**2, cover=cover)
    g = d.groupby(["cell", "kind", "quantity"], sort=True)
    out = pd.DataFrame({
        "truth": g["truth"].first(),
        "mean": g["estimate"].mean(),
        "bias": g["err"].mean(),
        "rmse": np.sqrt(g["err2"].mean()),
        "sd": g["estimate"].std(ddof=1),
        "mean_se": g["se"].mean(),
        "coverage": g["cover"].mean(),
        "r_ok": g["rep"].count(),
    }).reset_index()
    out["bias_mcse"] = out["sd"] / np.sqrt(out["r_ok"])
    if cells is not None:
        out = cells.merge(out, on="cell", how="right")
    return out


# ----------------------------------------------------------------------------- execution
@dataclass
class MonteCarloResult:
    """Per-replication results, the aggregated table and run metadata."""

    design: Design
    replications: pd.DataFrame
    summary: pd.DataFrame
    cells: pd.DataFrame
    seconds: float
    workers: int
    info: dict = field(default_factory=dict)


def cells_frame(design: Design, sizes: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame([
        {"cell": c.cell, "weights": c.weights, "n": sizes[c.weights], "t": c.t, "model": c.model,
         "fe": c.fe, "method": c.method, "spatial": c.spatial}
        for c in design.cells
    ], columns=CELL_COLUMNS)


def _chunks(r: int, size: int) -> list[range]:
    return [range(a, min(a + size, r)) for a in range(0, r, max(1, size))]


def run(design: Design, *, scheduler: str | None = None, n_workers: int = 2, processes: bool = False,
        progress: Callable[[int, int], None] | bool = False) -> MonteCarloResult:
    """Run ``design`` on dask.distributed and aggregate.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``"tcp://host:8786"``); by default a
        LocalCluster with ``n_workers`` workers, one thread each, is started and
        closed.
    n_workers : int
        Workers of the LocalCluster (0: run in this process without a cluster).
    processes : bool
        LocalCluster workers as processes (True) or threads in this process (False).
    progress : callable or bool
        ``progress(done, total)`` after each finished task; ``True`` shows a rich progress bar.
    """
    import time

    from spillover.engine import Engine

    for c in design.cells:
        _check_cell(c)
    _check_dynamic(design)
    t0 = time.perf_counter()
    wmats = {name: load_weights(name) for name in sorted({c.weights for c in design.cells})}
    cells = cells_frame(design, {k: v.shape[0] for k, v in wmats.items()})
    tasks = [(c, list(ch)) for c in design.cells for ch in _chunks(design.replications, design.chunk_size)]
    with Engine(scheduler=scheduler, n_workers=n_workers, processes=processes,
                progress=progress) as eng:
        workers = eng.workers
        parts = eng.map(_run_task, tasks, shared={"design": design, "wmats": wmats}, name=design.name)
    reps = (pd.concat(parts, ignore_index=True)
            .sort_values(["cell", "rep", "kind", "quantity"], kind="mergesort").reset_index(drop=True))
    summary = aggregate(reps, cells)
    return MonteCarloResult(design=design, replications=reps, summary=summary, cells=cells,
                            seconds=time.perf_counter() - t0, workers=workers)


def _run_task(task, *, design: Design, wmats: dict) -> pd.DataFrame:
    cell, reps = task
    return run_chunk(design, cell, wmats[cell.weights], reps)


def _check_dynamic(design: Design) -> None:
    for c in design.cells:
        if c.method.endswith("-qml") and design.tau == 0:
            raise ValueError(f"method {c.method!r} is for dynamic designs (tau != 0)")
    if design.tau == 0:
        return
    for c in design.cells:
        if c.model not in ("sar", "sdm") or c.fe not in ("entity", "twoways") or c.t < 3:
            raise ValueError(f"a dynamic design (tau = {design.tau}) needs models sar/sdm, fe entity/twoways and "
                             f"T >= 3; cell {c.cell} has model {c.model!r}, fe {c.fe!r}, T {c.t}")


def _check_cell(c: Cell) -> None:
    from spillover import registry

    allowed = registry.names(simulate=True)
    if c.model not in allowed:
        raise ValueError(f"model must be one of {allowed} (estimators with a data-generating process), "
                         f"got {c.model!r}")
    if c.method not in DYNAMIC_METHODS:
        raise ValueError(f"method must be one of {METHODS} (dynamic designs also {DYNAMIC_METHODS[2:]}), "
                         f"got {c.method!r}")
    if c.fe not in FIXED_EFFECTS:
        raise ValueError(f"fe must be one of {FIXED_EFFECTS}, got {c.fe!r}")


# ----------------------------------------------------------------------------- outputs
def summary_markdown(result: MonteCarloResult, quantities: Sequence[str] | None = None) -> str:
    """A Markdown table of the summary (optionally only some quantities)."""
    s = result.summary
    if quantities is not None:
        s = s[s["quantity"].isin(quantities)]
    cols = ["weights", "n", "t", "model", "fe", "method", "spatial", "quantity", "truth", "mean", "bias",
            "bias_mcse", "rmse", "sd", "mean_se", "coverage", "r_ok"]
    s = s[cols]
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    body = "".join(
        "| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |\n"
        for row in s.itertuples(index=False)
    )
    d = result.design
    return (f"# Monte Carlo: {d.name}\n\nR = {d.replications} replications per cell, base seed {d.seed}, "
            f"beta = {list(d.beta)}, sigma2 = {d.sigma2}" + (f", tau = {d.tau} (dynamic)" if d.tau else "")
            + ". Coverage: nominal 95% Wald intervals. bias_mcse = sd / sqrt(r_ok).\n\n" + head + body)


def plot_summary(result: MonteCarloResult, path: str | Path, quantities: Sequence[str] | None = None) -> Path:
    """Bias (with +-1.96 MCSE bars) and coverage per cell, one column per quantity; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spillover.io import atomic_write

    s = result.summary
    if quantities is None:
        spatial_q = [q for q in ("rho", "lambda") if q in set(s["quantity"])]
        quantities = spatial_q + ["sigma2"]
    quantities = [q for q in quantities if q in set(s["quantity"])]
    labels = s.drop_duplicates("cell").set_index("cell")
    others = [c for c in ("weights", "t", "model", "fe") if labels[c].nunique() > 1]
    group_cols = others + ["spatial"]
    methods = list(dict.fromkeys(s["method"]))
    fig, axes = plt.subplots(2, len(quantities), figsize=(4.2 * len(quantities), 6.0), squeeze=False)
    for j, q in enumerate(quantities):
        sq = s[s["quantity"] == q]
        groups = list(dict.fromkeys(tuple(r) for r in sq[group_cols].itertuples(index=False)))
        xs = np.arange(len(groups))
        width = 0.8 / max(1, len(methods))
        for m_i, meth in enumerate(methods):
            sm = sq[sq["method"] == meth]
            by_key = {tuple(k): row for k, (_, row) in zip(sm[group_cols].itertuples(index=False), sm.iterrows())}
            vals = [by_key.get(g) for g in groups]
            bias = [v["bias"] if v is not None else np.nan for v in vals]
            mcse = [1.96 * v["bias_mcse"] if v is not None else np.nan for v in vals]
            cov = [v["coverage"] if v is not None else np.nan for v in vals]
            off = xs + (m_i - (len(methods) - 1) / 2) * width
            axes[0, j].bar(off, bias, width, yerr=mcse, label=meth, capsize=3)
            axes[1, j].bar(off, cov, width, label=meth)
        ticks = [", ".join(f"{c}={v}" if c != "spatial" else f"{'rho' if q != 'lambda' else 'lambda'}={v}"
                           for c, v in zip(group_cols, g)) for g in groups]
        for i in (0, 1):
            axes[i, j].set_xticks(xs, ticks, fontsize=8)
        axes[0, j].axhline(0, color="black", lw=0.8)
        axes[0, j].set_title(f"{q}: bias (+-1.96 MCSE)")
        axes[1, j].axhline(0.95, color="black", lw=0.8, ls="--")
        axes[1, j].set_ylim(0, 1)
        axes[1, j].set_title(f"{q}: coverage of 95% CI")
    axes[0, 0].legend(title="method", fontsize=8)
    d = result.design
    fig.suptitle(f"{d.name}: R = {d.replications} per cell", fontsize=10)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=120, metadata={"Software": None}))
    plt.close(fig)
    return Path(path)


def write_outputs(result: MonteCarloResult, out: str | Path, stem: str | None = None) -> list[Path]:
    """Write ``<stem>.csv`` (summary), ``<stem>.md`` and ``<stem>.png`` atomically under ``out``."""
    from spillover.io import atomic_write_text

    out = Path(out)
    stem = stem or result.design.name
    csv = atomic_write_text(out / f"{stem}.csv", result.summary.to_csv(index=False, float_format="%.10g"))
    md = atomic_write_text(out / f"{stem}.md", summary_markdown(result))
    png = plot_summary(result, out / f"{stem}.png")
    return [csv, md, png]


# ----------------------------------------------------------------------------- TOML spec
_SPEC_DOC = """A Monte Carlo design file (TOML)::

    name = "lee_yu_bias"        # stem of the output files
    replications = 200          # R per cell
    seed = 20261124             # base seed
    chunk_size = 25             # replications per dask task
    impacts = true              # evaluate delta-method impacts

    [grid]                      # full factorial
    weights = ["provinces"]     # or "lattice7x7"
    periods = [10]
    spatial = [0.2, 0.5]        # rho (sar, sdm) or lambda (sem, sdem)
    models = ["sar"]            # sar | sem | sdm | sdem
    methods = ["direct", "lee-yu"]
    fe = ["twoways"]            # none | entity | time | twoways

    [dgp]
    beta = [1.0, -0.5]
    sigma2 = 1.0
"""


def _spec_models():
    from typing import Literal

    from pydantic import BaseModel, ConfigDict, Field, field_validator

    class GridSpec(BaseModel):
        model_config = ConfigDict(extra="forbid")
        weights: list[str] = Field(min_length=1)
        periods: list[int] = Field(min_length=1)
        spatial: list[float] = Field(min_length=1)
        models: list[Literal["sar", "sem", "sdm", "sdem"]] = Field(min_length=1)
        methods: list[Literal["direct", "lee-yu", "direct-qml", "lee-yu-qml"]] = Field(min_length=1)
        fe: list[Literal["none", "entity", "time", "twoways"]] = ["twoways"]

        @field_validator("weights")
        @classmethod
        def _weights(cls, v: list[str]) -> list[str]:
            for name in v:
                if name != "provinces" and not _LATTICE.match(name):
                    raise ValueError(f"unknown weights {name!r}; allowed: {weights_names_help()}")
            return v

        @field_validator("periods")
        @classmethod
        def _periods(cls, v: list[int]) -> list[int]:
            if any(t < 2 for t in v):
                raise ValueError("every T must be >= 2 (fixed effects need two periods)")
            return v

        @field_validator("spatial")
        @classmethod
        def _spatial(cls, v: list[float]) -> list[float]:
            if any(not -1 < s < 1 for s in v):
                raise ValueError("spatial parameters must lie in (-1, 1) for a row-standardised W")
            return v

    class DgpSpec(BaseModel):
        model_config = ConfigDict(extra="forbid")
        beta: list[float] = Field(default=[1.0, -0.5], min_length=1)
        theta: list[float] | None = None
        sigma2: float = Field(default=1.0, gt=0)
        effect_scale: float = Field(default=1.0, ge=0)
        x_effect_corr: float = 0.5
        tau: float = Field(default=0.0, gt=-1, lt=1)

    class MonteCarloSpec(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
        description: str = ""
        replications: int = Field(ge=2)
        seed: int = Field(ge=0)
        chunk_size: int = Field(default=25, ge=1)
        impacts: bool = True
        grid: GridSpec
        dgp: DgpSpec = DgpSpec()

        def design(self) -> Design:
            g, d = self.grid, self.dgp
            return Design.grid(weights=g.weights, periods=g.periods, spatial=g.spatial, models=g.models,
                               methods=g.methods, fe=g.fe, replications=self.replications, seed=self.seed,
                               beta=tuple(d.beta), theta=None if d.theta is None else tuple(d.theta),
                               sigma2=d.sigma2, effect_scale=d.effect_scale, x_effect_corr=d.x_effect_corr,
                               tau=d.tau, chunk_size=self.chunk_size, impacts=self.impacts, name=self.name)

    return MonteCarloSpec


MonteCarloSpec = _spec_models()


def load_spec(path: str | Path):
    """Read and validate a Monte Carlo TOML design; see ``_SPEC_DOC`` for the format.

    Raises
    ------
    spillover.errors.SpecificationError
        One line per problem: ``file: key: message (allowed: ...); got value``.
    """
    import tomllib

    from pydantic import ValidationError

    from spillover.errors import SpecificationError

    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecificationError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecificationError(f"{path}: not valid TOML: {exc}") from None
    try:
        return MonteCarloSpec.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "<top level>"
            msg = err["msg"]
            ctx = err.get("ctx") or {}
            if "expected" in ctx:
                msg += f" (allowed: {ctx['expected']})"
            if err["type"] == "extra_forbidden":
                parent = MonteCarloSpec
                for part in err["loc"][:-1]:
                    parent = parent.model_fields[str(part)].annotation
                msg += f" (allowed keys: {list(parent.model_fields)})"
            lines.append(f"{path}: {loc}: {msg}; got {err.get('input')!r}")
        raise SpecificationError("invalid Monte Carlo design\n" + "\n".join(lines)) from None
