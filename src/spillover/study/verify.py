"""``spillover verify``: rerun the study and compare every number with the committed results.

The committed ``results/numbers.csv`` (every number of every table, tidy) is
compared with a fresh run written to a temporary folder. Tolerances: a value
matches when ``|new - old| <= atol + rtol |old|`` with ``rtol = 1e-6`` and
``atol = 1e-9`` by default (estimates are deterministic and simulated impacts
are seeded, so differences come only from floating-point platform effects).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

KEY = ["output", "row", "column"]


@dataclass(frozen=True)
class VerifyReport:
    compared: int
    mismatches: pd.DataFrame
    missing: pd.DataFrame
    extra: pd.DataFrame
    rtol: float
    atol: float

    @property
    def ok(self) -> bool:
        return self.mismatches.empty and self.missing.empty and self.extra.empty


def compare_numbers(old: pd.DataFrame, new: pd.DataFrame, *, rtol: float = 1e-6, atol: float = 1e-9) -> VerifyReport:
    """Compare two tidy number tables on (output, row, column)."""
    for df in (old, new):
        df[KEY] = df[KEY].astype(str)
    m = old.merge(new, on=KEY, how="outer", suffixes=("_committed", "_rerun"), indicator=True)
    both = m[m["_merge"] == "both"].copy()
    a, b = both["value_committed"].to_numpy(float), both["value_rerun"].to_numpy(float)
    same = (np.isnan(a) & np.isnan(b)) | (np.abs(b - a) <= atol + rtol * np.abs(a))
    both["abs_diff"] = np.abs(b - a)
    mism = both.loc[~same, KEY + ["value_committed", "value_rerun", "abs_diff"]]
    missing = m.loc[m["_merge"] == "left_only", KEY + ["value_committed"]]
    extra = m.loc[m["_merge"] == "right_only", KEY + ["value_rerun"]]
    return VerifyReport(len(both), mism.reset_index(drop=True), missing.reset_index(drop=True),
                        extra.reset_index(drop=True), rtol, atol)


def verify(models: str | Path = "models", results: str | Path = "results", *, rtol: float = 1e-6,
           atol: float = 1e-9, progress=None) -> VerifyReport:
    """Rerun the study in ``models`` into a temporary folder and compare with ``results/numbers.csv``."""
    from spillover.study.runner import run_study

    committed = Path(results) / "numbers.csv"
    if not committed.exists():
        raise FileNotFoundError(f"{committed} does not exist: run 'spillover replicate' first and commit results/")
    old = pd.read_csv(committed)
    with tempfile.TemporaryDirectory(prefix="spillover-verify-") as tmp:
        run_study(models, tmp, progress=progress, figures=False)
        new = pd.read_csv(Path(tmp) / "numbers.csv")
    return compare_numbers(old, new, rtol=rtol, atol=atol)
