"""Markdown tables of a study's analyses as a reader sees them: labels for names, headers in words.

The CSV next to each Markdown table keeps the machine names (it is what
scripts read and what ``numbers.csv`` is keyed by); the Markdown version
replaces every variable name the study labels, in headers, row names and
text cells, and writes column headers in words (:data:`HEADERS`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

#: Column headers of the analysis tables in words.
HEADERS = {
    "estimate": "Estimate", "coef": "Coefficient", "se": "SE", "z": "z", "t": "t", "p": "p", "ci_low": "CI low",
    "ci_high": "CI high", "ci": "Interval", "path": "Path", "equation": "Equation", "stat": "Statistic",
    "df": "df", "null": "Null hypothesis", "test": "Test", "threshold": "Threshold", "F": "F",
    "p_bootstrap": "p (bootstrap)", "crit10": "Critical value 10%", "crit5": "Critical value 5%",
    "crit1": "Critical value 1%", "bootstrap": "Bootstrap draws", "ci_note": "Interval note",
    "n_units": "Units", "variable": "Variable", "count": "N", "mean": "Mean", "std": "SD", "min": "Min",
    "max": "Max", "index": "", "direct": "Direct", "indirect": "Indirect", "total": "Total",
}
for _e in ("direct", "indirect", "total"):
    HEADERS.update({f"{_e}_se": f"{_e.capitalize()} SE", f"{_e}_p": f"{_e.capitalize()} p",
                    f"{_e}_ci_low": f"{_e.capitalize()} CI low", f"{_e}_ci_high": f"{_e.capitalize()} CI high"})


def relabel(text: str, labels: Mapping[str, str]) -> str:
    """``text`` with every whole-word occurrence of a labelled name replaced by its label (longest first)."""
    names = sorted((k for k in labels if k and labels[k] != k), key=len, reverse=True)
    if not names:
        return text
    pattern = re.compile(r"(?<![\w.])(" + "|".join(re.escape(n) for n in names) + r")(?![\w(])")
    return pattern.sub(lambda m: labels[m.group(1)], text)


def cell(v) -> str:
    """One Markdown cell: numbers to 4 significant digits, missing as an empty cell, pipes escaped."""
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else f"{v:.4g}"
    return str(v).replace("|", "\\|")


def markdown(df: pd.DataFrame, title: str, note: str | None = None, labels: Mapping[str, str] | None = None,
             headers: Mapping[str, str] | None = None, translate=None) -> str:
    """``### title``, the table and an optional note; with ``labels``, cells and headers relabelled.

    The title and note are prose the caller writes with labels already (prose may hold words such as
    "all" or "open" that are also labelled names), so they are left as they are. ``translate``
    (:class:`spillover.report.i18n.Translator`) renders headers and text cells in another language.
    """
    labels, tr = labels or {}, translate or (lambda text: text)
    heads = {**HEADERS, **(headers or {})} if headers is not None or labels else {}
    cols = [tr(heads.get(str(c), relabel(str(c), labels))) for c in df.columns]
    lines = [f"### {title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(tr(relabel(cell(v), labels)) if isinstance(v, str) else cell(v)
                                        for v in row) + " |")
    return "\n".join(lines) + "\n" + (f"\n{note}\n" if note else "")
