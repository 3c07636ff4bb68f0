"""The one error hierarchy: every error a user sees says what failed, why, and what to do.

Services raise these; the CLI prints ``error: <message>`` (and the hint) and
exits 1; the GUI shows the same words in a message. Anything else that escapes
is a bug and is reported as one.
"""

from __future__ import annotations


class ModelbayError(Exception):
    """An error a user can act on.

    ``message`` says what failed and why; ``hint`` (optional) says what to do.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class InvalidInputError(ModelbayError):
    """The user gave something unusable: a missing path, an empty file, a bad name."""


class NotFoundError(ModelbayError):
    """A model, version, alias or file that the user named does not exist."""


class ConflictError(ModelbayError):
    """The request contradicts the registry's state (e.g. archiving the production version)."""


class StoreError(ModelbayError):
    """The artifact store cannot read or write a file (disk full, permissions, corruption)."""


class RegistryError(ModelbayError):
    """The registry database cannot be opened, upgraded or written."""


class Cancelled(ModelbayError):
    """The user cancelled a long operation; whatever it had started was undone."""

    def __init__(self, message: str = "cancelled", *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
