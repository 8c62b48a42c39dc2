"""The reactions labeller: a multinomial logistic regression over a reading's markers and the reaction's
lemmas and lemma pairs, hashed into a plain weight matrix (`ReactionModel`); its evidence names the
markers and words that pushed the winning label most.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from classifier import modelfile
from classifier.reactions.reading import ReactionReading, read_reaction

# What a reaction says about the work: the labeller's answers, in the order of its weight rows.
LABELS: tuple[str, ...] = ("thanks", "not_fixed", "new_problem", "other")


@dataclass(frozen=True)
class ReactionLabelResult:
    label: str
    confidence: float
    evidence: list[str]


def _bucket(token: str, buckets: int) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little") % buckets


def features(reading: ReactionReading, buckets: int) -> dict[str, float]:
    """Named features (the names are the evidence): the reaction's lemmas and lemma pairs (tf,
    L2-normalised), the markers (weight 1), and the share of new words."""
    lemmas = reading.lemmas
    counts: dict[str, float] = {}
    for token in lemmas + [f"{a} {b}" for a, b in zip(lemmas, lemmas[1:], strict=False)]:
        counts["w:" + token] = counts.get("w:" + token, 0.0) + 1.0
    norm = math.sqrt(sum(v * v for v in counts.values())) or 1.0
    named = {name: value / norm for name, value in counts.items()}
    for marker in reading.tokens():
        named["m:" + marker] = 1.0
    named["n:length"] = min(math.log1p(len(lemmas)) / 4.0, 1.5)
    return named


def feature_columns(named: dict[str, float], buckets: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The named features as hashed columns and their values, with the names in the same order."""
    names = list(named)
    columns = np.fromiter((_bucket(n, buckets) for n in names), dtype=np.int64, count=len(names))
    return columns, np.fromiter(named.values(), dtype=np.float64, count=len(names)), names


def _evidence_name(name: str, reading: ReactionReading) -> str:
    kind, _, value = name.partition(":")
    if kind == "m":
        marker = value.removeprefix("р_").replace("_", " ")
        words = reading.markers.get(marker)
        if marker == "новый предмет":
            return "новое: " + ", ".join(reading.new_objects[:3])
        if marker == "вопрос":
            return "вопрос"
        return f"{marker}: {', '.join(words)}" if words else marker
    return value.replace("не_", "не ")


@dataclass
class ReactionModel:
    """Multinomial logistic regression over hashed lemmas, lemma pairs and the reading's markers."""

    weights: np.ndarray  # (labels, buckets)
    bias: np.ndarray  # (labels,)
    buckets: int
    labels: tuple[str, ...] = LABELS
    version: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)

    def probabilities(self, reading: ReactionReading) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        columns, values, names = feature_columns(features(reading, self.buckets), self.buckets)
        contributions = self.weights[:, columns] * values  # (labels, features)
        z = contributions.sum(axis=1) + self.bias
        z = z - z.max()
        p = np.exp(z)
        return p / p.sum(), contributions, values, names

    def label(self, text: str, reply: str | None = None) -> ReactionLabelResult:
        reading = read_reaction(text, reply)
        if "без слов" in reading.markers:  # an emoji or a sticker alone says nothing about the work
            return ReactionLabelResult(label="other", confidence=0.9, evidence=["без слов"])
        p, contributions, _values, names = self.probabilities(reading)
        best = int(np.argmax(p))
        # The evidence: what pushed the winning label above the others most (its contribution minus
        # the mean of the others'), positive contributions only, markers and words by name.
        others = np.delete(contributions, best, axis=0).mean(axis=0)
        margin = contributions[best] - others
        order = np.argsort(-margin)
        evidence: list[str] = []
        for index in order[:8]:
            if margin[index] <= 0.05 or names[index] == "n:length":
                continue
            name = _evidence_name(names[index], reading)
            if name not in evidence:
                evidence.append(name)
            if len(evidence) == 5:
                break
        return ReactionLabelResult(label=self.labels[best], confidence=round(float(p[best]), 3), evidence=evidence)

    def save(self, path: Path) -> None:
        modelfile.save(self, path)

    @staticmethod
    def load(path: Path) -> ReactionModel:
        return modelfile.load(path, ReactionModel, "a reactions model")
