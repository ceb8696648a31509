"""spillover.spatial."""
