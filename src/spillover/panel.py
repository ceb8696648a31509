"""Non-spatial panel models: a thin layer over linearmodels.

``fit_panel("y ~ x1 + x2", data, entity, time, fe=...)`` returns the
linearmodels result object itself (PooledOLS, PanelOLS with entity and/or
time effects, or RandomEffects), so every linearmodels feature stays
available; the report tables read it directly.
"""

from __future__ import annotations

import pandas as pd

from spillover.errors import SpecificationError, format_error

FE_CHOICES = ("none", "entity", "time", "twoways", "random")


def panel_frame(data: pd.DataFrame, entity: str, time: str) -> pd.DataFrame:
    """The data with the (entity, time) MultiIndex linearmodels expects."""
    for c in (entity, time):
        if c not in data.columns:
            raise SpecificationError(format_error("column not in the data", column=c))
    return data.set_index([entity, time]).sort_index()


def fit_panel(formula: str, data: pd.DataFrame, entity: str, time: str, *, fe: str = "twoways",
              cov_type: str = "unadjusted", **cov_kw):
    """Fit pooled OLS (fe="none"), within (entity/time/twoways) or random effects (fe="random").

    Within estimators follow Wooldridge (2010, ch. 10); random effects use the
    Swamy-Arora variance components (linearmodels ``RandomEffects``).
    ``cov_type`` is passed to linearmodels (e.g. "clustered" with
    ``cluster_entity=True``).
    """
    from linearmodels import PanelOLS, PooledOLS, RandomEffects

    if fe not in FE_CHOICES:
        raise SpecificationError(format_error(f"fe={fe!r} is not supported", option="fe", hint=f"choose one of {FE_CHOICES}"))
    df = panel_frame(data, entity, time)
    lhs, rhs = formula.split("~", 1)
    if fe == "none":
        mod = PooledOLS.from_formula(f"{lhs}~ 1 + {rhs}", df)
    elif fe == "random":
        mod = RandomEffects.from_formula(f"{lhs}~ 1 + {rhs}", df)
    else:
        effects = {"entity": " + EntityEffects", "time": " + TimeEffects", "twoways": " + EntityEffects + TimeEffects"}[fe]
        mod = PanelOLS.from_formula(f"{lhs}~ {rhs}{effects}", df)
    res = mod.fit(cov_type=cov_type, **cov_kw)
    res.spillover_fe = fe  # the table reads the effects row from here
    return res
