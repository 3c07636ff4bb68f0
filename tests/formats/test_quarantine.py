"""Dangerous files are quarantined, never loaded, and released only by a person."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from app.cli import main
from app.errors import ConflictError
from app.registry import Registry
from tests.formats import makers

MALICIOUS = {
    "pickle": makers.malicious_pickle,
    "joblib": makers.malicious_joblib,
    "torch": makers.malicious_torch_zip,
}


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to load a pickle (pickle, joblib, torch) fails the test loudly."""
    import pickle

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the desktop process tried to unpickle a file")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    import joblib
    import torch

    monkeypatch.setattr(joblib, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)


@pytest.mark.usefixtures("no_unpickling")
@pytest.mark.parametrize("kind", sorted(MALICIOUS))
def test_malicious_file_is_quarantined_and_never_run(
    kind: str, registry: Registry, make: Callable[..., Path], tmp_path: Path
) -> None:
    marker = tmp_path / f"pwned-by-{kind}"
    path = make(MALICIOUS[kind], marker)
    info = registry.import_path(path, name=f"evil-{kind}")
    assert info.status == "quarantined"
    assert info.safety is not None
    assert info.safety["verdict"] == "dangerous"
    # torch.save writes protocol 2, where the builtins module is still called __builtin__
    assert {f["global"] for f in info.safety["findings"]} & {"builtins.exec", "__builtin__.exec"}
    assert "quarantined" in info.safety["message"]
    assert not marker.exists(), "the payload ran"


def test_the_joblib_payload_hides_behind_array_data(
    make: Callable[..., Path], tmp_path: Path
) -> None:
    """picklescan alone stops at joblib's first raw array; the walker must see past it."""
    from picklescan.scanner import scan_file_path

    path = make(makers.malicious_joblib, tmp_path / "marker")
    by_picklescan = {(g.module, g.name) for g in scan_file_path(str(path)).globals}
    assert ("builtins", "exec") not in by_picklescan  # why Modelbay walks pickles itself
    from app.formats import inspect_files

    found = inspect_files({path.name: path}, is_folder=False)
    assert ("builtins", "exec") in {(f.module, f.name) for f in found.safety.findings}


@pytest.mark.usefixtures("no_unpickling")
def test_real_models_import_without_unpickling(
    registry: Registry, real_models: dict[str, Path]
) -> None:
    for key, path in real_models.items():
        info = registry.import_path(path, name=key)
        assert info.status == "ready", key
        assert info.format == makers.REAL_MODELS[key][1]


def test_approve_releases_a_quarantined_version_and_logs_who(
    registry: Registry, make: Callable[..., Path], tmp_path: Path
) -> None:
    path = make(makers.malicious_pickle, tmp_path / "marker")
    info = registry.import_path(path, name="evil")
    approved = registry.approve(info.ref, actor="alice")
    assert approved.status == "ready"
    assert approved.safety is not None
    assert approved.safety["approved"]["by"] == "alice"
    assert approved.safety["verdict"] == "dangerous"  # the finding stays on record
    [event] = [e for e in registry.history("evil") if e.action == "version.approved"]
    assert event.actor == "alice"
    assert event.details == {"findings": ["builtins.exec"]}
    with pytest.raises(ConflictError, match="not quarantined"):
        registry.approve(info.ref)
    assert not (tmp_path / "marker").exists()


def test_cli_import_warns_and_approve_needs_confirmation(
    capsys: pytest.CaptureFixture[str], make: Callable[..., Path], tmp_path: Path
) -> None:
    path = make(makers.malicious_pickle, tmp_path / "marker")
    assert main(["import", str(path), "--name", "evil"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("registered evil:1  pickle")
    assert "warning: evil:1 is QUARANTINED: loading it would import builtins.exec" in err
    assert "modelbay approve evil:1" in err

    assert main(["show", "evil:1"]) == 0
    out, _ = capsys.readouterr()
    assert "safety     dangerous" in out
    assert "! dangerous: builtins.exec in evil.pkl" in out

    # stdin is not a terminal here: approval without --yes is refused with a reason
    assert main(["approve", "evil:1"]) == 1
    _, err = capsys.readouterr()
    assert "error: approval needs confirmation; run on a terminal, or pass --yes" in err

    assert main(["approve", "evil:1", "--yes", "--json"]) == 0
    out, _ = capsys.readouterr()
    assert json.loads(out)["status"] == "ready"
    assert main(["history", "evil", "--json"]) == 0
    out, _ = capsys.readouterr()
    assert [e["action"] for e in json.loads(out)][-1] == "version.approved"


def test_corrupt_model_is_refused_and_nothing_is_registered(
    registry: Registry, real_models: dict[str, Path], tmp_path: Path
) -> None:
    broken = makers.truncated(real_models["sklearn_pickle"], tmp_path)
    from app.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="looks like a pickle file but cannot be read"):
        registry.import_path(broken, name="broken")
    assert registry.count() == (0, 0)


def test_unknown_file_is_still_versioned(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    notes = tmp_path / "notes.bin"
    notes.write_bytes(b"\x00\x01 not a model " * 100)
    assert main(["import", str(notes), "--json"]) == 0
    out, err = capsys.readouterr()
    got = json.loads(out)
    assert (got["format"], got["framework"], got["status"]) == ("unknown", "unknown", "ready")
    assert got["safety"]["verdict"] == "unknown"
    assert "cannot be built into an image" in err
