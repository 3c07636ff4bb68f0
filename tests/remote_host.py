"""A real remote host and a real OS keyring for integration tests, made and torn down here.

The remote host
---------------
A network namespace is a second machine on this one: its own interfaces, its own
address (10.77.N.2, reached from here through a veth pair whose host side is
10.77.N.1), its own Docker daemon and its own sshd. Images sent to it really travel
through SSH and land in a different daemon (different data root, different engine
ID, different hostname).

- dockerd enters only the network namespace, plus a private mount and UTS namespace
  of its own: /etc/docker is bind-mounted from the state folder there, because dockerd
  20.10 derives its engine ID from /etc/docker/key.json and would otherwise report
  the local daemon's ID; its overlay mounts stay in that mount namespace, so they
  vanish with it. (Plain ``ip netns exec`` remounts /sys, and dockerd then fails with
  "Devices cgroup isn't mounted".) Its containers use the namespace's own docker0
  bridge (172.17.0.0/16 there as well, which does not clash: it lives in another
  network namespace); without iptables, published ports go through docker-proxy.
- sshd listens on 10.77.N.2:22, key-only, with its own ed25519 host key, and
  ``SetEnv DOCKER_HOST=unix://STATE/docker.sock`` so that a remote ``docker`` command
  (``docker version``, ``docker load``, ``docker system dial-stdio``) talks to the
  namespace's daemon. PATH is set to the Debian directories too, so ``docker`` there
  is docker.io's /usr/bin/docker, not a newer client that may sit in /usr/local/bin.
- The file system is shared with this machine. Only what honours DOCKER_HOST reaches
  the remote daemon: /var/run/docker.sock seen "on the remote" is the LOCAL daemon.
  From here the remote daemon is ``DOCKER_HOST=<RemoteHost.docker_host>``.

Failure cases need no machinery: :attr:`RemoteHost.closed_port` is a port nothing
listens on (connection refused at once), :attr:`RemoteHost.unreachable_address` an
address in the subnet nobody has (no ARP answer: "No route to host" after about 3 s,
or the client's own timeout if shorter); :meth:`RemoteHost.stop_sshd` makes the
host's own SSH port refuse; :meth:`RemoteHost.change_host_key` makes the same
address show a different host key; :meth:`RemoteHost.add_user` makes a user who may
log in but may not use Docker.

Everything is torn down afterwards (daemons stopped, namespace and veth deleted,
users removed, state folder deleted). A run that crashed leaves ``mbtest-<pid>-<k>``
namespaces behind; the next run removes those whose pid is dead before it starts.
Needs root, ``ip``, ``nsenter``/``unshare``, ``sshd``, ``ssh``, ``dockerd`` and the
docker CLI (tests/setup/system-packages.sh test, tests/setup/docker.sh).

The keyring
-----------
:func:`start_secret_service` starts a private D-Bus session bus (no service activation:
nothing can start a second, locked keyring behind the tests' back) and a real
gnome-keyring-daemon on it, unlocked with a password on stdin, with HOME and the XDG
folders in a temp folder so the user's own keyring is never touched.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import itertools
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

NETNS_PREFIX = "mbtest-"
HOST_VETH_PREFIX = "mbh"
SUBNET_PREFIX = "10.77"
LOCK_FILE = Path("/run/lock/modelbay-test-remote-host.lock")

# Debian's docker.io client (API 1.41), not whatever comes first on PATH.
DOCKER_CLI = "/usr/bin/docker"
DOCKERD = "/usr/sbin/dockerd"
SSHD = "/usr/sbin/sshd"
REMOTE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
REMOTE_HOSTNAME = "mbtest-remote"

STARTUP_TIMEOUT = 60.0
_NAME_RE = re.compile(rf"^{NETNS_PREFIX}(\d+)-(\d+)$")
_VETH_RE = re.compile(rf"^{HOST_VETH_PREFIX}(\d+)-(\d+)$")
_counter = itertools.count()

# ssh options for the tests' own plumbing (never what the app does): no known_hosts,
# no user config, no agent keys, no prompts.
PLUMBING_SSH_OPTIONS = (
    "-F",
    "/dev/null",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=10",
)


class BedSetupError(RuntimeError):
    """The remote host or the keyring could not be set up (its log is in the message)."""


def fingerprint_of(public_key_line: str) -> str:
    """The SHA256 fingerprint of an OpenSSH public key line, as OpenSSH prints it."""
    blob = base64.b64decode(public_key_line.split()[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def _run(
    *cmd: str, check: bool = True, timeout: float = 60.0, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, check=check, capture_output=True, text=True, timeout=timeout, input=input
    )


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _plumbing_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("SSH_AUTH_SOCK", "DOCKER_CONTEXT", "DOCKER_API_VERSION", "DOCKER_TLS_VERIFY"):
        env.pop(name, None)
    return env


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _session_alive(pid: int) -> bool:
    """Whether the test session ``pid`` that made a namespace still runs (a Python)."""
    if pid == os.getpid():
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"python" in cmdline or b"pytest" in cmdline


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = [pid for pid in pids if _pid_alive(pid)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [pid for pid in alive if _pid_alive(pid)]
    return alive


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _netns_pids(netns: str) -> list[int]:
    result = _run("ip", "netns", "pids", netns, check=False)
    return [int(word) for word in result.stdout.split() if word.isdigit()]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _empty_netns(netns: str) -> None:
    """Stop every process in the namespace: dockerd first (it stops its containers)."""
    pids = _netns_pids(netns)
    daemons = [pid for pid in pids if _comm(pid) == "dockerd"]
    _signal(daemons, signal.SIGTERM)
    _wait_gone(daemons, 20)
    rest = _netns_pids(netns)
    _signal(rest, signal.SIGTERM)
    left = _wait_gone(rest, 5)
    _signal(left, signal.SIGKILL)
    _wait_gone(left, 5)


def _remove_user(name: str) -> None:
    if _run("id", "-u", name, check=False).returncode != 0:
        return
    _run("pkill", "-KILL", "-u", name, check=False)
    _run("userdel", "--force", "--remove", name, check=False)


def _delete_link(name: str) -> None:
    if Path(f"/sys/class/net/{name}").exists():
        _run("ip", "link", "del", name, check=False)


def cleanup_stale() -> list[str]:
    """Remove namespaces, veths, users and state folders of test runs that died."""
    removed: list[str] = []
    listing = _run("ip", "netns", "list", check=False).stdout
    for line in listing.splitlines():
        netns = line.split()[0] if line.split() else ""
        match = _NAME_RE.match(netns)
        if match is None or _session_alive(int(match.group(1))):
            continue
        _empty_netns(netns)
        _run("ip", "netns", "del", netns, check=False)
        removed.append(netns)
    for link in os.listdir("/sys/class/net"):
        match = _VETH_RE.match(link)
        if match is not None and not _session_alive(int(match.group(1))):
            _delete_link(link)
            removed.append(link)
    for state in Path(tempfile.gettempdir()).glob(f"{NETNS_PREFIX}*"):
        match = re.match(rf"^{NETNS_PREFIX}(\d+)-(\d+)-", state.name)
        if match is None or _session_alive(int(match.group(1))):
            continue
        users = state / "users"
        if users.exists():
            for name in users.read_text().split():
                _remove_user(name)
        shutil.rmtree(state, ignore_errors=True)
        removed.append(str(state))
    return removed


def remote_host_problem() -> str | None:
    """Why a remote host cannot be made here, or None when it can."""
    if os.geteuid() != 0:
        return "making a network namespace with sshd and dockerd needs root"
    for tool in ("ip", "nsenter", "unshare", "ssh", "ssh-keygen", "useradd", "userdel"):
        if shutil.which(tool) is None:
            return f"{tool} not found (bash tests/setup/system-packages.sh test)"
    for path in (SSHD, DOCKERD, DOCKER_CLI):
        if not Path(path).exists():
            return f"{path} not found (tests/setup/system-packages.sh test, tests/setup/docker.sh)"
    return None


@dataclass
class RemoteHost:
    """A host with its own Docker daemon, reached over real SSH at ``address:port``."""

    netns: str  # the network namespace, e.g. "mbtest-1234-0"
    address: str  # the host's address, e.g. "10.77.3.2" (sshd listens here)
    local_address: str  # this machine's end of the veth pair, e.g. "10.77.3.1"
    port: int  # 22
    user: str  # "root": key login, may use Docker
    identity_file: Path  # private key authorised for root (and for users from add_user)
    wrong_identity_file: Path  # a private key authorised for nobody
    host_key_file: Path  # sshd's private ed25519 host key (its .pub next to it)
    docker_socket: Path  # the remote daemon's socket, reachable from here as a file
    state_dir: Path  # the temp folder with configs, keys, logs, data root
    unreachable_address: str  # in the subnet, nobody answers: "No route to host"
    closed_port: int  # nothing listens on address:closed_port: "Connection refused"
    users: list[str] = field(default_factory=list)  # made by add_user, removed at teardown
    _sshd: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    # ------------------------------------------------------------ what the host shows
    @property
    def docker_host(self) -> str:
        """DOCKER_HOST for the remote daemon from this machine: ``unix:///.../docker.sock``."""
        return f"unix://{self.docker_socket}"

    @property
    def host_public_key(self) -> str:
        """The host key sshd shows now: ``ssh-ed25519 AAAA...`` (no comment)."""
        key_type, blob = self.host_key_file.with_suffix(".pub").read_text().split()[:2]
        return f"{key_type} {blob}"

    @property
    def host_key_fingerprint(self) -> str:
        """``SHA256:...`` of :attr:`host_public_key`, as ``ssh-keygen -lf`` prints it."""
        return fingerprint_of(self.host_public_key)

    @property
    def known_hosts_line(self) -> str:
        """A known_hosts line pinning the current host key."""
        where = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{where} {self.host_public_key}"

    @property
    def identity_public_key(self) -> str:
        return self.identity_file.with_suffix(".pub").read_text().strip()

    # ------------------------------------------------------------ running things
    def ssh_command(
        self,
        *cmd: str,
        user: str | None = None,
        identity_file: Path | None = None,
        address: str | None = None,
        port: int | None = None,
        options: tuple[str, ...] = (),
    ) -> list[str]:
        """The argv of a real ``ssh`` to the host (for Popen: pipes, ``-L``, ``-N``).

        ``cmd`` is an argv, quoted for the remote shell: ``("sh", "-c", "echo $HOME")``
        runs that line there; ``("docker version",)`` looks for a program of that name."""
        return [
            "ssh",
            *PLUMBING_SSH_OPTIONS,
            "-i",
            str(identity_file or self.identity_file),
            "-p",
            str(port or self.port),
            *options,
            f"{user or self.user}@{address or self.address}",
            *(shlex.quote(arg) for arg in cmd),
        ]

    def ssh(
        self,
        *cmd: str,
        user: str | None = None,
        identity_file: Path | None = None,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run the argv ``cmd`` on the host over real ssh (key auth; host key not checked)."""
        return subprocess.run(
            self.ssh_command(*cmd, user=user, identity_file=identity_file),
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
            env=_plumbing_env(),
        )

    def docker_env(self) -> dict[str, str]:
        """This process's environment with DOCKER_HOST naming the remote daemon."""
        return {**_plumbing_env(), "DOCKER_HOST": self.docker_host}

    def docker(
        self, *args: str, check: bool = True, timeout: float = 120.0, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run /usr/bin/docker here against the remote daemon (no ssh: test plumbing)."""
        return subprocess.run(
            [DOCKER_CLI, *args],
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
            env=self.docker_env(),
        )

    @contextmanager
    def port_forward(self, remote_port: int, remote_address: str = "127.0.0.1") -> Iterator[int]:
        """``ssh -N -L`` from a free local port to ``remote_address:remote_port`` on the host;
        yields the local port (on 127.0.0.1)."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            local_port = int(probe.getsockname()[1])
        process = subprocess.Popen(
            self.ssh_command(
                options=(
                    "-N",
                    "-o",
                    "ExitOnForwardFailure=yes",
                    "-L",
                    f"127.0.0.1:{local_port}:{remote_address}:{remote_port}",
                )
            ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=_plumbing_env(),
        )
        try:
            deadline = time.monotonic() + 20
            while not _port_open("127.0.0.1", local_port):
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    _, err = process.communicate()
                    raise BedSetupError(f"ssh -L did not come up: {err.decode(errors='replace')}")
                time.sleep(0.05)
            yield local_port
        finally:
            if process.poll() is None:
                process.terminate()
            process.communicate(timeout=10)

    # ------------------------------------------------------------ changing the host
    def stop_sshd(self) -> None:
        """Stop sshd: the host's SSH port then refuses connections."""
        process, self._sshd = self._sshd, None
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(10)
        pid = _read_pid(self.state_dir / "sshd.pid")
        if pid is not None and _pid_alive(pid):  # pragma: no cover - only if Popen lost it
            _signal([pid], signal.SIGTERM)
            _wait_gone([pid], 10)
        (self.state_dir / "sshd.pid").unlink(missing_ok=True)

    def start_sshd(self) -> None:
        """Start sshd (again) and wait until it accepts connections."""
        if self._sshd is not None and self._sshd.poll() is None:
            return
        log = self.state_dir / "sshd.log"
        self._sshd = subprocess.Popen(
            [
                "nsenter",
                f"--net=/run/netns/{self.netns}",
                SSHD,
                "-D",
                "-f",
                str(self.state_dir / "sshd_config"),
                "-E",
                str(log),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _port_open(self.address, self.port):
            if self._sshd.poll() is not None or time.monotonic() > deadline:
                raise BedSetupError(f"sshd did not start in {self.netns}:\n{_tail(log)}")
            time.sleep(0.02)

    def received_bytes(self) -> int:
        """Bytes the host's network interface has received so far (all traffic, headers
        included): what crossed the wire to it."""
        counter = "/sys/class/net/eth0/statistics/rx_bytes"
        return int(_run("ip", "netns", "exec", self.netns, "cat", counter).stdout.strip())

    def drop_connections(self) -> int:
        """Kill every SSH connection to the host (sshd's per-connection processes), as a
        network failure would; sshd itself keeps listening. Returns how many were cut."""
        if self._sshd is None:
            return 0
        children = _run("pgrep", "-P", str(self._sshd.pid), check=False).stdout.split()
        pids = [int(pid) for pid in children]
        _signal(pids, signal.SIGKILL)
        _wait_gone(pids, 10)
        return len(pids)

    def change_host_key(self) -> str:
        """Give sshd a new ed25519 host key and restart it; returns the new fingerprint."""
        self.stop_sshd()
        for path in (self.host_key_file, self.host_key_file.with_suffix(".pub")):
            path.unlink(missing_ok=True)
        _generate_key(self.host_key_file, "mbtest-host")
        self.start_sshd()
        return self.host_key_fingerprint

    def add_user(self, name: str) -> str:
        """A user who may log in with :attr:`identity_file` but may NOT use Docker
        (not in the docker group; the daemon's socket is root:docker 0660). Asking again
        for a name this host made returns it; the users are removed at teardown."""
        if name in self.users:
            return name
        _run("useradd", "--create-home", "--shell", "/bin/bash", name)
        self.users.append(name)
        with (self.state_dir / "users").open("a") as users:
            users.write(name + "\n")
        # useradd locks the password ("!"), and without PAM sshd refuses locked
        # accounts even for keys: "*" means no password, not locked.
        _run("usermod", "--password", "*", name)
        keys = self.state_dir / "authorized_keys" / name
        keys.write_text(self.identity_public_key + "\n")
        keys.chmod(0o644)
        check = _run(
            "runuser", "-u", name, "--", "test", "-w", str(self.docker_socket), check=False
        )
        if check.returncode == 0:
            raise BedSetupError(f"{name} can write to {self.docker_socket}; it must not")
        return name


def _port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def _generate_key(path: Path, comment: str) -> None:
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path))


def _free_subnet() -> int:
    used = set(
        re.findall(rf"\b{re.escape(SUBNET_PREFIX)}\.(\d+)\.", _run("ip", "-o", "addr").stdout)
    )
    for n in range(1, 255):
        if str(n) not in used:
            return n
    raise BedSetupError(f"no free {SUBNET_PREFIX}.N.0/24 subnet")


def _sshd_config(state: Path, address: str, port: int) -> str:
    return f"""\
# The test remote host's sshd (tests/remote_host.py): key-only, its own host key.
ListenAddress {address}:{port}
HostKey {state}/ssh_host_ed25519_key
PidFile {state}/sshd.pid
AuthorizedKeysFile {state}/authorized_keys/%u
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# the state folder is a temp folder, not ~/.ssh: skip sshd's ownership checks
StrictModes no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
PrintMotd no
PrintLastLog no
# a remote `docker` (and `docker system dial-stdio`) talks to the namespace's daemon
SetEnv DOCKER_HOST=unix://{state}/docker.sock PATH={REMOTE_PATH}
Subsystem sftp internal-sftp
"""


def _dockerd_argv(netns: str, state: Path) -> list[str]:
    """dockerd in the network namespace, with its own /etc/docker (engine ID) and hostname."""
    script = (
        'state=$1; shift; mkdir -p /etc/docker && mount --bind "$state/etc-docker" /etc/docker'
        f' && hostname {REMOTE_HOSTNAME} && exec "$@"'
    )
    return [
        "nsenter",
        f"--net=/run/netns/{netns}",
        "unshare",
        "--mount",
        "--uts",
        "--propagation",
        "slave",
        "sh",
        "-c",
        script,
        "sh",
        str(state),
        DOCKERD,
    ]


@contextmanager
def start_remote_host() -> Iterator[RemoteHost]:
    """Make a remote host (see the module's docstring); tear it down afterwards."""
    cleanup_stale()
    k = next(_counter)
    netns = f"{NETNS_PREFIX}{os.getpid()}-{k}"
    host_veth = f"{HOST_VETH_PREFIX}{os.getpid()}-{k}"
    ns_veth = "eth0"
    state = Path(tempfile.mkdtemp(prefix=f"{netns}-"))
    # sshd reads authorized_keys as the user: others may pass through (not list).
    state.chmod(0o711)
    dockerd: subprocess.Popen[bytes] | None = None
    host: RemoteHost | None = None
    dockerd_log = state / "dockerd.log"
    try:
        LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
        with LOCK_FILE.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            n = _free_subnet()
            address, local_address = f"{SUBNET_PREFIX}.{n}.2", f"{SUBNET_PREFIX}.{n}.1"
            _run("ip", "netns", "add", netns)
            peer = f"mbr{os.getpid()}-{k}"  # renamed eth0 inside; names are at most 15 chars
            _run("ip", "link", "add", host_veth, "type", "veth", "peer", "name", peer)
            _run("ip", "link", "set", peer, "netns", netns)
            _run("ip", "-n", netns, "link", "set", peer, "name", ns_veth)
            _run("ip", "addr", "add", f"{local_address}/24", "dev", host_veth)
            _run("ip", "link", "set", host_veth, "up")
            _run("ip", "-n", netns, "addr", "add", f"{address}/24", "dev", ns_veth)
            _run("ip", "-n", netns, "link", "set", ns_veth, "up")
            _run("ip", "-n", netns, "link", "set", "lo", "up")

        # ---------------------------------------------------------- the Docker daemon
        (state / "etc-docker").mkdir()
        (state / "daemon.json").write_text("{}\n")
        socket_path = state / "docker.sock"
        with dockerd_log.open("wb") as log:
            dockerd = subprocess.Popen(
                [
                    *_dockerd_argv(netns, state),
                    "--config-file",
                    str(state / "daemon.json"),
                    "--data-root",
                    str(state / "data"),
                    "--exec-root",
                    str(state / "exec"),
                    "--pidfile",
                    str(state / "docker.pid"),
                    "--host",
                    f"unix://{socket_path}",
                    "--iptables=false",
                    # its own containerd (it starts one under exec-root); distinct
                    # namespaces keep it apart even from a shared system containerd
                    "--containerd-namespace",
                    f"{netns}",
                    "--containerd-plugins-namespace",
                    f"{netns}-plugins",
                    # teardown: containers get 1 s, not 10, to stop
                    "--shutdown-timeout",
                    "1",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _docker_answers(socket_path):
            if dockerd.poll() is not None or time.monotonic() > deadline:
                raise BedSetupError(f"dockerd did not start in {netns}:\n{_tail(dockerd_log)}")
            time.sleep(0.05)

        # ---------------------------------------------------------- keys and sshd
        host_key = state / "ssh_host_ed25519_key"
        _generate_key(host_key, "mbtest-host")
        client_key, wrong_key = state / "client_ed25519", state / "wrong_ed25519"
        _generate_key(client_key, "mbtest-client")
        _generate_key(wrong_key, "mbtest-wrong")
        keys = state / "authorized_keys"
        keys.mkdir(mode=0o755)
        keys.chmod(0o755)
        (keys / "root").write_text(client_key.with_suffix(".pub").read_text())
        port = 22
        (state / "sshd_config").write_text(_sshd_config(state, address, port))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        checked = _run(SSHD, "-t", "-f", str(state / "sshd_config"), check=False)
        if checked.returncode != 0:
            raise BedSetupError(f"sshd_config rejected: {checked.stderr}")
        host = RemoteHost(
            netns=netns,
            address=address,
            local_address=local_address,
            port=port,
            user="root",
            identity_file=client_key,
            wrong_identity_file=wrong_key,
            host_key_file=host_key,
            docker_socket=socket_path,
            state_dir=state,
            unreachable_address=f"{SUBNET_PREFIX}.{n}.3",
            closed_port=2222,
        )
        host.start_sshd()
        yield host
    finally:
        if host is not None:
            host.stop_sshd()
        if dockerd is not None and dockerd.poll() is None:
            dockerd.terminate()
            try:
                dockerd.wait(30)
            except subprocess.TimeoutExpired:
                dockerd.kill()
                dockerd.wait(10)
        if Path(f"/run/netns/{netns}").exists():
            _empty_netns(netns)
        if host is not None:
            for name in host.users:
                _remove_user(name)
        _run("ip", "netns", "del", netns, check=False)
        _delete_link(host_veth)
        shutil.rmtree(state, ignore_errors=True)


def _docker_answers(socket_path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(2)
            conn.connect(str(socket_path))
            conn.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return conn.recv(64).startswith(b"HTTP/1.0 200")
    except OSError:
        return False


# ================================================================ the OS keyring


@dataclass(frozen=True)
class SecretService:
    """A private session bus with an unlocked gnome-keyring on it (the Secret Service)."""

    bus_address: str  # what DBUS_SESSION_BUS_ADDRESS is set to for the session
    password: str  # the keyring's unlock password
    # what keyring.get_keyring() reports: "keyring.backends.SecretService.Keyring"
    backend: str
    home: Path  # HOME / XDG folders of the keyring daemon (its files live here)


def secret_service_problem() -> str | None:
    for tool in ("dbus-daemon", "dbus-send", "gnome-keyring-daemon"):
        if shutil.which(tool) is None:
            return f"{tool} not found (bash tests/setup/system-packages.sh test)"
    try:
        import keyring  # noqa: F401
        import secretstorage  # noqa: F401
    except ImportError as exc:
        return f"the keyring package with SecretStorage is not installed ({exc})"
    return None


BUS_CONFIG = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def _name_has_owner(bus_address: str, name: str) -> bool:
    result = _run(
        "dbus-send",
        f"--bus={bus_address}",
        "--print-reply",
        "--dest=org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus.NameHasOwner",
        f"string:{name}",
        check=False,
        timeout=10,
    )
    return result.returncode == 0 and "boolean true" in result.stdout


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None:
        return
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()


KEYRING_PREFIX = "mbtest-keyring-"


def _processes_using(folder: Path) -> list[int]:
    """Processes whose command line or environment names ``folder``."""
    needle = str(folder).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if (
                needle in (entry / "cmdline").read_bytes()
                or needle in (entry / "environ").read_bytes()
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def cleanup_stale_keyrings() -> list[str]:
    """Stop the bus and keyring daemons of test runs that died, remove their folders."""
    removed = []
    for base in Path(tempfile.gettempdir()).glob(f"{KEYRING_PREFIX}*"):
        match = re.match(rf"^{KEYRING_PREFIX}(\d+)-", base.name)
        if match is None or _session_alive(int(match.group(1))):
            continue
        pids = _processes_using(base)
        _signal(pids, signal.SIGTERM)
        _signal(_wait_gone(pids, 5), signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)
        removed.append(str(base))
    return removed


def _redetect_keyring() -> None:
    """Make the keyring package choose its backend again. It decides once per process
    (``get_all_keyring`` is cached): a call made before the bus was there would
    otherwise stick to "no keyring" for the whole run."""
    import keyring.backend
    import keyring.core

    with contextlib.suppress(AttributeError, KeyError):
        keyring.backend.get_all_keyring.reset()
    keyring.core.init_backend()


@contextmanager
def start_secret_service(password: str = "mbtest-keyring") -> Iterator[SecretService]:
    """Start the bus and the keyring, point this process's keyring package at them."""
    import keyring

    cleanup_stale_keyrings()
    base = Path(tempfile.mkdtemp(prefix=f"{KEYRING_PREFIX}{os.getpid()}-"))
    home, runtime = base / "home", base / "run"
    for folder in (home, runtime, base / "bus"):
        folder.mkdir(mode=0o700)
    (base / "bus.conf").write_text(BUS_CONFIG.format(dir=base / "bus"))
    saved = {name: os.environ.get(name) for name in ("DBUS_SESSION_BUS_ADDRESS",)}
    bus: subprocess.Popen[bytes] | None = None
    daemon: subprocess.Popen[bytes] | None = None
    try:
        bus = subprocess.Popen(
            [
                "dbus-daemon",
                "--config-file",
                str(base / "bus.conf"),
                "--nofork",
                "--nopidfile",
                "--print-address=1",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()
        if not address:
            raise BedSetupError("dbus-daemon printed no address")
        env = {
            **os.environ,
            "DBUS_SESSION_BUS_ADDRESS": address,
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_RUNTIME_DIR": str(runtime),
        }
        env.pop("GNOME_KEYRING_CONTROL", None)
        log = base / "gnome-keyring.log"
        with log.open("wb") as out:
            daemon = subprocess.Popen(
                ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        assert daemon.stdin is not None
        daemon.stdin.write(password.encode())
        daemon.stdin.close()
        deadline = time.monotonic() + 30
        while not _name_has_owner(address, "org.freedesktop.secrets"):
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise BedSetupError(f"gnome-keyring-daemon did not start:\n{_tail(log)}")
            time.sleep(0.05)

        os.environ["DBUS_SESSION_BUS_ADDRESS"] = address
        _redetect_keyring()
        backend = keyring.get_keyring()
        name = f"{type(backend).__module__}.{type(backend).__qualname__}"
        if type(backend).__module__ != "keyring.backends.SecretService":
            raise BedSetupError(f"keyring chose {name}, not the Secret Service")
        probe = f"probe-{os.getpid()}"
        keyring.set_password("modelbay-testbed", probe, "round-trip")
        if keyring.get_password("modelbay-testbed", probe) != "round-trip":
            raise BedSetupError("the Secret Service did not give back what was stored")
        keyring.delete_password("modelbay-testbed", probe)
        yield SecretService(bus_address=address, password=password, backend=name, home=home)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _stop(daemon)
        _stop(bus)
        with contextlib.suppress(Exception):
            _redetect_keyring()
        shutil.rmtree(base, ignore_errors=True)
