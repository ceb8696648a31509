"""The information matrix's one LU (covariance.lag_lu) and the QR-based collinearity check (design.collinear_columns)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sps
from scipy.sparse.linalg import splu

import spillover as sp
from spillover.spatial import covariance
from spillover.spatial.design import collinear_columns


def _knn(n: int, k: int = 4, seed: int = 0) -> sps.csr_matrix:
    from scipy.spatial import cKDTree

    pts = np.random.default_rng(seed).uniform(size=(n, 2))
    _, idx = cKDTree(pts).query(pts, k=k + 1)
    return sps.csr_matrix((np.full(n * k, 1.0 / k), (np.repeat(np.arange(n), k), idx[:, 1:].ravel())), shape=(n, n))


def test_lag_lu_solves_both_ways_as_a_dense_solve():
    W = _knn(300)
    B = np.random.default_rng(1).standard_normal((300, 3))
    for p in (0.6, -0.9, 1.5):  # 1.5: not diagonally dominant, the pivoting branch
        a = np.eye(300) - p * W.toarray()
        lu = covariance.lag_lu(W, p)
        np.testing.assert_allclose(lu.solve(B), np.linalg.solve(a, B), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(lu.solve(B, trans="T"), np.linalg.solve(a.T, B), rtol=1e-10, atol=1e-12)


def _old_lu(W, p):
    return splu(sps.csc_matrix(sps.identity(W.shape[0]) - p * sps.csr_matrix(W)))


def _fit(fe, method):
    n, t = 120, 6
    W = _knn(n, seed=3)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((n * t, 2))
    y = x @ [1.0, -0.5] + np.tile(rng.standard_normal(n), t) + rng.standard_normal(n * t)
    df = pd.DataFrame({"id": np.tile(np.arange(n), t), "yr": np.repeat(np.arange(t), n), "y": y,
                       "x1": x[:, 0], "x2": x[:, 1]})
    return sp.SDM("y ~ x1 + x2", data=df, w=(W, np.arange(n)), entity="id", time="yr", fe=fe, method=method).fit()


def test_standard_errors_unchanged_by_the_shared_lu(monkeypatch):
    for fe, method in (("entity", "direct"), ("twoways", "lee-yu")):
        new = _fit(fe, method)
        with monkeypatch.context() as m:
            m.setattr(covariance, "lag_lu", _old_lu)
            old = _fit(fe, method)
        np.testing.assert_array_equal(new.params.to_numpy(), old.params.to_numpy())
        np.testing.assert_allclose(new.bse.to_numpy(), old.bse.to_numpy(), rtol=1e-11)


def _collinear_svd(x, names, tol=1e-9):
    """The former check: one SVD of the tall scaled matrix per column."""
    bad, kept = [], []
    scale = np.sqrt((x**2).sum(axis=0))
    for j in range(x.shape[1]):
        if scale[j] == 0:
            bad.append(names[j])
            continue
        cand = kept + [j]
        s = np.linalg.svd(x[:, cand] / scale[cand], compute_uv=False)
        (bad.append(names[j]) if s[-1] / s[0] < tol else kept.append(j))
    return bad


def test_collinear_columns_as_the_per_column_svd():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((500, 3))
    cases = [
        np.column_stack([a, a[:, 0] - 2 * a[:, 1], np.zeros(500), a[:, 2] * 1e6]),
        np.column_stack([a, a[:, 1] + 1e-12 * rng.standard_normal(500), a[:, 0] + 1e-3 * rng.standard_normal(500)]),
        a[:2],  # fewer rows than columns
    ]
    for x in cases:
        names = [f"c{j}" for j in range(x.shape[1])]
        assert collinear_columns(x, names) == _collinear_svd(x, names)
