"""spillover.analysis."""
