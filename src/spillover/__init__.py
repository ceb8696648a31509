"""spillover: spatial panel econometrics for regional spillover studies.

The public API (see ``DESIGN.md`` in the project docs)::

    import spillover as sp
    panel = sp.data.default_panel()
    w = sp.weights.contiguity(sp.data.default_geometry(), id_col="adcode")
    res = sp.SDM("cpi ~ dei + urban", data=panel, w=w, entity="province",
                 time="year", fe="twoways", method="lee-yu").fit()
    res.impacts(draws=1000, seed=0).table

Sub-modules are imported lazily so that ``import spillover`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "data": ("spillover.data", None),
    "indices": ("spillover.indices", None),
    "weights": ("spillover.weights", None),
    "spatial": ("spillover.spatial", None),
    "registry": ("spillover.registry", None),
    "diagnostics": ("spillover.diagnostics", None),
    "fit_unbalanced": ("spillover.spatial.unbalanced", "fit_unbalanced"),
    "analysis": ("spillover.analysis", None),
    "moran_by_year": ("spillover.diagnostics.moran", "moran_by_year"),
    "lisa_by_year": ("spillover.diagnostics.moran", "lisa_by_year"),
    "lm_tests": ("spillover.diagnostics.lm", "lm_tests"),
    "moran_pooled": ("spillover.diagnostics.moran", "moran_pooled"),
    "lr_test": ("spillover.diagnostics.tests", "lr_test"),
    "fe_lr_tests": ("spillover.diagnostics.tests", "fe_lr_tests"),
    "wald_sdm_sar": ("spillover.diagnostics.tests", "wald_sdm_sar"),
    "wald_sdm_sem": ("spillover.diagnostics.tests", "wald_sdm_sem"),
    "hausman": ("spillover.diagnostics.tests", "hausman"),
    "specification_search": ("spillover.diagnostics.search", "specification_search"),
    "cd_test": ("spillover.diagnostics.cd", "cd_test"),
    "model_probabilities": ("spillover.diagnostics.bayes", "model_probabilities"),
    "panel_lm_tests": ("spillover.diagnostics.bsk", "panel_lm_tests"),
    "GM": ("spillover.spatial.gm", "GM"),
}

def _estimators() -> dict:
    """Estimator classes by public name, from the model registry (``sp.SAR``, ``sp.GNS``, ...)."""
    from spillover import registry

    return registry.public()


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module_name, attr = _LAZY[name]
        module = importlib.import_module(module_name)
        value = module if attr is None else getattr(module, attr)
    elif not name.startswith("_") and name in _estimators():
        value = _estimators()[name].cls()
    else:
        raise AttributeError(f"module 'spillover' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*_LAZY, *_estimators(), "__version__"])


__all__ = __dir__()
