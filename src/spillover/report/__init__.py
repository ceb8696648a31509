"""spillover.report: regression tables (:mod:`.tables`) and figures (:mod:`.figures`).

``Table`` and ``compare`` are imported lazily so that importing the package
stays cheap::

    from spillover.report import compare
    compare([ols, sdm], ["OLS", "SDM"], impacts=dict(draws=1000, seed=0)).write("out/table1")
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"Table": "spillover.report.tables", "compare": "spillover.report.tables"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'spillover.report' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
