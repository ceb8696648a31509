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
from spillover.frame import Shape


@dataclass
class PanelDesign(Shape):
    """A balanced panel stacked time-major in W's unit order.

    Attributes
    ----------
    y : (N*T,) raw dependent variable
    x : (N*T, k) raw regressors (intercept column included only when fe="none")
    x_names : names of the columns of ``x``
    wx_idx : indices of the columns of ``x`` that get a W*x term
    w : (N, N) CSR weights matrix aligned with ``ids``
    ids, periods : unit ids (W order) and sorted periods
    order : for each stacked row, the row position in ``rows``
    rows : the user's row labels of the rows used (all of them unless ``lag(x, k)`` dropped the first k periods)
    w_x, w_u : (N, N) CSR weights of the W X terms and of the error, aligned with ``ids``; None: ``w``
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
    rows: pd.Index | None = None
    w_x: sp_sparse.csr_array | None = None
    w_u: sp_sparse.csr_array | None = None

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
        w_x = self.w if self.w_x is None else self.w_x
        wx = spatial_lag(w_x, self.x[:, self.wx_idx], n, t) if self.wx_idx else np.empty((n * t, 0))
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


def wx_columns(names: list[str], wx: bool | list[str] | None) -> list[int]:
    """Columns of ``names`` that get a W*x term: all but the intercept (True), none (False/None) or those listed."""
    if wx is True:
        return [j for j, c in enumerate(names) if c != "Intercept"]
    if not wx:
        return []
    unknown = [c for c in wx if c not in names]
    if unknown:
        raise SpecificationError(format_error("WX term for a variable not in the formula", option="wx",
                                              variable=unknown[0], hint=f"choose from {names}"))
    return [names.index(c) for c in wx]


def collinear_columns(x: np.ndarray, names: list[str], tol: float = 1e-9) -> list[str]:
    """Names of columns that are (numerically) linear combinations of earlier ones.

    A column is collinear when the smallest singular value of the kept
    columns plus it, each scaled to unit length, is below ``tol`` times the
    largest. One QR of the scaled ``x`` first: ``x_s = Q R`` with orthonormal
    ``Q``, so any set of columns of ``x_s`` has the singular values of the same
    columns of the small ``R`` (one pass over the rows instead of one SVD of
    the tall matrix per column).
    """
    scale = np.sqrt((x**2).sum(axis=0))
    r = np.linalg.qr(x / np.where(scale > 0, scale, 1.0), mode="r")
    bad: list[str] = []
    kept: list[int] = []
    for j in range(x.shape[1]):
        if scale[j] == 0:
            bad.append(names[j])
            continue
        s = np.linalg.svd(r[:, kept + [j]], compute_uv=False)
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
    """Parse ``formula`` with formulaic and stack the panel time-major in W's order (via :func:`panel_frame`).

    With ``lag(x, k)`` terms the first ``k`` periods (where the lag is
    missing for every unit) are dropped, so that the panel stays balanced.
    """
    from spillover.formula import PanelLag, max_lag, model_arrays
    from spillover.frame import panel_frame

    fr = panel_frame(data, w, entity, time)
    k = max_lag(formula)
    lhs, rhs, y_name = model_arrays(formula, fr.data, lag=PanelLag(fr.unit, fr.period) if k else None)
    rows = fr.index
    if k:
        if k >= fr.t:
            raise SpecificationError(format_error(f"formula {formula!r} lags {k} period(s) but the panel has {fr.t}",
                                                  option="formula"))
        keep = fr.period >= k
        lhs, rhs = lhs[keep], rhs[keep].reset_index(drop=True)
        rows = fr.index[keep]
        fr = panel_frame(fr.data[keep], w, entity, time)
    fr.check_finite(np.column_stack([lhs, rhs.to_numpy()]), [y_name] + list(rhs.columns))
    if np.ptp(lhs) == 0:
        raise SpecificationError(format_error(f"the dependent variable {y_name!r} is constant ({lhs[0]:g})",
                                              hint="a model needs variation in y"))
    if "Intercept" in rhs.columns and not intercept:
        rhs = rhs.drop(columns="Intercept")
    if intercept and "Intercept" not in rhs.columns:
        rhs.insert(0, "Intercept", 1.0)
    W, ids, periods, label, order = fr.w, fr.ids, fr.periods, fr.w_label, fr.order
    y = lhs[order]
    x = rhs.to_numpy()[order]
    names = list(rhs.columns)
    wx_idx = wx_columns(names, wx)
    return PanelDesign(
        y=y, x=x, x_names=names, wx_idx=wx_idx, w=W, ids=ids, periods=periods,
        y_name=y_name, order=order, w_label=label, row_standardised=is_row_standardised(W),
        extra={"entity": entity, "time": time}, rows=rows,
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
    from spillover.options import check_count

    n_periods = check_count(n_periods, "n_periods")
    if len(y) % n_periods:
        raise SpecificationError(format_error("len(y) is not a multiple of n_periods", option="n_periods"))
    n = len(y) // n_periods
    if n < 2:
        raise SpecificationError(format_error(f"the arrays hold {n} unit(s) per period; a spatial model needs at "
                                              "least 2 units", option="n_periods",
                                              hint="y stacks n_periods periods of N >= 2 units each"))
    if x.shape[0] != len(y):
        raise SpecificationError(format_error("x and y have different numbers of rows", option="x"))
    names = names or [f"x{j + 1}" for j in range(x.shape[1])]
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(x))):
        raise SpecificationError(format_error("missing or infinite values in the arrays",
                                              hint="remove those rows; balanced panels only"))
    from spillover.frame import LARGEST

    if max(np.abs(y).max(initial=0), np.abs(x).max(initial=0)) > LARGEST:
        raise SpecificationError(format_error(f"values above {LARGEST:g} in absolute value in the arrays",
                                              hint="their squares overflow double precision; rescale"))
    if hasattr(w, "id_order") or isinstance(w, tuple):
        from spillover.weights import as_matrix

        W, _, label = as_matrix(w)
    else:  # arrays are stacked in the matrix's own order, so a bare matrix is unambiguous here
        from spillover.weights import _check_cells

        W, label = sp_sparse.csr_array(w, dtype=float), "W (matrix)"
        _check_cells(W, list(range(W.shape[0])))
    ids = list(range(n))
    if W.shape != (n, n):
        raise WeightsError(format_error(f"W is {W.shape} but the arrays have N={n}"))
    wx_idx = wx_columns(list(names), wx)
    return PanelDesign(
        y=y, x=x, x_names=list(names), wx_idx=wx_idx, w=W, ids=ids, periods=list(range(n_periods)),
        y_name=y_name, order=np.arange(len(y)), w_label=label, row_standardised=is_row_standardised(W),
        rows=pd.RangeIndex(len(y)),
    )


def other_weights(w, ids: list, option: str, *, bare_ok: bool = False) -> sp_sparse.csr_array:
    """A second weights matrix (``w_x``, ``w_u``) in the order of the design's ``ids``.

    ``w`` is a libpysal W or ``(matrix, ids)`` with the same units as the main W
    (any order); a bare matrix only where the arrays already follow one order
    (``from_arrays``, ``bare_ok``).
    """
    from spillover.weights import _check_cells, as_matrix

    if hasattr(w, "id_order") or isinstance(w, tuple):
        m, oids, _ = as_matrix(w)
        if set(oids) != set(ids) or len(oids) != len(ids):
            missing = [i for i in ids if i not in set(oids)][:10]
            extra = [i for i in oids if i not in set(ids)][:10]
            raise WeightsError(format_error(f"{option} does not have the units of w", option=option,
                                            missing_from_it=missing or None, extra_in_it=extra or None,
                                            hint=f"build {option} for the same units as w"))
        where = {u: k for k, u in enumerate(oids)}
        pos = np.array([where[i] for i in ids], dtype=np.intp)
        return sp_sparse.csr_array(m[pos][:, pos])
    if not bare_ok:
        raise WeightsError(format_error(f"{option} is a bare matrix: its unit order cannot be checked", option=option,
                                        hint="pass a libpysal W or (matrix, ids)"))
    m = sp_sparse.csr_array(w, dtype=float)
    if m.shape != (len(ids), len(ids)):
        raise WeightsError(format_error(f"{option} is {m.shape} but the arrays have N={len(ids)}", option=option))
    _check_cells(m, list(ids))
    return m
