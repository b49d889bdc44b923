"""Django's SQLite backend with one change: writers queue on a lock file instead of
SQLite's busy handler (see base.py)."""
