"""Build the provincial panel: read, check, correct, derive, index.

The steps, in order:

1. load and validate ``data_raw/catalog.toml`` (:func:`load_catalog`);
2. read every entry into one tidy long table (``province``, ``year``,
   ``indicator``, ``value``), checking hashes, sheets, columns, province
   keys, years and cells (:func:`read_long`);
3. check that every ``used`` and ``reference`` series is complete for the
   31 provinces and the study years;
4. record the known defects of the sources as :class:`Correction` records
   (exclusions with the evidence, replaced vintages, interpolated cells,
   stray rows), see ``data_raw/SOURCES.md``;
5. derive the variables of :data:`DERIVED` (formulas and units printed by
   ``spillover data build``);
6. compute the composite indices ``dei`` and ``cpi`` with the entropy
   method (:class:`spillover.indices.EntropyIndex`, pooled over the panel);
7. validate the balanced panel (:func:`spillover.data.panel.validate_panel`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from spillover.data.catalog import Catalog, Indicator, default_catalog_path, load_catalog
from spillover.data.corrections import Correction
from spillover.data.panel import REQUIRED_COLUMNS, Panel, validate_panel
from spillover.data.plausibility import check
from spillover.data.provinces import province_codes, provinces
from spillover.data.readers import RawFiles, read_location
from spillover.errors import DataError, format_error
from spillover.indices import EntropyIndex, IndexResult

#: an indicator with a larger share of interpolated cells is left out of the default indices
MAX_INTERPOLATED_SHARE = 0.10
#: shift of the entropy method (added to min-max normalised values before proportions)
ENTROPY_SHIFT = 1e-4


# --------------------------------------------------------------------------- derived variables


def theil_urban_rural(inc_urban, inc_rural, pop_urban, pop_rural):
    """Urban-rural Theil index of income inequality.

    .. math::

        T = \\sum_{j \\in \\{u, r\\}} \\frac{I_j}{I}
            \\ln\\!\\left(\\frac{I_j / I}{P_j / P}\\right),

    where :math:`I_j = y_j P_j` is total disposable income of group
    :math:`j` (per-capita income :math:`y_j` times population :math:`P_j`),
    :math:`I = I_u + I_r` and :math:`P = P_u + P_r` (Theil 1967, ch. 4;
    the two-group form of Wang & Ouyang 2007, Economic Research Journal
    2007(10)). :math:`T = 0` when both groups earn the same per-capita
    income; larger values mean a wider urban-rural gap.

    Parameters
    ----------
    inc_urban, inc_rural : array-like
        Per-capita disposable income of urban and rural residents (yuan).
    pop_urban, pop_rural : array-like
        Urban and rural population (same unit for both).

    Returns
    -------
    array-like
    """
    i_u, i_r = inc_urban * pop_urban, inc_rural * pop_rural
    total_i, total_p = i_u + i_r, pop_urban + pop_rural
    s_u, s_r = i_u / total_i, i_r / total_i
    return s_u * np.log(s_u / (pop_urban / total_p)) + s_r * np.log(s_r / (pop_rural / total_p))


@dataclass(frozen=True)
class Derived:
    """A variable computed from catalog series.

    Attributes
    ----------
    name : str
        Panel column.
    formula : str
        The formula in catalog units.
    unit : str
        Unit of the result.
    description : str
        What it measures and why it is built this way.
    compute : callable
        Receives ``v`` where ``v[id]`` is a catalog series in base units
        (yuan, persons, t CO2, share; see :mod:`spillover.data.units`) or
        an earlier derived variable, and returns the new series.
    index, dimension, direction : str or None
        Composite index the variable feeds, with dimension and direction.
    supplementary : bool
        Kept out of the balanced panel (input has documented gaps).
    """

    name: str
    formula: str
    unit: str
    description: str
    compute: Callable[[Values], pd.Series]
    index: str | None = None
    dimension: str | None = None
    direction: str | None = None
    supplementary: bool = False


class Values:
    """Catalog series in base units, plus derived variables already computed."""

    def __init__(self, wide: pd.DataFrame, catalog: Catalog) -> None:
        self._wide = wide
        self._factor = {i.id: i.parsed_unit.factor for i in catalog.indicator}
        self.derived: dict[str, pd.Series] = {}

    def __getitem__(self, name: str) -> pd.Series:
        if name in self.derived:
            return self.derived[name]
        if name in self._wide.columns:
            return self._wide[name] * self._factor[name]
        raise KeyError(name)


DERIVED: tuple[Derived, ...] = (
    Derived("urban", "urban_pop / pop", "share", "Urbanisation rate: urban residents / residents (year end).",
            lambda v: v["urban_pop"] / v["pop"]),
    Derived("gov", "fiscal_exp / gdp", "share", "Government size: local fiscal expenditure / GDP.",
            lambda v: v["fiscal_exp"] / v["gdp"]),
    Derived("open", "trade / gdp", "share",
            "Openness: imports + exports (by location of operating units) / GDP. Trade is already in RMB "
            "(100 million yuan) in the source, so no currency conversion is applied.",
            lambda v: v["trade"] / v["gdp"]),
    Derived("hc", "college_students / (pop * 1e4)", "share",
            "Human capital: students enrolled in higher education per resident.",
            lambda v: v["college_students"] / v["pop"]),
    Derived("fin", "loans / gdp", "ratio", "Financial depth: outstanding RMB loans / GDP.",
            lambda v: v["loans"] / v["gdp"]),
    Derived("gdp_pc", "gdp * 1e8 / (pop * 1e4)", "yuan per person",
            "GDP per capita from GDP and year-end population of the same yearbook vintage "
            "(gdp_pc_bulletin is NOT used: it mixes vintages).",
            lambda v: v["gdp"] / v["pop"], index="cpi", dimension="affluence", direction="+"),
    Derived("lgdp_pc", "ln(gdp_pc)", "log yuan", "Log GDP per capita.", lambda v: np.log(v["gdp_pc"])),
    Derived("inc_pc", "(urban_income * urban_pop + rural_income * (pop - urban_pop)) / pop", "yuan per person",
            "Per-capita disposable income of all residents, population-weighted mean of urban and rural "
            "per-capita income.",
            lambda v: (v["urban_income"] * v["urban_pop"] + v["rural_income"] * (v["pop"] - v["urban_pop"]))
            / v["pop"], index="cpi", dimension="affluence", direction="+"),
    Derived("retail_pc", "retail * 1e8 / (pop * 1e4)", "yuan per person",
            "Consumption: retail sales of consumer goods per resident.",
            lambda v: v["retail"] / v["pop"], index="cpi", dimension="affluence", direction="+"),
    Derived("rural_inc", "ln(rural_income)", "log yuan", "Log per-capita disposable income of rural residents.",
            lambda v: np.log(v["rural_income"])),
    Derived("urban_rural_ratio", "urban_income / rural_income", "ratio",
            "Urban-rural income ratio (1 = parity).",
            lambda v: v["urban_income"] / v["rural_income"], index="cpi", dimension="sharing", direction="-"),
    Derived("theil", "sum_j (I_j/I) ln((I_j/I)/(P_j/P)), I_j = income_j * pop_j, j in {urban, rural}", "index",
            "Urban-rural Theil index (Theil 1967; Wang & Ouyang 2007); see theil_urban_rural().",
            lambda v: theil_urban_rural(v["urban_income"], v["rural_income"], v["urban_pop"],
                                        v["pop"] - v["urban_pop"]),
            index="cpi", dimension="sharing", direction="-"),
    Derived("pension_cov", "pension_participants / pop", "share",
            "Basic pension insurance coverage: participants (urban employees + urban-rural residents) / "
            "residents. Replaces the compiler's insurance 'percentage' (which exceeds 1).",
            lambda v: v["pension_participants"] / v["pop"], index="cpi", dimension="sharing", direction="+"),
    Derived("med_emp_cov", "med_employee / pop", "share",
            "Urban employee basic medical insurance coverage: participants / residents (the resident scheme "
            "has a 2017-2018 merger break and is not used).",
            lambda v: v["med_employee"] / v["pop"], index="cpi", dimension="sharing", direction="+"),
    Derived("innov", "ln(patents / (pop * 1e4) * 1e4)", "log grants per 10,000 residents",
            "Innovation: log domestic invention patent grants per 10,000 residents.",
            lambda v: np.log(v["patents"] / v["pop"] * 1e4)),
    Derived("indup", "emp_tertiary / emp_secondary", "ratio",
            "Industrial structure upgrading: tertiary / secondary employment. The sources hold no tertiary value "
            "added of one vintage, so the employment ratio (China Labour Statistical Yearbook) is used.",
            lambda v: v["emp_tertiary"] / v["emp_secondary"]),
    Derived("carbon_intensity", "co2 * 1e6 / (gdp * 1e4)", "t CO2 per 10,000 yuan",
            "Carbon intensity (CEADs apparent emissions / GDP). Xizang is not covered by CEADs, so it is "
            "supplementary and not in the default CPI.",
            lambda v: v["co2"] / v["gdp"] * 1e4, supplementary=True),
)


def _check_derived(d: Derived, values: pd.Series, wide: pd.DataFrame, catalog: Catalog) -> None:
    """A derived value that is infinite or NaN where its inputs are not names the cell and the inputs."""
    inputs = [c for c in re.findall(r"[a-z_][a-z0-9_]*", d.formula) if c in wide.columns]
    inputs = list(dict.fromkeys(inputs))
    ok_inputs = np.isfinite(wide[inputs].to_numpy(dtype=float)).all(axis=1) if inputs else np.ones(len(wide), bool)
    bad = ~np.isfinite(values.to_numpy(dtype=float)) & ok_inputs
    if not bad.any():
        return
    r = int(np.flatnonzero(bad)[0])
    prov, year = wide.index[r]
    shown = ", ".join(f"{c} = {wide[c].iloc[r]:g}" for c in inputs)
    raise DataError(format_error(
        f"derived variable {d.name} = {d.formula} is {values.iloc[r]:g} in {int(bad.sum())} cell(s); first where "
        f"{shown}", province=prov, year=int(year), catalog=str(catalog.path),
        hint="an input cell is zero or negative where it cannot be (declare check = {min = ...} on that "
        "indicator to stop at the raw cell)"))


def _check_derived_rules(catalog: Catalog, data: pd.DataFrame, derived: list[Derived]) -> list[Correction]:
    """The catalog's ``derived_check`` rules on the derived variables: ranges stop the build, jumps are flagged."""
    if not catalog.derived_check:
        return []
    formulas = {d.name: d.formula for d in derived if not d.supplementary}
    unknown = sorted(set(catalog.derived_check) - set(formulas))
    if unknown:
        raise DataError(format_error(f"derived_check names {unknown}, which are not derived variables of the panel",
                                     catalog=str(catalog.path), hint=f"derived variables: {sorted(formulas)}"))
    frame = data.reset_index()
    out = []
    for name, rule in catalog.derived_check.items():
        found = check(frame, {name: rule}, entity="province", time="year",
                      where={"catalog": str(catalog.path), "derived": f"{name} = {formulas[name]}"})
        out += [Correction("year-on-year jump (flagged)", name, f.unit, f.period, f.previous, f.value,
                           f.text() + f" (derived: {name} = {formulas[name]}; a flag: no value is changed)")
                for f in found]
    return out


def _per_capita(ind: Indicator) -> Derived:
    u = ind.parsed_unit
    unit = f"{u.base} per 10,000 residents" if u.per is None else f"{u.base}/{u.per} per 10,000 residents"
    scale = "" if u.factor == 1 else f" * {u.factor:.0e}".replace("e+0", "e")
    return Derived(
        f"{ind.id}_pc",
        f"{ind.id}{scale} / pop   (pop in 10,000 persons)",
        unit,
        f"{ind.name_en} per 10,000 residents (enters {ind.index} as per-capita intensity).",
        lambda v, _id=ind.id: v[_id] / v["pop"] * 1e4,
    )


def derived_table(catalog: Catalog | None = None) -> pd.DataFrame:
    """The derived variables with formula, unit and description.

    Parameters
    ----------
    catalog : Catalog, optional
        Adds the per-capita versions of catalog series that enter an index
        per capita.
    """
    items = list(DERIVED) + ([_per_capita(i) for i in catalog.indicator if i.enters_as == "per_capita"]
                             if catalog is not None else [])
    return pd.DataFrame(
        {
            "name": [d.name for d in items],
            "formula": [d.formula for d in items],
            "unit": [d.unit for d in items],
            "index": [d.index or "" for d in items],
            "dimension": [d.dimension or "" for d in items],
            "direction": [d.direction or "" for d in items],
            "description": [d.description for d in items],
        }
    )


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Read:
    long: pd.DataFrame
    uninterpolated: dict[str, pd.DataFrame]
    corrections: list[Correction]
    #: blank value cells of workbooks, (indicator, file, province, year) -> (path, sheet, row, column) 0-based
    blanks: dict = None  # type: ignore[assignment]


def _as_catalog(catalog: Catalog | str | os.PathLike[str] | None) -> Catalog:
    return catalog if isinstance(catalog, Catalog) else load_catalog(catalog)


def _read_all(catalog: Catalog) -> _Read:
    files = RawFiles(catalog)
    frames, unint, corrections = [], {}, []
    years = catalog.years
    try:
        for ind in catalog.indicator:
            if ind.status in ("used", "reference") and not (ind.coverage[0] <= years[0] and years[1] <= ind.coverage[1]):
                raise DataError(format_error(
                    f"coverage {list(ind.coverage)} does not include the study years {list(years)}",
                    file=ind.file, indicator=ind.id, hint="fix 'coverage' or the catalog's 'years'"))
            frame, corr = read_location(files, ind, indicator=ind.id, coverage=ind.coverage, years=years,
                                        unit=ind.parsed_unit)
            frame.insert(2, "indicator", ind.id)
            frames.append(frame)
            corrections.extend(corr)
            if ind.uninterpolated is not None:
                ref, _ = read_location(files, ind.uninterpolated, indicator=ind.id, coverage=None, years=years,
                                       unit=ind.parsed_unit)
                unint[ind.id] = ref
    finally:
        files.close()
    long = pd.concat(frames, ignore_index=True)
    long["year"] = long["year"].astype(int)
    long = long.sort_values(["indicator", "province", "year"], kind="stable").reset_index(drop=True)
    corrections += _plausibility(catalog, long)
    return _Read(long=long, uninterpolated=unint, corrections=corrections, blanks=files.blanks)


def _plausibility(catalog: Catalog, long: pd.DataFrame) -> list[Correction]:
    """Each indicator's rule on the values as read, then the catalog's relations; jumps come back as flags."""
    flags: list[Correction] = []
    for ind in catalog.indicator:
        rows = long[long["indicator"] == ind.id].rename(columns={"value": ind.id})
        found = check(rows, {ind.id: ind.rule}, entity="province", time="year",
                      where={"file": ind.file, "indicator": ind.id, "unit": ind.unit})
        flags += [Correction("year-on-year jump (flagged)", ind.id, f.unit, f.period, f.previous, f.value,
                             f.text() + " (a flag: no value is changed by the check; strict = true stops the build instead)")
                  for f in found]
    if catalog.relations:
        wide = long.pivot(index=["province", "year"], columns="indicator", values="value").reset_index()
        check(wide, {}, catalog.relations, entity="province", time="year", where={"catalog": str(catalog.path)},
              scale={i.id: i.parsed_unit.factor for i in catalog.indicator})
    return flags


def read_long(catalog: Catalog | str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Read every catalog entry into one tidy table.

    Parameters
    ----------
    catalog : Catalog or path-like, optional
        Default ``data_raw/catalog.toml``.

    Returns
    -------
    pandas.DataFrame
        Columns ``province`` (GB code), ``year``, ``indicator`` (catalog id)
        and ``value`` (in the catalog unit; NaN for blank cells), for all
        years the files hold.

    Raises
    ------
    DataError
        Missing file, sha256 mismatch, missing sheet or column, non-numeric
        cell, duplicate province-year, unknown province, year outside the
        entry's coverage, or a unit that does not parse.
    """
    return _read_all(_as_catalog(catalog)).long


def _study(long: pd.DataFrame, years: tuple[int, int]) -> pd.DataFrame:
    return long[(long["year"] >= years[0]) & (long["year"] <= years[1])]


def _formula_gap(ind: Indicator, gaps: pd.Series, blanks: dict | None) -> None:
    """A gap whose cell holds a formula the file stores no value for is named as such (file, sheet, cell)."""
    from openpyxl.utils import get_column_letter

    from spillover.data.readers import formula_without_value

    for p, y in gaps.index[:50]:
        found = (blanks or {}).get((ind.id, ind.file, p, int(y)))
        if found is None:
            continue
        path, sheet, row, col = found
        formula = formula_without_value(path, sheet, row, col)
        if formula is not None:
            raise DataError(format_error(
                f"the cell holds a formula without a cached value ({formula}), read as a missing value",
                file=ind.file, sheet=sheet or None, cell=f"{get_column_letter(col + 1)}{row + 1}", indicator=ind.id,
                province=p, year=int(y),
                hint="the workbook was saved by a program that does not calculate formulas; open it in Excel or "
                "LibreOffice, recalculate and save it (then update sha256), or replace the formula by its value"))


def _check_known_missing(catalog: Catalog, study: pd.DataFrame) -> None:
    """A unit declared in ``known_missing`` must lack every value in the study years (else the declaration is stale)."""
    for ind in catalog.indicator:
        if not ind.known_missing:
            continue
        rows = study[(study["indicator"] == ind.id) & study["province"].isin(ind.known_missing)]
        rows = rows.dropna(subset=["value"])
        if rows.empty:
            continue
        first = rows.iloc[0]
        raise DataError(format_error(
            f"known_missing lists {first['province']!r}, but the series has {len(rows)} value(s) for it in the "
            f"study years (first {first['value']:g} in {int(first['year'])})", catalog=str(catalog.path),
            file=ind.file, indicator=ind.id, province=first["province"], year=int(first["year"]),
            option="known_missing",
            hint="the declaration is out of date: remove the unit from known_missing (a 'used' series must be "
                 "complete and needs no known_missing)"))


def _check_complete(catalog: Catalog, long: pd.DataFrame, blanks: dict | None = None) -> None:
    years = catalog.years
    full = pd.MultiIndex.from_product([province_codes(), range(years[0], years[1] + 1)], names=["province", "year"])
    study = _study(long, years)
    _check_known_missing(catalog, study)
    for ind in catalog.indicator:
        if ind.status == "excluded":
            continue
        got = study[study["indicator"] == ind.id].set_index(["province", "year"])["value"].reindex(full)
        gaps = got[got.isna()]
        if ind.status == "supplementary":
            expected = {p for p in ind.known_missing}
            lacking = {p for p, _ in gaps.index}
            surprising = [(p, y) for p, y in gaps.index if p not in expected]
            if surprising or (expected - lacking):
                _formula_gap(ind, gaps.loc[surprising], blanks)
                p, y = surprising[0] if surprising else (sorted(expected - lacking)[0], None)
                raise DataError(format_error(
                    "supplementary series does not match its documented gaps", file=ind.file, sheet=ind.sheet,
                    column=ind.column or ind.row_label, indicator=ind.id, province=p, year=y,
                    hint="update 'known_missing' in the catalog"))
            continue
        if len(gaps):
            _formula_gap(ind, gaps, blanks)
            p, y = gaps.index[0]
            raise DataError(format_error(
                f"missing value ({len(gaps)} province-years lack data)", file=ind.file, sheet=ind.sheet,
                column=ind.column, indicator=ind.id, province=p, year=int(y),
                hint="every 'used' or 'reference' series must cover all 31 provinces in the study years; "
                "mark the entry 'supplementary' with known_missing or find the value"))


# --------------------------------------------------------------------------- corrections


def _totals(long: pd.DataFrame, indicator: str, years: tuple[int, int]) -> str:
    s = _study(long, years)
    t = s[s["indicator"] == indicator].groupby("year")["value"].sum()
    return ", ".join(f"{y}: {v:,.0f}" for y, v in t.items())


def _interpolation_flags(catalog: Catalog, read: _Read) -> tuple[list[Correction], dict[str, float]]:
    years = catalog.years
    n_cells = len(province_codes()) * (years[1] - years[0] + 1)
    out, shares = [], {}
    study = _study(read.long, years)
    for ind_id, ref in read.uninterpolated.items():
        ind = catalog.get(ind_id)
        main = study[study["indicator"] == ind_id].set_index(["province", "year"])["value"]
        orig = _study(ref, years).set_index(["province", "year"])["value"].reindex(main.index)
        filled = main.notna() & orig.isna()
        shares[ind_id] = float(filled.sum()) / n_cells
        unint = ind.uninterpolated
        for (p, y), value in main[filled].items():
            out.append(Correction(
                "interpolated (flagged)", ind_id, p, int(y), None, float(value),
                f"blank in {unint.file} [{unint.sheet}]; the value in {ind.file} [{ind.sheet}] is the compiler's "
                "interpolation, kept and flagged"))
        both = main.notna() & orig.notna()
        differ = both & ~np.isclose(main, orig, rtol=1e-9, atol=1e-9)
        for (p, y), value in main[differ].items():
            out.append(Correction(
                "differs from uninterpolated source (kept)", ind_id, p, int(y), float(orig[(p, y)]), float(value),
                f"{ind.file} [{ind.sheet}] and {unint.file} [{unint.sheet}] disagree"))
    return out, shares


def _source_corrections(catalog: Catalog, read: _Read, wide: pd.DataFrame) -> list[Correction]:
    years = catalog.years
    long = read.long
    out: list[Correction] = []
    evidence = {
        "x8": lambda: f" National totals from the file: {_totals(long, 'x8', years)}.",
        "post_telecom": lambda: f" National totals from the file: {_totals(long, 'post_telecom', years)}.",
        "med_resident": lambda: f" National totals from the file: {_totals(long, 'med_resident', years)}.",
    }
    for ind in catalog.indicator:
        if ind.status == "used":
            continue
        what = {"excluded": "excluded", "reference": "reference only (not used)",
                "supplementary": "kept out of balanced panel"}[ind.status]
        extra = evidence.get(ind.id, lambda: "")()
        province = ind.known_missing[0] if len(ind.known_missing) == 1 else None
        out.append(Correction(what, ind.id, province, None, None, None, ind.reason + extra))

    ids = set(catalog.ids())
    study = _study(long, years)
    if {"insurance_pct", "pension_participants", "med_employee", "pop"} <= ids:
        raw = study[study["indicator"] == "insurance_pct"].set_index(["province", "year"])["value"]
        pen = wide["pension_participants"] / wide["pop"]
        med = wide["med_employee"] / wide["pop"]
        for (p, y), value in raw[raw > 1].items():
            out.append(Correction(
                "replaced (recomputed from counts)", "insurance_pct", p, int(y), float(value), None,
                f"a coverage 'percentage' above 1 is impossible; the panel uses pension_cov = {pen[(p, y)]:.4f} "
                f"and med_emp_cov = {med[(p, y)]:.4f} (participants / population)"))
    if {"x16", "pku_dfi"} <= ids:
        x16 = study[study["indicator"] == "x16"].set_index(["province", "year"])["value"]
        pku = study[study["indicator"] == "pku_dfi"].set_index(["province", "year"])["value"].reindex(x16.index)
        differ = (x16 - pku).abs() > 0.006
        for (p, y), value in x16[differ].items():
            out.append(Correction(
                "replaced by other vintage", "x16", p, int(y), float(value), float(pku[(p, y)]),
                "one vintage per variable: the DEI uses the PKU-DFIIC release (pku_dfi); x16 agrees with it "
                "up to 2020 but not in 2021-2022"))
    return out


def _replace_years(catalog: Catalog, read: _Read, wide: pd.DataFrame) -> list[Correction]:
    """Replace the cells of declared bad years by the mean of the adjacent years (in place)."""
    out = []
    long = read.long
    for ind in catalog.indicator:
        if not ind.replace_years or ind.id not in wide.columns:
            continue
        series = long[long["indicator"] == ind.id].set_index(["province", "year"])["value"]
        for year in ind.replace_years:
            for prov in province_codes():
                old = series.get((prov, year), np.nan)
                new = 0.5 * (series.get((prov, year - 1), np.nan) + series.get((prov, year + 1), np.nan))
                if not np.isfinite(new):
                    raise DataError(format_error("cannot replace a bad year: an adjacent year is missing",
                                                 file=ind.file, column=ind.column, indicator=ind.id,
                                                 province=prov, year=year, hint="check replace_years"))
                if (prov, year) in wide.index:
                    wide.loc[(prov, year), ind.id] = new
                out.append(Correction(
                    "replaced (bad cross-section)", ind.id, prov, year, float(old), float(new),
                    f"{ind.replace_reason} File value / mean of {year - 1} and {year + 1} = {old / new:.2f}; "
                    f"replaced by that mean"))
    return out


# --------------------------------------------------------------------------- assembly


def _index_specs(catalog: Catalog, shares: dict[str, float]) -> tuple[dict[str, list[tuple[str, str, str]]],
                                                                         list[Correction]]:
    specs: dict[str, list[tuple[str, str, str]]] = {"dei": [], "cpi": []}
    notes = []
    for ind in catalog.indicator:
        if ind.index is None:
            continue
        share = shares.get(ind.id, 0.0)
        if share > MAX_INTERPOLATED_SHARE:
            notes.append(Correction(
                "left out of index", ind.id, None, None, None, None,
                f"{share:.0%} of its {catalog.years[0]}-{catalog.years[1]} cells are the compiler's interpolation "
                f"(limit {MAX_INTERPOLATED_SHARE:.0%}); kept in the panel, flagged, not in {ind.index}"))
            continue
        column = f"{ind.id}_pc" if ind.enters_as == "per_capita" else ind.id
        specs[ind.index].append((column, ind.dimension, ind.direction))
    for d in DERIVED:
        if d.index is not None and not d.supplementary:
            specs[d.index].append((d.name, d.dimension, d.direction))
    return specs, notes


def _fit_index(data: pd.DataFrame, spec: list[tuple[str, str, str]]) -> IndexResult:
    cols = [c for c, _, _ in spec]
    return EntropyIndex(shift=ENTROPY_SHIFT).fit(
        data, cols, directions={c: d for c, _, d in spec}, dimensions={c: m for c, m, _ in spec})


#: PROVENANCE.md spot checks: (column, province, year, expected, tolerance, what)
SPOT_CHECKS: tuple[tuple[str, str, int, float, float, str], ...] = (
    ("urban_income", "310000", 2019, 73615.0, 0.5, "Shanghai urban per-capita disposable income (yuan)"),
    ("urban_income", "110000", 2019, 73849.0, 0.5, "Beijing urban per-capita disposable income (yuan)"),
    ("gdp_pc_bulletin", "110000", 2019, 164220.0, 0.5, "Beijing GDP per capita, bulletin (yuan)"),
    ("gdp", "440000", 2019, 107986.9, 0.05, "Guangdong GDP (100 million yuan)"),
    ("pku_dfi", "110000", 2019, 399.00, 0.005, "PKU digital financial inclusion index, Beijing"),
    ("pku_dfi", "310000", 2019, 410.28, 0.005, "PKU digital financial inclusion index, Shanghai"),
)


def spot_checks(data: pd.DataFrame) -> pd.DataFrame:
    """Compare the panel with the PROVENANCE.md spot checks.

    A check whose province-year is not in the panel (a catalog whose
    ``years`` leave out the year checked) is skipped and says so: ``ok`` is
    None and ``note`` gives the reason.

    Returns
    -------
    pandas.DataFrame
        Columns ``what``, ``column``, ``province``, ``year``, ``expected``,
        ``built``, ``ok`` (True, False, or None when skipped) and ``note``.
    """
    rows = []
    keyed = data.set_index(["province", "year"])
    years = sorted({int(y) for y in data["year"]}) if len(data) else []
    span = f"{years[0]}-{years[-1]}" if years else "none"
    for column, prov, year, expected, tol, what in SPOT_CHECKS:
        row = {"what": what, "column": column, "province": prov, "year": year, "expected": expected,
               "built": float("nan"), "ok": None, "note": ""}
        if (prov, year) not in keyed.index:
            row["note"] = f"skipped: {year} is not among the panel's years ({span})"
        else:
            row["built"] = built = float(keyed.at[(prov, year), column]) if column in keyed.columns else float("nan")
            row["ok"] = bool(abs(built - expected) <= tol)
        rows.append(row)
    return pd.DataFrame(rows)


def _assemble(catalog: Catalog) -> Panel:
    if catalog.points is not None:
        from spillover.data.points import read_points

        read_points(catalog)  # a bad [points] would otherwise surface only when distance weights are built
    read = _read_all(catalog)
    _check_complete(catalog, read.long, read.blanks)
    years = catalog.years
    study = _study(read.long, years)
    keep = catalog.ids("used", "reference")
    wide = (study[study["indicator"].isin(keep)]
            .pivot(index=["province", "year"], columns="indicator", values="value")
            .reindex(columns=keep))
    corrections = list(read.corrections)
    corrections += _replace_years(catalog, read, wide)
    flags, shares = _interpolation_flags(catalog, read)
    corrections += _source_corrections(catalog, read, wide)
    corrections += flags

    values = Values(wide, catalog)
    per_capita = [_per_capita(i) for i in catalog.indicator if i.enters_as == "per_capita"]
    derived_cols: dict[str, pd.Series] = {}
    for d in list(DERIVED) + per_capita:
        if d.supplementary:
            continue
        try:
            values.derived[d.name] = derived_cols[d.name] = d.compute(values).astype(float)
        except KeyError as exc:
            raise DataError(format_error(f"derived variable needs catalog series {exc.args[0]!r}",
                                         column=d.name, hint="add the series to the catalog")) from None
        _check_derived(d, derived_cols[d.name], wide, catalog)

    data = pd.concat([wide, pd.DataFrame(derived_cols)], axis=1)
    corrections += _check_derived_rules(catalog, data, list(DERIVED) + per_capita)
    specs, notes = _index_specs(catalog, shares)
    corrections += notes
    results = {name: _fit_index(data, spec) for name, spec in specs.items()}
    index_cols = pd.concat([res.frame(name) for name, res in results.items()], axis=1)

    # supplementary series (documented gaps) live outside the balanced panel
    sup_ids = catalog.ids("supplementary")
    sup = (study[study["indicator"].isin(sup_ids)]
           .pivot(index=["province", "year"], columns="indicator", values="value"))
    if len(sup_ids):
        both = sup.join(wide[["gdp", "pop"]], how="left")
        sv = Values(both, catalog)
        for d in DERIVED:
            if d.supplementary:
                sup[d.name] = d.compute(sv)
    sup = sup.reset_index()

    data = pd.concat([index_cols, data], axis=1).reset_index()
    data["year"] = data["year"].astype(int)
    data = provinces()[["province", "province_zh", "province_en", "region"]].merge(data, on="province", how="right")
    lead = [c for c in REQUIRED_COLUMNS if c in data.columns]
    rest = [c for c in data.columns if c not in lead]
    data = data[lead + rest].sort_values(["province", "year"], kind="stable").reset_index(drop=True)
    validate_panel(data, years)
    checks = spot_checks(data)
    failed = checks[checks["ok"].eq(False)]
    if not failed.empty:
        listed = "; ".join(f"{r.what} ({r.province}, {r.year}): expected {r.expected:g}, built {r.built:g}"
                           for r in failed.itertuples())
        raise DataError(format_error(f"{len(failed)} of {len(checks)} spot checks against PROVENANCE.md failed: "
                                     f"{listed}", file=str(catalog.path),
                                     hint="a raw file or its catalog entry changed (unit, sheet, column?); "
                                          "nothing was written"))
    return Panel(
        data=data,
        long=read.long,
        corrections=tuple(corrections),
        indices=results,
        supplementary=sup,
        derived=derived_table(catalog),
        catalog=catalog,
        spot_checks=checks,
    )


# --------------------------------------------------------------------------- public entry points and cache


def _fingerprint(path: Path) -> tuple:
    text = path.read_bytes()
    catalog = load_catalog(path)
    stats = []
    for ind in catalog.indicator:
        for loc in (ind, ind.uninterpolated):
            if loc is None:
                continue
            f = catalog.resolve(loc.file)
            st = f.stat() if f.exists() else None
            stats.append((str(f), st.st_mtime_ns if st else None, st.st_size if st else None))
    return (str(path.resolve()), hashlib.sha256(text).hexdigest(), tuple(sorted(set(stats))))


@functools.lru_cache(maxsize=8)
def _cached_build(fingerprint: tuple) -> Panel:
    return _assemble(load_catalog(Path(fingerprint[0])))


def build_panel(catalog_path: str | os.PathLike[str] | None = None, *, cache: bool = True) -> Panel:
    """Build the panel from a catalog.

    Parameters
    ----------
    catalog_path : path-like, optional
        Default ``data_raw/catalog.toml`` (``SPILLOVER_DATA_RAW`` overrides
        the folder).
    cache : bool, default True
        Reuse an in-process build keyed on the catalog path, the catalog's
        SHA-256 and the size and mtime of every raw file it names.

    Returns
    -------
    Panel
        A fresh copy (modifying it does not affect the cache).

    Raises
    ------
    DataError
        Any problem with the catalog or a raw file (see :func:`read_long`),
        a series with gaps, or a panel that fails validation.
    """
    path = Path(catalog_path) if catalog_path is not None else default_catalog_path()
    if not path.is_file():
        load_catalog(path)  # raises the DataError for a missing catalog
    if not cache:
        return _assemble(load_catalog(path))
    return _cached_build(_fingerprint(path)).copy()


def default_panel() -> pd.DataFrame:
    """The default study panel (31 provinces x 2013-2022), one row per province-year.

    Returns
    -------
    pandas.DataFrame
        Sorted by ``province`` then ``year``; columns start with
        :data:`spillover.data.panel.REQUIRED_COLUMNS`, then the dimension
        sub-scores ``dei_<dimension>`` and ``cpi_<dimension>``, the catalog
        series and the derived variables.
    """
    return build_panel().data
