"""Likelihood-ratio, Wald and Hausman tests for spatial panel models.

* LR: ``2 (l_u - l_r)`` ~ chi2(df) (Wilks 1938); both models must be fitted on
  the same observations with comparable likelihoods (same ``method``).
* Joint significance of unit / time fixed effects (Elhorst 2014, sec. 3.3):
  LR of the two-way model against the model without unit (time) effects,
  df = N - 1 (T - 1). These likelihoods are comparable only under
  ``method="direct"`` (same n and Jacobian), which the test uses.
* SDM restrictions (Elhorst 2010, Spatial Economic Analysis 5(1), 9-28;
  Burridge 1981 for the common factor): ``theta = 0`` (SDM -> SAR) and
  ``theta + rho beta = 0`` (SDM -> SEM). The Wald statistic for the
  nonlinear one uses the delta method with Jacobian
  ``[rho I | I | beta]`` with respect to ``(beta, theta, rho)``.
* Hausman (1978) for fixed vs random unit effects, in three forms
  (:func:`hausman`): ``"robust"``, the Mundlak (1978) regression with a
  cluster-robust Wald test (Wooldridge 2010, sec. 10.7.3), the default;
  ``"splm"``, the convention of R splm's ``sphtest``; ``"classic"``,
  ``(b_FE - b_RE)' [V_FE - V_RE]^-1 (b_FE - b_RE)`` over every common
  coefficient with the covariances as estimated.
* Wald tests of zero restrictions (:func:`wald_zero`): theta = 0 in an SLX
  model, rho = 0 in an SDM, lambda = 0 in an SDEM.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class TestResult:
    """A test statistic with its reference distribution chi2(df)."""

    name: str
    stat: float
    df: int
    p: float
    null: str

    def as_row(self) -> dict:
        return {"test": self.name, "stat": self.stat, "df": self.df, "p": self.p, "null": self.null}

    def __repr__(self) -> str:
        return f"{self.name}: stat = {self.stat:.4f}, df = {self.df}, p = {self.p:.4g}  (H0: {self.null})"


def _chi2(name: str, stat: float, df: int, null: str) -> TestResult:
    return TestResult(name, float(stat), int(df), float(stats.chi2.sf(stat, df)), null)


def lr_test(restricted, unrestricted, *, name: str = "LR", null: str = "restricted model") -> TestResult:
    """``2 (llf_u - llf_r)`` with df = difference in the number of parameters."""
    if restricted.nobs != unrestricted.nobs:
        raise ValueError("LR test: the two models were fitted on different numbers of observations")
    df = unrestricted.df_model - restricted.df_model
    if df <= 0:
        raise ValueError("LR test: the unrestricted model must have more parameters")
    return _chi2(name, 2.0 * (unrestricted.llf - restricted.llf), df, null)


def fe_lr_tests(model_cls, formula, data, w, entity, time, **kw) -> pd.DataFrame:
    """LR tests of the joint significance of unit and of time fixed effects (method="direct")."""
    kw = {**kw, "method": "direct"}
    two = model_cls(formula, data, w, entity, time, fe="twoways", **kw).fit()
    ent = model_cls(formula, data, w, entity, time, fe="entity", **kw).fit()
    tim = model_cls(formula, data, w, entity, time, fe="time", **kw).fit()
    rows = [
        _chi2("LR unit effects", 2 * (two.llf - tim.llf), two.N - 1, "no unit fixed effects").as_row(),
        _chi2("LR time effects", 2 * (two.llf - ent.llf), two.T - 1, "no time fixed effects").as_row(),
    ]
    return pd.DataFrame(rows).set_index("test")


def _sdm_blocks(res):
    if res.model != "SDM":
        raise ValueError(f"this test needs an SDM result, got {res.model}")
    xs = [c for c in res.x_names if c != "Intercept" and f"W*{c}" in res.params.index]
    ws = [f"W*{c}" for c in xs]
    return xs, ws


def wald_sdm_sar(res) -> TestResult:
    """Wald test of ``theta = 0`` in an SDM (does it reduce to SAR?)."""
    xs, ws = _sdm_blocks(res)
    th = res.params[ws].to_numpy()
    v = res.cov_params.loc[ws, ws].to_numpy()
    return _chi2("Wald SDM vs SAR", th @ np.linalg.solve(v, th), len(ws), "theta = 0 (SAR)")


def wald_sdm_sem(res) -> TestResult:
    """Wald test of the common-factor restriction ``theta + rho beta = 0`` (SDM -> SEM), delta method."""
    xs, ws = _sdm_blocks(res)
    b = res.params[xs].to_numpy()
    th = res.params[ws].to_numpy()
    rho = float(res.params["rho"])
    g = th + rho * b
    k = len(xs)
    names = xs + ws + ["rho"]
    jac = np.hstack([rho * np.eye(k), np.eye(k), b[:, None]])
    v = jac @ res.cov_params.loc[names, names].to_numpy() @ jac.T
    return _chi2("Wald SDM vs SEM", g @ np.linalg.solve(v, g), k, "theta + rho beta = 0 (SEM)")


def wald_zero(res, names: list[str], *, name: str, null: str) -> TestResult:
    """Wald test of ``params[names] = 0`` with the fit's covariance, chi2(len(names)).

    ``wald_zero(slx, ["W*x1", "W*x2"], ...)`` tests theta = 0 in an SLX model;
    ``wald_zero(sdm, ["rho"], ...)`` is the squared z statistic of rho.
    """
    missing = [c for c in names if c not in res.params.index]
    if missing or not names:
        from spillover.errors import SpecificationError, format_error

        raise SpecificationError(format_error(f"Wald test: {missing or 'no'} coefficient(s) to test in the "
                                              f"{res.model} fit", option="names",
                                              hint=f"choose from {list(res.params.index)}"))
    b = res.params[names].to_numpy()
    v = res.cov_params.loc[names, names].to_numpy()
    return _chi2(name, float(b @ np.linalg.solve(v, b)), len(names), null)


# --------------------------------------------------------------------------- Hausman
#: The forms of :func:`hausman`, each with the words its result and the specification tables print.
HAUSMAN_KINDS: dict[str, str] = {
    "robust": "Mundlak regression: random effects with the unit means of the time-varying regressors, "
              "cluster-robust Wald test of the means",
    "splm": "slopes, within-ML information covariance against random-effects GLS covariance (splm's sphtest)",
    "classic": "every common coefficient, the two fits' covariances as estimated",
}

#: What the specification tables print in the "model" column for each kind (with the model's name before it).
HAUSMAN_MODEL_TEXT: dict[str, str] = {
    "robust": "random effects with unit means (Mundlak), cluster-robust Wald",
    "splm": "unit fixed vs random effects, slopes (splm sphtest)",
    "classic": "unit fixed vs random effects, all common coefficients",
}


@dataclass(frozen=True)
class HausmanResult(TestResult):
    """A Hausman test: ``stat`` ~ chi2(``df``) under "random effects consistent", and which form it is.

    ``kind`` is one of :data:`HAUSMAN_KINDS` and ``definition`` its words;
    ``coefficients`` the coefficients compared (classic, splm) or whose unit
    means are tested (robust); ``details`` the pieces of the computation
    (differences and covariances, or the auxiliary regression).
    """

    kind: str = "robust"
    definition: str = ""
    coefficients: tuple[str, ...] = ()
    details: dict = field(default_factory=dict, repr=False, compare=False)

    def as_row(self) -> dict:
        return {**super().as_row(), "kind": self.kind, "definition": self.definition}

    def __repr__(self) -> str:
        return (f"{self.name} [{self.kind}: {self.definition}]: stat = {self.stat:.4f}, df = {self.df}, "
                f"p = {self.p:.4g}  (H0: {self.null})")


_HAUSMAN_NAME = "Hausman FE vs RE"
_HAUSMAN_NULL = "random effects consistent"
_SPATIAL = ("rho", "lambda")


def hausman(fe_result, re_result, *, kind: str = "robust") -> HausmanResult:
    r"""Hausman (1978) test of random against fixed unit effects in a spatial panel model.

    Under H0 the unit effects are uncorrelated with the regressors, so the
    random-effects (RE) estimator is consistent (and efficient under normal,
    homoskedastic errors); under H1 only the within (FE) estimator is.

    Parameters
    ----------
    fe_result : SpatialResults
        The fixed-effects fit (``fe="entity"``; ``"twoways"`` is accepted by
        ``kind="classic"`` and ``"robust"``, where it is only checked).
    re_result : SpatialResults
        The random-effects fit of the same model (``fe="random"``: SAR, SDM,
        SEM or SDEM) on the same panel.
    kind : {"robust", "splm", "classic"}
        Which statistic; see below. ``"robust"`` is the default.

    Returns
    -------
    HausmanResult
        ``stat``, ``df``, ``p``, ``kind`` and ``definition``
        (:data:`HAUSMAN_KINDS`); ``details`` holds the pieces.

    Notes
    -----
    ``kind="robust"`` -- the regression form of Mundlak (1978, Econometrica
    46(1), 69-85) as a fully robust test (Wooldridge 2010, *Econometric
    Analysis of Cross Section and Panel Data*, 2nd ed., sec. 10.7.3): write
    the unit effect as ``mu_i = xbar_i' xi + a_i`` and test ``xi = 0``. The
    regressors whose unit means enter are the time-varying columns of
    ``Z = [X, W X]`` (for SDM and SDEM the means of ``W X`` too; cf. Debarsy
    2012, Spatial Economic Analysis 7(1), 109-131, on the Mundlak approach in
    the spatial Durbin panel model); means of time-invariant columns would be
    collinear with them and are left out.
    What is regressed:

    1. the random-effects ML model of the same kind as ``re_result`` is fitted
       again with the means as extra regressors
       (``y = rho W y + Z b + Zbar xi + mu + e`` for SAR/SDM,
       ``y = Z b + Zbar xi + mu + u``, ``u = lambda W u + e`` for SEM/SDEM).
       Because the means absorb the correlation between ``mu`` and ``Z``, its
       spatial parameter and variance ratio are consistent under H0 and H1;
    2. at those estimates the model is a linear regression after the GLS
       transformation: for SAR/SDM the spatially filtered ``y - rho W y`` and
       ``[Z, Zbar]`` quasi-demeaned, ``v - (1 - sqrt(phi)) vbar_i`` (Elhorst
       2014, eq. 3.26); for SEM/SDEM both multiplied by
       ``Jbar_T kron V^{-1/2} + E_T kron B`` (``B = I - lambda W``,
       ``V = T (s2_mu/s2) I + (B'B)^{-1}``, Baltagi, Song & Koh 2003,
       J. Econometrics 117, eqs. 2.4-2.6), whose cross-product is
       ``Omega^{-1} s2``. Least squares on the transformed data gives the ML
       coefficients;
    3. ``xi`` is tested by the Wald statistic with the cluster-robust (by
       unit) covariance ``c (Z*'Z*)^{-1} (sum_i Z*_i' e*_i e*_i' Z*_i)
       (Z*'Z*)^{-1}``, ``c = N/(N-1) (NT-1)/(NT-K)`` (CR1; Cameron & Miller
       2015, J. Human Resources 50(2), 317-372, sec. VI.B), df = number of
       means.

    The statistic is a quadratic form in a positive semi-definite matrix, so it
    cannot be negative, and it stays valid under heteroskedasticity and serial
    correlation within units, where the classical form is not (RE is then not
    efficient). It is conditional on the spatial parameter and variance ratio
    of step 1: their sampling error is not propagated (a generated-regressand
    approximation, as in two-step feasible GLS). Clustering by unit does not
    address dependence across units beyond what the spatial model captures.
    Only ``re_result`` (its design, kept in ``extra["design"]``) enters the
    computation; ``fe_result`` is checked to be the same model.

    ``kind="splm"`` -- the convention of R splm's ``sphtest`` for models
    fitted by maximum likelihood (Millo & Piras 2012, J. Statistical Software
    47(1); the spatial Hausman test of Mutl & Pfaffermayr 2011,
    Econometrics Journal 14, 48-76): ``d = b_FE - b_RE`` over the slopes only
    (regressors and ``W X`` terms; no intercept, no rho or lambda),
    ``H = |d' (V_FE - V_RE)^{-1} d|`` (splm reports the absolute value), df =
    number of slopes, with

    * ``V_FE``: the slope block of the inverse expected information of the
      within ML estimator with ``sigma2 = e'e/(NT)`` (``method="direct"``,
      ``cov="information"``). A ``method="lee-yu"`` fit with unit effects
      has the same estimates and exactly ``T/(T-1)`` times this covariance
      (its log-likelihood is ``(T-1)/T`` times the direct one in every
      parameter but sigma2), so it is rescaled by ``(T-1)/T``;
    * ``V_RE``: ``s2 (Z' Omega^{-1} Z)^{-1}`` at the ML estimates, the GLS
      covariance given rho (or lambda) and the variance ratio
      (``re_result.extra["cov_gls"]``), not the inverse Hessian.

    ``kind="classic"`` -- the textbook form on what the two fits report:
    ``d' (V_FE - V_RE)^{-1} d`` over every coefficient both fits estimate
    (slopes and rho or lambda, no intercept), each ``V`` the fit's
    ``cov_params`` as estimated (so a Lee-Yu fit's covariance is ``T/(T-1)``
    times a direct fit's). When ``V_FE - V_RE`` is not positive definite a
    generalised inverse is used (df = its rank) and a warning issued; a
    negative statistic is returned with p = NaN. It differs from ``"splm"``
    in the coefficients (rho included), in ``V_RE`` (the full inverse
    Hessian, larger than the GLS one) and in keeping the sign: on Munnell's
    Produc SAR it is -8.77 where splm's is 83.08 -- itself the absolute value
    of ``d'(V_FE - V_RE)^{-1} d = -83.08`` (a warning says so).

    Both ``"splm"`` and ``"classic"`` assume RE is efficient under H0 and can
    be driven by how each variance is estimated; ``"robust"`` needs neither.
    """
    from spillover.errors import SpecificationError, format_error

    if kind not in HAUSMAN_KINDS:
        raise SpecificationError(format_error(f"kind={kind!r} is not a Hausman test form", option="kind",
                                              hint=f"choose one of {tuple(HAUSMAN_KINDS)}"))
    for arg, res in (("fe_result", fe_result), ("re_result", re_result)):
        if not hasattr(res, "params") or not hasattr(res, "fe"):
            raise SpecificationError(format_error(f"{arg} is not a fitted spatial model ({type(res).__name__})",
                                                  option=arg, hint="pass the results of .fit()"))
    if re_result.fe != "random":
        raise SpecificationError(format_error(f"re_result must be a random-effects fit, got fe={re_result.fe!r}",
                                              option="re_result", hint="fit the model with fe='random'"))
    allowed = ("entity",) if kind == "splm" else ("entity", "twoways")
    if fe_result.fe not in allowed:
        raise SpecificationError(format_error(
            f"fe_result must be a fit with unit fixed effects for kind={kind!r}, got fe={fe_result.fe!r}",
            option="fe_result", hint="fit the model with fe='entity'"))
    if fe_result.model != re_result.model:
        raise SpecificationError(format_error(
            f"the two fits are different models ({fe_result.model} and {re_result.model})", option="re_result",
            hint="fit the same model with fe='entity' and with fe='random'"))
    if kind == "robust":
        return _hausman_robust(fe_result, re_result)
    if kind == "splm":
        return _hausman_splm(fe_result, re_result)
    return _hausman_classic(fe_result, re_result)


def _hausman_classic(fe_result, re_result) -> HausmanResult:
    common = [c for c in fe_result.params.index if c in re_result.params.index and c != "Intercept"]
    d = fe_result.params[common].to_numpy() - re_result.params[common].to_numpy()
    v = fe_result.cov_params.loc[common, common].to_numpy() - re_result.cov_params.loc[common, common].to_numpy()
    eig = np.linalg.eigvalsh((v + v.T) / 2)
    if eig.min() <= 0:
        warnings.warn(
            "Hausman: V_FE - V_RE is not positive definite; a generalised inverse is used and df = its rank",
            RuntimeWarning,
            stacklevel=3,
        )
        stat = float(d @ np.linalg.pinv(v) @ d)
        df = int(np.sum(np.abs(eig) > 1e-12 * max(abs(eig).max(), 1e-300)))
    else:
        stat = float(d @ np.linalg.solve(v, d))
        df = len(common)
    df = max(df, 1)
    details = {"difference": pd.Series(d, index=common), "v_diff": pd.DataFrame(v, index=common, columns=common)}
    p = float(stats.chi2.sf(stat, df))
    if stat < 0:
        warnings.warn(
            f"Hausman statistic is negative ({stat:.4f}): the test is not informative here (p reported as NaN)",
            RuntimeWarning,
            stacklevel=3,
        )
        p = float("nan")
    return HausmanResult(_HAUSMAN_NAME, stat, df, p, _HAUSMAN_NULL, kind="classic",
                         definition=HAUSMAN_KINDS["classic"], coefficients=tuple(common), details=details)


def _hausman_splm(fe_result, re_result) -> HausmanResult:
    from spillover.errors import SpecificationError, format_error

    if fe_result.cov_type != "information":
        raise SpecificationError(format_error(
            f"kind='splm' compares the expected-information covariance of the within fit; fe_result has "
            f"cov={fe_result.cov_type!r}", option="cov", hint="fit the fixed-effects model with cov='information'"))
    cov_re = re_result.extra.get("cov_gls")
    if cov_re is None:
        raise SpecificationError(format_error("re_result holds no GLS covariance (extra['cov_gls'])",
                                              option="re_result", hint="fit it again with this version"))
    slopes = [c for c in fe_result.params.index
              if c in re_result.params.index and c != "Intercept" and c not in _SPATIAL]
    if not slopes:
        raise SpecificationError(format_error("the two fits share no slope coefficient", option="re_result"))
    t = fe_result.T
    scale = (t - 1) / t if fe_result.method == "lee-yu" else 1.0
    v_fe = scale * fe_result.cov_params.loc[slopes, slopes].to_numpy()
    v_re = cov_re.loc[slopes, slopes].to_numpy()
    d = fe_result.params[slopes].to_numpy() - re_result.params[slopes].to_numpy()
    v = v_fe - v_re
    try:
        q = float(d @ np.linalg.solve(v, d))
    except np.linalg.LinAlgError as exc:
        raise SpecificationError(format_error("V_FE - V_RE is singular", option="kind",
                                              hint="use kind='robust'")) from exc
    if q < 0:
        warnings.warn(f"Hausman (splm): d'(V_FE - V_RE)^-1 d = {q:.4f} is negative (V_FE - V_RE is not positive "
                      "definite); its absolute value is reported, as splm's sphtest does", RuntimeWarning,
                      stacklevel=3)
    stat = abs(q)
    details = {"difference": pd.Series(d, index=slopes),
               "v_fe": pd.DataFrame(v_fe, index=slopes, columns=slopes),
               "v_re": pd.DataFrame(v_re, index=slopes, columns=slopes), "quadratic_form": q,
               "v_fe_scale": scale}
    return HausmanResult(_HAUSMAN_NAME, stat, len(slopes), float(stats.chi2.sf(stat, len(slopes))), _HAUSMAN_NULL,
                         kind="splm", definition=HAUSMAN_KINDS["splm"], coefficients=tuple(slopes),
                         details=details)


def _unit_means(a: np.ndarray, n: int, t: int) -> np.ndarray:
    """Each unit's time mean, repeated over the periods (time-major stacking)."""
    v = a.reshape(t, n, -1)
    return np.broadcast_to(v.mean(axis=0), v.shape).reshape(a.shape)


def mundlak_columns(design) -> tuple[np.ndarray, list[str], list[str]]:
    """The unit means of the time-varying columns of ``Z = [X, W X]`` of ``design``.

    Returns ``(means (NT, m), their names "mean(x)" / "mean(W*x)", the columns they are the means of)``.
    A column is time-varying when its within (unit-demeaned) norm exceeds ``1e-9`` times its norm.
    """
    n, t = design.n, design.t
    z, names = design.regressors()
    keep = []
    for j, c in enumerate(names):
        if c == "Intercept":
            continue
        within = z[:, j] - _unit_means(z[:, j], n, t)
        if np.linalg.norm(within) > 1e-9 * max(np.linalg.norm(z[:, j]), 1e-300):
            keep.append(j)
    cols = [names[j] for j in keep]
    return _unit_means(z[:, keep], n, t), [f"mean({c})" for c in cols], cols


def _gls_transform(aux, n: int, t: int):
    """The map ``v -> P v`` with ``P'P = s2 Omega^-1`` of the random-effects fit ``aux`` (see :func:`hausman`)."""
    if "rho" in aux.params.index:
        c = 1.0 - np.sqrt(aux.extra["phi"])
        return lambda v: v - c * _unit_means(v, n, t)
    lam = float(aux.params["lambda"])
    f = float(aux.extra["sigma2_mu_over_sigma2"])
    wd = aux.extra["design"].w.toarray()
    b = np.eye(n) - lam * wd
    vals, vecs = np.linalg.eigh(b.T @ b)
    v_inv_half = (vecs * np.sqrt(vals / (t * f * vals + 1.0))) @ vecs.T

    def apply(v):
        arr = v.reshape(t, n, -1)
        mean = arr.mean(axis=0)
        out = (v_inv_half @ mean)[None] + np.einsum("ij,tjk->tik", b, arr - mean)
        return out.reshape(v.shape)

    return apply


def _hausman_robust(fe_result, re_result) -> HausmanResult:
    from spillover.errors import SpecificationError, format_error
    from spillover.spatial.models import SAR, SDEM, SDM, SEM
    from spillover.spatial.transforms import spatial_lag

    d = re_result.extra.get("design")
    if d is None:
        raise SpecificationError(format_error("re_result holds no design (extra['design'])", option="re_result",
                                              hint="fit it again with this version"))
    cls = {"SAR": SAR, "SDM": SDM, "SEM": SEM, "SDEM": SDEM}[re_result.model]
    n, t = d.n, d.t
    means, mean_names, of = mundlak_columns(d)
    if not of:
        raise SpecificationError(format_error("no time-varying regressor: there is nothing for unit effects to be "
                                              "correlated with", option="re_result"))
    # the means of X columns are extra regressors; those of W X columns too (no W term of their own)
    durbin = [d.x_names[j] for j in d.wx_idx]
    names = list(d.x_names) + mean_names
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        aux = cls.from_arrays(d.y, np.column_stack([d.x, means]), d.w, t, names=names, fe="random",
                              wx=durbin if durbin else None).fit()
    ad = aux.extra["design"]
    z, znames = ad.regressors()
    y = d.y - (float(aux.params["rho"]) * spatial_lag(d.w, d.y, n, t) if "rho" in aux.params.index else 0.0)
    p = _gls_transform(aux, n, t)
    zs, ys = p(z), p(y)
    bread = np.linalg.inv(zs.T @ zs)
    coef = bread @ zs.T @ ys
    e = ys - zs @ coef
    k = zs.shape[1]
    scores = (zs * e[:, None]).reshape(t, n, k).sum(axis=0)  # unit i: Z*_i' e*_i
    c = n / (n - 1) * (n * t - 1) / (n * t - k)
    cov = c * bread @ (scores.T @ scores) @ bread
    idx = [znames.index(m) for m in mean_names]
    xi = coef[idx]
    v = cov[np.ix_(idx, idx)]
    eig = np.linalg.eigvalsh((v + v.T) / 2)
    rank = int(np.sum(eig > 1e-12 * max(eig.max(), 1e-300)))
    stat = float(xi @ np.linalg.pinv(v) @ xi) if rank < len(idx) else float(xi @ np.linalg.solve(v, xi))
    if rank < len(idx):
        warnings.warn(f"Hausman (robust): the cluster-robust covariance of the means has rank {rank} < {len(idx)}; "
                      "a generalised inverse is used and df = its rank", RuntimeWarning, stacklevel=3)
    stat = max(stat, 0.0)  # a quadratic form in a positive semi-definite matrix: only rounding can make it negative
    df = max(rank, 1)
    sp_name = "rho" if "rho" in aux.params.index else "lambda"
    details = {"auxiliary": aux, "coef": pd.Series(coef, index=znames), "cov": pd.DataFrame(cov, index=znames,
               columns=znames), "means": mean_names, sp_name: float(aux.params[sp_name]),
               "phi": float(aux.extra["phi"]), "clusters": n, "small_sample_factor": c}
    return HausmanResult(_HAUSMAN_NAME, stat, df, float(stats.chi2.sf(stat, df)), _HAUSMAN_NULL, kind="robust",
                         definition=HAUSMAN_KINDS["robust"], coefficients=tuple(of), details=details)
