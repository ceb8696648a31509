"""Dynamic spatial Durbin panel with fixed effects: quasi-ML and bias correction.

Model (Yu, de Jong & Lee 2008, J. Econometrics 146, 118-134, eq. (1);
Elhorst 2014, *Spatial Econometrics*, ch. 4, eq. 4.1)::

    y_t = tau y_{t-1} + eta W y_{t-1} + rho W y_t + X_t b + W X_t theta
          + mu + alpha_t 1 + e_t,          t = 2..T,   e_t ~ iid (0, sigma2 I)

Estimation (QML, direct approach; YDL 2008, sec. 2; Elhorst 2014, sec. 4.3):
condition on the first period, form every lag on the raw data, apply the
within transformation over periods 2..T (entity, or two-way with the
additive grand-mean correction), and maximise

    l = -N T'/2 log(2 pi sigma2) + T' log|I - rho W| - e'e / (2 sigma2),
    T' = T - 1,

which is the static direct SDM likelihood with ``y_{t-1}``, ``W y_{t-1}``
as extra regressors (:class:`spillover.spatial.likelihood.Moments`).

Lee-Yu transformation approach (``method="lee-yu"``, two-way effects; Lee &
Yu 2010, ET): the time effects are removed by ``F_{N,N-1}'``, the
orthonormal eigenvectors of ``J_N = I - 11'/N``, which maps the model into
N - 1 units with ``W* = F'WF``. For a row-standardised W the residual sum of
squares is the two-way demeaned one (``FF' = J_N``), the variance term counts
``(N - 1) T'`` observations and the Jacobian is
``T' [log|I - rho W| - log(1 - rho)]`` (W's unit eigenvalue dropped). Its
bias is the YDL ``phi_1`` of the transformed model (N - 1 units, traces of
``W*``); no O(1/N) term.

Bias correction (``correction="bias"``, stable case only)
--------------------------------------------------------
With ``S = I - rho W``, ``A = S^{-1}(tau I + eta W)``, ``G = W S^{-1}`` and
``R = sum_h A^h S^{-1} = ((1 - tau) I - (rho + eta) W)^{-1}``, YDL (2008,
Theorem 3) give the leading O(1/T) bias of the direct QML estimator
``theta = (tau, eta, b', theta', rho, sigma2)``::

    E theta_hat - theta0 = -(1/T') Sigma^{-1} phi_1 + ...,
    phi_1 = ( tr(R)/N, tr(W R)/N, 0_k,
              [tau tr(G R) + eta tr(G W R) + tr(G)]/N, 1/(2 sigma2) )

with ``Sigma = -E[Hessian]/(N T')``; the corrected estimator is
``theta_c = theta_hat - B_hat/T'`` with ``B = -Sigma^{-1} phi_1`` evaluated at
theta_hat (YDL 2008, Theorem 3). With time effects (``fe="twoways"``) the
direct approach has a further O(1/N) bias (Lee & Yu 2010, Econometric Theory
26, 564-597, "A spatial dynamic panel data model with both time and
individual fixed effects"): ``-(1/N) Sigma^{-1} phi_2`` with ``phi_2 = (0,
..., 0, 1/(1 - rho), 1/(2 sigma2))`` for row-standardised W, no entries for
tau, eta or the slopes. It is the gradient, divided by N T', of the gap
between the direct likelihood and the one that accounts for the time effects
(variance term (N - 1) T', Jacobian T' [log|I - rho W| - log(1 - rho)]); the
same vector is subtracted by SDPDmod's ``SDPDm`` (dynamic, two-way, direct)
and, in the static case, by Elhorst's MATLAB panel routines. Both terms are
subtracted. The seeded Monte Carlo in ``tests/test_dynamic_bias_mc.py``
(N = 100, T' = 150) fails if phi_2 is dropped, flipped, halved or doubled.
The correction is first order: with N = 9-25 units the corrected rho keeps an
O(1/N^2) bias (about -0.06 at N = 9, -0.008 at N = 25 in a 1,000-replication
check with T' = 40). We use the YDL ``phi_1`` also in the two-way case; the
version with cross-sectionally demeaned traces (``J_N``) differs by
O(1/(N T)), below the order corrected. ``Sigma`` is estimated by minus the numerical (central-difference)
Hessian of the log-likelihood divided by ``N T'``. The correction requires
the stable case (spectral radius of A below 1, i.e. ``tau + eta + rho < 1``
for a row-standardised W with the usual signs); otherwise it is refused.
Traces use dense N x N matrices (O(N^3), fine up to a few thousand units).

Impacts (Debarsy, Ertur & LeSage 2012, Spatial Economic Analysis 7, 19-33;
Elhorst 2014, sec. 4.4): short-run ``(I - rho W)^{-1}(b_k I + theta_k W)``,
long-run ``((1 - tau) I - (rho + eta) W)^{-1}(b_k I + theta_k W)``; direct =
tr/N, total = 1'M1/N, indirect = total - direct. Computed from the
eigen-decomposition of W (any diagonalisable W). Standard errors
(``method="simulation"``, the default) from draws of N(theta_c, V) with a
seed, draws outside the stable region discarded (Elhorst 2014, sec. 4.4), or
(``method="delta"``) by the first-order delta method with the gradient of
the impacts taken by central differences; V = minus the inverse Hessian at
the QML estimate. ``impacts(kind="both")`` stacks the short- and long-run
tables (rows ``"x (short run)"``, ``"x (long run)"``) for a regression table.

W of the W X terms (``w_x=``)
-----------------------------
``W X theta`` may use its own matrix ``W_x`` (default ``W``); ``rho W y_t`` and
``eta W y_{t-1}`` keep ``W``, so the stability condition and ``R`` above are
unchanged. The impacts become ``S (b_k I + theta_k W_x)`` with ``S`` the short-
or long-run inverse above: with ``W = V diag(omega) V^{-1}``,
``tr(f(W) W_x) = sum_i f(omega_i) (V^{-1} W_x V)_ii`` and
``1' f(W) W_x 1 = sum_i (1'V)_i f(omega_i) (V^{-1} W_x 1)_i``, so the same
eigen-decomposition serves (checked in the tests against dense inverses).

Robust and clustered covariances (``cov="robust"``, ``"cluster"``)
-----------------------------------------------------------------
The QML score of the dynamic model is that of the static lag model on the
transformed data with ``y_{t-1}`` and ``W y_{t-1}`` among the regressors (YDL
2008, sec. 2; Lee & Yu 2010, ET, for the transformation approach), so
the sandwich ``H^-1 J H^-1`` of :mod:`spillover.spatial.sandwich` applies with
the dynamic likelihood's constants: Jacobian weight ``T'``, Lee-Yu's
``T' log(1 - rho)`` term with the transformation approach, and
``n_eff = N T'`` (direct) or ``(N - 1) T'`` (transformation approach). ``H`` is
the Hessian of ``cov="numerical"``. Both are evaluated at the uncorrected QML
estimate, where the score is zero: the corrected estimate is not a root of
the score, and shares evaluated there would carry their nonzero mean (an
O(1/T') bias, squared) into ``J``. The bias correction is a post-step that
moves the point estimate by O(1/T') and leaves the asymptotic variance
unchanged (YDL 2008, Theorem 3), so the corrected estimate is reported with
the QML estimate's sandwich, as with the default covariance.

Two limits. The within transformation correlates ``y_{t-1}`` with the errors
(the source of the O(1/T') bias), so the shares of the score have means of
that order: like the default covariance, the sandwich rests on asymptotics
with T' growing (YDL 2008). And ``cov="cluster"`` makes the standard errors
robust to dependence within a unit over time, but serially correlated errors
also make ``y_{t-1}`` endogenous, so the QML estimate itself is then
inconsistent; clustering does not correct that.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from spillover.errors import ConvergenceWarning, SpecificationError, format_error
from spillover.spatial import covariance, sandwich
from spillover.spatial.core import MLProblem, fit_ml, warn_flags
from spillover.spatial.design import build_design, collinear_columns, is_row_standardised, other_weights
from spillover.spatial.impacts import ImpactsResult, parameter_draws
from spillover.spatial.likelihood import LOG2PI, Moments
from spillover.spatial.transforms import Convention
from spillover.spatial.results import Inference
from spillover.spatial.transforms import demean, spatial_lag

__all__ = ["DynamicSDM", "DynamicResults", "dynamic_bias", "dynamic_impacts"]

CORRECTIONS = ("bias", "none")
METHODS = ("direct", "lee-yu")
#: ``cov=`` choices of :class:`DynamicSDM`.
COVS = ("numerical",) + sandwich.KINDS


def dynamic_bias(w: np.ndarray, tau: float, eta: float, rho: float, sigma2: float, k: int, fe: str,
                 transformed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The vectors ``phi_1`` (YDL 2008, Theorem 3) and ``phi_2`` (Lee & Yu 2010, ET; zero unless two-way).

    Ordering ``(tau, eta, k exogenous coefficients, rho, sigma2)``.
    ``transformed=True`` (the Lee-Yu transformation approach): ``phi_1`` of
    the model in ``W* = F'WF`` with N - 1 units, whose traces are those of W
    minus the unit eigenvalue's term (``tr f(W*) = tr f(W) - f(1)`` for
    row-standardised W), and ``phi_2 = 0``.
    """
    n = w.shape[0]
    eye = np.eye(n)
    s_inv = np.linalg.inv(eye - rho * w)
    g = w @ s_inv
    r = np.linalg.inv((1.0 - tau) * eye - (rho + eta) * w)
    tr_r, tr_wr = np.trace(r), np.trace(w @ r)
    tr_gr, tr_gwr, tr_g = np.trace(g @ r), np.trace(g @ w @ r), np.trace(g)
    m = n
    if transformed:
        r1, g1 = 1.0 / ((1.0 - tau) - (rho + eta)), 1.0 / (1.0 - rho)
        tr_r, tr_wr, tr_gr, tr_gwr, tr_g = tr_r - r1, tr_wr - r1, tr_gr - g1 * r1, tr_gwr - g1 * r1, tr_g - g1
        m = n - 1
    phi1 = np.zeros(k + 4)
    phi1[0] = tr_r / m
    phi1[1] = tr_wr / m
    phi1[2 + k] = (tau * tr_gr + eta * tr_gwr + tr_g) / m
    phi1[3 + k] = 1.0 / (2.0 * sigma2)
    phi2 = np.zeros(k + 4)
    if fe == "twoways" and not transformed:
        phi2[2 + k] = 1.0 / (1.0 - rho)
        phi2[3 + k] = 1.0 / (2.0 * sigma2)
    return phi1, phi2


def dynamic_impacts(eig: tuple[np.ndarray, np.ndarray, np.ndarray], b, th, tau, eta, rho, kind: str):
    """Direct and total impacts for arrays of draws (shape (m, K) for b, th; (m,) for tau, eta, rho).

    ``eig = (omega, u, v)`` with ``W = V diag(omega) V^{-1}``, ``u = 1'V``,
    ``v = V^{-1} 1``; then ``tr f(W) = sum f(omega)`` and ``1'f(W)1 = sum u f(omega) v``.
    With a W of the W X terms of its own, ``eig = (omega, u, v, dx, vx)`` with
    ``dx = diag(V^{-1} W_x V)`` and ``vx = V^{-1} W_x 1``: ``tr f(W) W_x = sum f(omega) dx``
    and ``1'f(W) W_x 1 = sum u f(omega) vx`` (module docstring).
    """
    om, u, v, *own = eig
    n = len(om)
    tau, eta, rho = (np.atleast_1d(a)[:, None] for a in (tau, eta, rho))
    if kind == "short":
        f = 1.0 / (1.0 - rho * om[None, :])
    elif kind == "long":
        f = 1.0 / ((1.0 - tau) - (rho + eta) * om[None, :])
    else:
        raise ValueError("kind must be 'short' or 'long'")
    uv = u * v
    tr_f, s_f = np.real(f.sum(axis=1))[:, None], np.real(f @ uv)[:, None]
    if own:  # W X terms with W_x
        dx, vx = own
        tr_fw, s_fw = np.real(f @ dx)[:, None], np.real(f @ (u * vx))[:, None]
    else:
        fw = f * om[None, :]
        tr_fw, s_fw = np.real(fw.sum(axis=1))[:, None], np.real(fw @ uv)[:, None]
    direct = (b * tr_f + th * tr_fw) / n
    total = (b * s_f + th * s_fw) / n
    return direct, total


@dataclass(frozen=True, eq=False)
class DynamicResults(Inference):
    """Estimates of :class:`DynamicSDM`.

    ``params`` are the bias-corrected estimates when ``correction="bias"``
    (``params_qml`` the uncorrected QML, ``bias`` the subtracted bias), and
    the QML estimates when ``correction="none"``. ``cov_params`` is minus the
    inverse numerical Hessian at the QML estimate (``cov_type="numerical"``) or
    the robust / clustered sandwich there (sigma2 excluded; module docstring).
    """

    params: pd.Series
    params_qml: pd.Series
    bias: pd.Series
    cov_params: pd.DataFrame
    sigma2: float
    sigma2_qml: float
    llf: float
    N: int
    T: int
    fe: str
    correction: str
    stable: bool
    x_names: list[str]
    resid: pd.Series
    fitted_values: pd.Series
    flags: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict, repr=False)

    @property
    def sigma2_se(self) -> float:
        """Standard error of sigma2 (QML, from the same Hessian as ``cov_params``)."""
        return float(self.extra["sigma2_se"])

    @property
    def cov_type(self) -> str:
        """``cov=`` of the fit: ``"numerical"``, ``"robust"`` or ``"cluster"``."""
        return str(self.extra.get("cov", "numerical"))

    @property
    def model(self) -> str:
        """``"Dynamic SDM"`` (with W X) or ``"Dynamic SAR"``."""
        return str(self.extra["model"])

    @property
    def method(self) -> str:
        """``"direct"`` (two-way demeaning) or ``"lee-yu"`` (time effects removed by F_{N,N-1}), as in the static models."""
        return str(self.extra.get("method", "direct"))

    @property
    def label(self) -> str:
        """Method and correction as printed in tables, e.g. ``"lee-yu, bias-corrected"``."""
        return f"{self.method}, {'bias-corrected' if self.correction == 'bias' else 'QML'}"

    @property
    def nobs(self) -> int:
        return self.N * self.T

    def summary(self) -> str:
        """Plain-text summary naming model, fe, correction, W, N, T and the stability check."""
        ylag, _ = self.extra["lag_names"]
        head = [
            f"{self.model} panel (quasi-maximum likelihood, {self.method} approach)",
            f"Fixed effects: {self.fe}    Method: {self.method}    Correction: {self.correction}    "
            f"Covariance: {self.cov_type}",
            f"Weights: {self.extra.get('w_label', 'W')}"
            + ("    W X terms: their own W (w_x)" if self.extra.get("own_w_x") else "")
            + f"    N = {self.N}   T = {self.T} (after the first period)",
            f"sigma2 = {self.sigma2:.6g} (QML {self.sigma2_qml:.6g})   log-likelihood (QML) = {self.llf:.4f}",
            f"spectral radius of A at the QML estimate = {self.extra['spectral_radius_A']:.4f} "
            f"({'stable' if self.stable else 'NOT stable'}); first lag {ylag}",
        ]
        if self.flags:
            head.append("WARNING: " + "; ".join(self.flags))
        frame = pd.DataFrame({"coef": self.params, "std err": self.bse, "z": self.tvalues, "P>|z|": self.pvalues,
                              "QML": self.params_qml, "bias": self.bias})
        body = frame.to_string(float_format=lambda v: f"{v: .6f}")
        rule = "=" * max(len(line) for line in head + body.splitlines())
        return "\n".join([rule, *head, rule, body, rule])

    def __repr__(self) -> str:
        return self.summary()

    def spectral_radius(self) -> float:
        """Spectral radius of ``A = (I - rho W)^{-1}(tau I + eta W)`` at ``params`` (stable below 1)."""
        ylag, wylag = self.extra["lag_names"]
        om = self.extra["eig"][0]
        tau, eta = self.params.get(ylag, 0.0), self.params.get(wylag, 0.0)
        return float(np.max(np.abs((tau + eta * om) / (1 - self.params["rho"] * om))))

    def _split(self, p: pd.DataFrame):
        ylag, wylag = self.extra["lag_names"]
        b = p[self.x_names].to_numpy()
        th = np.column_stack([p[f"W*{c}"].to_numpy() if f"W*{c}" in p else np.zeros(len(p)) for c in self.x_names])
        tau = p[ylag].to_numpy() if ylag in p else np.zeros(len(p))
        eta = p[wylag].to_numpy() if wylag in p else np.zeros(len(p))
        return b, th, tau, eta, p["rho"].to_numpy()

    def _point(self, theta: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
        frame = pd.DataFrame(np.atleast_2d(theta), columns=list(self.params.index))
        d, t = dynamic_impacts(self.extra["eig"], *self._split(frame), kind=kind)
        return d, t

    def impacts(self, kind: str = "short", draws: int = 1000, seed: int | None = 0,
                method: str = "simulation") -> ImpactsResult:
        """Short-run, long-run or both (``kind="both"``) direct/indirect/total impacts (module docstring).

        ``method="simulation"`` (seeded draws from N(theta, V), unstable
        draws discarded) or ``"delta"`` (first-order delta method, gradient
        by central differences).
        """
        from spillover.spatial.impacts import check_impact_options

        check_impact_options(draws, method, seed)
        if kind == "both":
            parts = [self.impacts(k, draws=draws, seed=seed, method=method) for k in ("short", "long")]
            tables = []
            for k, part in zip(("short", "long"), parts, strict=True):
                t = part.table.copy()
                t.index = pd.Index([f"{x} ({k} run)" for x in t.index], name="variable")
                tables.append(t)
            order = [f"{x} ({k} run)" for x in self.x_names for k in ("short", "long")]
            table = pd.concat(tables).loc[order]
            return ImpactsResult(table=table, method=method, draws=parts[0].draws, seed=seed,
                                 model=f"{self.model} (short and long run)")
        if kind not in ("short", "long"):
            raise SpecificationError(format_error(f"kind={kind!r}", option="kind", hint="choose 'short', 'long' or 'both'"))
        if method not in ("simulation", "delta"):
            raise SpecificationError(format_error(f"method={method!r}", option="method", hint="choose 'simulation' or 'delta'"))
        theta = self.params.to_numpy()
        d0, t0 = self._point(theta, kind)
        cov = self.cov_params.to_numpy()
        if kind == "long" and self.spectral_radius() >= 1:
            warnings.warn(f"{self.model}: the estimate is outside the stable region (spectral radius of A = "
                          f"{self.spectral_radius():.4f}); long-run impacts are not defined and are reported as NaN",
                          ConvergenceWarning, stacklevel=2)
            nan = np.full(len(self.x_names), np.nan)
            table = pd.DataFrame({c: nan for p_ in ("", "_se", "_z", "_p") for c in
                                  (f"direct{p_}", f"indirect{p_}", f"total{p_}")},
                                 index=pd.Index(self.x_names, name="variable"))
            return ImpactsResult(table=table, method=method, draws=0 if method == "simulation" else None, seed=seed,
                                 model=f"{self.model} (long-run: not defined, unstable estimate)")
        if method == "delta":
            k = len(self.x_names)
            grads = np.zeros((3 * k, len(theta)))
            for j in range(len(theta)):
                h = 1e-6 * max(1.0, abs(theta[j]))
                up, dn = theta.copy(), theta.copy()
                up[j] += h
                dn[j] -= h
                (du, tu), (dd_, td) = self._point(up, kind), self._point(dn, kind)
                fu = np.concatenate([du[0], tu[0] - du[0], tu[0]])
                fd = np.concatenate([dd_[0], td[0] - dd_[0], td[0]])
                grads[:, j] = (fu - fd) / (2 * h)
            se_all = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", grads, cov, grads), 0.0, None))
            ses = {"direct": se_all[:k], "indirect": se_all[k:2 * k], "total": se_all[2 * k:]}
            used = None
        else:
            om = self.extra["eig"][0]

            def admissible(dr: pd.DataFrame) -> np.ndarray:
                _, _, tau, eta, rho = self._split(dr)
                ok = np.all(np.abs(rho[:, None] * om[None, :]) < 1, axis=1)
                if kind == "long":
                    a = (tau[:, None] + eta[:, None] * om[None, :]) / (1 - rho[:, None] * om[None, :])
                    ok &= np.max(np.abs(a), axis=1) < 1
                return ok

            sample = parameter_draws(self.params, cov, draws, np.random.default_rng(seed), admissible)
            dd, tt = dynamic_impacts(self.extra["eig"], *self._split(sample), kind=kind)
            ses = {"direct": dd.std(axis=0, ddof=1), "indirect": (tt - dd).std(axis=0, ddof=1),
                   "total": tt.std(axis=0, ddof=1)}
            used = len(sample)
        table = pd.DataFrame(index=pd.Index(self.x_names, name="variable"))
        vals_ = {"direct": d0[0], "indirect": t0[0] - d0[0], "total": t0[0]}
        for part in vals_:
            table[part] = vals_[part]
        for part in vals_:
            table[f"{part}_se"] = ses[part]
        for part in vals_:
            table[f"{part}_z"] = vals_[part] / ses[part]
        for part in vals_:
            table[f"{part}_p"] = 2 * stats.norm.sf(np.abs(table[f"{part}_z"]))
        return ImpactsResult(table=table, method=method, draws=used, seed=seed if method == "simulation" else None,
                             model=f"{self.model} ({kind}-run)")


@dataclass(frozen=True, eq=False)
class DynamicData:
    """What a dynamic fit estimates from: periods 2..T stacked time-major, lags formed on the raw data.

    ``yt``, ``wyt``, ``zt`` are the transformed ``y``, ``W y`` and regressors
    (``y_{t-1}``, ``W y_{t-1}``, ``X``, ``W_x X``); ``conv`` the likelihood's
    constants in the terms of :class:`spillover.spatial.transforms.Convention`
    (Jacobian weight ``T'``, Lee-Yu's ``log(1 - rho)`` weight, ``n_eff``).
    """

    design: object
    w: object
    n: int
    t: int
    y: np.ndarray
    yt: np.ndarray
    wyt: np.ndarray
    zt: np.ndarray
    z_names: list
    lag_names: list
    ylag: str
    wylag: str
    conv: Convention

    def score_parts(self, beta, rho: float, sigma2: float) -> sandwich.ScoreParts:
        """The score at ``(beta, rho, sigma2)`` split as in :mod:`spillover.spatial.sandwich` (lag model, no error)."""
        zero = np.zeros_like(self.yt)
        return sandwich.score_parts(self.w, self.n, self.t, self.conv, lag=True, err=False, beta=beta, rho=rho,
                                    lam=0.0, sigma2=sigma2, yt=self.yt, wyt=self.wyt, mwyt=zero, zt=self.zt,
                                    mzt=np.zeros_like(self.zt))


class DynamicSDM:
    """Dynamic spatial Durbin (or SAR) panel with fixed effects (see module docstring).

    Parameters
    ----------
    formula : str
        ``"y ~ x1 + x2"`` (no intercept is used).
    data : DataFrame
        Balanced long panel; entities are W's ids.
    w : libpysal W, or (matrix, ids)
    entity, time : str
    fe : "twoways" (default) | "entity"
    time_lags : subset of ("y", "wy")
        ``"y"`` adds ``tau y_{t-1}``, ``"wy"`` adds ``eta W y_{t-1}``.
    wx : bool or list of str
        ``W X theta`` for every regressor (True, SDM), none (False, dynamic SAR) or those listed.
    method : "lee-yu" (default) | "direct"
        How time effects are removed (``fe="twoways"``): two-way demeaning
        (direct approach) or the Lee-Yu transformation ``F_{N,N-1}'``, which
        leaves N - 1 cross-sectional units and the Jacobian
        ``log|I - rho W| - log(1 - rho)`` (Lee & Yu 2010, ET). Same as
        "direct" with ``fe="entity"``.
    correction : "bias" (default) | "none"
        Subtract the estimated bias (module docstring): phi_1/T' and, for the
        direct approach with time effects, phi_2/N; the transformation
        approach needs phi_1/T' only.
    logdet : str
        Strategy of :func:`spillover.spatial.logdet.make_logdet`.
    w_x : libpysal W or (matrix, ids), optional
        W of the ``W X theta`` terms (default ``w``); ``W y_t`` and ``W y_{t-1}`` keep ``w``.
    cov : "numerical" (default) | "robust" | "cluster"
        Minus the inverse Hessian, or the heteroskedasticity-robust / unit-clustered
        sandwich of :mod:`spillover.spatial.sandwich`, both at the QML estimate (module docstring).
    """

    def __init__(self, formula, data, w, entity, time, *, fe: str = "twoways", method: str = "lee-yu",
                 time_lags=("y", "wy"), wx: bool | list[str] = True, correction: str = "bias",
                 logdet: str = "auto", w_x=None, cov: str = "numerical") -> None:
        if fe not in ("twoways", "entity"):
            raise SpecificationError(format_error(f"fe={fe!r} is not supported", option="fe", hint="use 'twoways' or 'entity'"))
        lags = tuple(time_lags)
        if not lags or not set(lags) <= {"y", "wy"}:
            raise SpecificationError(format_error(f"time_lags={lags!r}", option="time_lags",
                                                  hint="choose from ('y', 'wy')"))
        if method not in METHODS:
            raise SpecificationError(format_error(f"method={method!r}", option="method", hint=f"choose one of {METHODS}"))
        if correction not in CORRECTIONS:
            raise SpecificationError(format_error(f"correction={correction!r}", option="correction", hint=f"choose one of {CORRECTIONS}"))
        if cov not in COVS:
            raise SpecificationError(format_error(f"cov={cov!r} is not supported by the dynamic model", option="cov",
                                                  hint=f"choose one of {COVS}"))
        if w_x is not None and not wx:
            raise SpecificationError(format_error("the dynamic SAR (wx=False) has no W*x terms, so w_x does not apply",
                                                  option="w_x", hint="use wx=True (dynamic SDM) or drop w_x"))
        self.formula, self.data, self.w, self.entity, self.time = formula, data, w, entity, time
        self.fe, self.lags, self.wx, self.correction, self.logdet = fe, lags, wx, correction, logdet
        self.method, self.w_x, self.cov = method, w_x, cov

    def _data(self) -> DynamicData:
        """The transformed arrays of the fit (periods 2..T) and its likelihood constants."""
        d = build_design(self.formula, self.data, self.w, self.entity, self.time, intercept=False, wx=self.wx)
        if self.w_x is not None:
            d = replace(d, w_x=other_weights(self.w_x, d.ids, "w_x"))
        n, t_all = d.n, d.t
        if t_all < 3:
            raise SpecificationError(format_error("a dynamic panel needs at least 3 periods", option="time"))
        W = d.w
        t = t_all - 1
        y_all = d.y
        wy_all = spatial_lag(W, y_all, n, t_all)
        y, wy = y_all[n:], wy_all[n:]
        cols, names = [], []
        ylag, wylag = f"{d.y_name}(t-1)", f"W*{d.y_name}(t-1)"
        if "y" in self.lags:
            cols.append(y_all[:-n])
            names.append(ylag)
        if "wy" in self.lags:
            cols.append(wy_all[:-n])
            names.append(wylag)
        x = d.x[n:]
        w_x = W if d.w_x is None else d.w_x
        wxm = spatial_lag(w_x, d.x[:, d.wx_idx], n, t_all)[n:] if d.wx_idx else np.empty((n * t, 0))
        z = np.column_stack(cols + [x, wxm])
        z_names = names + d.x_names + d.wx_names
        zt = demean(z, n, t, self.fe)
        bad = collinear_columns(zt, z_names)
        if bad:
            raise SpecificationError(format_error("perfectly collinear regressor(s) after demeaning", variables=bad))
        yt, wyt = demean(y, n, t, self.fe), demean(wy, n, t, self.fe)
        transformed = self.method == "lee-yu" and self.fe == "twoways"
        if transformed and not is_row_standardised(W):
            raise SpecificationError(format_error("method='lee-yu' removes the time effects through the unit "
                                                  "eigenvector of a row-standardised W", option="method",
                                                  hint="row-standardise W or use method='direct'"))
        # Lee-Yu: the two-way demeaned data already lie in the complement of 1 (F F' = J_N), so e'e is the
        # same; N - 1 units per period and the Jacobian without the unit eigenvalue (Lee & Yu 2010, ET).
        n_eff = n - 1 if transformed else n
        conv = Convention(self.fe, self.method if self.fe == "twoways" else "direct", float(t),
                          float(t) if transformed else 0.0, n_eff * t, transformed)
        return DynamicData(design=d, w=W, n=n, t=t, y=y, yt=yt, wyt=wyt, zt=zt, z_names=z_names, lag_names=names,
                           ylag=ylag, wylag=wylag, conv=conv)

    def fit(self) -> DynamicResults:
        """Quasi-ML (direct or Lee-Yu transformation approach) and, if requested, the bias correction."""
        from spillover.spatial.logdet import make_logdet

        data = self._data()
        d, W, n, t, y, yt, wyt, zt = data.design, data.w, data.n, data.t, data.y, data.yt, data.wyt, data.zt
        z_names, names, ylag, wylag = data.z_names, data.lag_names, data.ylag, data.wylag
        transformed = data.conv.jac_corr > 0
        n_eff = n - 1 if transformed else n
        nt = data.conv.n_eff
        if self.cov in sandwich.KINDS:
            sandwich.check_size(n, self.cov)
        mom = Moments.from_arrays(yt, wyt, np.zeros_like(yt), zt, np.zeros_like(zt))
        eng = make_logdet(W, self.logdet)
        lo, hi = eng.bounds

        def logdet(rho):
            return float(eng.logdet(rho)) - (np.log(1.0 - rho) if transformed else 0.0)

        def llf_full(beta, rho, s2):
            ssr = mom.ssr_at(rho, 0.0, beta)
            return -0.5 * nt * (LOG2PI + np.log(s2)) + t * logdet(rho) - ssr / (2 * s2)

        def neg_conc(rho):
            beta, ssr = mom.beta_ssr(rho, 0.0)
            return -llf_full(beta, rho, ssr / nt)

        def score(x):
            rho = float(x[0])
            beta, ssr = mom.beta_ssr(rho, 0.0)
            dld = float(eng.dlogdet(rho)) + (1.0 / (1.0 - rho) if transformed else 0.0)
            return np.array([-0.5 * nt * mom.dssr(rho, 0.0, beta)[0] / ssr + t * dld])

        found = fit_ml(MLProblem("DynamicSDM", ("rho",), [(lo, hi)], lambda x: neg_conc(float(x[0])), score=score))
        rho = float(found.x[0])
        beta, ssr = mom.beta_ssr(rho, 0.0)
        s2 = ssr / nt
        llf = llf_full(beta, rho, s2)
        kz = len(beta)
        theta = np.concatenate([beta, [rho, s2]])
        def grad(th):  # analytic gradient of llf_full (the Jacobian term includes Lee-Yu's -log(1 - rho))
            b_, r_, s2_ = th[:kz], th[kz], th[-1]
            dld = t * (float(eng.dlogdet(r_)) + (1.0 / (1.0 - r_) if transformed else 0.0))
            conv_ = Convention(self.fe, self.method, 1.0, 0.0, nt, False)
            g_b, g_r, _, g_s = mom.loglik_gradient(b_, r_, 0.0, s2_, (dld, 0.0), (0.0, 0.0), conv_)
            return np.concatenate([g_b, [g_r, g_s]])

        hess = -covariance.from_gradient(grad, theta)
        if self.cov in sandwich.KINDS:  # at the QML estimate, before the bias correction (module docstring)
            cov_full = sandwich.sandwich(-hess, data.score_parts(beta, rho, s2), self.cov)
        else:
            cov_full = covariance.invert(-hess, "Hessian")
        flags = list(found.flags)

        tau = beta[names.index(ylag)] if ylag in names else 0.0
        eta = beta[names.index(wylag)] if wylag in names else 0.0
        wd = W.toarray() if hasattr(W, "toarray") else np.asarray(W)
        om, vec = np.linalg.eig(wd)
        vinv = np.linalg.inv(vec)
        eig = (om, np.ones(n) @ vec, vinv @ np.ones(n))
        if d.w_x is not None:  # tr f(W) W_x and 1'f(W) W_x 1 through V^{-1} W_x V (module docstring)
            wxd = d.w_x.toarray()
            eig += (np.einsum("ij,ji->i", vinv, wxd @ vec), vinv @ (wxd @ np.ones(n)))
        spec_rad = float(np.max(np.abs((tau + eta * om) / (1 - rho * om))))
        stable = spec_rad < 1
        bias = np.zeros_like(theta)
        if self.correction == "bias":
            if not stable:
                raise SpecificationError(
                    format_error(
                        f"the QML estimate is not in the stable region (spectral radius of A = {spec_rad:.4f} >= 1)",
                        option="correction", hint="the Yu-de Jong-Lee correction is for the stable case; use correction='none'",
                    )
                )
            k_ex = kz - len(names)
            phi1, phi2 = dynamic_bias(wd, tau, eta, rho, s2, k_ex, self.fe, transformed=transformed)
            keep = [("y" in self.lags), ("wy" in self.lags)] + [True] * (k_ex + 2)
            phi1, phi2 = phi1[keep], phi2[keep]
            sigma = -hess / nt
            # E theta_hat - theta0 = -Sigma^{-1} (phi1 / T' + phi2 / N)   (YDL 2008 Th. 3; Lee & Yu 2010 ET)
            bias = -np.linalg.solve(sigma, phi1 / t + phi2 / n_eff)
        theta_c = theta - bias
        if self.correction == "bias":
            tau_c = theta_c[names.index(ylag)] if ylag in names else 0.0
            eta_c = theta_c[names.index(wylag)] if wylag in names else 0.0
            if float(np.max(np.abs((tau_c + eta_c * om) / (1 - theta_c[kz] * om)))) >= 1:
                flags.append("the bias-corrected estimate is outside the stable region")
        warn_flags("DynamicSDM", flags)
        pnames = z_names + ["rho"]
        # structural residual at the QML estimate: the demeaned residual is y - rho W y - Z b less its
        # recovered unit (and time) effects, in the user's rows of periods 2..T
        e = yt - theta[kz] * wyt - zt @ theta[:kz]
        idx = d.rows[d.order[n:]]
        resid = pd.Series(e, index=idx, name="resid").sort_index()
        return DynamicResults(
            params=pd.Series(theta_c[:-1], index=pnames, name="params"),
            params_qml=pd.Series(theta[:-1], index=pnames, name="params_qml"),
            bias=pd.Series(bias[:-1], index=pnames, name="bias"),
            cov_params=pd.DataFrame(cov_full[:-1, :-1], index=pnames, columns=pnames),
            sigma2=float(theta_c[-1]), sigma2_qml=float(s2), llf=float(llf), N=n, T=t, fe=self.fe,
            correction=self.correction, stable=stable, x_names=list(d.x_names), flags=tuple(flags), resid=resid,
            fitted_values=(pd.Series(y, index=idx).sort_index() - resid).rename("fitted"),
            extra={"lag_names": (ylag, wylag), "eig": eig, "spectral_radius_A": spec_rad, "bounds": (lo, hi),
                   "sigma2_bias": float(bias[-1]), "sigma2_se": float(np.sqrt(cov_full[-1, -1])), "hessian": hess,
                   "w_label": d.w_label, "y_name": d.y_name, "method": self.method if self.fe == "twoways" else "direct",
                   "model": "Dynamic SDM" if d.wx_idx else "Dynamic SAR", "cov": self.cov,
                   "own_w_x": d.w_x is not None,
                   "n_eff": n_eff},
        )
