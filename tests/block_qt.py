"""pytest plugin: make Qt and the plotting/widget libraries unimportable for this run.

``make test-noqt`` loads it (``-p tests.block_qt``) to run every non-UI test as
if Qt were not installed. Any service that imports Qt, even indirectly, fails.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from types import ModuleType

BLOCKED = ("PySide6", "shiboken6", "pyqtgraph", "superqt", "pytestqt")


class _BlockQt(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> None:
        if fullname.split(".", maxsplit=1)[0] in BLOCKED:
            raise ImportError(
                f"{fullname} is blocked: this test run proves the code works without Qt"
            )


for name in list(sys.modules):
    if name.split(".")[0] in BLOCKED:
        raise RuntimeError(f"{name} was imported before tests.block_qt could block it")
sys.meta_path.insert(0, _BlockQt())
