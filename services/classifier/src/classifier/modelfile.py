"""A trained model kept as one joblib file: the heads' bundle (bundle.py), the reply-quality model
(replies.py) and the reactions labeller (reactions/model.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import joblib

Model = TypeVar("Model")


def save(model: object, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path, compress=3)


def load(path: Path, kind: type[Model], what: str) -> Model:
    """The model in `path`; ValueError ("<path> is not <what>") when the file holds something else."""
    model = joblib.load(path)
    if not isinstance(model, kind):
        raise ValueError(f"{path} is not {what}")
    return model
