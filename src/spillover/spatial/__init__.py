"""Spatial panel models estimated by maximum likelihood (SLX by least squares).

Balanced panels: :class:`SAR`, :class:`SEM`, :class:`SDM`, :class:`SDEM`, :class:`SAC`, :class:`SLX`;
unbalanced fixed-effects panels: :func:`fit_unbalanced`; dynamic SDM/SAR: :class:`DynamicSDM`.
"""

from spillover.spatial.dynamic import DynamicSDM
from spillover.spatial.models import SAC, SAR, SDEM, SDM, SEM, SLX
from spillover.spatial.results import SpatialResults
from spillover.spatial.unbalanced import fit_unbalanced

__all__ = ["SAR", "SEM", "SDM", "SDEM", "SAC", "SLX", "DynamicSDM", "fit_unbalanced", "SpatialResults"]
