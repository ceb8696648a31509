"""What a study run writes: all or nothing, only under --out, no leftovers of killed runs."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from spillover.errors import SpecificationError
from spillover.study.runner import run_study
from spillover.study.spec import load_study

SPEC = """
[study]
name = "grid"

[data]
panel = "panel.csv"
entity = "unit"
time = "t"

[geometry]
file = "cells.gpkg"
id = "unit"

[weights.queen]
kind = "contiguity"

[[estimate]]
name = "sar"
model = "sar"
formula = "y ~ x"
weights = "queen"

[[table]]
name = "table_sar"
columns = ["sar"]
formats = ["md", "csv"]
"""


@pytest.fixture()
def study(tmp_path):
    """A 5 x 5 grid of square cells (projected CRS), T = 4, y from a SAR with rho = 0.4."""
    rng = np.random.default_rng(5)
    cells = [box(i, j, i + 1, j + 1) for i in range(5) for j in range(5)]
    ids = [f"c{k:02d}" for k in range(25)]
    gpd.GeoDataFrame({"unit": ids}, geometry=cells, crs=3857).to_file(tmp_path / "cells.gpkg", driver="GPKG")
    panel = pd.DataFrame({"unit": np.tile(ids, 4), "t": np.repeat(np.arange(1, 5), 25),
                          "x": rng.normal(size=100)})
    panel["y"] = panel["x"] + rng.normal(size=100)
    panel.to_csv(tmp_path / "panel.csv", index=False)
    (tmp_path / "00_study.toml").write_text(SPEC, encoding="utf-8")
    return tmp_path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_failed_run_leaves_the_previous_results_untouched(study, tmp_path):
    out = tmp_path / "out"
    run_study(study, out, figures=False)
    before = _snapshot(out)
    assert {"numbers.csv", "manifest.json", "README.md", "tables/table_sar.md", "data/panel.csv"} <= set(before)
    (out / "tables" / ".table_sar.md.abc123.tmp").write_text("")  # what a killed run leaves
    (study / "10_bad.toml").write_text('[[estimate]]\nname = "bad"\nmodel = "sar"\nformula = "y ~ nosuch"\n'
                                       'weights = "queen"\n', encoding="utf-8")
    with pytest.raises(SpecificationError, match="nosuch"):
        run_study(study, out, figures=False)
    after = _snapshot(out)
    assert after == before  # the stale .tmp went, nothing else changed
    assert not list(out.parent.glob(".out.staging-*"))
    (study / "10_bad.toml").unlink()
    run = run_study(study, out, figures=False)
    assert all(Path(p).is_relative_to(out) for p in run.files) and run.out == out


def test_names_cannot_leave_the_output_folder(study):
    (study / "10_bad.toml").write_text('[[table]]\nname = "../../data_raw/x"\ncolumns = ["sar"]\n', encoding="utf-8")
    with pytest.raises(SpecificationError, match=r"table\[0\]\.name: String should match pattern"):
        load_study(study)
    (study / "10_bad.toml").write_text('[weights."../w"]\nkind = "contiguity"\n', encoding="utf-8")
    with pytest.raises(SpecificationError, match="weights names"):
        load_study(study)
