"""Errors the runtime answers with a 4xx and a message naming the problem."""

from __future__ import annotations


class BadInput(Exception):
    """The request is malformed or does not fit the model's signature (HTTP 400)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class CannotServe(Exception):
    """The model folder cannot be served (unknown format, missing file, bad metadata)."""
