"""sp.panel_lm_tests (Baltagi-Song-Koh 2003, Baltagi-Song-Jung-Koh 2007) against R splm 1.6-5 output stored in
tests/reference/bsk/ (with the script that made it), dense brute-force computations written here, and seeded
data-generating processes."""

from __future__ import annotations

from pathlib import Path

import libpysal
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import spillover as sp
from spillover.diagnostics import bsk
from spillover.errors import SpecificationError, WeightsError

REF = Path(__file__).parent / "reference" / "bsk"
F_PRODUC = "lgsp ~ lpcap + lpc + lemp + unemp"
SPLM_NAMES = {"LM1": "LM1", "LM2": "LM2", "LMH": "LMH", "CLM_lambda": "CLMlambda", "CLM_mu": "CLMmu",
              "BSJK_C1": "C.1", "BSJK_C2": "C.2", "BSJK_C3": "C.3", "BSJK_J": "J"}


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def splm() -> pd.DataFrame:
    """splm's statistics and p-values, by (response, test)."""
    return pd.read_csv(REF / "bsk.csv").set_index(["response", "test"])


@pytest.fixture(scope="module")
def splm_ml() -> pd.DataFrame:
    """splm's restricted ML fits (spreml), by (model, name)."""
    return pd.read_csv(REF / "restricted_ml.csv").set_index(["model", "name"])["value"]


@pytest.fixture(scope="module")
def produc_design(produc):
    y, x, wd, names, _ = bsk._design(F_PRODUC, produc[0], produc[1], "state", "year")
    return y, x, bsk._Spatial(wd)


@pytest.fixture(scope="module")
def produc_tests(produc) -> pd.DataFrame:
    return sp.panel_lm_tests(F_PRODUC, produc[0], produc[1], "state", "year")


def splm_fit(model: str, splm_ml: pd.Series, y: np.ndarray, x: np.ndarray) -> bsk.Restricted:
    """splm's restricted fit as a :class:`bsk.Restricted` (residuals y - X b at splm's b)."""
    est = splm_ml.loc[model]
    beta = est.loc[["(Intercept)", "log(pcap)", "log(pc)", "log(emp)", "unemp"]].to_numpy(dtype=float)
    names = {"phi": "phi", "rho": "psi", "lam": "rho"}  # ours -> splm's (spreml calls the spatial error "rho")
    par = {k: float(est[v]) for k, v in names.items() if v in est.index}
    if model == "srre":  # spreml's srre calls the AR(1) coefficient psi, and has no spatial parameter
        par = {"phi": float(est["phi"]), "rho": float(est["psi"])}
    return bsk.Restricted(model=model, beta=beta, resid=y - x @ beta, sigma2=float(est["sigma2"]),
                          loglik=float(est["logLik"]), **par)


# --------------------------------------------------------------------------- (1) against splm


def test_marginal_and_joint_tests_equal_splm(produc_tests, splm):
    """LM1, LM2, LMH (GHM chi2_m) and BSJK's J: OLS-residual statistics, equal to splm up to rounding."""
    for row in ("LM1", "LM2", "LMH", "BSJK_J"):
        want = splm.loc[("log(gsp)", SPLM_NAMES[row])]
        assert rel(produc_tests.loc[row, "stat"], want["stat"]) < 1e-12, row
    # p: splm doubles the one-sided N(0, 1) tail of LM1/LM2; LMH's chi-bar and J's chi2(3) p are the same
    for row in ("LM1", "LM2"):
        p, want = produc_tests.loc[row, "p"], splm.loc[("log(gsp)", row), "p"]
        assert 2 * p == pytest.approx(want, rel=1e-8, abs=1e-300)
    for row in ("LMH", "BSJK_J"):
        assert produc_tests.loc[row, "p"] == pytest.approx(splm.loc[("log(gsp)", SPLM_NAMES[row]), "p"],
                                                           rel=1e-8, abs=1e-300)


def test_bsk_conditional_tests_equal_splm_at_its_estimates(produc_design, splm, splm_ml):
    """CLM_lambda and CLM_mu from splm's own restricted fits: splm's |LM*| and 2-sided p to 1e-9."""
    y, x, space = produc_design
    got = {"CLMlambda": bsk.clm_lambda(splm_fit("re", splm_ml, y, x), space),
           "CLMmu": bsk.clm_mu(splm_fit("sem", splm_ml, y, x), space)}
    for test, stat in got.items():
        want = splm.loc[("log(gsp)", test)]
        assert stat > 0
        assert rel(stat, want["stat"]) < 1e-9, test
        assert rel(2 * stats.norm.sf(stat), want["p"]) < 1e-8, test


def test_bsk_conditional_tests_end_to_end(produc_tests, produc_design, splm, splm_ml):
    """The whole pipeline (our ML fits): CLM_lambda within 1e-9 of splm, CLM_mu within 1e-6.

    The looser bound for CLM_mu is splm's optimiser: its spatial error estimate
    (0.52084353) sits where the profile log-likelihood still has slope -3.7e-4,
    about 5e-7 below the maximum at 0.52084300 (our fit, slope ~0, higher
    log-likelihood); CLM_mu moves 1.4e-7 (relative) between the two points,
    and at splm's point it equals splm's value to 1e-9 (test above).
    """
    assert rel(produc_tests.loc["CLM_lambda", "stat"], splm.loc[("log(gsp)", "CLMlambda"), "stat"]) < 1e-9
    assert rel(produc_tests.loc["CLM_mu", "stat"], splm.loc[("log(gsp)", "CLMmu"), "stat"]) < 1e-6
    y, x, space = produc_design
    ours = produc_tests.attrs["restricted"]["sem"]["lambda"]
    theirs = float(splm_ml[("sem", "rho")])

    def slope(lam: float, h: float = 1e-4) -> float:
        f = [bsk._profile("sem", np.array([lam + k * h]), y, x, space)[0] for k in (-2, -1, 1, 2)]
        return (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h)

    assert abs(slope(ours)) < 1e-6 < 1e-4 < abs(slope(theirs))
    assert produc_tests.attrs["restricted"]["sem"]["loglik"] >= float(splm_ml[("sem", "logLik")])


def test_restricted_fits_equal_splm_up_to_its_optimiser(produc_tests, splm_ml):
    """Our five restricted ML fits against spreml: same optimum (log-likelihood within 1e-9 and never
    below splm's by more than rounding), parameters within splm's optimiser tolerance (2e-6 relative)."""
    names = {"phi": "phi", "rho": "psi", "lambda": "rho"}
    for model, fit in produc_tests.attrs["restricted"].items():
        est = splm_ml.loc[model]
        assert fit["loglik"] - float(est["logLik"]) > -1e-9, model
        assert abs(fit["loglik"] - float(est["logLik"])) < 1e-9, model
        for ours, theirs in names.items():
            if theirs in est.index and not (model == "srre" and theirs == "rho"):
                assert rel(fit[ours], float(est[theirs])) < 2e-6, (model, ours)
    assert produc_tests.attrs["restricted"]["srre"]["phi"] == 1e-8  # on splm's lower bound, like spreml's fit


def _splm_variances(fit: bsk.Restricted) -> float:
    """splm 1.6-5's s2_e in C.1-C.3: u'u / (NT (1 + phi))."""
    return float(np.sum(fit.resid**2)) / fit.resid.size / (1.0 + fit.phi)


def test_bsjk_c1_equals_splm_with_its_variance_shortcut(produc_design, splm, splm_ml):
    """C1 at splm's srre fit with splm's s2_e = u'u / (NT (1 + phi)) is splm's C.1 to 1e-9; the ML s2_e
    (which differs by about 1/(1 - rho^2) with rho = 0.987) gives a statistic ~1300 times larger."""
    y, x, space = produc_design
    fit = splm_fit("srre", splm_ml, y, x)
    want = splm.loc[("log(gsp)", "C.1"), "stat"]
    assert rel(bsk.bsjk_conditional(fit, space, s2e=_splm_variances(fit)), want) < 1e-9
    assert bsk.bsjk_conditional(fit, space) > 1000 * want


def test_bsjk_c2_equals_splm_without_the_cross_term(produc_design, splm, splm_ml):
    """C2 at splm's semre fit with splm's s2_e: splm's C.2 to 1e-9 once the information of rho loses
    s2_e (2T - 4)/T^2 tr(Z (B'B)^-1), Z = (T s2_mu I + s2_e (B'B)^-1)^-1, which splm leaves out."""
    y, x, space = produc_design
    fit = splm_fit("semre", splm_ml, y, x)
    s2e = _splm_variances(fit)
    t = y.shape[0]
    params = ("s2e", "s2mu", "rho", "lam")
    score, info = bsk.score_information(fit.resid, s2e, fit.phi * s2e, 0.0, fit.lam, space, params)
    _, _, a = space.mats(fit.lam)
    z = np.linalg.inv(t * fit.phi * s2e * np.eye(space.n) + s2e * a)
    dropped = s2e * (2 * t - 4) / t**2 * np.trace(z @ a)
    info_splm = info.copy()
    info_splm[2, 2] -= dropped
    want = splm.loc[("log(gsp)", "C.2"), "stat"]
    assert rel(score[2] ** 2 * np.linalg.inv(info_splm)[2, 2], want) < 1e-9
    assert rel(bsk.bsjk_conditional(fit, space, s2e=s2e), want) > 1e-5  # the term matters


def test_bsjk_c3_equals_splm_with_its_scaling(produc_design, splm, splm_ml):
    """C3 at splm's semsr fit with s2_e = u'u/NT: splm's C.3 to 1e-9 once iota'V^-1 iota is divided by s2_e^2
    instead of s2_e where it enters (the score's trace term, the information of s2_mu with s2_e, s2_mu and
    lambda), which is why splm's C.3 changes with the scale of y (stored: 20.04 for log(gsp), -12.41 for
    10 log(gsp))."""
    y, x, space = produc_design
    fit = splm_fit("semsr", splm_ml, y, x)
    s2e = float(np.sum(fit.resid**2)) / fit.resid.size
    params = ("s2e", "s2mu", "rho", "lam")
    score, info = bsk.score_information(fit.resid, s2e, 0.0, fit.rho, fit.lam, space, params)
    g = float(np.sum(bsk.ar1_precision(fit.rho, y.shape[0])))  # iota' V_rho^-1 iota
    _, bb, _ = space.mats(fit.lam)
    score_splm = score[1] - 0.5 * g * np.trace(bb) * (1 / s2e**2 - 1 / s2e)
    info_splm = info.copy()
    for j in (0, 3):
        info_splm[1, j] = info_splm[j, 1] = info[1, j] / s2e
    info_splm[1, 1] = info[1, 1] / s2e**2
    want = splm.loc[("log(gsp)", "C.3"), "stat"]
    assert rel(score_splm**2 * np.linalg.inv(info_splm)[1, 1], want) < 1e-9
    assert splm.loc[("10*log(gsp)", "C.3"), "stat"] < 0  # splm's C.3 is not scale invariant


def test_statistics_do_not_depend_on_the_scale_of_y(produc, produc_tests, splm):
    """y -> 10 y leaves every statistic unchanged (splm's too, except its C.3)."""
    df = produc[0].assign(lgsp10=10 * produc[0]["lgsp"])
    scaled = sp.panel_lm_tests("lgsp10 ~ lpcap + lpc + lemp + unemp", df, produc[1], "state", "year")
    for row in bsk.ROWS:
        assert rel(scaled.loc[row, "stat"], produc_tests.loc[row, "stat"]) < 1e-7, row
        if row != "BSJK_C3":
            a, b = (splm.loc[(r, SPLM_NAMES[row]), "stat"] for r in ("log(gsp)", "10*log(gsp)"))
            assert rel(a, b) < 1e-7, row


# --------------------------------------------------------------------------- (2) brute force, dense matrices


def small_panel(seed: int = 7, n: int = 6, t: int = 5, s2mu: float = 0.5, rho: float = 0.3, lam: float = 0.4):
    """A seeded panel with random-symmetric contiguity (row-standardised), two regressors and all three
    error components; returns (data, w, W dense)."""
    rng = np.random.default_rng(seed)
    adj = np.triu(rng.random((n, n)) < 0.5, 1)
    adj = adj | adj.T
    for i in range(n):  # no island
        if not adj[i].any():
            adj[i, (i + 1) % n] = adj[(i + 1) % n, i] = True
    wm = adj / adj.sum(axis=1, keepdims=True)
    ids = [f"u{i}" for i in range(n)]
    u = np.zeros((t, n))
    v = rng.normal(size=n) / np.sqrt(1 - rho**2)
    b_inv = np.linalg.inv(np.eye(n) - lam * wm)
    mu = rng.normal(scale=np.sqrt(s2mu), size=n)
    for s in range(t):
        v = rho * v + rng.normal(size=n) if s else v
        u[s] = mu + b_inv @ v
    x1, x2 = rng.normal(size=(t, n)), rng.normal(size=(t, n))
    y = 1.0 + 0.5 * x1 - 0.3 * x2 + u
    data = pd.DataFrame({"unit": np.tile(ids, t), "year": np.repeat(np.arange(2001, 2001 + t), n),
                         "y": y.ravel(), "x1": x1.ravel(), "x2": x2.ravel()})
    return data, libpysal.weights.full2W(wm, ids=ids), wm


def ar1(rho, t: int) -> np.ndarray:
    return np.array([[rho ** abs(i - j) for j in range(t)] for i in range(t)]) / (1 - rho**2)


def dense_omega(theta: dict, wm: np.ndarray, t: int) -> np.ndarray:
    """s2mu (J_T kron I_N) + s2e (V_rho kron ((I - lam W)'(I - lam W))^-1), complex parameters allowed."""
    n = wm.shape[0]
    b = np.eye(n) - theta["lam"] * wm
    return (theta["s2mu"] * np.kron(np.ones((t, t)), np.eye(n))
            + theta["s2e"] * np.kron(ar1(theta["rho"], t), np.linalg.inv(b.T @ b)))


def dense_lm(u: np.ndarray, theta: dict, params: list[str], tested: str, wm: np.ndarray) -> float:
    """LM = D_k^2 [J^-1]_kk with D and J from the dense Omega and complex-step derivatives of it."""
    t = u.shape[0]
    uv = u.ravel()
    oi = np.linalg.inv(dense_omega(theta, wm, t))
    derivs = []
    for p in params:
        step = dict(theta)
        step[p] = theta[p] + 1e-20j
        derivs.append(dense_omega(step, wm, t).imag / 1e-20)
    score = np.array([-0.5 * np.trace(oi @ d) + 0.5 * uv @ oi @ d @ oi @ uv for d in derivs])
    info = np.array([[0.5 * np.trace(oi @ d1 @ oi @ d2) for d2 in derivs] for d1 in derivs])
    k = params.index(tested)
    return float(score[k] ** 2 * np.linalg.inv(info)[k, k])


@pytest.fixture(scope="module")
def small():
    data, w, wm = small_panel()
    out = sp.panel_lm_tests("y ~ x1 + x2", data, w, "unit", "year")
    y, x, _, _, _ = bsk._design("y ~ x1 + x2", data, w, "unit", "year")
    return data, w, wm, out, y, x


def test_marginal_statistics_equal_dense_formulas(small):
    """LM1, LM2 (BSK eqs. 2.12, 2.16), LMH (eq. 2.19) and LM_J with explicit Kronecker products."""
    _, _, wm, out, y, x = small
    t, n = y.shape
    yv, xv = y.ravel(), x.reshape(t * n, -1)
    u = yv - xv @ np.linalg.solve(xv.T @ xv, xv.T @ yv)
    uu = u @ u
    jt, it, i_n = np.ones((t, t)), np.eye(t), np.eye(n)
    g_t = np.eye(t, k=1) + np.eye(t, k=-1)
    b = np.trace(wm @ wm + wm.T @ wm)
    big_g = u @ np.kron(jt, i_n) @ u / uu - 1
    big_h = u @ np.kron(it, (wm + wm.T) / 2) @ u / uu
    lm1 = np.sqrt(n * t / (2 * (t - 1))) * big_g
    lm2 = np.sqrt(n**2 * t / b) * big_h
    f = 0.5 * u @ np.kron(g_t, i_n) @ u / uu
    lmj = n * t**2 / (2 * (t - 1) * (t - 2)) * (big_g**2 - 4 * big_g * f + 2 * t * f**2) + n**2 * t / b * big_h**2
    lmh = (lm1**2 if lm1 > 0 else 0.0) + (lm2**2 if lm2 > 0 else 0.0)
    for row, want in {"LM1": lm1, "LM2": lm2, "LMH": lmh, "BSJK_J": lmj}.items():
        assert rel(out.loc[row, "stat"], want) < 1e-10, row
    assert out.loc["LM1", "p"] == pytest.approx(stats.norm.sf(lm1), rel=1e-10)
    p_mix = 0.5 * stats.chi2.sf(lmh, 1) + 0.25 * stats.chi2.sf(lmh, 2) if lmh > 0 else 1.0
    assert out.loc["LMH", "p"] == pytest.approx(p_mix, rel=1e-10)
    assert out.loc["BSJK_J", "p"] == pytest.approx(stats.chi2.sf(lmj, 3), rel=1e-10)
    assert out.attrs["honda"]["stat"] == pytest.approx((lm1 + lm2) / np.sqrt(2), rel=1e-10)


def test_conditional_statistics_equal_dense_score_and_information(small):
    """Each conditional test at our restricted fit: D_k^2 [J^-1]_kk with the NT x NT Omega, its inverse and
    complex-step derivatives (independent of the Kronecker algebra in the module)."""
    data, w, wm, out, y, x = small
    space = bsk._Spatial(wm)
    cases = {  # row: (restricted model, nuisance + tested parameters, tested)
        "CLM_mu": ("sem", ["s2mu", "s2e", "lam"], "s2mu"),
        "BSJK_C1": ("srre", ["s2e", "s2mu", "rho", "lam"], "lam"),
        "BSJK_C2": ("semre", ["s2e", "s2mu", "rho", "lam"], "rho"),
        "BSJK_C3": ("semsr", ["s2e", "s2mu", "rho", "lam"], "s2mu"),
    }
    for row, (model, params, tested) in cases.items():
        fit = bsk.fit_restricted(model, y, x, space)
        theta = {"s2e": fit.sigma2, "s2mu": fit.phi * fit.sigma2, "rho": fit.rho, "lam": fit.lam}
        want = dense_lm(fit.resid, theta, params, tested, wm)
        got = out.loc[row, "stat"] ** (2 if row == "CLM_mu" else 1)
        assert rel(got, want) < 1e-8, row
    # CLM_lambda: the random-effects variances from the residual moments of BSK eq. 2.24
    fit = bsk.fit_restricted("re", y, x, space)
    t, n = y.shape
    u = fit.resid
    s2_1 = t * np.sum(u.mean(axis=0) ** 2) / n
    s2_v = (np.sum(u**2) - t * np.sum(u.mean(axis=0) ** 2)) / (n * (t - 1))
    theta = {"s2e": s2_v, "s2mu": (s2_1 - s2_v) / t, "rho": 0.0, "lam": 0.0}
    assert rel(out.loc["CLM_lambda", "stat"] ** 2, dense_lm(u, theta, ["s2mu", "s2e", "lam"], "lam", wm)) < 1e-8


def test_bsk_conditional_statistics_equal_the_papers_closed_forms(small):
    """LM*_lambda (BSK eqs. 2.24-2.25) and LM*_mu (eqs. 2.27, 2.30-2.31) written out with dense matrices."""
    _, _, wm, out, y, x = small
    space = bsk._Spatial(wm)
    t, n = y.shape
    jbar, e_t, ww = np.ones((t, t)) / t, np.eye(t) - np.ones((t, t)) / t, wm + wm.T
    b = np.trace(wm @ wm + wm.T @ wm)
    u = bsk.fit_restricted("re", y, x, space).resid.ravel()
    s2_v = u @ np.kron(e_t, np.eye(n)) @ u / (n * (t - 1))
    s2_1 = u @ np.kron(jbar, np.eye(n)) @ u / n
    d = 0.5 * u @ (s2_v / s2_1**2 * np.kron(jbar, ww) + np.kron(e_t, ww) / s2_v) @ u
    assert rel(out.loc["CLM_lambda", "stat"], d / np.sqrt(((t - 1) + s2_v**2 / s2_1**2) * b)) < 1e-10

    fit = bsk.fit_restricted("sem", y, x, space)
    u, s2 = fit.resid.ravel(), fit.sigma2
    bm = np.eye(n) - fit.lam * wm
    bb = bm.T @ bm
    d_mu = -t / (2 * s2) * np.trace(bb) + u @ np.kron(np.ones((t, t)), bb @ bb) @ u / (2 * s2**2)
    wbbw = wm.T @ bm + bm.T @ wm
    g, h = np.trace(wbbw @ np.linalg.inv(bb)), np.trace(bb)
    c, dd, e = np.trace(np.linalg.matrix_power(wbbw @ np.linalg.inv(bb), 2)), np.trace(wbbw), np.trace(bb @ bb)
    one_sided = d_mu * np.sqrt(2 * s2**2 / t * (n * c - g**2) / (t * n * e * c - n * dd**2 - t * g**2 * e
                                                                 + 2 * g * h * dd - h**2 * c))
    assert rel(out.loc["CLM_mu", "stat"], one_sided) < 1e-10


def test_restricted_fits_maximise_the_dense_likelihood(small):
    """Each restricted fit: the dense Gaussian log-likelihood (GLS b, ML s2_e) at the estimates equals the
    fit's, and moving any free parameter by 1e-3 lowers it."""
    _, _, wm, _, y, x = small
    space = bsk._Spatial(wm)
    t, n = y.shape
    yv, xv = y.ravel(), x.reshape(t * n, -1)

    def loglik(theta: dict) -> float:
        sig = dense_omega({**theta, "s2e": 1.0}, wm, t)
        si = np.linalg.inv(sig)
        beta = np.linalg.solve(xv.T @ si @ xv, xv.T @ si @ yv)
        e = yv - xv @ beta
        s2 = e @ si @ e / (n * t)
        return -0.5 * n * t * (np.log(2 * np.pi * s2) + 1) - 0.5 * np.linalg.slogdet(sig)[1]

    for model, names in bsk.MODELS.items():
        fit = bsk.fit_restricted(model, y, x, space)
        theta = {"s2mu": fit.phi, "rho": fit.rho, "lam": fit.lam}
        assert loglik(theta) == pytest.approx(fit.loglik, rel=1e-12), model
        for p in names:
            key = "s2mu" if p == "phi" else p
            for step in (-1e-3, 1e-3):
                moved = dict(theta, **{key: theta[key] + step})
                if key == "s2mu" and moved[key] < 1e-8:
                    continue
                assert loglik(moved) < fit.loglik, (model, p, step)


# --------------------------------------------------------------------------- (3) seeded data-generating processes


def simulate(seed: int, s2mu: float = 0.0, rho: float = 0.0, lam: float = 0.0, side: int = 6, t: int = 8):
    """y = 1 + x + u on a side x side rook lattice (row-standardised), u with the given components."""
    rng = np.random.default_rng(seed)
    w = libpysal.weights.lat2W(side, side, rook=True)
    w.transform = "r"
    wm = w.full()[0]
    n = wm.shape[0]
    b_inv = np.linalg.inv(np.eye(n) - lam * wm)
    mu = rng.normal(scale=np.sqrt(s2mu), size=n)
    v = rng.normal(size=n) / np.sqrt(1 - rho**2)
    u = np.empty((t, n))
    for s in range(t):
        v = rho * v + rng.normal(size=n) if s else v
        u[s] = mu + b_inv @ v
    x = rng.normal(size=(t, n))
    data = pd.DataFrame({"unit": np.tile(w.id_order, t), "year": np.repeat(np.arange(t), n),
                         "y": (1.0 + x + u).ravel(), "x": x.ravel()})
    return sp.panel_lm_tests("y ~ x", data, w, "unit", "year")


def test_each_test_rejects_its_alternative_and_not_its_null():
    """Fixed seeds. Strong effects of one kind are detected by the tests aimed at them; with none of the
    three components no test rejects at 5%."""
    none = simulate(11)
    assert (none["p"] > 0.05).all(), none
    effects = simulate(11, s2mu=2.0)
    for row in ("LM1", "LMH", "CLM_mu", "BSJK_C3", "BSJK_J"):
        assert effects.loc[row, "p"] < 1e-4, row
    assert effects.loc["CLM_lambda", "p"] > 0.05 and effects.loc["BSJK_C1", "p"] > 0.05
    spatial = simulate(11, lam=0.7)
    for row in ("LM2", "CLM_lambda", "BSJK_C1", "BSJK_J"):
        assert spatial.loc[row, "p"] < 1e-4, row
    assert spatial.loc["CLM_mu", "p"] > 0.05 and spatial.loc["BSJK_C3", "p"] > 0.05
    serial = simulate(11, s2mu=1.0, rho=0.7)
    assert serial.loc["BSJK_C2", "p"] < 1e-4
    assert serial.loc["BSJK_C1", "p"] > 0.05


# --------------------------------------------------------------------------- (4) bad input


def test_public_name_and_table_layout(small):
    _, _, _, out, _, _ = small
    assert sp.panel_lm_tests is bsk.panel_lm_tests
    assert list(out.index) == bsk.ROWS and list(out.columns) == ["stat", "df", "p"]
    assert out.loc[["BSJK_C1", "BSJK_C2", "BSJK_C3", "BSJK_J"], "df"].tolist() == [1, 1, 1, 3]
    assert out.loc[["LM1", "LM2", "LMH", "CLM_lambda", "CLM_mu"], "df"].isna().all()
    assert set(out.attrs["null"]) == set(bsk.ROWS)


@pytest.mark.parametrize("case, match", [
    ("unbalanced", "balanced panel"),
    ("missing variable", "not in the data"),
    ("missing entity", "unit"),
    ("two periods", "at least 3 periods"),
    ("collinear", "collinear"),
    ("no links", "no links"),
])
def test_bad_input_is_a_specification_error(small, case, match):
    data, w, wm, _, _, _ = small
    formula, entity = "y ~ x1 + x2", "unit"
    if case == "unbalanced":
        data = data.iloc[1:]
    elif case == "missing variable":
        formula = "y ~ x1 + x3"
    elif case == "missing entity":
        data = data.drop(columns="unit")
    elif case == "two periods":
        data = data[data["year"] <= 2002]
    elif case == "collinear":
        data = data.assign(x3=2 * data["x1"])
        formula = "y ~ x1 + x2 + x3"
    elif case == "no links":
        w = libpysal.weights.W({i: [] for i in w.id_order}, silence_warnings=True)
    with pytest.raises(SpecificationError, match=match):
        sp.panel_lm_tests(formula, data, w, entity, "year")


def test_weights_that_do_not_fit_are_a_weights_error(small):
    """Self-links and ids that are not the entities: the package's WeightsError, naming the units."""
    data, w, wm, _, _, _ = small
    looped = wm.copy()
    looped[0, 0] = 0.5
    with pytest.raises(WeightsError, match="themselves"):
        sp.panel_lm_tests("y ~ x1 + x2", data, libpysal.weights.full2W(looped, ids=list(w.id_order)), "unit", "year")
    with pytest.raises(WeightsError):
        sp.panel_lm_tests("y ~ x1 + x2", data.assign(unit=data["unit"].str.upper()), w, "unit", "year")
