"""Spatial panel models estimated by maximum likelihood (SLX by least squares)."""

from spillover.spatial.models import SAC, SAR, SDEM, SDM, SEM, SLX
from spillover.spatial.results import SpatialResults

__all__ = ["SAR", "SEM", "SDM", "SDEM", "SAC", "SLX", "SpatialResults"]
