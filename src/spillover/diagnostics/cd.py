"""Tests of cross-sectional dependence in panel residuals: Pesaran's CD, Breusch-Pagan LM and scaled LM.

With ``rho_ij`` the correlation of units i and j over the ``T_ij`` periods
both are observed (Pearson, as R plm's ``pcdtest`` computes it):

* CD = sqrt(2 / (N(N-1))) sum_{i<j} sqrt(T_ij) rho_ij, N(0, 1) under no
  dependence (Pesaran 2004, CESifo WP 1229, eq. 31; Pesaran 2015,
  Econometric Reviews 34, 1089-1117);
* LM = sum_{i<j} T_ij rho_ij^2, chi-squared with N(N-1)/2 degrees of freedom
  (Breusch & Pagan 1980, Review of Economic Studies 47, 239-253);
* scaled LM = sqrt(1 / (N(N-1))) sum_{i<j} (T_ij rho_ij^2 - 1), N(0, 1) as
  N, T grow (Pesaran 2004, eq. 29).

With ``w`` the sums run over neighbouring pairs only (w_ij > 0 or w_ji > 0)
and the counts N(N-1)/2 become the number of such pairs: the local CD of
Pesaran (2004, sec. 7), as ``pcdtest(..., w = W)`` computes it. A pair with
fewer than three common periods, or a constant residual, has no correlation
and is left out (the number of pairs used is reported).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from spillover.errors import SpecificationError, format_error


def _residuals(resid: Any) -> pd.Series:
    """A residual Series indexed by (entity, time): as given, or a fitted result's ``resids`` / ``resid``."""
    for cand in (resid, getattr(resid, "resids", None), getattr(resid, "resid", None)):
        if isinstance(cand, pd.DataFrame) and cand.shape[1] == 1:
            cand = cand.iloc[:, 0]
        if isinstance(cand, pd.Series) and cand.index.nlevels == 2:
            return cand.astype(float)
    raise SpecificationError(format_error(
        "cd_test needs residuals indexed by (entity, time)", option="resid",
        hint="pass a pandas Series with a two-level index, e.g. resid.set_axis(panel.set_index([entity, time]).index)"))


def _wide(resid: pd.Series, entity: str, time: str) -> pd.DataFrame:
    names = list(resid.index.names)
    levels = [names.index(x) if x in names else pos for pos, x in enumerate((entity, time))]
    frame = resid.rename("e").reset_index()
    ent, tim = frame.columns[levels[0]], frame.columns[levels[1]]
    if frame.duplicated([ent, tim]).any():
        dup = frame.loc[frame.duplicated([ent, tim]), [ent, tim]].iloc[0].tolist()
        raise SpecificationError(format_error("repeated (entity, time) in the residuals", entity=dup[0], time=dup[1]))
    return frame.pivot(index=tim, columns=ent, values="e")


def pair_correlations(wide: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(rho, T) matrices: Pearson correlation of each pair of columns over their common rows, and that count."""
    x = wide.to_numpy(dtype=float)
    m = np.isfinite(x).astype(float)
    x0 = np.where(m > 0, x, 0.0)
    n = m.T @ m
    sx = x0.T @ m  # sum of unit i's values over the periods where j is observed
    sxx = (x0**2).T @ m
    sxy = x0.T @ x0
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sx.T / n
        var_i = sxx - sx**2 / n
        rho = cov / np.sqrt(var_i * var_i.T)
    rho[(n < 3) | ~np.isfinite(rho)] = np.nan
    return rho, n


def _pairs(ids: list, w: Any | None) -> np.ndarray:
    """Boolean (N, N) mask of the pairs i<j the sums run over: all of them, or the neighbours in ``w``."""
    upper = np.triu(np.ones((len(ids), len(ids)), dtype=bool), k=1)
    if w is None:
        return upper
    from spillover.diagnostics._panel import as_libpysal_w

    lw = as_libpysal_w(w)
    order = [str(i) for i in lw.id_order]
    key = [str(i) for i in ids]
    if sorted(order) != sorted(key):
        missing, extra = sorted(set(key) - set(order))[:5], sorted(set(order) - set(key))[:5]
        raise SpecificationError(format_error("W and the residuals have different units", option="w",
                                              missing_from_w=missing, not_in_residuals=extra))
    full = lw.full()[0]
    pos = [order.index(k) for k in key]
    adj = full[np.ix_(pos, pos)] != 0
    return upper & (adj | adj.T)


def cd_test(resid: Any, entity: str, time: str, w: Any | None = None) -> pd.DataFrame:
    """Pesaran CD, Breusch-Pagan LM and scaled LM tests of cross-sectional dependence (see the module docstring).

    Parameters
    ----------
    resid : pandas.Series or fitted result
        Residuals indexed by (entity, time), or a result with such ``resids``
        (linearmodels) or ``resid``.
    entity, time : str
        Index level names (positions 0 and 1 when the levels have no names).
    w : libpysal.weights.W, optional
        Restrict the sums to neighbouring pairs (local tests).

    Returns
    -------
    pandas.DataFrame
        Index ``CD``, ``LM``, ``scaled_LM``; columns ``stat``, ``p`` (CD and
        scaled LM two-sided normal, LM chi-squared upper tail), ``df`` (LM)
        and ``pairs`` (the pairs with a correlation).
    """
    wide = _wide(_residuals(resid), entity, time)
    if wide.shape[1] < 2:
        raise SpecificationError(format_error("cd_test needs at least two units", option="resid"))
    rho, n = pair_correlations(wide)
    use = _pairs(list(wide.columns), w) & np.isfinite(rho)
    k = int(use.sum())
    if k == 0:
        raise SpecificationError(format_error("no pair of units has three common periods with varying residuals",
                                              option="resid"))
    r, t = rho[use], n[use]
    cd = np.sqrt(1.0 / k) * np.sum(np.sqrt(t) * r)
    lm = float(np.sum(t * r**2))
    slm = np.sqrt(1.0 / (2 * k)) * np.sum(t * r**2 - 1)
    rows = {"CD": (cd, 2 * stats.norm.sf(abs(cd)), np.nan),
            "LM": (lm, stats.chi2.sf(lm, k), k),
            "scaled_LM": (slm, 2 * stats.norm.sf(abs(slm)), np.nan)}
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["stat", "p", "df"])
    out["pairs"] = k
    return out
