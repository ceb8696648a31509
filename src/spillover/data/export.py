"""Write the built panel and its companions to a folder (used by ``spillover data build`` and the study)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from spillover.io import atomic_write


def _csv(df: pd.DataFrame):
    return lambda p: df.to_csv(p, index=False, encoding="utf-8")


def write_panel_outputs(panel, out: str | Path, data: pd.DataFrame | None = None) -> list[Path]:
    """Atomically write panel.parquet/.csv, the index weight tables, corrections and derived variables.

    ``data`` overrides ``panel.data`` (e.g. the study's year selection).
    """
    out = Path(out)
    data = panel.data if data is None else data
    paths = [
        atomic_write(out / "panel.parquet", lambda p: data.to_parquet(p, index=False)),
        atomic_write(out / "panel.csv", _csv(data)),
    ]
    for name, weights in panel.weights.items():
        paths.append(atomic_write(out / f"weights_{name}.csv", _csv(weights)))
    paths.append(atomic_write(out / "corrections.csv", _csv(panel.corrections_frame())))
    paths.append(atomic_write(out / "derived_variables.csv", _csv(panel.derived)))
    return paths
