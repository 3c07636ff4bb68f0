"""Pickle safety: which globals a pickle would import, and what that means.

The globals come from :mod:`app.formats.pickles` (which also sees past joblib's
raw arrays). Each is classified:

- **dangerous**: on picklescan's maintained list of globals that run code or
  touch the system (``os.system``, ``builtins.eval``, ``subprocess.*``, ...), or
  a global whose name the pickle computes at load time (an evasion technique);
- **allowed**: on Modelbay's allow-list of what real scikit-learn, XGBoost,
  LightGBM, CatBoost, NumPy, SciPy and PyTorch models reference;
- **suspicious**: anything else (not known to be harmful, not known to be needed).

The version's verdict is the worst of its files: ``dangerous`` > ``suspicious``
> ``safe``; ``unknown`` when a file could not be scanned. A dangerous version is
quarantined until a person approves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.formats.pickles import GlobalRef, PickleReport

SAFE = "safe"
SUSPICIOUS = "suspicious"
DANGEROUS = "dangerous"
UNKNOWN = "unknown"
_RANK = {SAFE: 0, UNKNOWN: 1, SUSPICIOUS: 2, DANGEROUS: 3}

# Module prefixes whose every global real models use (classes and their rebuild helpers).
_ALLOWED_PACKAGES = ("sklearn", "xgboost", "lightgbm", "catboost", "scipy.sparse")
# Individual globals, by module.
_ALLOWED_GLOBALS: dict[str, frozenset[str]] = {
    "numpy": frozenset({"dtype", "ndarray", "bool_", "float64", "float32", "int64", "int32"}),
    "numpy.core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "numpy._core.multiarray": frozenset({"_reconstruct", "scalar"}),
    # protocol 5 pickles rebuild arrays from their raw buffer
    "numpy.core.numeric": frozenset({"_frombuffer"}),
    "numpy._core.numeric": frozenset({"_frombuffer"}),
    "numpy.random._pickle": frozenset(
        {"__randomstate_ctor", "__generator_ctor", "__bit_generator_ctor"}
    ),
    "numpy.random.mtrand": frozenset({"RandomState"}),
    "numpy.random._mt19937": frozenset({"MT19937"}),
    "numpy.random._pcg64": frozenset({"PCG64"}),
    "joblib.numpy_pickle": frozenset({"NumpyArrayWrapper"}),
    "collections": frozenset({"OrderedDict", "defaultdict"}),
    "copyreg": frozenset({"_reconstructor"}),
    "copy_reg": frozenset({"_reconstructor"}),
    "_codecs": frozenset({"encode"}),
    "builtins": frozenset(
        {
            "object",
            "set",
            "frozenset",
            "slice",
            "complex",
            "bytearray",
            "int",
            "float",
            "str",
            "list",
            "dict",
            "tuple",
            "bool",
            "bytes",
        }
    ),
    "__builtin__": frozenset({"object", "set", "frozenset", "slice", "complex"}),
    "torch._utils": frozenset({"_rebuild_tensor_v2", "_rebuild_parameter", "_rebuild_tensor"}),
    "torch.jit._pickle": frozenset(
        {
            "build_intlist",
            "build_tensorlist",
            "build_doublelist",
            "build_boollist",
            "build_tensor_from_id",
            "restore_type_tag",
        }
    ),
    "torch": frozenset(
        {
            "Size",
            "device",
            "float32",
            "float16",
            "bfloat16",
            "float64",
            "int64",
            "int32",
            "int8",
            "uint8",
            "bool",
            "FloatStorage",
            "DoubleStorage",
            "HalfStorage",
            "BFloat16Storage",
            "LongStorage",
            "IntStorage",
            "ShortStorage",
            "CharStorage",
            "ByteStorage",
            "BoolStorage",
        }
    ),
}


@dataclass(frozen=True)
class Finding:
    path: str
    module: str
    name: str
    position: int
    severity: str
    why: str

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "global": f"{self.module}.{self.name}",
            "position": self.position,
            "severity": self.severity,
            "why": self.why,
        }


@dataclass
class SafetyReport:
    verdict: str = SAFE
    findings: list[Finding] = field(default_factory=list)
    scanned: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add_pickle(self, path: str, report: PickleReport) -> None:
        self.scanned.append(
            {
                "path": path,
                "pickles": report.pickles,
                "globals": len(report.globals),
                "joblib_arrays": report.joblib_arrays,
            }
        )
        seen: set[tuple[str, str]] = set()
        for ref in report.globals:
            key = (ref.module, ref.name)
            if key in seen:
                continue
            seen.add(key)
            severity, why = classify(ref)
            if severity != SAFE:
                self.findings.append(
                    Finding(path, ref.module, ref.name, ref.position, severity, why)
                )
                self.raise_to(severity)

    def raise_to(self, verdict: str) -> None:
        if _RANK[verdict] > _RANK[self.verdict]:
            self.verdict = verdict

    def to_json(self) -> dict[str, Any]:
        from importlib.metadata import version

        return {
            "verdict": self.verdict,
            "findings": [f.to_json() for f in self.findings],
            "scanned": self.scanned,
            "notes": self.notes,
            "scanner": f"modelbay pickle walker; dangerous globals from picklescan "
            f"{version('picklescan')}",
        }


def classify(ref: GlobalRef) -> tuple[str, str]:
    """(severity, why) of one global: safe (allowed), suspicious or dangerous."""
    if ref.module in {"unknown", "copyreg-extension"}:
        return DANGEROUS, "the pickle computes or encodes this import, a way to hide what it runs"
    if _picklescan_says_dangerous(ref.module, ref.name):
        return DANGEROUS, "loading the file would run this; it can execute code or touch the system"
    if _allowed(ref.module, ref.name):
        return SAFE, "used by real models"
    return SUSPICIOUS, "not known to be harmful, but not a global that known model libraries use"


def _allowed(module: str, name: str) -> bool:
    if any(module == p or module.startswith(p + ".") for p in _ALLOWED_PACKAGES):
        return True
    if module.startswith("__torch__."):
        # TorchScript classes: torch.jit.load resolves them only to code compiled from the
        # archive's own code/ folder in the restricted TorchScript language, never to Python.
        return True
    if module.startswith("torch.nn.modules.") or module == "torch.nn.parameter":
        return name[:1].isupper()  # layer classes, not functions
    return name in _ALLOWED_GLOBALS.get(module, frozenset())


def _picklescan_says_dangerous(module: str, name: str) -> bool:
    """picklescan's maintained deny-list, including its 'whole module is dangerous' entries."""
    from picklescan.scanner import _unsafe_globals

    entry = _unsafe_globals.get(module)
    if entry is None:
        parts = module.split(".")
        return any(_unsafe_globals.get(".".join(parts[:i])) == "*" for i in range(1, len(parts)))
    return bool(entry == "*" or name in entry)
