"""Discrete Markov chains of a regional indicator: classic, spatial and LISA Markov.

A long panel of ``column`` (one row per unit and period) is turned into an
``N x T`` array of states, and the chains are estimated by :mod:`giddy`
(PySAL's package for distribution dynamics, Rey & Kang). This module is the panel
front end: it validates the panel, classes the values, and returns tidy
tables with counts, probabilities and tests.

* Classic Markov chain. The values are put into ``k`` classes and the
  maximum-likelihood transition probabilities are ``p_ij = n_ij / n_i``,
  ``n_ij`` the number of unit-period transitions from class ``i`` at ``t`` to
  class ``j`` at ``t + 1`` (Anderson & Goodman 1957), with the steady-state
  (ergodic) distribution of ``P``.
* Spatial Markov chain (Rey 2001). The transitions are split by the class of
  the unit's spatial lag at ``t`` (the neighbours' average, W row-standardised)
  into ``k`` conditional matrices. Spatial homogeneity -- the transition
  probabilities do not depend on the neighbours' class -- is tested with the
  likelihood-ratio statistic ``LR = 2 sum n_ijm ln(p_ijm / p_ij)`` and the
  Pearson form ``Q = sum n_im (p_ijm - p_ij)^2 / p_ij`` (Anderson & Goodman
  1957; Kullback, Kupperman & Ku 1962), both with ``sum_i (b_i - 1)(a_i - 1)``
  degrees of freedom, ``b_i`` the lag classes with transitions out of class
  ``i`` and ``a_i`` the classes reached from ``i`` in the pooled matrix
  (Bickenbach & Bode 2003). These are giddy's ``Spatial_Markov.LR`` and
  ``.Q`` (Rey, Kang & Wolf 2016 study their size and power). ``Q`` is the same
  number as Rey's (2001) sum over lag classes of the chi-squared statistics
  of each conditional matrix against the pooled one (giddy's ``x2``), which
  giddy refers to ``k (k - 1)^2`` degrees of freedom without the correction
  for empty cells; that count overstates the degrees of freedom of the sparse
  matrices of a short panel, so only the corrected test is reported.
* LISA Markov (Rey, Murray & Anselin 2011). Each unit's Moran scatterplot
  quadrant per period -- HH, LH, LL, HL for own value and spatial lag above or
  below the mean (z-values, W row-standardised) -- is the state, from giddy's
  ``LISA_Markov``. The chi-squared test compares the observed transitions
  with those expected if the unit's own move (above/below the period's mean)
  and its neighbours' move (spatial lag above/below that mean) were
  independent two-state Markov chains: ``E_ab = n_a p_own(a -> b) p_lag(a ->
  b)``, 9 degrees of freedom when every quadrant is left at least once
  (giddy's ``chi2``, fewer for unvisited rows). This is the construction of giddy's
  ``LISA_Markov.chi_2``, but computed here with units as rows and periods as
  columns: giddy 2.3.8 passes the two-state series to ``Markov`` transposed,
  so its statistic counts "transitions" between neighbouring rows of the
  array and changes when the units are listed in another order. The two
  chains here are the own and the lag halves of the quadrants themselves,
  and the statistic is giddy's ``chi2(observed, expected)``. The moves are
  also grouped into the four types of Rey, Murray & Anselin (2011): 0 no
  move, I the unit alone moves, II only its neighbours move, III both move.

Classes. ``classes="pooled"`` (the default) cuts at the quantiles of all
``N T`` values pooled over the periods, so a unit climbs a class only by
outgrowing the panel's whole distribution; these fixed boundaries are
giddy's default (``Spatial_Markov(fixed=True)``) and the common choice in
regional-economics studies of Chinese provinces (quartiles, ``k = 4``). ``classes="period"`` cuts each
period at its own quantiles (relative mobility, every class holds about
``N / k`` units in every period). A sequence of ``k - 1`` increasing cut
points gives fixed classes chosen by the user. A value equal to a cut point
belongs to the lower class (class ``i`` is ``(c_{i-1}, c_i]``, as in
:class:`mapclassify.Quantiles`, quantiles by linear interpolation). The
spatial lag is classed by the same rule (pooled or per-period quantiles of
the lag, or the same cut points).

References
----------
Anderson, T. W., & Goodman, L. A. (1957). Statistical inference about Markov
chains. Annals of Mathematical Statistics 28(1), 89-110.

Bickenbach, F., & Bode, E. (2003). Evaluating the Markov property in studies
of economic convergence. International Regional Science Review 26(3), 363-392.

Kullback, S., Kupperman, M., & Ku, H. H. (1962). Tests for contingency tables
and Markov chains. Technometrics 4(4), 573-608.

Rey, S. J. (2001). Spatial empirics for economic growth and convergence.
Geographical Analysis 33(3), 195-214.

Rey, S. J., Murray, A. T., & Anselin, L. (2011). Visualizing regional income
distribution dynamics. Letters in Spatial and Resource Sciences 4(1), 81-90.

Rey, S. J., Kang, W., & Wolf, L. (2016). The properties of tests for spatial
effects in discrete Markov chain models of regional income distribution
dynamics. Journal of Geographical Systems 18(4), 377-398.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sps

from spillover.errors import SpecificationError, WeightsError, format_error
from spillover.frame import period_codes, show, unit_codes

__all__ = ["markov", "MarkovResult", "TransitionMatrix", "SpatialMarkovResult", "LisaMarkovResult"]

RULES = ("pooled", "period")
#: giddy / PySAL quadrant codes 1..4 (own value, spatial lag)
QUADRANTS = ("HH", "LH", "LL", "HL")
_OWN = {"HH": "H", "LH": "L", "LL": "L", "HL": "H"}
_LAG = {"HH": "H", "LH": "H", "LL": "L", "HL": "L"}
MOVE_TYPES = {
    "0": "no move",
    "I": "the unit moves, its neighbours do not",
    "II": "the neighbours move, the unit does not",
    "III": "the unit and its neighbours move",
}


# --------------------------------------------------------------------------- results

@dataclass(frozen=True, eq=False)
class TransitionMatrix:
    """One chain's transitions: rows = state at ``t``, columns = state at ``t + 1``.

    Attributes
    ----------
    counts : pandas.DataFrame
        Number of unit-period transitions (integers).
    probabilities : pandas.DataFrame
        ``counts`` divided by their row sums; NaN in a row without transitions.
    steady_state : pandas.Series
        Ergodic distribution of ``probabilities`` (giddy's ``steady_state``,
        empty rows set to stay); NaN when the chain has no unique one
        (several recurrent classes).
    """

    counts: pd.DataFrame
    probabilities: pd.DataFrame
    steady_state: pd.Series

    @property
    def n(self) -> pd.Series:
        """Transitions out of each state (row sums of ``counts``)."""
        return self.counts.sum(axis=1).rename("n")

    @property
    def table(self) -> pd.DataFrame:
        """``n`` and the probabilities side by side, the usual layout of a transition table."""
        return pd.concat([self.n, self.probabilities], axis=1)


@dataclass(frozen=True, eq=False)
class SpatialMarkovResult:
    """Spatial Markov chain (Rey 2001): one transition matrix per class of the spatial lag at ``t``.

    Attributes
    ----------
    matrices : dict
        Lag class (1..k) -> :class:`TransitionMatrix`.
    lag_states : pandas.DataFrame
        Units x periods: the class of each unit's spatial lag.
    lag_cuts : pandas.DataFrame
        Upper bounds of lag classes 1..k-1 (one row, or one per period).
    chain : giddy.markov.Spatial_Markov
    """

    matrices: dict
    lag_states: pd.DataFrame
    lag_cuts: pd.DataFrame
    chain: object

    @property
    def table(self) -> pd.DataFrame:
        """Stacked conditional matrices: columns ``lag``, ``class``, ``n`` and the probabilities per class at t+1."""
        return _stacked(self.matrices, "table")

    @property
    def counts(self) -> pd.DataFrame:
        """Stacked conditional counts: columns ``lag``, ``class`` and the counts per class at t+1."""
        return _stacked(self.matrices, "counts")

    @property
    def steady_state(self) -> pd.DataFrame:
        """Rows = lag class, columns = class: each conditional chain's steady state."""
        out = pd.DataFrame({lag: m.steady_state for lag, m in self.matrices.items()}).T
        out.index.name = "lag"
        return out


@dataclass(frozen=True, eq=False)
class LisaMarkovResult:
    """LISA Markov chain (Rey, Murray & Anselin 2011) on the Moran scatterplot quadrants.

    Attributes
    ----------
    transitions : TransitionMatrix
        States HH, LH, LL, HL (own value, spatial lag; H = above the period's mean).
    expected : pandas.DataFrame
        Expected counts if own and neighbours' moves were independent (module docstring).
    independence : tuple
        ``(statistic, df, p)`` of the chi-squared test of that independence.
    quadrants : pandas.DataFrame
        Units x periods: each unit's quadrant.
    chain : giddy.markov.LISA_Markov
    """

    transitions: TransitionMatrix
    expected: pd.DataFrame
    independence: tuple
    quadrants: pd.DataFrame
    chain: object

    @property
    def moves(self) -> pd.DataFrame:
        """Transitions by type (0, I, II, III): ``description``, ``n`` and ``share``."""
        c = self.transitions.counts
        n = dict.fromkeys(MOVE_TYPES, 0)
        for a in c.index:
            for b in c.columns:
                own, lag = _OWN[a] != _OWN[b], _LAG[a] != _LAG[b]
                kind = "III" if own and lag else "I" if own else "II" if lag else "0"
                n[kind] += int(c.loc[a, b])
        total = sum(n.values())
        out = pd.DataFrame({"description": pd.Series(MOVE_TYPES), "n": pd.Series(n)})
        out["share"] = out["n"] / total if total else np.nan
        out.index.name = "type"
        return out


@dataclass(frozen=True, eq=False)
class MarkovResult:
    """Result of :func:`markov`.

    Attributes
    ----------
    column, entity, time : str
    k : int
        Number of classes (1 = lowest).
    rule : str
        ``"pooled"``, ``"period"`` or ``"cuts"`` (user cut points).
    cuts : pandas.DataFrame
        Upper bounds ``c1 .. c{k-1}`` of classes 1..k-1: one row ``"all"``
        (pooled quantiles or cut points) or one row per period.
    states : pandas.DataFrame
        Units x periods: the class of each unit in each period.
    classic : TransitionMatrix
        The classic chain on ``k`` classes.
    distribution : pandas.DataFrame
        Per class: units at the first and the last period (``n_start``,
        ``share_start``, ``n_end``, ``share_end``) and the ``steady_state``.
    spatial : SpatialMarkovResult or None
        With a W.
    lisa : LisaMarkovResult or None
        With a W.
    tests : pandas.DataFrame
        Index ``LR``, ``Q`` (spatial homogeneity) and ``lisa_chi2``
        (independence of own and neighbours' moves); columns ``statistic``,
        ``df``, ``p``, ``null``. Empty without a W.
    chain : giddy.markov.Markov
    """

    column: str
    entity: str
    time: str
    k: int
    rule: str
    cuts: pd.DataFrame
    states: pd.DataFrame
    classic: TransitionMatrix
    distribution: pd.DataFrame
    spatial: SpatialMarkovResult | None
    lisa: LisaMarkovResult | None
    tests: pd.DataFrame
    chain: object

    @property
    def table(self) -> pd.DataFrame:
        """The classic chain's transition table: ``n`` and probabilities (rows = class at t)."""
        return self.classic.table

    def summary(self) -> str:
        """Text: set-up, classic table, start/end/steady-state distribution, spatial and LISA tables, tests."""
        periods = list(self.states.columns)
        rule = {"pooled": "pooled quantiles of all periods", "period": "quantiles of each period",
                "cuts": "user cut points"}[self.rule]
        fmt = lambda v: f"{v:.4f}"  # noqa: E731
        parts = [f"Markov chain of {self.column}: {len(self.states)} units ({self.entity}), "
                 f"{periods[0]}-{periods[-1]} ({len(periods)} periods, {self.time}), "
                 f"{self.k} classes by {rule}",
                 "", "Transition probabilities (rows: class at t; n: transitions)",
                 self.table.to_string(float_format=fmt), "", "Distribution",
                 self.distribution.to_string(float_format=fmt)]
        if self.spatial is not None:
            parts += ["", "Spatial Markov (Rey 2001), by class of the spatial lag at t",
                      self.spatial.table.to_string(index=False, float_format=fmt)]
        if self.lisa is not None:
            parts += ["", "LISA Markov (Moran scatterplot quadrants)",
                      self.lisa.transitions.table.to_string(float_format=fmt), "",
                      self.lisa.moves.to_string(float_format=fmt)]
        if len(self.tests):
            parts += ["", "Tests", self.tests.to_string(float_format=fmt)]
        return "\n".join(parts)

    def __repr__(self) -> str:
        return self.summary()


# --------------------------------------------------------------------------- input

def _wide(data, column: str, entity, time: str, w) -> tuple[np.ndarray, list, list, sps.csr_array | None]:
    """``(Y, ids, periods, W)``: Y is units x periods (W's unit order, or sorted units without W)."""
    if not isinstance(data, pd.DataFrame):
        raise SpecificationError(format_error("data must be a pandas DataFrame", got=type(data).__name__))
    if entity is None:
        raise SpecificationError(format_error(
            "a Markov chain follows each unit over time: name the unit column", option="entity",
            hint=f"pass entity=<unit column>; columns that are not floats: "
                 f"{show(str(c) for c in data.columns if not pd.api.types.is_float_dtype(data[c]))}"))
    for option, col in (("column", column), ("entity", entity), ("time", time)):
        if not isinstance(col, str) or col not in data.columns:
            raise SpecificationError(format_error(f"{option} {col!r} is not a column of the data", option=option,
                                                  hint=f"available columns: {show(map(str, data.columns))}"))
    values = data[column]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise SpecificationError(format_error("column is not numeric", column=column, dtype=str(values.dtype),
                                              hint="convert the column to numbers first"))
    df = data[[entity, time, column]].reset_index(drop=True)
    for col in (entity, time):
        bad = df[col].isna().to_numpy()
        if bad.any():
            raise SpecificationError(format_error(f"{int(bad.sum())} row(s) without a value", column=col,
                                                  rows=list(data.index[bad][:10]),
                                                  hint="fill in or drop those rows"))
    W = None
    if w is not None:
        from spillover.weights import as_matrix

        W, ids, _ = as_matrix(w)
        unit = unit_codes(df[entity], ids, entity)
    else:
        unit, uniq = pd.factorize(df[entity], sort=True)
        ids = [u.item() if isinstance(u, np.generic) else u for u in uniq]
    period, uniq_t = period_codes(df[time], time)
    periods = [p.item() if isinstance(p, np.generic) else p for p in uniq_t]
    n, t = len(ids), len(periods)
    if t < 2:
        raise SpecificationError(format_error(f"a Markov chain needs at least 2 periods, got {periods}",
                                              column=time))
    num = pd.to_numeric(pd.Series(periods), errors="coerce")
    if num.notna().all() and np.unique(np.round(np.diff(num.to_numpy(dtype=float)), 9)).size > 1:
        raise SpecificationError(format_error(
            f"periods are not equally spaced: {show(periods)}", column=time,
            hint="a transition matrix holds one step length; keep equally spaced periods"))
    key = period.astype(np.int64) * n + unit
    seen = np.bincount(key, minlength=n * t).reshape(t, n)
    if seen.max() > 1:
        dup = df[df.duplicated([entity, time], keep=False)]
        pairs = list(dup[[entity, time]].drop_duplicates().itertuples(index=False, name=None))
        raise SpecificationError(format_error(f"duplicate rows for (unit, period): {show(pairs)}",
                                              column=entity, hint="keep one row per unit and period"))
    if (seen == 0).any():
        holes = np.argwhere(seen.T == 0)  # (unit, period) pairs, units first
        i, p = holes[0]
        raise SpecificationError(format_error(
            f"unbalanced panel: {len(holes)} (unit, period) row(s) missing; first", unit=ids[i],
            period=periods[p], column=entity,
            hint="a Markov chain needs every unit in every period: add the row, or drop the unit "
                 "(and its row of W) or the period"))
    Y = np.empty((n, t))
    Y[unit, period] = df[column].to_numpy(dtype=float)
    bad = ~np.isfinite(Y)
    if bad.any():
        cells = np.argwhere(bad)
        i, p = cells[0]
        raise SpecificationError(format_error(
            f"{len(cells)} missing or non-finite value(s); first", column=column, unit=ids[i], period=periods[p],
            hint="impute the value, or drop the unit (and its row of W) or the period"))
    return Y, ids, periods, W


def _quantile_states(y: np.ndarray, k: int, what: str, column: str, period=None) -> tuple[np.ndarray, np.ndarray]:
    """States 0..k-1 and the k-1 cut points of ``y`` at its k quantiles (mapclassify, as giddy)."""
    import mapclassify as mc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # mapclassify warns on ties; refused below
        q = mc.Quantiles(y, k=k)
    if len(q.bins) < k:
        raise SpecificationError(format_error(
            f"the {k} quantiles of the {what} are not distinct (ties); {len(q.bins)} classes remain",
            column=column, period=period, option="k",
            hint="use fewer classes (k), classes='pooled', or explicit cut points (classes=[...])"))
    return np.asarray(q.yb), np.asarray(q.bins[:-1], dtype=float)


def _classify(Y: np.ndarray, k: int, classes, periods: list, column: str, what: str = "values"):
    """``(states 0..k-1, rule, cuts frame)`` of Y (units x periods)."""
    names = [f"c{j}" for j in range(1, k)]
    if isinstance(classes, str):
        if classes == "pooled":
            s, c = _quantile_states(Y.ravel(), k, f"pooled {what}", column)
            return s.reshape(Y.shape), "pooled", pd.DataFrame([c], index=["all"], columns=names)
        states, cuts = np.empty(Y.shape, dtype=int), []
        for j, p in enumerate(periods):
            states[:, j], c = _quantile_states(Y[:, j], k, what, column, period=p)
            cuts.append(c)
        return states, "period", pd.DataFrame(cuts, index=pd.Index(periods), columns=names)
    import mapclassify as mc

    cuts = np.asarray(classes, dtype=float)
    states = mc.UserDefined(Y.ravel(), [*cuts, np.inf]).yb.reshape(Y.shape)
    return states, "cuts", pd.DataFrame([cuts], index=["all"], columns=names)


def _check_classes(classes, k) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise SpecificationError(format_error(f"k must be an integer of at least 2, got {k!r}", option="k",
                                              hint="k=4 for quartiles"))
    if isinstance(classes, str):
        if classes not in RULES:
            raise SpecificationError(format_error(f"classes={classes!r} is not supported", option="classes",
                                                  hint=f"choose {RULES[0]!r}, {RULES[1]!r} or a list of cut points"))
        return
    try:
        cuts = np.asarray(classes, dtype=float)
    except (TypeError, ValueError):
        cuts = None
    if cuts is None or cuts.ndim != 1 or not np.isfinite(cuts).all() or (np.diff(cuts) <= 0).any():
        raise SpecificationError(format_error(f"classes={classes!r}: cut points must be finite and increasing",
                                              option="classes", hint="e.g. classes=[0.2, 0.4, 0.6] with k=4"))
    if len(cuts) != k - 1:
        raise SpecificationError(format_error(
            f"{len(cuts)} cut points make {len(cuts) + 1} classes but k={k}", option="classes",
            hint=f"pass k={len(cuts) + 1}, or {k - 1} cut points"))


def _row_standardised(W: sps.csr_array, ids: list):
    """A new libpysal W, rows summing to one (the lag is the neighbours' average)."""
    import libpysal

    rows = np.asarray(W.sum(axis=1)).ravel()
    if (rows <= 0).any():
        lonely = [ids[i] for i in np.flatnonzero(rows <= 0)]
        raise WeightsError(format_error(
            f"unit(s) without neighbours in w: {show(lonely)}", option="w",
            hint="their spatial lag is undefined; build W with islands='nearest' or drop those units"))
    Wr = sps.csr_matrix(sps.diags(1.0 / rows) @ W)
    return libpysal.weights.WSP(Wr, id_order=list(ids)).to_W(silence_warnings=True)


# --------------------------------------------------------------------------- chains

def _matrix(counts: np.ndarray, labels, steady, name: str = "class") -> TransitionMatrix:
    counts = np.asarray(counts, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        prob = np.where(rows > 0, counts / np.where(rows > 0, rows, 1), np.nan)
    c = pd.DataFrame(counts.round().astype(np.int64), index=pd.Index(labels, name=name),
                     columns=pd.Index(labels, name=f"{name} at t+1"))
    p = pd.DataFrame(prob, index=c.index, columns=c.columns)
    s = np.asarray(steady, dtype=float)
    ss = pd.Series(s if s.ndim == 1 else np.nan, index=pd.Index(labels, name=name), name="steady_state")
    return TransitionMatrix(c, p, ss)


def _steady(p: np.ndarray) -> np.ndarray:
    from giddy.ergodic import steady_state

    s = np.asarray(steady_state(np.asarray(p, dtype=float), fill_empty_classes=True), dtype=float)
    return s[0] if s.ndim == 2 and len(s) == 1 else s  # one recurrent class in a reducible chain: (1, k)


def _stacked(matrices: dict, what: str) -> pd.DataFrame:
    parts = []
    for lag, m in matrices.items():
        t = getattr(m, what).reset_index()
        t.insert(0, "lag", lag)
        parts.append(t)
    out = pd.concat(parts, ignore_index=True)
    out.columns.name = None
    return out


def _independence(q: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Expected quadrant transitions if own and lag moves are independent chains, and the chi-squared test.

    ``q``: units x periods, quadrant codes 1..4 (HH, LH, LL, HL). Own high: HH, HL; lag high: HH, LH.
    """
    from giddy.markov import Markov, chi2

    own_low, lag_low = np.isin(q, (2, 3)), np.isin(q, (3, 4))
    two = np.array([False, True])  # state 0 = high, 1 = low
    p_own = Markov(own_low, classes=two, summary=False).p
    p_lag = Markov(lag_low, classes=two, summary=False).p
    # np.kron orders (own, lag) as HH, HL, LH, LL; reorder to HH, LH, LL, HL
    order = [0, 2, 3, 1]
    kp = np.kron(p_own, p_lag)[np.ix_(order, order)]
    expected = np.diag(counts.sum(axis=1)) @ kp
    stat, p, df = chi2(counts, expected)
    return expected, (float(stat), int(df), float(p))


def _spatial_markov(Y, W, ids, states, classes, rule, cuts, periods, column, frame) -> SpatialMarkovResult:
    """giddy's Spatial_Markov on the same classes as the classic chain; the lag classed by the same rule."""
    from giddy.markov import Spatial_Markov

    k = cuts.shape[1] + 1
    wr = _row_standardised(W, ids)
    lag_states, _, lag_cuts = _classify(wr.sparse @ Y, k, classes, periods, column, what="spatial lags")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # mapclassify's tie warning: ties were refused above
        if rule == "cuts":
            c = list(cuts.iloc[0])
            sm = Spatial_Markov(Y, wr, k=k, m=k, fixed=True, cutoffs=c, lag_cutoffs=c)
        else:
            sm = Spatial_Markov(Y, wr, k=k, m=k, fixed=(rule == "pooled"))
    if not (np.array_equal(sm.class_ids, states) and np.array_equal(sm.lclass_ids, lag_states)):
        raise RuntimeError("giddy's Spatial_Markov classed the values differently from the stated rule")
    labels = list(range(1, k + 1))
    matrices = {lag: _matrix(sm.T[j], labels, _steady(sm.P[j])) for j, lag in enumerate(labels)}
    return SpatialMarkovResult(matrices, frame(lag_states + 1), lag_cuts, sm)


def _lisa_markov(Y, W, ids, frame) -> LisaMarkovResult:
    """giddy's LISA_Markov quadrants and transitions, with the independence test of :func:`_independence`."""
    from giddy.markov import LISA_Markov

    lm = LISA_Markov(Y, _row_standardised(W, ids), permutations=0)  # esda sets the W it gets to "r": a copy
    expected, independence = _independence(lm.q, lm.transitions)
    quadrant = pd.Index(QUADRANTS, name="quadrant")
    return LisaMarkovResult(_matrix(lm.transitions, list(QUADRANTS), _steady(lm.p), name="quadrant"),
                            pd.DataFrame(expected, index=quadrant,
                                         columns=pd.Index(QUADRANTS, name="quadrant at t+1")),
                            independence, frame(np.asarray(QUADRANTS, dtype=object)[lm.q - 1]), lm)


def _test_table(sm, lisa: LisaMarkovResult) -> pd.DataFrame:
    rows = {
        "LR": (sm.LR, sm.dof_hom, sm.LR_p_value,
               "spatial homogeneity: transitions do not depend on the lag class (likelihood ratio)"),
        "Q": (sm.Q, sm.dof_hom, sm.Q_p_value, "spatial homogeneity (Pearson chi-squared form)"),
        "lisa_chi2": (*lisa.independence, "own and neighbours' quadrant moves are independent"),
    }
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["statistic", "df", "p", "null"])
    out["statistic"] = out["statistic"].astype(float)
    out["df"] = out["df"].astype(int)
    out["p"] = out["p"].astype(float)
    out.index.name = "test"
    return out


def markov(data: pd.DataFrame, column: str, time: str, k: int = 4, w=None, *, entity: str | None = None,
           classes: str | Sequence[float] = "pooled") -> MarkovResult:
    """Classic, spatial (Rey 2001) and LISA Markov chains of ``column`` (see the module docstring).

    Parameters
    ----------
    data : pandas.DataFrame
        Long, balanced panel: one row per unit and period.
    column : str
        The indicator.
    time : str
        Period column; periods are taken in order and must be equally spaced.
    k : int, default 4
        Number of classes (quartiles by default).
    w : libpysal W or (matrix, ids), optional
        With a W, also the spatial and the LISA Markov chains. W is
        row-standardised here (a copy; the argument is not changed); its ids
        must be exactly the units of the panel.
    entity : str
        Unit column. Keyword-only: the positional order ``(data, column,
        time, k, w)`` is the published signature, and a Markov chain (unlike
        a kernel density) follows units, so the unit column is named as in
        every other panel function (``entity=``). Required.
    classes : {"pooled", "period"} or sequence of float, default "pooled"
        ``"pooled"``: quantiles of all periods' values together (fixed class
        boundaries); ``"period"``: each period's own quantiles; or ``k - 1``
        increasing cut points (a value on a cut point is in the lower class).

    Returns
    -------
    MarkovResult
        ``table`` (classic transition probabilities with ``n``),
        ``classic.counts``, ``distribution``, ``spatial.table`` (stacked by lag
        class), ``lisa``, ``tests``, ``summary()``.

    Raises
    ------
    SpecificationError
        No ``entity``, a missing or non-numeric column, fewer than two or
        unequally spaced periods, duplicated or missing (unit, period) rows
        (naming the first unit and period), missing values (naming the unit
        and period), a bad ``k`` or ``classes``, tied quantiles.
    WeightsError
        The units differ from W's ids (both sides listed), or a unit without
        neighbours.
    """
    _check_classes(classes, k)
    k = int(k)
    Y, ids, periods, W = _wide(data, column, entity, time, w)
    states, rule, cuts = _classify(Y, k, classes, periods, column)
    labels = list(range(1, k + 1))
    frame = lambda a: pd.DataFrame(a, index=pd.Index(ids, name=entity),  # noqa: E731
                                   columns=pd.Index(periods, name=time))

    from giddy.markov import Markov

    chain = Markov(states, classes=np.arange(k), summary=False)
    classic = _matrix(chain.transitions, labels, _steady(chain.p))
    start = np.bincount(states[:, 0], minlength=k)
    end = np.bincount(states[:, -1], minlength=k)
    n = len(ids)
    distribution = pd.DataFrame({"n_start": start, "share_start": start / n, "n_end": end, "share_end": end / n,
                                 "steady_state": classic.steady_state.to_numpy()},
                                index=pd.Index(labels, name="class"))
    spatial = lisa = None
    tests = pd.DataFrame(columns=["statistic", "df", "p", "null"])
    if W is not None:
        for j, p in enumerate(periods):
            if np.ptp(Y[:, j]) == 0:
                raise SpecificationError(format_error("all units have the same value; no Moran quadrants",
                                                      column=column, period=p, hint="drop the period"))
        spatial = _spatial_markov(Y, W, ids, states, classes, rule, cuts, periods, column, frame)
        lisa = _lisa_markov(Y, W, ids, frame)
        tests = _test_table(spatial.chain, lisa)
    return MarkovResult(column=column, entity=entity, time=time, k=k, rule=rule, cuts=cuts,
                        states=frame(states + 1), classic=classic, distribution=distribution, spatial=spatial,
                        lisa=lisa, tests=tests, chain=chain)
