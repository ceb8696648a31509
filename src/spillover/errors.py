"""Exceptions and warnings raised by spillover.

Every error names what is at fault (file, sheet, column, province, year,
option) and says how to fix it; see :func:`format_error`.
"""

from __future__ import annotations


class SpilloverError(Exception):
    """Base class of all errors raised by spillover."""


class DataError(SpilloverError, ValueError):
    """A raw input table or catalog entry is wrong (names file/sheet/column/unit/year)."""


class SpecificationError(SpilloverError, ValueError):
    """A model, weights or study specification is invalid (names the option)."""


class WeightsError(SpilloverError, ValueError):
    """A spatial weights matrix does not fit the data or the method."""


class ConvergenceWarning(UserWarning):
    """An optimiser stopped at a bound or without converging; the result is flagged."""


def format_error(what: str, *, hint: str | None = None, **where: object) -> str:
    """Compose ``what`` with ``key=value`` locators and a hint, e.g.

    >>> format_error("non-numeric cell", file="a.xlsx", column="gdp", hint="fix the cell")
    "non-numeric cell [file='a.xlsx', column='gdp']. Hint: fix the cell"
    """
    def plain(v: object) -> object:  # numpy scalars print as plain numbers
        return v.item() if hasattr(v, "item") and getattr(v, "ndim", 1) == 0 else v

    locs = ", ".join(f"{k}={plain(v)!r}" for k, v in where.items() if v is not None)
    msg = what + (f" [{locs}]" if locs else "")
    if hint:
        msg += f". Hint: {hint}"
    return msg
