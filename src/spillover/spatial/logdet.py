"""Log-determinant and trace engine for maximum-likelihood spatial models.

For a sparse ``N x N`` spatial weights matrix ``W`` and a scalar autoregressive
parameter ``rho`` the concentrated likelihoods of the SAR / SEM / SDM / SAC
family need (Ord 1975; LeSage & Pace 2009, ch. 3-4; Lee & Yu 2010)

* ``logdet(rho) = log|det(I - rho W)|`` (the Jacobian),
* ``tr_G(rho)   = tr(G)`` with ``S = (I - rho W)^-1`` and ``G = W S``, so that
  ``d logdet / d rho = -tr_G``,
* ``tr_G2(rho)  = tr(G G)`` and ``tr_GtG(rho) = tr(G' G)`` (information matrix),
* ``tr_S(rho)   = tr(S) = N + rho tr(G)`` (direct impacts),
* ``sum_S(rho)  = 1' S 1`` and ``sum_SW(rho) = 1' S W 1`` (total impacts).

Three interchangeable strategies implement the :class:`LogDet` protocol; every
method takes a scalar (returns a float) or a 1-d array of ``rho`` (returns an
array of the same length):

``"eigen"`` (:class:`EigenLogDet`)
    Exact. Eigenvalues once (Ord 1975); closed forms for the log-determinant
    and ``tr(f(W))`` traces. When ``W`` is diagonally similar to a symmetric
    matrix (``W`` symmetric, or ``W = D^-1 C`` with ``C`` symmetric, which
    covers every row-standardised symmetric weights matrix) the spectrum is
    real and is computed with ``eigvalsh`` on ``D^1/2 W D^-1/2``; otherwise
    (e.g. k-nearest-neighbour ``W``) with ``eigvals`` (complex).
``"lu"`` (:class:`LULogDet`)
    Exact log-determinant from a sparse LU factorisation of ``I - rho W``
    (Pace & Barry 1997); ``tr_G`` by the complex step and ``tr_G2`` by its
    derivative, exact; ``tr_GtG`` exact by N solves up to 3,000 units, above
    by Hutchinson (1990) trace estimation with seeded Rademacher vectors and
    control variates; ``sum_S``, ``sum_SW`` exact by sparse solves.
``"mc"`` (:class:`MCLogDet`)
    Barry & Pace (1999) Monte Carlo log-determinant: power-series traces
    ``tr(W^k)`` estimated once; every quantity is then a polynomial in
    ``rho`` plus a tail correction, evaluated vectorised at any number of
    ``rho`` values.

:func:`make_logdet` builds one, :func:`choose_strategy` is the automatic rule
("eigen" up to N = 400, or 1,000 for a real spectrum; "lu" up to 3,000; "mc" above).

Measured cost (2 cores; row-standardised 6-nearest-neighbour ``W``): "mc" at
N = 5,000 builds in 0.08 s, at N = 100,000 (600k non-zeros) in 1.4-1.6 s
with 0.2 GB extra memory; afterwards 50 ``logdet`` calls take under 0.01 s
and ``tr_S``/``sum_S`` at 1,000 draws 0.02 s. "eigen" takes 0.45 s at N =
1,000 (complex spectrum), 0.35 s at N = 2,000 (real spectrum). "lu" costs
one sparse LU per ``rho``: 0.5 s at N = 100,000. "lu" and "mc" never form a
dense N x N matrix.

Admissible interval (``bounds``)
--------------------------------
``I - rho W`` is singular exactly at ``rho = 1/lambda`` for real eigenvalues
``lambda`` of ``W``; ``bounds`` is an open interval around 0 that contains no
such point, shrunk towards 0 by the relative margin ``eps`` (default 1e-6):

* real spectrum (``W`` symmetric or diagonally symmetrisable), strategies
  ``"eigen"`` and ``"lu"``: ``(1/lambda_min, 1/lambda_max)``. For ``"lu"`` the
  extreme eigenvalues come from Lanczos (ARPACK) on ``D^1/2 W D^-1/2`` and are
  widened by the ARPACK residual bound, so the interval stays admissible.
* complex spectrum (any strategy) and strategy ``"mc"`` (any spectrum):
  ``(-1/r, 1/r)`` with ``r`` the spectral radius of ``W``; this is the set on
  which every ``|rho lambda| < 1``, hence admissible, and the disc on which the
  power series of ``"mc"`` converges. For a non-negative row-standardised
  ``W`` (rows summing to 1, or 0 for islands) ``r = 1`` is used without
  computation, giving the customary ``(-1, 1)`` (LeSage & Pace 2009, sec. 4.1).

References
----------
Barry, R. P. & Pace, R. K. (1999). Monte Carlo estimates of the log determinant
    of large sparse matrices. Linear Algebra and its Applications 289, 41-54.
Glasserman, P. (2004). Monte Carlo Methods in Financial Engineering.
    Springer (sec. 4.1, control variates).
Hutchinson, M. F. (1990). A stochastic estimator of the trace of the influence
    matrix for Laplacian smoothing splines. Communications in Statistics -
    Simulation and Computation 19(2), 433-450.
Lee, L.-f. & Yu, J. (2010). Estimation of spatial autoregressive panel data
    models with fixed effects. Journal of Econometrics 154, 165-185.
LeSage, J. & Pace, R. K. (2009). Introduction to Spatial Econometrics. CRC.
Ord, K. (1975). Estimation methods for models of spatial interaction. Journal
    of the American Statistical Association 70(349), 120-126.
Pace, R. K. & Barry, R. (1997). Quick computation of spatial autoregressive
    estimators. Geographical Analysis 29(3), 232-247.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Callable
from functools import cached_property
from typing import Any, Protocol, runtime_checkable

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from scipy.sparse import csgraph

from spillover.errors import SpecificationError, WeightsError, format_error

__all__ = [
    "LogDet",
    "EigenLogDet",
    "LULogDet",
    "MCLogDet",
    "make_logdet",
    "choose_strategy",
    "default_draws",
    "STRATEGIES",
    "DEFAULT_ORDER",
    "DEFAULT_EPS",
    "N_EIGEN_MAX",
    "N_EIGEN_MAX_REAL",
    "N_LU_MAX",
]

STRATEGIES = ("eigen", "lu", "mc")
#: Default power-series order m of the "mc" strategy.
DEFAULT_ORDER = 50
#: Default relative margin by which ``bounds`` is shrunk towards zero.
DEFAULT_EPS = 1e-6
#: "auto" uses exact eigenvalues up to this N whatever the spectrum ...
N_EIGEN_MAX = 400
#: ... and up to this N when W is symmetric or diagonally symmetrisable;
N_EIGEN_MAX_REAL = 1000
#: then exact sparse LU up to this N, and Monte Carlo above (see :func:`choose_strategy`).
N_LU_MAX = 3000
#: Default number of Hutchinson probe vectors of the "lu" strategy.
LU_DRAWS = 32
#: Nested Chebyshev-Lobatto point counts tried in turn when an exact trace is interpolated over many rho
#: (impacts draws; :func:`interpolate_over_rho`); each level reuses the values of the one before.
CHEB_LEVELS = (9, 17, 33, 65)
#: An interpolant is accepted when its last two Chebyshev coefficients are below this fraction of the largest.
CHEB_TOL = 1e-14
#: "lu": tr(G'G) exact (N sparse solves, once per rho of the information matrix) up to this many units, the
#: largest N at which "auto" picks "lu". Measured (row-standardised 6-NN W, 2 cores): 0.05 s at N = 1,000 and
#: 0.47 s at 3,000 (Hutchinson: 0.01 s, 0.04 s, error 3e-4 relative); 13 s at 5,000.
GTG_EXACT_MAX = N_LU_MAX
#: Unit vectors per block of those solves (column-major blocks). Measured at N = 1,000 / 2,000 / 3,000
#: (6-NN W): blocks of 64 take 0.029 / 0.120 / 0.307 s, of 256 0.035 / 0.155 / 0.346 s.
GTG_BLOCK = 64

_ROWSUM_TOL = 1e-10  # |row sum - 1| below which a row counts as standardised
_SYM_TOL = 1e-9  # relative tolerance of the diagonal-symmetrisability check
_BLOCK = 1 << 21  # array elements per vectorised block (bounds temporaries)
_GRAM_BYTES = 128 * 2**20  # memory cap of the stored Krylov block of "mc"
_GRAM_ORDER = 30  # terms of the power series of G z used for tr(G'G) by "mc"
_ARPACK_TOL = 1e-3  # Lanczos tolerance for the "lu" bounds (then widened)
_W2_MAX_NNZ = 10_000_000  # form W^2 (exact tr(W^3), tr(W^4)) only below this size


# --------------------------------------------------------------------- protocol
@runtime_checkable
class LogDet(Protocol):
    """What every strategy offers; see the module docstring for definitions."""

    strategy: str
    n: int
    bounds: tuple[float, float]
    exact: bool

    def logdet(self, rho: Any) -> Any: ...
    def dlogdet(self, rho: Any) -> Any: ...
    def tr_G(self, rho: Any) -> Any: ...
    def tr_G2(self, rho: Any) -> Any: ...
    def tr_GtG(self, rho: Any) -> Any: ...
    def tr_S(self, rho: Any) -> Any: ...
    def sum_S(self, rho: Any) -> Any: ...
    def sum_SW(self, rho: Any) -> Any: ...


# ------------------------------------------------------------------ utilities
def _as_rho(rho: Any) -> tuple[np.ndarray, bool]:
    """Return ``rho`` as a 1-d float array and whether it was a scalar."""
    arr = np.asarray(rho, dtype=float)
    if arr.ndim > 1:
        raise SpecificationError(
            format_error("rho must be a scalar or a 1-d array", shape=arr.shape)
        )
    if not np.all(np.isfinite(arr)):
        raise SpecificationError(format_error("rho must be finite", rho=rho))
    return arr.reshape(-1), arr.ndim == 0


def _out(values: np.ndarray, scalar: bool) -> Any:
    return float(values[0]) if scalar else values


@functools.cache
def _blas_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries (built once, after scipy's SuperLU is loaded)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread(fn):
    """Run ``fn`` with one BLAS thread.

    SuperLU factorises and solves through BLAS calls on small supernodal
    blocks, where a second thread buys nothing and, when the other core is
    busy, waits: the exact ``tr(G'G)`` at N = 2,000 (6-NN) took 0.3-6.8 s with
    two OpenBLAS threads on 2 shared cores and 0.16 s with one. The exact
    log-determinant, ``tr(G)`` and ``tr(G'G)`` came out bitwise the same with
    one and two threads there; the Hutchinson traces (a LAPACK least-squares
    step) differed in the last bit.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _blas_controller().limit(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper


def _rademacher(n: int, p: int, seed: int) -> np.ndarray:
    """``n x p`` matrix of seeded Rademacher (+1/-1) probe vectors.

    The stream is spawned from ``seed`` with a fixed key so that it is
    independent of ``numpy.random.default_rng(seed)``, which a user may have
    used to make the data behind ``W`` (the same stream would correlate the
    probes with the geometry and bias the estimates).
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x7E57,)))
    return rng.integers(0, 2, size=(n, p), dtype=np.int8).astype(float) * 2.0 - 1.0


def _dots(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Column-wise inner products ``a_j' b_j``."""
    return np.einsum("ij,ij->j", A, B)


def _probe_controls(w: _Weights, Z: np.ndarray) -> np.ndarray:
    """Per-probe control variates: Hutchinson errors of traces known exactly.

    Columns (most useful first): ``z'W^k z - tr(W^k)`` for ``k = 4, 3`` (when
    ``W^2`` is formed), ``2, 1``, then ``|Wz|^2 - |W|_F^2`` and, with ``W^2``,
    ``|W^2 z|^2 - |W^2|_F^2`` and ``(Wz)'(W^2 z) - tr(W'W^2)``. Each has
    expectation zero and is strongly correlated with the probe-level error
    of the unknown traces (``z'W^k z``, ``|Gz|^2``, ...).
    """
    WZ, WtZ = w.W @ Z, w.Wt @ Z
    cols: list[np.ndarray] = []
    pw = w.powers
    if pw is not None:
        W2Z, W2tZ = pw["W2"] @ Z, w.Wt @ WtZ
        cols += [_dots(W2tZ, W2Z) - pw["t4"], _dots(WtZ, W2Z) - pw["t3"]]
    cols += [_dots(WtZ, WZ) - w.tr2, _dots(Z, WZ) - w.tr1, _dots(WZ, WZ) - w.fro2]
    if pw is not None:
        cols += [_dots(W2Z, W2Z) - pw["f2"], _dots(WZ, W2Z) - pw["c12"]]
    return np.column_stack(cols)


def _cv_adjust(Y: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, int]:
    """Regression control variates (Glasserman 2004, sec. 4.1.1, eq. 4.9).

    ``Y`` (draws x K) are probe-level estimates, ``X`` (draws x q) controls
    of known zero mean. Returns ``Y - X b`` with ``b`` the least-squares
    slopes of ``Y`` on the first ``q = min(q, draws // 2 - 1)`` controls,
    whose column means are the control-variate estimators and whose spread
    gives their standard errors, and the ``q`` used.
    """
    p = Y.shape[0]
    q = min(X.shape[1], max(0, p // 2 - 1))
    if q == 0:
        return Y, 0
    Xq = X[:, :q]
    sd = Xq.std(axis=0)
    sd[sd == 0] = 1.0
    Xs = Xq / sd
    b = np.linalg.lstsq(Xs - Xs.mean(axis=0), Y - Y.mean(axis=0), rcond=None)[0]
    return Y - Xs @ b, q


def as_csr(W: Any) -> sp.csr_matrix:
    """Coerce a libpysal ``W``/``WSP``, scipy sparse matrix or 2-d array to CSR.

    Returns a float64 copy with sorted indices and explicit zeros removed.
    """
    M = getattr(W, "sparse", W)
    if sp.issparse(M):
        M = sp.csr_matrix(M, dtype=float, copy=True)
    else:
        arr = np.asarray(M, dtype=float)
        if arr.ndim != 2:
            raise WeightsError(
                format_error(
                    "weights must be a 2-d matrix",
                    got=type(W).__name__,
                    hint="pass a libpysal W, a scipy.sparse matrix or a square array",
                )
            )
        M = sp.csr_matrix(arr)
    if M.shape[0] != M.shape[1] or M.shape[0] == 0:
        raise WeightsError(format_error("weights matrix must be square and non-empty", shape=M.shape))
    M.sum_duplicates()
    M.eliminate_zeros()
    M.sort_indices()
    if not np.all(np.isfinite(M.data)):
        raise WeightsError(format_error("weights matrix has non-finite entries"))
    return M


class _Weights:
    """Structural facts about ``W`` shared by all strategies (all O(nnz))."""

    def __init__(self, W: Any):
        self.W = as_csr(W)
        self.n = int(self.W.shape[0])
        self.Wt = self.W.T.tocsr()
        self.Wt.sort_indices()
        self.row_sums = np.asarray(self.W.sum(axis=1)).ravel()
        self.nonneg = bool(self.W.nnz == 0 or self.W.data.min() >= 0)
        ones = np.abs(self.row_sums - 1.0) <= _ROWSUM_TOL
        zeros = np.abs(self.row_sums) <= _ROWSUM_TOL
        #: every row sums to one: W 1 = 1, so 1'S1 = 1'SW1 = N / (1 - rho)
        self.row_standardised = bool(np.all(ones))
        #: non-negative, rows sum to 1 or 0: spectral radius <= 1 (Gershgorin)
        self.stochastic = self.nonneg and bool(np.all(ones | zeros))
        self.tr1 = float(self.W.diagonal().sum())  # tr(W)
        self.tr2 = float(self.W.multiply(self.Wt).sum())  # tr(W^2) = sum(W .* W')
        self.fro2 = float(np.dot(self.W.data, self.W.data))  # tr(W'W)

    @cached_property
    def powers(self) -> dict[str, Any] | None:
        """``W^2`` and the exact ``tr(W^3)``, ``tr(W^4)``, ``|W^2|_F^2``, ``tr(W'W^2)``.

        One sparse product; None when the product would have more than
        ``_W2_MAX_NNZ`` entries (dense-ish ``W``), and the engines then do
        without these exact moments.
        """
        W = self.W
        if int(np.diff(W.indptr)[W.indices].sum()) > _W2_MAX_NNZ:
            return None
        W2 = (W @ W).tocsr()
        W2.sort_indices()
        return {
            "W2": W2,
            "t3": float(W2.multiply(self.Wt).sum()),
            "t4": float(W2.multiply(W2.T.tocsr()).sum()),
            "f2": float(np.dot(W2.data, W2.data)),
            "c12": float(W.multiply(W2).sum()),
        }

    # -- symmetrisability -------------------------------------------------
    @cached_property
    def log_d(self) -> np.ndarray | None:
        """``log d`` with ``diag(d) W`` symmetric, or None if there is none.

        Along a spanning forest of the graph of ``W``, ``d_j / d_i =
        W_ij / W_ji``; the forest is rooted at a virtual node joined to one
        node of every component and accumulated by pointer jumping. The
        candidate is then checked on every edge. Each component's ``log d``
        is centred at zero (the scale of ``d`` per component is free).
        """
        W, Wt, n = self.W, self.Wt, self.n
        if not (np.array_equal(W.indptr, Wt.indptr) and np.array_equal(W.indices, Wt.indices)):
            return None  # pattern not symmetric
        scale = max(float(np.abs(W.data).max(initial=0.0)), 1e-300)
        if np.all(np.abs(W.data - Wt.data) <= 1e-14 * scale):
            return np.zeros(n)  # symmetric
        if np.any(W.data * Wt.data <= 0):
            return None
        ncomp, labels = csgraph.connected_components(W, directed=False)
        roots = np.unique(labels, return_index=True)[1]
        aug = sp.bmat(
            [
                [abs(W), sp.csr_matrix((n, 1))],
                [sp.csr_matrix((np.ones(ncomp), (np.zeros(ncomp, int), roots)), shape=(1, n)), sp.csr_matrix((1, 1))],
            ],
            format="csr",
        )
        _, pred = csgraph.breadth_first_order(aug, n, directed=False, return_predecessors=True)
        par = pred.copy()
        par[n] = n
        off = np.zeros(n + 1)
        child = np.flatnonzero(par[:n] != n)
        p = par[child]
        wpc = np.asarray(W[p, child]).ravel()
        wcp = np.asarray(W[child, p]).ravel()
        off[child] = np.log(wpc / wcp)  # log d_child - log d_parent
        while True:  # pointer jumping: off[v] becomes log d_v relative to the root
            nxt = par[par]
            if np.array_equal(nxt, par):
                break
            off = off + off[par]
            par = nxt
        ld = off[:n]
        ld = ld - np.bincount(labels, ld, ncomp)[labels] / np.bincount(labels, minlength=ncomp)[labels]
        rows = np.repeat(np.arange(n), np.diff(W.indptr))
        mismatch = ld[rows] + np.log(np.abs(W.data)) - ld[W.indices] - np.log(np.abs(Wt.data))
        if np.max(np.abs(mismatch), initial=0.0) > _SYM_TOL:
            return None
        return ld

    @property
    def real_spectrum(self) -> bool:
        """True when ``W`` is similar to a symmetric matrix (real eigenvalues)."""
        return self.log_d is not None

    def symmetric_similar(self) -> sp.csr_matrix:
        """Sparse symmetric ``A = D^1/2 W D^-1/2`` (requires ``real_spectrum``)."""
        ld = self.log_d
        assert ld is not None
        s = np.exp(0.5 * ld)
        A = (sp.diags(s) @ self.W @ sp.diags(1.0 / s)).tocsr()
        return ((A + A.T) * 0.5).tocsr()

    # -- spectrum ends ------------------------------------------------------
    def _v0(self) -> np.ndarray:
        return np.random.default_rng(20240611).standard_normal(self.n)

    @cached_property
    def radius(self) -> float:
        """Spectral radius of ``W``, or an upper bound of it.

        1 for a non-negative ``W`` whose rows sum to 1 or 0 (Gershgorin upper
        bound, exact when no row is zero); otherwise dense
        eigenvalues for N <= 64, else ARPACK, inflated by its tolerance. A
        zero radius (nilpotent ``W``) is replaced by 1.
        """
        if self.stochastic:
            return 1.0
        if self.n <= 64:
            r = float(np.max(np.abs(la.eigvals(self.W.toarray()))))
        else:
            tol = 1e-8
            try:
                if self.real_spectrum:
                    ev = sla.eigsh(self.symmetric_similar(), k=1, which="LM", v0=self._v0(),
                                   tol=tol, return_eigenvectors=False)
                else:
                    ev = sla.eigs(self.W, k=1, which="LM", v0=self._v0(), tol=tol,
                                  return_eigenvectors=False)
                r = float(np.max(np.abs(ev))) * (1.0 + tol)
            except sla.ArpackNoConvergence:
                r = float(np.max(np.abs(self.W).sum(axis=1)))  # infinity-norm bound
        return r if r > 0 else 1.0

    @cached_property
    def extreme_real(self) -> tuple[float, float]:
        """``(lambda_min, lambda_max)`` for a real spectrum, widened outwards.

        Lanczos (ARPACK ``eigsh``) on the symmetric similar matrix with
        tolerance ``_ARPACK_TOL``; a Ritz value ``theta`` lies within
        ``tol |theta|`` of an eigenvalue, so ``theta -/+ tol |theta|`` bounds
        the extreme eigenvalue from outside.
        """
        A = self.symmetric_similar()
        if self.n <= 64:
            lam = la.eigvalsh(A.toarray())
            return float(lam[0]), float(lam[-1])
        tol = _ARPACK_TOL
        out = []
        for which in ("SA", "LA"):
            try:
                theta = float(sla.eigsh(A, k=1, which=which, v0=self._v0(), tol=tol,
                                        return_eigenvectors=False)[0])
                out.append(theta - tol * abs(theta) if which == "SA" else theta + tol * abs(theta))
            except sla.ArpackNoConvergence:
                out.append(-self.radius if which == "SA" else self.radius)
        if self.nonneg:  # Perron-Frobenius: lambda_max is the spectral radius
            out[1] = max(out[1], self.radius) if not self.stochastic else 1.0
        return out[0], out[1]


def _interval(lam_min: float, lam_max: float, radius: float, eps: float) -> tuple[float, float]:
    """``(1/lambda_min, 1/lambda_max)`` shrunk by ``eps``; +-1/r if no sign change."""
    lo = 1.0 / lam_min if lam_min < 0 else -1.0 / radius
    hi = 1.0 / lam_max if lam_max > 0 else 1.0 / radius
    return lo * (1.0 - eps), hi * (1.0 - eps)


class _Base:
    """Shared plumbing: structure, bounds, N / (1 - rho) closed forms."""

    strategy = ""
    exact = True

    def __init__(self, weights: _Weights, eps: float):
        self._w = weights
        self.n = weights.n
        self.eps = float(eps)

    @property
    def row_standardised(self) -> bool:
        """True when every row of ``W`` sums to one."""
        return self._w.row_standardised

    def dlogdet(self, rho: Any) -> Any:
        """``d logdet / d rho = -tr(G)``: exact to rounding for "eigen" and for the "mc" series."""
        r, scalar = _as_rho(rho)
        return _out(-np.asarray(self.tr_G(r), dtype=float), scalar)

    def tr_S(self, rho: Any) -> Any:
        """``tr(S) = N + rho tr(G)``, since ``S = I + rho W S``."""
        r, scalar = _as_rho(rho)
        return _out(self.n + r * np.asarray(self.tr_G(r), dtype=float), scalar)

    def _sums_closed(self, r: np.ndarray) -> np.ndarray:
        """``N / (1 - rho)``: ``S 1 = 1 / (1 - rho)`` when ``W 1 = 1``."""
        return self.n / (1.0 - r)

    def _sums(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(1'S1, 1'SW1)`` at each rho of ``r``; each engine computes them its own way."""
        raise NotImplementedError

    def sum_S(self, rho: Any) -> Any:
        """``1' S 1`` (exact for "eigen" and "lu"; exact moments for "mc"; N/(1 - rho) if row-standardised)."""
        r, scalar = _as_rho(rho)
        return _out(self._sums(r)[0], scalar)

    def sum_SW(self, rho: Any) -> Any:
        """``1' S W 1`` (as :meth:`sum_S`)."""
        r, scalar = _as_rho(rho)
        return _out(self._sums(r)[1], scalar)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.n}, bounds={self.bounds})"


# ------------------------------------------------------------------ "eigen"
class EigenLogDet(_Base):
    """Exact log-determinant and traces from the eigenvalues of ``W``.

    Ord (1975, eq. 3.4): ``log|I - rho W| = sum_i log|1 - rho lambda_i|``; by
    the same spectral mapping ``tr(G) = sum lambda/(1 - rho lambda)``,
    ``tr(G^2) = sum [lambda/(1 - rho lambda)]^2`` and ``tr(S) = sum 1/(1 -
    rho lambda)`` (real parts; complex eigenvalues come in conjugate pairs).

    ``tr(G'G)``, ``1'S1`` and ``1'SW1`` are not spectral functions. For a
    diagonally symmetrisable ``W = D^-1/2 Q Lambda Q' D^1/2`` (``Q``
    orthogonal, from ``eigh``) they are exact quadratic forms, vectorised in
    ``rho``: with ``m = lambda/(1 - rho lambda)``, ``tr(G'G) = m' [(Q'D^-1 Q)
    o (Q'DQ)] m``, ``1'S1 = sum a_i b_i/(1 - rho lambda_i)`` and ``1'SW1 =
    sum a_i b_i lambda_i/(1 - rho lambda_i)`` where ``a = Q'D^-1/2 1`` and
    ``b = Q'D^1/2 1``. Otherwise ``tr(G'G)`` is a dense solve per ``rho``
    (cached) and the sums use the Hessenberg form ``W = P H P'`` with one
    O(N^2) banded solve per ``rho`` (cached). For a row-standardised ``W``
    both sums are ``N/(1 - rho)``. Cost O(N^3) once, O(N^2) memory: small N.
    """

    strategy = "eigen"
    exact = True

    def __init__(self, W: Any, *, eps: float = DEFAULT_EPS):
        w = W if isinstance(W, _Weights) else _Weights(W)
        super().__init__(w, eps)
        self.real = w.real_spectrum
        if self.real:
            self._A = w.symmetric_similar().toarray()
            self.eigenvalues: np.ndarray = la.eigvalsh(self._A)
            lam_min, lam_max = float(self.eigenvalues[0]), float(self.eigenvalues[-1])
            radius = max(abs(lam_min), abs(lam_max))
        else:
            self._Wd = w.W.toarray()
            self.eigenvalues = la.eigvals(self._Wd)
            radius = float(np.max(np.abs(self.eigenvalues)))
            lam_min = lam_max = 0.0
        self.radius = radius if radius > 0 else 1.0
        if self.real:
            self.bounds = _interval(lam_min, lam_max, self.radius, self.eps)
        else:
            b = (1.0 - self.eps) / self.radius
            self.bounds = (-b, b)
        self._cache_gtg: dict[float, float] = {}
        self._cache_sums: dict[float, tuple[float, float]] = {}

    def _spectral(self, r: np.ndarray, kind: str) -> np.ndarray:
        lam = self.eigenvalues
        out = np.empty(r.size)
        step = max(1, _BLOCK // lam.size)
        with np.errstate(divide="ignore", invalid="ignore"):
            for s in range(0, r.size, step):
                den = 1.0 - r[s : s + step, None] * lam[None, :]
                if kind == "logdet":
                    out[s : s + step] = np.log(np.abs(den)).sum(axis=1)
                elif kind == "G":
                    out[s : s + step] = np.real((lam / den).sum(axis=1))
                elif kind == "G2":
                    out[s : s + step] = np.real(((lam / den) ** 2).sum(axis=1))
                else:  # "S"
                    out[s : s + step] = np.real((1.0 / den).sum(axis=1))
        return out

    def logdet(self, rho: Any) -> Any:
        """``sum_i log|1 - rho lambda_i|`` (Ord 1975, eq. 3.4)."""
        r, scalar = _as_rho(rho)
        return _out(self._spectral(r, "logdet"), scalar)

    def tr_G(self, rho: Any) -> Any:
        """``sum_i lambda_i / (1 - rho lambda_i)`` (= -d logdet/d rho)."""
        r, scalar = _as_rho(rho)
        return _out(self._spectral(r, "G"), scalar)

    def tr_G2(self, rho: Any) -> Any:
        """``sum_i [lambda_i / (1 - rho lambda_i)]^2``."""
        r, scalar = _as_rho(rho)
        return _out(self._spectral(r, "G2"), scalar)

    def tr_S(self, rho: Any) -> Any:
        """``sum_i 1 / (1 - rho lambda_i)``."""
        r, scalar = _as_rho(rho)
        return _out(self._spectral(r, "S"), scalar)

    # -- symmetrisable: eigenvectors, lazily --------------------------------
    @cached_property
    def _vectors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        lam, Q = la.eigh(self._A)
        ld = self._w.log_d
        assert ld is not None
        s = np.exp(0.5 * ld)  # D^1/2
        ab = (Q.T @ (1.0 / s)) * (Q.T @ s)
        if np.all(ld == 0):
            return lam, ab, None  # symmetric W: Q'D^-1Q o Q'DQ = I
        H = ((Q.T * (1.0 / s**2)) @ Q) * ((Q.T * s**2) @ Q)
        return lam, ab, H

    def tr_GtG(self, rho: Any) -> Any:
        """``tr(G'G)``: exact quadratic form (symmetrisable W) or dense solve."""
        r, scalar = _as_rho(rho)
        out = np.empty(r.size)
        if self.real:
            lam, _, H = self._vectors
            step = max(1, _BLOCK // lam.size)
            for s in range(0, r.size, step):
                m = lam / (1.0 - r[s : s + step, None] * lam)
                out[s : s + step] = (m * m).sum(1) if H is None else ((m @ H) * m).sum(1)
        else:
            eye = np.eye(self.n)
            for i, x in enumerate(r):
                key = float(x)
                if key not in self._cache_gtg:
                    G = la.solve(eye - key * self._Wd, self._Wd, check_finite=False)
                    self._cache_gtg[key] = float(np.sum(G * G))
                out[i] = self._cache_gtg[key]
        return _out(out, scalar)

    @cached_property
    def _hessenberg(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        H, P = la.hessenberg(self._Wd, calc_q=True)
        i, j = np.triu_indices(self.n, k=-1)  # the Hessenberg pattern
        rhs = np.column_stack([P.T @ np.ones(self.n), P.T @ self._w.row_sums])
        return H[i, j], (self.n - 1 + i - j), j, (i == j), rhs

    def _sums(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._w.row_standardised:
            v = self._sums_closed(r)
            return v, v.copy()
        if self.real:
            lam, ab, _ = self._vectors
            s_, sw = np.empty(r.size), np.empty(r.size)
            step = max(1, _BLOCK // lam.size)
            for s in range(0, r.size, step):
                q = ab / (1.0 - r[s : s + step, None] * lam)
                s_[s : s + step] = q.sum(1)
                sw[s : s + step] = (q * lam).sum(1)
            return s_, sw
        hv, brow, bcol, diag, rhs = self._hessenberg
        s_, sw = np.empty(r.size), np.empty(r.size)
        for k, x in enumerate(r):
            key = float(x)
            if key not in self._cache_sums:
                ab = np.zeros((self.n + 1, self.n))
                vals = -key * hv
                vals[diag] += 1.0
                ab[brow, bcol] = vals
                sol = la.solve_banded((1, self.n - 1), ab, rhs, check_finite=False)
                self._cache_sums[key] = (float(rhs[:, 0] @ sol[:, 0]), float(rhs[:, 0] @ sol[:, 1]))
            s_[k], sw[k] = self._cache_sums[key]
        return s_, sw


# --------------------------------------------------------------------- "lu"
def interpolate_over_rho(f: Callable[[float], Any], r: np.ndarray, depth: int = 0) -> np.ndarray:
    """``f`` (rho -> k values, analytic in rho) at every rho of ``r``, from exact values at nested Chebyshev points.

    Chebyshev-Lobatto points of ``[min r, max r]``, 9, 17, 33 then 65 of them
    (:data:`CHEB_LEVELS`; nested, so ``f`` -- which should cache its values --
    is called at most 65 times), until the last two Chebyshev coefficients of
    every component fall below :data:`CHEB_TOL` of its largest (Trefethen 2013,
    *Approximation Theory and Approximation Practice*, ch. 8 and 18: for an
    analytic function they fall geometrically, and the interpolation error is
    of the size of the first omitted ones). When 65 points do not reach that
    (a wide range of rho running towards a singularity of ``f``), each half of
    the range is interpolated on its own, up to four halvings, and then ``f``
    is evaluated at every rho. Few rho (at most 17): ``f`` at each. Returns an
    array ``(len(r), k)``.
    """
    r = np.asarray(r, dtype=float)
    lo, hi = float(r.min()), float(r.max())
    if r.size <= CHEB_LEVELS[1] or hi == lo:
        return np.array([np.atleast_1d(f(float(x))) for x in r], dtype=float)
    top = CHEB_LEVELS[-1] - 1
    for m in CHEB_LEVELS:
        z = -np.cos(np.pi * np.arange(0, top + 1, top // (m - 1)) / top)  # the same floats at every level
        v = np.array([np.atleast_1d(f(lo + (hi - lo) * (t + 1) / 2)) for t in z], dtype=float)
        coef = np.polynomial.chebyshev.chebfit(z, v, m - 1)
        if np.all(np.abs(coef[-2:]).max(axis=0) <= CHEB_TOL * np.abs(coef).max(axis=0)):
            return np.polynomial.chebyshev.chebval(2 * (r - lo) / (hi - lo) - 1, coef).T.reshape(r.size, -1)
    if depth < 4:
        out = np.empty((r.size, v.shape[1]))
        left = r <= (lo + hi) / 2
        out[left] = interpolate_over_rho(f, r[left], depth + 1)
        out[~left] = interpolate_over_rho(f, r[~left], depth + 1)
        return out
    return np.array([np.atleast_1d(f(float(x))) for x in r], dtype=float)


class _Reordered:
    """The sparse LU of ``B = A[order][:, order]`` answering for ``A``: the same ``U`` diagonal (up to order)
    and solves of ``A x = b`` (``B x[order] = b[order]``) or ``A' x = b``."""

    def __init__(self, lu: Any, order: np.ndarray):
        self.lu, self.order = lu, order

    @property
    def U(self) -> Any:
        return self.lu.U

    def solve(self, b: np.ndarray, trans: str = "N") -> np.ndarray:
        out = np.empty_like(b, dtype=np.result_type(b, self.lu.U.dtype))
        out[self.order] = self.lu.solve(np.asarray(b)[self.order], trans=trans)
        return out


class LULogDet(_Base):
    """Exact sparse-LU log-determinant and exact ``tr(G)``, ``tr(G^2)``, ``tr(G'G)`` (Hutchinson above 3,000 units).

    ``log|det(I - rho W)| = sum_i log|U_ii|`` for ``P (I - rho W) Q = L U``
    with unit-diagonal ``L`` (Pace & Barry 1997). The factorisation uses the
    minimum-degree ordering of ``A + A'`` (found once for all ``rho``,
    :attr:`_ordered`) without pivoting when ``I - rho W`` is strictly
    diagonally dominant (always, for row-standardised ``W`` and ``|rho| <
    1``), else COLAMD with partial pivoting; the last two factorisations are
    cached.

    ``tr(G)`` is the complex-step derivative of the exact log-determinant
    (:meth:`tr_G`, exact to rounding), interpolated on Chebyshev points when
    asked at many ``rho`` (impacts draws: typically 17 factorisations whatever
    the number of draws); ``tr(G^2)`` its derivative by a five-point difference
    (:meth:`tr_G2`, 1e-9 relative). ``tr(G'G)`` (the expected information's
    ``rho`` entry) is exact up to :data:`GTG_EXACT_MAX` units (N solves at
    one ``rho``); above, it is estimated: Hutchinson's (1990)
    ``E[z'Bz]`` with ``draws`` seeded Rademacher vectors (the same for every
    ``rho``), ``|Gz|^2`` with ``Gz = W S z`` from LU solves, and regression
    control variates (Glasserman 2004, eq. 4.9) on the Hutchinson errors of
    the exactly known ``tr(W^k)``, ``k <= 4``, ``|W|_F^2``, ``|W^2|_F^2``
    (``_probe_controls``); exact at ``rho = 0``, relative RMS error over 20
    seeds (32 vectors, row-standardised 6-NN ``W``, N = 2,000) 3e-5 / 4e-4 /
    1.5e-3 / 7.5e-3 at ``|rho|`` = 0.2 / 0.5 / 0.7 / 0.9 (checked in
    tests/test_logdet.py); ``cov="hessian"`` avoids it. ``1'S1``, ``1'SW1``
    are exact (one solve, or ``N/(1 - rho)`` for row-standardised ``W``).

    Every ``rho`` costs one factorisation (0.5 s at N = 100,000, 6-NN).
    """

    strategy = "lu"
    exact = True  # log-determinant, tr(G), tr(G^2) and the sums; tr(G'G) up to GTG_EXACT_MAX units

    def __init__(self, W: Any, *, draws: int = LU_DRAWS, seed: int = 0, eps: float = DEFAULT_EPS):
        w = W if isinstance(W, _Weights) else _Weights(W)
        super().__init__(w, eps)
        if draws < 1:
            raise SpecificationError(format_error("draws must be >= 1", draws=draws))
        self.draws, self.seed = int(draws), int(seed)
        self._I = sp.identity(self.n, format="csc")
        self._Wc = w.W.tocsc()
        diag = w.W.diagonal()
        self._diag = diag
        self._off_row = np.asarray(abs(w.W).sum(axis=1)).ravel() - np.abs(diag)
        self._off_col = np.asarray(abs(w.W).sum(axis=0)).ravel() - np.abs(diag)
        self._lu: OrderedDict[float, Any] = OrderedDict()
        self._traces: dict[float, float] = {}  # Hutchinson tr(G'G) above GTG_EXACT_MAX units
        self._tr_g: dict[float, float] = {}
        self._gtg: dict[float, float] = {}

    @cached_property
    def bounds(self) -> tuple[float, float]:  # type: ignore[override]
        w = self._w
        if w.real_spectrum:
            return _interval(*w.extreme_real, w.radius, self.eps)
        b = (1.0 - self.eps) / w.radius
        return (-b, b)

    def _dominant(self, rho: float) -> bool:
        pivot = np.abs(1.0 - rho * self._diag)
        return bool(np.all(abs(rho) * self._off_row < pivot) or np.all(abs(rho) * self._off_col < pivot))

    @cached_property
    def _ordered(self) -> tuple[np.ndarray, Any]:
        """``(order, W[order][:, order])``: the minimum-degree order of ``A + A'`` for every ``A = I - rho W``.

        The order depends only on the pattern of ``A``, the same for every
        ``rho != 0``; it is found once, from ``A`` at a ``rho`` that makes it
        strictly diagonally dominant, and each later factorisation takes the
        reordered matrix as it is (0.003 s instead of 0.005 s at N = 2,000).
        """
        rho0 = 0.5 / (1.0 + float(np.max(np.abs(self._diag))) + float(max(self._off_row.max(), 0.0)))
        first = sla.splu((self._I - rho0 * self._Wc).tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                         options={"SymmetricMode": True})
        order = np.argsort(first.perm_c)
        return order, self._Wc[order][:, order].tocsc()

    def _splu(self, rho: complex) -> Any:
        """Sparse LU of ``I - rho W`` (``rho`` real or complex): no pivoting when diagonally dominant.

        Then the factorisation is of the matrix in :attr:`_ordered`'s order and
        is returned wrapped in :class:`_Reordered`, which solves for ``I - rho W``.
        """
        if self._dominant(rho.real):
            order, w = self._ordered
            lu = sla.splu((self._I - rho * w).tocsc(), permc_spec="NATURAL", diag_pivot_thresh=0.0,
                          options={"SymmetricMode": True})
            return _Reordered(lu, order)
        return sla.splu((self._I - rho * self._Wc).tocsc())

    @one_blas_thread
    def _factor(self, rho: float) -> Any:
        if rho in self._lu:
            self._lu.move_to_end(rho)
            return self._lu[rho]
        try:
            lu = self._splu(rho)
        except RuntimeError:  # exactly singular
            lu = None
        self._lu[rho] = lu
        if len(self._lu) > 2:
            self._lu.popitem(last=False)
        return lu

    def logdet(self, rho: Any) -> Any:
        """``sum log|U_ii|`` of the sparse LU of ``I - rho W`` (exact)."""
        r, scalar = _as_rho(rho)
        out = np.empty(r.size)
        for i, x in enumerate(r):
            lu = self._factor(float(x))
            out[i] = -np.inf if lu is None else float(np.log(np.abs(lu.U.diagonal())).sum())
        return _out(out, scalar)

    @one_blas_thread
    def _complex_step(self, rho: float) -> float:
        """``tr(G) = -d logdet / d rho`` by the complex step (Squire & Trapp 1998, SIAM Review 40).

        With ``h = 1e-30``, ``P (I - (rho + ih) W) Q = L U`` gives ``d logdet / d rho =
        sum_i Im(U_ii) / (h Re(U_ii))`` exact to rounding (no subtraction), at the
        cost of one complex factorisation with the real one's ordering.
        """
        if rho not in self._tr_g:
            h = 1e-30
            u = self._splu(complex(rho, h)).U.diagonal()
            self._tr_g[rho] = -float(np.sum(u.imag / u.real)) / h
        return self._tr_g[rho]

    def tr_G(self, rho: Any) -> Any:
        """``tr(G)``, exact: the complex-step derivative of the exact log-determinant.

        At many values of ``rho`` (impacts by simulation) the exact values at
        Chebyshev points of ``[min rho, max rho]`` are interpolated
        (:func:`interpolate_over_rho`: ``tr(G)`` is analytic on the admissible
        interval; 17 points for the draws of a typical fit, 1e-14 relative,
        checked against dense traces in tests/test_logdet.py).
        """
        r, scalar = _as_rho(rho)
        return _out(interpolate_over_rho(self._complex_step, r)[:, 0], scalar)

    def dlogdet(self, rho: Any) -> Any:
        """``d log|det(I - rho W)| / d rho = -tr(G)``, exact (see :meth:`tr_G`)."""
        r, scalar = _as_rho(rho)
        return _out(-np.asarray(self.tr_G(r), dtype=float), scalar)

    def tr_G2(self, rho: Any) -> Any:
        """``tr(G G) = d tr(G) / d rho``: five-point central difference of the exact ``tr(G)``.

        Step ``h = 1e-3 d`` with ``d`` the distance from ``rho`` to the nearer end of
        :attr:`bounds` (``1 - |rho|`` for a row-standardised W): the truncation,
        of order ``(h / d)^4``, and the rounding, ``eps tr(G) d / h``, both stay
        below 1e-9 relative.
        """
        r, scalar = _as_rho(rho)
        lo, hi = self.bounds
        out = np.empty(r.size)
        for i, x in enumerate(r):
            h = 1e-3 * min(hi - float(x), float(x) - lo)
            f = [self._complex_step(float(x) + k * h) for k in (-2, -1, 1, 2)]
            out[i] = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h)
        return _out(out, scalar)

    @cached_property
    def _probes(self) -> tuple[np.ndarray, np.ndarray]:
        """Seeded probes ``Z`` and their control variates."""
        Z = _rademacher(self.n, self.draws, self.seed)
        return Z, _probe_controls(self._w, Z)

    @one_blas_thread
    def _gtg_estimate(self, rho: float) -> float:
        """Hutchinson estimate of ``tr(G'G)``: mean ``|G z|^2`` over the probes, with control variates."""
        if rho not in self._traces:
            lu = self._factor(rho)
            if lu is None:
                raise SpecificationError(format_error("I - rho W is singular", rho=rho))
            Z, X = self._probes
            U = self._w.W @ lu.solve(Z)  # G z
            self._traces[rho] = float(_cv_adjust(_dots(U, U)[:, None], X)[0].mean())
        return self._traces[rho]

    def tr_GtG(self, rho: Any) -> Any:
        """``tr(G'G) = |W S|_F^2``: exact up to :data:`GTG_EXACT_MAX` units (:meth:`_gtg_exact`), else the
        Hutchinson estimate with control variates (class docstring)."""
        r, scalar = _as_rho(rho)
        one = self._gtg_estimate if self.n > GTG_EXACT_MAX else self._gtg_exact
        return _out(np.array([one(float(x)) for x in r]), scalar)

    @one_blas_thread
    def _gtg_exact(self, rho: float) -> float:
        """``sum_j |W S e_j|^2`` from the LU of ``I - rho W``, solved for blocks of unit vectors (N solves).

        A reordered factorisation (:class:`_Reordered`) is used in its own
        order: ``|W S|_F = |P W P' (P A P')^-1|_F`` for a permutation ``P``.
        """
        if rho not in self._gtg:
            lu = self._factor(rho)
            if lu is None:
                raise SpecificationError(format_error("I - rho W is singular", rho=rho))
            w, lu = (self._ordered[1], lu.lu) if isinstance(lu, _Reordered) else (self._w.W, lu)
            total = 0.0
            for start in range(0, self.n, GTG_BLOCK):
                cols = np.arange(start, min(self.n, start + GTG_BLOCK))
                unit = np.zeros((self.n, cols.size), order="F")
                unit[cols, np.arange(cols.size)] = 1.0
                g = w @ lu.solve(unit)
                total += float(np.einsum("ij,ij->", g, g))
            self._gtg[rho] = total
        return self._gtg[rho]

    @one_blas_thread
    def _sums(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._w.row_standardised:
            v = self._sums_closed(r)
            return v, v.copy()
        rhs = np.column_stack([np.ones(self.n), self._w.row_sums])
        s_, sw = np.empty(r.size), np.empty(r.size)
        for i, x in enumerate(r):
            lu = self._factor(float(x))
            if lu is None:
                raise SpecificationError(format_error("I - rho W is singular", rho=float(x)))
            sol = lu.solve(rhs)
            s_[i], sw[i] = sol[:, 0].sum(), sol[:, 1].sum()
        return s_, sw


# --------------------------------------------------------------------- "mc"
def default_draws(n: int) -> int:
    """Default number of probe vectors of the "mc" strategy.

    The Monte Carlo error of ``logdet`` grows like ``sqrt(N / draws)`` while
    ``logdet`` grows like ``N``, so the relative error is about
    ``c / sqrt(N draws)``: ``draws = clip(ceil(2^17 / N), 16, 64)`` (64
    vectors up to N = 2,048, 27 at 5,000, 16 from 8,192 on).
    """
    return int(np.clip(math.ceil(2**17 / max(n, 1)), 16, 64))


def _geometric_tail(x: np.ndarray, k: int, tau: float, g: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tails of the three power series when ``t_(k+2j) = tau g^j``, ``j >= 1``.

    Returns ``(L, G, G2)``: ``L = -tau sum_j x^(k+2j) g^j / (k+2j)`` (log-
    determinant), ``G = tau sum_j x^(k+2j-1) g^j = tau x^(k+1) g/(1 - x^2 g)``
    (``= -dL/dx``) and ``G2 = dG/dx``. ``L`` is summed directly when ``x^2 g
    <= 0.9`` (400 terms), else in closed form through ``atanh`` / ``log``
    minus the leading terms (cancellation then costs at most two digits).
    """
    zero = np.zeros_like(x)
    if g <= 0.0 or tau == 0.0:
        return zero, zero, zero.copy()
    u = x * x * g
    G = tau * x ** (k + 1) * g / (1.0 - u)
    G2 = tau * g * ((k + 1) * x**k * (1.0 - u) + 2.0 * g * x ** (k + 2)) / (1.0 - u) ** 2
    L = np.empty_like(x)
    small = u <= 0.9
    if np.any(small):
        j = np.arange(1, 401)
        L[small] = (x[small, None] ** k * u[small, None] ** j / (k + 2 * j)).sum(axis=1)
    if np.any(~small):
        y = x[~small] * math.sqrt(g)
        n = k + 2
        if n % 2:
            base, idx = np.arctanh(y), np.arange(1, n, 2)
        else:
            base, idx = -0.5 * np.log1p(-y * y), np.arange(2, n, 2)
        L[~small] = g ** (-k / 2) * (base - (y[:, None] ** idx / idx).sum(axis=1))
    return -tau * L, G, G2


class MCLogDet(_Base):
    """Barry & Pace (1999) Monte Carlo log-determinant and power-series traces.

    With ``r`` the spectral radius (1 for row-standardised ``W``), ``V =
    W / r`` and ``x = rho r`` (``|x| < 1`` inside ``bounds``), Barry & Pace
    (1999, eq. 2) expand ``log|I - rho W| = -sum_{k>=1} x^k t_k / k`` with
    ``t_k = tr(V^k)``. ``t_1 = tr(V)``, ``t_2 = sum(V .* V')`` and, from one
    sparse product ``V^2``, ``t_3``, ``t_4`` are exact; ``t_k``, ``k > 4``,
    are Hutchinson (1990) estimates ``mean_j z_j' V^k z_j`` from ``draws``
    seeded Rademacher vectors (Barry & Pace 1999, eq. 5), computed once by
    ``m`` sparse products and corrected by regression control variates
    (Glasserman 2004, eq. 4.9) on the observed errors of the known traces
    (``_probe_controls``), which removes most of the Monte Carlo error. The
    same traces give ``tr(G) = r sum_k x^(k-1) t_k``, ``tr(G^2) = r^2
    sum_{k>=2} (k-1) x^(k-2) t_k`` and ``tr(S) = N + rho tr(G)``: each
    method is a polynomial in ``x`` evaluated vectorised at any number of
    ``rho`` (a few microseconds each).

    Tail: the terms ``k > m`` are extrapolated geometrically, separately for
    even and odd ``k`` (bipartite graphs, e.g. rook lattices, have ``t_k =
    0`` for odd ``k`` and a spectrum symmetric about 0): ``t_(k+2j) = t_k
    g^j`` from the last trace of each parity, ``g = t_k / t_(k-2)`` clipped
    to [0, 1] (:func:`_geometric_tail`; exact sums, closed form in ``x``).
    With ``m = 50`` this cuts the truncation error of a constant-``t_k``
    tail by 5-10x. ``tr_G``, ``tr_G2`` carry the exact derivatives of the
    ``logdet`` tail, so ``d logdet/d rho = -tr_G`` holds to rounding. Barry &
    Pace's bound ``N |x|^(m+1) / ((m+1)(1-|x|))`` on the neglected tail is
    :meth:`tail_bound`; :meth:`logdet_se` is the Monte Carlo standard error.

    ``tr(G'G) = r^2 E|sum_a c_a V^a z|^2`` with ``c_a = x^(a-1)``, ``a <=
    30`` (the tail vectors ``V^(k+2j) z`` taken as ``h^j V^k z``, ``h =
    M_(k-2,k) / M_(k-2,k-2)``, per parity): the Gram
    matrix ``M_ab = mean z'V'^a V^b z`` is accumulated in the same pass
    (control-variate corrected; the entries known exactly, ``|V|_F^2``,
    ``|V^2|_F^2``, ``tr(V'V^2)``, inserted), after which ``tr(G'G) = r^2
    c'Mc``. ``1'S1`` and ``1'SW1`` are ``N/(1 - rho)`` for
    row-standardised ``W``, else power series of the exact moments ``1'V^k
    1``, ``k <= 4m + 1``, the terms beyond taken as constant (``|x|^(4m)``
    makes them negligible inside ``|x| <= 0.9``).

    Accuracy with the defaults (``m = 50``, :func:`default_draws`): relative
    RMS error over 20 seeds against exact values, row-standardised
    6-nearest-neighbour ``W``, N = 2,000 (64 vectors), at ``rho`` = 0.2 /
    0.5 / 0.7 / 0.9 / -0.9:

    ===========  ======  ======  ======  ======  ======
    ``logdet``   7e-7    1.5e-5  6e-5    3.4e-4  4.4e-5
    ``tr_G``     2e-6    4e-5    1.8e-4  1.3e-3  1.2e-4
    ``tr_G2``    6e-6    1.3e-4  6e-4    3.8e-3  8e-4
    ``tr_GtG``   3e-5    2.7e-4  8.4e-4  4.6e-3  4.4e-4
    ===========  ======  ======  ======  ======  ======

    tests/test_logdet.py checks single seeds at 5x these. The Monte Carlo
    error falls like ``1/sqrt(N draws)``. With exact traces the truncation
    error of ``logdet`` at ``m = 50`` is 8e-7 at ``rho = 0.9`` and 6e-5 at
    0.95 (6-NN): raise ``order`` for ``|rho|`` near 1.
    """

    strategy = "mc"
    exact = False

    def __init__(self, W: Any, *, order: int = DEFAULT_ORDER, draws: int | None = None,
                 seed: int = 0, eps: float = DEFAULT_EPS):
        w = W if isinstance(W, _Weights) else _Weights(W)
        super().__init__(w, eps)
        if order < 5:
            raise SpecificationError(format_error("order must be >= 5", order=order))
        self.order = int(order)
        self.draws = default_draws(self.n) if draws is None else int(draws)
        if self.draws < 1:
            raise SpecificationError(format_error("draws must be >= 1", draws=draws))
        self.seed = int(seed)
        self.radius = w.radius
        b = (1.0 - self.eps) / self.radius
        self.bounds = (-b, b)
        self._V = w.W * (1.0 / self.radius) if self.radius != 1.0 else w.W
        m, p, r, n = self.order, self.draws, self.radius, self.n
        mg = min(m, _GRAM_ORDER)
        Z = _rademacher(n, p, self.seed)
        E = np.empty((p, m))  # E[j, k-1] = z_j' V^k z_j
        per_gram = np.empty((p, mg, mg))  # (V^a z_j)'(V^b z_j), a, b = 1..mg
        for cols in self._column_blocks(max(1, min(8, _GRAM_BYTES // (8 * n * mg)))):
            X = Z[:, cols]
            Y = X
            K = np.empty((len(cols), mg, n))  # Krylov vectors V z, ..., V^mg z
            for k in range(m):
                Y = self._V @ Y
                E[cols, k] = _dots(X, Y)
                if k < mg:
                    K[:, k, :] = Y.T
            per_gram[cols] = np.einsum("bkn,bln->bkl", K, K)  # batched K K'; np.matmul is slow here with threaded BLAS
        X = _probe_controls(w, Z)
        E, self._q = _cv_adjust(E, X)
        for k, t in self._exact_traces().items():
            E[:, k - 1] = t / r**k
        self._E = E
        #: t_k = tr((W/r)^k), k = 1..m (exact for k <= 4 when W^2 is formed)
        self.traces = E.mean(axis=0)
        self._tails = self._tail_params(m)
        flat, _ = _cv_adjust(per_gram.reshape(p, mg * mg), X)
        M = flat.mean(axis=0).reshape(mg, mg)
        M = 0.5 * (M + M.T)
        M[0, 0] = w.fro2 / r**2  # exact |V|_F^2
        if w.powers is not None:  # exact |V^2|_F^2 and tr(V'V^2)
            M[1, 1] = w.powers["f2"] / r**4
            M[0, 1] = M[1, 0] = w.powers["c12"] / r**3
        self._gram = M
        # tail vectors V^(k+2j) z = h^j V^k z for the last even and odd k,
        # h = M_(k-2,k) / M_(k-2,k-2) (least-squares ratio of V^k z on V^(k-2) z)
        self._gram_tails = []
        for k in (mg - 1, mg):
            den = M[k - 3, k - 3]
            h = min(max(M[k - 3, k - 1] / den, 0.0), 1.0) if den > 0 else 0.0
            self._gram_tails.append((k, h))

    def _tail_params(self, kmax: int) -> list[tuple[int, float, float]]:
        """``(k, t_k, g)`` for the last even and odd ``k <= kmax``, ``g = t_k/t_(k-2)``."""
        out = []
        for k in (kmax - 1, kmax):
            tk, tk2 = float(self.traces[k - 1]), float(self.traces[k - 3])
            g = min(max(tk / tk2, 0.0), 1.0) if tk > 0 and tk2 > 0 else 0.0
            out.append((k, tk, g))
        return out

    def _tail(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        parts = [_geometric_tail(x, k, tk, g) for k, tk, g in self._tails]
        return parts[0][0] + parts[1][0], parts[0][1] + parts[1][1], parts[0][2] + parts[1][2]

    def _exact_traces(self) -> dict[int, float]:
        w = self._w
        out = {1: w.tr1, 2: w.tr2}
        if w.powers is not None:
            out.update({3: w.powers["t3"], 4: w.powers["t4"]})
        return out

    def _column_blocks(self, size: int) -> list[np.ndarray]:
        """Probe indices in near-equal blocks of at most ``size``."""
        return np.array_split(np.arange(self.draws), -(-self.draws // size))

    def _x(self, rho: Any) -> tuple[np.ndarray, bool]:
        r, scalar = _as_rho(rho)
        x = r * self.radius
        if np.any(np.abs(x) >= 1.0):
            raise SpecificationError(
                format_error(
                    "the 'mc' power series diverges outside bounds",
                    rho=float(r[np.abs(x) >= 1.0][0]), bounds=self.bounds,
                    hint="keep rho inside bounds, or use strategy='lu'",
                )
            )
        return x, scalar

    # coefficient matrices C (len(x) x m) of the truncated series: C @ traces
    def _coef_logdet(self, x: np.ndarray) -> np.ndarray:
        k = np.arange(1, self.order + 1)
        return -(x[:, None] ** k) / k

    def _coef_G(self, x: np.ndarray) -> np.ndarray:
        return x[:, None] ** np.arange(0, self.order)

    def _coef_G2(self, x: np.ndarray) -> np.ndarray:
        k = np.arange(1, self.order + 1)
        return (k - 1) * x[:, None] ** np.maximum(k - 2, 0)

    def logdet(self, rho: Any) -> Any:
        """``-sum_k x^k t_k / k`` plus tail (Barry & Pace 1999, eq. 2)."""
        x, scalar = self._x(rho)
        return _out(self._coef_logdet(x) @ self.traces + self._tail(x)[0], scalar)

    def logdet_se(self, rho: Any) -> Any:
        """Monte Carlo standard error of :meth:`logdet` (spread over probes)."""
        x, scalar = self._x(rho)
        per_probe = self._coef_logdet(x) @ self._E.T  # (len x, draws)
        dof = self.draws - 1 - self._q
        if dof < 1:
            return _out(np.full(x.size, np.nan), scalar)
        dev = per_probe - per_probe.mean(axis=1, keepdims=True)
        se = np.sqrt((dev**2).sum(axis=1) / dof / self.draws)
        return _out(se, scalar)

    def tail_bound(self, rho: Any) -> Any:
        """Barry & Pace (1999) truncation bound ``N|x|^(m+1)/((m+1)(1-|x|))``."""
        x, scalar = self._x(rho)
        a = np.abs(x)
        return _out(self.n * a ** (self.order + 1) / ((self.order + 1) * (1.0 - a)), scalar)

    def tr_G(self, rho: Any) -> Any:
        """``r sum_k x^(k-1) t_k`` plus tail (= -d logdet / d rho)."""
        x, scalar = self._x(rho)
        return _out(self.radius * (self._coef_G(x) @ self.traces + self._tail(x)[1]), scalar)

    def tr_G2(self, rho: Any) -> Any:
        """``r^2 sum_{k>=2} (k-1) x^(k-2) t_k`` plus tail (= d tr_G / d rho)."""
        x, scalar = self._x(rho)
        return _out(self.radius**2 * (self._coef_G2(x) @ self.traces + self._tail(x)[2]), scalar)

    def tr_GtG(self, rho: Any) -> Any:
        """``r^2 c(x)' M c(x)``: Hutchinson with the power series of ``G z``."""
        x, scalar = self._x(rho)
        C = x[:, None] ** np.arange(0, self._gram.shape[0])
        for k, g in self._gram_tails:  # tail vectors g^j V^k z
            C[:, k - 1] += x ** (k + 1) * g / (1.0 - x * x * g)
        return _out(self.radius**2 * np.einsum("ia,ab,ib->i", C, self._gram, C), scalar)

    @cached_property
    def _moments(self) -> np.ndarray:
        """Exact ``mu_k = 1' V^k 1``, ``k = 0..4m + 1`` (repeated matvecs)."""
        K = 4 * self.order + 1
        mu = np.empty(K + 1)
        y = np.ones(self.n)
        mu[0] = self.n
        for k in range(1, K + 1):
            y = self._V @ y
            mu[k] = y.sum()
        return mu

    def _sums(self, rho: Any) -> tuple[np.ndarray, np.ndarray]:
        x, _ = self._x(rho)
        if self._w.row_standardised:
            v = self._sums_closed(x / self.radius)
            return v, v.copy()
        mu = self._moments
        K = mu.size - 2
        P = x[:, None] ** np.arange(K + 1)
        tail = x ** (K + 1) / (1.0 - x)  # sum_{k>K} x^k
        s_ = P @ mu[: K + 1] + tail * 0.5 * (mu[K - 1] + mu[K])
        sw = P @ mu[1 : K + 2] + tail * 0.5 * (mu[K] + mu[K + 1])
        return s_, self.radius * sw


# ----------------------------------------------------------------- factory
def choose_strategy(n: int, *, real_spectrum: bool = False, n_eigen_max: int | None = None) -> str:
    """The "auto" rule: exact wherever exact costs no more than the approximation.

    ``"eigen"`` (everything exact) up to ``n_eigen_max`` units: by default
    :data:`N_EIGEN_MAX_REAL` (1,000) for a real spectrum, :data:`N_EIGEN_MAX`
    (400) otherwise; then ``"lu"`` (exact log-determinant, ``tr(G)`` and
    ``tr(G^2)``) up to :data:`N_LU_MAX` (3,000); ``"mc"`` above, where it is
    the faster by a growing margin. Measured on 2 cores, SDM with unit
    effects, T = 10, row-standardised 6-NN W (fit; 1,000 impact draws):
    N = 1,024: eigen 0.8-0.9 s, lu 0.10-0.14 s, mc 0.09-0.18 s; N = 2,000:
    lu 0.38 s, mc 0.36 s (eigen, complex spectrum, 3.7 s); N = 3,085: lu
    0.33 s + 0.29 s, mc 0.21 s + 0.09 s; N = 5,000: lu 0.68 s + 0.52 s, mc
    0.24 s + 0.08 s; N = 10,000: lu 1.6 s + 1.3 s, mc 0.3 s + 0.1 s. A result
    says in its summary (and the tables in a note) when "mc" approximated.
    """
    if n_eigen_max is None:
        n_eigen_max = N_EIGEN_MAX_REAL if real_spectrum else N_EIGEN_MAX
    if n <= n_eigen_max:
        return "eigen"
    return "lu" if n <= N_LU_MAX else "mc"


def make_logdet(
    W: Any,
    strategy: str = "auto",
    *,
    seed: int = 0,
    order: int = DEFAULT_ORDER,
    draws: int | None = None,
    n_eigen_max: int | None = None,
    eps: float = DEFAULT_EPS,
) -> LogDet:
    """Build the log-determinant / trace engine for ``W``.

    Parameters
    ----------
    W : libpysal.weights.W, scipy.sparse matrix or 2-d array
        N x N spatial weights, any structure.
    strategy : {"auto", "eigen", "lu", "mc"}
        "auto" applies :func:`choose_strategy`.
    seed : int
        Seed of the Rademacher probe vectors ("lu" traces, "mc"); the same
        seed gives identical numbers.
    order : int
        Power-series order ``m`` of "mc" (default 50).
    draws : int, optional
        Number of probe vectors: "mc" default :func:`default_draws`, "lu"
        default 32.
    n_eigen_max : int, optional
        Largest N for which "auto" uses "eigen" (see :func:`choose_strategy`).
    eps : float
        Relative margin by which ``bounds`` is shrunk towards 0.

    Returns
    -------
    LogDet
        :class:`EigenLogDet`, :class:`LULogDet` or :class:`MCLogDet`.
    """
    if strategy not in ("auto", *STRATEGIES):
        raise SpecificationError(
            format_error("unknown log-determinant strategy", strategy=strategy,
                         hint="use one of 'auto', 'eigen', 'lu', 'mc'")
        )
    w = _Weights(W)
    if strategy == "auto":
        real = w.real_spectrum if w.n <= max(n_eigen_max or 0, N_EIGEN_MAX_REAL) else False
        strategy = choose_strategy(w.n, real_spectrum=real, n_eigen_max=n_eigen_max)
    if strategy == "eigen":
        return EigenLogDet(w, eps=eps)
    if strategy == "lu":
        return LULogDet(w, draws=LU_DRAWS if draws is None else draws, seed=seed, eps=eps)
    return MCLogDet(w, order=order, draws=draws, seed=seed, eps=eps)
