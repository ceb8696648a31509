"""The weights builders against independent references, at the sizes where speed matters.

- contiguity: the same links as libpysal's own ``Queen`` / ``Rook.from_dataframe``
  on real boundaries (the 34 provinces shipped in data_raw/, and when
  ../shared/data is beside the checkout the 370 prefectures, 2,875 counties
  of China and the 3,085 US counties of NCOVR); islands linked to the polygon
  a full scan of aeqd distances (written here) finds nearest.
- knn, distance_band, inverse_distance, exponential: the same neighbours and
  weights as libpysal's arc ``KNN`` / ``DistanceBand`` and as brute-force
  haversine distances over all pairs.
- output="sparse": the same matrix as the W, accepted by the estimators.

Speed is measured in tests/benchmarks/bench_weights.py, not here.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sps
from libpysal.weights import KNN, WSP, DistanceBand, Queen, Rook
from shapely.geometry import box

import spillover as sp
from spillover import weights as sw
from spillover.errors import SpecificationError, WeightsError

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
GEOMETRIES = {
    "provinces": (ROOT / "data_raw" / "geo" / "china_provinces.gpkg", "adcode"),
    "prefectures": (SHARED / "geo" / "china_prefectures.gpkg", "adcode"),
    "counties": (SHARED / "geo" / "china_counties.gpkg", "adcode"),
    "ncovr": (SHARED / "reference" / "ncovr" / "NAT.shp", "FIPS"),
}
R = sw.EARTH_RADIUS_KM


def read(name: str) -> tuple[gpd.GeoDataFrame, str]:
    path, id_col = GEOMETRIES[name]
    if not path.exists():
        pytest.skip(f"{path} not found (the shared data folder beside the checkout)")
    return gpd.read_file(path), id_col


def libpysal_links(geo: gpd.GeoDataFrame, id_col: str, kind: str) -> sps.csr_array:
    """libpysal's own contiguity, binary, rows and columns in the frame's order."""
    builder = Queen if kind == "queen" else Rook
    w = builder.from_dataframe(geo, ids=id_col, silence_warnings=True)
    return sw.align(w, list(geo[id_col]))


def binary(w) -> sps.csr_array:
    m = sps.csr_array(w.sparse)
    m.eliminate_zeros()
    return (m != 0).astype(float)


def full_scan_nearest(geo: gpd.GeoDataFrame, i: int) -> tuple[int, float]:
    """Row of the polygon nearest to row i and the gap in km: every polygon projected and measured."""
    c = geo.geometry.iloc[i].representative_point()
    proj = geo.geometry.to_crs(f"+proj=aeqd +lat_0={c.y} +lon_0={c.x} +datum=WGS84 +units=m")
    d = np.array(proj.distance(proj.iloc[i]), dtype=float)
    d[i] = np.inf
    j = int(np.argmin(d))
    return j, d[j] / 1000.0


# ---------------------------------------------------------------- contiguity


@pytest.mark.parametrize(("name", "kind"), [("provinces", "queen"), ("provinces", "rook"),
                                            ("prefectures", "queen"), ("prefectures", "rook"),
                                            ("counties", "queen"), ("ncovr", "queen"), ("ncovr", "rook")])
def test_contiguity_links_are_libpysals(name, kind):
    geo, id_col = read(name)
    geo = geo.assign(**{id_col: geo[id_col].astype(str)})
    w = sw.contiguity(geo, id_col, kind=kind, islands="keep")
    ref = libpysal_links(geo, id_col, kind)
    assert list(w.id_order) == list(geo[id_col])
    assert (binary(w) != ref).nnz == 0
    assert w.spillover_meta["islands_found"] == [geo[id_col].iloc[k] for k in np.flatnonzero(np.diff(ref.indptr) == 0)]


@pytest.mark.parametrize("name", ["provinces", "prefectures", "counties"])
def test_island_links_are_the_full_scan_nearest(name):
    geo, id_col = read(name)
    w = sw.contiguity(geo, id_col, islands="nearest")
    ids = list(geo[id_col])
    links = w.spillover_meta["island_links"]
    assert links, "these boundaries have islands"
    for link in links:
        j, gap = full_scan_nearest(geo, ids.index(link["island"]))
        assert link["neighbour"] == ids[j]
        assert link["gap"] == round(gap, 3) and link["gap_unit"] == "km"
    # the rest is libpysal's queen, and the island links are added both ways
    added = binary(w) - libpysal_links(geo, id_col, "queen")
    added.eliminate_zeros()
    expected = {(lk["island"], lk["neighbour"]) for lk in links} | {(lk["neighbour"], lk["island"]) for lk in links}
    assert {(ids[a], ids[b]) for a, b in zip(*added.nonzero(), strict=True)} == expected
    assert added.data.min() == 1.0


def test_island_search_where_degrees_mislead():
    """At 70 N a unit 0.6 degrees of latitude away (67 km) is nearer in degrees than one 1 degree of longitude
    away (38 km) but farther on the ground: the search must still find the second."""
    cells = {"isl": box(10.0, 70.0, 10.1, 70.1), "north": box(10.0, 70.7, 10.1, 70.8),
             "east": box(11.1, 70.0, 11.2, 70.1), "far": box(30.0, 60.0, 31.0, 61.0)}
    geo = gpd.GeoDataFrame({"id": list(cells)}, geometry=list(cells.values()), crs=4326)
    w = sw.contiguity(geo, "id", transform="b")
    for link in w.spillover_meta["island_links"]:
        j, gap = full_scan_nearest(geo, list(cells).index(link["island"]))
        assert (link["neighbour"], link["gap"]) == (list(cells)[j], round(gap, 3))
    links = {lk["island"]: lk["neighbour"] for lk in w.spillover_meta["island_links"]}
    assert links["isl"] == "east"
    degrees = geo.geometry.set_crs(None, allow_override=True).distance(geo.geometry.iloc[0])
    assert degrees.iloc[1] < degrees.iloc[2]  # in lon/lat degrees "north" is the nearer one


def test_island_search_across_the_antimeridian_and_in_a_projected_crs():
    cells = {"west": box(179.8, -17.0, 179.9, -16.9), "east": box(-179.9, -17.0, -179.8, -16.9),
             "mid": box(170.0, -17.0, 170.1, -16.9)}
    geo = gpd.GeoDataFrame({"id": list(cells)}, geometry=list(cells.values()), crs=4326)
    w = sw.contiguity(geo, "id", transform="b")
    for link in w.spillover_meta["island_links"]:
        j, gap = full_scan_nearest(geo, list(cells).index(link["island"]))
        assert (link["neighbour"], link["gap"]) == (list(cells)[j], round(gap, 3))
    projected = sw.contiguity(geo.to_crs(3832), "id", transform="b")  # PDC Mercator, 150 E
    first = projected.spillover_meta["island_links"][0]
    d = geo.to_crs(3832).distance(geo.to_crs(3832).geometry.iloc[0]).to_numpy()
    assert first["neighbour"] == list(cells)[int(np.argmin(np.where(d > 0, d, np.inf)))]
    assert first["gap"] == round(float(np.min(d[d > 0])), 3) and first["gap_unit"] == "crs units"


def test_single_unit_cannot_be_linked():
    geo = gpd.GeoDataFrame({"id": ["a"]}, geometry=[box(0, 0, 1, 1)], crs=4326)
    with pytest.raises(WeightsError, match="islands.*keep"):
        sw.contiguity(geo, "id")


# ---------------------------------------------------------------- points


@pytest.fixture(scope="module")
def pts() -> pd.DataFrame:
    rng = np.random.default_rng(20)
    n = 1500
    return pd.DataFrame({"lon": rng.uniform(-125, -67, n), "lat": rng.uniform(25, 49, n)},
                        index=pd.Index([f"p{i:04d}" for i in range(n)], name="id"))


def haversine_all(pts: pd.DataFrame) -> np.ndarray:
    """Great-circle km between all pairs, written out here (not the package's function)."""
    lon, lat = np.radians(pts["lon"].to_numpy()), np.radians(pts["lat"].to_numpy())
    a = (np.sin((lat[None, :] - lat[:, None]) / 2) ** 2
         + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin((lon[None, :] - lon[:, None]) / 2) ** 2)
    d = 2 * R * np.arcsin(np.sqrt(a))
    np.fill_diagonal(d, np.inf)
    return d


def as_sets(w) -> dict[str, set[str]]:
    return {str(i): {str(j) for j in w.neighbors[i]} for i in w.id_order}


@pytest.mark.parametrize("k", [1, 4, 10])
def test_knn_neighbours_are_libpysals_and_the_nearest(pts, k):
    w = sw.knn(pts, k)
    ref = KNN.from_array(pts[["lon", "lat"]].to_numpy(), k=k, ids=list(pts.index), distance_metric="arc",
                         radius=R, silence_warnings=True)
    assert as_sets(w) == as_sets(ref)
    nearest = np.argsort(haversine_all(pts), axis=1)[:, :k]
    ids = np.asarray(pts.index)
    assert as_sets(w) == {ids[i]: set(ids[nearest[i]]) for i in range(len(ids))}
    assert np.allclose(sw.align(w, list(pts.index)).sum(axis=1), 1.0)


def test_knn_with_stacked_points_follows_libpysal():
    """Four copies of one location and k = 2: libpysal's rule (drop self, else the farthest) decides."""
    rng = np.random.default_rng(3)
    xy = np.vstack([np.tile([[100.0, 30.0]], (4, 1)), rng.uniform([99, 29], [101, 31], (20, 2))])
    ids = [f"u{i}" for i in range(len(xy))]
    w = sw.knn(xy, 2, ids=ids)
    ref = KNN.from_array(xy, k=2, ids=ids, distance_metric="arc", radius=R, silence_warnings=True)
    assert as_sets(w) == as_sets(ref)
    assert all(len(w.neighbors[i]) == 2 for i in ids)


@pytest.mark.parametrize("cutoff", [150.0, 400.0])
def test_distance_band_is_libpysals_and_brute_force(pts, cutoff):
    w = sw.distance_band(pts, cutoff, transform="b")
    ref = DistanceBand.from_array(pts[["lon", "lat"]].to_numpy(), threshold=cutoff, binary=True,
                                  ids=list(pts.index), distance_metric="arc", radius=R, silence_warnings=True)
    assert as_sets(w) == as_sets(ref)
    d = haversine_all(pts)
    assert (sw.align(w, list(pts.index)).toarray() == (d <= cutoff)).all()


@pytest.mark.parametrize("power", [1, 2])
def test_inverse_distance_with_cutoff_is_libpysals_and_brute_force(pts, power):
    w = sw.inverse_distance(pts, power=power, cutoff_km=300.0, transform=None)
    ref = DistanceBand.from_array(pts[["lon", "lat"]].to_numpy(), threshold=300.0, binary=False, alpha=-power,
                                  ids=list(pts.index), distance_metric="arc", radius=R, silence_warnings=True)
    mine = sw.align(w, list(pts.index)).toarray()
    # libpysal takes the arc from the chord between unit vectors, which loses digits for close pairs
    # (7e-9 relative at 0.27 km here); the haversine below is held to 1e-12
    np.testing.assert_allclose(mine, sw.align(ref, list(pts.index)).toarray(), rtol=1e-7, atol=0)
    d = haversine_all(pts)
    np.testing.assert_allclose(mine, np.where(d <= 300.0, d ** -float(power), 0.0), rtol=1e-12, atol=0)


def test_exponential_with_cutoff_is_brute_force(pts):
    w = sw.exponential(pts, bandwidth_km=100.0, cutoff_km=250.0, transform=None)
    d = haversine_all(pts)
    np.testing.assert_allclose(sw.align(w, list(pts.index)).toarray(), np.where(d <= 250.0, np.exp(-d / 100.0), 0.0),
                               rtol=1e-12, atol=0)


# ---------------------------------------------------------------- output="sparse"


@pytest.mark.parametrize("build", [
    lambda p, out: sw.knn(p, 5, output=out),
    lambda p, out: sw.distance_band(p, 200.0, output=out),
    lambda p, out: sw.inverse_distance(p, power=2, cutoff_km=300.0, output=out),
    lambda p, out: sw.knn(p, 3, transform="b", output=out),
    lambda p, out: sw.inverse_distance(p.iloc[:300], transform=None, output=out),
])
def test_sparse_output_is_the_same_matrix(pts, build):
    w, wsp = build(pts, "W"), build(pts, "sparse")
    assert isinstance(wsp, WSP) and list(wsp.id_order) == list(w.id_order)
    np.testing.assert_allclose(sps.csr_array(wsp.sparse).toarray(), sps.csr_array(w.sparse).toarray(),
                               rtol=1e-14, atol=0)
    assert wsp.spillover_meta["islands"] == [str(i) for i in w.islands]
    assert wsp.spillover_meta["transform"] == w.transform
    described, ref = sw.describe(wsp), sw.describe(w)
    for key in ("n", "links", "islands", "n_components", "symmetric_links", "row_standardised", "transform"):
        assert described[key] == ref[key], key
    order = list(reversed(w.id_order))
    np.testing.assert_allclose(sw.align(wsp, order).toarray(), sw.align(w, order).toarray(), rtol=1e-14, atol=0)


def test_estimators_take_the_sparse_output():
    rng = np.random.default_rng(8)
    n, t = 120, 4
    xy = np.column_stack([rng.uniform(100, 110, n), rng.uniform(25, 35, n)])
    ids = [f"u{i:03d}" for i in range(n)]
    w, wsp = sw.knn(xy, 5, ids=ids), sw.knn(xy, 5, ids=ids, output="sparse")
    wm = sw.align(w, ids).toarray()
    x = rng.standard_normal((t, n))
    y = np.stack([np.linalg.solve(np.eye(n) - 0.4 * wm, 1.0 + 0.5 * x[s] + rng.standard_normal(n)) for s in range(t)])
    df = pd.DataFrame({"unit": np.tile(ids, t), "year": np.repeat(np.arange(t), n),
                       "y": y.ravel(), "x": x.ravel()})
    a = sp.SAR("y ~ x", data=df, w=w, entity="unit", time="year", fe="entity").fit()
    b = sp.SAR("y ~ x", data=df, w=wsp, entity="unit", time="year", fe="entity").fit()
    pd.testing.assert_series_equal(a.params, b.params, rtol=1e-10)


def test_validate_names_islands_of_a_sparse_output():
    xy = np.array([[100.0, 30.0], [100.1, 30.0], [110.0, 30.0]])
    wsp = sw.distance_band(xy, 50.0, ids=["a", "b", "c"], output="sparse")
    assert wsp.spillover_meta["islands"] == ["c"]
    with pytest.raises(WeightsError, match="islands.*'c'"):
        sw.validate(wsp)
    with pytest.raises(WeightsError, match="require_symmetric.*output='W'"):
        sw.validate(sw.distance_band(xy[:2], 50.0, ids=["a", "b"], output="sparse"), require_symmetric=True)


# ---------------------------------------------------------------- bad input


def test_bad_output_and_transform_are_named(pts):
    with pytest.raises(SpecificationError, match="output.*'sparse'"):
        sw.knn(pts, 4, output="dense")
    with pytest.raises(SpecificationError, match="transform.*output='W'"):
        sw.distance_band(pts, 200.0, transform="d", output="sparse")
    assert sw.distance_band(pts, 200.0, transform="d").transform == "D"  # a W keeps libpysal's transforms


def test_all_pairs_above_the_limit_ask_for_a_cutoff(pts, monkeypatch):
    monkeypatch.setattr(sw, "ALL_PAIRS_MAX", 1000)
    with pytest.raises(WeightsError, match="cutoff_km.*k-d tree"):
        sw.inverse_distance(pts)
    assert sw.inverse_distance(pts, cutoff_km=100.0).n == len(pts)


def test_shared_location_is_named_with_a_cutoff():
    xy = np.array([[100.0, 30.0], [101.0, 30.0], [100.0, 30.0]])
    with pytest.raises(WeightsError, match="share a location.*'a'.*'c'"):
        sw.inverse_distance(xy, cutoff_km=500.0, ids=["a", "b", "c"])
    with pytest.raises(WeightsError, match="share a location.*'a'.*'c'"):
        sw.inverse_distance(xy, ids=["a", "b", "c"])


@pytest.mark.parametrize("values", [
    [110000, 120000.0, "130000", np.int64(5)], np.array([1, 2, 3]), np.array([1.0, 2.5]), pd.Series(["a", "b"]),
    pd.Index([3, 4]), pd.Series(["x", "y"], dtype="string"), pd.Series([True, False]), np.array(["a", "b"]),
    pd.Series(["a", 3]), pd.Series([1, 2], dtype="Int64"),
])
def test_ids_as_text_whole_arrays_agree_with_one_by_one(values):
    assert sw._codes(values) == [sw._code(v) for v in values]


def test_repeated_ids_still_named_at_scale():
    ids = np.arange(200_000)
    ids[-1] = 7
    with pytest.raises(WeightsError, match="duplicate ids.*'7'"):
        sw.knn(np.random.default_rng(0).uniform(0, 1, (ids.size, 2)), 3, ids=ids)
