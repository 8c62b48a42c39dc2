"""What `train` produces and the service loads: the linear heads and the TF-IDF blocks in one
joblib file (`ModelBundle`), and the word-level text both training and classification read.

The active model file was pickled when these classes lived in `classifier.model`: that module imports
them, so older files keep loading (new files name this module).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from classifier import modelfile
from classifier.rules.matching import RuleHits
from classifier.text import Doc
from classifier.tfidf import Row, TfidfBlock

BUNDLE_FORMAT = 2  # 2: plain TF-IDF blocks, so loading a model never imports scikit-learn (~1.3 s)


@dataclass
class LinearHead:
    """A trained linear classifier: scores = X·Wᵀ + b; softmax (or sigmoid for two classes)."""

    classes: list[str]
    coef: Any  # float32 ndarray (n_classes or 1, n_features), or a pruned sparse matrix for many classes
    intercept: np.ndarray

    def scores(self, features: sparse.csr_matrix) -> np.ndarray:
        product = features @ self.coef.T
        return self.activate((product.toarray() if sparse.issparse(product) else product) + self.intercept)

    def activate(self, raw: np.ndarray) -> np.ndarray:
        """Probabilities from raw scores (rows: posts)."""
        if self.coef.shape[0] == 1:
            positive = 1.0 / (1.0 + np.exp(-raw[:, 0]))
            return np.column_stack([1.0 - positive, positive])
        raw = raw - raw.max(axis=1, keepdims=True)
        exp = np.exp(raw)
        probabilities: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
        return probabilities

    def evidence(self, row: Row, label_index: int, names: np.ndarray, n_words: int, limit: int = 5) -> list[str]:
        """The lemma features that pushed hardest towards the label (character n-grams explain poorly)."""
        indices, data = row
        mask = indices < n_words
        columns = indices[mask]
        if not len(columns):
            return []
        values = data[mask]
        if self.coef.shape[0] == 1:
            weights = self.coef[0, columns] * (1.0 if label_index == 1 else -1.0)
        elif sparse.issparse(self.coef):
            weights = self.coef[label_index].toarray()[0][columns]
        else:
            weights = self.coef[label_index, columns]
        contributions = weights * values
        if len(contributions) > limit:
            top = np.argpartition(-contributions, limit)[:limit]
        else:
            top = np.arange(len(contributions))
        top = top[np.argsort(-contributions[top])]
        return [str(names[columns[k]])[2:] for k in top if contributions[k] > 0]


@dataclass
class ModelBundle:
    """Everything `train` produces; saved with joblib as one file."""

    version: str
    created_at: str
    word_block: TfidfBlock
    char_block: TfidfBlock
    heads: dict[str, LinearHead]
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    format: int = BUNDLE_FORMAT

    def save(self, path: Path) -> None:
        modelfile.save(self, path)

    @staticmethod
    def load(path: Path) -> ModelBundle:
        what = f"a classifier model bundle of format {BUNDLE_FORMAT}"
        bundle = modelfile.load(path, ModelBundle, what)
        if bundle.format != BUNDLE_FORMAT:
            raise ValueError(f"{path} is not {what}")
        return bundle


def features_text(doc: Doc, hits: RuleHits) -> str:
    """The word-level view the model reads: lemmas plus the rules' marker tokens."""
    return doc.lemma_text + (" " + " ".join(hits.markers) if hits.markers else "")


def default_model_path() -> Path:
    return Path(str(resources.files("classifier").joinpath("data/model.joblib")))


def corpus_fingerprint(rows: list[dict[str, Any]]) -> str:
    """A short hash of the training rows, texts and labels, for the model version."""
    digest = hashlib.sha256()
    for row in rows:
        labels = (
            row.get("is_incident"),
            row.get("category"),
            row.get("urgency"),
            row.get("sentiment"),
            row.get("region_code"),
        )  # noqa: E501
        digest.update(f"{row.get('text')}\x1f{labels}\x1e".encode())
    return digest.hexdigest()[:8]
