"""From a long DataFrame (or arrays) and a W to the stacked arrays the likelihoods use.

Checks happen here, before any estimation: entity ids against W's ids, a
balanced panel, missing values (naming entity, period and column), and
perfectly collinear regressors (naming them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp_sparse

from spillover.errors import SpecificationError, WeightsError, format_error


@dataclass
class PanelDesign:
    """A balanced panel stacked time-major in W's unit order.

    Attributes
    ----------
    y : (N*T,) raw dependent variable
    x : (N*T, k) raw regressors (intercept column included only when fe="none")
    x_names : names of the columns of ``x``
    wx_idx : indices of the columns of ``x`` that get a W*x term
    w : (N, N) CSR weights matrix aligned with ``ids``
    ids, periods : unit ids (W order) and sorted periods
    order : for each stacked row, the row position in the user's DataFrame
    """

    y: np.ndarray
    x: np.ndarray
    x_names: list[str]
    wx_idx: list[int]
    w: sp_sparse.csr_array
    ids: list
    periods: list
    y_name: str
    order: np.ndarray
    w_label: str = "W"
    row_standardised: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def t(self) -> int:
        return len(self.periods)

    @property
    def wx_names(self) -> list[str]:
        return [f"W*{self.x_names[j]}" for j in self.wx_idx]

    def regressors(self, transform=None) -> tuple[np.ndarray, list[str]]:
        """Raw ``Z = [X, W X]`` (time-major) and its column names.

        Raises :class:`SpecificationError` naming the perfectly collinear
        columns of ``transform(Z)`` (``Z`` itself when ``transform`` is None),
        e.g. time-invariant regressors under unit effects.
        """
        from spillover.spatial.transforms import spatial_lag

        n, t = self.n, self.t
        wx = spatial_lag(self.w, self.x[:, self.wx_idx], n, t) if self.wx_idx else np.empty((n * t, 0))
        z = np.column_stack([self.x, wx])
        names = self.x_names + self.wx_names
        bad = collinear_columns(z if transform is None else transform(z), names)
        if bad:
            raise SpecificationError(
                format_error(
                    "perfectly collinear regressor(s)" + ("" if transform is None else " after the fixed-effects transformation"),
                    variables=bad,
                    hint="drop them; with unit effects time-invariant variables vanish, with time effects common ones do",
                )
            )
        return z, names


def is_row_standardised(w: sp_sparse.sparray, tol: float = 1e-10) -> bool:
    """True when every row of ``w`` sums to one."""
    rs = np.asarray(w.sum(axis=1)).ravel()
    return bool(np.all(np.abs(rs - 1.0) < tol))


def unit_codes(values: pd.Series, ids: list, column: str, *, all_present: bool = True) -> np.ndarray:
    """Position in ``ids`` (W's unit order) of each entity value, by hashing (O(N T)).

    Raises :class:`WeightsError` naming up to ten entity values that are not
    ids of W and (with ``all_present``) ids of W that never occur in the data.
    """
    codes = pd.Index(ids).get_indexer(values)
    bad = codes < 0
    seen = np.bincount(codes[~bad], minlength=len(ids)) if all_present else np.ones(len(ids))
    if bad.any() or (seen == 0).any():
        extra = sorted(map(str, pd.unique(values[bad])))[:10]
        missing = sorted(str(ids[i]) for i in np.flatnonzero(seen == 0)[:10])
        same_text = {str(v) for v in pd.unique(values)} == {str(i) for i in ids}
        raise WeightsError(
            format_error(
                "the entities in the data are not exactly the ids of W" if all_present
                else "entities in the data are not ids of W",
                column=column,
                in_data_not_in_w=extra or None,
                in_w_not_in_data=missing or None,
                hint=("the ids agree as text but differ in type (e.g. int vs str): convert one side"
                      if same_text else "build W on the same units as the panel, or subset the panel"),
            )
        )
    return codes.astype(np.int64)


def collinear_columns(x: np.ndarray, names: list[str], tol: float = 1e-9) -> list[str]:
    """Names of columns that are (numerically) linear combinations of earlier ones."""
    bad: list[str] = []
    kept: list[int] = []
    scale = np.sqrt((x**2).sum(axis=0))
    for j in range(x.shape[1]):
        if scale[j] == 0:
            bad.append(names[j])
            continue
        cand = kept + [j]
        sub = x[:, cand] / np.where(scale[cand] > 0, scale[cand], 1.0)
        s = np.linalg.svd(sub, compute_uv=False)
        if s[-1] / s[0] < tol:
            bad.append(names[j])
        else:
            kept.append(j)
    return bad


def build_design(
    formula: str,
    data: pd.DataFrame,
    w,
    entity: str,
    time: str,
    *,
    intercept: bool,
    wx: bool | list[str],
) -> PanelDesign:
    """Parse ``formula`` with formulaic and stack the panel time-major in W's order."""
    from formulaic import model_matrix

    if entity not in data.columns or time not in data.columns:
        missing = [c for c in (entity, time) if c not in data.columns]
        raise SpecificationError(format_error("entity/time column not in the data", column=missing[0]))
    if "~" not in formula:
        raise SpecificationError(format_error("formula needs 'y ~ x1 + x2'", option="formula"))
    df = data.reset_index(drop=True)
    # resolve columns referenced by the formula for missing-value reporting
    mm = model_matrix(formula, df, na_action="ignore")
    lhs = np.asarray(mm.lhs, dtype=float)
    rhs = pd.DataFrame(np.asarray(mm.rhs, dtype=float), columns=list(mm.rhs.columns))
    if lhs.ndim == 2 and lhs.shape[1] != 1:
        raise SpecificationError(format_error("the formula must have one dependent variable", option="formula"))
    y_name = str(mm.lhs.columns[0])
    nan_rows = np.isnan(lhs.ravel()) | rhs.isna().to_numpy().any(axis=1)
    if nan_rows.any():
        r = int(np.argmax(nan_rows))
        cols = [y_name] + list(rhs.columns)
        vals = np.concatenate([lhs[r].ravel(), rhs.iloc[r].to_numpy()])
        col = cols[int(np.argmax(np.isnan(vals)))]
        raise SpecificationError(
            format_error(
                f"missing value in {int(nan_rows.sum())} row(s); first",
                column=col,
                entity=df[entity].iloc[r],
                time=df[time].iloc[r],
                hint="drop or impute those rows; for an unbalanced panel use spillover.fit_unbalanced (fixed effects, direct method)",
            )
        )
    if "Intercept" in rhs.columns and not intercept:
        rhs = rhs.drop(columns="Intercept")
    if intercept and "Intercept" not in rhs.columns:
        rhs.insert(0, "Intercept", 1.0)

    # entities and W: the panel is stacked in W's unit order
    from spillover.weights import as_matrix

    W, ids, label = as_matrix(w)
    unit = unit_codes(df[entity], ids, entity)
    tcode, periods_idx = pd.factorize(df[time], sort=True)
    periods = list(periods_idx)
    n, t = len(ids), len(periods)
    key = tcode.astype(np.int64) * n + unit
    if len(df) != n * t or np.bincount(key, minlength=n * t).max() > 1:
        counts = df.groupby(entity, sort=False)[time].count()
        dup = df.duplicated([entity, time])
        if dup.any():
            r = df[dup].iloc[0]
            raise SpecificationError(
                format_error("duplicate entity-period row", entity=r[entity], time=r[time], hint="aggregate or drop duplicates")
            )
        short = counts[counts < t]
        raise SpecificationError(
            format_error(
                f"unbalanced panel: {len(df)} rows for {n} units x {t} periods",
                entity=list(short.index[:5]),
                hint="this estimator needs a balanced panel; spillover.fit_unbalanced fits unbalanced fixed-effects SAR/SEM/SDM",
            )
        )
    order = np.empty(n * t, dtype=np.int64)
    order[key] = np.arange(len(df))
    y = lhs.ravel()[order]
    x = rhs.to_numpy()[order]
    names = list(rhs.columns)
    if wx is True:
        wx_idx = [j for j, c in enumerate(names) if c != "Intercept"]
    elif wx is False or wx is None:
        wx_idx = []
    else:
        unknown = [c for c in wx if c not in names]
        if unknown:
            raise SpecificationError(format_error("WX term for a variable not in the formula", option="wx", variable=unknown[0], hint=f"choose from {names}"))
        wx_idx = [names.index(c) for c in wx]
    return PanelDesign(
        y=y, x=x, x_names=names, wx_idx=wx_idx, w=W, ids=ids, periods=periods,
        y_name=y_name, order=order, w_label=label, row_standardised=is_row_standardised(W),
        extra={"entity": entity, "time": time},
    )


def design_from_arrays(
    y: np.ndarray, x: np.ndarray, w, n_periods: int, *, names: list[str] | None = None,
    y_name: str = "y", wx: bool | list[str] = True,
) -> PanelDesign:
    """Arrays already stacked time-major (period 1's N units in W's order, then period 2, ...)."""
    y = np.asarray(y, dtype=float).ravel()
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if len(y) % n_periods:
        raise SpecificationError(format_error("len(y) is not a multiple of n_periods", option="n_periods"))
    n = len(y) // n_periods
    if x.shape[0] != len(y):
        raise SpecificationError(format_error("x and y have different numbers of rows", option="x"))
    names = names or [f"x{j + 1}" for j in range(x.shape[1])]
    if np.isnan(y).any() or np.isnan(x).any():
        raise SpecificationError(format_error("missing values in the arrays", hint="remove NaN rows; balanced panels only"))
    if hasattr(w, "id_order") or isinstance(w, tuple):
        from spillover.weights import as_matrix

        W, _, label = as_matrix(w)
    else:  # arrays are stacked in the matrix's own order, so a bare matrix is unambiguous here
        W, label = sp_sparse.csr_array(w, dtype=float), "W (matrix)"
    ids = list(range(n))
    if W.shape != (n, n):
        raise WeightsError(format_error(f"W is {W.shape} but the arrays have N={n}"))
    if wx is True:
        wx_idx = [j for j, c in enumerate(names) if c != "Intercept"]
    elif not wx:
        wx_idx = []
    else:
        wx_idx = [names.index(c) for c in wx]
    return PanelDesign(
        y=y, x=x, x_names=list(names), wx_idx=wx_idx, w=W, ids=ids, periods=list(range(n_periods)),
        y_name=y_name, order=np.arange(len(y)), w_label=label, row_standardised=is_row_standardised(W),
    )
