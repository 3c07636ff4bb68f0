"""Model formats and safety: what a file is, what it declares, and whether it would run code.

``inspect_files`` is the entry point. It never loads a model; see
:mod:`app.formats.recognise` for how each format is told apart and
:mod:`app.formats.safety` for the pickle verdicts.
"""

from app.formats.recognise import Inspection, inspect_files
from app.formats.safety import DANGEROUS, SAFE, SUSPICIOUS, UNKNOWN, Finding, SafetyReport

__all__ = [
    "DANGEROUS",
    "SAFE",
    "SUSPICIOUS",
    "UNKNOWN",
    "Finding",
    "Inspection",
    "SafetyReport",
    "inspect_files",
]
