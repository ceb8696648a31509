"""Top-level study commands: ``spillover replicate``, ``spillover verify``, ``spillover diagnose``."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from spillover.commands.failure import failures
from spillover.errors import SpilloverError


def _progress(console: Console, steps: tuple[str, ...]):
    prog = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(), console=console, transient=False)
    task = prog.add_task("study", total=len(steps))
    seen: list[str] = []

    def step(name: str) -> None:
        if seen:
            prog.advance(task)
        seen.append(name)
        prog.update(task, description=f"step: {name}")

    return prog, task, step


def _use_data_raw(path: Path | None) -> None:
    """``--data-raw``: the one raw-data folder of this run, for every step (see spillover.study.paths)."""
    if path is not None:
        import os

        from spillover.errors import DataError, format_error

        if not Path(path).is_dir():
            what = "is a file" if Path(path).exists() else "does not exist"
            raise DataError(format_error(f"--data-raw {path} {what}: it must be the raw-data folder",
                                         option="--data-raw", hint="give the folder that holds catalog.toml and "
                                         "the raw files (e.g. --data-raw data_raw), not a file in it"))
        os.environ["SPILLOVER_DATA_RAW"] = str(Path(path).resolve())


def replicate(
    models: Path = typer.Argument(Path("models"), help="Folder of study TOML files."),
    out: Path = typer.Option(Path("results"), "--out", help="Results folder."),
    workers: int = typer.Option(0, "--workers", min=0, help="Run the specification grid and the bootstraps on a "
                                "dask LocalCluster with this many workers (0: in this process). Same numbers."),
    scheduler: str = typer.Option(None, "--scheduler", help="Address of a running dask scheduler "
                                  "(e.g. tcp://127.0.0.1:8786) for the grid and the bootstraps."),
    data_raw: Path = typer.Option(None, "--data-raw", help="The raw-data folder that data_raw/... paths of the "
                                  "spec name (default: $SPILLOVER_DATA_RAW, else the nearest data_raw/)."),
) -> None:
    """Run the study in MODELS and write every table, figure, README and manifest under --out."""
    from spillover.engine import Engine
    from spillover.study.runner import STEPS, run_study

    console = Console()
    with failures(console):
        _use_data_raw(data_raw)
    t0 = time.perf_counter()
    prog, task, step = _progress(console, STEPS)
    staged = "nothing was replaced: the outputs are written to a staging folder and moved in at the end"
    with failures(console, os_note=staged), prog, Engine(scheduler=scheduler, n_workers=workers) as engine:
        run = run_study(models, out, progress=step, engine=engine)
        prog.update(task, completed=len(STEPS), description="done")
    from spillover.study.hypotheses import verdicts

    found = verdicts(run)
    if found:
        table = Table(title="Hypotheses", show_lines=False)
        for col in ("hypothesis", "verdict"):
            table.add_column(col)
        for v in found:
            table.add_row(escape(v.name), v.verdict)
        console.print(table)
    else:
        console.print("no [[hypothesis]] entries: add them to the study to get verdicts in README.md", markup=False)
    from spillover.study.manifest import _git_commit

    commit = _git_commit(run.paths.folder) or ""
    if commit.endswith("+dirty"):
        console.print(f"[bold yellow]warning:[/] the tree has uncommitted changes (git {commit}); the manifest says "
                      "so. Regenerate committed results only from a committed tree.")
    console.print(f"wrote {len(set(run.files))} files to {out}/ in {time.perf_counter() - t0:.1f} s "
                  f"(grid and bootstraps: {engine.describe()}; see {out}/README.md and {out}/manifest.json)")


def verify(
    models: Path = typer.Argument(Path("models"), help="Folder of study TOML files."),
    results: Path = typer.Option(Path("results"), "--results", help="Committed results folder."),
    rtol: float = typer.Option(1e-6, min=0.0, help="Relative tolerance (>= 0)."),
    atol: float = typer.Option(1e-9, min=0.0, help="Absolute tolerance (>= 0)."),
    report: Path = typer.Option(None, "--report", help="When something differs, the full list goes to "
                                "REPORT.md and REPORT.csv (default: spillover-verify-report in the temp folder)."),
    data_raw: Path = typer.Option(None, "--data-raw", help="As for replicate."),
) -> None:
    """Rerun the study; compare every number and every output file with the committed results.

    Exit code 0: everything matches; 1: something differs (listed in full); 2: verify could not run.
    """
    from spillover.study.runner import STEPS
    from spillover.study.verify import verify as run_verify
    from spillover.study.verify import write_report

    from spillover.study.verify import other_study

    console = Console()
    with failures(console, "verify could not run"):
        _use_data_raw(data_raw)
        other = other_study(models, results) if Path(results).is_dir() else None
    if other:  # said before the rerun, which can take a while
        console.print(f"[bold red]verify: {escape(other)}[/]")
    prog, task, step = _progress(console, STEPS)
    with failures(console, "verify could not run"), prog:
        rep = run_verify(models, results, rtol=rtol, atol=atol, progress=step)
    console.print(f"compared {rep.compared} numbers (rtol {rep.rtol:g}, atol {rep.atol:g}) and "
                  f"{rep.files_compared} files")
    for title, df in (("numbers that differ", rep.mismatches), ("numbers missing in the rerun", rep.missing),
                      ("numbers new in the rerun", rep.extra), ("files that differ", rep.files)):
        if df.empty:
            continue
        console.print(f"[bold]{title}: {len(df)}[/]")
        console.print(" | ".join(map(str, df.columns)), markup=False, soft_wrap=True)
        for row in df.itertuples(index=False):
            console.print(" | ".join(f"{v:.10g}" if isinstance(v, float) else str(v) for v in row),
                          markup=False, soft_wrap=True, highlight=False)
    if not rep.ok:
        import tempfile

        with failures(console, "verify could not write its report"):
            paths = write_report(rep, report or Path(tempfile.gettempdir()) / "spillover-verify-report")
        console.print(f"[bold red]verify: results differ from the committed ones[/] (full report: "
                      f"{', '.join(map(str, paths))})")
        raise typer.Exit(1)
    console.print("[bold green]verify: every number and every file matches[/]")


def load_units(models: Path, out: Path):
    """The study in ``models`` with its panel, geometry and weights built (outputs under ``out``)."""
    from spillover.study.paths import StudyPaths
    from spillover.study.runner import StudyRun, step_data, step_weights
    from spillover.study.spec import load_study

    run = StudyRun(study=load_study(models), paths=StudyPaths.of(models), out=out)
    step_data(run)
    step_weights(run)
    return run


def diagnose(
    models: Path = typer.Argument(Path("models"), help="Folder of study TOML files (its data and weights)."),
    formula: str = typer.Option(None, "--formula", "-f", help="Default: the first [[diagnose]] or [[estimate]] "
                                "formula of the study."),
    weights: str = typer.Option(None, "--weights", "-w", help="A [weights.NAME] of the study (default: the first)."),
    fe: str = typer.Option("twoways", "--fe", help="none | entity | time | twoways"),
    method: str = typer.Option("lee-yu", "--method", help="direct | lee-yu"),
) -> None:
    """Run the Elhorst specification sequence on a study's panel and print every statistic."""
    import tempfile
    import warnings

    import spillover as sp

    console = Console()
    with failures(console):
        if fe not in ("none", "entity", "time", "twoways"):
            raise SpilloverError(f"--fe {fe!r}: choose none, entity, time or twoways")
        if method not in ("direct", "lee-yu"):
            raise SpilloverError(f"--method {method!r}: choose direct or lee-yu")
        with tempfile.TemporaryDirectory() as tmp:
            run = load_units(models, Path(tmp))
        if not run.weights:
            raise SpilloverError(f"{models}: the study defines no [weights.NAME]")
        name = weights or next(iter(run.weights))
        if name not in run.weights:
            raise SpilloverError(f"--weights {name!r}: the study defines {list(run.weights)}")
        st = run.study
        formula = formula or next((d.formula for d in st.diagnose), None) or next(
            (e.formula for e in st.estimate if "[" not in e.formula), None)
        if formula is None:
            raise SpilloverError("give --formula 'y ~ x1 + x2' (the study has no formula to start from)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = sp.specification_search(formula, run.panel, run.weights[name], st.data.entity, st.data.time,
                                        fe=fe, method=method)
    label = run.weights[name].spillover_meta.get("label", name)
    t = Table(title=f"Specification tests: {escape(formula)} (W = {escape(str(label))}, fe = {fe}, method = {method})")
    for c in ("test", "model", "stat", "df", "p", "points_to"):
        t.add_column(c)
    for test, r in s.table.iterrows():
        t.add_row(str(test), r["model"], f"{r['stat']:.4f}", str(r["df"]), f"{r['p']:.4g}", str(r["points_to"]))
    console.print(t)
    console.print(f"[bold]Chosen model: {s.chosen}.[/] {s.reason}")


def new(
    folder: Path = typer.Argument(..., help="Folder to write the study into (created)."),
    data: Path = typer.Option(..., "--data", help="Long panel file: csv, parquet, xlsx or Stata .dta."),
    entity: str = typer.Option(..., "--entity", help="Column of the unit ids."),
    time_col: str = typer.Option(..., "--time", help="Column of the periods (integers)."),
    y: str = typer.Option(..., "--y", help="Dependent variable."),
    x: str = typer.Option(..., "--x", help="Regressors, comma-separated: a,b,c"),
    geometry: Path = typer.Option(None, "--geometry", help="Polygons of the units (gpkg, shp, geojson ...)."),
    id_col: str = typer.Option(None, "--id-col", help="Column of the geometry holding the unit ids."),
    weights: Path = typer.Option(None, "--weights", help="A weights file (.gal, .gwt, .csv) instead of, or "
                                 "besides, the geometry's."),
    crs: str = typer.Option(None, "--crs", help="CRS of a geometry file that declares none (e.g. EPSG:4326)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing 00_study.toml."),
) -> None:
    """Write a study for your own panel that `spillover replicate FOLDER` runs as it is."""
    from spillover.study.new import write_study

    console = Console()
    with failures(console):
        path = write_study(folder, data=data, entity=entity, time=time_col, y=y, x=x.split(","),
                           geometry=geometry, id_col=id_col, weights=weights, crs=crs, force=force)
    console.print(f"wrote {path}; run: spillover replicate {folder} --out results_{folder.name}")


def register(app: typer.Typer) -> None:
    """Add the study commands to the top-level app."""
    app.command()(new)
    app.command()(replicate)
    app.command()(verify)
    app.command()(diagnose)
