"""The test suite's own rules: under CI an integration test may not skip."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["pytester"]

SKIPPING_TESTS = """
import pytest

@pytest.mark.integration
def test_needs_a_server():
    pytest.skip("no server here")

def test_plain_unit_test_may_skip():
    pytest.skip("not on this platform")
"""


@pytest.mark.parametrize(("ci", "expected"), [("true", (1, 1)), ("", (0, 2))])
def test_skipped_integration_tests_fail_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str, expected: tuple[int, int]
) -> None:
    monkeypatch.setenv("CI", ci)
    pytester.makeconftest(
        "import tests.conftest as project\n"
        "pytest_runtest_makereport = project.pytest_runtest_makereport\n"
        "def pytest_configure(config):\n"
        "    config.addinivalue_line('markers', 'integration: needs a service')\n"
    )
    pytester.makepyfile(SKIPPING_TESTS)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:pytest-qt")
    outcomes = result.parseoutcomes()
    assert (outcomes.get("failed", 0), outcomes.get("skipped", 0)) == expected
