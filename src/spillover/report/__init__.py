"""spillover.report."""
