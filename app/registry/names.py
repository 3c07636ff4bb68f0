"""Names and references: what a model, alias or tag may be called, and how users point at versions.

References used by the CLI and the GUI::

    NAME            the newest version of NAME
    NAME:VERSION    that version (an integer), or NAME:latest
    NAME@ALIAS      the version the alias points at (e.g. iris@production)

So a name may hold spaces and any Unicode letters, but not ``:`` ``@`` ``/``
``\\`` or control characters. Names are stored NFC-normalised, so a name typed
on macOS (decomposed accents) finds the same model as one typed elsewhere.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

from app.errors import InvalidInputError

MAX_NAME = 200
MAX_TAG_KEY = 250
MAX_TAG_VALUE = 1000
_FORBIDDEN = frozenset(":@/\\")


def _problem(value: str, limit: int) -> str | None:
    if not value:
        return "it is empty"
    if value != value.strip():
        return "it starts or ends with whitespace"
    if len(value) > limit:
        return f"it is longer than {limit} characters"
    bad = sorted({c for c in value if c in _FORBIDDEN})
    if bad:
        return "it contains " + " ".join(repr(c) for c in bad)
    if any(unicodedata.category(c).startswith("C") for c in value):
        return "it contains control characters"
    return None


def check_name(value: str, *, what: str = "model name") -> str:
    """Return ``value`` NFC-normalised, or raise :class:`InvalidInputError` saying why not."""
    value = unicodedata.normalize("NFC", value)
    problem = _problem(value, MAX_NAME)
    if problem:
        raise InvalidInputError(
            f"{value!r} cannot be a {what}: {problem}",
            hint=f"a {what} may hold letters, digits, spaces and punctuation except : @ / \\",
        )
    return value


def derive_name(path: Path) -> str:
    """A model name from a file or folder name: ``churn_v2.joblib`` -> ``churn_v2``."""
    base = path.name if path.is_dir() else path.stem
    cleaned = "".join(
        "-" if c in _FORBIDDEN or unicodedata.category(c).startswith("C") else c
        for c in unicodedata.normalize("NFC", base)
    ).strip()
    if not cleaned or cleaned.startswith("."):
        cleaned = cleaned.lstrip(".") or "model"
    return check_name(cleaned[:MAX_NAME].strip())


def check_tag(key: str, value: str) -> tuple[str, str]:
    key = unicodedata.normalize("NFC", key)
    if "=" in key:
        raise InvalidInputError(f"tag key {key!r} cannot contain '='", hint="write KEY=VALUE")
    problem = _problem(key, MAX_TAG_KEY)
    if problem:
        raise InvalidInputError(f"{key!r} cannot be a tag key: {problem}")
    if len(value) > MAX_TAG_VALUE:
        raise InvalidInputError(
            f"the value of tag {key!r} is longer than {MAX_TAG_VALUE} characters",
            hint="put long text in the version's note instead",
        )
    if any(unicodedata.category(c) == "Cc" and c not in "\t" for c in value):
        raise InvalidInputError(f"the value of tag {key!r} contains control characters")
    return key, value


def parse_tag(text: str) -> tuple[str, str]:
    """``"KEY=VALUE"`` -> (key, value); the value may be empty and may contain ``=``."""
    key, sep, value = text.partition("=")
    if not sep:
        raise InvalidInputError(f"tag {text!r} is not KEY=VALUE", hint="e.g. --tag team=fraud")
    return check_tag(key.strip(), value)


@dataclass(frozen=True)
class VersionRef:
    """A parsed reference: exactly one of ``version`` or ``alias`` set, or neither for latest."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def parse_ref(text: str) -> VersionRef:
    """Parse ``NAME``, ``NAME:VERSION``, ``NAME:latest`` or ``NAME@ALIAS``."""
    if "@" in text:
        name, _, alias = text.rpartition("@")
        return VersionRef(check_name(name), alias=check_name(alias, what="alias"))
    if ":" in text:
        name, _, version = text.rpartition(":")
        if version == "latest":
            return VersionRef(check_name(name))
        if not version.isdigit() or int(version) < 1:
            raise InvalidInputError(
                f"{text!r}: {version!r} is not a version number",
                hint="write NAME:VERSION with a number (e.g. churn:3), NAME@ALIAS or NAME",
            )
        return VersionRef(check_name(name), version=int(version))
    return VersionRef(check_name(text))
