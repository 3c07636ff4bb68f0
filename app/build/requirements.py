"""What an image installs for a version: the runtime's needs plus the model's framework.

Framework versions are pinned to what the model was made with when its files
record it (the scikit-learn version inside a pickle, the XGBoost version in a
saved booster, an MLflow model's requirements.txt); otherwise a documented
default from :data:`DEFAULT_VERSIONS` is used and the build says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from app.errors import InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.registry import VersionInfo

# Defaults when a model's files do not say which release made them: the releases the
# test suite builds and serves real models with (docs/images.md lists them too).
DEFAULT_VERSIONS = {
    "scikit-learn": "1.9.1",
    "joblib": "1.6.0",
    "onnxruntime": "1.32.0",
    "xgboost": "3.2.0",
    "lightgbm": "4.7.0",
    "cloudpickle": "3.1.3",
    "lz4": "4.4.5",
}

# Package that provides each framework the registry names (Inspection.framework).
_PACKAGE_OF_FRAMEWORK = {"sklearn": "scikit-learn", "xgboost": "xgboost", "lightgbm": "lightgbm"}
# Packages of an MLflow model's requirements.txt that the runtime uses to load it.
_MLFLOW_LOADERS = {"scikit-learn", "xgboost", "lightgbm", "onnxruntime", "onnx", "cloudpickle"}
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*?)\s*$")


@dataclass(frozen=True)
class Requirement:
    """One line for pip, with where its version came from (shown to the user)."""

    name: str
    spec: str  # "==1.9.1", ">=0.37", or "" for any
    source: str  # "runtime", "recorded in the model", "MLflow requirements.txt", the default

    @property
    def line(self) -> str:
        return f"{self.name}{self.spec}"

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "spec": self.spec, "source": self.source}


def runtime_requirements() -> list[Requirement]:
    """The serving runtime's own list (app/serving/requirements.txt), as it ships."""
    text = resources.files("app.serving").joinpath("requirements.txt").read_text(encoding="utf-8")
    from packaging.requirements import Requirement as Parsed

    result = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            parsed = Parsed(line)
            extras = f"[{','.join(sorted(parsed.extras))}]" if parsed.extras else ""
            result.append(Requirement(parsed.name + extras, str(parsed.specifier), "runtime"))
    return result


def model_requirements(info: VersionInfo) -> list[Requirement]:
    """The packages that load ``info``'s files in the image, pinned where the files say."""
    wanted: dict[str, Requirement] = {}

    def pin(package: str, version: str | None, source: str) -> None:
        if version:
            wanted[package] = Requirement(package, f"=={version}", source)
        elif package not in wanted:
            wanted[package] = Requirement(
                package,
                f"=={DEFAULT_VERSIONS[package]}",
                "Modelbay's default: the model does not say",
            )

    if info.format in {"pickle", "joblib"}:
        _pickle_requirements(info, pin)
        if not wanted:
            raise InvalidInputError(
                f"{info.ref} is a {info.format} file of {info.framework}, and Modelbay cannot "
                "tell which library its objects need",
                hint="the runtime serves scikit-learn, XGBoost and LightGBM objects; save the "
                "model with one of them, or as ONNX",
            )
    elif info.format == "onnx":
        pin("onnxruntime", None, "")
    elif info.format in {"xgboost-json", "xgboost-ubj"}:
        pin("xgboost", info.framework_version, "recorded in the model")
    elif info.format == "lightgbm":
        pin("lightgbm", None, "")
    elif info.format == "mlflow":
        _mlflow_requirements(info, pin)
    else:
        raise InvalidInputError(
            f"{info.ref} is in the {info.format} format, which the image cannot serve",
            hint="build images of scikit-learn, ONNX, XGBoost, LightGBM or MLflow models",
        )
    return sorted(wanted.values(), key=lambda r: r.name)


def _pickle_requirements(info: VersionInfo, pin: Callable[[str, str | None, str], None]) -> None:
    details = info.details or {}
    libraries = set(details.get("libraries") or [])
    if info.framework in _PACKAGE_OF_FRAMEWORK:
        libraries.add(info.framework)
    if "sklearn" in libraries:
        pin("scikit-learn", details.get("sklearn_version"), "recorded in the model")
    for library in ("xgboost", "lightgbm"):
        if library in libraries:
            recorded = info.framework_version if info.framework == library else None
            pin(library, recorded, "recorded in the model")
    if info.format == "joblib":
        pin("joblib", None, "")
    if details.get("compression") == "lz4":
        pin("lz4", None, "")


def _mlflow_requirements(info: VersionInfo, pin: Callable[[str, str | None, str], None]) -> None:
    details = info.details or {}
    recorded: dict[str, str] = {}
    for line in details.get("requirements") or []:
        match = _REQUIREMENT.match(str(line))
        if match is None:
            continue
        name = match.group(1).lower().replace("_", "-")
        exact = re.fullmatch(r"==\s*([A-Za-z0-9.+!-]+)", match.group(2).split(";")[0].strip())
        if name in _MLFLOW_LOADERS:
            recorded[name] = exact.group(1) if exact else ""
    package = _PACKAGE_OF_FRAMEWORK.get(info.framework) or (
        "onnxruntime" if info.framework == "onnx" else None
    )
    if package is None:
        raise InvalidInputError(
            f"{info.ref} is an MLflow model of flavor {info.framework}, which the runtime "
            "cannot load without MLflow",
            hint="the runtime serves MLflow models with a sklearn, xgboost, lightgbm or onnx "
            "flavor",
        )
    if package == "onnxruntime":
        pin("onnxruntime", None, "")
    else:
        version = recorded.get(package) or info.framework_version
        pin(package, version, "MLflow requirements.txt" if recorded.get(package) else "MLmodel")
    if "cloudpickle" in recorded:
        pin("cloudpickle", recorded["cloudpickle"] or None, "MLflow requirements.txt")
