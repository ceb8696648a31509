"""spillover.study."""
