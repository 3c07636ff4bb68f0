"""The registry table model: Qt's model checks, lazy paging, search and sorting."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

from app.config import Config
from app.registry import Registry
from app.ui.jobs import JobQueue
from app.ui.models_table import COLUMNS, PAGE_SIZE, ModelsTableModel


@pytest.fixture
def table(
    qtbot: QtBot, fill_registry: Callable[[int, int], Config]
) -> Iterator[tuple[ModelsTableModel, JobQueue]]:
    config = fill_registry(450, 1)
    registry = Registry.open(config)
    queue = JobQueue()
    model = ModelsTableModel(queue)
    with qtbot.waitSignal(model.sig_loaded, timeout=10_000):
        model.set_registry(registry)
    yield model, queue
    assert queue.shutdown()
    registry.close()
    model.deleteLater()
    queue.deleteLater()
    qtbot.wait(10)  # let Qt delete them while the application still exists


def test_first_page_then_more_on_demand(
    qtbot: QtBot, table: tuple[ModelsTableModel, JobQueue]
) -> None:
    model, _ = table
    assert model.total == 450
    assert model.rowCount() == PAGE_SIZE
    assert model.canFetchMore()
    model.fetchMore()
    assert not model.canFetchMore()  # one page at a time
    qtbot.waitUntil(lambda: model.rowCount() == 2 * PAGE_SIZE, timeout=10_000)
    model.fetchMore()
    qtbot.waitUntil(lambda: model.rowCount() == 450, timeout=10_000)
    assert not model.canFetchMore()
    names = [model.summary(r).name for r in range(450)]
    assert len(set(names)) == 450


def test_qt_model_checks(qtmodeltester: object, table: tuple[ModelsTableModel, JobQueue]) -> None:
    model, _ = table
    qtmodeltester.check(model)  # type: ignore[attr-defined]


def test_search_filters_in_the_database(
    qtbot: QtBot, table: tuple[ModelsTableModel, JobQueue]
) -> None:
    model, _ = table
    with qtbot.waitSignal(model.sig_loaded, timeout=10_000) as loaded:
        model.set_query("model-04")
    assert loaded.args == [50]
    assert {model.summary(r).name[:8] for r in range(model.rowCount())} == {"model-04"}
    with qtbot.waitSignal(model.sig_loaded, timeout=10_000) as loaded:
        model.set_query("t3")  # a tag value
    assert loaded.args == [90]


@pytest.mark.parametrize("column", range(len(COLUMNS)))
def test_every_column_sorts_both_ways(
    qtbot: QtBot, table: tuple[ModelsTableModel, JobQueue], column: int
) -> None:
    from PySide6.QtCore import Qt

    model, _ = table
    for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
        with qtbot.waitSignal(model.sig_loaded, timeout=10_000):
            model.sort(column, order)
        assert model.rowCount() == PAGE_SIZE
    if COLUMNS[column][1] == "name":
        first = model.summary(0).name
        assert first == "model-0449"


def test_display_and_roles(table: tuple[ModelsTableModel, JobQueue]) -> None:
    from PySide6.QtCore import Qt

    model, _ = table
    header = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(len(COLUMNS))]
    assert header == [
        "Name",
        "Latest",
        "Format",
        "Framework",
        "Size",
        "Aliases",
        "Status",
        "Updated",
    ]
    row = [model.data(model.index(0, c)) for c in range(len(COLUMNS))]
    assert row[1:5] == ["1", "joblib", "sklearn", "7 B"]
    assert row[6] == "ready"
