"""Composite indices: entropy weights, entropy-TOPSIS and principal components.

Every method takes a DataFrame, the indicator columns, their directions
(``"+"`` when more is better, ``"-"`` when less is better) and their
dimensions, and returns an :class:`IndexResult` with the composite scores,
the weight table and one sub-score per dimension.

Normalisation (all methods except PCA) is min-max by direction,

.. math::

    z_{ij} = \\frac{x_{ij} - \\min_i x_{ij}}{\\max_i x_{ij} - \\min_i x_{ij}}
    \\quad (+), \\qquad
    z_{ij} = \\frac{\\max_i x_{ij} - x_{ij}}{\\max_i x_{ij} - \\min_i x_{ij}}
    \\quad (-),

taken over the pooled panel (``pooling="panel"``, the default, so that
scores are comparable across years) or within each year
(``pooling="year"``).

References
----------
Shannon, C. E. (1948). A mathematical theory of communication. Bell System
Technical Journal, 27(3), 379-423.

Zhu, Y., Tian, D., & Yan, F. (2020). Effectiveness of entropy weight method
in decision-making. Mathematical Problems in Engineering, 2020, 3564835.

Hwang, C.-L., & Yoon, K. (1981). Multiple Attribute Decision Making:
Methods and Applications. Berlin: Springer.

Jolliffe, I. T. (2002). Principal Component Analysis (2nd ed.). New York:
Springer.

OECD & JRC (2008). Handbook on Constructing Composite Indicators:
Methodology and User Guide. Paris: OECD Publishing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from spillover.errors import DataError, SpecificationError, format_error

__all__ = ["IndexResult", "EntropyIndex", "TopsisIndex", "PCAIndex", "minmax_normalize", "entropy_weights"]

Pooling = Literal["panel", "year"]
_DIRECTIONS = {"+": 1, "-": -1, 1: 1, -1: -1, "positive": 1, "negative": -1, "benefit": 1, "cost": -1}


@dataclass(frozen=True)
class IndexResult:
    """The output of a composite-index fit.

    Attributes
    ----------
    scores : pandas.Series
        Composite score per row of the input (same index), in [0, 1].
    weights : pandas.DataFrame
        One row per indicator (per indicator and year when
        ``pooling="year"``) with columns ``indicator``, ``dimension``,
        ``direction``, ``weight`` and method-specific columns (entropy
        ``entropy`` and ``divergence``; PCA ``coefficient``).
    dimensions : pandas.DataFrame
        Sub-score per dimension (one column each), same index as ``scores``,
        each in [0, 1].
    method : str
        ``"entropy"``, ``"entropy-topsis"`` or ``"pca"``.
    params : dict
        Settings used (shift, pooling, components ...).
    standardized : pandas.DataFrame or None
        Min-max normalised indicators :math:`z_{ij}` (module docstring), one
        column per indicator, same index as ``scores``; with
        ``pooling="year"`` also the time column (normalised within years).
        Used by :meth:`obstacle_degree`.
    """

    scores: pd.Series
    weights: pd.DataFrame
    dimensions: pd.DataFrame
    method: str
    params: Mapping[str, object] = field(default_factory=dict)
    standardized: pd.DataFrame | None = None

    def frame(self, prefix: str) -> pd.DataFrame:
        """Scores and sub-scores as columns ``prefix`` and ``prefix_<dimension>``."""
        out = self.dimensions.add_prefix(f"{prefix}_")
        out.insert(0, prefix, self.scores)
        return out

    def obstacle_degree(self, level: Literal["indicator", "dimension"] = "indicator") -> pd.DataFrame:
        """Obstacle degree per unit-period (factor-deviation-obstacle model).

        With factor contribution :math:`F_j = w_j` (the index weight),
        deviation :math:`I_{ij} = 1 - z_{ij}` (:math:`z_{ij}` the min-max
        normalised value, direction applied) and

        .. math::

            O_{ij} = \\frac{F_j I_{ij}}{\\sum_k F_k I_{ik}},

        one row per input row (unit-period; average by period with
        ``groupby``). The obstacle degree of a dimension is the sum of its
        indicators' :math:`O_{ij}`. Each row sums to one; a row at the best
        value of every indicator (:math:`\\sum_k F_k I_{ik} = 0`) is NaN.
        With ``pooling="year"`` the weights and normalisation of the row's
        year are used. Defined for entropy and TOPSIS indices (non-negative
        weights on min-max values), not for PCA.

        Parameters
        ----------
        level : {"indicator", "dimension"}
            One column per indicator, or per dimension.

        Returns
        -------
        pandas.DataFrame
            Same index as ``scores``.

        Notes
        -----
        This is the factor-deviation-obstacle ("obstacle degree") model of
        the regional composite-index literature; the formula above is the
        whole definition used here.
        """
        if self.method == "pca" or self.standardized is None:
            raise SpecificationError(format_error("obstacle degree needs min-max values and non-negative weights",
                                                  option="method", hint="fit an EntropyIndex or TopsisIndex"))
        if level not in ("indicator", "dimension"):
            raise SpecificationError(format_error(f"unknown level {level!r}", option="level",
                                                  hint="use 'indicator' or 'dimension'"))
        w = self.weights
        names = list(dict.fromkeys(w["indicator"]))
        if self.params.get("pooling") == "year":
            time = w.columns[0]
            F = (self.standardized[[time]].merge(w.pivot(index=time, columns="indicator", values="weight"),
                                                 left_on=time, right_index=True, how="left")[names].to_numpy())
        else:
            F = w.set_index("indicator").loc[names, "weight"].to_numpy()
        FI = F * (1.0 - self.standardized[names].to_numpy(dtype=float))
        total = FI.sum(axis=1, keepdims=True)
        O = pd.DataFrame(np.divide(FI, total, out=np.full_like(FI, np.nan), where=total > 0),
                         index=self.standardized.index, columns=names)
        if level == "indicator":
            return O
        dims = w.drop_duplicates("indicator").set_index("indicator").loc[names, "dimension"]
        return O.T.groupby(dims.to_numpy(), sort=False).sum(min_count=1).T


# --------------------------------------------------------------------------- helpers


def _as_directions(indicators: list[str], directions) -> np.ndarray:
    if directions is None:
        values = [1] * len(indicators)
    elif isinstance(directions, Mapping):
        missing = [i for i in indicators if i not in directions]
        if missing:
            raise SpecificationError(format_error("direction missing", indicator=missing[0],
                                                  hint="give '+' or '-' for every indicator"))
        values = [directions[i] for i in indicators]
    else:
        values = list(directions)
        if len(values) != len(indicators):
            raise SpecificationError(
                format_error(f"{len(values)} directions for {len(indicators)} indicators",
                             hint="give one direction per indicator")
            )
    out = []
    for ind, d in zip(indicators, values):
        key = d.strip().lower() if isinstance(d, str) else d
        if key not in _DIRECTIONS:
            raise SpecificationError(format_error(f"unknown direction {d!r}", indicator=ind,
                                                  hint="use '+' (more is better) or '-' (less is better)"))
        out.append(_DIRECTIONS[key])
    return np.asarray(out, dtype=float)


def _as_dimensions(indicators: list[str], dimensions) -> list[str]:
    if dimensions is None:
        return ["total"] * len(indicators)
    if isinstance(dimensions, Mapping):
        missing = [i for i in indicators if i not in dimensions]
        if missing:
            raise SpecificationError(format_error("dimension missing", indicator=missing[0],
                                                  hint="give a dimension for every indicator or none at all"))
        return [str(dimensions[i]) for i in indicators]
    values = [str(d) for d in dimensions]
    if len(values) != len(indicators):
        raise SpecificationError(format_error(f"{len(values)} dimensions for {len(indicators)} indicators",
                                              hint="give one dimension per indicator"))
    return values


def _matrix(df: pd.DataFrame, indicators: list[str]) -> np.ndarray:
    if not indicators:
        raise SpecificationError(format_error("no indicators given", hint="pass at least one column"))
    if len(set(indicators)) != len(indicators):
        raise SpecificationError(format_error("an indicator is listed twice", hint="list each column once"))
    missing = [c for c in indicators if c not in df.columns]
    if missing:
        raise SpecificationError(format_error("indicator column not in the data", column=missing[0],
                                              hint=f"available columns: {list(df.columns)[:20]}"))
    try:
        X = df[indicators].to_numpy(dtype=float)
    except (TypeError, ValueError):
        bad = next(c for c in indicators if not pd.api.types.is_numeric_dtype(df[c]))
        raise DataError(format_error("indicator is not numeric", column=bad,
                                     hint="convert the column to numbers first")) from None
    if np.isnan(X).any():
        j = int(np.where(np.isnan(X).any(axis=0))[0][0])
        i = int(np.where(np.isnan(X[:, j]))[0][0])
        raise DataError(format_error("missing value in an indicator", column=indicators[j], row=df.index[i],
                                     hint="composite indices need complete data; impute or drop rows first"))
    if X.shape[0] < 2:
        raise DataError(format_error("need at least two rows to normalise", hint="pass a panel or a cross-section"))
    return X


def minmax_normalize(X: np.ndarray, directions: np.ndarray, names: Sequence[str] | None = None) -> np.ndarray:
    """Min-max normalise the columns of ``X`` by direction (module docstring).

    Parameters
    ----------
    X : ndarray, shape (n, m)
    directions : ndarray, shape (m,)
        ``+1`` for benefit, ``-1`` for cost indicators.
    names : sequence of str, optional
        Column names for error messages.

    Returns
    -------
    ndarray, shape (n, m), values in [0, 1]

    Raises
    ------
    DataError
        When a column is constant (it carries no information).
    """
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = hi - lo
    if (span == 0).any():
        j = int(np.where(span == 0)[0][0])
        raise DataError(format_error("indicator is constant in the sample", column=names[j] if names else j,
                                     hint="drop it: a constant indicator carries no information"))
    Z = (X - lo) / span
    return np.where(directions > 0, Z, 1.0 - Z)


def entropy_weights(Z: np.ndarray, shift: float = 1e-4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shannon entropy weights of normalised indicators (Zhu et al. 2020, eqs. 3-6).

    With :math:`z'_{ij} = z_{ij} + s` (the shift ``s`` avoids
    :math:`\\ln 0`), :math:`p_{ij} = z'_{ij} / \\sum_i z'_{ij}`,

    .. math::

        e_j = -\\frac{1}{\\ln n} \\sum_{i=1}^n p_{ij} \\ln p_{ij}, \\qquad
        d_j = 1 - e_j, \\qquad w_j = d_j / \\sum_k d_k,

    with the convention :math:`0 \\ln 0 = 0` when ``shift=0``.

    Parameters
    ----------
    Z : ndarray, shape (n, m)
        Min-max normalised indicators in [0, 1].
    shift : float
        Added to every :math:`z_{ij}` before the proportions are formed.

    Returns
    -------
    weights, entropy, divergence : ndarray, shape (m,)
    """
    n = Z.shape[0]
    Zs = Z + shift
    P = Zs / Zs.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(P > 0, P * np.log(P), 0.0)
    e = -plogp.sum(axis=0) / np.log(n)
    d = 1.0 - e
    if d.sum() <= 0:
        raise DataError(format_error("all indicators have maximal entropy; weights are undefined",
                                     hint="the indicators do not vary enough to be weighted"))
    return d / d.sum(), e, d


def _rescale(v: np.ndarray) -> np.ndarray:
    span = v.max() - v.min()
    return np.zeros_like(v) if span == 0 else (v - v.min()) / span


class _CompositeIndex:
    """Shared configuration, input checks and per-year pooling."""

    method = "composite"

    def __init__(self, *, pooling: Pooling = "panel", time: str = "year") -> None:
        if pooling not in ("panel", "year"):
            raise SpecificationError(format_error(f"unknown pooling {pooling!r}", option="pooling",
                                                  hint="use 'panel' (default) or 'year'"))
        self.pooling = pooling
        self.time = time

    def _params(self) -> dict[str, object]:
        return {"pooling": self.pooling}

    def fit(self, df: pd.DataFrame, indicators: Sequence[str], directions=None, dimensions=None) -> IndexResult:
        """Compute the index.

        Parameters
        ----------
        df : pandas.DataFrame
            One row per unit (province-year).
        indicators : sequence of str
            Indicator columns.
        directions : mapping or sequence, optional
            ``"+"``/``"-"`` (or ``1``/``-1``) per indicator; default all ``"+"``.
        dimensions : mapping or sequence, optional
            Dimension name per indicator; default one dimension ``"total"``.

        Returns
        -------
        IndexResult
        """
        indicators = list(indicators)
        dirs = _as_directions(indicators, directions)
        dims = _as_dimensions(indicators, dimensions)
        if self.pooling == "panel":
            X = _matrix(df, indicators)
            scores, dimframe, weights = self._fit_block(X, dirs, dims, indicators)
            scores = pd.Series(scores, index=df.index, name="score")
            dimframe = pd.DataFrame(dimframe, index=df.index)
            standardized = pd.DataFrame(minmax_normalize(X, dirs, indicators), index=df.index, columns=indicators)
        else:
            if self.time not in df.columns:
                raise SpecificationError(format_error("time column not in the data", column=self.time,
                                                      hint="pass time=<year column> or use pooling='panel'"))
            parts_s, parts_d, parts_w, parts_z = [], [], [], []
            for year, block in df.groupby(self.time, sort=True):
                X = _matrix(block, indicators)
                s, dm, w = self._fit_block(X, dirs, dims, indicators)
                parts_s.append(pd.Series(s, index=block.index))
                parts_d.append(pd.DataFrame(dm, index=block.index))
                z = pd.DataFrame(minmax_normalize(X, dirs, indicators), index=block.index, columns=indicators)
                z.insert(0, self.time, year)
                parts_z.append(z)
                w.insert(0, self.time, year)
                parts_w.append(w)
            scores = pd.concat(parts_s).reindex(df.index).rename("score")
            dimframe = pd.concat(parts_d).reindex(df.index)
            weights = pd.concat(parts_w, ignore_index=True)
            standardized = pd.concat(parts_z).reindex(df.index)
        return IndexResult(scores=scores, weights=weights, dimensions=dimframe, method=self.method,
                           params=self._params(), standardized=standardized)

    def _fit_block(self, X, dirs, dims, names):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def _weight_table(names, dims, dirs, weights, **extra) -> pd.DataFrame:
        table = pd.DataFrame(
            {
                "indicator": names,
                "dimension": dims,
                "direction": ["+" if d > 0 else "-" for d in dirs],
                "weight": weights,
            }
        )
        for key, value in extra.items():
            table[key] = value
        return table


class EntropyIndex(_CompositeIndex):
    """Entropy-weight composite index (Shannon 1948; Zhu, Tian & Yan 2020).

    Score :math:`S_i = \\sum_j w_j z_{ij}` with min-max normalised
    :math:`z_{ij}` (module docstring) and entropy weights
    (:func:`entropy_weights`), so :math:`S_i \\in [0, 1]`. The shift enters
    the proportions :math:`p_{ij}` only. The sub-score of dimension
    :math:`D` is the weighted mean :math:`S_{iD} = \\sum_{j \\in D} w_j
    z_{ij} / W_D` with :math:`W_D = \\sum_{j \\in D} w_j`, so that
    :math:`S_i = \\sum_D W_D S_{iD}`.

    Parameters
    ----------
    shift : float, default 1e-4
        Added to normalised values before forming proportions (avoids
        :math:`\\ln 0`); ``0`` uses the convention :math:`0 \\ln 0 = 0`.
    pooling : {"panel", "year"}, default "panel"
        Normalise and weight over the pooled panel or within each year.
    time : str, default "year"
        Time column used when ``pooling="year"``.
    """

    method = "entropy"

    def __init__(self, shift: float = 1e-4, *, pooling: Pooling = "panel", time: str = "year") -> None:
        super().__init__(pooling=pooling, time=time)
        if not (shift >= 0 and np.isfinite(shift)):
            raise SpecificationError(format_error(f"shift must be >= 0, got {shift!r}", option="shift",
                                                  hint="the usual values are 1e-4 or 0.01"))
        self.shift = float(shift)

    def _params(self) -> dict[str, object]:
        return {**super()._params(), "shift": self.shift}

    def _fit_block(self, X, dirs, dims, names):
        Z = minmax_normalize(X, dirs, names)
        w, e, d = entropy_weights(Z, self.shift)
        scores = Z @ w
        sub = {}
        for dim in dict.fromkeys(dims):
            mask = np.array([x == dim for x in dims])
            sub[dim] = Z[:, mask] @ w[mask] / w[mask].sum()
        return scores, sub, self._weight_table(names, dims, dirs, w, entropy=e, divergence=d)


def _topsis(Z: np.ndarray, w: np.ndarray) -> np.ndarray:
    V = Z * w
    best, worst = V.max(axis=0), V.min(axis=0)
    d_plus = np.sqrt(((V - best) ** 2).sum(axis=1))
    d_minus = np.sqrt(((V - worst) ** 2).sum(axis=1))
    total = d_plus + d_minus
    return np.divide(d_minus, total, out=np.full_like(total, 0.5), where=total > 0)


class TopsisIndex(_CompositeIndex):
    """Entropy-weighted TOPSIS (Hwang & Yoon 1981, ch. 3).

    With min-max normalised :math:`z_{ij}` and weights :math:`w_j` the
    weighted matrix is :math:`v_{ij} = w_j z_{ij}`; the positive and
    negative ideal solutions are :math:`v_j^+ = \\max_i v_{ij}` and
    :math:`v_j^- = \\min_i v_{ij}`; the distances are
    :math:`D_i^\\pm = \\sqrt{\\sum_j (v_{ij} - v_j^\\pm)^2}` and the score is
    the relative closeness :math:`C_i = D_i^- / (D_i^+ + D_i^-) \\in [0, 1]`.
    Dimension sub-scores apply the same formula to each dimension's
    indicators and weights.

    Parameters
    ----------
    weights : {"entropy", "equal"} or mapping, default "entropy"
        Entropy weights (:func:`entropy_weights`), equal weights, or given
        weights per indicator (normalised to sum to one).
    shift : float, default 1e-4
        Shift of the entropy step.
    pooling, time
        As in :class:`EntropyIndex`.
    """

    method = "entropy-topsis"

    def __init__(self, weights: str | Mapping[str, float] = "entropy", shift: float = 1e-4, *,
                 pooling: Pooling = "panel", time: str = "year") -> None:
        super().__init__(pooling=pooling, time=time)
        if isinstance(weights, str) and weights not in ("entropy", "equal"):
            raise SpecificationError(format_error(f"unknown weights {weights!r}", option="weights",
                                                  hint="use 'entropy', 'equal' or a mapping indicator -> weight"))
        self.weights = weights
        self.shift = float(shift)

    def _params(self) -> dict[str, object]:
        w = self.weights if isinstance(self.weights, str) else dict(self.weights)
        return {**super()._params(), "shift": self.shift, "weights": w}

    def _fit_block(self, X, dirs, dims, names):
        Z = minmax_normalize(X, dirs, names)
        extra = {}
        if self.weights == "entropy":
            w, e, d = entropy_weights(Z, self.shift)
            extra = {"entropy": e, "divergence": d}
        elif self.weights == "equal":
            w = np.full(len(names), 1.0 / len(names))
        else:
            missing = [n for n in names if n not in self.weights]
            if missing:
                raise SpecificationError(format_error("weight missing", indicator=missing[0],
                                                      hint="give a weight for every indicator"))
            w = np.array([float(self.weights[n]) for n in names])
            if (w < 0).any() or w.sum() <= 0:
                raise SpecificationError(format_error("weights must be non-negative with a positive sum",
                                                      option="weights"))
            w = w / w.sum()
        scores = _topsis(Z, w)
        sub = {}
        for dim in dict.fromkeys(dims):
            mask = np.array([x == dim for x in dims])
            sub[dim] = _topsis(Z[:, mask], w[mask] / w[mask].sum())
        return scores, sub, self._weight_table(names, dims, dirs, w, **extra)


def _principal_components(Zs: np.ndarray, n_components) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigen-decomposition of the correlation matrix of standardised data.

    Returns the eigenvalues (descending), the loadings (columns, each
    oriented so that its entries sum to a non-negative number) and the
    number of components retained: Kaiser's rule (eigenvalue >= 1, at least
    one) by default, a fixed number, or the smallest number reaching a share
    of variance when ``n_components`` is a float in (0, 1).
    """
    R = np.atleast_2d(np.corrcoef(Zs, rowvar=False))
    vals, vecs = np.linalg.eigh(R)
    order = np.argsort(vals)[::-1]
    vals, vecs = np.clip(vals[order], 0.0, None), vecs[:, order]
    vecs = vecs * np.where(vecs.sum(axis=0) < 0, -1.0, 1.0)
    m = len(vals)
    if n_components is None:
        k = max(1, int((vals >= 1.0).sum()))
    elif isinstance(n_components, float) and 0 < n_components < 1:
        k = int(np.searchsorted(np.cumsum(vals) / vals.sum(), n_components) + 1)
    else:
        k = int(n_components)
    if not 1 <= k <= m:
        raise SpecificationError(format_error(f"n_components={n_components!r} is not in 1..{m}",
                                              option="n_components"))
    return vals, vecs, k


class PCAIndex(_CompositeIndex):
    """Principal-component composite index (Jolliffe 2002; OECD & JRC 2008, sec. 6.1).

    Indicators are signed by direction and standardised
    (:math:`\\tilde z_{ij} = s_j (x_{ij} - \\bar x_j) / sd_j`), the
    correlation matrix is decomposed, and the retained components
    :math:`F_k = \\tilde Z a_k` are combined with their shares of the
    retained variance, :math:`F = \\sum_k (\\lambda_k / \\sum_{l \\le K}
    \\lambda_l) F_k`. The score is :math:`F` rescaled to [0, 1]. The implied
    coefficient of indicator :math:`j` is :math:`c_j = \\sum_k (\\lambda_k /
    \\sum_l \\lambda_l) a_{jk}`; the reported weight is :math:`c_j / \\sum_l
    c_l` (it can be negative when an indicator loads against the others).
    Dimension sub-scores are the first principal component of each
    dimension's indicators, rescaled to [0, 1].

    Parameters
    ----------
    n_components : int, float or None, default None
        ``None``: Kaiser's rule (eigenvalues >= 1); an int: that many; a
        float in (0, 1): the smallest number explaining that share.
    pooling, time
        As in :class:`EntropyIndex`.
    """

    method = "pca"

    def __init__(self, n_components: int | float | None = None, *, pooling: Pooling = "panel",
                 time: str = "year") -> None:
        super().__init__(pooling=pooling, time=time)
        self.n_components = n_components

    def _params(self) -> dict[str, object]:
        return {**super()._params(), "n_components": self.n_components}

    @staticmethod
    def _standardise(X, dirs, names):
        sd = X.std(axis=0, ddof=1)
        if (sd == 0).any():
            j = int(np.where(sd == 0)[0][0])
            raise DataError(format_error("indicator is constant in the sample", column=names[j],
                                         hint="drop it: a constant indicator carries no information"))
        return (X - X.mean(axis=0)) / sd * dirs

    def _fit_block(self, X, dirs, dims, names):
        Zs = self._standardise(X, dirs, names)
        vals, vecs, k = _principal_components(Zs, self.n_components)
        share = vals[:k] / vals[:k].sum()
        coef = vecs[:, :k] @ share
        scores = _rescale(Zs @ coef)
        sub = {}
        for dim in dict.fromkeys(dims):
            mask = np.array([x == dim for x in dims])
            _, v_d, _ = _principal_components(Zs[:, mask], 1)
            sub[dim] = _rescale(Zs[:, mask] @ v_d[:, 0])
        weights = coef / coef.sum()
        return scores, sub, self._weight_table(names, dims, dirs, weights, coefficient=coef, components=k,
                                               explained_variance=vals[:k].sum() / vals.sum())
