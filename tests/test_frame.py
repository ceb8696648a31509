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


def test_lag_in_formulas_equals_a_hand_made_lag(cigar):
    """``lag(x, k)`` in any estimator's formula: the same fit as a lagged column built by hand (groupby shift
    on the sorted panel) with the first k years dropped; the rows of a permuted data frame do not matter."""
    df, w = cigar
    hand = df.sort_values(["state", "year"]).copy()
    hand["lp2"] = hand.groupby("state")["logp"].shift(2)
    hand = hand[hand["year"] > hand["year"].min() + 1]
    ref = sp.SDM("logc ~ lp2 + logy", hand, w, "state", "year").fit()
    got = sp.SDM("logc ~ lag(logp, 2) + logy", df.sample(frac=1.0, random_state=3), w, "state", "year").fit()
    np.testing.assert_allclose(got.params.to_numpy(), ref.params.to_numpy(), rtol=1e-10)
    assert list(got.params.index[:2]) == ["lag(logp, 2)", "logy"] and got.T == 28
    np.testing.assert_allclose(got.resid.sort_index().to_numpy(), ref.resid.sort_index().to_numpy(), rtol=1e-8,
                               atol=1e-12)
    # the unbalanced estimator drops exactly the rows without an earlier observation
    short = df[~((df["state"] == df["state"].iloc[0]) & (df["year"] < 65))]
    unb = sp.fit_unbalanced("logc ~ lag(logp) + logy", short, w, "state", "year", model="sar", fe="entity")
    assert unb.nobs == len(short) - 46  # the first year of the other 45 states, the first kept year of one


def test_panel_lag_looks_up_the_period_not_the_row():
    from spillover.formula import PanelLag

    d = pd.DataFrame({"u": ["a", "a", "a", "b", "b"], "t": [3, 1, 2, 1, 3], "x": [30.0, 10, 20, 1, 3]})
    got = PanelLag.of(d, "u", "t")(d["x"], 1)
    np.testing.assert_array_equal(got.to_numpy(), [20.0, np.nan, 10, np.nan, np.nan])  # b has no t = 2
    with pytest.raises(SpecificationError, match="needs a panel"):
        model_arrays("x ~ lag(x)", d)
    with pytest.raises(SpecificationError, match="positive integer"):
        PanelLag.of(d, "u", "t")(d["x"], 0)


def test_text_columns_are_not_silently_dummies(cigar):
    df, w = cigar
    bad = df.assign(logp=df["logp"].map(lambda v: f"{v:.4f}".replace(".", ",")))  # decimal commas
    with pytest.raises(SpecificationError, match=r"column 'logp' is not numeric .*first non-number '.*,.*'"):
        sp.SAR("logc ~ logp", bad, w, "state", "year").fit()
    cat = df.assign(era=np.where(df["year"] < 75, "early", "late"))
    x = model_arrays("logc ~ logp + C(era)", cat)[1]
    assert any("era" in c for c in x.columns)
