"""The one front end (spillover.frame): the same message for the same bad panel, whoever reads it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import spillover as sp
from spillover.errors import SpecificationError, WeightsError
from spillover.formula import model_arrays, parse, variables
from spillover.frame import panel_frame

F = "logc ~ logp + logy"


def _readers(df, w):
    """Every public entry point that reads a panel: estimator, unbalanced estimator, LM tests, Moran's I."""
    return {
        "SAR": lambda: sp.SAR(F, df, w, "state", "year", fe="entity").fit(),
        "fit_unbalanced": lambda: sp.fit_unbalanced(F, df, w, "state", "year", model="sar", fe="entity"),
        "lm_tests": lambda: sp.lm_tests(F, df, w, "state", "year"),
        "moran_by_year": lambda: sp.moran_by_year(df, "logc", w, "state", "year", permutations=0),
    }


@pytest.mark.parametrize("case", ["extra_entity", "duplicate", "missing_value", "inf_value"])
def test_same_error_from_every_reader(cigar, case):
    df, w = cigar
    bad = df.copy()
    if case == "extra_entity":
        bad.loc[bad.index[0], "state"] = 999
        exc, pattern = WeightsError, "entities not in w: 999"
    elif case == "duplicate":
        bad.loc[bad.index[1], "year"] = bad.loc[bad.index[0], "year"]
        exc, pattern = SpecificationError, r"duplicate entity-period rows \(state, year\): \(1, 63\)"
    elif case == "missing_value":
        bad.loc[bad.index[5], "logc"] = np.nan
        exc, pattern = SpecificationError, r"missing or infinite values.*column='logc', entity=1, time=68"
    else:
        bad.loc[bad.index[5], "logc"] = -np.inf
        exc, pattern = SpecificationError, r"missing or infinite values.*column='logc', entity=1, time=68"
    for read in _readers(bad, w).values():
        with pytest.raises(exc, match=pattern):
            read()


def test_unbalanced_panel_names_the_period_and_units(cigar):
    df, w = cigar
    bad = df.drop(df.index[(df["year"] == 70) & df["state"].isin([3, 4])])
    for name, read in _readers(bad, w).items():
        if name == "fit_unbalanced":
            continue  # an unbalanced panel is what it is for
        with pytest.raises(SpecificationError, match=r"unbalanced panel.*year 70: 3, 4"):
            read()


def test_frame_order_and_codes(cigar):
    """Time-major order in W's unit order, by hashing; any row order of the input gives the same stacking."""
    df, w = cigar
    shuffled = df.sample(frac=1.0, random_state=4)
    fr = panel_frame(shuffled, w, "state", "year", variables=["logc"])
    stacked = fr.data.iloc[fr.order]
    assert list(stacked["year"].iloc[:: fr.n]) == sorted(df["year"].unique())
    assert list(stacked["state"].iloc[: fr.n]) == list(w.id_order)
    assert fr.balanced and fr.n == 46 and fr.t == 30


def test_formula_grammar():
    assert parse("y ~ a + I(a + b)").exog == ("a", "I(a + b)")
    p = parse("cpi ~ urban + [dei ~ L1.dei + L2.dei] + gov")
    assert (p.lhs, p.exog, p.endog, p.instruments) == ("cpi", ("urban", "gov"), ("dei",), ("L1.dei", "L2.dei"))
    assert variables("np.log(y) ~ I(a + b) + c") == {"y", "a", "b", "c"}
    for bad, msg in [("cpi ~ dei +", "cannot parse"), ("cpi dei", "needs the form"),
                     ("y ~ a + [d ~ ]", "bracket needs"), ("y ~ [d ~ z", "closed by")]:
        with pytest.raises(SpecificationError, match=msg):
            parse(bad)
    data = pd.DataFrame({"y": [1.0, 2.0, 3.0], "a": [1.0, 0.0, 2.0], "b": [0.5, 0.5, 1.0]})
    y, x, name = model_arrays("y ~ a + I(a + b)", data)
    np.testing.assert_array_equal(x["I(a + b)"].to_numpy(), [1.5, 0.5, 3.0])
    with pytest.raises(SpecificationError, match=r"variable\(s\) \['nosuch'\] not in the data"):
        model_arrays("y ~ a + nosuch", data)


def test_i_terms_reach_the_estimator(cigar):
    """A formulaic transform term is one regressor for the SDM and gets its own W* term."""
    df, w = cigar
    res = sp.SDM("logc ~ logp + I(logp + logy)", df, w, "state", "year").fit()
    assert "I(logp + logy)" in res.params.index and "W*I(logp + logy)" in res.params.index
