"""Demo models: a few small, real models to try Modelbay with, no files of your own needed.

:func:`create_demo` trains them on datasets that ship with scikit-learn (no
network), writes each model file and a reference dataset (the training
features, as CSV) into a folder, then registers the files through
:meth:`Registry.import_path`, so they go through the same recognition and
safety scan as any model a user drags in, and attaches each CSV as its
version's reference data through :meth:`Registry.attach_reference` (as
``modelbay reference`` does), so every demo version has a reference profile
to monitor drift against:

- ``iris-classifier``: a random forest saved with joblib; two versions (a
  shallow and a deep forest) with ``production`` -> 1 and ``staging`` -> 2;
- ``wine-quality``: a StandardScaler + LogisticRegression pipeline, pickled;
- ``diabetes-regressor``: a linear regression converted to ONNX (needs skl2onnx);
- ``breast-cancer-xgb``: an XGBoost classifier saved as XGBoost JSON (needs xgboost).

Each version is tagged with its task, dataset, test score (``accuracy`` or
``r2``: the registry has no metrics on import yet) and ``reference=<CSV file
name>`` (the file its reference data came from), plus ``demo=true`` so
``modelbay list --tag demo=true`` finds them all.

The installed app (an installer's frozen build) carries no scikit-learn: when
the installer is built, :func:`make_premade` trains the models once into a
folder that the app ships as :data:`PREMADE_DIR`, and :func:`create_demo` copies
those files (the reference CSVs too) instead of training. The files and what
is registered are the same either way; a source or pip installation has no
such folder and trains. Attaching a reference needs pandas only (the app has it).

scikit-learn and pandas are imported inside the functions that train, never
at module level: they take a second or more to load.
"""

from __future__ import annotations

import importlib
import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import ModelbayError, NotFoundError
from app.progress import NEVER_CANCELLED, CancelToken, ProgressCallback, no_progress

if TYPE_CHECKING:
    from app.config import Config
    from app.registry import Registry, VersionInfo

SEED = 0
TEST_SIZE = 0.25  # a quarter of each dataset is held out to score the model
ALREADY_THERE = "already in the registry"
PREMADE_DIR = Path(__file__).with_name("demo_files")
"""Demo files made when the installer was built (packaging/modelbay.spec calls
:func:`make_premade`); only the installed app has this folder."""
PREMADE_INDEX = "index.json"


def default_workdir(config: Config) -> Path:
    """Where ``modelbay demo`` writes its model files and reference CSVs: ``<data home>/demo``."""
    return config.home / "demo"


class DemoResult(list["VersionInfo"]):
    """What :func:`create_demo` returns: a plain list of versions, plus what it skipped.

    The list holds every version of every demo model in the registry after the
    run, model by model (in demo order), oldest version first, each read back
    after its aliases were set. ``skipped`` maps each model the run did not
    make to why: ``ALREADY_THERE`` (its versions are still in the list, as they
    were), or a missing library (then it has no versions in the list).
    """

    def __init__(self) -> None:
        super().__init__()
        self.skipped: dict[str, str] = {}


@dataclass(frozen=True)
class _Trained:
    """One model file the demo wrote, and what its version will say about it."""

    path: Path
    tags: Mapping[str, str]
    note: str

    @property
    def reference(self) -> Path | None:
        """The CSV of training features written beside the model file, if it has one."""
        name = self.tags.get("reference")
        return self.path.with_name(name) if name else None


@dataclass(frozen=True)
class _DemoModel:
    name: str
    description: str
    train: Callable[[Path], list[_Trained]]  # writes its files into the folder, in version order
    needs: tuple[str, ...] = ()  # optional libraries: the model is skipped when one won't import
    aliases: Mapping[str, int] = field(default_factory=dict)  # alias -> index into train()'s list


# ---------------------------------------------------------------------- the models
def _split(data: Any, *, stratify: bool) -> tuple[Any, Any, Any, Any]:
    """A fixed train/test split of a scikit-learn ``Bunch`` loaded with ``as_frame=True``."""
    from sklearn.model_selection import train_test_split

    parts = train_test_split(
        data.data,
        data.target,
        test_size=TEST_SIZE,
        random_state=SEED,
        stratify=data.target if stratify else None,
    )
    return parts[0], parts[1], parts[2], parts[3]


def _write_reference(features: Any, path: Path) -> str:
    """Write the training features as CSV (named columns, no index); return the file name."""
    features.to_csv(path, index=False)
    return path.name


def _tags(task: str, dataset: str, score_name: str, score: float, reference: str) -> dict[str, str]:
    return {
        "demo": "true",
        "task": task,
        "dataset": dataset,
        score_name: f"{score:.2f}",
        "reference": reference,
    }


def _train_iris(folder: Path) -> list[_Trained]:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    x_train, x_test, y_train, y_test = _split(load_iris(as_frame=True), stratify=True)
    reference = _write_reference(x_train, folder / "iris-reference.csv")
    made = []
    for number, depth in ((1, 3), (2, None)):
        model = RandomForestClassifier(n_estimators=50, max_depth=depth, random_state=SEED)
        model.fit(x_train, y_train)  # a DataFrame: the model records the feature names
        accuracy = float(model.score(x_test, y_test))
        path = folder / f"iris-classifier-v{number}.joblib"
        joblib.dump(model, path)
        made.append(
            _Trained(
                path,
                _tags("classification", "iris", "accuracy", accuracy, reference),
                f"RandomForestClassifier(n_estimators=50, max_depth={depth}, random_state={SEED})"
                f" trained on {len(x_train)} rows of scikit-learn's iris dataset; "
                f"test accuracy {accuracy:.3f} on {len(x_test)} held-out rows. "
                f"Reference data: {reference}.",
            )
        )
    return made


def _train_wine(folder: Path) -> list[_Trained]:
    import pickle

    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, x_test, y_train, y_test = _split(load_wine(as_frame=True), stratify=True)
    reference = _write_reference(x_train, folder / "wine-reference.csv")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_train, y_train)
    accuracy = float(model.score(x_test, y_test))
    path = folder / "wine-quality.pkl"
    path.write_bytes(pickle.dumps(model, protocol=5))
    return [
        _Trained(
            path,
            _tags("classification", "wine", "accuracy", accuracy, reference),
            "StandardScaler + LogisticRegression pipeline trained on "
            f"{len(x_train)} rows of scikit-learn's wine dataset, pickled (protocol 5); "
            f"test accuracy {accuracy:.3f} on {len(x_test)} held-out rows. "
            f"Reference data: {reference}.",
        )
    ]


def _train_diabetes(folder: Path) -> list[_Trained]:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression

    # Unscaled: the reference data shows real ages, BMIs and blood pressures.
    x_train, x_test, y_train, y_test = _split(
        load_diabetes(as_frame=True, scaled=False), stratify=False
    )
    reference = _write_reference(x_train, folder / "diabetes-reference.csv")
    model = LinearRegression().fit(x_train, y_train)
    r2 = float(model.score(x_test, y_test))
    onnx_model = convert_sklearn(
        model,
        name="diabetes-regressor",  # the graph name (skl2onnx would pick a random one)
        initial_types=[("input", FloatTensorType([None, x_train.shape[1]]))],
        target_opset={"": 17, "ai.onnx.ml": 3},  # pinned: the same file whatever onnx is installed
    )
    path = folder / "diabetes-regressor.onnx"
    path.write_bytes(onnx_model.SerializeToString())
    columns = ", ".join(x_train.columns)
    return [
        _Trained(
            path,
            _tags("regression", "diabetes", "r2", r2, reference),
            f"LinearRegression trained on {len(x_train)} rows of scikit-learn's diabetes "
            f"dataset, converted to ONNX with skl2onnx; test R² {r2:.3f} on {len(x_test)} "
            f"held-out rows. One float input named 'input', shape [N, {x_train.shape[1]}], "
            f"columns in the order of {reference}: {columns}.",
        )
    ]


def _train_breast_cancer(folder: Path) -> list[_Trained]:
    from sklearn.datasets import load_breast_cancer
    from xgboost import XGBClassifier

    x_train, x_test, y_train, y_test = _split(load_breast_cancer(as_frame=True), stratify=True)
    reference = _write_reference(x_train, folder / "breast-cancer-reference.csv")
    model = XGBClassifier(
        n_estimators=50,
        max_depth=3,
        learning_rate=0.1,
        random_state=SEED,
        n_jobs=1,
        tree_method="hist",
    )
    model.fit(x_train, y_train)  # a DataFrame: the booster records the feature names
    accuracy = float(model.score(x_test, y_test))
    path = folder / "breast-cancer-xgb.json"
    model.get_booster().save_model(str(path))
    return [
        _Trained(
            path,
            _tags("classification", "breast_cancer", "accuracy", accuracy, reference),
            "XGBClassifier(n_estimators=50, max_depth=3, learning_rate=0.1) trained on "
            f"{len(x_train)} rows of scikit-learn's breast cancer dataset, booster saved as "
            "XGBoost JSON; "
            f"test accuracy {accuracy:.3f} on {len(x_test)} held-out rows. "
            f"Reference data: {reference}.",
        )
    ]


DEMO_MODELS: tuple[_DemoModel, ...] = (
    _DemoModel(
        "iris-classifier",
        "Demo: predicts the species of an iris flower (setosa, versicolor or virginica) from "
        "four measurements of its petals and sepals. A scikit-learn random forest saved with "
        "joblib; version 1 is shallow (max_depth=3), version 2 grows full trees.",
        _train_iris,
        aliases={"production": 0, "staging": 1},
    ),
    _DemoModel(
        "wine-quality",
        "Demo: tells which of three cultivars a wine comes from, from 13 chemical "
        "measurements. A scikit-learn pipeline (StandardScaler + LogisticRegression), pickled.",
        _train_wine,
    ),
    _DemoModel(
        "diabetes-regressor",
        "Demo: predicts disease progression one year on from ten baseline measurements "
        "(age, sex, BMI, blood pressure, six blood serum values). A linear regression "
        "converted to ONNX.",
        _train_diabetes,
        needs=("skl2onnx",),
    ),
    _DemoModel(
        "breast-cancer-xgb",
        "Demo: classifies a breast tumour as malignant or benign from 30 measurements of "
        "its cell nuclei. An XGBoost classifier saved as XGBoost JSON.",
        _train_breast_cancer,
        needs=("xgboost",),
    ),
)
MODEL_NAMES: tuple[str, ...] = tuple(m.name for m in DEMO_MODELS)


# ---------------------------------------------------------------------- making them
def create_demo(
    registry: Registry,
    workdir: Path,
    *,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    premade: Path = PREMADE_DIR,
) -> DemoResult:
    """Train the demo models, write them into ``workdir`` and register them in ``registry``.

    Returns the demo's versions (a :class:`DemoResult`, which is a list of
    :class:`VersionInfo`) and, in ``result.skipped``, the models it did not make
    and why. Progress is reported per model: ``progress(i, n, "training NAME")``
    before model ``i`` of ``n`` (counting from 0), ``progress(n, n, "done")`` at the end.

    When ``premade`` is a folder written by :func:`make_premade` (the installed
    app's :data:`PREMADE_DIR`), the models are copied from it instead of trained
    (``"copying NAME"``), and a model it lacks is skipped with the reason it was
    not made; scikit-learn and pandas are then never needed.

    Running it again is safe and adds nothing: a model whose name is already
    in the registry is skipped (whatever versions it holds, even a user's own
    model of that name), so the demo never stacks duplicate versions on top of
    the first run or of a user's changes. Its current versions are returned,
    and ``result.skipped[name]`` is ``ALREADY_THERE``. A model whose optional
    library (skl2onnx, xgboost) does not import is skipped with that reason.

    ``cancel`` is checked before each model and after its training, never in
    the middle of registering one, so cancelling never leaves a model half made
    (say iris version 1 without version 2 and the aliases): a cancelled run
    raises :class:`app.errors.Cancelled` and keeps the models it finished.

    Raises :class:`ModelbayError` when a model must be trained and scikit-learn
    or pandas is not installed (checked before the first training, so a run
    that fails for it registers nothing).
    """
    cancel.raise_if_cancelled()
    workdir = Path(workdir)
    made_ahead = _Premade.read(premade)
    result = DemoResult()
    total = len(DEMO_MODELS)
    for step, model in enumerate(DEMO_MODELS):
        cancel.raise_if_cancelled()
        existing = _versions(registry, model.name)
        if existing:
            progress(step, total, f"{model.name} is {ALREADY_THERE}: skipped")
            result.skipped[model.name] = ALREADY_THERE
            result.extend(existing)
            continue
        if made_ahead is not None:
            missing = made_ahead.missing(model.name)
        else:
            missing = next((why for lib in model.needs if (why := _unavailable(lib))), None)
        if missing:
            progress(step, total, f"skipped {model.name}: {missing}")
            result.skipped[model.name] = missing
            continue
        try:
            if made_ahead is not None:
                progress(step, total, f"copying {model.name}")
                trained = made_ahead.copy(model.name, _folder(workdir))
            else:
                # Checked here, not up front: a rerun that trains nothing never loads them.
                _require("sklearn", "pandas")
                progress(step, total, f"training {model.name}")
                trained = model.train(_folder(workdir))
        except OSError as exc:
            raise ModelbayError(
                f"cannot write the {model.name} demo files into {workdir}: {exc.strerror or exc}",
                hint="free some disk space or choose another data home (MODELBAY_HOME)",
            ) from exc
        cancel.raise_if_cancelled()
        progress(step, total, f"registering {model.name}")
        made = [
            registry.import_path(item.path, name=model.name, tags=item.tags, note=item.note)
            for item in trained
        ]
        registry.set_description(model.name, model.description)
        for alias, index in model.aliases.items():
            registry.set_alias(model.name, alias, made[index].version)
        for item, info in zip(trained, made, strict=True):
            if item.reference is not None:
                registry.attach_reference(info.ref, item.reference)
        result.extend(_versions(registry, model.name))
    progress(total, total, "done")
    return result


def make_premade(folder: Path) -> dict[str, str]:
    """Train every demo model this environment can make into ``folder``, with an index of them.

    For installers: their frozen app ships ``folder`` as :data:`PREMADE_DIR` and
    leaves scikit-learn out. Returns the models not made and why (an optional
    library that does not import); the installed app's demo skips them with that
    reason. Raises :class:`ModelbayError` without scikit-learn or pandas.
    """
    _require("sklearn", "pandas")
    folder = _folder(Path(folder))
    made: dict[str, list[dict[str, Any]]] = {}
    skipped: dict[str, str] = {}
    for model in DEMO_MODELS:
        missing = next((why for lib in model.needs if (why := _unavailable(lib))), None)
        if missing:
            skipped[model.name] = f"not made when this Modelbay was built ({missing})"
            continue
        made[model.name] = [
            {"file": item.path.name, "tags": dict(item.tags), "note": item.note}
            for item in model.train(folder)
        ]
    index = {"models": made, "skipped": skipped}
    (folder / PREMADE_INDEX).write_text(json.dumps(index, indent=1), encoding="utf-8")
    return skipped


@dataclass(frozen=True)
class _Premade:
    """A folder written by :func:`make_premade`, read back."""

    folder: Path
    models: Mapping[str, list[dict[str, Any]]]
    skipped: Mapping[str, str]

    @classmethod
    def read(cls, folder: Path) -> _Premade | None:
        """The folder's index, or None when there is no such folder (then the demo trains)."""
        index = folder / PREMADE_INDEX
        if not index.is_file():
            return None
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
            return cls(folder, dict(data["models"]), dict(data["skipped"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelbayError(
                f"the demo files that came with Modelbay ({folder}) are damaged: {exc}",
                hint="reinstall Modelbay",
            ) from exc

    def missing(self, name: str) -> str | None:
        """Why ``name`` was not made when the installer was built, or None when it was."""
        if name in self.models:
            return None
        return self.skipped.get(name, "not made when this Modelbay was built")

    def copy(self, name: str, workdir: Path) -> list[_Trained]:
        """Copy ``name``'s model files and reference CSV into ``workdir``, in version order."""
        copied = []
        for item in self.models[name]:
            tags = dict(item["tags"])
            for file in (item["file"], tags.get("reference")):
                if file:
                    shutil.copyfile(self.folder / file, workdir / file)
            copied.append(_Trained(workdir / item["file"], tags, str(item["note"])))
        return copied


def _versions(registry: Registry, name: str) -> list[VersionInfo]:
    """Every version of ``name``, oldest first; empty when there is no such model."""
    try:
        return registry.versions_of(name, with_files=True)[::-1]
    except NotFoundError:
        return []


def _folder(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir


def _require(*modules: str) -> None:
    problems = [why for module in modules if (why := _unavailable(module))]
    if problems:
        raise ModelbayError(
            "the demo trains its models with scikit-learn and pandas: " + "; ".join(problems),
            hint="install them (pip install scikit-learn pandas) and run `modelbay demo` again",
        )


def _unavailable(module: str) -> str | None:
    """Why ``module`` cannot be used, or None when it imports."""
    try:
        importlib.import_module(module)
    except ImportError:
        return f"{module} is not installed"
    except Exception as exc:  # noqa: BLE001 - installed but broken (e.g. a missing libgomp)
        return f"{module} is installed but does not load ({type(exc).__name__}: {exc})"
    return None
