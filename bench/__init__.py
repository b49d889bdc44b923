"""Benchmarks and the synthetic garrison generator (see bench/README.md).

Importing the package sets Django up, so `python -m bench.generate` and
`python -m bench.bench_registry` run from the project root with the usual
GARNIZON_* environment variables.
"""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "garnizon.settings")
django.setup()
