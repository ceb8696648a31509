"""Checks of the options every simulation takes: replication counts and seeds.

Impacts (``draws``), bootstraps (``bootstrap``), permutation tests
(``permutations``) and Monte Carlo designs all draw random numbers; each
public function checks its count and its seed here, so that ``draws=-5``,
``bootstrap=-1``, ``permutations=2.5`` or ``seed="abc"`` get the same
message wherever they enter, before any work is done.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spillover.errors import SpecificationError, format_error


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_count(value: Any, name: str, *, minimum: int = 1, zero: str | None = None, reason: str = "",
                hint: str | None = None) -> int:
    """``value`` as an int when it is a whole number >= ``minimum`` (or 0 when ``zero`` says what 0 means).

    Parameters
    ----------
    value : object
        The count given by the user (``draws``, ``bootstrap``, ``permutations``, ...).
    name : str
        The option's name, for the message.
    minimum : int
        Smallest positive count that gives a result (e.g. 2 for a standard deviation of the draws).
    zero : str, optional
        What ``0`` means when it is allowed (e.g. ``"no bootstrap"``); None refuses 0.
    reason, hint : str, optional
        Why the minimum, and what to do instead (default: the allowed range).

    Raises
    ------
    SpecificationError
        Naming the option and its value, with the allowed range.
    """
    allowed = (f"0 ({zero}) or " if zero else "") + f"a whole number >= {minimum}"
    if _is_int(value) and (int(value) >= minimum or (zero and int(value) == 0)):
        return int(value)
    why = "is not a whole number" if not _is_int(value) else f"must be {allowed}"
    raise SpecificationError(format_error(f"{name}={value!r} {why}" + (f": {reason}" if reason else ""),
                                          option=name, hint=hint or f"give {name} as {allowed}"))


def check_seed(seed: Any, name: str = "seed") -> int | None:
    """``seed`` when it is None or a whole number >= 0 (what :class:`numpy.random.SeedSequence` takes)."""
    if seed is None or (_is_int(seed) and int(seed) >= 0):
        return seed if seed is None else int(seed)
    raise SpecificationError(format_error(f"{name}={seed!r}: a seed must be a whole number >= 0, or None",
                                          option=name, hint=f"e.g. {name}=0; None draws a fresh seed each run"))
