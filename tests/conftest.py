"""Shared fixtures: the public reference panels shipped in tests/reference/."""

from __future__ import annotations

import tempfile
from pathlib import Path

import libpysal
import numpy as np
import pandas as pd
import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

REF = Path(__file__).parent / "reference"

# property-based tests: the same examples on every run (derandomised) and no example database in the checkout
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "spillover-hypothesis")
settings.register_profile("spillover", derandomize=True, database=None, deadline=None, max_examples=100)
settings.load_profile("spillover")


@pytest.fixture(scope="session")
def produc():
    """Produc (48 states x 17 years) with logs and the row-standardised usaww W."""
    df = pd.read_csv(REF / "produc" / "Produc_plm.csv")
    wm = pd.read_csv(REF / "produc" / "usaww_rowstd.csv", index_col=0)
    df["state"] = df["state"].str.replace(" ", "_")
    for c in ("gsp", "pcap", "pc", "emp"):
        df["l" + c] = np.log(df[c])
    w = libpysal.weights.full2W(wm.to_numpy(), ids=list(wm.index))
    return df, w


@pytest.fixture(scope="session")
def cigar():
    """Cigar (46 states x 30 years): logc, logp, logy and the row-standardised contiguity W."""
    df = pd.read_csv(REF / "cigar" / "Cigar_plm.csv")
    wm = pd.read_csv(REF / "cigar" / "usa46_binary.csv", index_col=0)
    codes = sorted(df["state"].unique())
    assert len(codes) == wm.shape[0] == 46
    df["logc"] = np.log(df["sales"])
    df["logp"] = np.log(df["price"] / df["cpi"])
    df["logy"] = np.log(df["ndi"] / df["cpi"])
    w = libpysal.weights.full2W(wm.to_numpy(), ids=codes)
    w.transform = "r"
    return df, w


@pytest.fixture(scope="session")
def permuted():
    """``permuted(w, seed) -> (matrix, ids)``: the dense W of a libpysal W in a seeded random unit order."""

    def make(w, seed: int):
        perm = np.random.default_rng(seed).permutation(len(w.id_order))
        return w.sparse.toarray()[np.ix_(perm, perm)], [w.id_order[k] for k in perm]

    return make
