"""Command groups of the ``spillover`` CLI, one module each."""
