"""The real 2,875-county queen W of China, shipped in tests/reference/counties/.

Everything here runs on a clean checkout: the neighbour lists are read from
``counties_queen.gal`` (see the README next to it for origin and facts). Only
``test_rebuild_from_geometry_matches_shipped_file`` needs the boundary file and
skips without it.

The model data are SYNTHETIC (seeded numpy draws); only W is real.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import libpysal
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sps
import spreg
from libpysal.weights import W
from scipy.sparse import csgraph
from scipy.sparse.linalg import splu

import spillover as sp
from spillover.spatial.logdet import choose_strategy, make_logdet

HERE = Path(__file__).resolve().parent / "reference" / "counties"
GAL = HERE / "counties_queen.gal"
# the shared data folder beside the checkout (../shared), as in the developers' set-up
GPKG = Path(__file__).resolve().parents[2] / "shared" / "data" / "geo" / "china_counties.gpkg"

N_UNITS = 2875
N_NONZERO = 15914  # directed links of the binary W (7,957 neighbour pairs)
# island -> the unit it was linked to by contiguity(..., islands="nearest"),
# as listed in tests/reference/counties/README.md
ISLAND_LINKS = {
    "210224": "210213",  # Changhai (Dalian)   -> Jinzhou District
    "330921": "330902",  # Daishan (Zhoushan)  -> Dinghai District
    "350527": "350604",  # Kinmen              -> Longhai District (Zhangzhou)
    "440523": "440515",  # Nan'ao (Shantou)    -> Chenghai District
    "460301": "469005",  # Xisha (Sansha)      -> Wenchang
    "460302": "460301",  # Nansha (Sansha)     -> Xisha
    "710000": "350128",  # Taiwan (one unit)   -> Pingtan County
}
COMPONENTS_BEFORE, COMPONENTS_AFTER = 11, 4
# sizes of the components after linking: mainland (with Hong Kong, Macao,
# Taiwan and the linked islands), Hainan with Sansha, Zhoushan, Xiamen Island
COMPONENT_SIZES = [2844, 26, 3, 2]


def _read_gal(path: Path) -> W:
    with warnings.catch_warnings():  # libpysal warns that W has 4 components
        warnings.simplefilter("ignore", UserWarning)
        f = libpysal.io.open(str(path), "r")
        try:
            return f.read()
        finally:
            f.close()


@pytest.fixture(scope="module")
def wb() -> W:
    """Binary county W as shipped (ids are adcode strings)."""
    return _read_gal(GAL)


@pytest.fixture(scope="module")
def wr(wb) -> W:
    """Row-standardised copy of the county W."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        w = W({i: list(wb.neighbors[i]) for i in wb.id_order}, id_order=list(wb.id_order),
              silence_warnings=True)
    w.transform = "r"
    return w


def _components(m) -> tuple[int, list[int]]:
    k, lab = csgraph.connected_components(m, directed=False)
    return k, sorted(np.bincount(lab).tolist(), reverse=True)


# ------------------------------------------------------------------ the file


def test_shipped_w_facts(wb):
    assert wb.n == N_UNITS
    assert all(isinstance(i, str) and len(i) == 6 for i in wb.id_order)
    assert list(wb.id_order) == sorted(wb.id_order)
    assert wb.islands == []
    m = sps.csr_array(wb.sparse)
    assert m.nnz == N_NONZERO and set(np.unique(m.data)) == {1.0}
    assert m.diagonal().sum() == 0
    assert abs(m - m.T).sum() == 0  # symmetric neighbour relation
    card = np.array([wb.cardinalities[i] for i in wb.id_order])
    assert (card.min(), card.max()) == (1, 20)
    assert _components(m) == (COMPONENTS_AFTER, COMPONENT_SIZES)
    assert wb.n_components == COMPONENTS_AFTER


def test_island_links_and_queen_graph_before_linking(wb):
    for isl, nb in ISLAND_LINKS.items():
        assert nb in wb.neighbors[isl] and isl in wb.neighbors[nb]
    # each island has its one link only, except Xisha which also received Nansha
    assert {i: sorted(wb.neighbors[i]) for i in ISLAND_LINKS} == {
        i: sorted([j] + (["460302"] if i == "460301" else [])) for i, j in ISLAND_LINKS.items()
    }
    # removing the 7 added links gives back the bare queen graph: 7 islands, 11 components
    added = {(i, j) for i, j in ISLAND_LINKS.items()} | {(j, i) for i, j in ISLAND_LINKS.items()}
    queen = W({i: [j for j in wb.neighbors[i] if (i, j) not in added] for i in wb.id_order},
              id_order=list(wb.id_order), silence_warnings=True)
    assert sorted(queen.islands) == sorted(ISLAND_LINKS)
    assert queen.sparse.nnz == N_NONZERO - 14
    k, sizes = _components(queen.sparse)
    assert k == COMPONENTS_BEFORE and sizes[:4] == [2840, 24, 2, 2] and sizes[4:] == [1] * 7


def test_row_standardised_spectrum_ends(wr):
    """W 1 = 1 and a two-unit component (Xiamen Island) make +1 and -1 eigenvalues of W."""
    assert np.allclose(np.asarray(wr.sparse.sum(axis=1)).ravel(), 1.0)
    pos = {u: k for k, u in enumerate(wr.id_order)}
    i, j = pos["350203"], pos["350206"]  # Siming <-> Huli, only each other
    assert wr.neighbors["350203"] == ["350206"] and wr.neighbors["350206"] == ["350203"]
    v = np.zeros(wr.n)
    v[i], v[j] = 1.0, -1.0
    assert np.allclose(wr.sparse @ v, -v)


# ------------------------------------------------------------------ log-determinants


def test_logdet_engines_agree(wr):
    """Sparse LU (exact) vs dense LAPACK slogdet (exact) vs Barry-Pace Monte Carlo."""
    W = sps.csr_matrix(wr.sparse)
    n = W.shape[0]
    lu = make_logdet(W, "lu")
    mc = make_logdet(W, "mc")
    assert choose_strategy(n, real_spectrum=True) == ("mc" if n > 3000 else "lu")  # what logdet="auto" uses here
    lo, hi = lu.bounds
    assert -1.0 < lo < -0.99 and 0.999 < hi < 1.0
    rhos = np.array([-0.6, 0.2, 0.4, 0.9])
    ld_lu = lu.logdet(rhos)
    wd = W.toarray()
    for r, got in zip((-0.6, 0.4), ld_lu[[0, 2]], strict=True):
        sign, ref = np.linalg.slogdet(np.eye(n) - r * wd)
        assert sign == 1.0
        assert got == pytest.approx(ref, rel=1e-11, abs=1e-9)
    # the Monte Carlo estimate stays within its own error statement
    ld_mc = mc.logdet(rhos)
    err = np.abs(ld_mc - ld_lu)
    assert np.all(err <= 4 * mc.logdet_se(rhos) + mc.tail_bound(rhos) + 1e-12)
    assert np.all(err / np.abs(ld_lu) < 2e-3)
    # d logdet / d rho = -tr(G): LU's stochastic trace vs a central difference of its exact logdet
    h = 1e-5
    num = -(lu.logdet(0.4 + h) - lu.logdet(0.4 - h)) / (2 * h)
    assert lu.tr_G(0.4) == pytest.approx(num, rel=1e-3)
    assert lu.sum_S(0.4) == pytest.approx(n / 0.6, rel=1e-10)


# ------------------------------------------------------------------ SAR against spreg


@pytest.fixture(scope="module")
def synthetic_sar(wr):
    """SYNTHETIC cross-section on the real county W: y = 0.4 W y + 1 + 0.5 x1 - 0.8 x2 + e."""
    n = wr.n
    rng = np.random.default_rng(20240611)
    x = rng.normal(size=(n, 2))
    e = rng.normal(scale=0.5, size=n)
    a = sps.csc_matrix(sps.identity(n) - 0.4 * sps.csr_matrix(wr.sparse))
    y = splu(a).solve(1.0 + x @ np.array([0.5, -0.8]) + e)
    df = pd.DataFrame({"adcode": list(wr.id_order), "year": 2020, "y": y, "x1": x[:, 0], "x2": x[:, 1]})
    return df, y, x


def test_sar_cross_section_matches_spreg(wr, synthetic_sar):
    """Pooled SAR with T = 1 and fe="none" vs spreg.ML_Lag(method="LU") in the same run.

    Same model and conventions: intercept, Jacobian log|I - rho W|, sigma2 =
    e'e/N, llf the full Gaussian log-likelihood at that sigma2 (spreg's logll
    includes the -N/2 log(2 pi) - N/2 constants). spreg stops its bounded
    search at xatol = 1e-7 in rho, ours at 1e-12; at the optimum this moves
    llf by O(1e-14 N). Standard errors: spreg inverts the expected
    information with exact traces (a sparse inverse of I - rho W); our "lu"
    engine estimates tr(G^2) and tr(G'G) by Hutchinson probes, hence the
    looser tolerance there.
    """
    df, y, x = synthetic_sar
    res = sp.SAR("y ~ x1 + x2", df, wr, "adcode", "year", fe="none", logdet="lu").fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = spreg.ML_Lag(y[:, None], x, wr, method="LU")
    assert res.converged and res.N == N_UNITS and res.T == 1
    assert list(res.params.index) == ["Intercept", "x1", "x2", "rho"]
    ours, theirs = res.params.to_numpy(), ref.betas.ravel()  # spreg: constant, x, rho last
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    assert res.params["rho"] == pytest.approx(float(ref.rho), rel=1e-5)
    assert res.llf == pytest.approx(float(ref.logll), rel=1e-6, abs=1e-6)
    assert res.sigma2 == pytest.approx(float(ref.sig2), rel=1e-6)
    np.testing.assert_allclose(res.bse.to_numpy(), np.sqrt(np.diag(ref.vm)), rtol=1e-3)
    # and the synthetic truth is recovered
    assert abs(res.params["rho"] - 0.4) < 4 * res.bse["rho"]


# ------------------------------------------------------------------ rebuild (needs the gpkg)


@pytest.mark.skipif(not GPKG.exists(), reason=f"county boundaries not available ({GPKG})")
def test_rebuild_from_geometry_matches_shipped_file(tmp_path, wb):
    """make_counties_w.py on the boundary file reproduces the shipped GAL byte for byte."""
    spec = importlib.util.spec_from_file_location("make_counties_w", HERE / "make_counties_w.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    w, _ = mod.build(GPKG)
    meta = w.spillover_meta
    assert meta["islands_found"] == sorted(ISLAND_LINKS)
    assert {lk["island"]: lk["neighbour"] for lk in meta["island_links"]} == ISLAND_LINKS
    assert list(w.id_order) == list(wb.id_order)
    assert {i: sorted(w.neighbors[i]) for i in w.id_order} == {i: sorted(wb.neighbors[i]) for i in wb.id_order}
    out = tmp_path / "counties_queen.gal"
    mod.write_gal(mod.binary_sorted(w), out)
    assert out.read_bytes() == GAL.read_bytes()
