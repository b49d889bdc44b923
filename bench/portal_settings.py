"""Settings for bench.bench_portal: the project's, plus one minimal view as the ceiling."""

from garnizon.settings import *  # noqa: F403

ROOT_URLCONF = "bench.portal_urls"
