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
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from spillover import weights as sw
from spillover.errors import SpilloverError

app = typer.Typer(help="Spatial weights: build and describe W.", no_args_is_help=True)

@app.callback()
def _group() -> None:
    """Spatial weights: build and describe W for the 31 provinces."""


class Kind(str, Enum):
    contiguity = "contiguity"
    inverse_distance = "inverse_distance"
    knn = "knn"
    economic = "economic"
    nested = "nested"


def default_geometry() -> Any:
    """The 31-province GeoDataFrame (:func:`spillover.data.default_geometry`)."""
    from spillover.data import default_geometry as from_data

    return from_data()


def mean_gdp_per_capita() -> pd.Series:
    """Mean GDP per capita (yuan) over the panel years, indexed by GB code (``default_panel()["gdp_pc"]``)."""
    from spillover.data import default_panel

    panel = default_panel()
    s = panel.groupby(panel["province"].astype(str))["gdp_pc"].mean()
    s.name = "gdp_pc_mean"
    return s


def build(kind: Kind, *, k: int = 5, power: float = 1, contiguity: str = "queen",
          islands: str = "nearest", nested_form: str = "product", phi: float = 0.5,
          cutoff_km: float | None = None) -> Any:
    """The W of ``kind`` for the 31 provinces (all row-standardised), via :func:`spillover.weights.build`."""
    from spillover.data.geometry import ID_COLUMN
    from spillover.data.points import default_points

    values = mean_gdp_per_capita() if kind in (Kind.economic, Kind.nested) else None
    points = default_points() if kind != Kind.contiguity else None
    return sw.build(kind.value, geo=default_geometry(), id_col=ID_COLUMN, points=points, values=values,
                    contiguity_kind=contiguity,
                    islands=islands, power=power, cutoff_km=cutoff_km, k=k, nested_kind=nested_form, phi=phi)


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
