"""The model detail: what it shows, and the changes it makes (confirmed first)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from app.config import Config
from app.registry import Registry
from app.ui.jobs import JobQueue
from app.ui.version_detail import VersionDetail
from tests.formats import makers


@pytest.fixture
def detail(
    qtbot: QtBot, config: Config, tmp_path: Path
) -> Iterator[tuple[VersionDetail, Registry]]:
    registry = Registry.open(config)
    first = makers.sklearn_pickle(tmp_path / "v1")
    second = makers.sklearn_joblib(tmp_path / "v2")
    registry.import_path(first, name="iris", tags={"team": "growth"})
    registry.import_path(second, name="iris", note="retrained")
    registry.set_alias("iris", "production", 1)
    queue = JobQueue()
    widget = VersionDetail(queue)
    qtbot.addWidget(widget)
    widget.show()
    widget.set_registry(registry)
    widget.show_model("iris")
    qtbot.waitUntil(lambda: widget.current is not None, timeout=10_000)
    yield widget, registry
    assert queue.shutdown()
    registry.close()
    queue.deleteLater()


def visible_boxes(widget: Any) -> list[Any]:
    from PySide6.QtWidgets import QMessageBox

    return [b for b in widget.findChildren(QMessageBox) if b.isVisible()]


def cells(table: Any) -> list[list[str]]:
    return [
        [table.item(r, c).text() for c in range(table.columnCount())]
        for r in range(table.rowCount())
    ]


def test_shows_the_latest_version_with_its_metadata(detail: tuple[VersionDetail, Registry]) -> None:
    import sklearn

    widget, _ = detail
    assert widget.title.text() == "iris"
    assert widget.version_box.currentText() == "2 (latest)"
    assert widget.version_box.itemText(1) == "1 · production"
    assert widget.fields["format"].text() == "joblib"
    assert widget.fields["framework"].text() == f"sklearn {sklearn.__version__}"
    assert widget.fields["note"].text() == "retrained"
    assert [row[0] for row in cells(widget.signature_table)] == [
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
    ]
    assert cells(widget.files_table)[0][0] == "rf.joblib"
    assert widget.verdict_label.text().startswith("Safe")
    assert not widget.banner.isVisible()
    actions = [row[2] for row in cells(widget.history_table)]
    assert actions[0] == "alias.set"  # newest first
    assert "version.registered" in actions


def test_switching_versions_and_comparing(
    qtbot: QtBot, detail: tuple[VersionDetail, Registry]
) -> None:
    widget, _ = detail
    widget.version_box.setCurrentIndex(1)
    assert widget.current is not None
    assert widget.current.version == 1
    assert widget.aliases_label.text() == "production"
    assert cells(widget.tags_table) == [["team", "growth"]]
    widget.compare_a.setCurrentIndex(1)
    widget.compare_b.setCurrentIndex(0)
    rows = {row[0]: row[1:] for row in cells(widget.compare_table)}
    assert rows["Format"] == ["pickle", "joblib"]
    assert rows["Aliases"] == ["production", "-"]
    assert rows["Framework"][0] == rows["Framework"][1]
    differing = [
        widget.compare_table.item(r, 0).text()
        for r in range(widget.compare_table.rowCount())
        if widget.compare_table.item(r, 0).font().bold()
    ]
    assert "Format" in differing
    assert "Framework" not in differing


def test_moving_an_alias_asks_first(qtbot: QtBot, detail: tuple[VersionDetail, Registry]) -> None:
    from PySide6.QtWidgets import QMessageBox

    widget, registry = detail
    widget._confirm_alias("production")  # what the alias dialog hands over
    [box] = visible_boxes(widget)
    assert box.text() == "Point iris@production from version 1 to version 2?"
    with qtbot.waitSignal(widget.sig_changed, timeout=10_000):
        box.button(QMessageBox.StandardButton.Yes).click()
    assert registry.get("iris@production").version == 2


def test_tags_are_added_and_removed(qtbot: QtBot, detail: tuple[VersionDetail, Registry]) -> None:
    widget, registry = detail
    with qtbot.waitSignal(widget.sig_changed, timeout=10_000):
        widget._add_tag("stage=candidate")
    qtbot.waitUntil(lambda: ["stage", "candidate"] in cells(widget.tags_table), timeout=10_000)
    widget.tags_table.selectRow(0)
    with qtbot.waitSignal(widget.sig_changed, timeout=10_000):
        widget.remove_selected_tag()
    assert registry.get("iris:2").tags == {}
    with qtbot.waitSignal(widget.sig_error, timeout=5_000) as error:
        widget._add_tag("no equals sign")
    assert "is not KEY=VALUE" in error.args[0]


def test_quarantine_is_marked_and_approval_warns_first(
    qtbot: QtBot, detail: tuple[VersionDetail, Registry], tmp_path: Path
) -> None:
    widget, registry = detail
    evil = makers.malicious_pickle(tmp_path / "evil", tmp_path / "pwned")
    registry.import_path(evil, name="iris")
    widget.show_model("iris")
    qtbot.waitUntil(
        lambda: widget.current is not None and widget.current.version == 3, timeout=10_000
    )
    assert widget.banner.isVisible()
    assert "would run builtins.exec" in widget.banner_text.text()
    assert widget.status.text() == "quarantined"
    assert cells(widget.findings_table)[0][:2] == ["dangerous", "builtins.exec"]

    widget.approve_current()
    [box] = visible_boxes(widget)
    assert "builtins.exec (in evil.pkl)" in box.text()
    assert "only if you trust where it comes from" in box.text()
    approve = next(b for b in box.buttons() if b.text() == "Approve and release")
    with qtbot.waitSignal(widget.sig_changed, timeout=10_000):
        approve.click()
    assert registry.get("iris:3").status == "ready"
    assert not (tmp_path / "pwned").exists()


def test_archiving_asks_and_refuses_with_a_reason(
    qtbot: QtBot, detail: tuple[VersionDetail, Registry]
) -> None:
    from PySide6.QtWidgets import QMessageBox

    widget, registry = detail
    widget.version_box.setCurrentIndex(1)  # version 1 holds production
    widget.archive_current()
    [box] = visible_boxes(widget)
    with qtbot.waitSignal(widget.sig_error, timeout=10_000) as error:
        box.button(QMessageBox.StandardButton.Yes).click()
    assert "production" in error.args[0]
    assert registry.get("iris:1").status == "ready"


def test_copy_hash(detail: tuple[VersionDetail, Registry]) -> None:
    from PySide6.QtGui import QGuiApplication

    widget, _ = detail
    widget.copy_hash()
    assert widget.current is not None
    assert QGuiApplication.clipboard().text() == widget.current.sha256
