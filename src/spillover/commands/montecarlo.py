"""Top-level ``spillover montecarlo SPEC.toml`` command (Monte Carlo on dask.distributed)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.console import Console
from spillover.commands.failure import failures
from rich.table import Table



def montecarlo(
    spec: Path = typer.Argument(..., help="Monte Carlo design TOML (e.g. models/montecarlo/lee_yu_bias.toml)."),
    scheduler: str = typer.Option(None, "--scheduler", help="Address of a running dask scheduler, "
                                  "e.g. tcp://127.0.0.1:8786 (default: a LocalCluster)."),
    workers: int = typer.Option(2, "--workers", min=1, help="LocalCluster workers (one thread each)."),
    out: Path = typer.Option(Path("results/montecarlo"), "--out", help="Output folder."),
    processes: bool = typer.Option(False, "--processes/--threads", help="LocalCluster workers as "
                                   "processes (faster for CPU-bound fits) or threads in this process."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Run a Monte Carlo design and write <name>.csv, .md and .png under --out."""
    from spillover.montecarlo import load_spec, run, write_outputs

    console = Console()
    if not console.is_terminal:  # logs and pipes: do not squeeze the summary into 80 columns
        console = Console(width=120)
    with failures(console):
        design = load_spec(spec).design()
        result = run(design, scheduler=scheduler, n_workers=workers, processes=processes,
                     progress=progress)
        files = write_outputs(result, out)
    s = result.summary
    key = s[s["quantity"].isin(["tau", "rho", "lambda", "sigma2"])]
    table = Table(title=f"{design.name}: R = {design.replications}", box=box.SIMPLE_HEAD, pad_edge=False)
    cols = ["t", "model", "fe", "method", "spatial", "quantity", "bias", "rmse", "coverage"]
    for c in cols:
        table.add_column(c, no_wrap=True)
    for row in key[cols].itertuples(index=False):
        table.add_row(*(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)
    console.print(f"{len(design.cells)} cells x {design.replications} replications on {result.workers} "
                  f"worker(s) in {result.seconds:.1f} s; wrote {', '.join(str(f) for f in files)}")


def register(app: typer.Typer) -> None:
    """Add ``montecarlo`` to the top-level app."""
    app.command("montecarlo")(montecarlo)
