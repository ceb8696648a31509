"""Non-spatial panel models: a thin layer over linearmodels.

``fit_panel("y ~ x1 + x2", data, entity, time, fe=...)`` returns the
linearmodels result object itself (PooledOLS, PanelOLS with entity and/or
time effects, or RandomEffects), so every linearmodels feature stays
available; the report tables read it directly.
"""

from __future__ import annotations

import re

import pandas as pd

from spillover.errors import SpecificationError, format_error
from spillover.formula import lag_calls, parse

FE_CHOICES = ("none", "entity", "time", "twoways", "random")


def _indexed(data: pd.DataFrame, entity: str, time: str) -> pd.DataFrame:
    """The data with the (entity, time) MultiIndex linearmodels expects."""
    for c in (entity, time):
        if c not in data.columns:
            raise SpecificationError(format_error("column not in the data", column=c))
    return data.set_index([entity, time]).sort_index()


def fit_panel(formula: str, data: pd.DataFrame, entity: str, time: str, *, fe: str = "twoways",
              cov: str = "unadjusted", **cov_kw):
    """Fit pooled OLS (fe="none"), within (entity/time/twoways) or random effects (fe="random").

    Within estimators follow Wooldridge (2010, ch. 10); random effects use the
    Swamy-Arora variance components (linearmodels ``RandomEffects``).
    ``cov`` is linearmodels' ``cov_type`` (e.g. "clustered" with
    ``cluster_entity=True``).
    """
    from linearmodels import PanelOLS, PooledOLS, RandomEffects

    if fe not in FE_CHOICES:
        raise SpecificationError(format_error(f"fe={fe!r} is not supported", option="fe", hint=f"choose one of {FE_CHOICES}"))
    parse(formula)
    calls = lag_calls(formula)
    if calls:  # linearmodels evaluates formulaic's lag(), which shifts rows across units
        raise SpecificationError(format_error(
            f"formula {formula!r}: {calls[0][0]} is not a panel lag in a non-spatial panel model", option="formula",
            hint="add the lagged column with spillover.panel.add_lag(data, var, entity, time, k) and use "
                 "'L{k}_var', or list the variable in lag = [...] of the study's [[estimate]]"))
    df = _indexed(data, entity, time)
    lhs, rhs = formula.split("~", 1)
    if fe == "none":
        mod = PooledOLS.from_formula(f"{lhs}~ 1 + {rhs}", df)
    elif fe == "random":
        mod = RandomEffects.from_formula(f"{lhs}~ 1 + {rhs}", df)
    else:
        effects = {"entity": " + EntityEffects", "time": " + TimeEffects", "twoways": " + EntityEffects + TimeEffects"}[fe]
        mod = PanelOLS.from_formula(f"{lhs}~ {rhs}{effects}", df)
    res = mod.fit(cov_type=cov, **cov_kw)
    res.spillover_fe = fe  # the table reads the effects row from here
    return res


def add_lag(data: pd.DataFrame, var: str, entity: str, time: str, k: int = 1) -> pd.DataFrame:
    """Return ``data`` with ``L{k}_{var}``, ``lag(var, k)`` of :mod:`spillover.formula` (NaN at the start)."""
    from spillover.formula import PanelLag

    out = data.sort_values([entity, time]).copy()
    out[f"L{k}_{var}"] = PanelLag.of(out, entity, time)(out[var], k).to_numpy()
    return out


def fit_iv(dependent: str, exog: list[str], endog: list[str], instruments: list[str], data: pd.DataFrame,
           entity: str, time: str, *, fe: str = "twoways", estimator: str = "2sls", cov: str = "clustered"):
    """IV regression with unit and/or time effects through linearmodels (``IV2SLS`` or ``IVGMM``).

    Unit and time effects enter as explicit dummy regressors, which is exact and
    keeps the degrees of freedom right for panels of the size of a provincial
    study (Wooldridge 2010, sec. 11.1.1: fixed-effects 2SLS equals 2SLS with
    the dummies). Rows with a missing value in any variable (e.g. the first
    year when an instrument is a lag, see :func:`add_lag`) are dropped.
    ``cov`` is linearmodels' ``cov_type``; ``cov="clustered"`` clusters by entity. First-stage statistics
    (partial R-squared, partial F) are in ``result.first_stage.diagnostics``.
    """
    from linearmodels.iv import IV2SLS, IVGMM

    if fe not in ("none", "entity", "time", "twoways"):
        raise SpecificationError(format_error(f"fe={fe!r} is not supported for IV", option="fe",
                                              hint="choose none, entity, time or twoways"))
    if estimator not in ("2sls", "gmm"):
        raise SpecificationError(format_error(f"estimator={estimator!r}", option="estimator", hint="choose '2sls' or 'gmm'"))
    cols = [dependent, *exog, *endog, *instruments]
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise SpecificationError(format_error("IV variable not in the data", column=missing[0]))
    df = data.dropna(subset=cols).reset_index(drop=True)
    x = df[exog].astype(float)
    dummies = []
    if fe in ("entity", "twoways"):
        dummies.append(pd.get_dummies(df[entity], prefix="_u", drop_first=False, dtype=float))
    if fe in ("time", "twoways"):
        dummies.append(pd.get_dummies(df[time], prefix="_t", drop_first=fe == "twoways", dtype=float))
    if dummies:
        x = pd.concat([x, *dummies], axis=1)
    else:
        x = x.assign(const=1.0)
    cls = IV2SLS if estimator == "2sls" else IVGMM
    kw = {"clusters": df[entity].astype("category").cat.codes} if cov == "clustered" else {}
    res = cls(df[dependent], x, df[endog], df[instruments]).fit(cov_type=cov, **kw)
    res.spillover_fe = fe
    res.spillover_hidden = [c for c in x.columns if c.startswith(("_u_", "_t_"))]  # effect dummies, not tabulated
    res.spillover_entity_count = int(df[entity].nunique())
    res.spillover_time_count = int(df[time].nunique())
    return res


_LAG = re.compile(r"^(?:L(?P<k>\d+)\.(?P<v>\w+)|lag\(\s*(?P<v2>\w+)\s*(?:,\s*(?P<k2>\d+)\s*)?\))$")


def parse_iv_formula(formula: str) -> tuple[str, list[str], list[str], list[str]]:
    """Split ``"y ~ x1 + x2 + [d ~ z1 + L1.d]"`` into (dependent, exogenous, endogenous, instruments).

    The grammar is :mod:`spillover.formula`'s (formulaic plus the bracket of
    linearmodels and Stata ``ivregress``). A term ``lag(v, k)`` (or Stata's
    ``L{k}.v``) is variable ``v`` lagged ``k`` periods within each entity.
    """
    p = parse(formula)
    if not p.endog:
        raise SpecificationError(format_error(f"IV formula {formula!r} is not of the form 'y ~ x1 + x2 + [d ~ z1 + z2]'",
                                              option="formula"))
    return p.lhs, list(p.exog), list(p.endog), list(p.instruments)


def fit_iv_formula(formula: str, data: pd.DataFrame, entity: str, time: str, *, fe: str = "twoways",
                   estimator: str = "2sls", cov: str = "clustered"):
    """:func:`fit_iv` from a formula ``"y ~ exog + [endog ~ instruments]"`` (lags as ``lag(x, 1)`` or ``L1.x``).

    Lagged terms are built with :func:`add_lag`; the first ``k`` periods of
    every entity then lack the instrument and are dropped (stated by the
    result's ``nobs``).
    """
    y, exog, endog, inst = parse_iv_formula(formula)
    df = data
    resolved: dict[str, list[str]] = {"exog": [], "endog": [], "inst": []}
    for role, names in (("exog", exog), ("endog", endog), ("inst", inst)):
        for name in names:
            lag = _LAG.match(name)
            if lag:
                k, var = int(lag.group("k") or lag.group("k2") or 1), lag.group("v") or lag.group("v2")
                if var not in df.columns:
                    raise SpecificationError(format_error(f"lagged variable in {formula!r} is not in the data", column=var))
                col = f"L{k}_{var}"
                if col not in df.columns:
                    df = add_lag(df, var, entity, time, k)
                resolved[role].append(col)
            else:
                resolved[role].append(name)
    if not resolved["inst"]:
        raise SpecificationError(format_error("the IV formula names no instrument", option="formula"))
    if len(resolved["inst"]) < len(resolved["endog"]):
        raise SpecificationError(format_error(f"{len(resolved['endog'])} endogenous regressor(s) but only "
                                              f"{len(resolved['inst'])} instrument(s): the model is not identified",
                                              option="formula"))
    res = fit_iv(y, resolved["exog"], resolved["endog"], resolved["inst"], df, entity, time, fe=fe,
                 estimator=estimator, cov=cov)
    res.spillover_formula = formula
    return res
