"""``python -m app``: the same entry point as the ``modelbay`` command."""

from app.cli import run

run()
