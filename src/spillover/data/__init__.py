"""spillover.data."""
