"""Modelbay: take a trained model from disk to a monitored production endpoint.

Layers: ``app.ui`` is the only package that may import Qt. Everything else
(``app.registry``, ``app.store``, ``app.cli`` and the services that later issues
add) is plain Python, so the command line and the tests run without a display.
"""

from __future__ import annotations


def version() -> str:
    """The installed version, read from the package metadata (pyproject is the one source)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _dist_version

    try:
        return _dist_version("modelbay")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"
