"""The ``spillover`` command line (typer).

Each command group lives in :mod:`spillover.commands` in a module of its own;
this file only assembles them. Ctrl-C at any moment (while the modules load,
during a command, while typer builds the command) ends the program with one
line on stderr and exit code 130, never a traceback; a run interrupted before
its end publishes nothing (see :func:`spillover.study.runner.run_study`).
"""

from __future__ import annotations

import sys

#: exit code of a program ended by Ctrl-C (128 + SIGINT)
INTERRUPTED = 130


def _interrupted() -> None:
    """Say that Ctrl-C ended the program (one line, no traceback) and exit with code 130."""
    _ignore_interrupts()  # a second Ctrl-C while we say so must not print a traceback either
    try:
        sys.stderr.write("\nspillover: interrupted (Ctrl-C); nothing more was written\n")
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 -- a closed stderr: the exit code still says it
        pass
    raise SystemExit(INTERRUPTED)


def _ignore_interrupts() -> None:
    """Ctrl-C while the process shuts down (threads joined, files closed) changes nothing: ignore it."""
    import signal

    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        pass


try:
    import importlib

    import typer

    class _App(typer.Typer):
        """typer.Typer whose entry point turns Ctrl-C into one line and exit code 130."""

        def __call__(self, *args, **kwargs):
            try:
                return super().__call__(*args, **kwargs)
            except KeyboardInterrupt:
                _interrupted()
            except SystemExit as exc:
                if exc.code == INTERRUPTED:  # typer's own handling of Ctrl-C inside a command: silent
                    _interrupted()
                _ignore_interrupts()  # the command is over and the process exits with its code
                raise

    app = _App(
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
except KeyboardInterrupt:  # Ctrl-C while the command modules load
    _interrupted()


def main() -> None:  # pragma: no cover - console entry
    app()
