"""spillover.diagnostics."""
