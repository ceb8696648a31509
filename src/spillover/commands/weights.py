"""``spillover weights``: build and describe the spatial weights of a study.

``spillover weights describe [MODELS] --name NAME`` builds the study's
``[weights.NAME]`` (from its panel and ``[geometry]``) and prints its
connectivity and neighbours; names come from ``--names COLUMN`` of the
geometry when given.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from spillover.commands.failure import failures
from rich.table import Table

from spillover import weights as sw
from spillover.errors import SpilloverError

app = typer.Typer(help="Spatial weights: build and describe W.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Spatial weights: build and describe a study's W."""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "none"
    return str(value)


@app.command("describe")
def describe_cmd(
    models: Annotated[Path, typer.Argument(help="Folder of study TOML files.")] = Path("models"),
    name: Annotated[str, typer.Option("--name", help="A [weights.NAME] of the study (default: every one).")] = "",
    names: Annotated[str, typer.Option(help="Geometry column with the units' names for the table.")] = "",
    neighbours: Annotated[bool, typer.Option(help="Print the neighbour table.")] = True,
) -> None:
    """Build the study's W and print its connectivity and neighbours."""
    from spillover.commands.study import load_units

    console = Console()
    with failures(console):
        with tempfile.TemporaryDirectory() as tmp:
            run = load_units(models, Path(tmp))
        chosen = [name] if name else list(run.weights)
        unknown = [n for n in chosen if n not in run.weights]
        if unknown or not chosen:
            raise SpilloverError(f"--name {unknown[0] if unknown else ''!r}: the study defines "
                                 f"{list(run.weights) or 'no weights'}")
        geo, gspec = run.geometry, run.study.geometry
        if names and (geo is None or names not in geo.columns):
            raise SpilloverError(f"--names {names!r} is not a column of the study's geometry")
    labels = dict(zip(geo[gspec.id].astype(str), geo[names].astype(str), strict=True)) if names else None
    for n in chosen:
        w = run.weights[n]
        info = sw.describe(w)
        meta = info.pop("meta")
        summary = Table(title=f"Spatial weights {n}: {meta.get('label', n)}")
        summary.add_column("property")
        summary.add_column("value")
        for key, value in info.items():
            summary.add_row(key, _fmt(value))
        for key, value in meta.items():
            if key not in ("transform", "islands", "geographic", "label"):
                summary.add_row(f"meta.{key}", _fmt(value))
        console.print(summary)
        if neighbours:
            tab = sw.neighbour_table(w, labels)
            nb = Table(title="Neighbours")
            for col in ("id", "name", "n", "neighbours"):
                nb.add_column(col, overflow="fold")
            for uid, row in tab.iterrows():
                shown = row["neighbours"] if row["n_neighbours"] <= 12 else "(all others)"
                nb.add_row(str(uid), row["name"], str(row["n_neighbours"]), shown)
            console.print(nb)
