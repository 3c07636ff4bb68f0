"""The remote-host test bed itself (tests/remote_host.py): a namespace with its own Docker
daemon reached over real SSH, and a real OS keyring. It proves the bed, nothing of the app."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import pytest

from tests.remote_host import DOCKER_CLI, fingerprint_of

if TYPE_CHECKING:
    from docker import DockerClient

    from tests.remote_host import RemoteHost, SecretService

pytestmark = pytest.mark.integration

REMOTE_PORT = 18080


@pytest.fixture(scope="module")
def remote_base_image(remote_host: RemoteHost, base_image: str) -> str:
    """The local base image, sent to the remote host: ``docker save | ssh ... docker load``."""
    save = subprocess.Popen([DOCKER_CLI, "save", base_image], stdout=subprocess.PIPE)
    try:
        load = subprocess.run(
            remote_host.ssh_command("docker", "load"),
            stdin=save.stdout,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        assert save.stdout is not None
        save.stdout.close()
        save.wait(60)
    assert save.returncode == 0
    assert load.returncode == 0, load.stderr
    assert f"Loaded image: {base_image}" in load.stdout
    return base_image


def test_ssh_runs_docker_against_the_namespace_daemon(
    remote_host: RemoteHost, docker_client: DockerClient
) -> None:
    where = remote_host.ssh(
        "sh", "-c", 'echo "$DOCKER_HOST"; command -v docker; hostname'
    ).stdout.split()
    assert where[:2] == [remote_host.docker_host, "/usr/bin/docker"]

    version = remote_host.ssh("docker", "version", "-f", "{{.Server.APIVersion}}").stdout
    assert version.strip() == "1.41"
    remote = remote_host.ssh("docker", "info", "-f", "{{.ID}} {{.Name}} {{.DockerRootDir}}")
    remote_id, remote_name, remote_root = remote.stdout.split()
    local = docker_client.info()
    assert remote_id != local["ID"]
    assert remote_name == "mbtest-remote" != local["Name"]
    assert remote_root == str(remote_host.state_dir / "data")
    # the same daemon, seen from this side through its socket file
    assert remote_host.docker("info", "-f", "{{.ID}}").stdout.strip() == remote_id


def test_docker_api_over_ssh_dial_stdio(remote_host: RemoteHost) -> None:
    result = subprocess.run(
        remote_host.ssh_command("docker", "system", "dial-stdio"),
        input=b"GET /version HTTP/1.0\r\nHost: docker\r\n\r\n",
        capture_output=True,
        timeout=30,
    )
    status, _, body = result.stdout.partition(b"\r\n")
    assert status == b"HTTP/1.0 200 OK", result.stderr
    assert b'"ApiVersion":"1.41"' in body


def test_a_wrong_key_is_refused(remote_host: RemoteHost) -> None:
    result = remote_host.ssh(
        "true", identity_file=remote_host.wrong_identity_file, check=False, timeout=30
    )
    assert result.returncode == 255
    assert "Permission denied (publickey)" in result.stderr


def test_host_key_fingerprint_matches_what_ssh_shows_and_changes(remote_host: RemoteHost) -> None:
    def scanned() -> str:
        keyscan = subprocess.run(
            ["ssh-keyscan", "-t", "ed25519", "-p", str(remote_host.port), remote_host.address],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        listed = subprocess.run(
            ["ssh-keygen", "-lf", "-"],
            input=keyscan.stdout,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        fingerprint = listed.stdout.split()[1]
        assert fingerprint_of(keyscan.stdout.split(maxsplit=1)[1]) == fingerprint
        return fingerprint

    before = remote_host.host_key_fingerprint
    assert before.startswith("SHA256:")
    assert scanned() == before
    assert remote_host.known_hosts_line.split()[1:] == remote_host.host_public_key.split()

    after = remote_host.change_host_key()
    assert after != before
    assert scanned() == after == remote_host.host_key_fingerprint
    assert remote_host.ssh("true").returncode == 0


def test_an_image_travels_over_ssh(remote_host: RemoteHost, remote_base_image: str) -> None:
    inspected = remote_host.docker("image", "inspect", "-f", "{{.Id}}", remote_base_image)
    local = subprocess.run(
        [DOCKER_CLI, "image", "inspect", "-f", "{{.Id}}", remote_base_image],
        capture_output=True,
        text=True,
        check=True,
    )
    assert inspected.stdout == local.stdout


def test_a_remote_container_port_is_reached_through_an_ssh_forward(
    remote_host: RemoteHost, remote_base_image: str
) -> None:
    name = "mbtest-http"
    remote_host.ssh(
        "docker",
        "run",
        "-d",
        "--name",
        name,
        "-p",
        f"127.0.0.1:{REMOTE_PORT}:8000",
        remote_base_image,
        "python3",
        "-m",
        "http.server",
        "8000",
    )
    try:
        with remote_host.port_forward(REMOTE_PORT) as local_port:
            deadline = time.monotonic() + 20
            while True:
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{local_port}/", timeout=5
                    ) as response:
                        body = response.read().decode()
                    break
                except OSError:
                    # the forward is up before python3 in the container listens
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        assert "Directory listing for /" in body
        # published on the remote's loopback only: not on its network address
        with pytest.raises(urllib.error.URLError, match="Connection refused"):
            urllib.request.urlopen(f"http://{remote_host.address}:{REMOTE_PORT}/", timeout=3)
    finally:
        remote_host.ssh("docker", "rm", "-f", name, check=False)


def test_a_user_without_docker_permission(remote_host: RemoteHost) -> None:
    name = remote_host.add_user("mbtest-nodocker")
    assert remote_host.ssh("id", "-un", user=name).stdout.strip() == name
    denied = remote_host.ssh("docker", "version", user=name, check=False)
    assert denied.returncode != 0
    assert "permission denied" in denied.stderr.lower()


def test_stopped_sshd_closed_port_and_unreachable_address(remote_host: RemoteHost) -> None:
    closed = subprocess.run(
        remote_host.ssh_command("true", port=remote_host.closed_port),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "Connection refused" in closed.stderr

    started = time.monotonic()
    unreachable = subprocess.run(
        remote_host.ssh_command(
            "true", address=remote_host.unreachable_address, options=("-o", "ConnectTimeout=2")
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert unreachable.returncode == 255
    assert time.monotonic() - started < 10, unreachable.stderr

    remote_host.stop_sshd()
    try:
        stopped = remote_host.ssh("true", check=False, timeout=30)
        assert "Connection refused" in stopped.stderr
    finally:
        remote_host.start_sshd()
    assert remote_host.ssh("true").returncode == 0


def test_the_os_keyring_round_trips_a_secret(secret_service: SecretService) -> None:
    import keyring

    assert secret_service.backend == "keyring.backends.SecretService.Keyring"
    assert type(keyring.get_keyring()).__module__ == "keyring.backends.SecretService"
    keyring.set_password("modelbay-testbed", "alice@10.77.0.2:22", "hunter2")
    try:
        assert keyring.get_password("modelbay-testbed", "alice@10.77.0.2:22") == "hunter2"
        # the secret is in the real keyring: another client (libsecret) reads it there
        secret_tool = shutil.which("secret-tool")
        if secret_tool is not None:
            looked_up = subprocess.run(
                [
                    secret_tool,
                    "lookup",
                    "service",
                    "modelbay-testbed",
                    "username",
                    "alice@10.77.0.2:22",
                ],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert looked_up.stdout == "hunter2", looked_up.stderr
    finally:
        keyring.delete_password("modelbay-testbed", "alice@10.77.0.2:22")
    assert keyring.get_password("modelbay-testbed", "alice@10.77.0.2:22") is None
