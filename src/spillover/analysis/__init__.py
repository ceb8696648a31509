"""spillover.analysis: threshold, mediation, regional-heterogeneity and regional-gap analyses.

* :func:`panel_threshold` - Hansen (1999) fixed-effects panel threshold regression.
* :func:`mediation`, :func:`spatial_mediation` - stepwise (Baron & Kenny 1986) and SDM mediation.
* :func:`regime_sdm`, :func:`subsample_sdm` - regional regime SDM with a Wald test, sub-sample SDMs.
* :func:`coupling` - coupling coordination degree of two systems (C, T, D and the ten classes).
* :func:`kernel_density` - per-period Gaussian kernel densities on a common grid.
* :func:`markov` - classic, spatial (Rey 2001) and LISA Markov chains of k classes, via giddy.
* :func:`convergence` - sigma, absolute/conditional beta and spatial beta convergence with speed and half-life;
  :func:`trend` - the OLS trend test of any per-period series (sigma, Dagum or Theil components).
* :func:`dagum`, :func:`theil`, :func:`variation` - regional gaps per period: Dagum (1997) Gini
  decomposition, Theil within/between decomposition, coefficient of variation.
"""

from spillover.analysis.convergence import (
    ConvergenceResult,
    Trend,
    convergence,
    growth_frame,
    speed_and_half_life,
    trend,
)
from spillover.analysis.coupling import COORDINATION_CLASSES, coordination_class, coupling
from spillover.analysis.distribution import kernel_density
from spillover.analysis.heterogeneity import regime_sdm, subsample_sdm, subset_weights, wald_linear
from spillover.analysis.inequality import DagumResult, TheilResult, dagum, gini, theil, variation
from spillover.analysis.markov import LisaMarkovResult, MarkovResult, SpatialMarkovResult, TransitionMatrix, markov
from spillover.analysis.mediation import mediation, sobel, spatial_mediation
from spillover.analysis.threshold import lr_critical_value, panel_threshold

__all__ = [
    "panel_threshold", "lr_critical_value", "mediation", "spatial_mediation", "sobel",
    "regime_sdm", "subsample_sdm", "subset_weights", "wald_linear",
    "coupling", "coordination_class", "COORDINATION_CLASSES", "kernel_density",
    "convergence", "ConvergenceResult", "growth_frame", "speed_and_half_life", "trend", "Trend",
    "dagum", "theil", "variation", "gini", "DagumResult", "TheilResult",
    "markov", "MarkovResult", "TransitionMatrix", "SpatialMarkovResult", "LisaMarkovResult",
]
