"""The trained model: TF-IDF features over lemma n-grams and character n-grams, one linear head per
field (scikit-learn logistic regression, coefficients kept as float32 arrays), rules, gazetteer.

`Classifier.classify_batch` is the one code path used by the NATS consumer, the HTTP API, the CLI
and the benchmark.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import yaml
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from classifier.gazetteer import Gazetteer, default_gazetteer
from classifier.rules import RuleHits, apply_rules
from classifier.text import Doc, analyze
from incidents_common.events import Classification, LabelResult, RegionResult

log = logging.getLogger("classifier.model")

BUNDLE_FORMAT = 1
CRITICAL_SHIFT = 2.5
ADVERT_SHIFT = 1.5
FIELDS = ("incident", "category", "urgency", "sentiment", "region")


@dataclass(slots=True)
class PostInput:
    """What a classification needs: the text and what the source says about place."""

    text: str
    place_hint: str | None = None
    hint_region: str | None = None
    hint_city: str | None = None


@dataclass
class LinearHead:
    """A trained linear classifier: scores = X·Wᵀ + b; softmax (or sigmoid for two classes)."""

    classes: list[str]
    coef: Any  # float32 ndarray (n_classes or 1, n_features), or a pruned sparse matrix for many classes
    intercept: np.ndarray

    def scores(self, features: sparse.csr_matrix) -> np.ndarray:
        product = features @ self.coef.T
        raw = (product.toarray() if sparse.issparse(product) else product) + self.intercept
        if self.coef.shape[0] == 1:
            positive = 1.0 / (1.0 + np.exp(-raw[:, 0]))
            return np.column_stack([1.0 - positive, positive])
        raw = raw - raw.max(axis=1, keepdims=True)
        exp = np.exp(raw)
        return exp / exp.sum(axis=1, keepdims=True)

    def evidence(self, row: sparse.csr_matrix, label_index: int, names: np.ndarray, limit: int = 5) -> list[str]:
        if self.coef.shape[0] == 1:
            weights = self.coef[0, row.indices] * (1.0 if label_index == 1 else -1.0)
        elif sparse.issparse(self.coef):
            weights = self.coef[label_index].toarray()[0][row.indices]
        else:
            weights = self.coef[label_index, row.indices]
        contributions = weights * row.data
        order = np.argsort(-contributions)
        words: list[str] = []
        for position in order:
            if contributions[position] <= 0:
                break
            name = str(names[row.indices[position]])
            if name.startswith("c:"):
                continue  # character n-grams explain poorly; lemma features are readable
            words.append(name[2:])
            if len(words) >= limit:
                break
        return words


@dataclass
class ModelBundle:
    """Everything `train` produces; saved with joblib as one file."""

    version: str
    created_at: str
    word_vectorizer: TfidfVectorizer
    char_vectorizer: TfidfVectorizer
    heads: dict[str, LinearHead]
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    format: int = BUNDLE_FORMAT

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, path, compress=3)

    @staticmethod
    def load(path: Path) -> ModelBundle:
        bundle = joblib.load(path)
        if not isinstance(bundle, ModelBundle) or bundle.format != BUNDLE_FORMAT:
            raise ValueError(f"{path} is not a classifier model bundle of format {BUNDLE_FORMAT}")
        return bundle


def features_text(doc: Doc, hits: RuleHits) -> str:
    """The word-level view the model reads: lemmas plus the rules' marker tokens."""
    return doc.lemma_text + (" " + " ".join(hits.markers) if hits.markers else "")


def load_taxonomy() -> dict[str, Any]:
    text = resources.files("classifier").joinpath("data/taxonomy.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text))


def default_model_path() -> Path:
    return Path(str(resources.files("classifier").joinpath("data/model.joblib")))


class Classifier:
    def __init__(self, bundle: ModelBundle, gazetteer: Gazetteer | None = None) -> None:
        self.bundle = bundle
        self.version = bundle.version
        self.gazetteer = gazetteer or default_gazetteer()
        self.names = np.concatenate(
            [
                np.array(["w:" + n for n in bundle.word_vectorizer.get_feature_names_out()], dtype=object),
                np.array(["c:" + n for n in bundle.char_vectorizer.get_feature_names_out()], dtype=object),
            ]
        )
        self.taxonomy = load_taxonomy()

    @classmethod
    def load(cls, path: Path | None = None) -> Classifier:
        return cls(ModelBundle.load(path or default_model_path()))

    def features(self, docs: list[Doc], hits: list[RuleHits]) -> sparse.csr_matrix:
        words = self.bundle.word_vectorizer.transform([features_text(d, h) for d, h in zip(docs, hits, strict=True)])
        chars = self.bundle.char_vectorizer.transform([d.normalized for d in docs])
        return sparse.hstack([words, chars], format="csr", dtype=np.float32)

    def classify(self, post: PostInput) -> Classification:
        return self.classify_batch([post])[0]

    def classify_batch(self, posts: list[PostInput]) -> list[Classification]:
        if not posts:
            return []
        docs = [analyze(p.text) for p in posts]
        hits = [apply_rules(d) for d in docs]
        matrix = self.features(docs, hits)
        probabilities = {name: head.scores(matrix) for name, head in self.bundle.heads.items()}
        results: list[Classification] = []
        for i, (post, doc, hit) in enumerate(zip(posts, docs, hits, strict=True)):
            results.append(self._one(i, post, doc, hit, matrix[i], probabilities))
        return results

    def _label(
        self, head_name: str, i: int, row: sparse.csr_matrix, probabilities: dict[str, np.ndarray]
    ) -> tuple[str, float, list[str]]:  # noqa: E501
        head = self.bundle.heads[head_name]
        p = probabilities[head_name][i]
        best = int(np.argmax(p))
        index = best if head.coef.shape[0] > 1 else best
        return head.classes[best], float(p[best]), head.evidence(row, index, self.names)

    def _one(
        self,
        i: int,
        post: PostInput,
        doc: Doc,
        hits: RuleHits,
        row: sparse.csr_matrix,
        probabilities: dict[str, np.ndarray],
    ) -> Classification:
        # incident
        p_incident = float(probabilities["incident"][i][1])
        # Rules as priors on the model's log-odds: danger to life is always something to act on;
        # an advert never is.
        shift = (CRITICAL_SHIFT if hits.critical else 0.0) - (ADVERT_SHIFT if hits.advert else 0.0)
        if shift:
            p_incident = _shift(p_incident, shift)
        incident_evidence = self.bundle.heads["incident"].evidence(row, 1 if p_incident >= 0.5 else 0, self.names)
        for marker in ("правило_сарказм", "правило_благодарность", "правило_реклама", "правило_новость"):
            if marker in hits.evidence:
                incident_evidence.append(f"{marker.split('_')[1]}: {', '.join(hits.evidence[marker])}")
        is_incident = p_incident >= 0.5
        # category
        category, category_conf, category_evidence = self._label("category", i, row, probabilities)
        # urgency: the model, overridden by the danger-to-life rules for complaints
        urgency, urgency_conf, urgency_evidence = self._label("urgency", i, row, probabilities)
        if is_incident and hits.critical:
            urgency, urgency_conf = "critical", max(urgency_conf, 0.9)
            urgency_evidence = [f"правило: {c}" for c in hits.critical] + urgency_evidence[:3]
        elif not is_incident:
            urgency, urgency_conf, urgency_evidence = "normal", max(1.0 - p_incident, 0.5), ["не обращение"]
        # sentiment
        sentiment, sentiment_conf, sentiment_evidence = self._label("sentiment", i, row, probabilities)
        if hits.sarcasm and sentiment == "positive":
            sentiment, sentiment_conf = "negative", 0.6
            sentiment_evidence = ["сарказм"] + sentiment_evidence[:3]
        # region: gazetteer and hint first, the learned fallback only when they are silent
        guess = self.gazetteer.resolve(
            doc, hint=post.place_hint, hint_region=post.hint_region, hint_city=post.hint_city
        )
        region = RegionResult(
            code=guess.code, name=guess.name, city=guess.city, confidence=guess.confidence, evidence=guess.evidence
        )
        if guess.code is None and "region" in self.bundle.heads:
            code, conf, words = self._label("region", i, row, probabilities)
            if conf >= 0.5 and code:
                from incidents_common.regions import REGIONS

                if code in REGIONS:
                    region = RegionResult(
                        code=code,
                        name=REGIONS[code].name,
                        confidence=round(conf * 0.6, 3),
                        evidence=["модель: " + ", ".join(words[:4])],
                    )
        return Classification(
            model_version=self.version,
            is_incident=is_incident,
            incident=LabelResult(
                label="incident" if is_incident else "not_incident",
                confidence=round(max(p_incident, 1 - p_incident), 4),
                evidence=incident_evidence[:8],
            ),
            category=LabelResult(label=category, confidence=round(category_conf, 4), evidence=category_evidence),
            region=region,
            urgency=LabelResult(label=urgency, confidence=round(min(urgency_conf, 1.0), 4), evidence=urgency_evidence),
            sentiment=LabelResult(label=sentiment, confidence=round(sentiment_conf, 4), evidence=sentiment_evidence),
        )


def _shift(probability: float, logit_shift: float) -> float:
    p = min(max(probability, 1e-6), 1 - 1e-6)
    return float(1.0 / (1.0 + np.exp(-(np.log(p / (1 - p)) + logit_shift))))


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


def load_cached(path: Path) -> Classifier:
    """One loaded model per file version and process (apps built in one process share it)."""
    return _cached(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _cached(path: str, _mtime: int) -> Classifier:
    return Classifier.load(Path(path))
