"""Adapters: one fitted model of any kind -> one :class:`ColumnRecord` of a regression table.

spillover's spatial and dynamic results, linearmodels panel and IV results and
statsmodels results are read by the attributes they have; the impacts block
is resolved here too. :mod:`spillover.report.tables` lays the records out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sp_stats

from spillover.errors import SpecificationError, format_error

#: Effects of the impacts block, in display order.
EFFECTS = ("direct", "indirect", "total")

# ---------------------------------------------------------------- column records
@dataclass(frozen=True, eq=False)
class ColumnRecord:
    """Everything a table needs from one fitted model.

    Attributes
    ----------
    model : str
        Short model name shown in the header (``"SDM"``, ``"FE"``, ``"OLS"``).
    coefs : pandas.DataFrame
        Indexed by parameter name, columns ``coef``, ``se``, ``t``, ``p``.
    depvar : str or None
        Name of the dependent variable.
    fe : str or None
        ``"none"``, ``"entity"``, ``"time"``, ``"twoways"`` or ``"random"``.
    method : str or None
        Estimation method (``"lee-yu"``, ``"direct"``, ``"within"``, ...).
    w_label : str or None
        Weights matrix description; None for non-spatial models.
    stats : dict
        ``nobs``, ``N``, ``T``, ``rsquared``, ``rsquared_label``, ``llf``,
        ``aic`` (missing or None when the model does not report them).
    impacts_fn : callable or None
        ``impacts(**kw)`` of the result, when it has one.
    flags : tuple of str
        Why the estimate is not a clean interior optimum (``res.flags``: not converged, at a bound, outside
        the stable region); every cell the column feeds is marked with :data:`FLAG_MARK`.
    cov : str or None
        How the standard errors were computed, for readers (``"inverse expected information"``).
    notes : tuple of str
        What a reader must know about this column alone (printed once below the table, after its name).
    """

    model: str
    coefs: pd.DataFrame
    depvar: str | None = None
    fe: str | None = None
    method: str | None = None
    w_label: str | None = None
    stats: dict = field(default_factory=dict)
    impacts_fn: Any = None
    flags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    cov: str | None = None


#: Covariance types (spillover's ``cov=``, linearmodels' and statsmodels' ``cov_type``) as readers know them.
COV_TEXT = {
    "information": "inverse expected information", "hessian": "inverse observed Hessian",
    "numerical": "inverse numerical Hessian", "ols (unadjusted)": "conventional", "unadjusted": "conventional",
    "homoskedastic": "conventional", "nonrobust": "conventional", "robust": "heteroskedasticity-robust",
    "heteroskedastic": "heteroskedasticity-robust", "clustered": "clustered", "cluster": "clustered by unit",
    "kernel": "HAC (kernel)", "driscoll-kraay": "Driscoll-Kraay", "2sls (homoskedastic)": "homoskedastic 2SLS",
}


def cov_text(cov_type) -> str | None:
    """``cov_type`` as a reader knows it (unknown types are shown as they are)."""
    if cov_type is None:
        return None
    return COV_TEXT.get(str(cov_type).casefold(), str(cov_type))


def _frame(params, se, t=None, p=None, *, normal: bool = False, df_resid=None) -> pd.DataFrame:
    """Assemble the ``coef/se/t/p`` frame, filling t and p when a result lacks them."""
    params = pd.Series(params, dtype=float)
    se = pd.Series(se, dtype=float).reindex(params.index)
    t = params / se if t is None else pd.Series(t, dtype=float).reindex(params.index)
    if p is None:
        if normal or df_resid is None:
            p = pd.Series(2 * sp_stats.norm.sf(np.abs(t)), index=params.index)
        else:
            p = pd.Series(2 * sp_stats.t.sf(np.abs(t), df_resid), index=params.index)
    p = pd.Series(p, dtype=float).reindex(params.index)
    out = pd.DataFrame({"coef": params, "se": se, "t": t, "p": p})
    out.index = [str(i) for i in out.index]
    return out


def _num(value) -> float | None:
    """A finite float, or None."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _from_spatial(res) -> ColumnRecord:
    coefs = _frame(res.params, res.bse, res.tvalues, res.pvalues)
    stats = {
        "nobs": _num(res.nobs), "N": _num(res.N), "T": _num(res.T),
        "rsquared": _num(res.rsquared), "rsquared_label": getattr(res, "rsquared_label", "R2"),
        "llf": _num(res.llf), "aic": _num(res.aic),
    }
    first = getattr(res, "first_stage", None)  # GM fits with instruments (spillover.spatial.gm)
    if isinstance(first, pd.DataFrame) and len(first):
        stats["extra"] = {f"First stage: {key} ({name})": _num(row[col]) for name, row in first.iterrows()
                          for key, col in (("partial F", "F"), ("partial R2", "partial_r2"))}
    impacts_fn = getattr(res, "impacts", None)  # raises ValueError for models without impacts
    return ColumnRecord(model=str(res.model), coefs=coefs, depvar=getattr(res, "y_name", None), fe=res.fe,
                        method=res.method, w_label=str(res.w_label), stats=stats, impacts_fn=impacts_fn,
                        flags=tuple(res.flags), notes=approximation_notes(res),
                        cov=cov_text(getattr(res, "cov_type", None)))


def approximation_notes(res) -> tuple[str, ...]:
    """The notes a table prints for ``res`` when the fit approximated something (a log-determinant, a trace)."""
    return tuple(getattr(res, "approximations", ()))


def _from_dynamic(res) -> ColumnRecord:
    coefs = _frame(res.params, res.bse, res.tvalues, res.pvalues)
    stats = {"nobs": float(res.nobs), "N": float(res.N), "T": float(res.T)}
    notes: tuple[str, ...] = ()
    if res.correction == "bias":  # the likelihood and AIC belong to the QML estimate, not to the corrected one
        notes = ("bias-corrected estimates (Yu, de Jong & Lee 2008, Theorem 3) with the standard errors of the "
                 "QML estimate, which has the same asymptotic variance; no likelihood of its own",)
    else:
        stats |= {"llf": float(res.llf), "aic": res.aic}
    return ColumnRecord(model=res.model, coefs=coefs, depvar=res.extra.get("y_name"), fe=res.fe, method=res.label,
                        w_label=res.extra.get("w_label"), stats=stats,
                        impacts_fn=lambda **kw: res.impacts(kind=kw.pop("kind", "both"), **kw),
                        flags=tuple(res.flags), notes=notes, cov=cov_text(res.cov_type))


_LM_MODEL = {"PanelOLS": "OLS", "PooledOLS": "OLS", "RandomEffects": "RE", "BetweenOLS": "BE",
             "FirstDifferenceOLS": "FD", "IV2SLS": "IV", "IVLIML": "IV", "IVGMM": "IV", "IVGMMCUE": "IV"}
_LM_METHOD = {"PanelOLS": "within", "PooledOLS": "pooled", "RandomEffects": "GLS", "BetweenOLS": "between",
              "FirstDifferenceOLS": "first difference"}


def _lm_fe(res) -> str:
    fe = getattr(res, "spillover_fe", None)
    if fe:
        return str(fe)
    model = getattr(res, "model", None)
    if type(model).__name__ == "RandomEffects":
        return "random"
    entity = bool(getattr(model, "entity_effects", False))
    time = bool(getattr(model, "time_effects", False))
    return {(True, True): "twoways", (True, False): "entity", (False, True): "time"}.get((entity, time), "none")


def _lm_depvar(model) -> str | None:
    dep = getattr(model, "dependent", None)
    for attr in ("vars", "cols"):
        names = getattr(dep, attr, None)
        if names:
            return str(list(names)[0])
    return None


def _from_linearmodels(res) -> ColumnRecord:
    coefs = _frame(res.params, res.std_errors, res.tstats, res.pvalues)
    hidden = set(getattr(res, "spillover_hidden", ()))  # fixed-effect dummies of spillover.panel.fit_iv
    if hidden:
        coefs = coefs.loc[[i for i in coefs.index if i not in hidden]]
    kind = type(getattr(res, "model", None)).__name__
    fe = _lm_fe(res)
    model = _LM_MODEL.get(kind, kind)
    if kind == "PanelOLS" and fe in ("entity", "time", "twoways"):
        model = "FE"
    method = _LM_METHOD.get(kind) or getattr(res, "method", None) or kind
    entity_info, time_info = getattr(res, "entity_info", None), getattr(res, "time_info", None)
    label = "R2 (within)" if kind == "PanelOLS" and fe != "none" else "R2 (GLS)" if kind == "RandomEffects" else "R2"
    stats = {
        "nobs": _num(res.nobs),
        "N": _num(entity_info["total"]) if entity_info is not None else None,
        "T": _num(time_info["total"]) if time_info is not None else None,
        "rsquared": _num(getattr(res, "rsquared", None)), "rsquared_label": label,
        "llf": _num(getattr(res, "loglik", None)), "aic": _num(getattr(res, "aic", None)),
    }
    if kind in ("IV2SLS", "IVLIML", "IVGMM", "IVGMMCUE"):
        stats["rsquared_label"] = "R2 (LSDV)" if hidden else "R2"
        stats["extra"] = _iv_statistics(res)
        entity = getattr(res, "spillover_entity_count", None)
        stats["N"], stats["T"] = _num(entity), _num(getattr(res, "spillover_time_count", None))
    return ColumnRecord(model=model, coefs=coefs, depvar=_lm_depvar(getattr(res, "model", None)), fe=fe,
                        method=str(method), stats=stats,
                        # panel results keep the covariance name only privately (linearmodels 6)
                        cov=cov_text(getattr(res, "cov_type", getattr(res, "_cov_type", None))))


def _partial_f(stat, dist: str) -> float | None:
    """The first-stage F: linearmodels reports a Wald chi2(q) under robust or clustered covariance; F = chi2 / q.

    With ``cov_type="unadjusted"`` linearmodels already reports F(q, n - k)
    (computed with sigma2 = SSR/n). Under a cluster-robust covariance Wald/q
    is the robust first-stage F (for one endogenous regressor the
    Kleibergen-Paap rk Wald F up to small-sample factors; Andrews, Stock & Sun
    2019, Annu. Rev. Econ. 11, sec. 3).
    """
    value = _num(stat)
    if value is None:
        return None
    if dist.startswith("chi2(") and dist.endswith(")"):
        return value / float(dist[5:-1])
    return value


def _iv_statistics(res) -> dict[str, float | None]:
    """First-stage partial F and partial R-squared per endogenous regressor, and the over-identification test.

    Partial statistics exclude the exogenous regressors (linearmodels
    ``first_stage.diagnostics``; Staiger & Stock 1997 for the F rule of thumb).
    Over-identification: Sargan (2SLS) or Hansen's J (GMM), p-value shown.
    """
    out: dict[str, float | None] = {}
    try:
        diag = res.first_stage.diagnostics
    except Exception:  # noqa: BLE001 -- linearmodels raises for models without a first stage
        diag = None
    if diag is not None:
        for endog, row in diag.iterrows():
            out[f"First stage: partial F ({endog})"] = _partial_f(row.get("f.stat"), str(row.get("f.dist", "")))
            out[f"First stage: partial R2 ({endog})"] = _num(row.get("partial.rsquared"))
    test = None
    for attr in ("j_stat", "sargan"):
        try:
            test = getattr(res, attr)
        except Exception:  # noqa: BLE001 -- exactly identified models raise
            test = None
        if test is not None and _num(getattr(test, "stat", None)) is not None and getattr(test, "df", 0):
            name = "Hansen J" if attr == "j_stat" else "Sargan"
            out[f"Over-identification: {name} p-value"] = _num(test.pval)
            break
    return out


def _from_statsmodels(res) -> ColumnRecord:
    coefs = _frame(res.params, res.bse, res.tvalues, res.pvalues)
    model = getattr(res, "model", None)
    kind = type(model).__name__
    stats = {
        "nobs": _num(res.nobs), "rsquared": _num(getattr(res, "rsquared", None)), "rsquared_label": "R2",
        "llf": _num(getattr(res, "llf", None)), "aic": _num(getattr(res, "aic", None)),
    }
    return ColumnRecord(model=kind, coefs=coefs, depvar=getattr(model, "endog_names", None),
                        fe=getattr(res, "spillover_fe", "none"), method=kind.lower(), stats=stats, cov=cov_text(getattr(res, "cov_type", None)))


def column_record(res) -> ColumnRecord:
    """Adapt one fitted model to a :class:`ColumnRecord` by the attributes it has.

    Parameters
    ----------
    res : object
        A :class:`~spillover.spatial.results.SpatialResults` (``w_label``,
        ``params``, ``bse``), a linearmodels result (``std_errors``,
        ``tstats``) or a statsmodels result (``bse``, ``tvalues``). A
        :class:`ColumnRecord` is returned unchanged.

    Returns
    -------
    ColumnRecord

    Raises
    ------
    TypeError
        If the object looks like none of these.
    """
    from spillover.spatial.dynamic import DynamicResults

    if isinstance(res, ColumnRecord):
        return res
    if isinstance(res, DynamicResults):
        return _from_dynamic(res)
    if callable(getattr(res, "column_record", None)):  # a user's result type adapts itself
        return res.column_record()
    if all(hasattr(res, a) for a in ("w_label", "params", "bse", "fe", "method", "model")):
        return _from_spatial(res)
    if all(hasattr(res, a) for a in ("params", "std_errors", "tstats")):
        return _from_linearmodels(res)
    if all(hasattr(res, a) for a in ("params", "bse", "tvalues")):
        return _from_statsmodels(res)
    raise TypeError(
        f"cannot make a table column from {type(res).__name__}: expected a spillover spatial result, "
        "a linearmodels result (params, std_errors, tstats) or a statsmodels result (params, bse, tvalues)"
    )


# ---------------------------------------------------------------- impacts
def _impacts_frame(obj) -> pd.DataFrame | None:
    """The impacts table (rows x variables; direct, direct_se, ...) of an impacts object or frame."""
    if obj is None:
        return None
    table = obj if isinstance(obj, pd.DataFrame) else getattr(obj, "table", None)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"impacts entries must have a .table DataFrame (or be one), got {type(obj).__name__}")
    missing = [c for c in EFFECTS if c not in table.columns]
    if missing:
        raise SpecificationError(format_error("impacts table lacks columns", columns=missing,
                                              hint="pass res.impacts(...) or its .table"))
    return table


def _impacts_note(obj) -> str | None:
    """How the impacts' standard errors were computed, as one sentence (None without impacts)."""
    method = getattr(obj, "method", None)
    if method is None:
        return None
    if method == "simulation":
        draws, seed = getattr(obj, "draws", None), getattr(obj, "seed", None)
        many = f"{draws:,}" if isinstance(draws, int) else "?"
        return (f"Direct, indirect and total effects (LeSage & Pace 2009): standard errors from {many} draws "
                f"of the estimates' asymptotic distribution (seed {seed}).")
    if method == "delta":
        return "Direct, indirect and total effects (LeSage & Pace 2009): standard errors by the delta method."
    return f"Direct, indirect and total effects (LeSage & Pace 2009): standard errors by the {method} method."


def _resolve_impacts(impacts, results: list, records: list[ColumnRecord]) -> list:
    """One impacts object (or None) per column; computed once here when ``impacts`` is True or a dict."""
    if impacts is None or impacts is False:
        return [None] * len(records)
    if impacts is True or isinstance(impacts, Mapping):
        kw = {"draws": 1000, "seed": 0} | (dict(impacts) if isinstance(impacts, Mapping) else {})
        out = []
        for rec in records:
            if rec.impacts_fn is None:
                out.append(None)
                continue
            try:
                out.append(rec.impacts_fn(**kw))
            except ValueError:  # e.g. models without impacts
                out.append(None)
        return out
    impacts = list(impacts)
    if len(impacts) != len(results):
        raise SpecificationError(format_error(f"impacts has {len(impacts)} entries for {len(results)} results",
                                              option="impacts", hint="pass one entry (or None) per result"))
    return impacts


