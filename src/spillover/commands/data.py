"""``spillover data``: build the provincial panel and write it to ``results/data/``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from spillover.commands.failure import failures
from rich.table import Table


app = typer.Typer(help="Provincial data pipeline: catalog -> balanced panel + composite indices.",
                  no_args_is_help=True, add_completion=False)


def _fmt(x: object) -> str:
    if isinstance(x, float):
        return f"{x:,.6g}" if abs(x) < 1e4 else f"{x:,.1f}"
    return "" if x is None else str(x)


def _table(title: str, df: pd.DataFrame, columns: list[str] | None = None) -> Table:
    t = Table(title=title, title_justify="left", show_lines=False)
    cols = columns or list(df.columns)
    for c in cols:
        t.add_column(str(c), overflow="fold")
    for row in df[cols].itertuples(index=False):
        t.add_row(*[_fmt(v) for v in row])
    return t


@app.command()
def build(
    catalog: Path = typer.Option(None, "--catalog", help="catalog.toml (default: data_raw/catalog.toml)."),
    out: Path = typer.Option(Path("results/data"), "--out", help="Output folder."),
) -> None:
    """Build the balanced panel, print a summary and write panel.parquet/csv and weight tables."""
    import os

    from spillover.data import build_panel
    from spillover.data.catalog import default_catalog_path, load_catalog, refuse_output_inside

    console = Console(width=max(Console().width, 120))
    with failures(console, "data error"):
        path = Path(catalog) if catalog is not None else default_catalog_path()
        # the raw-data folder: where the catalog's files are (its root), and $SPILLOVER_DATA_RAW
        refuse_output_inside(out, [load_catalog(path).base_dir, os.environ.get("SPILLOVER_DATA_RAW")])
        panel = build_panel(path, cache=False)
    data = panel.data
    years = panel.catalog.years

    console.print(f"[bold]Panel[/]: {data['province'].nunique()} provinces x {years[0]}-{years[1]} = "
                  f"{len(data)} rows, {data.shape[1]} columns; catalog {panel.catalog.path}")
    summary_cols = ["dei", "cpi", "urban", "gov", "open", "hc", "fin", "innov", "indup", "rural_inc",
                    "urban_rural_ratio", "gdp_pc", "lgdp_pc", "pop"]
    desc = data[summary_cols].describe().T[["mean", "std", "min", "max"]].reset_index(names="variable")
    console.print(_table("Key variables", desc))
    console.print(_table("Derived variables (formula in catalog units)", panel.derived,
                         ["name", "formula", "unit"]))
    for name, weights in panel.weights.items():
        w = weights[["indicator", "dimension", "direction", "weight"]]
        console.print(_table(f"{name} entropy weights (shift 1e-4, pooled panel)", w))
    counts = (panel.corrections_frame().groupby(["what", "indicator"], sort=False).size()
              .reset_index(name="cells"))
    console.print(_table("Corrections and flags (full list in corrections.csv)", counts))
    console.print(_table("PROVENANCE.md spot checks", panel.spot_checks,
                         ["what", "province", "year", "expected", "built", "ok", "note"]))

    from spillover.data.export import write_panel_outputs

    out = Path(out)
    with failures(console):
        write_panel_outputs(panel, out)
    console.print(f"wrote panel.parquet, panel.csv, weights_dei.csv, weights_cpi.csv, corrections.csv, "
                  f"derived_variables.csv to {out}/")
