"""Records of every change the pipeline makes to what the raw files say."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import pandas as pd


@dataclass(frozen=True)
class Correction:
    """One correction, exclusion or flag applied to the raw data.

    Attributes
    ----------
    what : str
        Kind of action, e.g. ``"excluded"``, ``"recomputed"``,
        ``"interpolated (flagged)"``, ``"replaced by other vintage"``,
        ``"row ignored"``.
    indicator : str
        Catalog id or derived variable concerned.
    province : str or None
        GB code, ``None`` when the action concerns the whole series.
    year : int or None
        Year, ``None`` when the action concerns the whole series.
    old, new : float or None
        Value before and after (``None`` when not applicable).
    reason : str
        Why, with the evidence (e.g. the national totals that show a
        price-basis break).
    """

    what: str
    indicator: str
    province: str | None
    year: int | None
    old: float | None
    new: float | None
    reason: str


def corrections_frame(corrections: list[Correction] | tuple[Correction, ...]) -> pd.DataFrame:
    """The corrections as a DataFrame with one column per field."""
    cols = [f.name for f in fields(Correction)]
    return pd.DataFrame([asdict(c) for c in corrections], columns=cols)
