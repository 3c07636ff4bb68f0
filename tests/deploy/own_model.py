"""A model that pickles a class of the user's own module: it does not load in its image."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def own_class_joblib(dest: Path, module: str = "mb_own_features") -> Path:
    """A pipeline that pickles a class of the user's own module (``module``, written
    next to it): it loads only where that module can be imported, so not in its image."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / f"{module}.py").write_text(
        "from sklearn.base import BaseEstimator, TransformerMixin\n"
        "class Ratio(BaseEstimator, TransformerMixin):\n"
        "    def fit(self, X, y=None):\n        return self\n"
        "    def transform(self, X):\n        return X\n"
    )
    path = dest / "own.joblib"
    subprocess.run(  # in its own process: the module must not stay imported here
        [
            sys.executable,
            "-c",
            "import sys, joblib; sys.path.insert(0, sys.argv[1]);"
            f"from {module} import Ratio;"
            "from sklearn.pipeline import make_pipeline;"
            "from sklearn.linear_model import LogisticRegression;"
            "from sklearn.datasets import load_iris;"
            "x, y = load_iris(return_X_y=True, as_frame=True);"
            "joblib.dump(make_pipeline(Ratio(), LogisticRegression(max_iter=500)).fit(x, y),"
            " sys.argv[2])",
            str(dest),
            str(path),
        ],
        check=True,
    )
    (dest / f"{module}.py").unlink()
    return path
