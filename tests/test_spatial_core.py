"""The shared optimiser (spillover.spatial.core): the score it polishes on, and what the polish buys.

References: central differences of the concentrated log-likelihood written
here, numpy's slogdet, and the same fit on a permuted unit order.
"""

from __future__ import annotations

import numpy as np
import pytest
from libpysal.weights import KNN, lat2W

import spillover as sp
from spillover.spatial.core import MLProblem, Optimum, bound_flags, fit_ml, maximize
from spillover.spatial.logdet import EigenLogDet, LULogDet, MCLogDet

F = "logc ~ logp + logy"


@pytest.mark.parametrize("engine", [EigenLogDet, LULogDet, MCLogDet])
def test_dlogdet_is_the_derivative_of_logdet(engine):
    """dlogdet against the central difference of the engine's own logdet (h = 1e-5; truncation ~1e-10)."""
    w = KNN(np.random.default_rng(1).random((60, 2)), k=5)
    w.transform = "r"
    eng = engine(w.sparse)
    for rho in (-0.4, 0.1, 0.6, 0.9):
        h = 1e-5
        fd = (float(eng.logdet(rho + h)) - float(eng.logdet(rho - h))) / (2 * h)
        assert float(eng.dlogdet(rho)) == pytest.approx(fd, rel=1e-7, abs=1e-8)
    if engine is not MCLogDet:  # exact engines: d/drho log|I - rho W| = -tr(W (I - rho W)^-1)
        a = np.eye(60) - 0.6 * w.sparse.toarray()
        exact = -np.trace(w.sparse.toarray() @ np.linalg.inv(a))
        assert float(eng.dlogdet(0.6)) == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("model", ["SAR", "SEM", "SDM", "SDEM", "SAC"])
@pytest.mark.parametrize("fe,method", [("entity", "direct"), ("twoways", "lee-yu"), ("time", "lee-yu")])
def test_estimate_is_a_root_of_the_concentrated_score(cigar, model, fe, method):
    """At the estimate the concentrated log-likelihood's central-difference slope is ~0 (scale: its curvature)."""
    df, w = cigar
    res = getattr(sp, model)(F, df, w, "state", "year", fe=fe, method=method).fit()
    assert res.converged
    # brute force: refit with the spatial parameters fixed at p +- h and compare the profile
    names = [n for n in ("rho", "lambda") if n in res.params.index]
    for name in names:
        h = 1e-4
        prof = [_profile(res, cigar, model, fe, method, {name: res.params[name] + s * h}) for s in (-1, 0, 1)]
        slope = (prof[2] - prof[0]) / (2 * h)
        curv = (prof[2] - 2 * prof[1] + prof[0]) / h**2
        assert abs(slope / curv) < 1e-8  # the implied distance to the argmax


def _profile(res, cigar, model, fe, method, fixed):
    """The concentrated log-likelihood with the spatial parameters in ``fixed``, written out densely."""
    df, w = cigar
    mod = getattr(sp, model)(F, df, w, "state", "year", fe=fe, method=method)
    d = mod._design()
    n, t = d.n, d.t
    from spillover.spatial.transforms import convention, demean

    conv = convention(fe, method, n, t)
    z, _ = d.regressors()
    W = d.w.toarray()
    rho = fixed.get("rho", res.params.get("rho", 0.0))
    lam = fixed.get("lambda", res.params.get("lambda", 0.0))
    Wnt = np.kron(np.eye(t), W)
    yl = d.y - rho * (Wnt @ d.y)
    yt = demean(yl - lam * (Wnt @ yl), n, t, fe)
    zt = demean(z - lam * (Wnt @ z), n, t, fe)
    b = np.linalg.lstsq(zt, yt, rcond=None)[0]
    e = yt - zt @ b
    ld = sum(np.linalg.slogdet(np.eye(n) - p * W)[1] for p, on in ((rho, "rho" in res.params), (lam, "lambda" in res.params)) if on)
    corr = sum(np.log1p(-p) for p, on in ((rho, "rho" in res.params), (lam, "lambda" in res.params)) if on)
    s2 = float(e @ e) / conv.n_eff
    return -0.5 * conv.n_eff * (np.log(2 * np.pi * s2) + 1) + conv.jac * ld - conv.jac_corr * corr


def test_polish_makes_the_estimate_independent_of_the_unit_order():
    """Same panel, units permuted: rho agrees to 1e-12 (the function-value search alone: ~1e-8)."""
    rng = np.random.default_rng(7)
    w = lat2W(9, 9, rook=False)
    w.transform = "r"
    n, t = w.n, 8
    from spillover.simulate import simulate

    s = simulate("sar", w, t, beta=np.array([1.0, -0.5]), sigma2=1.0, rho=0.45, seed=11)
    perm = rng.permutation(n)
    y = s.y.reshape(t, n)[:, perm].ravel()
    x = s.x.reshape(t, n, -1)[:, perm].reshape(n * t, -1)
    wp = w.sparse.toarray()[np.ix_(perm, perm)]
    a = sp.SAR.from_arrays(s.y, s.x, w.sparse.toarray(), n_periods=t, fe="twoways").fit()
    b = sp.SAR.from_arrays(y, x, wp, n_periods=t, fe="twoways").fit()
    np.testing.assert_allclose(b.params.to_numpy(), a.params.to_numpy(), rtol=1e-12, atol=1e-14)


def test_maximize_without_score_and_bound_flags():
    """A quadratic with a known argmax; a maximum at the edge of the box is flagged."""
    opt = maximize(lambda p: (p[0] - 0.3) ** 2, [(-1.0, 1.0)])
    assert isinstance(opt, Optimum) and opt.converged and not opt.polished
    assert opt.x[0] == pytest.approx(0.3, abs=1e-7)
    opt = maximize(lambda p: (p[0] - 0.3) ** 2, [(-1.0, 1.0)], score=lambda p: np.array([-2 * (p[0] - 0.3)]))
    assert opt.polished and opt.x[0] == pytest.approx(0.3, abs=1e-15)
    two = maximize(lambda p: (p[0] - 0.2) ** 2 + 2 * (p[1] + 0.1) ** 2, [(-1, 1), (-1, 1)],
                   starts=[(0.0, 0.0), (0.5, 0.5)], score=lambda p: -np.array([2 * (p[0] - 0.2), 4 * (p[1] + 0.1)]))
    np.testing.assert_allclose(two.x, [0.2, -0.1], atol=1e-14)
    edge = maximize(lambda p: -p[0], [(-1.0, 1.0)])
    assert bound_flags({"rho": float(edge.x[0])}, [(-1.0, 1.0)])
    assert not bound_flags({"rho": 0.3}, [(-1.0, 1.0)])


def test_fit_ml_flags_only_the_checked_parameters_at_their_bounds():
    """A nuisance parameter (a log variance ratio) at its box end is not a flag; a spatial one is."""
    box = [(-1.0, 1.0), (-5.0, 0.0)]
    neg = lambda p: (p[0] - 0.4) ** 2 - p[1]  # noqa: E731  - argmax at the upper end of the nuisance box
    fit = fit_ml(MLProblem("toy", ("rho", "log_phi"), box, neg, starts=[(0.0, -1.0)], checked=1))
    assert fit.value("rho", MLProblem("toy", ("rho", "log_phi"), box, neg)) == pytest.approx(0.4, abs=1e-6)
    assert fit.flags == ()
    at_edge = fit_ml(MLProblem("toy", ("rho", "log_phi"), box, neg, starts=[(0.0, -1.0)]))
    assert len(at_edge.flags) == 1 and "log_phi" in at_edge.flags[0]


def test_a_singular_information_matrix_names_its_cause():
    from spillover.errors import SpecificationError
    from spillover.spatial.covariance import invert

    with pytest.raises(SpecificationError, match="singular.*collinear"):
        invert(np.ones((3, 3)))


def test_random_effects_lag_model_is_polished_and_order_free(cigar, permuted):
    """RE-SDM: the optimum is a root of the analytic score (polished), so a permuted unit order agrees to 1e-10."""
    import pandas as pd

    df, w = cigar
    a = sp.SDM(F, df, w, "state", "year", fe="random").fit()
    mat, ids = permuted(w, 5)
    b = sp.SDM(F, df.sample(frac=1.0, random_state=2), (mat, ids), "state", "year", fe="random").fit()
    np.testing.assert_allclose(b.params.to_numpy(), a.params.to_numpy(), rtol=1e-10, atol=1e-13)
    assert b.extra["phi"] == pytest.approx(a.extra["phi"], rel=1e-10)
    assert isinstance(a.params, pd.Series)


@pytest.mark.parametrize("model", ["SAR", "SEM"])
def test_hessian_from_the_analytic_gradient_matches_the_analytic_hessian(cigar, model):
    """likelihood.hessian_from_gradient(Moments.loglik_gradient) against the closed-form observed Hessian
    of the static models (covariance.observed_hessian, Anselin 1988 / Elhorst 2014), at the estimate."""
    from spillover.spatial.likelihood import hessian_from_gradient
    from spillover.spatial.covariance import observed_hessian

    df, w = cigar
    res = getattr(sp, model)(F, df, w, "state", "year", fe="entity", method="direct", cov="hessian").fit()
    mod = getattr(sp, model)(F, df, w, "state", "year", fe="entity", method="direct")
    d = mod._design()
    from spillover.spatial.likelihood import Moments
    from spillover.spatial.logdet import make_logdet
    from spillover.spatial.transforms import convention, demean, spatial_lag

    n, t = d.n, d.t
    conv = convention("entity", "direct", n, t)
    z, _ = d.regressors()
    tr = lambda a: demean(a, n, t, "entity")  # noqa: E731
    wy = spatial_lag(d.w, d.y, n, t)
    mom = Moments.from_arrays(tr(d.y), tr(wy), np.zeros(n * t), tr(z), tr(spatial_lag(d.w, z, n, t)))
    eng = make_logdet(d.w, "eigen")
    lag = model == "SAR"
    k = z.shape[1]
    p = res.params["rho" if lag else "lambda"]
    theta = np.concatenate([res.params.to_numpy()[:k], [p, res.sigma2]])

    def grad(th):
        r, l_ = (th[k], 0.0) if lag else (0.0, th[k])
        dld = float(eng.dlogdet(th[k]))
        g_b, g_r, g_l, g_s = mom.loglik_gradient(th[:k], r, l_, th[-1], (dld, dld), (0.0, 0.0), conv)
        return np.concatenate([g_b, [g_r if lag else g_l, g_s]])

    ref = observed_hessian(mod._spec, mom, theta[:k], p if lag else 0.0, 0.0 if lag else p, res.sigma2, eng, conv)
    np.testing.assert_allclose(hessian_from_gradient(grad, theta), ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())


def test_random_effects_gradient_hessian_matches_the_likelihood_hessian(cigar):
    """RE-SAR: the SEs from the analytic gradient agree with a central-difference Hessian of the likelihood (1e-3)."""
    from spillover.spatial import random_effects as R

    df, w = cigar
    res = sp.SAR(F, df, w, "state", "year", fe="random").fit()
    seen = {}
    real = R._inference

    def spy(d, flags, theta, full, pnames, grad=None):
        seen["numerical"] = np.linalg.inv(real(d, flags, theta, full, pnames)[1])  # [1]: the information
        return real(d, flags, theta, full, pnames, grad)

    R._inference = spy
    try:
        again = sp.SAR(F, df, w, "state", "year", fe="random").fit()
    finally:
        R._inference = real
    np.testing.assert_allclose(again.bse.to_numpy(), res.bse.to_numpy(), rtol=1e-12)
    k = len(res.params)
    np.testing.assert_allclose(np.sqrt(np.diag(seen["numerical"]))[:k], res.bse.to_numpy(), rtol=1e-3)
