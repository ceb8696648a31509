"""Spatial panel models estimated by maximum likelihood (SLX by least squares).

Balanced panels: :class:`SAR`, :class:`SEM`, :class:`SDM`, :class:`SDEM`, :class:`SAC`, :class:`GNS`,
:class:`SLX`; unbalanced fixed-effects panels: :func:`fit_unbalanced`; dynamic SDM/SAR: :class:`DynamicSDM`.
Every estimator is also listed in :mod:`spillover.registry`.
"""

from spillover.spatial.dynamic import DynamicSDM
from spillover.spatial.models import *  # noqa: F403 -- the model classes, listed in models.__all__
from spillover.spatial.models import __all__ as _models
from spillover.spatial.results import SpatialResults
from spillover.spatial.unbalanced import fit_unbalanced

__all__ = [*_models, "DynamicSDM", "fit_unbalanced", "SpatialResults"]
