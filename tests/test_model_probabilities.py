"""sp.model_probabilities: against R SDPDmod's blmpSDPD (tests/reference/bmp/, made by the R script there),
against integrals computed here by adaptive quadrature with dense matrices, on simulated SAR and SEM panels,
and on bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special

import spillover as sp
from spillover.diagnostics import bayes
from spillover.errors import SpecificationError

REF = Path(__file__).parent / "reference"
FORMULA = "lgsp ~ lpcap + lpc + lemp + unemp"
FE = {"none": "none", "individual": "entity", "time": "time", "twoways": "twoways"}
MODELS = ["ols", "slx", "sar", "sdm", "sem", "sdem"]


def _worst(a) -> float:
    """Largest absolute value; NaN if any is NaN (so that a comparison with it fails)."""
    return float(np.max(np.abs(np.asarray(a, dtype=float))))


@pytest.fixture(scope="module")
def weights(produc):
    _, w = produc
    wb = pd.read_csv(REF / "bmp" / "usaww_binary_specnorm.csv", index_col=0)
    return {"usaww": w, "binary_specnorm": (wb.to_numpy(dtype=float), list(wb.index))}


@pytest.fixture(scope="module")
def blmp():
    return pd.read_csv(REF / "bmp" / "blmp.csv")


# ------------------------------------------------------------------ (1) SDPDmod
CASES = [(w, e, p) for w in ("usaww", "binary_specnorm")
         for e, p in [("none", "uniform"), ("individual", "uniform"), ("time", "uniform"),
                      ("twoways", "uniform"), ("individual", "beta"), ("twoways", "beta")]]


@pytest.mark.parametrize("wname,effect,prior", CASES)
def test_sdpdmod_convention_equals_blmpSDPD(produc, weights, blmp, wname, effect, prior):
    df, _ = produc
    want = blmp[(blmp.W == wname) & (blmp.effect == effect) & (blmp.prior == prior)].set_index("model")
    got = sp.model_probabilities(MODELS, FORMULA, df, weights[wname], "state", "year", fe=FE[effect],
                                 prior=prior, convention="sdpdmod")
    assert list(got.index) == MODELS
    want = want.loc[MODELS]
    assert _worst(got.log_marginal / want.log_marginal - 1) < 1e-6
    diff = got.log_marginal - want.log_marginal
    dp = _worst(got.probability - want.probability)
    if effect == "none":
        # Data in levels: blmpSDPD's explicit inverse loses up to 2e-7 of S(lambda) in the error models
        # (test_none_rows_differ_by_R_rounding), a few 1e-6 in their log-marginals.
        err = ["sem", "sdem"]
        assert _worst(diff.drop(err)) < 1e-9
        assert _worst(diff[err]) < 1e-5
        assert dp < 2e-6
    else:
        assert _worst(diff) < 1e-9
        assert dp < 1e-8


def test_none_rows_differ_by_R_rounding(produc, weights):
    """R's S(lambda) by solve(A) %*% b strays from its own QR value; ours (and R's solve(A, b)) do not."""
    df, _ = produc
    rnd = pd.read_csv(REF / "bmp" / "rounding_none.csv")
    assert _worst(rnd.S_inverse / rnd.S_qr - 1) > 1e-8
    assert _worst(rnd.S_solve / rnd.S_qr - 1) < 1e-9
    panel = bayes._prepare(FORMULA, df, weights["usaww"], "state", "year", "none", "sdpdmod")
    z, wz, _ = bayes._regressors(panel, "sdem")
    s, _ = bayes.error_profile(panel.y, panel.wy, z, wz, rnd["lambda"].to_numpy())
    assert _worst(s / rnd.S_qr - 1) < 1e-9


def test_several_w_rank_every_model_w_pair(produc, weights, blmp):
    df, _ = produc
    got = sp.model_probabilities(MODELS, FORMULA, df, weights, "state", "year", fe="twoways", convention="sdpdmod")
    assert got.index.names == ["model", "W"]
    pairs = [("ols", "-")] + [(m, w) for w in weights for m in MODELS if m != "ols"]
    assert sorted(got.index) == sorted(pairs)
    ref = blmp[(blmp.effect == "twoways") & (blmp.prior == "uniform")].set_index(["model", "W"]).log_marginal
    want = np.array([ref[(m, "usaww" if wn == "-" else wn)] for m, wn in got.index])  # R's OLS is the same for both W
    assert _worst(got.log_marginal.to_numpy() - want) < 1e-9
    p = np.exp(want - want.max())
    assert _worst(got.probability.to_numpy() - p / p.sum()) < 1e-8
    assert got.probability.sum() == pytest.approx(1.0, abs=1e-14)
    as_list = sp.model_probabilities(["sar", "ols"], FORMULA, df, list(weights.values()), "state", "year",
                                     fe="twoways", convention="sdpdmod")
    assert list(as_list.index) == [("sar", "W1"), ("ols", "-"), ("sar", "W2")]


def test_paper_convention_differs_from_sdpdmod_only_in_the_integral(produc, weights):
    """Unit effects, row-standardised W: the lags agree, OLS/SLX agree, the spatial models move by -log(I) - I."""
    df, _ = produc
    kw = dict(fe="entity")
    paper = sp.model_probabilities(MODELS, FORMULA, df, weights["usaww"], "state", "year", **kw)
    sdpd = sp.model_probabilities(MODELS, FORMULA, df, weights["usaww"], "state", "year", convention="sdpdmod", **kw)
    diff = paper.log_marginal - sdpd.log_marginal
    assert _worst(diff[["ols", "slx"]]) < 1e-10
    assert (diff[["sar", "sdm", "sem", "sdem"]] < -1.0).all()


# ------------------------------------------------------------------ (2) brute force
def _small_panel(seed: int = 3, n: int = 12, t: int = 4):
    """A seeded panel on a row-standardised symmetric 3-nearest-neighbour W of random points."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(size=(n, 2))
    d = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    np.fill_diagonal(d, np.inf)
    a = np.zeros((n, n))
    for i in range(n):
        a[i, np.argsort(d[i])[:3]] = 1.0
    a = np.maximum(a, a.T)
    w = a / a.sum(axis=1, keepdims=True)
    x = rng.normal(size=(t, n, 2))
    mu = rng.normal(size=n)
    alpha = rng.normal(size=t)
    ys = []
    for s in range(t):
        rhs = x[s] @ [1.0, -0.5] + (w @ x[s]) @ [0.3, 0.2] + mu + alpha[s] + 0.5 * rng.normal(size=n)
        ys.append(np.linalg.solve(np.eye(n) - 0.4 * w, rhs))
    ids = [f"u{i:02d}" for i in range(n)]
    df = pd.DataFrame({"id": np.tile(ids, t), "year": np.repeat(np.arange(t), n),
                       "y": np.concatenate(ys), "x1": x[..., 0].ravel(), "x2": x[..., 1].ravel()})
    return df, w, ids


def _dense_q(n: int, t: int, fe: str) -> np.ndarray:
    qt = np.eye(t) - np.ones((t, t)) / t if fe in ("entity", "twoways") else np.eye(t)
    qn = np.eye(n) - np.ones((n, n)) / n if fe in ("time", "twoways") else np.eye(n)
    return np.kron(qt, qn)


def _quad_log_marginal(model: str, df: pd.DataFrame, w: np.ndarray, fe: str) -> float:
    """Eqs. (3)-(4) of the module by adaptive quadrature over the whole admissible interval, with dense
    (N T x N T) matrices: residuals by least squares on Q (I - rho W_NT) y and Q (I - lambda W_NT) Z."""
    n, t = w.shape[0], df["year"].nunique()
    df = df.sort_values(["year", "id"])
    wnt = np.kron(np.eye(t), w)
    q = _dense_q(n, t, fe)
    y = df["y"].to_numpy()
    x = df[["x1", "x2"]].to_numpy()
    z = np.column_stack([x, wnt @ x]) if model in ("sdm", "sdem") else x
    dofadj = {"entity": n, "time": t, "twoways": n + t - 1}[fe]
    a = (n * t - dofadj - z.shape[1]) / 2
    lam = np.real(np.linalg.eigvals(w))
    lo, hi = 1 / lam.min(), 1 / lam.max()

    def log_f(r: float) -> float:
        b = np.eye(n * t) - r * wnt
        yy = q @ b @ y
        zz = q @ b @ z if model in ("sem", "sdem") else q @ z
        e = yy - zz @ np.linalg.lstsq(zz, yy, rcond=None)[0]
        out = -a * math.log(e @ e) + t * np.linalg.slogdet(np.eye(n) - r * w)[1] - math.log(hi - lo)
        return out - 0.5 * np.linalg.slogdet(zz.T @ zz)[1] if model in ("sem", "sdem") else out

    grid = np.linspace(lo + 1e-6, hi - 1e-6, 401)
    top = max(log_f(r) for r in grid)
    mode = float(grid[np.argmax([log_f(r) for r in grid])])
    val, err = integrate.quad(lambda r: math.exp(log_f(r) - top), lo, hi, points=[mode], limit=200,
                              epsabs=0, epsrel=1e-11)
    const = special.gammaln(a) - a * math.log(2 * math.pi)
    if model in ("sar", "sdm"):
        zz = q @ z
        const -= 0.5 * np.linalg.slogdet(zz.T @ zz)[1]
    return const + top + math.log(val)


@pytest.mark.parametrize("fe", ["entity", "twoways"])
@pytest.mark.parametrize("model", ["sar", "sdm", "sem", "sdem"])
def test_grid_equals_adaptive_quadrature(model, fe):
    df, w, ids = _small_panel()
    got = sp.model_probabilities([model], "y ~ x1 + x2", df, (w, ids), "id", "year", fe=fe)
    want = _quad_log_marginal(model, df, w, fe)
    assert got.log_marginal[model] == pytest.approx(want, rel=1e-9, abs=1e-7)


def test_closed_form_equals_integration_over_beta_and_sigma():
    """Eq. (2) for one regressor and unit effects: 2-d quadrature over (b, log sigma) of the likelihood of the
    nu = N (T - 1) demeaned observations under a flat prior of height sqrt(2) on b and 1/sigma on sigma,
    times 2^(1 - nu/2) (the module docstring's reading of LeSage's constant)."""
    df, w, ids = _small_panel(seed=5, n=5, t=3)
    n, t = 5, 3
    d = df.sort_values(["year", "id"])
    q = _dense_q(n, t, "entity")
    y, x = q @ d["y"].to_numpy(), q @ d["x1"].to_numpy()
    nu = n * (t - 1)
    bhat = (x @ y) / (x @ x)
    s0 = float(np.sum((y - x * bhat) ** 2))
    se = math.sqrt(s0 / (nu - 1) / (x @ x))
    peak = -nu / 2 * math.log(2 * math.pi * s0 / nu) - nu / 2  # log-likelihood at its maximum

    def f(u: float, b: float) -> float:  # u = log sigma, d sigma / sigma = du
        s = float(np.sum((y - x * b) ** 2))
        return math.exp(-nu / 2 * math.log(2 * math.pi) - nu * u - s / (2 * math.exp(2 * u)) - peak)

    u0 = 0.5 * math.log(s0 / nu)
    val, _ = integrate.dblquad(f, bhat - 60 * se, bhat + 60 * se, u0 - 8, u0 + 12, epsabs=0, epsrel=1e-11)
    want = math.log(val) + peak + 0.5 * math.log(2) + (1 - nu / 2) * math.log(2)
    got = sp.model_probabilities(["ols"], "y ~ x1", df, (w, ids), "id", "year", fe="entity")
    assert got.log_marginal["ols"] == pytest.approx(want, rel=1e-9, abs=1e-8)


def test_beta_prior_is_a_density_on_the_interval():
    r = np.linspace(-1, 1, 200_001)[1:-1]
    for a in (1.01, 1.5, 3.0):
        dens = np.exp(bayes.beta_log_density(r, a))
        assert integrate.trapezoid(dens, r) == pytest.approx(1.0, abs=2e-3 if a < 1.1 else 1e-6)


# ------------------------------------------------------------------ (3) simulated DGPs
def _lattice(side: int) -> np.ndarray:
    n = side * side
    a = np.zeros((n, n))
    for i in range(side):
        for j in range(side):
            k = i * side + j
            if i + 1 < side:
                a[k, k + side] = a[k + side, k] = 1
            if j + 1 < side:
                a[k, k + 1] = a[k + 1, k] = 1
    return a / a.sum(axis=1, keepdims=True)


def _simulate(kind: str, seed: int, side: int = 7, t: int = 10, dep: float = 0.6):
    rng = np.random.default_rng(seed)
    w = _lattice(side)
    n = side * side
    inv = np.linalg.inv(np.eye(n) - dep * w)
    mu = rng.normal(size=n)
    rows = []
    for s in range(t):
        x = rng.normal(size=(n, 2))
        eps = rng.normal(size=n)
        if kind == "sar":
            y = inv @ (x @ [1.0, -1.0] + mu + eps)
        else:
            y = x @ [1.0, -1.0] + mu + inv @ eps
        rows.append(pd.DataFrame({"id": [f"c{i}" for i in range(n)], "year": s, "y": y, "x1": x[:, 0],
                                  "x2": x[:, 1]}))
    return pd.concat(rows, ignore_index=True), (w, [f"c{i}" for i in range(n)])


@pytest.mark.parametrize("kind,winners,losers", [("sar", ["sar", "sdm"], ["sem", "sdem"]),
                                                  ("sem", ["sem", "sdem"], ["sar", "sdm"])])
def test_simulated_dgp_gets_the_probability(kind, winners, losers):
    """N = 49 (7 x 7 rook lattice), T = 10, unit effects, rho or lambda = 0.6, five seeds.

    The nested alternatives keep some probability (an SEM is an SDM with theta = -lambda beta; with
    beta = (1, -1) an SDEM's W X terms mimic part of a SAR's spillovers), so the bound is on the pair.
    """
    won = []
    for seed in range(11, 16):
        df, w = _simulate(kind, seed)
        got = sp.model_probabilities(MODELS, "y ~ x1 + x2", df, w, "id", "year", fe="entity")
        assert got.probability.sum() == pytest.approx(1.0, abs=1e-14)
        assert got.probability[["ols", "slx"]].sum() < 1e-6
        assert got.probability[winners].sum() > 0.6
        assert got.probability[losers[0]] < 0.01
        won.append(got.probability[winners].sum())
    assert np.mean(won) > 0.8


# ------------------------------------------------------------------ (4) bad input
def test_bad_input_is_named(produc, weights):
    df, w = produc
    call = lambda **kw: sp.model_probabilities(  # noqa: E731
        kw.pop("models", ["sar"]), FORMULA, kw.pop("data", df), kw.pop("w", w), "state", "year", **kw)
    with pytest.raises(SpecificationError, match=r"unknown model 'gns'.*option='models'"):
        call(models=["sar", "gns"])
    with pytest.raises(SpecificationError, match=r"listed twice"):
        call(models=["sar", "SAR"])
    with pytest.raises(SpecificationError, match=r"non-empty list"):
        call(models=[])
    with pytest.raises(SpecificationError, match=r"option='fe'"):
        call(fe="individual")
    with pytest.raises(SpecificationError, match=r"option='prior'"):
        call(prior="flat")
    with pytest.raises(SpecificationError, match=r"option='convention'"):
        call(convention="matlab")
    with pytest.raises(SpecificationError, match=r"option='beta_a'"):
        call(prior="beta", beta_a=0.5)
    with pytest.raises(SpecificationError, match=r"unbalanced panel"):
        call(data=df.drop(index=df.index[5]))
    with pytest.raises(SpecificationError, match=r"option='w'.*entities and w ids differ"):
        call(data=df[df.state != "OHIO"])
    with pytest.raises(SpecificationError, match=r"option='w'"):
        call(w={})
    with pytest.raises(SpecificationError, match=r"beta prior.*option='prior'"):
        wb, ids = weights["binary_specnorm"]
        call(w=(wb * 2.0, ids), prior="beta")
