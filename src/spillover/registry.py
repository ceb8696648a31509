"""The model registry: every estimator declares its name, options and capabilities once.

The study spec (``[[estimate]] model = ...``, ``[[grid]] model = ...``), the
runner, the specification grid, the Monte Carlo engine and ``import
spillover as sp; sp.NAME`` all read this table, so a new estimator is its
module plus one :func:`register` call.

A user's own estimator
----------------------
Any class built as ``Cls(formula, data, w, entity, time, *, fe=..., method=...,
**options)`` whose ``fit()`` returns a result with ``params``, ``bse``,
``llf`` and ``nobs`` can be registered from the user's own module::

    # my_models.py, next to the study's TOML files
    import spillover as sp

    class RobustSAR(sp.SAR):
        ...

    sp.registry.register(sp.registry.Estimator(
        name="robust_sar", target=RobustSAR, fe=("entity", "twoways"), methods=("direct", "lee-yu"),
        impacts=True, options=("logdet",)))

and used from the study with ``[study] plugins = ["my_models.py"]`` and
``[[estimate]] model = "robust_sar"`` (``options = { logdet = "lu" }`` passes
keyword options through).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from spillover.errors import SpecificationError, format_error

ALL_FE = ("none", "entity", "time", "twoways", "random")
STATIC_FE = ("none", "entity", "time", "twoways")
METHODS = ("direct", "lee-yu")


@dataclass(frozen=True)
class FitRequest:
    """What the study hands an estimator: data and W already subset, plus the estimate's options."""

    formula: str
    data: Any
    w: Any
    entity: str
    time: str
    fe: str
    method: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Estimator:
    """One registered estimator.

    Attributes
    ----------
    name : str
        The name used in study files (``model = "sdm"``), lower case.
    target : "module:attribute" or a class
        The estimator class (``Cls(formula, data, w, entity, time, fe=, method=, **options).fit()``).
    fe, methods : tuples
        The fixed-effects and method values it accepts (``methods=()``: no method option).
    spatial : bool
        Needs ``weights``.
    params : tuple
        Its spatial parameters among ``("rho", "lambda")`` (the grid and the Monte Carlo read them).
    impacts : bool
        ``res.impacts(...)`` is defined.
    dynamic, unbalanced, grid, simulate : bool
        A dynamic model; has an unbalanced-panel path (``drop_interpolated``); may be a ``[[grid]]``
        model; :func:`spillover.simulate.simulate` has its data-generating process (Monte Carlo).
    options : tuple of str
        Extra keys of ``[[estimate]] options = {...}`` passed to the constructor.
    public : str
        Attribute of the ``spillover`` package that exposes ``target`` (``sp.GNS``); "" for none.
    fit : callable, optional
        ``fit(FitRequest) -> result`` where the default (construct ``target`` and call ``fit()``) does not apply.
    label : str
        Human-readable name for tables.
    """

    name: str
    target: str | type
    fe: tuple[str, ...] = STATIC_FE
    methods: tuple[str, ...] = METHODS
    spatial: bool = True
    params: tuple[str, ...] = ()
    impacts: bool = False
    dynamic: bool = False
    unbalanced: bool = False
    grid: bool = False
    simulate: bool = False
    options: tuple[str, ...] = ()
    public: str = ""
    fit: Callable[[FitRequest], Any] | None = None
    label: str = ""

    def cls(self) -> type:
        """The estimator class (imported on first use)."""
        if not isinstance(self.target, str):
            return self.target
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def run(self, req: FitRequest) -> Any:
        """Fit ``req`` and return the result."""
        if self.fit is not None:
            return self.fit(req)
        kw: dict[str, Any] = {"fe": req.fe, **dict(req.options)}
        if self.methods:
            # the transformation choice only exists with fixed effects
            kw["method"] = req.method if req.fe not in ("none", "random") else "direct"
        return self.cls()(req.formula, req.data, req.w, req.entity, req.time, **kw).fit()

    def check(self, *, fe: str, method: str, options: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` (pydantic turns it into a spec error) for options this estimator does not take."""
        if fe not in self.fe:
            raise ValueError(f"model {self.name!r} takes fe = {list(self.fe)}, not {fe!r}")
        if self.methods and fe not in ("none", "random") and method not in self.methods:
            raise ValueError(f"model {self.name!r} takes method = {list(self.methods)}, not {method!r}")
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ValueError(f"model {self.name!r} takes options {list(self.options)}, not {unknown}")


_REGISTRY: dict[str, Estimator] = {}
_BUILTIN: set[str] = set()
_REPLACING = [False]


@contextlib.contextmanager
def replacing():
    """Within this block a user's name may be registered again (a study's plugin imported a second time)."""
    _REPLACING[0] = True
    try:
        yield
    finally:
        _REPLACING[0] = False


def register(est: Estimator, *, replace: bool = False) -> Estimator:
    """Add ``est`` to the registry; a name already taken needs ``replace=True`` (built-in names never)."""
    name = est.name.lower()
    if name != est.name or not name.replace("_", "").isalnum():
        raise SpecificationError(format_error(f"estimator name {est.name!r} must be lower-case letters, digits and _",
                                              option="name"))
    if name in _BUILTIN:
        raise SpecificationError(format_error(f"{name!r} is a built-in estimator", option="name",
                                              hint="register yours under another name"))
    if name in _REGISTRY and not (replace or _REPLACING[0]):
        raise SpecificationError(format_error(f"an estimator {name!r} is already registered", option="name",
                                              hint="choose another name or pass replace=True"))
    _REGISTRY[name] = est
    return est


def get(name: str) -> Estimator:
    """The estimator registered as ``name``; ``SpecificationError`` listing the names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SpecificationError(format_error(f"no estimator {name!r} is registered", option="model",
                                              hint=f"registered: {names()}")) from None


def names(**capabilities: bool) -> list[str]:
    """Registered names, optionally only those with the given capabilities (``names(grid=True)``)."""
    return [n for n, e in _REGISTRY.items() if all(getattr(e, k) == v for k, v in capabilities.items())]


def public() -> dict[str, Estimator]:
    """``sp.NAME`` -> estimator, for the package's lazy attributes."""
    return {e.public: e for e in _REGISTRY.values() if e.public}


# ----------------------------------------------------------------------------- built-in estimators
def _fit_ols(req: FitRequest):
    from spillover.panel import fit_panel

    return fit_panel(req.formula, req.data, req.entity, req.time, fe="none")


def _fit_fe(req: FitRequest):
    from spillover.panel import fit_panel

    return fit_panel(req.formula, req.data, req.entity, req.time, fe=req.fe)


def _fit_iv(req: FitRequest):
    from spillover.panel import fit_iv_formula

    o = req.options
    return fit_iv_formula(req.formula, req.data, req.entity, req.time, fe=req.fe,
                          estimator=o.get("estimator", "2sls"), cov=o.get("cov") or "clustered")


def _dynamic(wx: bool) -> Callable[[FitRequest], Any]:
    def fit(req: FitRequest):
        from spillover.spatial.dynamic import DynamicSDM

        o = req.options
        return DynamicSDM(req.formula, req.data, req.w, req.entity, req.time, fe=req.fe,
                          time_lags=tuple(o.get("time_lags", ("y", "wy"))), wx=wx, method=req.method,
                          correction=o.get("correction", "bias"), cov=o.get("cov") or "numerical",
                          w_x=o.get("w_x")).fit()

    return fit


def _gm(model: str, durbin_default: bool = False) -> Callable[[FitRequest], Any]:
    def fit(req: FitRequest):
        from spillover.spatial.gm import GM

        options = dict(req.options)
        if durbin_default:
            options.setdefault("durbin", True)
        return GM(req.formula, req.data, req.w, req.entity, req.time, model=model, fe=req.fe, **options).fit()

    return fit


_M = "spillover.spatial.models:"
_GM = "spillover.spatial.gm:GM"
_GM_FE = ("entity", "time", "twoways", "random")
for _e in (
    Estimator("ols", "spillover.panel:fit_panel", fe=STATIC_FE, methods=(), spatial=False, fit=_fit_ols,
              label="Pooled OLS"),
    Estimator("fe", "spillover.panel:fit_panel", fe=ALL_FE, methods=(), spatial=False, fit=_fit_fe,
              label="Panel FE"),
    Estimator("iv", "spillover.panel:fit_iv_formula", fe=STATIC_FE, methods=(), spatial=False, fit=_fit_iv,
              options=("estimator", "cov"), label="IV"),
    Estimator("sar", _M + "SAR", fe=ALL_FE, params=("rho",), impacts=True, unbalanced=True, grid=True,
              simulate=True, options=("logdet", "cov"), public="SAR", label="SAR"),
    Estimator("sem", _M + "SEM", fe=ALL_FE, params=("lambda",), unbalanced=True, grid=True, simulate=True,
              options=("logdet", "cov", "w_u"), public="SEM", label="SEM"),
    Estimator("sdm", _M + "SDM", fe=ALL_FE, params=("rho",), impacts=True, unbalanced=True, grid=True,
              simulate=True, options=("logdet", "cov", "wx", "w_x"), public="SDM", label="SDM"),
    Estimator("sdem", _M + "SDEM", fe=ALL_FE, params=("lambda",), impacts=True, grid=True, simulate=True,
              options=("logdet", "cov", "wx", "w_x", "w_u"), public="SDEM", label="SDEM"),
    Estimator("sac", _M + "SAC", params=("rho", "lambda"), impacts=True, grid=True, options=("logdet", "w_u"),
              public="SAC", label="SAC"),
    Estimator("slx", _M + "SLX", impacts=True, options=("wx", "w_x"), public="SLX", label="SLX"),
    Estimator("dynamic_sdm", "spillover.spatial.dynamic:DynamicSDM", fe=("entity", "twoways"), params=("rho",),
              impacts=True, dynamic=True, fit=_dynamic(True), options=("correction", "time_lags", "cov", "w_x"),
              public="DynamicSDM", label="Dynamic SDM"),
    Estimator("dynamic_sar", "spillover.spatial.dynamic:DynamicSDM", fe=("entity", "twoways"), params=("rho",),
              impacts=True, dynamic=True, fit=_dynamic(False), options=("correction", "time_lags", "cov"),
              label="Dynamic SAR"),
    Estimator("gns", _M + "GNS", params=("rho", "lambda"), impacts=True, grid=True,
              options=("logdet", "wx", "w_x", "w_u"),
              public="GNS", label="GNS"),
    # generalized moments / spatial 2SLS: one class (sp.GM), one entry per model so that params and impacts hold
    Estimator("gm_sem", _GM, fe=_GM_FE, methods=(), params=("lambda",), fit=_gm("sem"),
              options=("moments", "endog", "instruments", "cov", "w_u"), label="SEM (GM)"),
    Estimator("gm_sar", _GM, fe=_GM_FE, methods=(), params=("rho",), impacts=True, fit=_gm("sar"),
              options=("endog", "instruments", "durbin", "cov", "w_x"), label="SAR / SDM (2SLS)"),
    Estimator("gm_sarar", _GM, fe=_GM_FE, methods=(), params=("rho", "lambda"), impacts=True,
              fit=_gm("sarar"), options=("moments", "endog", "instruments", "durbin", "cov", "w_x", "w_u"),
              label="SARAR / GNS (GS2SLS)"),
    Estimator("gm_sdem", _GM, fe=_GM_FE, methods=(), params=("lambda",), impacts=True, fit=_gm("sem", True),
              options=("moments", "endog", "instruments", "durbin", "cov", "w_x", "w_u"), label="SDEM (GM)"),
):
    register(_e)
    _BUILTIN.add(_e.name)
