"""``results/manifest.json``: what produced the results.

Input file hashes (every file the run read: panel or catalog and its tables, geometry, weights files),
study-spec hashes,
package versions, seeds, the git commit and per-step timings.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from spillover.data.readers import sha256_file as sha256

PACKAGES = ("spillover", "numpy", "scipy", "pandas", "statsmodels", "linearmodels", "libpysal", "esda", "spreg",
            "geopandas", "formulaic", "pydantic", "matplotlib", "openpyxl", "python-docx")


def _git_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", ".", ":/src", ":/models", ":/data_raw"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def blas() -> list[dict]:
    """The BLAS libraries numpy uses: library, version, kernel (architecture) and threads (threadpoolctl)."""
    import numpy  # noqa: F401 -- loads the BLAS so that threadpoolctl sees it
    from threadpoolctl import threadpool_info

    return [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for i in threadpool_info() if i.get("user_api") == "blas"]


def collect(run) -> dict:
    paths = run.paths
    files = list(run.inputs.values())
    cat = getattr(getattr(run, "built", None), "catalog", None)
    for ind in getattr(cat, "indicator", []) or []:
        for loc in (ind, getattr(ind, "uninterpolated", None)):
            if loc is not None:
                files.append(cat.resolve(loc.file))
    for file, _ in (cat.points.files() if getattr(cat, "points", None) is not None else []):
        files.append(cat.resolve(file))
    inputs = {paths.label(p): sha256(p) for p in files if Path(p).is_file()}
    seeds = {"study": run.study.study.seed}
    seeds.update({f"moran:{m.name}": m.seed for m in run.study.moran})
    seeds.update({f"impacts:{e.name}": e.impacts.seed for e in run.study.estimate if e.impacts})
    versions = {}
    for p in PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = None
    return {
        "study": run.study.study.name,
        "inputs_sha256": dict(sorted(inputs.items())),
        "specs_sha256": run.study.sources,
        "command": " ".join(["spillover", *sys.argv[1:]]) if Path(sys.argv[0]).name == "spillover" else None,
        "python": platform.python_version(),
        "blas": blas(),
        "packages": versions,
        "seeds": seeds,
        "git_commit": _git_commit(paths.folder),
        "timings_s": run.timings,
        "outputs": sorted({p.relative_to(run.out).as_posix() for p in run.files if p.exists()}),
    }


def write_manifest(run) -> Path:
    return run.write_text("manifest.json", json.dumps(collect(run), indent=2, ensure_ascii=False) + "\n")
