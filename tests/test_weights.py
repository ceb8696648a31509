"""Tests of spillover.weights on the real 31-province geometry and small hand cases."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from libpysal.cg import arcdist
from shapely.geometry import box
from typer.testing import CliRunner

from spillover import data as sp_data
from spillover import weights as sw
from spillover.errors import SpecificationError, WeightsError

ROOT = Path(__file__).resolve().parents[1]
GPKG = ROOT / "data_raw" / "geo" / "china_provinces.gpkg"
SPATIAL = ROOT / "data_raw" / "upstream1119__statistical-modeling_CUC_PYH" / "data_raw" / "spatial"


CAP = sp_data.default_points()  # the catalog's [points]: the 31 provincial capitals


@pytest.fixture(scope="module")
def geo() -> gpd.GeoDataFrame:
    g = gpd.read_file(GPKG)
    return g[~g["adcode"].isin(("710000", "810000", "820000"))].reset_index(drop=True)  # the study's 31 units


@pytest.fixture(scope="module")
def queen(geo):
    return sw.contiguity(geo, "adcode")


def grid(n: int = 3) -> gpd.GeoDataFrame:
    """n x n unit squares (projected, no CRS) with ids g00, g01, ..."""
    cells = [(f"g{r}{c}", box(c, r, c + 1, r + 1)) for r in range(n) for c in range(n)]
    return gpd.GeoDataFrame({"id": [c[0] for c in cells]}, geometry=[c[1] for c in cells])


def dense(w, ids=None):
    return sw.align(w, list(w.id_order) if ids is None else ids).toarray()


# ---------------------------------------------------------------- contiguity


def test_ids_are_31_gb_codes(queen, geo):
    assert list(queen.id_order) == list(geo["adcode"])
    assert len(queen.id_order) == 31
    assert all(isinstance(i, str) and len(i) == 6 and i.endswith("0000") for i in queen.id_order)


def test_hainan_linked_to_guangdong(queen):
    assert queen.neighbors["460000"] == ["440000"]
    assert "460000" in queen.neighbors["440000"]
    meta = queen.spillover_meta
    assert meta["islands_found"] == ["460000"]
    (link,) = meta["island_links"]
    assert (link["island"], link["neighbour"]) == ("460000", "440000")
    assert 5 < link["gap"] < 40 and link["gap_unit"] == "km"  # Qiongzhou Strait
    assert queen.islands == [] and queen.n_components == 1


def test_island_policies(geo):
    with pytest.raises(WeightsError, match="460000"):
        sw.contiguity(geo, "adcode", islands="error")
    kept = sw.contiguity(geo, "adcode", islands="keep")
    assert kept.islands == ["460000"] and kept.n_components == 2
    with pytest.raises(SpecificationError, match="islands"):
        sw.contiguity(geo, "adcode", islands="drop")


def test_row_sums_one_and_transform_recorded(queen):
    assert queen.transform == "R" and queen.spillover_meta["transform"] == "R"
    np.testing.assert_allclose(dense(queen).sum(axis=1), 1.0)
    assert sw.is_row_standardised(queen)
    binary = sw.contiguity(grid(), id_col="id", transform="b")
    assert binary.transform == "B" and not sw.is_row_standardised(binary)


def test_queen_vs_rook(geo, queen):
    rook = sw.contiguity(geo, "adcode", kind="rook")
    # provinces meeting only at a point would make queen > rook; none do here
    assert queen.s0 > 0 and dense(queen).astype(bool).sum() >= dense(rook).astype(bool).sum()
    g = grid(3)
    q = sw.contiguity(g, id_col="id", kind="queen", transform="b")
    r = sw.contiguity(g, id_col="id", kind="rook", transform="b")
    assert q.s0 == 4 * 3 + 4 * 5 + 8 == 40
    assert r.s0 == 4 * 2 + 4 * 3 + 4 == 24
    assert len(q.neighbors["g11"]) == 8 and len(r.neighbors["g11"]) == 4


def test_nearest_island_synthetic():
    g = gpd.GeoDataFrame(
        {"id": ["a", "b", "far"]},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(5, 0, 6, 1)],
    )
    w = sw.contiguity(g, id_col="id", transform="b")
    assert w.neighbors["far"] == ["b"] and "far" in w.neighbors["b"]
    assert w.spillover_meta["island_links"][0]["gap"] == pytest.approx(3.0)


def test_numeric_ids_become_text():
    g = grid(2).assign(code=[110000, 120000, 130000, 140000])
    w = sw.contiguity(g, id_col="code")
    assert w.id_order == ["110000", "120000", "130000", "140000"]


# ---------------------------------------------------------------- distances


def test_capitals_31_and_read_only():
    cap = CAP
    assert len(cap) == 31 and cap.index.is_unique
    assert cap.loc["540000", "name"] == "拉萨"
    assert 90 < cap.loc["540000", "lon"] < 92 and 29 < cap.loc["540000", "lat"] < 30.5
    assert cap["lon"].between(73, 135).all() and cap["lat"].between(18, 54).all()


def test_haversine_beijing_shanghai():
    cap = CAP
    bj, sh = cap.loc["110000"], cap.loc["310000"]
    d = sw.haversine_km(bj.lon, bj.lat, sh.lon, sh.lat)
    assert abs(d - 1068) / 1068 < 0.01
    ref = arcdist((bj.lon, bj.lat), (sh.lon, sh.lat), radius=sw.EARTH_RADIUS_KM)
    assert d == pytest.approx(ref, rel=1e-9)


def test_inverse_distance_formula_and_power():
    w1 = sw.inverse_distance(CAP, transform=None)
    w2 = sw.inverse_distance(CAP, power=2, transform=None)
    cap = CAP
    d = sw.distance_matrix_km(cap)
    i, j = 0, 8  # Beijing, Shanghai in sorted order
    assert cap.index[[i, j]].tolist() == ["110000", "310000"]
    assert dense(w1, list(cap.index))[i, j] == pytest.approx(1 / d[i, j])
    assert dense(w2, list(cap.index))[i, j] == pytest.approx(d[i, j] ** -2)
    assert np.all(np.diag(dense(w1)) == 0)
    assert sw.describe(w1)["symmetric_weights"]
    np.testing.assert_allclose(dense(sw.inverse_distance(CAP)).sum(axis=1), 1.0)


def test_cutoff_drops_links():
    full = sw.inverse_distance(CAP)
    cut = sw.inverse_distance(CAP, cutoff_km=1000)
    assert full.s0 > 0 and len(full.neighbors["110000"]) == 30
    assert sw.describe(cut)["links"] < sw.describe(full)["links"]
    cap = CAP
    d = pd.DataFrame(sw.distance_matrix_km(cap), index=cap.index, columns=cap.index)
    for i in cut.id_order:
        assert all(d.loc[i, j] <= 1000 for j in cut.neighbors[i])
    assert cut.spillover_meta["cutoff_km"] == 1000


def test_inverse_distance_from_geometry(geo):
    cen = sw.inverse_distance(geo, id_col="adcode", points="centroids")
    assert cen.spillover_meta["points"] == "centroids" and cen.n == 31
    assert sw.inverse_distance(CAP).spillover_meta["points"] == "given"
    with pytest.raises(SpecificationError, match="points"):
        sw.inverse_distance(geo, id_col="adcode", points="middle")
    with pytest.raises(WeightsError, match="need the units' locations"):
        sw.inverse_distance(None)


def test_knn_k_neighbours_each(geo):
    w = sw.knn(geo, 4, id_col="adcode")
    assert all(len(w.neighbors[i]) == 4 for i in w.id_order)
    assert w.id_order == list(geo["adcode"]) and all(isinstance(i, str) for i in w.id_order)
    # Beijing's nearest capital is Tianjin (~110 km)
    assert "120000" in sw.knn(CAP, 1).neighbors["110000"]
    with pytest.raises(SpecificationError, match="k must"):
        sw.knn(CAP, 31)


# ---------------------------------------------------------------- economic, nested


def test_economic_distance_by_hand():
    x = pd.Series({"a": 1.0, "b": 2.0, "c": 4.0}, name="gdp")
    raw = dense(sw.economic_distance(x, transform=None), ["a", "b", "c"])
    np.testing.assert_allclose(raw, [[0, 1, 1 / 3], [1, 0, 1 / 2], [1 / 3, 1 / 2, 0]])
    r = dense(sw.economic_distance(x), ["a", "b", "c"])
    np.testing.assert_allclose(r, [[0, 0.75, 0.25], [2 / 3, 0, 1 / 3], [0.4, 0.6, 0]])


def test_economic_distance_ties_named():
    with pytest.raises(WeightsError, match=r"'b', 'c'"):
        sw.economic_distance(pd.Series({"a": 1.0, "b": 2.0, "c": 2.0}))


def _chain():
    return sw.from_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]), ids=["a", "b", "c"])


def test_nested_product_by_hand():
    y = pd.Series({"a": 1.0, "b": 2.0, "c": 3.0})  # Ybar = 2 -> diag(0.5, 1, 1.5)
    raw = dense(sw.nested(_chain(), y, transform=None), ["a", "b", "c"])
    np.testing.assert_allclose(raw, [[0, 1, 0], [0.5, 0, 1.5], [0, 1, 0]])
    w = sw.nested(_chain(), y)
    np.testing.assert_allclose(dense(w, ["a", "b", "c"]),
                               [[0, 1, 0], [0.25, 0, 0.75], [0, 1, 0]])
    assert w.spillover_meta["form"] == "product"


def test_nested_convex_by_hand():
    y = pd.Series({"a": 1.0, "b": 2.0, "c": 3.0})
    w = sw.nested(_chain(), y, kind="convex", phi=0.5)
    expected = 0.5 * np.array([[0, 1, 0], [0.5, 0, 0.5], [0, 1, 0]]) + 0.5 * np.array(
        [[0, 2 / 3, 1 / 3], [0.5, 0, 0.5], [1 / 3, 2 / 3, 0]]
    )
    np.testing.assert_allclose(dense(w, ["a", "b", "c"]), expected)
    with pytest.raises(SpecificationError, match="phi"):
        sw.nested(_chain(), y, kind="convex", phi=1.5)
    with pytest.raises(WeightsError, match="'c'"):
        sw.nested(_chain(), y.drop("c"))


# ---------------------------------------------------------------- matrices, align, validate


def test_align_permutes(queen):
    order = list(queen.id_order)
    perm = order[::-1]
    a = sw.align(queen, order).toarray()
    b = sw.align(queen, perm).toarray()
    idx = [order.index(i) for i in perm]
    np.testing.assert_array_equal(b, a[np.ix_(idx, idx)])
    i, j = perm.index("460000"), perm.index("440000")
    assert b[i, j] == 1.0


def test_align_errors(queen):
    ids = list(queen.id_order)
    with pytest.raises(WeightsError, match="missing_from_w=\\['999999'\\]"):
        sw.align(queen, ids + ["999999"])
    with pytest.raises(WeightsError, match="extra_in_w=\\['110000'\\]"):
        sw.align(queen, ids[1:])
    with pytest.raises(WeightsError, match="astype\\(str\\)"):
        sw.align(queen, [int(i) for i in ids])
    with pytest.raises(WeightsError, match="repeat"):
        sw.align(queen, ids + ids[:1])


def test_validate_passes(queen):
    assert sw.validate(queen, queen.id_order, require_symmetric=True,
                       require_row_standardised=True) is queen


def test_validate_errors(geo, queen):
    with pytest.raises(WeightsError, match="ids do not match.*999999"):
        sw.validate(queen, list(queen.id_order)[:-1] + ["999999"])
    loop = sw.from_matrix(np.array([[1.0, 1.0], [1.0, 0.0]]), ids=["a", "b"])
    with pytest.raises(WeightsError, match="self-loops.*'a'"):
        sw.validate(loop)
    with pytest.raises(WeightsError, match="islands.*460000"):
        sw.validate(sw.contiguity(geo, "adcode", islands="keep"))
    with pytest.raises(WeightsError, match="not symmetric"):
        sw.validate(sw.knn(CAP, 3), require_symmetric=True)
    raw = sw.from_matrix(np.array([[0, 2.0], [1.0, 0]]), ids=["a", "b"])
    with pytest.raises(WeightsError, match="not row-standardised"):
        sw.validate(raw, require_row_standardised=True)
    sw.validate(raw)  # no requirement, no problem


def test_from_matrix_dataframe_and_errors():
    df = pd.DataFrame([[1, 0], [0, 3]], index=["b", "a"], columns=["a", "b"])
    w = sw.from_matrix(df)
    assert w.id_order == ["b", "a"] and dense(w).tolist() == [[0, 1], [3, 0]]
    with pytest.raises(WeightsError, match="different ids"):
        sw.from_matrix(pd.DataFrame([[0, 1], [1, 0]], index=["a", "b"], columns=["a", "c"]))
    with pytest.raises(WeightsError, match="negative"):
        sw.from_matrix(np.array([[0, -1], [1, 0]]), ids=["a", "b"])
    with pytest.raises(WeightsError, match="shape"):
        sw.from_matrix(np.zeros((2, 3)), ids=["a", "b"])


def test_csv_round_trip(tmp_path, queen):
    path = sw.to_csv(queen, tmp_path / "w.csv")
    back = sw.from_csv(path)
    assert back.id_order == queen.id_order and all(isinstance(i, str) for i in back.id_order)
    np.testing.assert_allclose(dense(back), dense(queen))
    assert back.spillover_meta["source"] == str(path)
    odd = tmp_path / "odd.csv"
    odd.write_text("id,010,020\n020,1,0\n010,0,1\n")  # leading zeros, rows in another order
    w = sw.from_csv(odd)
    assert w.id_order == ["020", "010"] and w.neighbors["020"] == ["010"]
    bad = tmp_path / "bad.csv"
    bad.write_text("id,a,b\na,0,1\nc,1,0\n")
    with pytest.raises(WeightsError, match="bad.csv"):
        sw.from_csv(bad)


def test_describe(queen):
    d = sw.describe(queen)
    assert d["n"] == 31 and d["links"] == 138 and d["islands"] == []
    assert d["n_components"] == 1 and d["min_neighbours"] == 1 and d["max_neighbours"] == 8
    assert d["mean_neighbours"] == pytest.approx(138 / 31)
    assert d["symmetric_links"] and d["symmetric_weights"] and d["transform"] == "R"
    assert d["meta"]["kind"] == "contiguity"
    tab = sw.neighbour_table(queen)
    assert tab.loc["460000", "neighbours"] == "440000"


def test_published_edge_list_report(queen):
    """Compare with the upstream repository's contiguity edge list (report only)."""
    up = pd.read_csv(SPATIAL / "province_capital_coordinates.csv", encoding="utf-8-sig", dtype={"adcode": str})
    code = dict(zip(up["province"], up["adcode"], strict=True)) | {"西藏": "540000"}
    ours = {(i, j) for i in queen.id_order for j in queen.neighbors[i]}
    for name in ("spatial_weights.csv", "spatial_weights_with_tibet_audit.csv"):
        e = pd.read_csv(SPATIAL / name, encoding="utf-8-sig")
        pub = {(code[a], code[b]) for a, b in zip(e["province_i"], e["province_j"], strict=True)}
        units = {u for p in pub for u in p}
        mine = {p for p in ours if set(p) <= units}
        print(name, "only published:", sorted(pub - mine), "only ours:", sorted(mine - pub))
        assert len(pub) > 100


# ---------------------------------------------------------------- CLI


def test_cli_describe():
    """`spillover weights describe MODELS`: the study's W, from its own panel and geometry."""
    from spillover.commands.weights import app

    runner = CliRunner()
    models = str(Path(__file__).resolve().parents[1] / "models")
    out = runner.invoke(app, ["describe", models, "--name", "adjacency", "--names", "adcode"])
    assert out.exit_code == 0, out.output
    assert "Queen contiguity" in out.output and "460000" in out.output and "440000" in out.output
    out = runner.invoke(app, ["describe", models, "--name", "nested", "--no-neighbours"])
    assert out.exit_code == 0, out.output
    assert "Economic-geographic" in out.output and "Lin, Long & Wu" in out.output
    out = runner.invoke(app, ["describe", models, "--name", "nope"])
    assert out.exit_code == 2 and "nope" in out.output and "adjacency" in out.output


def test_build_dispatch_and_errors():
    import pandas as pd

    from spillover.errors import WeightsError

    w = sw.build("inverse_distance", power=2, points=CAP)
    assert w.n == 31 and sw.is_row_standardised(w)
    with pytest.raises(WeightsError, match="need the units' locations"):
        sw.build("knn")  # nothing reads data_raw/ behind the caller's back
    with pytest.raises(WeightsError, match="unknown weights kind"):
        sw.build("railway")
    with pytest.raises(WeightsError, match="need the economic variable"):
        sw.build("economic")
    with pytest.raises(WeightsError, match="needs the polygons"):
        sw.build("contiguity")
    vals = pd.Series(range(1, 32), index=list(w.id_order), dtype=float)
    assert sw.build("economic", values=vals).n == 31


# ---------------------------------------------------------------- GAL structure


def _gal(tmp_path: Path, body: list[str], header: str = "4") -> Path:
    """A GAL file of the 4-unit ring 1-2-3-4-1 (``body`` replaces its unit lines when given)."""
    path = tmp_path / "ring.gal"
    path.write_text("\n".join([header] + body) + "\n", encoding="utf-8")
    return path


RING = ["1 2", "2 4", "2 2", "1 3", "3 2", "2 4", "4 2", "3 1"]


def test_gal_ring_reads(tmp_path):
    w = sw.from_file(_gal(tmp_path, RING), transform=None)
    assert w.neighbors == {"1": ["2", "4"], "2": ["1", "3"], "3": ["2", "4"], "4": ["3", "1"]}
    assert sw.from_file(_gal(tmp_path, ["1 0", ""] + RING[2:6] + ["4 1", "3"]), transform=None).neighbors["1"] == []


@pytest.mark.parametrize("body,header,pattern", [
    (["1 2", "2"] + RING[2:], "4",
     r"unit 1 declares 2 neighbour\(s\) in line 2 but line 3 lists 1: 2.*line=3, unit='1'"),
    (RING[:6] + ["4 1", "3 1"], "4", r"unit 4 declares 1 neighbour\(s\) in line 8 but line 9 lists 2"),
    (RING, "5", r"the header says 5 units but the file holds 4.*line=10"),
    (RING, "0 5 ring.shp id", r"the header says 5 units but the file holds 4"),
    (RING, "3", r"the header says 3 units but the file goes on after 3 units.*line=8"),
    (RING[:6] + ["4 2", "3 7"], "4", r"unit 4 lists neighbour 7, which is not a unit of the file.*line=9"),
    (RING[:2] + ["1 2", "1 3"] + RING[4:], "4", r"unit\(s\) \['1'\] listed more than once"),
    (["1 two", "2 4"] + RING[2:], "4", r"line '1 two' is not 'unit_id neighbour_count'.*line=2"),
    (RING, "four", r"the GAL header 'four' does not give the number of units"),
])
def test_gal_structure_is_checked(tmp_path, body, header, pattern):
    path = _gal(tmp_path, body, header)
    with pytest.raises(WeightsError, match=pattern) as err:
        sw.from_file(path)
    assert "ring.gal" in str(err.value) and "Hint:" in str(err.value)
