"""Tests of spillover.spatial.logdet against brute-force dense computations.

Reference values: numpy slogdet of I - rho W, the dense inverse S for
tr(G), tr(GG), tr(G'G), tr(S), 1'S1 and 1'SW1 (G = W S).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as la
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from libpysal.weights import KNN, W as PysalW, lat2W

from spillover.errors import SpecificationError, WeightsError
from spillover.spatial import logdet as L
from spillover.spatial.logdet import (
    EigenLogDet,
    LogDet,
    LULogDet,
    MCLogDet,
    choose_strategy,
    make_logdet,
)

METHODS = ("logdet", "tr_G", "tr_G2", "tr_GtG", "tr_S", "sum_S", "sum_SW")


# ------------------------------------------------------------------ helpers
def brute(W: np.ndarray, rho: float) -> dict[str, float]:
    """Dense reference values of every engine method at one rho."""
    n = W.shape[0]
    A = np.eye(n) - rho * W
    S = np.linalg.inv(A)
    G = W @ S
    return {
        "logdet": np.linalg.slogdet(A)[1],
        "tr_G": np.trace(G),
        "tr_G2": np.sum(G * G.T),
        "tr_GtG": np.sum(G * G),
        "tr_S": np.trace(S),
        "sum_S": np.ones(n) @ S @ np.ones(n),
        "sum_SW": np.ones(n) @ S @ W @ np.ones(n),
    }


def brute_many(W: np.ndarray, rhos: np.ndarray) -> dict[str, np.ndarray]:
    rows = [brute(W, r) for r in rhos]
    return {m: np.array([row[m] for row in rows]) for m in METHODS}


def knn_w(n: int, k: int, seed: int, transform: str = "r") -> PysalW:
    pts = np.random.default_rng(seed).random((n, 2))
    w = KNN(pts, k=k)
    w.transform = transform
    return w


def lattice_w(nrows: int, ncols: int, rook: bool = True, transform: str = "r") -> PysalW:
    w = lat2W(nrows, ncols, rook=rook)
    w.transform = transform
    return w


def with_island(W: sp.spmatrix) -> sp.csr_matrix:
    """Append one unit with no neighbours (zero row and column)."""
    n = W.shape[0]
    return sp.bmat([[W, sp.csr_matrix((n, 1))], [sp.csr_matrix((1, n)), sp.csr_matrix((1, 1))]], format="csr")


def rho_grid(bounds: tuple[float, float]) -> np.ndarray:
    lo, hi = bounds
    return np.array([0.9 * lo, 0.5 * lo, 0.0, 0.3 * hi, 0.7 * hi, 0.95 * hi])


# Small weights matrices covering the structures the engine distinguishes.
CASES = {
    # symmetric binary contiguity, row-standardised: W = D^-1 C, real spectrum
    "lattice_rook_r": lambda: lattice_w(9, 11, rook=True).sparse,
    "lattice_queen_r": lambda: lattice_w(8, 9, rook=False).sparse,
    # asymmetric k-nearest neighbours: complex spectrum
    "knn_r": lambda: knn_w(150, 5, seed=7).sparse,
    # not row-standardised, symmetric (binary queen contiguity)
    "lattice_queen_b": lambda: lattice_w(8, 9, rook=False, transform="b").sparse,
    # not row-standardised, asymmetric (binary kNN): Hessenberg sums
    "knn_b": lambda: knn_w(120, 4, seed=3, transform="b").sparse,
    # row-standardised with an island: rows sum to 1 or 0
    "knn_r_island": lambda: with_island(knn_w(100, 4, seed=5).sparse),
    "lattice_r_island": lambda: with_island(lattice_w(7, 8).sparse),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    W = sp.csr_matrix(CASES[request.param]())
    return request.param, W, W.toarray()


# ------------------------------------------------------------ exact: eigen
def test_eigen_matches_bruteforce(case):
    name, W, Wd = case
    eng = make_logdet(W, "eigen")
    assert isinstance(eng, EigenLogDet) and isinstance(eng, LogDet)
    assert eng.strategy == "eigen" and eng.exact and eng.n == W.shape[0]
    rhos = rho_grid(eng.bounds)
    ref = brute_many(Wd, rhos)
    for m in METHODS:
        got = getattr(eng, m)(rhos)
        np.testing.assert_allclose(got, ref[m], rtol=1e-10, atol=1e-10 * W.shape[0], err_msg=f"{name}: {m}")


def test_eigen_detects_real_spectrum():
    assert make_logdet(lattice_w(6, 7).sparse, "eigen").real  # D^-1 C
    assert make_logdet(lattice_w(6, 7, transform="b").sparse, "eigen").real  # symmetric
    assert not make_logdet(knn_w(80, 4, seed=1).sparse, "eigen").real  # kNN
    # symmetric C with general positive weights, row-standardised
    rng = np.random.default_rng(0)
    C = sp.triu(sp.random(60, 60, density=0.1, random_state=1), 1)
    C = (C + C.T).tocsr()
    C.data = rng.uniform(0.5, 2.0, C.nnz)
    C = ((C + C.T) * 0.5).tocsr()
    rs = np.asarray(C.sum(axis=1)).ravel()
    rs[rs == 0] = 1.0
    Wr = sp.diags(1.0 / rs) @ C
    eng = make_logdet(Wr, "eigen")
    assert eng.real
    rhos = rho_grid(eng.bounds)
    ref = brute_many(Wr.toarray(), rhos)
    for m in METHODS:
        np.testing.assert_allclose(getattr(eng, m)(rhos), ref[m], rtol=1e-10, atol=1e-9, err_msg=m)


# --------------------------------------------------------------- exact: lu
def test_lu_matches_bruteforce(case):
    name, W, Wd = case
    eng = make_logdet(W, "lu", draws=64, seed=1)
    assert isinstance(eng, LULogDet) and eng.strategy == "lu" and eng.exact
    rhos = rho_grid(eng.bounds)
    ref = brute_many(Wd, rhos)
    for m in ("logdet", "sum_S", "sum_SW"):  # exact
        np.testing.assert_allclose(getattr(eng, m)(rhos), ref[m], rtol=1e-10, atol=1e-10 * W.shape[0], err_msg=f"{name}: {m}")
    # Hutchinson traces on small N: loose, scale-relative check
    n = W.shape[0]
    for m in ("tr_G", "tr_G2", "tr_GtG", "tr_S"):
        got = getattr(eng, m)(rhos)
        scale = np.maximum(np.abs(ref[m]), np.abs(ref["tr_GtG"]))
        assert np.all(np.abs(got - ref[m]) <= 0.05 * scale + 1e-8 * n), f"{name}: {m} {got} {ref[m]}"
    # at rho = 0 the control variates make the traces exact
    r0 = brute(Wd, 0.0)
    for m in ("tr_G", "tr_G2", "tr_GtG", "tr_S"):
        assert getattr(eng, m)(0.0) == pytest.approx(r0[m], rel=1e-9, abs=1e-9), m


def test_lu_reordered_factorisation_answers_for_i_minus_rho_w(case):
    """One fill-reducing order for every rho: solves (A x = b, A'x = b, real and complex rho), the
    log-determinant and the exact tr(G'G) are those of I - rho W itself (dense references)."""
    name, W, Wd = case
    eng = make_logdet(W, "lu")
    n = W.shape[0]
    b = np.random.default_rng(0).normal(size=(n, 3))
    for rho in rho_grid(eng.bounds)[[1, 3, 4]]:
        A = np.eye(n) - rho * Wd
        lu = eng._factor(float(rho))
        reordered = isinstance(lu, L._Reordered)
        assert reordered == eng._dominant(float(rho)), name
        for trans, M in (("N", A), ("T", A.T)):
            np.testing.assert_allclose(lu.solve(b, trans=trans), np.linalg.solve(M, b), rtol=1e-10, atol=1e-12)
        assert eng.logdet(float(rho)) == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-12, abs=1e-12)
        G = Wd @ np.linalg.inv(A)
        assert eng.tr_GtG(float(rho)) == pytest.approx(np.sum(G * G), rel=1e-11), name
    rho = 0.3 * eng.bounds[1]
    if eng._dominant(rho):
        z = eng._splu(complex(rho, 1e-3))
        Az = np.eye(n) - complex(rho, 1e-3) * Wd
        np.testing.assert_allclose(z.solve(b.astype(complex)), np.linalg.solve(Az, b), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------- mc, small
def test_mc_small_matches_bruteforce(case):
    """Small N (worst case for the 1/sqrt(N draws) error): loose check."""
    name, W, Wd = case
    eng = make_logdet(W, "mc", seed=2)
    assert isinstance(eng, MCLogDet) and eng.strategy == "mc" and not eng.exact
    rhos = np.array([-0.8, -0.4, 0.0, 0.3, 0.6, 0.8]) / eng.radius
    ref = brute_many(Wd, rhos)
    for m in ("sum_S", "sum_SW"):  # exact moments or N/(1 - rho)
        np.testing.assert_allclose(getattr(eng, m)(rhos), ref[m], rtol=1e-9, err_msg=f"{name}: {m}")
    n = W.shape[0]
    for m in ("logdet", "tr_G", "tr_G2", "tr_GtG", "tr_S"):
        got = getattr(eng, m)(rhos)
        assert np.all(np.abs(got - ref[m]) <= 0.05 * np.abs(ref[m]) + 0.002 * n), f"{name}: {m}\n{got}\n{ref[m]}"


# -------------------------------------------- accuracy at N = 2,000 (kNN)
@pytest.fixture(scope="module")
def knn2000():
    w = knn_w(2000, 6, seed=20240611)
    W = w.sparse.tocsr()
    exact = make_logdet(W, "eigen")  # complex spectrum: eigvals, ~2 s
    dense = {r: brute(W.toarray(), r) for r in (-0.5, 0.5, 0.9)}  # for tr(G'G)
    return W, exact, dense


RHO_ACC = np.array([-0.9, -0.5, 0.2, 0.5, 0.7, 0.9])
# documented relative tolerances of "mc" with the defaults (5x the RMS error
# measured over 20 seeds), by |rho| in (<= 0.5, 0.7, 0.9)
MC_TOL = {
    "logdet": (1e-4, 5e-4, 3e-3),
    "tr_G": (3e-4, 1.5e-3, 1e-2),
    "tr_G2": (1e-3, 5e-3, 3e-2),
    "tr_GtG": (2e-3, 5e-3, 3e-2),
}
LU_TOL = {"tr_G": (1e-3, 3e-3, 1.5e-2), "tr_G2": (3e-3, 8e-3, 4e-2), "tr_GtG": (3e-3, 8e-3, 4e-2)}


def _tol(table, m, rhos):
    a = np.abs(rhos)
    lo, mid, hi = table[m]
    return np.where(a <= 0.5, lo, np.where(a <= 0.7, mid, hi))


@pytest.mark.parametrize("seed", [0, 1])
def test_mc_accuracy_knn_2000(knn2000, seed):
    W, exact, dense = knn2000
    eng = make_logdet(W, "mc", seed=seed)
    assert eng.draws == L.default_draws(2000) and eng.order == L.DEFAULT_ORDER
    for m in ("logdet", "tr_G", "tr_G2"):
        ref = getattr(exact, m)(RHO_ACC)
        rel = np.abs(getattr(eng, m)(RHO_ACC) - ref) / np.abs(ref)
        assert np.all(rel <= _tol(MC_TOL, m, RHO_ACC)), f"{m}: {rel}"
    for r, ref in dense.items():
        rel = abs(eng.tr_GtG(r) - ref["tr_GtG"]) / ref["tr_GtG"]
        assert rel <= _tol(MC_TOL, "tr_GtG", np.array([r]))[0], (r, rel)
        assert eng.sum_S(r) == pytest.approx(ref["sum_S"], rel=1e-10)
        assert eng.sum_SW(r) == pytest.approx(ref["sum_SW"], rel=1e-10)
    # the reported Monte Carlo standard error is of the right size
    err = np.abs(eng.logdet(RHO_ACC) - exact.logdet(RHO_ACC))
    assert np.all(err <= 6 * eng.logdet_se(RHO_ACC) + 1e-12)


def test_lu_accuracy_knn_2000(knn2000):
    W, exact, dense = knn2000
    eng = make_logdet(W, "lu", seed=0)
    np.testing.assert_allclose(eng.logdet(RHO_ACC), exact.logdet(RHO_ACC), rtol=1e-10)
    for m in ("tr_G", "tr_G2"):
        ref = getattr(exact, m)(RHO_ACC)
        rel = np.abs(getattr(eng, m)(RHO_ACC) - ref) / np.abs(ref)
        assert np.all(rel <= _tol(LU_TOL, m, RHO_ACC)), f"{m}: {rel}"
    for r in (-0.5, 0.9):  # exact (N solves) up to GTG_EXACT_MAX units
        assert eng.tr_GtG(r) == pytest.approx(dense[r]["tr_GtG"], rel=1e-10)


def test_lu_gtg_estimated_above_the_exact_cut_off(knn2000, monkeypatch):
    """Above GTG_EXACT_MAX units "lu" estimates tr(G'G) by Hutchinson with control variates: within the
    documented error, and named in the summary of a fit with the expected information."""
    import spillover.spatial.logdet as logdet_mod

    W, exact, dense = knn2000
    monkeypatch.setattr(logdet_mod, "GTG_EXACT_MAX", 1000)
    eng = make_logdet(W, "lu", seed=0)
    for r in (-0.5, 0.9):
        rel = abs(eng.tr_GtG(r) - dense[r]["tr_GtG"]) / dense[r]["tr_GtG"]
        assert 0 < rel <= _tol(LU_TOL, "tr_GtG", np.array([r]))[0]
    import spillover as sp

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2 * W.shape[0], 1))
    y = x[:, 0] + rng.normal(size=len(x))
    fits = {c: sp.SAR.from_arrays(y, x, W, 2, logdet="lu", cov=c).fit() for c in ("information", "hessian")}
    assert "Hutchinson" in fits["information"].summary() and "Hutchinson" not in fits["hessian"].summary()


def test_mc_accuracy_lattice_bipartite():
    """Rook lattice: bipartite, spectrum symmetric about 0, t_k = 0 for odd k."""
    W = lattice_w(30, 30).sparse
    exact = make_logdet(W, "eigen")
    eng = make_logdet(W, "mc", seed=0)
    for m in ("logdet", "tr_G"):
        ref = getattr(exact, m)(RHO_ACC)
        rel = np.abs(getattr(eng, m)(RHO_ACC) - ref) / np.abs(ref)
        assert np.all(rel <= 3 * _tol(MC_TOL, m, RHO_ACC)), f"{m}: {rel}"


def test_mc_non_row_standardised_scaling():
    """Binary W: the series runs in x = rho r with r the spectral radius."""
    W = lattice_w(40, 40, rook=False, transform="b").sparse
    exact = make_logdet(W, "eigen")
    eng = make_logdet(W, "mc", seed=0)
    r = float(np.max(np.abs(exact.eigenvalues)))
    assert eng.radius == pytest.approx(r, rel=1e-6)
    assert eng.bounds[1] == pytest.approx(1 / r, rel=1e-5) and eng.bounds[0] == pytest.approx(-1 / r, rel=1e-5)
    rhos = np.array([-0.8, -0.3, 0.3, 0.6, 0.85]) / r
    for m in ("logdet", "tr_G"):
        ref = getattr(exact, m)(rhos)
        np.testing.assert_allclose(getattr(eng, m)(rhos), ref, rtol=5e-3)
    n = W.shape[0]
    for r in rhos:  # exact sums by sparse solves
        A = (sp.identity(n) - r * W).tocsc()
        assert eng.sum_S(r) == pytest.approx(spla.spsolve(A, np.ones(n)).sum(), rel=1e-9)
        assert eng.sum_SW(r) == pytest.approx(spla.spsolve(A, W @ np.ones(n)).sum(), rel=1e-9)


# ------------------------------------------------------------ derivatives
@pytest.mark.parametrize("strategy", ["eigen", "mc"])
def test_derivative_identities(strategy):
    """d logdet/d rho = -tr_G, d tr_G/d rho = tr_G2, tr_S = N + rho tr_G."""
    W = knn_w(300, 6, seed=11).sparse
    eng = make_logdet(W, strategy, seed=0)
    h = 1e-5
    for r in (-0.7, 0.1, 0.6, 0.9):
        d_ld = (eng.logdet(r + h) - eng.logdet(r - h)) / (2 * h)
        assert d_ld == pytest.approx(-eng.tr_G(r), rel=1e-6)
        d_g = (eng.tr_G(r + h) - eng.tr_G(r - h)) / (2 * h)
        assert d_g == pytest.approx(eng.tr_G2(r), rel=1e-5)
        assert eng.tr_S(r) == pytest.approx(eng.n + r * eng.tr_G(r), rel=1e-12)


# ------------------------------------------------------ vectorised inputs
@pytest.mark.parametrize("strategy", ["eigen", "lu", "mc"])
def test_scalar_and_vector_rho(strategy):
    W = knn_w(200, 5, seed=4).sparse
    eng = make_logdet(W, strategy)
    rhos = np.array([-0.4, 0.1, 0.55])
    for m in METHODS:
        vec = getattr(eng, m)(rhos)
        assert isinstance(vec, np.ndarray) and vec.shape == (3,)
        sc = [getattr(eng, m)(float(r)) for r in rhos]
        assert all(isinstance(v, float) for v in sc)
        np.testing.assert_allclose(vec, sc, rtol=1e-12)
        assert isinstance(getattr(eng, m)(np.float64(0.2)), float)
        assert getattr(eng, m)(list(rhos)).shape == (3,)
    with pytest.raises(SpecificationError):
        eng.logdet(np.zeros((2, 2)))


def test_many_draws_vectorised_fast():
    """Impacts by simulation: tr_S, sum_S at 1,000 draws in one call."""
    W = knn_w(800, 6, seed=9).sparse
    draws = np.random.default_rng(0).uniform(-0.5, 0.8, 1000)
    for strategy in ("eigen", "mc"):
        eng = make_logdet(W, strategy)
        ts, ss = eng.tr_S(draws), eng.sum_S(draws)
        assert ts.shape == ss.shape == (1000,)
        np.testing.assert_allclose(ss, 800 / (1 - draws), rtol=1e-12)  # row-standardised


# ----------------------------------------------------------------- bounds
def test_bounds_real_spectrum():
    W = lattice_w(8, 9, rook=False, transform="b").sparse  # symmetric, binary
    lam = la.eigvalsh(W.toarray())
    exact = (1 / lam[0], 1 / lam[-1])
    eps = L.DEFAULT_EPS
    eng = make_logdet(W, "eigen")
    assert eng.bounds == pytest.approx((exact[0] * (1 - eps), exact[1] * (1 - eps)), rel=1e-12)
    lu = make_logdet(W, "lu")
    assert exact[0] < lu.bounds[0] < 0.99 * exact[0]  # conservative, close (ARPACK, widened)
    assert exact[1] * (1 - 1e-3) < lu.bounds[1] < exact[1]
    # row-standardised: the upper bound is 1
    Wr = lattice_w(8, 9, rook=False).sparse
    lam_r = np.sort(np.real(la.eigvals(Wr.toarray())))
    for strategy in ("eigen", "lu"):
        b = make_logdet(Wr, strategy).bounds
        assert b[1] == pytest.approx(1 - eps, abs=1e-12)
        assert 1 / lam_r[0] <= b[0] <= 0.99 / lam_r[0]
    assert make_logdet(Wr, "mc").bounds == pytest.approx((-(1 - eps), 1 - eps))


def test_bounds_complex_spectrum():
    W = knn_w(150, 5, seed=7).sparse
    eps = L.DEFAULT_EPS
    for strategy in ("eigen", "lu", "mc"):
        assert make_logdet(W, strategy).bounds == pytest.approx((-(1 - eps), 1 - eps), rel=1e-9)
    Wb = knn_w(150, 5, seed=7, transform="b").sparse  # spectral radius 5
    for strategy in ("eigen", "lu", "mc"):
        assert make_logdet(Wb, strategy).bounds == pytest.approx((-(1 - eps) / 5, (1 - eps) / 5), rel=1e-6)


def test_mc_refuses_outside_bounds():
    eng = make_logdet(knn_w(100, 4, seed=1).sparse, "mc")
    with pytest.raises(SpecificationError, match="bounds"):
        eng.logdet(1.0)
    with pytest.raises(SpecificationError):
        eng.tr_G(np.array([0.2, -1.2]))


# ----------------------------------------------------------- reproducible
@pytest.mark.parametrize("strategy", ["lu", "mc"])
def test_same_seed_same_numbers(strategy):
    W = knn_w(400, 6, seed=2).sparse
    rhos = np.array([-0.5, 0.3, 0.8])
    a, b, c = (make_logdet(W, strategy, seed=s) for s in (5, 5, 6))
    for m in ("logdet", "tr_G", "tr_G2", "tr_GtG"):
        assert np.array_equal(getattr(a, m)(rhos), getattr(b, m)(rhos)), m
    if strategy == "lu":  # every trace exact at N = 400, so seed-free
        for m in ("tr_G", "tr_G2", "tr_GtG"):
            assert np.array_equal(getattr(a, m)(rhos), getattr(c, m)(rhos)), m
    else:
        assert not np.array_equal(a.tr_G(rhos), c.tr_G(rhos))


def test_lu_traces_exact_and_fast_at_many_rho():
    """"lu": tr(G) by the complex step equals the dense trace to rounding; tr(G^2) to 1e-9; at 1,000 draws of rho
    the Chebyshev interpolation of the exact tr(G) equals the dense traces to 1e-12 relative."""
    W = knn_w(300, 6, seed=4).sparse
    wd = W.toarray()
    eng = make_logdet(W, "lu")

    def dense(r):
        g = wd @ np.linalg.inv(np.eye(300) - r * wd)
        return np.trace(g), np.trace(g @ g)

    for r in (-0.7, 0.0, 0.45, 0.93):
        tg, tg2 = dense(r)
        assert eng.tr_G(r) == pytest.approx(tg, rel=1e-13, abs=1e-12)
        assert eng.tr_G2(r) == pytest.approx(tg2, rel=1e-9)
    draws = np.random.default_rng(0).normal(0.55, 0.05, 1000)
    got = eng.tr_S(draws)
    check = np.r_[np.argmin(draws), np.argmax(draws), np.arange(20)]  # the ends and 20 others
    want = np.array([300 + r * dense(r)[0] for r in draws[check]])
    np.testing.assert_allclose(got[check], want, rtol=1e-12)
    assert len(eng._tr_g) <= 4 * 4 + 65 + 4  # at most 65 factorisations for the 1,000 draws, not 1,000


def test_interpolated_traces_exact_over_a_wide_range_of_rho():
    """Draws of rho spread over most of the admissible interval (a small or weak sample): the interpolation refines
    (more points, then halves of the range) until tr(G), and tr(S W_x) with a separate w_x, match dense traces."""
    from spillover.spatial.impacts import CrossTraces

    W = knn_w(300, 6, seed=4).sparse
    wd = W.toarray()
    wx = knn_w(300, 3, seed=9).sparse
    eng, cross = make_logdet(W, "lu"), CrossTraces(W, wx)
    draws = np.random.default_rng(1).uniform(-0.6, 0.97, 1000)
    check = np.r_[np.argmin(draws), np.argmax(draws), np.arange(25)]
    inv = [np.linalg.inv(np.eye(300) - r * wd) for r in draws[check]]
    np.testing.assert_allclose(eng.tr_G(draws)[check], [np.trace(wd @ s) for s in inv], rtol=1e-12)
    np.testing.assert_allclose(cross.values(draws)[0][check], [np.trace(s @ wx.toarray()) for s in inv], rtol=1e-12)
    np.testing.assert_allclose(cross.values(draws)[1][check], [s.sum(0) @ wx.toarray().sum(1) for s in inv],
                               rtol=1e-12)
    assert len(eng._tr_g) < 1000  # still interpolated, not one factorisation per draw


# ------------------------------------------------------ inputs and factory
def test_accepts_pysal_sparse_and_dense():
    w = lattice_w(5, 6)
    rhos = np.array([-0.3, 0.4])
    ref = make_logdet(w.sparse, "eigen").logdet(rhos)
    for obj in (w, w.sparse.tocsc(), w.full()[0]):
        np.testing.assert_allclose(make_logdet(obj, "eigen").logdet(rhos), ref, rtol=1e-13)
    with pytest.raises(WeightsError):
        make_logdet(np.ones((3, 4)))
    with pytest.raises(WeightsError):
        make_logdet(np.array([[0.0, np.nan], [1.0, 0.0]]))


def test_choose_strategy_and_auto():
    assert choose_strategy(31) == "eigen"
    assert choose_strategy(400) == "eigen" and choose_strategy(401) == "lu"
    assert choose_strategy(1000, real_spectrum=True) == "eigen"
    assert choose_strategy(1001, real_spectrum=True) == "lu"
    assert choose_strategy(3000) == "lu" and choose_strategy(3001, real_spectrum=True) == "mc"
    assert choose_strategy(500, n_eigen_max=100) == "lu"
    assert make_logdet(knn_w(50, 4, seed=0).sparse).strategy == "eigen"
    assert make_logdet(knn_w(1200, 4, seed=0).sparse).strategy == "lu"
    assert make_logdet(lattice_w(35, 40).sparse, n_eigen_max=1000).strategy == "lu"
    assert make_logdet(knn_w(3100, 4, seed=0).sparse).strategy == "mc"
    with pytest.raises(SpecificationError, match="strategy"):
        make_logdet(lattice_w(3, 3).sparse, "cholesky")


def test_lu_mc_never_densify(monkeypatch):
    """The large-N strategies work on sparse matrices only."""
    W = knn_w(600, 6, seed=8).sparse.tocsr()

    def refuse(*args, **kwargs):
        raise AssertionError("dense N x N matrix formed")

    monkeypatch.setattr(sp.csr_matrix, "toarray", refuse)
    monkeypatch.setattr(sp.csc_matrix, "toarray", refuse)
    monkeypatch.setattr(np, "eye", refuse)
    for strategy in ("lu", "mc"):
        eng = make_logdet(W, strategy)
        for m in METHODS:
            getattr(eng, m)(np.array([0.1, 0.5]))
        _ = eng.bounds


def test_results_and_tables_say_when_the_log_determinant_is_approximated():
    """An estimate with logdet='mc' says so in its summary and in a table note; an exact one does not."""
    import spillover as spl
    from spillover.report.tables import Table

    W = knn_w(120, 5, seed=1).sparse
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120 * 4, 1))
    y = x[:, 0] + rng.normal(size=480)
    fits = {s: spl.SAR.from_arrays(y, x, W, 4, fe="entity", logdet=s).fit() for s in ("mc", "lu")}
    assert "Monte Carlo (Barry & Pace 1999), an approximation" in fits["mc"].summary()
    assert "Monte Carlo" not in fits["lu"].summary()
    notes = " ".join(Table.from_results(list(fits.values()), ["MC", "LU"]).notes)
    assert "MC: log-determinant and traces by Monte Carlo" in notes and "LU:" not in notes
