"""The ``spillover`` command line (typer).

Each command group lives in :mod:`spillover.commands` in a module of its own;
this file only assembles them.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="spillover",
    help="Spatial spillover studies: data pipeline, weights, estimation, tables.",
    no_args_is_help=True,
    add_completion=False,
)



@app.command()
def version() -> None:
    """Print the installed spillover version."""
    from spillover import __version__

    typer.echo(__version__)


# (module in spillover.commands, group name or None to add its commands at top level)
_GROUPS: list[tuple[str, str | None]] = [
    ("data", "data"),
    ("weights", "weights"),
    ("study", None),
    ("montecarlo", None),
]

for _module, _name in _GROUPS:
    try:
        _mod = importlib.import_module(f"spillover.commands.{_module}")
    except ModuleNotFoundError as exc:  # a group not written yet
        if exc.name != f"spillover.commands.{_module}":
            raise
        continue
    if _name is None:
        _mod.register(app)
    else:
        app.add_typer(_mod.app, name=_name)


def main() -> None:  # pragma: no cover - console entry
    app()
