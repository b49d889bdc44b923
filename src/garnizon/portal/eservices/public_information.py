"""Placeholder: this e-service is being built (see issue 5)."""

FLOW = None
