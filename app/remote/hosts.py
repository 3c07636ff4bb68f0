"""Adding, trusting and checking hosts: the part of ``modelbay host`` beyond the registry."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import InvalidInputError, ModelbayError

from .docker_remote import RemoteDockerError, check_docker
from .secrets import SecretPrompt, SecretStore
from .ssh import (
    AuthFailed,
    HostKeyChanged,
    UnknownHostKey,
    connect,
    fetch_host_key,
)

if TYPE_CHECKING:
    from app.registry import HostInfo, Registry

_TARGET = re.compile(r"^(?:(?P<user>[^@\s]+)@)?(?P<host>\[[^\]]+\]|[^:\s@]+)(?::(?P<port>\d+))?$")


class FingerprintMismatch(InvalidInputError):
    """The fingerprint a person gave to trust is not the one the host shows."""

    def __init__(self, host: str, shown: str, given: str) -> None:
        super().__init__(
            f"the host {host} shows {shown}, not the fingerprint you gave ({given})",
            hint="check you copied the fingerprint of this host's key (ssh-keygen -lf "
            "/etc/ssh/ssh_host_*_key.pub on the host); if you did, do not trust it: someone "
            "may be between you and the host",
        )
        self.host, self.shown, self.given = host, shown, given


def parse_ssh_target(text: str) -> tuple[str | None, str, int | None]:
    """``[USER@]HOST[:PORT]`` (an IPv6 address in brackets) -> (user, host, port)."""
    match = _TARGET.match(text.strip())
    if match is None:
        raise InvalidInputError(
            f"{text!r} is not an SSH address",
            hint="write it as [USER@]HOST[:PORT], e.g. deploy@gpu-1.example.com:2222",
        )
    port = int(match["port"]) if match["port"] else None
    if port is not None and not 0 < port < 65536:
        raise InvalidInputError(f"port {port} is out of range", hint="ports go from 1 to 65535")
    return match["user"], match["host"].strip("[]"), port


def check_identity_file(text: str | None) -> str | None:
    """The private key file to log in with, as given, if it is one (``None``: none given).

    Checked when the host is added, not at the first connection: a typo there would
    otherwise surface much later as a refused login.
    """
    if text is None or not text.strip():
        return None
    given = text.strip()
    path = Path(given).expanduser()
    hint = "give the private key file (e.g. ~/.ssh/id_ed25519)"
    if not path.exists():
        raise InvalidInputError(f"{given} does not exist", hint=hint)
    if path.is_dir():
        raise InvalidInputError(f"{given} is a folder, not a key file", hint=hint)
    if path.suffix == ".pub":
        raise InvalidInputError(
            f"{given} is a public key",
            hint=f"give the private key file next to it ({given.removesuffix('.pub')})",
        )
    if not Path(given).is_absolute() and not given.startswith("~"):
        return str(path.absolute())  # a relative path would depend on where Modelbay runs
    return given


def trust_host(
    registry: Registry,
    name: str,
    *,
    fingerprint: str | None = None,
    confirm: Callable[[str, str], bool] | None = None,
) -> HostInfo:
    """Pin the key ``name`` shows now, if it is the one a person expects.

    With ``fingerprint``, the key is trusted only if it matches. Without it,
    ``confirm(key_type, fingerprint)`` must say yes (a dialog, a terminal
    question); with neither, nothing is trusted and the fingerprint is reported.
    """
    host = registry.get_host(name)
    key_type, key, shown = fetch_host_key(host)
    if fingerprint is not None:
        given = fingerprint.strip()
        if given != shown:
            if host.host_key is not None and host.host_key_fingerprint != shown:
                # the pinned key really changed: that is the news, not the typed fingerprint
                raise HostKeyChanged(name, str(host.host_key_fingerprint), shown, key_type, key)
            raise FingerprintMismatch(name, shown, given)
    elif confirm is None or not confirm(key_type, shown):
        raise UnknownHostKey(name, key_type, key, shown)
    return registry.pin_host_key(name, key_type, key, shown)


def check_host(
    registry: Registry,
    name: str,
    *,
    secrets: SecretStore | None = None,
    prompt: SecretPrompt | None = None,
) -> dict[str, Any]:
    """Reachable? Host key as trusted? Login works? Docker's version and free disk.

    Every outcome is a result (recorded on the host), not an exception: the
    first step that failed says why in ``error`` and what to do in ``hint``.
    """
    host = registry.get_host(name)
    started = time.monotonic()
    result: dict[str, Any] = {
        "name": name,
        "ssh": host.ssh_target,
        "reachable": False,
        "host_key": "trusted" if host.host_key else "unknown",
        "authenticated": False,
        "docker_version": None,
        "free_bytes": None,
        "ok": False,
        "error": None,
        "hint": None,
    }
    try:
        with connect(host, secrets=secrets, prompt=prompt) as session:
            result.update(reachable=True, authenticated=True)
            docker = check_docker(session)
            result.update(
                docker_version=docker.version,
                api_version=docker.api_version,
                docker_root=docker.root_dir,
                free_bytes=docker.free_bytes,
                ok=True,
            )
    except (UnknownHostKey, HostKeyChanged) as exc:
        result.update(
            reachable=True,
            host_key="unknown" if isinstance(exc, UnknownHostKey) else "changed",
            shown_fingerprint=exc.fingerprint if isinstance(exc, UnknownHostKey) else exc.actual,
        )
        _failed(result, exc)
    except (AuthFailed, RemoteDockerError) as exc:
        result.update(reachable=True, authenticated=isinstance(exc, RemoteDockerError))
        _failed(result, exc)
    except ModelbayError as exc:  # HostUnreachable and the rest
        _failed(result, exc)
    result["seconds"] = round(time.monotonic() - started, 3)
    result["at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    registry.record_host_check(name, result)
    return result


def _failed(result: dict[str, Any], exc: ModelbayError) -> None:
    result.update(ok=False, error=exc.message, hint=exc.hint)
