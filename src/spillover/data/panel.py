"""The built provincial panel and its validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from spillover.data.corrections import Correction, corrections_frame
from spillover.data.provinces import province_codes
from spillover.errors import DataError, format_error

if TYPE_CHECKING:  # pragma: no cover
    from spillover.data.catalog import Catalog
    from spillover.indices import IndexResult

#: columns the estimators and the study rely on (exact names)
REQUIRED_COLUMNS: tuple[str, ...] = (
    "province", "province_zh", "province_en", "region", "year",
    "dei", "cpi",
    "urban", "gov", "open", "hc", "fin",
    "innov", "indup", "rural_inc", "urban_rural_ratio",
    "gdp_pc", "lgdp_pc", "pop",
)

KEY_COLUMNS: tuple[str, ...] = ("province", "province_zh", "province_en", "region", "year")


@dataclass(frozen=True)
class Panel:
    """Everything one build of the pipeline produces.

    Attributes
    ----------
    data : pandas.DataFrame
        The balanced panel, one row per province-year, sorted by
        ``province`` then ``year`` (see :data:`REQUIRED_COLUMNS`).
    long : pandas.DataFrame
        Tidy table of every catalog entry as read (``province``, ``year``,
        ``indicator``, ``value``), all years the files hold.
    corrections : tuple of Correction
        Every exclusion, replacement and flag applied.
    indices : mapping of str to IndexResult
        The composite indices (``"dei"``, ``"cpi"``).
    supplementary : pandas.DataFrame
        Series kept out of the balanced panel because of documented gaps
        (``province``, ``year``, ...).
    derived : pandas.DataFrame
        The derived-variable table (name, formula, unit, description).
    catalog : Catalog
        The catalog the panel was built from.
    """

    data: pd.DataFrame
    long: pd.DataFrame
    corrections: tuple[Correction, ...]
    indices: Mapping[str, IndexResult]
    supplementary: pd.DataFrame
    derived: pd.DataFrame
    catalog: Catalog
    spot_checks: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def weights(self) -> dict[str, pd.DataFrame]:
        """Weight table of each composite index."""
        return {name: res.weights for name, res in self.indices.items()}

    def corrections_frame(self) -> pd.DataFrame:
        """The corrections as a DataFrame."""
        return corrections_frame(self.corrections)

    def copy(self) -> Panel:
        """A copy whose DataFrames can be modified without touching this one."""
        return replace(
            self,
            data=self.data.copy(),
            long=self.long.copy(),
            supplementary=self.supplementary.copy(),
            derived=self.derived.copy(),
            spot_checks=self.spot_checks.copy(),
        )


def validate_panel(df: pd.DataFrame, years: tuple[int, int], *, required: tuple[str, ...] = REQUIRED_COLUMNS) -> None:
    """Check that ``df`` is the balanced 31-province panel the study expects.

    Parameters
    ----------
    df : pandas.DataFrame
    years : tuple of int
        First and last year.
    required : tuple of str
        Columns that must be present.

    Raises
    ------
    DataError
        Missing column, unknown or missing province, year outside the
        range, a duplicate or missing province-year, a missing or
        non-finite value, or rows not sorted by province then year.
    """
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(format_error("panel lacks required columns", column=missing,
                                     hint="the pipeline must derive every column in REQUIRED_COLUMNS"))
    codes = set(province_codes())
    unknown = sorted(set(df["province"]) - codes)
    if unknown:
        raise DataError(format_error("unknown province in panel", province=unknown[0],
                                     hint="province must be one of the 31 GB codes"))
    bad_years = sorted(set(df["year"]) - set(range(years[0], years[1] + 1)))
    if bad_years:
        raise DataError(format_error("year outside range in panel", year=bad_years[0],
                                     hint=f"the panel covers {years[0]}-{years[1]}"))
    dup = df.duplicated(["province", "year"])
    if dup.any():
        row = df.loc[dup].iloc[0]
        raise DataError(format_error("duplicate province-year in panel", province=row["province"],
                                     year=int(row["year"]), hint="each province-year must appear once"))
    full = pd.MultiIndex.from_product([sorted(codes), range(years[0], years[1] + 1)])
    have = pd.MultiIndex.from_frame(df[["province", "year"]])
    lacking = full.difference(have)
    if len(lacking):
        p, y = lacking[0]
        raise DataError(format_error(f"panel is not balanced ({len(lacking)} province-years missing)",
                                     province=p, year=int(y), hint="every province needs every year"))
    numeric = df.select_dtypes(include=[np.number])
    bad = ~np.isfinite(numeric.to_numpy(dtype=float))
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise DataError(format_error("missing or non-finite value in panel", column=numeric.columns[j],
                                     province=df["province"].iloc[i], year=int(df["year"].iloc[i]),
                                     hint="a derived variable divides by zero or logs a non-positive value, "
                                     "or an input is incomplete"))
    order = df[["province", "year"]].reset_index(drop=True)
    if not order.equals(order.sort_values(["province", "year"]).reset_index(drop=True)):
        raise DataError(format_error("panel rows are not sorted by province then year",
                                     hint="sort with df.sort_values(['province', 'year'])"))
