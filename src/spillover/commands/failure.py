"""One way every command reports a failure: the message with its [file=..., column=...] locators, exit code 2.

The package's own errors (:class:`~spillover.errors.SpilloverError`) carry
what is wrong, where and what to do; file-system errors (a read-only or full
disk, a file where a folder should be, a vanished file) are reported with the
path and the system's reason; both exit with code 2. Anything else is an
input no check catches yet: it is reported in one line with exit code 3
(``SPILLOVER_DEBUG=1`` shows the traceback). Rich would read the bracketed
locators as markup and drop them, so the text is escaped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from spillover.errors import SpilloverError


def report(console: Console, exc: BaseException, prefix: str = "error", os_note: str = "") -> None:
    """Print ``exc`` as one escaped error line (``os_note`` follows a file-system error)."""
    if isinstance(exc, OSError) and not isinstance(exc, SpilloverError):
        where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f)
        text = f"{exc.strerror or type(exc).__name__}{': ' + where if where else ''}"
        text += f" ({os_note})" if os_note else ""
    else:
        text = str(exc)
    console.print(f"[bold red]{escape(prefix)}:[/] {escape(text)}")


@contextmanager
def failures(console: Console, prefix: str = "error", os_note: str = "") -> Iterator[None]:
    """Turn the package's errors and file-system errors inside the block into a message and exit code 2."""
    try:
        yield
    except (SpilloverError, OSError) as exc:
        report(console, exc, prefix, os_note)
        raise typer.Exit(2) from None
    except (typer.Exit, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 -- an input no check catches yet: say so, keep the traceback optional
        if os.environ.get("SPILLOVER_DEBUG"):
            raise
        console.print(f"[bold red]{escape(prefix)} (unexpected):[/] {escape(type(exc).__name__)}: {escape(str(exc))}. "
                      "This input is not checked yet: please report it with the spec and the data's first rows; "
                      "set SPILLOVER_DEBUG=1 for the traceback.")
        raise typer.Exit(3) from None
