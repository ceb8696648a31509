"""sp.GM: generalized moments (Kapoor, Kelejian & Prucha 2007) and spatial 2SLS / GS2SLS for panels.

(1) R splm's ``spgm`` on Produc with usaww (tests/reference/gm/spgm.csv, made by make_gm_reference.R);
(2) brute force: the 2SLS / FGLS steps with dense projection and GLS matrices on a small seeded
    panel, and the GM moment conditions computed from their definition with dense Q0, Q1, I_T x W;
(3) seeded consistency: large panels recover the parameters (and a replication check of the SEs);
(4) bad input gives a SpecificationError naming the option;
(5)-(8) the same for Durbin terms (SDM, GNS): pysal spreg's GM_Lag on the within-transformed stack (conventions
    stated in that section), dense projections, seeded consistency with an endogenous regressor, bad input;
(9) period and two-way effects: dense transformed 2SLS and GM, the unit-effects fit with period dummies, spreg;
(10) cov="robust" / "cluster": dense sandwiches, spreg's White covariance (in (9)), a seeded heteroskedastic panel;
(11)-(12) the SDEM (model="sem" with durbin) and w_x / w_u: lags added by hand, dense brute force, the ML SDEM.

Conventions where spillover and splm 1.6.5 differ; each is checked exactly after the stated conversion:

* SEM with fixed effects: splm's standard errors use lm's residual variance of the final within
  regression, e'e / (NT - k); spillover uses the GM estimate sigma2_v (the covariance of KKP's feasible
  GLS, which splm itself uses in all its other GM cases).
* SAR with fixed effects (W2SLS): splm's standard errors use e'e / (NT - p). Its rescaling to
  N(T-1) - p degrees of freedom assigns ``res$var``, a field its 2SLS routine never sets, so the
  covariance keeps lm's NT - p; spillover uses N(T-1) - p, net of the N unit means.
* moments="weights" with random effects: splm's nlminb stops next to the initial estimate (the
  weighted criterion is badly scaled). The criterion at spillover's estimate is lower; splm with
  Nelder-Mead and a tight tolerance reaches spillover's estimate (case sem_random_weights_nm), and
  given splm's (lambda, sigma2_v, sigma2_1) spillover's last step reproduces splm's coefficients.
* fixed effects with moments="fullweights": splm ignores ``moments`` for model="within" (its three
  within cases are identical); spillover weights the three within moments by T_W^-1 (KKP's Xi block).
"""

from __future__ import annotations

from pathlib import Path

import libpysal
import numpy as np
import pandas as pd
import pytest
from scipy import optimize

import spillover as sp
from spillover.errors import SpecificationError
from spillover.spatial import gm as gm_module
from spillover.spatial.gm_moments import GMFit

REF = pd.read_csv(Path(__file__).parent / "reference" / "gm" / "spgm.csv")
F = "lgsp ~ lpcap + lpc + lemp + unemp"
F_ENDOG = "lgsp ~ lpc + lemp + unemp"  # + endogenous lpcap instrumented by lhwy
MOMENTS = ("initial", "weights", "fullweights")


@pytest.fixture(scope="module")
def pr(produc):
    df, w = produc
    df = df.copy()
    df["lhwy"] = np.log(df["hwy"])
    return df, w


def _spec(case: str) -> dict:
    """GM options of a reference case name such as ``sarar_random_fullweights`` or ``sem_within_endog``."""
    parts = case.split("_")
    kw = {"model": parts[0], "fe": {"within": "entity", "random": "random"}[parts[1]]}
    if "endog" in parts:
        return {**kw, "formula": F_ENDOG, "endog": ["lpcap"], "instruments": ["lhwy"]}
    return {**kw, "formula": F, "moments": parts[2] if len(parts) > 2 else "initial"}


def _fit(pr, case: str):
    df, w = pr
    kw = _spec(case)
    return sp.GM(kw.pop("formula"), df, w, "state", "year", **kw).fit()


def _ref(case: str) -> pd.DataFrame:
    out = REF[REF.case == case].set_index("term")
    assert len(out), case
    return out


def _estimate(res, term: str) -> float:
    extra = {"sigma2_v": res.sigma2, "sigma2_1": res.sigma2_1, "theta": res.theta}
    return float(res.params[term]) if term in res.params.index else float(extra[term])


def _splm_se(case: str, res) -> pd.Series:
    """spillover's standard errors converted to splm's convention (module docstring)."""
    n, t, p = res.N, res.T, int(np.isfinite(np.diag(res.cov_params.to_numpy())).sum())
    se = res.bse
    if case.startswith("sem_within") and "endog" not in case:
        return se * np.sqrt(res.extra["sse"] / (n * t - p) / res.sigma2)
    if case.startswith("sar_within"):
        return se * np.sqrt((n * (t - 1) - p) / (n * t - p))
    return se


# ----------------------------------------------------------------------------- (1) R splm
EXACT = [c for c in REF.case.unique() if c not in ("sem_within_fullweights", "sem_random_weights",
                                                     "sarar_random_weights")]


@pytest.mark.parametrize("case", EXACT)
def test_matches_splm(pr, case):
    ref = _ref(case)
    res = _fit(pr, case)
    ours = np.array([_estimate(res, term) for term in ref.index])
    np.testing.assert_allclose(ours, ref.estimate.to_numpy(), rtol=1e-6, atol=0, err_msg=case)
    has_se = ref.se.notna()
    se = _splm_se(case, res)[ref.index[has_se]].to_numpy()
    np.testing.assert_allclose(se, ref.se[has_se].to_numpy(), rtol=1e-6, atol=0, err_msg=case)
    assert res.bse.index.tolist() == res.params.index.tolist()
    if "lambda" in res.params:
        assert np.isnan(res.bse["lambda"])  # KKP give no standard error for the GM lambda


def test_se_conventions_are_the_only_difference(pr):
    """Unconverted, the fixed-effects SEM and SAR standard errors differ from splm's by the stated factors."""
    for case, factor in (("sem_within_initial", None), ("sar_within", (48 * 17 - 5) / (48 * 16 - 5))):
        res = _fit(pr, case)
        ref = _ref(case)
        ratio = (res.bse[ref.index[ref.se.notna()]] / ref.se.dropna()).to_numpy()
        if factor is None:
            factor = res.sigma2 / (res.extra["sse"] / (48 * 17 - 4))
        np.testing.assert_allclose(ratio, np.sqrt(factor), rtol=1e-6)
        assert abs(ratio[0] - 1) > 1e-3


@pytest.mark.parametrize("case", ["sem_random_weights", "sarar_random_weights"])
def test_splm_weights_stops_early_and_the_last_step_agrees(pr, case, monkeypatch):
    """Our weighted criterion is lower than at splm's estimate; given splm's GM values the rest is identical."""
    ref = _ref(case)
    res = _fit(pr, case)
    df, w = pr
    dense = Dense.of(pr)
    u0, u1 = dense.first_step(df, case)
    init = _fit(pr, case.replace("weights", "initial"))
    psi = dense.weight(init.sigma2, init.sigma2_1, full=False)

    def crit(lam, s2v, s21):
        m = dense.moments(u0, u1, lam, s2v, s21)
        return float(m @ psi @ m)

    ours = crit(res.params["lambda"], res.sigma2, res.sigma2_1)
    theirs = crit(*(ref.estimate[k] for k in ("lambda", "sigma2_v", "sigma2_1")))
    assert ours < theirs * (1 - 1e-4)
    fixed = GMFit(float(ref.estimate["lambda"]), ref.estimate[["sigma2_v", "sigma2_1"]].to_numpy(float), 0.0)
    monkeypatch.setattr(gm_module, "estimate", lambda *a, **k: fixed)
    again = _fit(pr, case)
    terms = [t for t in ref.index if t in again.params.index]
    np.testing.assert_allclose(again.params[terms].to_numpy(), ref.estimate[terms].to_numpy(), rtol=1e-6)
    has_se = [t for t in terms if np.isfinite(ref.se[t])]
    np.testing.assert_allclose(again.bse[has_se].to_numpy(), ref.se[has_se].to_numpy(), rtol=1e-6)


def test_within_moments_weights(pr):
    """splm ignores moments for 'within'; ours: partial weighting = initial, full weighting = T_W^-1 minimum."""
    cols = ["term", "estimate", "se"]
    a, b, c = (REF[REF.case == f"sem_within_{m}"][cols].reset_index(drop=True) for m in MOMENTS)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    ini, wei, full = (_fit(pr, f"sem_within_{m}") for m in MOMENTS)
    np.testing.assert_allclose(wei.params.to_numpy(), ini.params.to_numpy(), rtol=1e-12)
    assert abs(full.params["lambda"] - ini.params["lambda"]) > 1e-3
    dense = Dense.of(pr)
    u0 = dense.within_ols_resid(pr[0])
    L = np.linalg.cholesky(np.linalg.inv(dense.t_w())).T

    def resid(x):
        return L @ dense.moments(u0, None, x[0], x[1], None)

    sol = optimize.least_squares(resid, [0.0, 0.001], x_scale=[0.1, 0.001], xtol=1e-15, ftol=1e-15, gtol=1e-15)
    np.testing.assert_allclose([full.params["lambda"], full.sigma2], sol.x, rtol=1e-7)


# ----------------------------------------------------------------------------- (2) brute force
class Dense:
    """Dense I_T x W, Q0, Q1 and the KKP moments from their definition (no code shared with the package)."""

    def __init__(self, W: np.ndarray, ids: list, t: int):
        n = W.shape[0]
        self.W, self.ids, self.n, self.t = W, ids, n, t
        self.WT = np.kron(np.eye(t), W)
        self.Q1 = np.kron(np.full((t, t), 1.0 / t), np.eye(n))
        self.Q0 = np.eye(n * t) - self.Q1

    @classmethod
    def of(cls, pr) -> Dense:
        df, w = pr
        return cls(w.sparse.toarray(), list(w.id_order), df["year"].nunique())

    def stack(self, df: pd.DataFrame, cols, entity: str = "state", time: str = "year") -> np.ndarray:
        """Columns of ``df`` stacked time-major in W's unit order."""
        pos = {v: i for i, v in enumerate(self.ids)}
        d = df.assign(_o=df[entity].map(pos)).sort_values([time, "_o"])
        return d[cols].to_numpy(dtype=float)

    def moments(self, u0, u1, lam, s2v, s21) -> np.ndarray:
        """The three Q0 (and, with ``u1``, three Q1) sample moments minus their expectations."""
        tr = np.trace(self.W.T @ self.W) / self.n

        def three(u, Q, scale, s2):
            e = u - lam * (self.WT @ u)
            eb = self.WT @ e
            return np.array([e @ Q @ e / scale - s2, eb @ Q @ eb / scale - s2 * tr, eb @ Q @ e / scale])

        out = [three(u0, self.Q0, self.n * (self.t - 1), s2v)]
        if u1 is not None:
            out.append(three(u1, self.Q1, self.n, s21))
        return np.concatenate(out)

    def t_w(self) -> np.ndarray:
        W, n = self.W, self.n
        A = W.T @ W
        t1, t2, t3, t4 = (np.trace(A) / n, np.trace(A @ A) / n, np.trace(A @ (W.T + W)) / n,
                          np.trace(W @ W + A) / n)
        return np.array([[2, 2 * t1, 0], [2 * t1, 2 * t2, t3], [0, t3, t4]])

    def weight(self, s2v, s21, *, full: bool) -> np.ndarray:
        tw = self.t_w() if full else np.eye(3)
        return np.linalg.inv(np.kron(np.diag([s2v ** 2 / (self.t - 1), s21 ** 2]), tw))

    @staticmethod
    def tsls(y, Z, H=None):
        Zh = Z if H is None else H @ np.linalg.pinv(H) @ Z
        coef = np.linalg.solve(Zh.T @ Z, Zh.T @ y)
        return coef, y - Z @ coef, Zh

    def within_ols_resid(self, df) -> np.ndarray:
        y = self.stack(df, ["lgsp"])[:, 0]
        X = self.stack(df, ["lpcap", "lpc", "lemp", "unemp"])
        return self.tsls(self.Q0 @ y, self.Q0 @ X)[1]

    def first_step(self, df, case: str):
        """(Q0 part, Q1 part) of the first-step residuals: pooled OLS (SEM) or W2SLS / B2SLS (SARAR)."""
        y = self.stack(df, ["lgsp"])[:, 0]
        X = np.column_stack([np.ones(len(y)), self.stack(df, ["lpcap", "lpc", "lemp", "unemp"])])
        if case.startswith("sem"):
            u = self.tsls(y, X)[1]
            return self.Q0 @ u, self.Q1 @ u
        Z = np.column_stack([X, self.WT @ y])
        H = np.column_stack([X, self.WT @ X, self.WT @ self.WT @ X])
        _, uw, _ = self.tsls(self.Q0 @ y, self.Q0 @ Z[:, 1:], self.Q0 @ H[:, 1:])
        _, ub, _ = self.tsls(self.Q1 @ y, self.Q1 @ Z, self.Q1 @ H)
        return uw, ub


def test_initial_gm_solves_its_moment_conditions(pr):
    """Initial GM: (lambda, sigma2_v) is the least-squares solution of the three Q0 conditions; sigma2_1
    solves the first Q1 condition exactly (dense moments from the definition)."""
    dense = Dense.of(pr)
    for case in ("sem_random_initial", "sarar_random_initial"):
        res = _fit(pr, case)
        u0, u1 = dense.first_step(pr[0], case)
        sol = optimize.least_squares(lambda x: dense.moments(u0, None, x[0], x[1], None), [0.0, 0.001],
                                     x_scale=[0.1, 0.001], xtol=1e-15, ftol=1e-15, gtol=1e-15)
        np.testing.assert_allclose([res.params["lambda"], res.sigma2], sol.x, rtol=1e-7, err_msg=case)
        m = dense.moments(u0, u1, res.params["lambda"], res.sigma2, res.sigma2_1)
        assert abs(m[3]) < 1e-12 * res.sigma2_1
        assert np.abs(m[:3]).max() > 1e-8  # three conditions, two unknowns: not all zero


@pytest.mark.parametrize("full", [False, True])
def test_weighted_gm_minimises_the_weighted_criterion(pr, full):
    dense = Dense.of(pr)
    case = "sem_random_" + ("fullweights" if full else "weights")
    res, init = _fit(pr, case), _fit(pr, "sem_random_initial")
    u0, u1 = dense.first_step(pr[0], case)
    L = np.linalg.cholesky(dense.weight(init.sigma2, init.sigma2_1, full=full)).T
    sol = optimize.least_squares(lambda x: L @ dense.moments(u0, u1, *x), [0.0, 0.001, 0.1],
                                 x_scale=[0.1, 0.001, 0.1], xtol=1e-15, ftol=1e-15, gtol=1e-15)
    np.testing.assert_allclose([res.params["lambda"], res.sigma2, res.sigma2_1], sol.x, rtol=1e-7)


def _small_panel(seed: int, n: int = 12, t: int = 4):
    """A seeded SARAR panel with unit effects, an endogenous regressor d and its instrument z."""
    rng = np.random.default_rng(seed)
    A = (rng.random((n, n)) < 0.3).astype(float)
    A = np.triu(A, 1)
    A = A + A.T
    for i in range(n):  # everyone has a neighbour
        A[i, (i + 1) % n] = A[(i + 1) % n, i] = 1.0
    W = A / A.sum(axis=1, keepdims=True)
    ids = [f"u{i:02d}" for i in range(n)]
    mu = rng.normal(size=n)
    rows = []
    S, R = np.linalg.inv(np.eye(n) - 0.3 * W), np.linalg.inv(np.eye(n) - 0.4 * W)
    for s in range(t):
        x1, x2, z = rng.normal(size=(3, n))
        nu = rng.normal(size=n)
        d = z + 0.5 * nu + rng.normal(size=n)
        u = R @ (mu + nu)
        y = S @ (1.0 + x1 - 0.5 * x2 + 0.7 * d + u)
        rows.append(pd.DataFrame({"unit": ids, "year": 2000 + s, "y": y, "x1": x1 + 0.3 * mu, "x2": x2,
                                  "d": d, "z": z}))
    df = pd.concat(rows, ignore_index=True).sample(frac=1.0, random_state=seed)  # rows in no particular order
    return df, W, ids


@pytest.mark.parametrize("seed", [1, 2])
def test_two_sls_steps_by_dense_projections(seed):
    """SAR W2SLS and EC2SLS, SARAR and SEM GLS steps: dense P_H and Omega^-1/2 give the same numbers."""
    df, W, ids = _small_panel(seed)
    n, t = W.shape[0], 4
    dense = Dense(W, ids, t)
    st = dense.stack(df, ["y", "x1", "x2", "d", "z"], entity="unit")
    y, X, d, z = st[:, 0], st[:, 1:3], st[:, 3:4], st[:, 4:5]
    one = np.ones((n * t, 1))
    WT, Q0, Q1 = dense.WT, dense.Q0, dense.Q1

    def fit(**kw):
        return sp.GM("y ~ x1 + x2", df, (W, ids), "unit", "year", endog=["d"], instruments=["z"], **kw).fit()

    # SAR, fixed effects: W2SLS
    Z = np.column_stack([X, d, WT @ y])
    H = np.column_stack([X, z, WT @ X, WT @ WT @ X])
    coef, e, Zh = Dense.tsls(Q0 @ y, Q0 @ Z, Q0 @ H)
    cov = e @ e / (n * (t - 1) - 4) * np.linalg.inv(Zh.T @ Zh)
    res = fit(model="sar", fe="entity")
    np.testing.assert_allclose(res.params.to_numpy(), coef, rtol=1e-9)
    np.testing.assert_allclose(res.bse.to_numpy(), np.sqrt(np.diag(cov)), rtol=1e-9)

    # SAR, random effects: EC2SLS
    X1 = np.column_stack([one, X])
    Z1 = np.column_stack([X1, d, WT @ y])
    H1 = np.column_stack([X1, z, WT @ X1, WT @ WT @ X1])
    _, ew, _ = Dense.tsls(Q0 @ y, Q0 @ Z, Q0 @ H)
    _, eb, _ = Dense.tsls(Q1 @ y, Q1 @ Z1, Q1 @ H1)
    s2v, s21 = ew @ ew / (n * (t - 1) - 4), eb @ eb / (n - 5)
    Om = Q0 / np.sqrt(s2v) + Q1 / np.sqrt(s21)
    coef, e, Zh = Dense.tsls(Om @ y, Om @ Z1, np.column_stack([Q0 @ H1, Q1 @ H1]))
    cov = e @ e / (n * t - 5) * np.linalg.inv(Zh.T @ Zh)
    res = fit(model="sar", fe="random")
    np.testing.assert_allclose(res.params.to_numpy(), coef, rtol=1e-9)
    np.testing.assert_allclose(res.bse.to_numpy(), np.sqrt(np.diag(cov)), rtol=1e-9)
    np.testing.assert_allclose([res.sigma2, res.sigma2_1], [s2v, s21], rtol=1e-9)

    # SARAR, random effects: GLS GS2SLS at the GM estimates, covariance (Zh' Zh)^-1 with Omega^-1/2 scaling
    res = fit(model="sarar", fe="random")
    lam, s2v, s21 = res.params["lambda"], res.sigma2, res.sigma2_1
    Om = (Q0 / np.sqrt(s2v) + Q1 / np.sqrt(s21)) @ (np.eye(n * t) - lam * WT)
    coef, e, Zh = Dense.tsls(Om @ y, Om @ Z1, np.column_stack([Q0 @ H1, Q1 @ H1]))
    np.testing.assert_allclose(res.params.drop("lambda").to_numpy(), coef, rtol=1e-9)
    np.testing.assert_allclose(res.bse.drop("lambda").to_numpy(), np.sqrt(np.diag(np.linalg.inv(Zh.T @ Zh))),
                               rtol=1e-9)

    # SEM, random effects with the endogenous d: FGLS 2SLS
    res = fit(model="sem", fe="random")
    lam, s2v, s21 = res.params["lambda"], res.sigma2, res.sigma2_1
    Om = (Q0 / np.sqrt(s2v) + Q1 / np.sqrt(s21)) @ (np.eye(n * t) - lam * WT)
    coef, e, Zh = Dense.tsls(Om @ y, Om @ np.column_stack([X1, d]), np.column_stack([Om @ X1, Q0 @ z, Q1 @ z]))
    np.testing.assert_allclose(res.params.drop("lambda").to_numpy(), coef, rtol=1e-9)
    np.testing.assert_allclose(res.bse.drop("lambda").to_numpy(), np.sqrt(np.diag(np.linalg.inv(Zh.T @ Zh))),
                               rtol=1e-9)


def test_row_order_and_impacts(pr):
    """Shuffled rows give the same fit; SAR impacts equal the dense formulas; SARAR impacts skip lambda."""
    df, w = pr
    res = _fit(pr, "sar_within")
    again = sp.GM(F, df.sample(frac=1.0, random_state=3), w, "state", "year", model="sar").fit()
    np.testing.assert_allclose(again.params.to_numpy(), res.params.to_numpy(), rtol=1e-12)
    W = w.sparse.toarray()
    S = np.linalg.inv(np.eye(48) - res.params["rho"] * W)
    b = res.params.drop("rho")
    tab = res.impacts(method="delta").table
    np.testing.assert_allclose(tab["direct"].to_numpy(), b.to_numpy() * np.trace(S) / 48, rtol=1e-9)
    np.testing.assert_allclose(tab["total"].to_numpy(), b.to_numpy() * S.sum() / 48, rtol=1e-9)
    sim = res.impacts(draws=200, seed=5).table
    pd.testing.assert_frame_equal(sim, res.impacts(draws=200, seed=5).table)
    assert np.all(sim["direct_se"] > 0)
    sarar = _fit(pr, "sarar_random_endog").impacts(draws=100, seed=1).table
    assert list(sarar.index) == ["lpc", "lemp", "unemp", "lpcap"] and np.all(np.isfinite(sarar["total_se"]))
    with pytest.raises(ValueError, match="not defined"):
        _fit(pr, "sem_within_initial").impacts()


def test_summary_and_registry(pr):
    df, w = pr
    res = _fit(pr, "sarar_random_endog")
    text = res.summary()
    for part in ("SARAR", "random unit effects", "Moments: initial", "Instruments:", "W X, W^2 X",
                 "Endogenous: lpcap", "External instruments: lhwy", "lambda"):
        assert part in text, part
    assert "Moments: n/a" in _fit(pr, "sar_random").summary()
    assert "Moments: fullweights" in repr(_fit(pr, "sem_within_fullweights"))
    from spillover import registry

    req = registry.FitRequest(F, df, w, "state", "year", fe="entity", method="lee-yu",
                              options={"moments": "fullweights"})
    via = registry.get("gm_sarar").run(req)
    direct = sp.GM(F, df, w, "state", "year", model="sarar", fe="entity", moments="fullweights").fit()
    np.testing.assert_array_equal(via.params.to_numpy(), direct.params.to_numpy())
    assert registry.get("gm_sar").impacts and not registry.get("gm_sem").impacts
    bracket = sp.GM(F_ENDOG + " + [lpcap ~ lhwy]", df, w, "state", "year", model="sem").fit()
    np.testing.assert_array_equal(bracket.params.to_numpy(), _fit(pr, "sem_within_endog").params.to_numpy())


# ----------------------------------------------------------------------------- (3) consistency
def _grid_setup(seed: int, side: int, rho: float, lam: float):
    """A seeded generator, the row-standardised rook grid W (libpysal and dense), (I - rho W)^-1, (I - lam W)^-1
    and unit effects mu."""
    rng = np.random.default_rng(seed)
    w = libpysal.weights.lat2W(side, side, rook=True)
    w.transform = "r"
    W = w.sparse.toarray()
    n = W.shape[0]
    S, R = np.linalg.inv(np.eye(n) - rho * W), np.linalg.inv(np.eye(n) - lam * W)
    return rng, w, W, S, R, rng.normal(size=n)


def _grid_panel(seed: int, side: int, t: int, *, rho: float, lam: float, fe: str, endog: bool = False):
    """y = rho W y + 1 + x1 - 0.5 x2 (+ 0.7 d) + mu + u, u = lam W u + nu on a rook grid (row-standardised)."""
    rng, w, W, S, R, mu = _grid_setup(seed, side, rho, lam)
    n = W.shape[0]
    rows = []
    for s in range(t):
        nu = rng.normal(size=n)
        x1 = rng.normal(size=n) + (0.8 * mu if fe == "entity" else 0.0)  # fixed effects correlated with x1
        x2, z = rng.normal(size=(2, n))
        d = z + 0.8 * nu + 0.5 * rng.normal(size=n)
        xb = 1.0 + x1 - 0.5 * x2 + (0.7 * d if endog else 0.0)
        y = S @ (xb + mu + R @ nu)
        rows.append(pd.DataFrame({"unit": w.id_order, "year": s, "y": y, "x1": x1, "x2": x2, "d": d, "z": z}))
    return pd.concat(rows, ignore_index=True), w


@pytest.mark.parametrize("moments", MOMENTS)
def test_sem_random_effects_recovers_parameters(moments):
    df, w = _grid_panel(11, 20, 6, rho=0.0, lam=0.5, fe="random")
    res = sp.GM("y ~ x1 + x2", df, w, "unit", "year", model="sem", fe="random", moments=moments).fit()
    assert abs(res.params["lambda"] - 0.5) < 0.06
    assert abs(res.sigma2 - 1.0) < 0.1 and abs(res.sigma2_1 - 7.0) < 1.4  # sigma2_1 = 1 + T * 1
    z = (res.params[["Intercept", "x1", "x2"]] - [1.0, 1.0, -0.5]) / res.bse[["Intercept", "x1", "x2"]]
    assert np.abs(z).max() < 4


def test_sarar_fixed_effects_recovers_rho_and_lambda():
    df, w = _grid_panel(12, 20, 6, rho=0.4, lam=0.3, fe="entity")
    res = sp.GM("y ~ x1 + x2", df, w, "unit", "year", model="sarar", fe="entity").fit()
    z = (res.params[["x1", "x2", "rho"]] - [1.0, -0.5, 0.4]) / res.bse[["x1", "x2", "rho"]]
    assert np.abs(z).max() < 4
    assert abs(res.params["lambda"] - 0.3) < 0.08
    re = sp.GM("y ~ x1 + x2", df, w, "unit", "year", model="sarar", fe="random").fit()
    assert abs(re.params["x1"] - 1.0) / re.bse["x1"] > 4  # random effects ignore the correlation of mu and x1


def test_endogenous_regressor_needs_its_instrument():
    df, w = _grid_panel(13, 20, 5, rho=0.3, lam=0.0, fe="entity", endog=True)
    iv = sp.GM("y ~ x1 + x2", df, w, "unit", "year", model="sar", endog=["d"], instruments=["z"]).fit()
    assert abs(iv.params["d"] - 0.7) / iv.bse["d"] < 4 and abs(iv.params["rho"] - 0.3) / iv.bse["rho"] < 4
    naive = sp.GM("y ~ x1 + x2 + d", df, w, "unit", "year", model="sar").fit()
    assert abs(naive.params["d"] - 0.7) / naive.bse["d"] > 4


def test_sar_standard_errors_match_the_spread_of_estimates():
    """W2SLS over 100 seeded samples: means close to the truth, SEs close to the standard deviations
    (a variance off by a factor 1.6 gives a ratio near 0.78 and fails)."""
    est, ses = [], []
    for seed in range(100):
        df, w = _grid_panel(100 + seed, 8, 5, rho=0.4, lam=0.0, fe="entity")
        res = sp.GM("y ~ x1 + x2", df, w, "unit", "year", model="sar").fit()
        est.append(res.params[["x1", "rho"]].to_numpy())
        ses.append(res.bse[["x1", "rho"]].to_numpy())
    est, ses = np.array(est), np.array(ses)
    sd = est.std(axis=0, ddof=1)
    assert np.all(np.abs(est.mean(axis=0) - [1.0, 0.4]) < 3 * sd / 10 + 0.005)
    ratio = sd / ses.mean(axis=0)
    assert np.all((ratio > 0.8) & (ratio < 1.2)), ratio


# ----------------------------------------------------------------------------- (4) bad input
BAD = [
    ({"model": "sdm"}, "option='model'"),
    ({"moments": "full"}, "option='moments'"),
    ({"fe": "within"}, "option='fe'.*twoways"),
    ({"cov": "hac"}, "option='cov'.*cluster"),
    ({"durbin": False, "w_x": (np.eye(2), [0, 1])}, "Durbin terms W x, and there are none.*option='w_x'"),
    ({"model": "sar", "w_u": (np.eye(2), [0, 1])}, "no spatial error.*option='w_u'"),
    ({"fe": "none"}, "option='fe'"),
    ({"model": "sar", "moments": "weights"}, "no spatial error.*option='moments'"),
    ({"endog": ["lpcap"]}, "needs external instruments.*option='instruments'"),
    ({"instruments": ["lhwy"]}, "without endogenous.*option='endog'"),
    ({"endog": ["lpcap", "lpc"], "instruments": ["lhwy"]}, "not identified"),
    ({"endog": [3], "instruments": ["lhwy"]}, "option='endog'"),
    ({"endog": ["lemp"], "instruments": ["lhwy"]}, "listed twice"),
]


@pytest.mark.parametrize(("kw", "match"), BAD)
def test_bad_options(pr, kw, match):
    df, w = pr
    formula = F_ENDOG if "endog" in kw and kw["endog"] == ["lpcap"] else F
    with pytest.raises(SpecificationError, match=match):
        sp.GM(formula, df, w, "state", "year", **kw)


def test_bad_input_at_fit(pr):
    df, w = pr
    cases = [
        (dict(formula="lgsp ~ 1", model="sar", fe="random"), "W y not identified.*option='instruments'"),
        (dict(formula="lgsp ~ region + lpc", model="sem"), "collinear.*region"),
        (dict(formula=F_ENDOG, endog=["nosuch"], instruments=["lhwy"]), "nosuch"),
        (dict(formula=F_ENDOG, endog=["lpcap"], instruments=["region"]), "not identified"),
    ]
    for kw, match in cases:
        model = sp.GM(kw.pop("formula"), df, w, "state", "year", **kw)
        with pytest.raises(SpecificationError, match=match):
            model.fit()
    with pytest.raises(SpecificationError, match="given twice"):
        sp.GM(F_ENDOG + " + [lpcap ~ lhwy]", df, w, "state", "year", endog=["lpcap"], instruments=["lhwy"])
    with pytest.raises(SpecificationError, match="option='formula'"):
        sp.GM(None, df, w, "state", "year")
    with pytest.raises(SpecificationError, match="option='w'"):
        sp.GM(F, df, None, "state", "year")


def test_endog_and_instruments_as_expressions(pr):
    """Terms are matched as formulaic spells them: np.log( hwy ) is the column np.log(hwy)."""
    df, w = pr
    res = sp.GM(F_ENDOG, df, w, "state", "year", endog="np.log(pcap)", instruments=["np.log( hwy )"]).fit()
    ref = _fit(pr, "sem_within_endog")
    assert res.endog == ("np.log(pcap)",) and res.external_instruments == ("np.log(hwy)",)
    np.testing.assert_allclose(res.params.to_numpy(), ref.params.to_numpy(), rtol=1e-10)
    with pytest.raises(SpecificationError, match="not one term"):
        sp.GM(F_ENDOG, df, w, "state", "year", endog=["lpcap + lpc"], instruments=["lhwy", "lwater"])


def test_lambda_at_the_end_of_its_interval_is_flagged(pr, monkeypatch):
    """A common shock per period (W u = u) puts the GM minimum at lambda = 1: the search stops at 0.999 and
    flags it; a flagged GM step warns and marks the result as not converged."""
    from spillover.errors import ConvergenceWarning
    from spillover.spatial import gm_moments

    df, w = pr
    n, t = 48, 17
    shock = np.repeat(np.random.default_rng(0).normal(size=t), n)
    u0 = shock - np.tile(shock.reshape(t, n).mean(axis=0), t)
    fit = gm_moments.estimate(u0, None, w.sparse, n, t, "initial")
    assert fit.lam == pytest.approx(0.999) and any("end of its search interval" in f for f in fit.flags)
    monkeypatch.setattr(gm_module, "estimate", lambda *a, **k: fit)
    with pytest.warns(ConvergenceWarning, match="end of its search interval"):
        res = sp.GM(F, df, w, "state", "year", model="sem").fit()
    assert not res.converged and "WARNING" in res.summary()


# ============================================================================= Durbin terms (SDM / GNS)
# (5) pysal spreg on the within-transformed stack; (6) dense projections; (7) seeded consistency; (8) bad input.
#
# With unit fixed effects the within S2SLS of the SDM is a cross-section spatial 2SLS of Q0 y on Q0 [X, W X, W y]
# with W_NT = I_T kron W (Q0 commutes with it), which spreg.GM_Lag runs. Conventions, checked after conversion:
#
# * spreg's covariance uses e'e / NT (sig2n_k=False); spillover's e'e / (N(T-1) - p), net of the N unit means:
#   spreg's SE = ours * sqrt((N(T-1) - p) / NT). spreg adds a constant, whose coefficient is 0 on within data and
#   which is orthogonal to every other (mean-zero) column, so the other coefficients and SEs are unaffected.
# * instruments: without endogenous regressors GM_Lag(slx_lags=1, w_lags=2) uses [X, W X, W^2 X, W^3 X], our set.
#   With yend, spreg 1.9.0 lags its higher-order block again (w_lags=2 gives W^3 X and W^4 X, labelled W2_ and
#   W3_, and no W^2 X), so the endogenous case passes W^2 X in q with w_lags=1 and lag_q=False (external
#   instruments unlagged for W y, as ours): q = [z, W z, W^2 X] plus spreg's W^3 X is our set exactly.
SDM_F = "lgsp ~ lpcap + lpc + lemp + unemp"


def _within_stack(pr, cols):
    dense = Dense.of(pr)
    a = dense.stack(pr[0], cols)
    return dense.Q0 @ a, dense


def _spreg_w(dense):
    import scipy.sparse as sps

    big = sps.kron(sps.identity(dense.t), sps.csr_matrix(dense.W), format="csr")
    return libpysal.weights.WSP(big).to_W(silence_warnings=True)


@pytest.mark.filterwarnings("ignore:The inplace keyword")  # spreg's own pandas calls
@pytest.mark.parametrize("endog", [False, True])
def test_durbin_within_s2sls_matches_spreg(pr, endog):
    import spreg

    df, w = pr
    exog = ["lpc", "lemp", "unemp"] if endog else ["lpcap", "lpc", "lemp", "unemp"]
    a, dense = _within_stack(pr, ["lgsp"] + exog + ["lpcap", "lhwy"])
    y, X, E, Z = a[:, :1], a[:, 1:1 + len(exog)], a[:, -2:-1], a[:, -1:]
    wbig = _spreg_w(dense)
    lag = dense.WT.__matmul__
    if endog:
        res = sp.GM("lgsp ~ lpc + lemp + unemp", df, w, "state", "year", model="sar", durbin=True,
                    endog=["lpcap"], instruments=["lhwy"]).fit()
        ref = spreg.GM_Lag(y, X, yend=np.column_stack([E, lag(E)]), q=np.column_stack([Z, lag(Z), lag(lag(X))]),
                           w=wbig, w_lags=1, slx_lags=1, lag_q=False)
        order = exog + [f"W*{c}" for c in exog] + ["lpcap", "W*lpcap", "rho"]  # spreg: x, W x, yend, W y
    else:
        res = sp.GM(SDM_F, df, w, "state", "year", model="sar", durbin=True).fit()
        ref = spreg.GM_Lag(y, X, w=wbig, w_lags=2, slx_lags=1)
        order = exog + [f"W*{c}" for c in exog] + ["rho"]
    b, se = ref.betas.ravel(), np.sqrt(np.diag(ref.vm))
    assert abs(b[0]) < 1e-12  # the constant of within data
    n, t, p = res.N, res.T, len(res.params)
    np.testing.assert_allclose(res.params[order].to_numpy(), b[1:], rtol=1e-9)
    np.testing.assert_allclose(res.bse[order].to_numpy() * np.sqrt((n * (t - 1) - p) / (n * t)), se[1:], rtol=1e-9)
    assert res.model == "SDM" and res.wx_names == [c for c in order if c.startswith("W*")]


def test_durbin_row_order_names_and_registry(pr):
    """ML names and order (x, endog, W*x, rho); shuffled rows give the same fit; the registry passes durbin."""
    from spillover import registry

    df, w = pr
    res = sp.GM("lgsp ~ lpc + lemp + unemp", df, w, "state", "year", model="sarar", durbin=["lemp", "lpcap"],
                endog=["lpcap"], instruments=["lhwy"]).fit()
    assert res.params.index.tolist() == ["lpc", "lemp", "unemp", "lpcap", "W*lemp", "W*lpcap", "rho", "lambda"]
    assert res.model == "GNS" and np.isnan(res.bse["lambda"]) and "W Hx" in res.instruments
    assert res.first_stage.index.tolist() == ["lpcap", "W*lpcap", "W*lgsp"]
    again = sp.GM("lgsp ~ lpc + lemp + unemp", df.sample(frac=1.0, random_state=4), w, "state", "year",
                  model="sarar", durbin=["lemp", "lpcap"], endog=["lpcap"], instruments=["lhwy"]).fit()
    np.testing.assert_allclose(again.params.to_numpy(), res.params.to_numpy(), rtol=1e-12)
    req = registry.FitRequest(SDM_F, df, w, "state", "year", fe="entity", method="lee-yu", options={"durbin": True})
    via = registry.get("gm_sar").run(req)
    direct = sp.GM(SDM_F, df, w, "state", "year", model="sar", durbin=True).fit()
    np.testing.assert_array_equal(via.params.to_numpy(), direct.params.to_numpy())
    text = direct.summary()
    for part in ("SDM spatial panel", "Durbin terms: W*lpcap, W*lpc, W*lemp, W*unemp", "W^3 Xd",
                 "First-stage partial F: W*lgsp"):
        assert part in text, part
    plain = sp.GM(SDM_F, df, w, "state", "year", model="sar").fit()
    assert plain.model == "SAR" and plain.wx_names == [] and "Durbin" not in plain.summary()


def test_stata_lag_spelling_of_instruments(pr):
    """instruments=['L1.lhwy'] is lag(lhwy, 1): the first period is dropped, as for the IV bracket."""
    df, w = pr
    a = sp.GM("lgsp ~ lpc + lemp + unemp", df, w, "state", "year", model="sar", durbin=True, endog=["lpcap"],
              instruments=["L1.lhwy"]).fit()
    b = sp.GM("lgsp ~ lpc + lemp + unemp + [lpcap ~ L1.lhwy]", df, w, "state", "year", model="sar",
              durbin=True).fit()
    c = sp.GM("lgsp ~ lpc + lemp + unemp", df, w, "state", "year", model="sar", durbin=True, endog=["lpcap"],
              instruments=["lag(lhwy, 1)"]).fit()
    assert a.T == 16 and a.external_instruments == ("lag(lhwy, 1)",)
    np.testing.assert_array_equal(a.params.to_numpy(), b.params.to_numpy())
    np.testing.assert_array_equal(a.params.to_numpy(), c.params.to_numpy())


# ----------------------------------------------------------------------------- (6) dense projections
def _dense_first_stage(endo, xinc, H, absorbed):
    """Partial F and R2 from their definition with dense hat matrices (pinv)."""
    def ssr(a, b):
        r = a - b @ np.linalg.pinv(b) @ a
        return (r * r).sum(axis=0)

    U = np.column_stack([H, xinc])
    r, u = ssr(endo, xinc), ssr(endo, U)
    df1 = np.linalg.matrix_rank(U) - np.linalg.matrix_rank(xinc)
    df2 = endo.shape[0] - absorbed - np.linalg.matrix_rank(U)
    return (r - u) / df1 / (u / df2), 1 - u / r


@pytest.mark.parametrize("seed", [3, 4])
def test_durbin_two_sls_steps_by_dense_projections(seed):
    """SDM W2SLS and EC2SLS, GNS within and GLS GS2SLS, with instruments [X, W X, W^2 X, W^3 Xd, z, W z] built
    densely; the first-stage F; the GM step from the dense first-step residuals; SDM impacts from dense S."""
    n, t = 30, 4
    df, W, ids = _small_panel(seed, n=n, t=t)
    dense = Dense(W, ids, t)
    st = dense.stack(df, ["y", "x1", "x2", "d", "z"], entity="unit")
    y, X, d, z = st[:, 0], st[:, 1:3], st[:, 3:4], st[:, 4:5]
    WT, Q0, Q1 = dense.WT, dense.Q0, dense.Q1
    one = np.ones((n * t, 1))

    def fit(**kw):
        return sp.GM("y ~ x1 + x2", df, (W, ids), "unit", "year", endog=["d"], instruments=["z"], **kw).fit()

    # SDM, fixed effects, Durbin terms for x1 and d only: W^3 x1 joins the instruments, W z instruments W d
    Z = np.column_stack([X, d, WT @ X[:, :1], WT @ d, WT @ y])
    H = np.column_stack([X, WT @ X, WT @ WT @ X, WT @ WT @ WT @ X[:, :1], z, WT @ z])
    coef, e, Zh = Dense.tsls(Q0 @ y, Q0 @ Z, Q0 @ H)
    cov = e @ e / (n * (t - 1) - 6) * np.linalg.inv(Zh.T @ Zh)
    res = fit(model="sar", fe="entity", durbin=["x1", "d"])
    assert res.params.index.tolist() == ["x1", "x2", "d", "W*x1", "W*d", "rho"]
    np.testing.assert_allclose(res.params.to_numpy(), coef, rtol=1e-9)
    np.testing.assert_allclose(res.bse.to_numpy(), np.sqrt(np.diag(cov)), rtol=1e-9)
    xinc = Q0 @ np.column_stack([X, WT @ X[:, :1]])
    f, r2 = _dense_first_stage(Q0 @ np.column_stack([d, WT @ d, WT @ y]), xinc, Q0 @ H, n)
    np.testing.assert_allclose(res.first_stage["F"].to_numpy(), f, rtol=1e-9)
    np.testing.assert_allclose(res.first_stage["partial_r2"].to_numpy(), r2, rtol=1e-9)
    assert res.first_stage["df1"].iloc[0] == 6 and res.first_stage["df2"].iloc[0] == n * (t - 1) - 9

    # SDM impacts: direct = tr(S (b I + t W)) / N, total = 1'S (b I + t W) 1 / N, S = (I - rho W)^-1
    S = np.linalg.inv(np.eye(n) - res.params["rho"] * W)
    tab = res.impacts(method="delta").table
    for x in ("x1", "x2", "d"):
        b, th = res.params[x], res.params.get(f"W*{x}", 0.0)
        M = S @ (b * np.eye(n) + th * W)
        assert tab.loc[x, "direct"] == pytest.approx(np.trace(M) / n, rel=1e-9)
        assert tab.loc[x, "total"] == pytest.approx(M.sum() / n, rel=1e-9)

    # SDM, random effects, durbin=True (x1, x2 and d): EC2SLS with [Q0 A, Q1 A], A = [1, Xb, W Xb, W^2 Xb, z, W z]
    Xb = np.column_stack([X, WT @ X])
    Z1 = np.column_stack([one, X, d, WT @ X, WT @ d, WT @ y])
    A = np.column_stack([one, Xb, WT @ Xb, WT @ WT @ Xb, z, WT @ z])
    _, ew, _ = Dense.tsls(Q0 @ y, Q0 @ Z1[:, 1:], Q0 @ A)
    _, eb, _ = Dense.tsls(Q1 @ y, Q1 @ Z1, Q1 @ A)
    s2v, s21 = ew @ ew / (n * (t - 1) - 7), eb @ eb / (n - 8)
    Om = Q0 / np.sqrt(s2v) + Q1 / np.sqrt(s21)
    coef, e, Zh = Dense.tsls(Om @ y, Om @ Z1, np.column_stack([Q0 @ A, Q1 @ A]))
    cov = e @ e / (n * t - 8) * np.linalg.inv(Zh.T @ Zh)
    res = fit(model="sar", fe="random", durbin=True)
    assert res.params.index.tolist() == ["Intercept", "x1", "x2", "d", "W*x1", "W*x2", "W*d", "rho"]
    np.testing.assert_allclose(res.params.to_numpy(), coef, rtol=1e-9)
    np.testing.assert_allclose(res.bse.to_numpy(), np.sqrt(np.diag(cov)), rtol=1e-9)
    np.testing.assert_allclose([res.sigma2, res.sigma2_1], [s2v, s21], rtol=1e-9)

    # GNS, fixed effects: the GM step on the dense W2SLS residuals, then the within GS2SLS
    Z = np.column_stack([X, d, WT @ X, WT @ d, WT @ y])
    H = np.column_stack([Xb, WT @ Xb, WT @ WT @ Xb, z, WT @ z])
    _, u0, _ = Dense.tsls(Q0 @ y, Q0 @ Z, Q0 @ H)
    res = fit(model="sarar", fe="entity", durbin=True)
    sol = optimize.least_squares(lambda v: dense.moments(u0, None, v[0], v[1], None), [0.0, 0.5],
                                 x_scale=[0.1, 0.5], xtol=1e-15, ftol=1e-15, gtol=1e-15)
    np.testing.assert_allclose([res.params["lambda"], res.sigma2], sol.x, rtol=1e-7)
    lam = res.params["lambda"]
    F = Q0 @ (np.eye(n * t) - lam * WT)
    coef, e, Zh = Dense.tsls(F @ y, F @ Z, Q0 @ H)
    np.testing.assert_allclose(res.params.drop("lambda").to_numpy(), coef, rtol=1e-9)
    np.testing.assert_allclose(res.bse.drop("lambda").to_numpy(),
                               np.sqrt(np.diag(res.sigma2 * np.linalg.inv(Zh.T @ Zh))), rtol=1e-9)

    # GNS, random effects: GLS GS2SLS at the GM estimates
    res = fit(model="sarar", fe="random", durbin=True)
    lam, s2v, s21 = res.params["lambda"], res.sigma2, res.sigma2_1
    Om = (Q0 / np.sqrt(s2v) + Q1 / np.sqrt(s21)) @ (np.eye(n * t) - lam * WT)
    coef, e, Zh = Dense.tsls(Om @ y, Om @ Z1, np.column_stack([Q0 @ A, Q1 @ A]))
    np.testing.assert_allclose(res.params.drop("lambda").to_numpy(), coef, rtol=1e-9)
    np.testing.assert_allclose(res.bse.drop("lambda").to_numpy(), np.sqrt(np.diag(np.linalg.inv(Zh.T @ Zh))),
                               rtol=1e-9)


# ----------------------------------------------------------------------------- (7) consistency
def _sdm_panel(seed: int, side: int, t: int, *, rho: float, lam: float = 0.0):
    """y = rho W y + x1 - 0.5 x2 + 0.7 d + 0.4 W x1 + 0.3 W d + mu + u, u = lam W u + nu, d = z + 0.8 nu + noise
    (endogenous), x1 correlated with the unit effects mu (fixed effects needed)."""
    rng, w, W, S, R, mu = _grid_setup(seed, side, rho, lam)
    n = W.shape[0]
    rows = []
    for s in range(t):
        nu = rng.normal(size=n)
        x1 = rng.normal(size=n) + 0.8 * mu
        x2, z = rng.normal(size=(2, n))
        d = z + 0.8 * nu + 0.5 * rng.normal(size=n)
        y = S @ (x1 - 0.5 * x2 + 0.7 * d + W @ (0.4 * x1 + 0.3 * d) + mu + R @ nu)
        rows.append(pd.DataFrame({"unit": w.id_order, "year": s, "y": y, "x1": x1, "x2": x2, "d": d, "z": z}))
    return pd.concat(rows, ignore_index=True), w


def test_durbin_endogenous_regressor_needs_its_instrument():
    """The SDM with d and W d instrumented by z and W z recovers every parameter; with d taken as exogenous its
    coefficient is far off (cov(d, nu) = 0.8). The GNS (a spatial error too) likewise, lambda within 0.2 of the
    truth on 900 units (it has no standard error; over seeds 20-27 its estimates spread by about 0.06)."""
    df, w = _sdm_panel(21, 20, 5, rho=0.35)
    truth = pd.Series({"x1": 1.0, "x2": -0.5, "d": 0.7, "W*x1": 0.4, "W*x2": 0.0, "W*d": 0.3, "rho": 0.35})
    iv = sp.GM("y ~ x1 + x2", df, w, "unit", "year", model="sar", durbin=True, endog=["d"],
               instruments=["z"]).fit()
    zs = (iv.params[truth.index] - truth) / iv.bse[truth.index]
    assert np.abs(zs).max() < 4, zs
    assert iv.first_stage.loc["d", "F"] > 100 and iv.first_stage.loc["W*d", "F"] > 100
    naive = sp.GM("y ~ x1 + x2 + d", df, w, "unit", "year", model="sar", durbin=True).fit()
    assert abs(naive.params["d"] - 0.7) / naive.bse["d"] > 8
    df, w = _sdm_panel(22, 30, 5, rho=0.35, lam=0.3)
    gns = sp.GM("y ~ x1 + x2", df, w, "unit", "year", model="sarar", durbin=True, endog=["d"],
                instruments=["z"]).fit()
    zs = (gns.params[truth.index] - truth) / gns.bse[truth.index]
    assert np.abs(zs).max() < 4 and abs(gns.params["lambda"] - 0.3) < 0.2, (zs, gns.params["lambda"])


# ----------------------------------------------------------------------------- (8) bad input
DURBIN_BAD = [
    ({"model": "sar", "durbin": ["hwy"]}, "not a regressor.*option='durbin'"),
    ({"model": "sar", "durbin": ["lhwy"], "endog": ["lpcap"], "instruments": ["lhwy"]},
     "external instrument.*option='durbin'"),
    ({"model": "sar", "durbin": 1}, "True, False or a list.*option='durbin'"),
    ({"model": "sar", "durbin": ["lpc", "lpc"]}, "twice.*option='durbin'"),
    ({"model": "sar", "durbin": ["lpc + lemp"]}, "not one term.*option='durbin'"),
]


@pytest.mark.parametrize(("kw", "match"), DURBIN_BAD)
def test_durbin_bad_options(pr, kw, match):
    df, w = pr
    formula = F_ENDOG if kw.get("endog") else F
    with pytest.raises(SpecificationError, match=match):
        sp.GM(formula, df, w, "state", "year", **kw)


def test_durbin_bad_input_at_fit(pr):
    """W x of period dummies is the dummy itself (row-standardised W): collinear, named; a categorical term is
    not one column."""
    df, w = pr
    with pytest.raises(SpecificationError, match=r"collinear.*W\*C\(year\)"):
        sp.GM(F + " + C(year)", df, w, "state", "year", model="sar", durbin=True).fit()
    with pytest.raises(SpecificationError, match="durbin term 'C\\(region\\)' is not one numeric column"):
        sp.GM(F + " + C(region)", df, w, "state", "year", model="sar", fe="random", durbin=["C(region)"]).fit()
    ok = sp.GM(F + " + C(year)", df, w, "state", "year", model="sar", durbin=["lpcap", "lpc"]).fit()
    assert ok.wx_names == ["W*lpcap", "W*lpc"]


def test_durbin_table_column(pr):
    """A regression table shows the SDM by S2SLS with its W x rows, the method, the covariance and the first-stage
    rows of every endogenous regressor (W x and W y labelled through the variable labels)."""
    from spillover.report.tables import Table

    df, w = pr
    res = sp.GM("lgsp ~ lpc + lemp + unemp", df, w, "state", "year", model="sar", durbin=True, endog=["lpcap"],
                instruments=["lhwy"]).fit()
    tab = Table.from_results([res], ["S2SLS"], impacts=[res.impacts(draws=50, seed=1)],
                             labels={"lpcap": "Public capital", "lgsp": "Output"})
    md = tab.to_markdown()
    for part in ("W × Public capital", "Spatial 2SLS", "homoskedastic 2SLS", "First stage: partial F (Public capital)",
                 "First stage: partial F (W × Public capital)", "First stage: partial R2 (W × Output)",
                 "Direct effects"):
        assert part in md, part
    fs = tab.numbers()
    assert fs["row"].astype(str).str.contains("First stage: partial F").sum() >= 3


# ============================================================================= period and two-way effects
# (9) Dense brute force: Q = Q_T x Q_N (Q_T = I - J_T/T with unit effects, Q_N = I - J_N/N with period effects),
# spatial lags of the raw data, then Q; the GM moments with expectations taken as dense traces of the definition.
# pysal spreg on the transformed stack: TSLS with the lags passed as columns (any W); GM_Lag forming its own lags
# on a torus rook W, which is doubly stochastic, so that W Q = Q W and spreg's lags of transformed data are ours.
def _qmat(n: int, t: int, effects: str) -> np.ndarray:
    qt = np.eye(t) - (np.full((t, t), 1.0 / t) if effects in ("entity", "twoways") else 0.0)
    qn = np.eye(n) - (np.full((n, n), 1.0 / n) if effects in ("time", "twoways") else 0.0)
    return np.kron(qt, qn)


def _dense_gm(Q, WT, r, start=(0.0, 0.5)):
    """(lambda, sigma2) minimising the three within moments of the raw residual r under Q (least squares), with
    E[e'A e] = sigma2 tr(A) for each moment matrix A formed densely."""
    rank = np.trace(Q)
    A = [Q, WT.T @ Q @ WT, (WT.T @ Q + Q @ WT) / 2]
    expect = [np.trace(a) / rank for a in A]

    def m(v):
        lam, s2 = v
        e = r - lam * (WT @ r)
        return np.array([e @ a @ e / rank - s2 * x for a, x in zip(A, expect)])

    sol = optimize.least_squares(m, list(start), x_scale=[0.1, 0.5], xtol=1e-15, ftol=1e-15, gtol=1e-15)
    return sol.x


@pytest.mark.parametrize("effects", ["time", "twoways"])
def test_period_effects_by_dense_projections(effects):
    """SAR W2SLS, SEM (KKP) and SARAR GS2SLS with period / two-way effects and an endogenous d equal dense 2SLS and GM
    on explicitly transformed data (lags of the raw data, then Q)."""
    n, t = 30, 4
    df, W, ids = _small_panel(8, n=n, t=t)
    if effects == "time":  # no unit effects in this model: take them out of y (any data serve the algebra)
        df["y"] -= df.groupby("unit")["y"].transform("mean")
    dense = Dense(W, ids, t)
    st = dense.stack(df, ["y", "x1", "x2", "d", "z"], entity="unit")
    y, X, d, z = st[:, 0], st[:, 1:3], st[:, 3:4], st[:, 4:5]
    WT, Q = dense.WT, _qmat(n, t, effects)
    rank = np.trace(Q)
    assert round(rank) == (n - 1) * (t - (effects == "twoways"))

    def fit(**kw):
        return sp.GM("y ~ x1 + x2", df, (W, ids), "unit", "year", fe=effects, endog=["d"], instruments=["z"],
                     **kw).fit()

    # SAR: 2SLS of Q y on Q [X, d, W y] with instruments Q [X, z, W X, W^2 X]
    Z = np.column_stack([X, d, WT @ y])
    H = np.column_stack([X, z, WT @ X, WT @ WT @ X])
    coef, e, Zh = Dense.tsls(Q @ y, Q @ Z, Q @ H)
    res = fit(model="sar")
    np.testing.assert_allclose(res.params.to_numpy(), coef, rtol=1e-9)
    np.testing.assert_allclose(res.bse.to_numpy(), np.sqrt(np.diag(e @ e / (rank - 4) * np.linalg.inv(Zh.T @ Zh))),
                               rtol=1e-9)
    assert res.n_eff == round(rank) and res.fe == effects and "Q [X, W X, W^2 X, Hx]" in res.instruments

    # SEM: within 2SLS residuals (raw), GM under Q, then 2SLS of Q (I - lam W) [y, X, d] with [Q (I - lam W) X, Q z]
    Z = np.column_stack([X, d])
    b, _, _ = Dense.tsls(Q @ y, Q @ Z, Q @ np.column_stack([X, z]))
    res = fit(model="sem")
    np.testing.assert_allclose([res.params["lambda"], res.sigma2], _dense_gm(Q, WT, y - Z @ b), rtol=1e-7)
    F = Q @ (np.eye(n * t) - res.params["lambda"] * WT)
    coef, e, Zh = Dense.tsls(F @ y, F @ Z, np.column_stack([F @ X, Q @ z]))
    np.testing.assert_allclose(res.params.drop("lambda").to_numpy(), coef, rtol=1e-9)
    np.testing.assert_allclose(res.bse.drop("lambda").to_numpy(),
                               np.sqrt(np.diag(res.sigma2 * np.linalg.inv(Zh.T @ Zh))), rtol=1e-9)

    # SARAR: W2SLS residuals, GM, GS2SLS with the step-1 instruments
    Z = np.column_stack([X, d, WT @ y])
    b, _, _ = Dense.tsls(Q @ y, Q @ Z, Q @ H)
    res = fit(model="sarar")
    np.testing.assert_allclose([res.params["lambda"], res.sigma2], _dense_gm(Q, WT, y - Z @ b), rtol=1e-7)
    F = Q @ (np.eye(n * t) - res.params["lambda"] * WT)
    coef, e, Zh = Dense.tsls(F @ y, F @ Z, Q @ H)
    np.testing.assert_allclose(res.params.drop("lambda").to_numpy(), coef, rtol=1e-9)
    full = fit(model="sarar", moments="fullweights")  # T_W under Q: the normal-theory covariance of the moments
    A = [Q, WT.T @ Q @ WT, (WT.T @ Q + Q @ WT) / 2]
    tw = np.array([[2 * np.trace(a @ c) for c in A] for a in A]) / rank
    L = np.linalg.cholesky(np.linalg.inv(tw)).T
    expect = [np.trace(a) / rank for a in A]

    def weighted(v):
        e_ = (y - Z @ b) - v[0] * (WT @ (y - Z @ b))
        return L @ np.array([e_ @ a @ e_ / rank - v[1] * x for a, x in zip(A, expect)])

    sol = optimize.least_squares(weighted, [0.0, 0.5], x_scale=[0.1, 0.5], xtol=1e-15, ftol=1e-15, gtol=1e-15)
    np.testing.assert_allclose([full.params["lambda"], full.sigma2], sol.x, rtol=1e-7)
    assert abs(full.params["lambda"] - res.params["lambda"]) > 1e-6


def test_two_way_effects_equal_unit_effects_with_period_dummies(pr):
    """Frisch-Waugh-Lovell for 2SLS: the two-way S2SLS / SDM is the unit-effects fit with period dummies. The dummies'
    lags W D = D (row-standardised W) are dropped from the instruments with a note naming them; with durbin=True the
    regressor W*C(year) is collinear and refused."""
    df, w = pr
    for kw in ({"model": "sar"}, {"model": "sar", "durbin": ["lpcap", "lpc"]},
               {"model": "sar", "endog": ["lpcap"], "instruments": ["lhwy"], "formula": F_ENDOG}):
        kw = dict(kw)
        f = kw.pop("formula", F)
        two = sp.GM(f, df, w, "state", "year", fe="twoways", **kw).fit()
        dum = sp.GM(f + " + C(year)", df, w, "state", "year", fe="entity", **kw).fit()
        np.testing.assert_allclose(dum.params[two.params.index].to_numpy(), two.params.to_numpy(), rtol=1e-9)
        assert two.notes == () and len(dum.notes) == 1
        assert "32 instrument(s) dropped" in dum.notes[0] and "W*C(year)[T.1971]" in dum.notes[0]
        assert "Note: 32 instrument(s)" in dum.summary()
    with pytest.raises(SpecificationError, match=r"collinear.*two-way within.*C\(year\)"):
        sp.GM(F + " + C(year)", df, w, "state", "year", model="sar", fe="twoways").fit()


def test_instrumented_by_own_time_lags_with_two_way_effects(pr):
    """lpcap instrumented by its own lags L1, L2 with two-way effects: the first two periods go, the instrument set
    keeps every column, and the fit equals the dense 2SLS on the two-way-demeaned stack of the remaining periods."""
    df, w = pr
    res = sp.GM("lgsp ~ lpc + lemp + unemp", df, w, "state", "year", model="sar", fe="twoways", durbin=True,
                endog=["lpcap"], instruments=["L1.lpcap", "L2.lpcap"]).fit()
    assert res.T == 15 and res.notes == ()
    d = df.sort_values(["state", "year"]).copy()
    d["l1"] = d.groupby("state")["lpcap"].shift(1)
    d["l2"] = d.groupby("state")["lpcap"].shift(2)
    d = d[d.year >= 1972]
    dense = Dense(w.sparse.toarray(), list(w.id_order), 15)
    st = dense.stack(d, ["lgsp", "lpc", "lemp", "unemp", "lpcap", "l1", "l2"])
    y, X, E, Hx = st[:, 0], st[:, 1:4], st[:, 4:5], st[:, 5:7]
    WT, Q = dense.WT, _qmat(48, 15, "twoways")
    Z = np.column_stack([X, E, WT @ X, WT @ E, WT @ y])
    H = np.column_stack([X, WT @ X, WT @ WT @ X, WT @ WT @ WT @ X, Hx, WT @ Hx])
    coef, _, _ = Dense.tsls(Q @ y, Q @ Z, Q @ H)
    np.testing.assert_allclose(res.params.to_numpy(), coef, rtol=1e-9)


def _torus(side: int):
    """Rook contiguity on a side x side torus, row-standardised: every unit has 4 neighbours, so W is doubly
    stochastic (W 1 = W'1 = 1) and commutes with the period demeaning."""
    n = side * side
    W = np.zeros((n, n))
    for r in range(side):
        for c in range(side):
            for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                W[r * side + c, ((r + dr) % side) * side + (c + dc) % side] = 0.25
    return W, [f"c{i:03d}" for i in range(n)]


def _torus_panel(seed: int, side: int = 7, t: int = 5):
    """An SDM panel with unit and period effects and heteroskedastic errors on the torus W."""
    rng = np.random.default_rng(seed)
    W, ids = _torus(side)
    n = len(ids)
    S = np.linalg.inv(np.eye(n) - 0.4 * W)
    mu, rows = rng.normal(size=n), []
    for s in range(t):
        x1, x2 = rng.normal(size=(2, n)) + 0.5 * mu
        nu = rng.normal(size=n) * (0.2 + x1 * x1)  # heteroskedastic: variance rises with x1^4
        y = S @ (x1 - 0.5 * x2 + W @ (0.3 * x1) + mu + 0.7 * s + nu)
        rows.append(pd.DataFrame({"unit": ids, "year": s, "y": y, "x1": x1, "x2": x2}))
    return pd.concat(rows, ignore_index=True), W, ids


@pytest.mark.filterwarnings("ignore:The inplace keyword")  # spreg's own pandas calls
@pytest.mark.parametrize("robust", [False, True])
def test_two_way_sdm_matches_spreg(pr, robust):
    """Two-way SDM by spatial 2SLS against spreg on the two-way-transformed stack, classic and White covariances.

    Produc (usaww is not doubly stochastic): spreg.TSLS with x = Q [X, W X], yend = Q W y, q = Q [W^2 X, W^3 X].
    Torus W: spreg.GM_Lag(slx_lags=1, w_lags=2) forms the lags itself. spreg's constant has a zero coefficient
    on transformed data. Conventions: spreg's classic covariance uses e'e / NT, ours e'e / ((N-1)(T-1) - p);
    spreg's White meat is unscaled, ours scaled by NT / ((N-1)(T-1)) (the residuals' degrees of freedom).
    """
    import spreg

    df, w = pr
    cov = "robust" if robust else "homoskedastic"
    res = sp.GM(SDM_F, df, w, "state", "year", model="sar", fe="twoways", durbin=True, cov=cov).fit()
    exog = ["lpcap", "lpc", "lemp", "unemp"]
    dense = Dense.of(pr)
    a = dense.stack(df, ["lgsp"] + exog)
    WT, Q = dense.WT, _qmat(48, 17, "twoways")
    y, X = a[:, :1], a[:, 1:]
    ref = spreg.TSLS(Q @ y, Q @ np.column_stack([X, WT @ X]), Q @ WT @ y, Q @ np.column_stack([WT @ WT @ X,
                     WT @ WT @ WT @ X]), robust="white" if robust else None)
    order = exog + [f"W*{c}" for c in exog] + ["rho"]
    _compare_spreg(res, ref, order, robust)

    df, W, ids = _torus_panel(5)
    res = sp.GM("y ~ x1 + x2", df, (W, ids), "unit", "year", model="sar", fe="twoways", durbin=True, cov=cov).fit()
    dense = Dense(W, ids, 5)
    a = _qmat(len(ids), 5, "twoways") @ dense.stack(df, ["y", "x1", "x2"], entity="unit")
    ref = spreg.GM_Lag(a[:, :1], a[:, 1:], w=_spreg_w(dense), w_lags=2, slx_lags=1,
                       robust="white" if robust else None)
    _compare_spreg(res, ref, ["x1", "x2", "W*x1", "W*x2", "rho"], robust)


def _compare_spreg(res, ref, order, robust):
    b, se = ref.betas.ravel(), np.sqrt(np.diag(ref.vm))
    assert abs(b[0]) < 1e-10
    n, t, p = res.N, res.T, len(res.params)
    rank = (n - 1) * (t - 1)
    np.testing.assert_allclose(res.params[order].to_numpy(), b[1:], rtol=1e-9)
    factor = np.sqrt(n * t / rank) if robust else np.sqrt((rank - p) / (n * t))
    np.testing.assert_allclose(res.bse[order].to_numpy() * (1 / factor if robust else factor), se[1:], rtol=1e-9)


# ============================================================================= robust and cluster covariances
# (10) cov="robust" / "cluster": sandwiches of the final (transformed) 2SLS regression, brute force with dense P_H
# (spreg's White covariance of the two-way SDM is compared above). Scalings: robust NT / (NT - absorbed), cluster
# C / (C - 1) with C = N units.
def _sandwich(Zh, e, n, t, kind, absorbed):
    bread = np.linalg.inv(Zh.T @ Zh)
    s = Zh * e[:, None]
    if kind == "robust":
        meat = s.T @ s * (n * t / (n * t - absorbed))
    else:
        g = np.array([s[i::n].sum(axis=0) for i in range(n)])  # unit i's rows i, i + N, ... (time-major)
        meat = g.T @ g * n / (n - 1)
    return bread @ meat @ bread


@pytest.mark.parametrize("kind", ["robust", "cluster"])
def test_robust_and_cluster_covariances_by_dense_sandwich(kind):
    n, t = 30, 4
    df, W, ids = _small_panel(8, n=n, t=t)
    dense = Dense(W, ids, t)
    st = dense.stack(df, ["y", "x1", "x2", "d", "z"], entity="unit")
    y, X, d, z = st[:, 0], st[:, 1:3], st[:, 3:4], st[:, 4:5]
    WT, Q0, Q1 = dense.WT, dense.Q0, dense.Q1
    one = np.ones((n * t, 1))

    def fit(**kw):
        return sp.GM("y ~ x1 + x2", df, (W, ids), "unit", "year", endog=["d"], instruments=["z"], cov=kind,
                     **kw).fit()

    # SDM, two-way effects
    Q = _qmat(n, t, "twoways")
    Z = np.column_stack([X, d, WT @ X, WT @ d, WT @ y])
    Xb = np.column_stack([X, WT @ X])
    H = np.column_stack([Xb, WT @ Xb, WT @ WT @ Xb, z, WT @ z])
    coef, e, Zh = Dense.tsls(Q @ y, Q @ Z, Q @ H)
    res = fit(model="sar", fe="twoways", durbin=True)
    np.testing.assert_allclose(res.params.to_numpy(), coef, rtol=1e-9)
    np.testing.assert_allclose(res.cov_params.to_numpy(), _sandwich(Zh, e, n, t, kind, n + t - 1), rtol=1e-9)
    assert res.cov_type == kind and ("by unit" in res.summary()) == (kind == "cluster")

    # GNS, unit effects: the GS2SLS step given lambda; lambda keeps a NaN standard error
    res = fit(model="sarar", fe="entity", durbin=True)
    F = Q0 @ (np.eye(n * t) - res.params["lambda"] * WT)
    coef, e, Zh = Dense.tsls(F @ y, F @ Z, Q0 @ H)
    np.testing.assert_allclose(res.cov_params.drop(index="lambda", columns="lambda").to_numpy(),
                               _sandwich(Zh, e, n, t, kind, n), rtol=1e-9)
    assert np.isnan(res.bse["lambda"]) and "assume homoskedastic errors" in res.summary()

    # SEM, random effects: the FGLS 2SLS on the quasi-demeaned, filtered data (no within step: no scaling)
    res = fit(model="sem", fe="random")
    lam, s2v, s21 = res.params["lambda"], res.sigma2, res.sigma2_1
    Om = (Q0 + np.sqrt(s2v / s21) * Q1) @ (np.eye(n * t) - lam * WT)  # a - theta Q1 a after the filter
    X1 = np.column_stack([one, X])
    coef, e, Zh = Dense.tsls(Om @ y, Om @ np.column_stack([X1, d]), np.column_stack([Om @ X1, Q0 @ z, Q1 @ z]))
    np.testing.assert_allclose(res.params.drop("lambda").to_numpy(), coef, rtol=1e-9)
    np.testing.assert_allclose(res.cov_params.drop(index="lambda", columns="lambda").to_numpy(),
                               _sandwich(Zh, e, n, t, kind, 0), rtol=1e-9)

    # SDM impacts use the robust covariance
    sdm = fit(model="sar", fe="entity", durbin=True)
    classic = sp.GM("y ~ x1 + x2", df, (W, ids), "unit", "year", endog=["d"], instruments=["z"], model="sar",
                    durbin=True).fit()
    np.testing.assert_array_equal(sdm.params.to_numpy(), classic.params.to_numpy())
    a, b = sdm.impacts(method="delta").table, classic.impacts(method="delta").table
    np.testing.assert_allclose(a["total"], b["total"], rtol=1e-12)
    assert np.abs(a["total_se"] / b["total_se"] - 1).max() > 1e-3


def test_robust_standard_errors_track_heteroskedasticity():
    """Error variance rising with |x1|: over 60 seeded samples of the two-way SDM on the torus, the classic SE of x1
    understates the spread of the estimates, the robust one is within 20% of it."""
    est, classic, robust = [], [], []
    for seed in range(60):
        df, W, ids = _torus_panel(200 + seed)
        kw = dict(model="sar", fe="twoways", durbin=True)
        a = sp.GM("y ~ x1 + x2", df, (W, ids), "unit", "year", **kw).fit()
        b = sp.GM("y ~ x1 + x2", df, (W, ids), "unit", "year", cov="robust", **kw).fit()
        est.append(a.params["x1"])
        classic.append(a.bse["x1"])
        robust.append(b.bse["x1"])
    sd = np.std(est, ddof=1)
    assert np.mean(classic) / sd < 0.8, (np.mean(classic), sd)
    assert 0.8 < np.mean(robust) / sd < 1.2, (np.mean(robust), sd)


# ============================================================================= SDEM and separate weights
# (11) model="sem" with durbin= (SDEM): the same as model="sem" with the lags added to the data by hand, linear
# impacts, and against the ML SDEM. (12) w_x: the same as adding the W_x lags by hand; w_u: dense brute force with
# W swapped for M in the error step (and M [X, W X, W^2 X] among the SARAR's instruments).
def _with_lags(df, W, ids, cols, prefix, entity="unit", time="year"):
    """``df`` with ``prefix + c`` = W c (per period, in the order ``ids``) for each c of ``cols``."""
    pos = {u: i for i, u in enumerate(ids)}
    out = df.copy()
    for _, idx in df.groupby(time).groups.items():
        block = df.loc[idx]
        order = block[entity].map(pos).to_numpy()
        for c in cols:
            v = np.empty(len(ids))
            v[order] = block[c].to_numpy()
            out.loc[idx, prefix + c] = (W @ v)[order]
    return out


def _second_w(seed: int, n: int) -> np.ndarray:
    """Another row-standardised W on the same units (a random graph with a ring)."""
    rng = np.random.default_rng(seed)
    A = np.triu((rng.random((n, n)) < 0.15).astype(float), 1)
    A = A + A.T
    for i in range(n):
        A[i, (i + 2) % n] = A[(i + 2) % n, i] = 1.0
    return A / A.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("fe", ["entity", "twoways", "random"])
def test_sdem_equals_sem_with_lags_added_by_hand(fe):
    df, W, ids = _small_panel(8, n=30, t=4)
    hand = _with_lags(df, W, ids, ["x1", "x2", "d", "z"], "W_")
    res = sp.GM("y ~ x1 + x2", df, (W, ids), "unit", "year", model="sem", fe=fe, durbin=True, endog=["d"],
                instruments=["z"]).fit()
    ref = sp.GM("y ~ x1 + x2 + W_x1 + W_x2", hand, (W, ids), "unit", "year", model="sem", fe=fe,
                endog=["d", "W_d"], instruments=["z", "W_z"]).fit()
    names = {"W*x1": "W_x1", "W*x2": "W_x2", "W*d": "W_d"}
    np.testing.assert_allclose(res.params.to_numpy(), ref.params[[names.get(c, c) for c in res.params.index]],
                               rtol=1e-9)
    np.testing.assert_allclose(res.bse.drop("lambda").to_numpy(),
                               ref.bse[[names.get(c, c) for c in res.params.index if c != "lambda"]], rtol=1e-9)
    assert res.model == "SDEM" and res.wx_names == ["W*x1", "W*x2", "W*d"]
    # impacts are linear: direct = b + t tr(W)/N = b, total = b + t 1'W1/N = b + t (row-standardised W)
    tab = res.impacts(method="delta").table
    cov = res.cov_params
    for x in ("x1", "x2", "d"):
        b, t_ = res.params[x], res.params[f"W*{x}"]
        assert tab.loc[x, "direct"] == pytest.approx(b, rel=1e-12) and tab.loc[x, "total"] == pytest.approx(b + t_)
        var = cov.loc[x, x] + cov.loc[f"W*{x}", f"W*{x}"] + 2 * cov.loc[x, f"W*{x}"]
        assert tab.loc[x, "total_se"] == pytest.approx(np.sqrt(var), rel=1e-9)


def test_sdem_agrees_with_maximum_likelihood():
    """On a simulated SDEM panel (lambda 0.4, W x coefficients 0.5 and -0.3) the GM SDEM and the ML SDEM (unit
    effects, Lee-Yu) agree within two ML standard errors, both near the truth; the plain SEM misses W x."""
    rng, w, W, S, R, mu = _grid_setup(31, 15, 0.0, 0.4)
    n, rows = W.shape[0], []
    for s in range(6):
        x1, x2 = rng.normal(size=(2, n)) + 0.5 * mu
        y = x1 - 0.5 * x2 + W @ (0.5 * x1 - 0.3 * x2) + mu + R @ rng.normal(size=n)
        rows.append(pd.DataFrame({"unit": w.id_order, "year": s, "y": y, "x1": x1, "x2": x2}))
    df = pd.concat(rows, ignore_index=True)
    gm = sp.GM("y ~ x1 + x2", df, w, "unit", "year", model="sem", durbin=True).fit()
    ml = sp.SDEM("y ~ x1 + x2", df, w, "unit", "year", fe="entity").fit()
    terms = ["x1", "x2", "W*x1", "W*x2"]
    assert np.abs((gm.params[terms] - ml.params[terms]) / ml.bse[terms]).max() < 2
    assert abs(gm.params["lambda"] - ml.params["lambda"]) < 0.1
    truth = pd.Series({"x1": 1.0, "x2": -0.5, "W*x1": 0.5, "W*x2": -0.3})
    assert np.abs((gm.params[terms] - truth) / gm.bse[terms]).max() < 4
    gi, mi = gm.impacts(method="delta").table, ml.impacts(method="delta").table
    np.testing.assert_allclose(gi["indirect"], mi["indirect"], atol=2 * mi["indirect_se"].max())


@pytest.mark.parametrize("model", ["sar", "sem"])
def test_w_x_equals_lags_added_by_hand(model):
    """durbin=True with w_x=W2: the same fit as W2 x (exogenous) and W2 d (endogenous, instrumented by W2 z) added
    to the data by hand, whose lags in W then instrument W y exactly as ours; SDM impacts with W2 from dense S."""
    n, t = 30, 4
    df, W, ids = _small_panel(8, n=n, t=t)
    W2 = _second_w(3, n)
    hand = _with_lags(df, W2, ids, ["x1", "x2", "d", "z"], "V_")
    res = sp.GM("y ~ x1 + x2", df, (W, ids), "unit", "year", model=model, durbin=True, endog=["d"],
                instruments=["z"], w_x=(W2, ids)).fit()
    ref = sp.GM("y ~ x1 + x2 + V_x1 + V_x2", hand, (W, ids), "unit", "year", model=model,
                endog=["d", "V_d"], instruments=["z", "V_z"]).fit()
    names = {"W*x1": "V_x1", "W*x2": "V_x2", "W*d": "V_d"}
    order = [names.get(c, c) for c in res.params.index]
    np.testing.assert_allclose(res.params.to_numpy(), ref.params[order].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(res.bse.fillna(0).to_numpy(), ref.bse[order].fillna(0).to_numpy(), rtol=1e-9)
    assert ("W_x Hx" in res.instruments) == (model == "sar")  # the SEM names its final step's instruments
    same = sp.GM("y ~ x1 + x2", df, (W, ids), "unit", "year", model=model, durbin=True, w_x=(W, ids)).fit()
    plain = sp.GM("y ~ x1 + x2", df, (W, ids), "unit", "year", model=model, durbin=True).fit()
    np.testing.assert_array_equal(same.params.to_numpy(), plain.params.to_numpy())  # w_x = w: the default fit
    tab = res.impacts(method="delta").table
    S = np.linalg.inv(np.eye(n) - res.params["rho"] * W) if model == "sar" else np.eye(n)
    for x in ("x1", "x2", "d"):
        M = S @ (res.params[x] * np.eye(n) + res.params[f"W*{x}"] * W2)
        assert tab.loc[x, "direct"] == pytest.approx(np.trace(M) / n, rel=1e-9)
        assert tab.loc[x, "total"] == pytest.approx(M.sum() / n, rel=1e-9)


@pytest.mark.parametrize("fe", ["entity", "twoways"])
def test_w_u_by_dense_brute_force(fe):
    """w_u=M: the GM step and the filter in M, W y and its instruments in W; the SARAR's instruments add
    M [X, W X, W^2 X]. SEM with endogenous d and SARAR, dense."""
    n, t = 30, 4
    df, W, ids = _small_panel(8, n=n, t=t)
    M = _second_w(5, n)
    dense = Dense(W, ids, t)
    st = dense.stack(df, ["y", "x1", "x2", "d", "z"], entity="unit")
    y, X, d, z = st[:, 0], st[:, 1:3], st[:, 3:4], st[:, 4:5]
    WT, MT, Q = dense.WT, np.kron(np.eye(t), M), _qmat(n, t, fe)

    def fit(**kw):
        return sp.GM("y ~ x1 + x2", df, (W, ids), "unit", "year", fe=fe, endog=["d"], instruments=["z"],
                     w_u=(M, ids), **kw).fit()

    Z = np.column_stack([X, d])
    b, _, _ = Dense.tsls(Q @ y, Q @ Z, Q @ np.column_stack([X, z]))
    res = fit(model="sem")
    np.testing.assert_allclose([res.params["lambda"], res.sigma2], _dense_gm(Q, MT, y - Z @ b), rtol=1e-7)
    F = Q @ (np.eye(n * t) - res.params["lambda"] * MT)
    coef, _, _ = Dense.tsls(F @ y, F @ Z, np.column_stack([F @ X, Q @ z]))
    np.testing.assert_allclose(res.params.drop("lambda").to_numpy(), coef, rtol=1e-9)

    Z = np.column_stack([X, d, WT @ y])
    L = np.column_stack([X, WT @ X, WT @ WT @ X])
    H = np.column_stack([L, z, MT @ L])
    b, _, _ = Dense.tsls(Q @ y, Q @ Z, Q @ H)
    res = fit(model="sarar")
    np.testing.assert_allclose([res.params["lambda"], res.sigma2], _dense_gm(Q, MT, y - Z @ b), rtol=1e-7)
    F = Q @ (np.eye(n * t) - res.params["lambda"] * MT)
    coef, e, Zh = Dense.tsls(F @ y, F @ Z, Q @ H)
    np.testing.assert_allclose(res.params.drop("lambda").to_numpy(), coef, rtol=1e-9)
    np.testing.assert_allclose(res.bse.drop("lambda").to_numpy(),
                               np.sqrt(np.diag(res.sigma2 * np.linalg.inv(Zh.T @ Zh))), rtol=1e-9)
    assert "W_u [X, W X, W^2 X]" in res.instruments
    other = sp.GM("y ~ x1 + x2", df, (W, ids), "unit", "year", fe=fe, endog=["d"], instruments=["z"],
                  model="sarar").fit()
    assert abs(other.params["lambda"] - res.params["lambda"]) > 1e-3


def test_separate_weights_bad_input(pr):
    """Period effects with a spatial error need a row-standardised error W (named); w_x / w_u for other units."""
    df, w = pr
    W = w.sparse.toarray()
    binary = ((W > 0).astype(float), list(w.id_order))
    with pytest.raises(SpecificationError, match="fe='twoways' with a spatial error needs a row-standardised w_u"):
        sp.GM(F, df, w, "state", "year", model="sem", fe="twoways", w_u=binary).fit()
    with pytest.raises(SpecificationError, match="row-standardised w.*option='w'"):
        sp.GM(F, df, binary, "state", "year", model="sarar", fe="time").fit()
    ok = sp.GM(F, df, binary, "state", "year", model="sar", fe="twoways").fit()  # no error process: any W
    assert np.isfinite(ok.params["rho"])
    from spillover.errors import WeightsError

    with pytest.raises(WeightsError, match="option='w_x'"):
        sp.GM(F, df, w, "state", "year", model="sar", durbin=True, w_x=(np.ones((3, 3)) - np.eye(3), [1, 2, 3])).fit()


def test_registry_gm_entries_take_the_new_options(pr):
    from spillover import registry

    df, w = pr
    req = registry.FitRequest(F, df, w, "state", "year", fe="twoways", method="lee-yu", options={"cov": "cluster"})
    via = registry.get("gm_sdem").run(req)
    direct = sp.GM(F, df, w, "state", "year", model="sem", fe="twoways", durbin=True, cov="cluster").fit()
    np.testing.assert_array_equal(via.params.to_numpy(), direct.params.to_numpy())
    assert via.model == "SDEM" and via.cov_type == "cluster" and registry.get("gm_sdem").impacts
    for name in ("gm_sem", "gm_sar", "gm_sarar", "gm_sdem"):
        est = registry.get(name)
        assert {"time", "twoways"} <= set(est.fe) and "cov" in est.options
