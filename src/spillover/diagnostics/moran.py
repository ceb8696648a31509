"""Moran's I for panels: one cross-section per period, the pooled panel, and LISA.

Functions
---------
moran_by_year
    Global Moran's I of each period's cross-section (esda.Moran).
moran_pooled
    Moran's I of the stacked panel with the block-diagonal weights I_T kron W.
lisa_by_year
    Local Moran's I_i of every unit and period (esda.Moran_Local), tidy.

Conventions shared by the three functions
-----------------------------------------
* The weights are used **as given** (no re-standardisation): pass a
  row-standardised W to get the usual row-standardised statistic. ``w`` itself
  is never modified (esda assigns ``w.transform``; we hand it a private copy).
* Each period's cross-section is ordered by ``w.id_order``; the entities of the
  data must be exactly the ids of ``w`` and every period must contain all of
  them.
* Islands (units without neighbours) have a zero row and column in W, as in
  libpysal/esda: they count in N and in the denominator ``z'z`` but add
  nothing to ``z'Wz`` or to S0; their local I_i is 0. A warning names them.
* Permutation draws are reproducible: period ``t`` is seeded with
  ``SeedSequence([seed, year])`` (see ``_panel.year_seed``), so re-running
  gives identical ``p_sim`` and adding or dropping a period does not change
  the draws of the others. NumPy's global random state is restored afterwards.
"""

from __future__ import annotations

import functools
import warnings
from contextlib import contextmanager
from typing import Any, Iterator

import esda
import numpy as np
import pandas as pd
from scipy import stats

from spillover.diagnostics._panel import (
    PanelLayout,
    as_libpysal_w,
    layout,
    private_copy,
    sparse_w,
    year_seed,
)
from spillover.errors import SpecificationError, format_error
from spillover.options import check_count, check_seed

__all__ = ["moran_by_year", "moran_pooled", "lisa_by_year"]

#: Below this many units the normal approximation of Moran's I is poor.
SMALL_N = 30

CLUSTER_LABELS = {1: "HH", 2: "LH", 3: "LL", 4: "HL"}


@contextmanager
def _seeded_global_rng(seed: int) -> Iterator[None]:
    """Seed NumPy's legacy global RNG (esda draws from it) and restore it on exit."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _check_not_constant(y: np.ndarray, var: str, period: Any, time: str) -> None:
    scale = max(1.0, float(np.max(np.abs(y))))
    if float(np.ptp(y)) <= 1e-12 * scale:
        raise SpecificationError(
            format_error(
                f"Moran's I is undefined: variable {var!r} is constant across units in "
                f"{time} {period!r} (z'z = 0)",
                variable=var,
                year=period,
                hint="drop that period or test another variable",
            )
        )


def _warn_islands(w: Any) -> None:
    if w.islands:
        shown = ", ".join(repr(i) for i in list(w.islands)[:10])
        more = len(w.islands) - 10
        warnings.warn(
            f"w has {len(w.islands)} island(s) without neighbours: {shown}"
            + (f", ... ({more} more)" if more > 0 else "")
            + ". They keep a zero row in W (libpysal/esda behaviour): they count in N "
            "and z'z but add nothing to z'Wz, which pulls I toward 0. Consider "
            "sp.weights.contiguity(..., islands='nearest').",
            UserWarning,
            stacklevel=3,
        )


def _warn_small_n(n: int) -> None:
    if n < SMALL_N:
        warnings.warn(
            f"only N = {n} units per period: the normal-approximation p-values "
            f"(p_norm) of Moran's I are unreliable with fewer than {SMALL_N} units; "
            "use the permutation p-value p_sim.",
            UserWarning,
            stacklevel=3,
        )


def _p_sim(sim: np.ndarray, observed: float) -> float:
    """Folded pseudo p-value, as esda: (min(#{sim >= I}, P - #{sim >= I}) + 1) / (P + 1)."""
    permutations = sim.size
    larger = int(np.sum(sim >= observed))
    if permutations - larger < larger:
        larger = permutations - larger
    return (larger + 1.0) / (permutations + 1.0)


def _p_norm(z: float, two_tailed: bool) -> float:
    p = float(stats.norm.sf(abs(z)))
    return min(1.0, 2.0 * p) if two_tailed else p


#: esda's numba kernels whose compiled code is not kept on disk: ``compute_chunk`` takes the statistic as a
#: first-class function, so its cache key changes in every process and each run would add a file.
_UNCACHED_KERNELS = frozenset({"compute_chunk"})


@functools.cache
def _keep_compiled_permutation_kernels() -> None:
    """Ask numba to keep esda's compiled conditional-permutation kernels on disk (``Dispatcher.enable_caching``).

    esda compiles them without numba's cache, about 15 s in every new process
    on two cores before the first LISA; with the cache a later process loads
    them (the kernel in :data:`_UNCACHED_KERNELS` is still compiled, about
    5 s). The machine code is numba's for this CPU, keyed by it; the numbers
    are the same.
    """
    try:
        from numba.core.registry import CPUDispatcher
    except ImportError:  # esda runs without numba
        return
    import importlib

    for name in ("esda.crand", "esda.moran", "esda.significance"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for attr, f in vars(module).items():
            if isinstance(f, CPUDispatcher) and attr not in _UNCACHED_KERNELS:
                try:
                    f.enable_caching()
                except Exception:  # noqa: BLE001 - a read-only install: compile as esda does
                    pass


def _prepare(df, var, w, entity, time) -> tuple[PanelLayout, Any]:
    w = as_libpysal_w(w)
    panel = layout(df, w, entity, time, [var])
    return panel, w


def moran_by_year(
    data: pd.DataFrame,
    column: str,
    w: Any,
    entity: str,
    time: str,
    *,
    permutations: int = 999,
    seed: int | None = 0,
    two_tailed: bool = True,
) -> pd.DataFrame:
    """Global Moran's I of ``column`` in each period's cross-section.

    For period t with deviations ``z = y_t - mean(y_t)`` (units in
    ``w.id_order``),

        I_t = (N / S0) * z'Wz / z'z,             S0 = sum_ij w_ij

    (Moran 1950, *Biometrika* 37; Cliff & Ord 1981, *Spatial Processes*, ch. 1). ``expected``
    is E[I] = -1/(N-1) and ``variance`` the variance under the normality
    assumption, Var[I] = (N^2 S1 - N S2 + 3 S0^2) / ((N^2 - 1) S0^2) - E[I]^2
    (Cliff & Ord 1981, ch. 2), both as computed by :class:`esda.Moran`;
    ``z = (I - E[I]) / sqrt(Var[I])`` and ``p_norm`` is its normal p-value.
    ``p_sim`` is esda's folded permutation p-value,
    ``(min(#{I_sim >= I}, P - #{I_sim >= I}) + 1) / (P + 1)``.

    Parameters
    ----------
    data : DataFrame
        Long panel with columns ``entity``, ``time`` and ``column``.
    column : str
        Variable to test.
    w : libpysal.weights.W
        Weights with ids equal to the entity values; used as given (not
        re-standardised) and not modified.
    entity, time : str
        Unit and period columns.
    permutations : int, default 999
        Random permutations per period for ``p_sim`` (0 -> ``p_sim`` is NaN).
    seed : int, default 0
        Base seed; period ``year`` uses ``SeedSequence([seed, year])``, so the
        result is identical on every re-run.
    two_tailed : bool, default True
        Two-sided ``p_norm`` (doubles the one-sided tail probability).

    Returns
    -------
    DataFrame
        One row per period, columns ``year, I, expected, variance, z, p_norm,
        p_sim, n`` (``year`` holds the values of the ``time`` column).

    Raises
    ------
    WeightsError
        Entities and ``w`` ids differ.
    SpecificationError
        Missing variable, unbalanced period, missing values, or ``column``
        constant across units in a period (Moran's I undefined).

    Warns
    -----
    UserWarning
        ``w`` has islands (named; they keep zero rows, see module notes), or
        N < 30 units (normal-approximation p-values unreliable; use p_sim).
    """
    permutations = check_count(permutations, "permutations", zero="no permutation p-value")
    check_seed(seed)
    panel, w = _prepare(data, column, w, entity, time)
    y = panel.array(column)
    for t, period in enumerate(panel.periods):
        _check_not_constant(y[t], column, period, time)
    _warn_islands(w)
    _warn_small_n(panel.n)

    wcopy = private_copy(w)
    rows = []
    for t, period in enumerate(panel.periods):
        with _seeded_global_rng(year_seed(seed, period)):
            mi = esda.Moran(
                y[t], wcopy, transformation="O", permutations=permutations, two_tailed=two_tailed
            )
        rows.append(
            {
                "year": period,
                "I": float(mi.I),
                "expected": float(mi.EI),
                "variance": float(mi.VI_norm),
                "z": float(mi.z_norm),
                "p_norm": float(mi.p_norm),
                "p_sim": float(mi.p_sim) if permutations else np.nan,
                "n": int(mi.n),
            }
        )
    columns = ["year", "I", "expected", "variance", "z", "p_norm", "p_sim", "n"]
    return pd.DataFrame(rows, columns=columns)


def _weights_moments(wsp) -> tuple[float, float, float]:
    """S0, S1, S2 of a weights matrix (Cliff & Ord 1981, ch. 1 notation)."""
    s0 = float(wsp.sum())
    sym = wsp + wsp.T
    s1 = 0.5 * float(sym.multiply(sym).sum())
    rows = np.asarray(wsp.sum(axis=1)).ravel()
    cols = np.asarray(wsp.sum(axis=0)).ravel()
    s2 = float(np.sum((rows + cols) ** 2))
    return s0, s1, s2


def moran_pooled(
    data: pd.DataFrame,
    column: str,
    w: Any,
    entity: str,
    time: str,
    *,
    permutations: int = 999,
    seed: int | None = 0,
    two_tailed: bool = True,
    center: str = "overall",
) -> pd.DataFrame:
    """Moran's I of the stacked panel with block-diagonal weights I_T kron W.

    With the NT-vector ``z`` stacked time-major (period 1's units in
    ``w.id_order``, then period 2's, ...) and ``W_NT = I_T kron W`` -- units
    are neighbours only within the same period --

        I = (NT / S0_NT) * z' W_NT z / z'z = (N / S0) * sum_t z_t'W z_t / sum_t z_t'z_t

    since ``S0_NT = T S0``. Two centrings:

    ``center="overall"`` (default)
        ``z = y - mean(y)`` over all NT observations. Moments under normality
        are those of a cross-section with n = NT and ``S0_NT = T S0``,
        ``S1_NT = T S1``, ``S2_NT = T S2``: E[I] = -1/(n-1),
        Var[I] = (n^2 S1_NT - n S2_NT + 3 S0_NT^2) / ((n^2-1) S0_NT^2) - E[I]^2
        (Cliff & Ord 1981, *Spatial Processes*, ch. 2). Common period shocks
        (trends) raise I here, because same-period units share them.
    ``center="year"``
        ``z_t = y_t - mean(y_t)``: ``z`` is the residual of a regression on T
        period dummies, ``M = I_T kron (I_N - J_N/N)``, and the moments are the
        Cliff-Ord moments for regression residuals with k = T regressors
        (Cliff & Ord 1981, ch. 8; Anselin 1988, *Spatial Econometrics*, Moran's I
        test on OLS residuals):
        E[I] = (n/S0_NT) tr(M W_NT)/(n-k),
        Var[I] = (n/S0_NT)^2 [tr(M W_NT M W_NT') + tr((M W_NT)^2) + tr(M W_NT)^2]
        / ((n-k)(n-k+2)) - E[I]^2.

    ``p_sim`` permutes values **within periods** (the block structure of the
    panel and, for ``center="year"``, the period means are preserved), with
    ``numpy.random.default_rng(seed)``, and uses esda's folded rule.

    Parameters
    ----------
    data, column, w, entity, time, permutations, seed, two_tailed
        As in :func:`moran_by_year`.
    center : {"overall", "year"}
        Deviations from the grand mean or from each period's mean.

    Returns
    -------
    DataFrame
        One row (index ``"pooled"``): ``I, expected, variance, z, p_norm,
        p_sim, n`` (= N*T), ``N``, ``T``, ``center``.
    """
    if center not in ("overall", "year"):
        raise SpecificationError(
            format_error("unknown centring", center=center, hint="use 'overall' or 'year'")
        )
    permutations = check_count(permutations, "permutations", zero="no permutation p-value")
    check_seed(seed)
    panel, w = _prepare(data, column, w, entity, time)
    y = panel.array(column)
    for t, period in enumerate(panel.periods):
        _check_not_constant(y[t], column, period, time)
    _warn_islands(w)

    n_units, n_periods = panel.n, panel.t
    n = n_units * n_periods
    wsp = sparse_w(w)
    s0, s1, s2 = _weights_moments(wsp)
    if s0 == 0:
        raise SpecificationError(format_error("w has no links (S0 = 0); Moran's I is undefined"))
    s0_nt = n_periods * s0

    z = y - (y.mean() if center == "overall" else y.mean(axis=1, keepdims=True))
    zz = float(np.sum(z * z))
    if zz <= 0:
        raise SpecificationError(format_error(f"variable {column!r} is constant; Moran's I undefined"))
    cross = float(np.sum(z * np.asarray(wsp @ z.T).T))
    moran = (n / s0_nt) * cross / zz

    if center == "overall":
        expected = -1.0 / (n - 1)
        variance = (n * n * n_periods * s1 - n * n_periods * s2 + 3.0 * s0_nt**2) / (
            (n - 1.0) * (n + 1.0) * s0_nt**2
        ) - expected**2
    else:
        dense = wsp.toarray()
        cw = dense - dense.mean(axis=0, keepdims=True)  # (I - J/N) W
        tr_mw = n_periods * float(np.trace(cw))
        tr_mwmwt = n_periods * float(np.sum(cw * cw))  # tr(CW (CW)') = ||CW||_F^2, C idempotent
        tr_mwmw = n_periods * float(np.sum(cw * cw.T))
        k = n_periods
        expected = (n / s0_nt) * tr_mw / (n - k)
        variance = (n / s0_nt) ** 2 * (tr_mwmwt + tr_mwmw + tr_mw**2) / (
            (n - k) * (n - k + 2.0)
        ) - expected**2
    zval = (moran - expected) / np.sqrt(variance)

    p_sim = np.nan
    if permutations:
        rng = np.random.default_rng(seed)
        sims = np.empty(permutations)
        batch = max(1, int(2_000_000 // max(1, n)))
        done = 0
        while done < permutations:
            b = min(batch, permutations - done)
            idx = np.argsort(rng.random((b, n_periods, n_units)), axis=2)
            zp = np.take_along_axis(np.broadcast_to(z, (b, n_periods, n_units)), idx, axis=2)
            flat = zp.reshape(-1, n_units)
            lag = np.asarray(wsp @ flat.T).T.reshape(zp.shape)
            sims[done : done + b] = (n / s0_nt) * np.sum(zp * lag, axis=(1, 2)) / zz
            done += b
        p_sim = _p_sim(sims, moran)

    return pd.DataFrame(
        {
            "I": [moran],
            "expected": [expected],
            "variance": [variance],
            "z": [zval],
            "p_norm": [_p_norm(zval, two_tailed)],
            "p_sim": [p_sim],
            "n": [n],
            "N": [n_units],
            "T": [n_periods],
            "center": [center],
        },
        index=["pooled"],
    )


def lisa_by_year(
    data: pd.DataFrame,
    column: str,
    w: Any,
    entity: str,
    time: str,
    *,
    permutations: int = 999,
    seed: int | None = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Local Moran's I (LISA) of every unit in every period, as a tidy table.

    For period t with ``z = (y_t - mean(y_t)) / sd(y_t)`` (population sd),

        I_i = (N - 1) * z_i * sum_j w_ij z_j / sum_j z_j^2

    (Anselin 1995, "Local indicators of spatial association -- LISA",
    *Geographical Analysis* 27(2), 93-115, with esda's (N-1) scaling),
    computed by :class:`esda.Moran_Local` with conditional permutations
    (the value of unit i fixed, its neighbours drawn from the other N-1
    values) for ``p_sim``, the folded pseudo p-value
    ``(min(#{I_sim >= I_i}, P - #{I_sim >= I_i}) + 1) / (P + 1)``.
    Quadrants of the Moran scatterplot are esda's codes 1 = HH (z > 0,
    Wz > 0), 2 = LH, 3 = LL, 4 = HL; ``cluster`` is that label when
    ``p_sim <= alpha`` and ``"ns"`` otherwise. No multiple-testing
    correction is applied (Anselin 1995 discusses Bonferroni-type bounds).
    Islands have I_i = 0 identically; their ``p_sim`` and ``z_sim`` are NaN
    and their cluster is ``"ns"`` (esda alone would report the spurious
    p_sim = 1/(P+1) for a statistic that never varies).

    Parameters
    ----------
    data, column, w, entity, time
        As in :func:`moran_by_year`; W is used as given.
    permutations : int, default 999
        Conditional permutations per period (must be >= 1).
    seed : int, default 0
        Base seed; period ``year`` uses ``SeedSequence([seed, year])``.
    alpha : float, default 0.05
        Significance level for the cluster labels.

    Returns
    -------
    DataFrame
        One row per (unit, period), periods in order and units in
        ``w.id_order``; columns ``entity, year, Ii, z, lag_z, z_sim, p_sim,
        quadrant, cluster`` where ``z`` is the standardised value, ``lag_z``
        its spatial lag ``Wz`` and ``z_sim`` the standardised I_i against the
        permutation distribution.
    """
    permutations = check_count(permutations, "permutations",
                               reason="lisa_by_year needs permutations >= 1 for p_sim and cluster labels")
    check_seed(seed)
    if not 0 < alpha < 1:
        raise SpecificationError(format_error("alpha must be in (0, 1)", alpha=alpha))
    panel, w = _prepare(data, column, w, entity, time)
    y = panel.array(column)
    for t, period in enumerate(panel.periods):
        _check_not_constant(y[t], column, period, time)
    _warn_islands(w)

    _keep_compiled_permutation_kernels()
    wcopy = private_copy(w)
    wsp = sparse_w(w)
    islands = set(w.islands)
    island_pos = np.array([i for i, k in enumerate(panel.ids) if k in islands], dtype=int)
    frames = []
    for t, period in enumerate(panel.periods):
        with _seeded_global_rng(year_seed(seed, period)), warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)  # z_sim of islands: 0/0
            # esda announces a future switch of the default alternative; we report
            # the current folded ("directed") p_sim, documented above.
            warnings.simplefilter("ignore", category=DeprecationWarning)
            ml = esda.Moran_Local(
                y[t],
                wcopy,
                transformation="O",
                permutations=int(permutations),
                n_jobs=1,
                keep_simulations=True,
                seed=year_seed(seed, period),
            )
        q = np.asarray(ml.q, dtype=int)
        p_sim = np.array(ml.p_sim, dtype=float)
        z_sim = np.array(ml.z_sim, dtype=float)
        p_sim[island_pos] = np.nan  # I_i == 0 identically: no permutation distribution
        z_sim[island_pos] = np.nan
        labels = np.array([CLUSTER_LABELS.get(int(k), "ns") for k in q], dtype=object)
        labels[~(p_sim <= alpha)] = "ns"
        z = np.asarray(ml.z, dtype=float)
        frames.append(
            pd.DataFrame(
                {
                    "entity": panel.ids,
                    "year": period,
                    "Ii": np.asarray(ml.Is, dtype=float),
                    "z": z,
                    "lag_z": np.asarray(wsp @ z, dtype=float),
                    "z_sim": z_sim,
                    "p_sim": p_sim,
                    "quadrant": q,
                    "cluster": labels,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
