"""The one compiled module; everything else is in pyproject.toml.

`garnizon.search._streams` joins a document's analysed streams in one pass
(search/analysis.py, which falls back to the same in Python where it was not
built: `optional`, so an installation without a C compiler still works).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "garnizon.search._streams",
            sources=["src/garnizon/search/_streams.c"],
            optional=True,
        )
    ]
)
