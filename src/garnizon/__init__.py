"""Garnizon: electronic document management and citizen e-services."""
