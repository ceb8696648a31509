"""Pesaran CD, Breusch-Pagan LM and scaled LM against loops written here (and R plm's pcdtest output stored
in tests/reference/cd/ with the script that made it, when present)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import spillover as sp
from spillover.errors import SpecificationError


def _within_resid(df: pd.DataFrame, y: str, xs: list[str], entity: str, time: str) -> pd.Series:
    """Residuals of a two-way within regression, by (entity, time)."""
    d = df.set_index([entity, time])[[y, *xs]].astype(float)
    dm = d - d.groupby(level=0).transform("mean") - d.groupby(level=1).transform("mean") + d.mean()
    beta = np.linalg.lstsq(dm[xs].to_numpy(), dm[y].to_numpy(), rcond=None)[0]
    return dm[y] - dm[xs].to_numpy() @ beta


def _brute(resid: pd.Series, neighbours=None) -> dict:
    """The three statistics by explicit loops over pairs (Pesaran 2004, eqs. 29 and 31; Breusch-Pagan 1980)."""
    wide = resid.unstack(level=0)
    units = list(wide.columns)
    cd = lm = slm = 0.0
    k = 0
    for i, j in itertools.combinations(range(len(units)), 2):
        if neighbours is not None and (units[i], units[j]) not in neighbours:
            continue
        both = wide.iloc[:, [i, j]].dropna()
        t = len(both)
        a, b = both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy()
        r = np.sum((a - a.mean()) * (b - b.mean())) / math.sqrt(np.sum((a - a.mean()) ** 2) * np.sum((b - b.mean()) ** 2))
        cd += math.sqrt(t) * r
        lm += t * r * r
        slm += t * r * r - 1
        k += 1
    return {"CD": cd / math.sqrt(k), "LM": lm, "scaled_LM": slm / math.sqrt(2 * k), "pairs": k}


def test_global_statistics_equal_the_loops(produc):
    df, _ = produc
    e = _within_resid(df, "lgsp", ["lpcap", "lpc", "lemp", "unemp"], "state", "year")
    got = sp.cd_test(e, "state", "year")
    want = _brute(e)
    for key in ("CD", "LM", "scaled_LM"):
        assert got.loc[key, "stat"] == pytest.approx(want[key], rel=1e-10)
    assert got["pairs"].iloc[0] == want["pairs"] == 48 * 47 // 2
    assert got.loc["LM", "df"] == 1128
    assert got.loc["LM", "p"] == pytest.approx(stats.chi2.sf(want["LM"], 1128), rel=1e-10)
    assert got.loc["CD", "p"] == pytest.approx(2 * stats.norm.sf(abs(want["CD"])), rel=1e-10)


def test_local_statistics_run_over_neighbours_and_unbalanced_pairs(cigar):
    df, w = cigar
    e = _within_resid(df, "logc", ["logp", "logy"], "state", "year")
    e = e.drop(index=[(df["state"].iloc[0], 63), (df["state"].iloc[40], 70)])  # two cells missing: unbalanced pairs
    pairs = {(a, b) for a in w.neighbors for b in w.neighbors[a]}
    got = sp.cd_test(e, "state", "year", w=w)
    want = _brute(e, pairs)
    for key in ("CD", "LM", "scaled_LM"):
        assert got.loc[key, "stat"] == pytest.approx(want[key], rel=1e-10)
    assert got["pairs"].iloc[0] == want["pairs"] == sum(len(v) for v in w.neighbors.values()) // 2


def test_bad_inputs_are_named(cigar):
    df, w = cigar
    e = _within_resid(df, "logc", ["logp", "logy"], "state", "year")
    with pytest.raises(SpecificationError, match="indexed by"):
        sp.cd_test(e.to_numpy(), "state", "year")
    with pytest.raises(SpecificationError, match="different units"):
        sp.cd_test(e.drop(index=df["state"].iloc[0], level=0), "state", "year", w=w)
    with pytest.raises(SpecificationError, match="at least two units"):
        sp.cd_test(e.xs(df["state"].iloc[0], level=0, drop_level=False), "state", "year")


def test_equal_to_r_plm_pcdtest(produc, cigar):
    """R plm 2.6 pcdtest (tests/reference/cd/make_cd_reference.R) on the same two-way within residuals."""
    from pathlib import Path

    ref = pd.read_csv(Path(__file__).parent / "reference" / "cd" / "pcdtest.csv")
    df, _ = produc
    e_produc = _within_resid(df, "lgsp", ["lpcap", "lpc", "lemp", "unemp"], "state", "year")
    cg, w = cigar
    e_cigar = _within_resid(cg, "logc", ["logp", "logy"], "state", "year")
    names = {"cd": "CD", "lm": "LM", "sclm": "scaled_LM"}
    for row in ref.itertuples():
        e = e_produc if row.data == "produc" else e_cigar
        got = sp.cd_test(e, "state", "year", w=w if row.local else None).loc[names[row.test]]
        assert got["stat"] == pytest.approx(row.stat, rel=1e-8), row
        assert got["p"] == pytest.approx(row.p, rel=1e-6, abs=1e-300), row
