"""Hosts against a real sshd in its own network namespace, with its own Docker daemon.

Host keys (unknown, trusted, changed), logins (right key, wrong key, wrong user,
a passphrase kept in a real Secret Service keyring), and every way of not
reaching a host, each with the words a user can act on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import Config
from app.errors import InvalidInputError
from app.registry import Registry
from app.remote.hosts import FingerprintMismatch, check_host, parse_ssh_target, trust_host
from app.remote.secrets import SecretStore, passphrase_entry
from app.remote.ssh import (
    AuthFailed,
    ConnectionLost,
    HostKeyChanged,
    HostUnreachable,
    UnknownHostKey,
    connect,
)
from tests.remote.conftest import add_test_host
from tests.remote_host import RemoteHost


def test_ssh_targets_parse_like_ssh() -> None:
    assert parse_ssh_target("deploy@gpu-1.example.com:2222") == (
        "deploy",
        "gpu-1.example.com",
        2222,
    )
    assert parse_ssh_target("10.0.0.5") == (None, "10.0.0.5", None)
    assert parse_ssh_target("root@[2001:db8::1]:22") == ("root", "2001:db8::1", 22)
    for bad in ("", "user@", "host:port", "a b", "host:70000"):
        with pytest.raises(InvalidInputError):
            parse_ssh_target(bad)


@pytest.mark.integration
def test_unknown_key_is_shown_then_trusted_only_when_the_fingerprint_matches(
    remote_host: RemoteHost, host_registry: Registry
) -> None:
    add_test_host(host_registry, remote_host, trusted=False)
    host = host_registry.get_host("test-host")
    with pytest.raises(UnknownHostKey) as unknown:
        connect(host)
    assert unknown.value.fingerprint == remote_host.host_key_fingerprint
    assert remote_host.host_key_fingerprint in unknown.value.message

    result = check_host(host_registry, "test-host")
    assert (result["ok"], result["host_key"]) == (False, "unknown")
    assert result["shown_fingerprint"] == remote_host.host_key_fingerprint

    wrong = "SHA256:" + "A" * 43
    with pytest.raises(FingerprintMismatch) as mismatch:  # not the host's fingerprint: refused
        trust_host(host_registry, "test-host", fingerprint=wrong)
    assert mismatch.value.message == (
        f"the host test-host shows {remote_host.host_key_fingerprint}, not the fingerprint "
        f"you gave ({wrong})"
    )
    assert mismatch.value.hint == (
        "check you copied the fingerprint of this host's key (ssh-keygen -lf "
        "/etc/ssh/ssh_host_*_key.pub on the host); if you did, do not trust it: someone may be "
        "between you and the host"
    )
    with pytest.raises(UnknownHostKey):  # nobody confirmed: nothing trusted
        trust_host(host_registry, "test-host", confirm=lambda _t, _f: False)
    assert host_registry.get_host("test-host").host_key is None

    trusted = trust_host(host_registry, "test-host", fingerprint=remote_host.host_key_fingerprint)
    assert trusted.host_key_fingerprint == remote_host.host_key_fingerprint
    result = check_host(host_registry, "test-host")
    assert result["ok"], result
    assert result["docker_version"]
    assert result["free_bytes"] > 0
    assert host_registry.get_host("test-host").last_check == result


@pytest.mark.integration
def test_a_changed_host_key_is_refused_as_a_possible_attack(
    remote_host: RemoteHost, host_registry: Registry
) -> None:
    add_test_host(host_registry, remote_host)
    old = remote_host.host_key_fingerprint
    new = remote_host.change_host_key()
    assert new != old
    with pytest.raises(HostKeyChanged) as changed:
        connect(host_registry.get_host("test-host"))
    assert (changed.value.expected, changed.value.actual) == (old, new)
    assert "may be an attack" in changed.value.message
    assert changed.value.hint is not None
    assert f"--fingerprint {new}" in changed.value.hint
    result = check_host(host_registry, "test-host")
    assert result["host_key"] == "changed"
    assert not result["authenticated"]
    with pytest.raises(HostKeyChanged) as still_changed:  # a wrong fingerprint: the change
        trust_host(host_registry, "test-host", fingerprint="SHA256:" + "B" * 43)
    assert (still_changed.value.expected, still_changed.value.actual) == (old, new)
    trust_host(host_registry, "test-host", fingerprint=new)  # the person checked it
    assert check_host(host_registry, "test-host")["ok"]


@pytest.mark.integration
def test_wrong_key_and_wrong_user_are_refused_in_words(
    remote_host: RemoteHost, host_registry: Registry
) -> None:
    add_test_host(host_registry, remote_host, "wrong-key", identity=remote_host.wrong_identity_file)
    with pytest.raises(AuthFailed) as wrong_key:
        connect(host_registry.get_host("wrong-key"))
    assert f"refused the login of root (tried: {remote_host.wrong_identity_file})" in (
        wrong_key.value.message
    )
    add_test_host(host_registry, remote_host, "wrong-user", user="nobody-here")
    result = check_host(host_registry, "wrong-user")
    assert (result["reachable"], result["authenticated"]) == (True, False)
    assert "refused the login of nobody-here" in result["error"]
    assert "authorized_keys" in result["hint"]


@pytest.mark.integration
def test_unreachable_address_and_closed_port_say_so(
    remote_host: RemoteHost, host_registry: Registry
) -> None:
    add_test_host(host_registry, remote_host, "gone", address=remote_host.unreachable_address)
    with pytest.raises(HostUnreachable) as gone:
        connect(host_registry.get_host("gone"), timeout=3)
    assert remote_host.unreachable_address in gone.value.message
    add_test_host(host_registry, remote_host, "closed", port=remote_host.closed_port)
    with pytest.raises(HostUnreachable) as closed:
        connect(host_registry.get_host("closed"))
    assert "refused the connection: no SSH server listens on port" in closed.value.message
    add_test_host(host_registry, remote_host, "nowhere", address="no-such-host.invalid")
    result = check_host(host_registry, "nowhere")
    assert result["error"].startswith("cannot find the address of 'no-such-host.invalid'")


@pytest.mark.integration
def test_user_without_docker_permission_is_told_how_to_get_it(
    remote_host: RemoteHost, host_registry: Registry
) -> None:
    user = remote_host.add_user("mbshipper")
    add_test_host(host_registry, remote_host, "no-docker", user=user)
    result = check_host(host_registry, "no-docker")
    assert (result["authenticated"], result["ok"]) == (True, False)
    assert (
        result["error"]
        == f"{user} on no-docker may not use Docker (permission denied on its socket)"
    )
    assert f"usermod -aG docker {user}" in result["hint"]


@pytest.mark.integration
def test_key_passphrase_is_asked_once_kept_in_the_keyring_and_nowhere_else(
    remote_host: RemoteHost,
    host_registry: Registry,
    config: Config,
    tmp_path: Path,
    secret_service: object,
) -> None:
    passphrase = "correct horse battery staple 42"
    key = tmp_path / "locked_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(key)], check=True
    )
    keys = remote_host.state_dir / "authorized_keys" / "root"
    keys.write_text(keys.read_text() + key.with_suffix(".pub").read_text())
    add_test_host(host_registry, remote_host, "locked", identity=key)
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return passphrase

    store = SecretStore.open()
    assert store.available, store.problem
    store.delete(passphrase_entry(str(key)))
    with connect(host_registry.get_host("locked"), prompt=prompt) as session:
        assert session.run("echo ok").text.strip() == "ok"
    assert asked == [f"Passphrase for the key {key}"]
    assert store.get(passphrase_entry(str(key))) == passphrase
    with connect(host_registry.get_host("locked"), prompt=None) as session:  # from the keyring
        assert session.alive
    assert len(asked) == 1
    # the secret is in the keyring only: not in the database, settings, logs or anything else
    found = subprocess.run(
        ["grep", "-rla", passphrase, str(config.home)], capture_output=True, text=True, check=False
    )
    assert found.stdout == ""
    store.delete(passphrase_entry(str(key)))


def test_without_a_keyring_secrets_are_asked_every_time() -> None:
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # what keyring chooses on a machine without one
    try:
        store = SecretStore.open()
        assert not store.available
        assert store.problem is not None
        assert "asked every time and never stored" in store.problem
        assert store.set("password:x@y:22", "secret") is False
        assert store.get("password:x@y:22") is None
    finally:
        keyring.set_keyring(previous)


@pytest.mark.integration
def test_host_commands_from_the_cli(
    remote_host: RemoteHost, config: Config, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "MODELBAY_HOME": str(config.home),
        "MODELBAY_SSH_CONFIG": str(tmp_path / "none"),
    }
    env.pop("SSH_AUTH_SOCK", None)

    def modelbay(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    target = f"root@{remote_host.address}:{remote_host.port}"
    added = modelbay(
        "host", "add", "lab", "--ssh", target, "--identity", str(remote_host.identity_file)
    )
    assert added.returncode == 0, added.stderr
    unknown = modelbay("host", "check", "lab")
    assert unknown.returncode == 1
    shown = f"ssh-ed25519 {remote_host.host_key_fingerprint}"
    assert f"error: the host key of lab is not trusted yet: {shown}" in unknown.stderr
    no_answer = modelbay("host", "trust", "lab")  # stdin is not a terminal: nobody to ask
    assert no_answer.returncode == 1
    assert f"--fingerprint {remote_host.host_key_fingerprint}" in no_answer.stderr
    trusted = modelbay("host", "trust", "lab", "--fingerprint", remote_host.host_key_fingerprint)
    assert trusted.returncode == 0, trusted.stderr
    checked = modelbay("host", "check", "lab", "--json")
    assert checked.returncode == 0, checked.stderr
    assert '"ok":true' in checked.stdout.replace(" ", "")
    listed = modelbay("host", "list")
    assert "lab" in listed.stdout
    assert "ok" in listed.stdout
    assert modelbay("host", "remove", "lab").returncode == 0
    assert "no hosts yet" in modelbay("host", "list").stderr


@pytest.mark.integration
def test_a_key_whose_passphrase_cannot_be_asked_is_named_not_blamed_on_the_host(
    remote_host: RemoteHost, host_registry: Registry, tmp_path: Path
) -> None:
    key = tmp_path / "locked_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "s3cret pass", "-f", str(key)], check=True
    )
    keys = remote_host.state_dir / "authorized_keys" / "root"
    keys.write_text(keys.read_text() + key.with_suffix(".pub").read_text())
    add_test_host(host_registry, remote_host, "locked", identity=key)
    SecretStore.open().delete(passphrase_entry(str(key)))
    label = f"root@{remote_host.address}:{remote_host.port}"
    for prompt in (None, lambda _text: "not the passphrase"):  # no terminal; a wrong answer
        result = check_host(host_registry, "locked", prompt=prompt)
        assert (result["reachable"], result["authenticated"]) == (True, False)
        assert result["error"] == (
            f"cannot log in to {label}: {key} needs its passphrase and there is no terminal to "
            "ask on (or the passphrase was wrong)"
        )
        assert result["hint"] == (
            "run modelbay host check locked in a terminal (it is then kept in the OS keyring), "
            f"or ssh-add {key}"
        )
        assert "authorized_keys" not in result["hint"]


@pytest.mark.integration
def test_a_connection_cut_between_two_commands_is_told_in_words(
    remote_host: RemoteHost, host_registry: Registry
) -> None:
    import threading
    import time

    add_test_host(host_registry, remote_host)
    with connect(host_registry.get_host("test-host")) as session:
        assert session.run("echo ok").text.strip() == "ok"
        caught: list[BaseException] = []

        def wait_on_the_host() -> None:
            try:
                session.run("sleep 30")
            except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
                caught.append(exc)

        waiting = threading.Thread(target=wait_on_the_host)
        waiting.start()
        time.sleep(0.5)  # the command runs
        assert remote_host.drop_connections() >= 1  # as a network failure would
        waiting.join(timeout=20)
        assert len(caught) == 1
        assert isinstance(caught[0], ConnectionLost)
        assert caught[0].message.startswith(
            "the connection to test-host broke while `sleep 30` ran ("
        )
        deadline = time.monotonic() + 10
        while session.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        for start in (lambda: session.open_exec("docker load"), lambda: session.run("docker load")):
            with pytest.raises(ConnectionLost) as lost:
                start()
            assert lost.value.message.startswith(
                "the connection to test-host broke before `docker load` could start ("
            )
            assert lost.value.hint == (
                "check that test-host is up and reachable (modelbay host check test-host), then "
                "run the command again: it connects anew and starts the step over"
            )


@pytest.mark.integration
def test_a_refused_forward_is_logged_to_the_file_not_printed(
    remote_host: RemoteHost,
    host_registry: Registry,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """What a deploy's health probes do before the container listens: paramiko logs
    "Secsh channel N open FAILED" at ERROR; the command line sends it to the log file."""
    import paramiko

    from app.logs import logging_to_file

    add_test_host(host_registry, remote_host)
    with (
        logging_to_file(tmp_path / "logs") as log_file,
        connect(host_registry.get_host("test-host")) as session,
        pytest.raises(paramiko.ChannelException),
    ):
        session.transport.open_channel(
            "direct-tcpip", ("127.0.0.1", remote_host.closed_port), ("127.0.0.1", 0)
        )
    assert log_file is not None
    assert "open FAILED: Connection refused: Connect failed" in log_file.read_text()
    assert "open FAILED" not in capfd.readouterr().err
