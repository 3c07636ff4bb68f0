"""Passwords and key passphrases, kept in the OS keyring and nowhere else.

Service name ``modelbay``; entries are named ``password:USER@ADDRESS:PORT`` and
``passphrase:/absolute/key/path``. Without a usable keyring backend nothing is
stored: the secret is asked every time, and callers can say so
(:attr:`SecretStore.problem`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

SERVICE = "modelbay"

SecretPrompt = Callable[[str], "str | None"]
"""Asks a person for a secret (``prompt`` text in, the secret or None to give up out)."""


_UNCHECKED = "\0unchecked"


class SecretStore:
    """A thin layer over :mod:`keyring` that never falls back to plain text.

    The keyring is looked at on first use: loading its backends takes tens of
    milliseconds, and most connections use a key that needs no secret."""

    def __init__(self, problem: str | None = _UNCHECKED) -> None:
        self._problem = problem

    @classmethod
    def open(cls) -> SecretStore:
        return cls()

    @property
    def problem(self) -> str | None:
        """Why secrets cannot be stored, when they cannot."""
        if self._problem == _UNCHECKED:
            self._problem = _keyring_problem()
        return self._problem

    @property
    def available(self) -> bool:
        return self.problem is None

    def get(self, entry: str) -> str | None:
        if not self.available:
            return None
        import keyring
        from keyring.errors import KeyringError

        try:
            return keyring.get_password(SERVICE, entry)
        except KeyringError:
            return None

    def set(self, entry: str, secret: str) -> bool:
        """Store ``secret``; False (nothing stored) when there is no keyring."""
        if not self.available:
            return False
        import keyring
        from keyring.errors import KeyringError

        try:
            keyring.set_password(SERVICE, entry, secret)
        except KeyringError:
            return False
        return True

    def delete(self, entry: str) -> None:
        if not self.available:
            return
        import keyring
        from keyring.errors import KeyringError, PasswordDeleteError

        with contextlib.suppress(PasswordDeleteError, KeyringError):
            keyring.delete_password(SERVICE, entry)


def _keyring_problem() -> str | None:
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
    except Exception as exc:  # noqa: BLE001 - any import/backend failure: no keyring
        return f"the OS keyring is not usable ({exc})"
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 1) <= 0:
        return (
            "no OS keyring is available (on Linux: GNOME Keyring or KWallet "
            "through the Secret Service), so secrets are asked every time and never stored"
        )
    return None


def password_entry(user: str, address: str, port: int) -> str:
    return f"password:{user}@{address}:{port}"


def passphrase_entry(key_path: str) -> str:
    return f"passphrase:{key_path}"
