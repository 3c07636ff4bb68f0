"""The one hard rule: Qt only in app/ui. Checked on every module, including ones added later.

import-linter (``make lint``) follows imports through the graph for the
packages it names; this test needs no list and so also covers new packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
QT_PACKAGES = {"PySide6", "shiboken6", "pyqtgraph", "superqt"}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_module_outside_app_ui_imports_qt() -> None:
    offenders = {
        str(path.relative_to(APP.parent)): sorted(imported_roots(path) & QT_PACKAGES)
        for path in APP.rglob("*.py")
        if "ui" not in path.relative_to(APP).parts[:1]
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert len(offenders) > 10  # the walk really saw the package


def test_the_check_catches_a_qt_import(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("def f():\n    from PySide6.QtCore import QObject\n")
    assert imported_roots(sneaky) & QT_PACKAGES == {"PySide6"}
