"""``spillover new``: write a study folder for a user's own panel that ``spillover replicate`` runs as it is.

The study uses the package defaults (two-way effects, ``method="lee-yu"``):
Moran's I of the dependent variable, the LM tests and the Elhorst
specification sequence, SAR, SEM and SDM with impacts, one table in all six
formats, and the default maps. Weights: queen contiguity and kNN (k = 4) on
the geometry's centroids when a geometry is given, a weights file when one is
given. Paths in the spec are written relative to the study folder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from spillover.errors import SpecificationError, format_error
from spillover.io import atomic_write_text

SPEC = "00_study.toml"


def _rel(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` when it lies inside the folder or its parent, else absolute."""
    try:
        rel = os.path.relpath(path.resolve(), folder.resolve()).replace(os.sep, "/")
    except ValueError:  # another drive
        return path.resolve().as_posix()
    return path.resolve().as_posix() if rel.startswith("../..") else rel


def _q(text: str) -> str:
    """A TOML basic string."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_inputs(data: Path, entity: str, time: str, y: str, x: Sequence[str], geometry: Path | None,
                  id_col: str | None, weights: Path | None, crs: str | None) -> bool:
    """Read the files once so that a wrong column or id fails here, naming it, not at replicate time.

    Returns whether the geometry has a CRS (given or its own), which distance weights need.
    """
    from spillover.data.sources import read_geometry, read_panel

    panel = read_panel(data, entity=entity, time=time)
    missing = [c for c in (y, *x) if c not in panel.columns]
    if missing:
        raise SpecificationError(format_error(f"columns {missing} are not in the panel", file=str(data),
                                              hint=f"columns: {sorted(map(str, panel.columns))[:40]}"))
    if geometry is not None:
        if not id_col:
            raise SpecificationError(format_error("--geometry needs --id-col (the column holding the unit ids)"))
        geo = read_geometry(geometry, id_col, ids=sorted(panel[entity].unique()), crs=crs)
    if weights is not None:
        from spillover.weights import from_file

        from_file(weights)
    if geometry is None and weights is None:
        raise SpecificationError(format_error("a spatial study needs the units' geometry (--geometry FILE "
                                              "--id-col COL) or a weights file (--weights FILE: .gal, .gwt, .csv)"))
    return geometry is not None and geo.crs is not None


def write_study(folder: str | Path, *, data: str | Path, entity: str, time: str, y: str, x: Sequence[str],
                geometry: str | Path | None = None, id_col: str | None = None, weights: str | Path | None = None,
                crs: str | None = None, force: bool = False) -> Path:
    """Write ``folder/00_study.toml`` for the panel ``data``; returns its path.

    Raises :class:`SpecificationError` when the folder already holds a study
    (unless ``force``), or when a column, the geometry or the weights file do
    not fit the panel. ``crs`` is the geometry's CRS when the file declares
    none; without one the study gets no kNN weights (distances need a CRS).
    """
    folder = Path(folder)
    data = Path(data)
    geometry = Path(geometry) if geometry else None
    weights = Path(weights) if weights else None
    x = [v.strip() for v in x if v.strip()]
    if not x:
        raise SpecificationError(format_error("--x needs at least one regressor, e.g. --x a,b"))
    if y in x:
        raise SpecificationError(format_error(f"--x {','.join(x)} holds the dependent variable --y {y}",
                                              option="--x", hint=f"list only the regressors of {y}: "
                                              f"--x {','.join(v for v in x if v != y) or 'a,b'}"))
    dup = sorted({v for v in x if x.count(v) > 1})
    if dup:
        raise SpecificationError(format_error(f"--x names {dup} more than once", option="--x",
                                              hint="list each regressor once"))
    if folder.is_dir() and any(folder.glob("*.toml")) and not force:
        raise SpecificationError(format_error("the folder already holds study files", file=str(folder),
                                              hint="choose a new folder, or pass --force to overwrite 00_study.toml"))
    has_crs = _check_inputs(data, entity, time, y, x, geometry, id_col, weights, crs)
    folder.mkdir(parents=True, exist_ok=True)
    formula = f"{y} ~ " + " + ".join(x)
    wnames: list[str] = []
    lines = [
        f"# A spatial panel study of {y} written by `spillover new`; run it with",
        f"#   spillover replicate {folder.as_posix()} --out results_{folder.name}",
        "# Every key is documented in spillover.study.spec; edit freely.",
        "",
        "[study]",
        f"name = {_q(folder.name)}",
        f"title = {_q(f'Spatial panel models of {y}')}",
        "seed = 1",
        "",
        "[data]",
        f"panel = {_q(_rel(data, folder))}",
        f"entity = {_q(entity)}",
        f"time = {_q(time)}",
        "",
    ]
    if geometry is not None:
        lines += ["[geometry]", f"file = {_q(_rel(geometry, folder))}", f"id = {_q(id_col)}"]
        lines += [f"crs = {_q(crs)}"] if crs else []
        lines += ["", "[weights.queen]", 'kind = "contiguity"', 'contiguity = "queen"',
                  'islands = "keep"             # "nearest" links a unit without neighbours to its nearest', ""]
        wnames.append("queen")
        if has_crs:
            lines += ["[weights.knn4]", 'kind = "knn"', "k = 4", ""]
            wnames.append("knn4")
        else:
            lines += ["# No kNN or distance weights: the geometry declares no CRS. Add crs = \"EPSG:...\" to",
                      "# [geometry] (e.g. EPSG:4326 for longitude/latitude), then e.g. [weights.knn4] kind = \"knn\".", ""]
    if weights is not None:
        lines += ["[weights.file]", 'kind = "file"', f"path = {_q(_rel(weights, folder))}",
                  'islands = "keep"             # units without a positive weight keep an empty row ("error": refuse)',
                  ""]
        wnames.append("file")
    main = wnames[0]
    lines += [
        "[[moran]]", 'name = "moran"', f"variables = [{_q(y)}]", f"weights = [{', '.join(map(_q, wnames))}]",
        "permutations = 999", "seed = 1", "",
        "[[diagnose]]", 'name = "specification_tests"', f"formula = {_q(formula)}", f"weights = {_q(main)}", "",
    ]
    for model in ("sar", "sem", "sdm"):
        lines += ["[[estimate]]", f"name = {_q(model)}", f"model = {_q(model)}", f"formula = {_q(formula)}",
                  f"weights = {_q(main)}", 'fe = "twoways"', 'method = "lee-yu"']
        if model != "sem":
            lines.append("impacts = { draws = 1000, seed = 1 }")
        lines += [f"label = {_q(model.upper())}", ""]
    lines += [
        "[[table]]", 'name = "table_models"', f"title = {_q(f'Spatial panel models of {y}')}",
        'columns = ["sar", "sem", "sdm"]', "impacts = true",
        'formats = ["tex", "html", "md", "csv", "xlsx", "docx"]', "",
        "# State the hypotheses and their rules here; results/README.md then gives each verdict, e.g.",
        "# [[hypothesis]]",
        '# name = "H1"',
        f'# claim = "{x[0]} raises {y} in the same unit"',
        '# estimate = "sdm"',
        '# quantity = "direct"           # coefficient | direct | indirect | total',
        f'# variable = "{x[0]}"',
        '# rule = "positive at 5%"',
        "",
    ]
    return atomic_write_text(folder / SPEC, "\n".join(lines))
