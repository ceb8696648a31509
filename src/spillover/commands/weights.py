"""``spillover weights``: build and describe the default spatial weights.

The default units are the 31 mainland provinces: the geometry comes from
:func:`spillover.data.default_geometry` when the data package provides it,
otherwise straight from ``data_raw/geo/china_provinces.gpkg`` (dropping
Taiwan 710000, Hong Kong 810000 and Macao 820000; see the geometry's
PROVENANCE.md). Economic and nested matrices use the mean GDP per capita over
the panel years.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from spillover import weights as sw
from spillover.errors import SpilloverError

app = typer.Typer(help="Spatial weights: build and describe W.", no_args_is_help=True)

_CONTROL_XLSX = Path("airuimeng1__UG_thesis_code_repository", "control V.xlsx")
_CONTROL_SHEET = "Control Variables(originaldata)"


@app.callback()
def _group() -> None:
    """Spatial weights: build and describe W for the 31 provinces."""


class Kind(str, Enum):
    contiguity = "contiguity"
    inverse_distance = "inverse_distance"
    knn = "knn"
    economic = "economic"
    nested = "nested"


def _data_raw() -> Path:
    return sw._default_data_raw(None)


def default_geometry() -> Any:
    """The 31-province GeoDataFrame (``spillover.data`` when available, else the gpkg)."""
    try:
        from spillover.data import default_geometry as from_data
    except ImportError:
        from_data = None
    if from_data is not None:
        return from_data()
    import geopandas as gpd

    geo = gpd.read_file(_data_raw() / "geo" / "china_provinces.gpkg")
    geo = geo[~geo["adcode"].astype(str).isin(sw.MAINLAND_EXCLUDED)].reset_index(drop=True)
    if len(geo) != 31:
        raise SpilloverError(f"expected 31 provinces in china_provinces.gpkg, found {len(geo)}")
    return geo


def mean_gdp_per_capita() -> pd.Series:
    """Mean GDP per capita (yuan) over the panel years, indexed by GB code.

    ``spillover.data.default_panel()["gdp_pc"]`` when the data package
    provides it; otherwise column ``gdp_pc1`` (人均GDP, yuan/person) of sheet
    'Control Variables(originaldata)' in ``control V.xlsx`` (2013-2022).
    """
    try:
        from spillover.data import default_panel

        panel = default_panel()
        s = panel.groupby(panel["province"].astype(str))["gdp_pc"].mean()
    except (ImportError, KeyError):
        raw = pd.read_excel(_data_raw() / _CONTROL_XLSX, sheet_name=_CONTROL_SHEET)
        col = next(c for c in raw.columns if "gdp_pc1" in str(c))
        raw = raw.dropna(subset=["id"])
        gdp = pd.to_numeric(raw[col], errors="coerce")
        s = gdp.groupby(raw["id"].astype(int).astype(str)).mean()
    s.name = "gdp_pc_mean"
    return s


def build(kind: Kind, *, k: int = 5, power: float = 1, contiguity: str = "queen",
          islands: str = "nearest", nested_form: str = "product", phi: float = 0.5,
          cutoff_km: float | None = None) -> Any:
    """The W of ``kind`` for the 31 provinces (all row-standardised)."""
    geo = default_geometry()
    if kind is Kind.contiguity:
        return sw.contiguity(geo, kind=contiguity, islands=islands)
    if kind is Kind.inverse_distance:
        return sw.inverse_distance(geo, power=power, cutoff_km=cutoff_km)
    if kind is Kind.knn:
        return sw.knn(geo, k)
    gdp = mean_gdp_per_capita()
    if kind is Kind.economic:
        return sw.economic_distance(gdp)
    w_geo = sw.inverse_distance(geo, power=power, cutoff_km=cutoff_km)
    return sw.nested(w_geo, gdp, kind=nested_form, phi=phi)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "none"
    return str(value)


@app.command("describe")
def describe_cmd(
    kind: Annotated[Kind, typer.Option(help="Which matrix to build.")] = Kind.contiguity,
    k: Annotated[int, typer.Option(help="Neighbours for knn.")] = 5,
    power: Annotated[float, typer.Option(help="Distance decay for inverse_distance/nested.")] = 1,
    contiguity: Annotated[str, typer.Option(help="queen or rook.")] = "queen",
    islands: Annotated[str, typer.Option(help="nearest, keep or error.")] = "nearest",
    nested_form: Annotated[str, typer.Option(help="product or convex.")] = "product",
    phi: Annotated[float, typer.Option(help="Geographic share in the convex form.")] = 0.5,
    cutoff_km: Annotated[float | None, typer.Option(help="Distance cutoff in km.")] = None,
    neighbours: Annotated[bool, typer.Option(help="Print the neighbour table.")] = True,
) -> None:
    """Build W for the 31 provinces and print its connectivity and neighbours."""
    try:
        w = build(kind, k=k, power=power, contiguity=contiguity, islands=islands,
                  nested_form=nested_form, phi=phi, cutoff_km=cutoff_km)
    except SpilloverError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    info = sw.describe(w)
    meta = info.pop("meta")
    console = Console()
    summary = Table(title=f"Spatial weights: {kind.value}")
    summary.add_column("property")
    summary.add_column("value")
    for key, value in info.items():
        summary.add_row(key, _fmt(value))
    for key, value in meta.items():
        if key not in ("transform", "islands", "geographic"):
            summary.add_row(f"meta.{key}", _fmt(value))
    console.print(summary)
    if neighbours:
        geo = default_geometry()
        col = next((c for c in ("province_en", "province", "province_zh") if c in geo.columns),
                   None)
        names = (dict(zip(geo["adcode"].astype(str), geo[col].astype(str), strict=True))
                 if col else None)
        tab = sw.neighbour_table(w, names)
        nb = Table(title="Neighbours")
        for col in ("id", "name", "n", "neighbours"):
            nb.add_column(col, overflow="fold")
        for uid, row in tab.iterrows():
            shown = row["neighbours"] if row["n_neighbours"] <= 12 else "(all others)"
            nb.add_row(str(uid), row["name"], str(row["n_neighbours"]), shown)
        console.print(nb)
