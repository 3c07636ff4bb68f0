"""The ``modelbay`` command line: JSON contracts, exit codes and error lines."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from app.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_import_json_has_the_contract_fields(
    capsys: pytest.CaptureFixture[str], model_file: Path
) -> None:
    got = run_json(capsys, "import", str(model_file), "--tag", "team=churn", "--tag", "k=a=b")
    assert isinstance(got, dict)
    assert got["name"] == "churn_model"
    assert got["version"] == 1
    assert got["sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert got["size"] == model_file.stat().st_size
    assert got["files"] == [
        {"path": "churn_model.bin", "sha256": got["sha256"], "size": got["size"]}
    ]
    assert (got["format"], got["framework"], got["status"]) == ("unknown", "unknown", "ready")
    assert got["tags"] == {"team": "churn", "k": "a=b"}
    assert got["created_at"].endswith("+00:00")


def test_a_whole_session_through_the_cli(
    capsys: pytest.CaptureFixture[str], model_file: Path, model_folder: Path, tmp_path: Path
) -> None:
    run_json(capsys, "import", str(model_file), "--name", "churn model")
    run_json(capsys, "import", str(model_folder), "--name", "churn model", "--note", "retrained")
    listed = run_json(capsys, "list")
    assert [(v["name"], v["version"]) for v in listed] == [("churn model", 2)]  # type: ignore[union-attr,index]
    every = run_json(capsys, "list", "--all")
    assert [v["version"] for v in every] == [2, 1]  # type: ignore[union-attr,index]

    tagged = run_json(capsys, "tag", "churn model:1", "stage=candidate")
    assert tagged["tags"] == {"stage": "candidate"}  # type: ignore[index]
    assert [v["version"] for v in run_json(capsys, "list", "--tag", "stage=candidate")] == [1]  # type: ignore[union-attr,index]

    moved = run_json(capsys, "alias", "churn model", "production", "1")
    assert moved["aliases"] == ["production"]  # type: ignore[index]
    assert run_json(capsys, "show", "churn model@production")["version"] == 1  # type: ignore[index]
    assert [v["version"] for v in run_json(capsys, "list", "--alias", "production")] == [1]  # type: ignore[union-attr,index]

    code, _, _ = run(capsys, "export", "churn model:2", str(tmp_path / "out"))
    assert code == 0
    exported = tmp_path / "out" / "fraud_detector" / "saved_model.pb"
    assert exported.read_bytes() == (model_folder / "saved_model.pb").read_bytes()

    archived = run_json(capsys, "archive", "churn model:2")
    assert archived["status"] == "archived"  # type: ignore[index]

    events = run_json(capsys, "history", "churn model")
    assert [e["action"] for e in events] == [  # type: ignore[union-attr,index]
        "model.created",
        "version.registered",
        "version.registered",
        "tag.set",
        "alias.set",
        "version.archived",
    ]
    assert all(e["actor"] == "tester" for e in events)  # type: ignore[union-attr,index]
    report = run_json(capsys, "verify")
    assert report == {
        "ok": True,
        "checked": 5,
        "missing": [],
        "corrupt": [],
        "damaged_versions": {},
    }


def test_text_output_is_readable(capsys: pytest.CaptureFixture[str], model_file: Path) -> None:
    code, out, _ = run(capsys, "list")
    assert (code, out.strip()) == (
        0,
        "the registry is empty: add a model with `modelbay import PATH`",
    )
    code, out, _ = run(capsys, "import", str(model_file))
    assert code == 0
    assert out.startswith("registered churn_model:1  unknown  200.0 KB  sha256 ")
    code, out, _ = run(capsys, "list")
    header, row = out.splitlines()
    assert header.split() == [
        "NAME",
        "VERSION",
        "FORMAT",
        "FRAMEWORK",
        "SIZE",
        "STATUS",
        "ALIASES",
        "CREATED",
    ]
    assert row.split()[:7] == ["churn_model", "1", "unknown", "unknown", "200.0", "KB", "ready"]
    code, out, _ = run(capsys, "show", "churn_model")
    assert "churn_model.bin" in out
    assert "sha256" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["import", "/no/such/model.pkl"],
            "error: /no/such/model.pkl does not exist; check the path",
        ),
        (["show", "ghost"], "error: there is no model named 'ghost'; `modelbay list` shows"),
        (["show", "ghost:x"], "error: 'ghost:x': 'x' is not a version number"),
        (["tag", "ghost:1", "novalue"], "error: tag 'novalue' is not KEY=VALUE"),
        (["alias", "ghost", "production"], "error: which version should the alias point at?"),
        (["import", "/", "--name", "bad:name"], "error: 'bad:name' cannot be a model name"),
    ],
)
def test_failures_exit_1_with_one_error_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(message)


@pytest.mark.parametrize(
    "argv",
    [["list", "--bogus"], ["import"], ["alias", "m", "prod", "zero"], ["list", "--limit", "0"]],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "usage: modelbay" in err


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.startswith("modelbay ")
    from app import version

    assert out.strip() == f"modelbay {version()}"


def test_verify_fails_with_exit_1_and_names_the_damage(
    capsys: pytest.CaptureFixture[str], model_file: Path, tmp_path: Path
) -> None:
    got = run_json(capsys, "import", str(model_file))
    blob = tmp_path / "home" / "store" / "blobs" / got["sha256"][:2] / got["sha256"][2:]  # type: ignore[index]
    blob.unlink()
    code, out, err = run(capsys, "verify")
    assert code == 1
    assert "1 missing, 0 corrupt" in out
    assert "churn_model:1: churn_model.bin" in out
    assert err.startswith("error: the artifact store is damaged")


def test_building_an_archived_version_names_what_to_do_instead(
    capsys: pytest.CaptureFixture[str], model_file: Path
) -> None:
    run_json(capsys, "import", str(model_file), "--name", "churn")
    run_json(capsys, "archive", "churn:1")
    code, _, err = run(capsys, "build", "churn:1")
    assert code == 1
    assert err == (
        "error: churn:1 is archived; build, serve or deploy a version that is not archived "
        "(`modelbay list --all` shows each version's status)\n"
    )


def test_token_of_a_service_deployed_without_public_points_at_the_tunnel(
    capsys: pytest.CaptureFixture[str], model_file: Path
) -> None:
    from app.config import Config
    from app.registry import Registry
    from app.registry.deployments import NewDeployment

    run_json(capsys, "import", str(model_file), "--name", "churn")
    registry = Registry.open(Config.from_environment())
    try:
        target = registry.get("churn:1")
        registry.start_deployment(
            NewDeployment(
                host="prod", service="churn", target=target, image_id="sha256:0", image_tag="t"
            )
        )
    finally:
        registry.close()
    code, _, err = run(capsys, "token", "churn@prod")
    assert code == 1
    assert err == (
        "error: churn@prod is not public (deployed without --public) and needs no token; "
        "reach it with modelbay tunnel churn@prod\n"
    )


def test_host_add_refuses_a_key_file_that_is_not_there(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(
        capsys, "host", "add", "gpu", "--ssh", "root@gpu-1", "--identity", "/no/such/key"
    )
    assert code == 1
    assert err == (
        "error: /no/such/key does not exist; give the private key file (e.g. ~/.ssh/id_ed25519)\n"
    )
    public = tmp_path / "id_ed25519.pub"
    public.write_text("ssh-ed25519 AAAA test\n")
    code, out, err = run(
        capsys, "host", "add", "gpu", "--ssh", "root@gpu-1", "--identity", str(public)
    )
    assert code == 1
    assert err == (
        f"error: {public} is a public key; give the private key file next to it "
        f"({tmp_path / 'id_ed25519'})\n"
    )
    code, out, _ = run(capsys, "host", "list")
    assert "gpu" not in out  # nothing was added
    private = tmp_path / "id_ed25519"
    private.write_text("not checked here: the login says if the key is wrong\n")
    code, _, err = run(
        capsys, "host", "add", "gpu", "--ssh", "root@gpu-1", "--identity", str(private)
    )
    assert code == 0, err
