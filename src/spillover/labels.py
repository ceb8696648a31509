"""Conventions as readers know them: the one place tables, diagnostics and text take these words from.

``method="lee-yu"`` prints as "Lee-Yu transformation" (Lee & Yu 2010,
J. Econometrics 154, 165-185), ``method="direct"`` as "Demeaning (Elhorst)"
(Elhorst 2014, Spatial Econometrics, ch. 3), and so on; ``fe="twoways"`` as
"two-way fixed effects".
"""

from __future__ import annotations

#: Estimation method (the ``method`` option, or a non-spatial estimator's kind) in words.
METHOD_TEXT: dict[str, str] = {
    "lee-yu": "Lee-Yu transformation",
    "direct": "Demeaning (Elhorst)",
    "direct-unbalanced": "Demeaning, unbalanced (Elhorst)",
    "within": "Within",
    "pooled": "Pooled OLS",
    "GLS": "Random-effects GLS",
    "ml": "Maximum likelihood",
    "ols": "OLS",
    "2sls": "Spatial 2SLS",
    "gm": "Generalized moments",
}

#: Fixed effects (the ``fe`` option) in words.
FE_TEXT: dict[str, str] = {"none": "no fixed effects", "entity": "unit fixed effects", "time": "time fixed effects",
                           "twoways": "two-way fixed effects", "random": "random effects"}
