"""The Classifier: TF-IDF features over lemma n-grams and character n-grams (classifier.tfidf), one
linear head per field (classifier.bundle: scikit-learn logistic regression, coefficients kept as
float32 arrays), rules, gazetteer, and the decisions on top (classifier.decisions).

`Classifier.classify_batch` is the one code path used by the NATS consumer, the HTTP API, the CLI
and the benchmark.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy import sparse

# ModelBundle, LinearHead and TfidfBlock stay importable from here: joblib finds pickled classes by
# module path, and the active data/model.joblib was saved when they lived in this module.
from classifier.bundle import LinearHead as LinearHead
from classifier.bundle import ModelBundle, default_model_path, features_text
from classifier.decisions import (
    ADVERT_SHIFT,
    CRITICAL_SHIFT,
    DANGER_CONTEXTS,
    DANGER_NEEDS_INCIDENT,
    DANGER_NEEDS_INCIDENT_BARE,
    DEMAND_SHIFT,
    INCIDENT_AT,
    MODEL_CRITICAL_AT,
    MODEL_HIGH_AT,
    OUTAGE_SHIFT,
    SARCASM_SHIFT,
    STATED_SHIFT,
    THANKS_BUT_SHIFT,
    THANKS_SHIFT,
    danger_probability,
    explains,
    review_reasons,
    shift_log_odds,
)
from classifier.gazetteer.cache import default_gazetteer
from classifier.gazetteer.matching import Gazetteer
from classifier.rules.matching import RuleHits, apply_rules
from classifier.rules.names import RULES, readable_feature
from classifier.text import Doc, analyze
from classifier.tfidf import Row
from classifier.tfidf import TfidfBlock as TfidfBlock
from incidents_common.events import Classification
from incidents_common.regions import REGIONS

log = logging.getLogger("classifier.model")

# How many recent distinct posts' results are kept (each a few KB: about 50 MB in the pipeline benchmark).
RECENT_RESULTS = 10_000

FIELDS = ("incident", "category", "urgency", "sentiment", "region")


@dataclass(slots=True)
class PostInput:
    """What a classification needs: the text and what the source says about place."""

    text: str
    place_hint: str | None = None
    hint_region: str | None = None
    hint_city: str | None = None
    # The submitter stated the region (an Open311 jurisdiction): hint_region is the answer, and the
    # place the text names only shows up in the evidence.
    region_fixed: bool = False


def load_taxonomy() -> dict[str, Any]:
    text = resources.files("classifier").joinpath("data/taxonomy.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text))


class Classifier:
    def __init__(self, bundle: ModelBundle, gazetteer: Gazetteer | None = None) -> None:
        self.bundle = bundle
        self.version = bundle.version
        self.gazetteer = gazetteer or default_gazetteer()
        self.names = np.concatenate(
            [
                np.array(["w:" + n for n in bundle.word_block.names()], dtype=object),
                np.array(["c:" + n for n in bundle.char_block.names()], dtype=object),
            ]
        )
        self.taxonomy = load_taxonomy()
        self.n_words = len(bundle.word_block.vocabulary)
        features = [str(n)[2:] for n in self.names[: self.n_words]]
        self.readable = [readable_feature(f) for f in features]
        # (judged on the features: a marker's name may hold a function word, «не работает светофор»)
        self.explains = np.fromiter(map(explains, features), dtype=bool, count=len(features))
        self.word_block = bundle.word_block
        self.char_block = bundle.char_block
        self.n_features = self.n_words + len(bundle.char_block.vocabulary)
        # One matrix product scores every dense head at once: (features × all classes).
        dense = [n for n in ("incident", "category", "urgency", "sentiment", "danger") if n in bundle.heads]
        self.stacked_slices: dict[str, tuple[int, int]] = {}
        start = 0
        for name in dense:
            rows = bundle.heads[name].coef.shape[0]
            self.stacked_slices[name] = (start, start + rows)
            start += rows
        self.stacked_coef = np.ascontiguousarray(np.vstack([bundle.heads[n].coef for n in dense]).T)
        self.stacked_intercept = np.concatenate([bundle.heads[n].intercept for n in dense])
        thresholds = bundle.training.get("danger_thresholds") or {}
        self.danger_at = float(thresholds.get("critical_at", 0.6))
        self.review_at = float(thresholds.get("review_at", 0.25))
        self._recent: dict[tuple[str, str | None, str | None, str | None, bool], Classification] = {}
        self._recent_lock = threading.Lock()  # batches run in worker threads
        self.recent_results = RECENT_RESULTS
        region = bundle.heads.get("region")
        # Kept transposed (features × regions): a post's columns are then rows, gathered ~6× faster.
        self.region_coef_t = (
            np.ascontiguousarray(np.asarray(region.coef.todense() if sparse.issparse(region.coef) else region.coef).T)
            if region
            else None
        )

    @classmethod
    def load(cls, path: Path | None = None) -> Classifier:
        return cls(ModelBundle.load(path or default_model_path()))

    def features(self, docs: list[Doc], hits: list[RuleHits]) -> sparse.csr_matrix:
        """TF-IDF rows, the same numbers as the fitted sklearn vectorizers give (a test checks), without
        their per-call validation overhead (milliseconds per single post)."""
        return self._features(docs, hits)[0]

    def _features(self, docs: list[Doc], hits: list[RuleHits]) -> tuple[sparse.csr_matrix, list[int]]:
        """`features`, and how many of each row's entries (the first ones) are word features."""
        texts = [features_text(d, h) for d, h in zip(docs, hits, strict=True)]
        word_cols, word_vals, word_lengths = self.word_block.rows(texts)
        char_cols, char_vals, char_lengths = self.char_block.rows([doc.normalized for doc in docs])
        # Each post's row is its word features, then its character features: place both blocks'
        # elements at their positions in the CSR arrays.
        word_before = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(word_lengths, out=word_before[1:])
        char_before = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(char_lengths, out=char_before[1:])
        indptr = word_before + char_before
        word_at = np.arange(len(word_cols), dtype=np.int64) + np.repeat(char_before[:-1], word_lengths)
        char_at = np.arange(len(char_cols), dtype=np.int64) + np.repeat(word_before[1:], char_lengths)
        indices = np.empty(int(indptr[-1]), dtype=np.int32)
        data = np.empty(int(indptr[-1]), dtype=np.float32)
        indices[word_at] = word_cols
        indices[char_at] = char_cols
        data[word_at] = word_vals
        data[char_at] = char_vals
        return sparse.csr_matrix((data, indices, indptr), shape=(len(docs), self.n_features)), word_lengths

    def _probabilities(self, matrix: sparse.csr_matrix) -> dict[str, np.ndarray]:
        raw = np.asarray(matrix @ self.stacked_coef) + self.stacked_intercept
        out: dict[str, np.ndarray] = {}
        for name, (start, stop) in self.stacked_slices.items():
            out[name] = self.bundle.heads[name].activate(raw[:, start:stop])
        return out

    def _region_probabilities(self, row: Row) -> np.ndarray:
        cols, vals = row
        assert self.region_coef_t is not None
        # The same (regions × columns) F-ordered array as indexing the (regions × features) matrix by
        # columns gives, so the product is the same BLAS call with the same sums.
        raw = self.region_coef_t[cols].T @ vals + self.bundle.heads["region"].intercept
        probabilities: np.ndarray = self.bundle.heads["region"].activate(raw[None, :])[0]  # its one row
        return probabilities

    def classify(self, post: PostInput) -> Classification:
        return self.classify_batch([post])[0]

    def classify_batch(self, posts: list[PostInput]) -> list[Classification]:
        """Every post's classification, in order. A post whose text and place hints were classified
        lately gets the same (frozen) result again without the work: reposts, copied appeals and
        repeated adverts are a fifth of a feed, and the result depends on nothing else."""
        if not posts:
            return []
        keys = [(p.text, p.place_hint, p.hint_region, p.hint_city, p.region_fixed) for p in posts]
        with self._recent_lock:
            known = [self._recent.get(key) for key in keys]
        todo = {key: post for key, post, result in zip(keys, posts, known, strict=True) if result is None}
        if todo:
            fresh = dict(zip(todo, self._classify(list(todo.values())), strict=True))
            with self._recent_lock:
                self._recent.update(fresh)
                while len(self._recent) > self.recent_results:
                    del self._recent[next(iter(self._recent))]  # the oldest first
        return [result if result is not None else fresh[key] for key, result in zip(keys, known, strict=True)]

    def forget_recent(self) -> None:
        """Drop the kept results (tests and benchmarks that measure the work itself)."""
        with self._recent_lock:
            self._recent.clear()

    def _classify(self, posts: list[PostInput]) -> list[Classification]:
        docs = [analyze(p.text) for p in posts]
        hits = [apply_rules(d) for d in docs]
        matrix, word_lengths = self._features(docs, hits)
        probabilities = self._probabilities(matrix)
        results: list[Classification] = []
        starts = matrix.indptr.tolist()
        for i, (post, doc, hit) in enumerate(zip(posts, docs, hits, strict=True)):
            row = (matrix.indices[starts[i] : starts[i + 1]], matrix.data[starts[i] : starts[i + 1]])
            results.append(self._one(i, post, doc, hit, row, probabilities, word_lengths[i]))
        return results

    def _evidence(self, contributions: np.ndarray, columns: np.ndarray, column: int, sign: float = 1.0) -> list[str]:
        """The lemma features that pushed hardest towards one class (`column` of the stacked heads).

        `contributions` holds weight × value of a post's explaining word features for every class of
        every head; `columns` their vocabulary columns."""
        pushed = contributions[:, column] * sign if sign != 1.0 else contributions[:, column]
        # One stable sort of the few features, not flatnonzero + argpartition + argsort (numpy calls on
        # tiny arrays cost more than their work). It picks the same five unless two of the six largest
        # tie (argpartition's choice among ties is its own): those go the old way.
        order = np.argsort(-pushed, kind="stable")[:6]
        largest = pushed[order].tolist()
        positive = sum(1 for value in largest if value > 0)  # the positive ones sort first
        if positive == 6 and len(set(largest)) < 6:
            top = np.flatnonzero(pushed > 0)
            top = top[np.argpartition(-pushed[top], 5)[:5]]
            top = top[np.argsort(-pushed[top], kind="stable")]
            return [self.readable[columns[k]] for k in top.tolist()]
        return [self.readable[k] for k in columns[order[: min(positive, 5)]].tolist()]

    def _label(
        self,
        head_name: str,
        i: int,
        probabilities: dict[str, np.ndarray],
        contributions: np.ndarray,
        columns: np.ndarray,
    ) -> tuple[str, float, list[str]]:
        head = self.bundle.heads[head_name]
        p = probabilities[head_name][i]
        best = int(np.argmax(p))
        start = self.stacked_slices[head_name][0]
        return head.classes[best], float(p[best]), self._evidence(contributions, columns, start + best)

    def _urgency(
        self,
        i: int,
        hits: RuleHits,
        p_danger: float | None,
        danger_called: bool,
        probabilities: dict[str, np.ndarray],
        contributions: np.ndarray,
        columns: np.ndarray,
    ) -> tuple[str, float, list[str]]:
        head = self.bundle.heads["urgency"]
        p = dict(zip(head.classes, probabilities["urgency"][i].tolist(), strict=True))
        start = self.stacked_slices["urgency"][0]

        def model_evidence(label: str) -> list[str]:
            if label not in head.classes:  # a model trained on a corpus without this label
                return []
            return self._evidence(contributions, columns, start + head.classes.index(label))

        rules = [f"правило: {c}" for c in hits.critical]
        if p_danger is not None:
            # The danger head decides (with the incident head: see _one); a rule's cue raises its odds.
            if danger_called:
                danger_column = self.stacked_slices["danger"][0]
                evidence = rules + hits.reading.describe() + self._evidence(contributions, columns, danger_column)[:3]
                return "critical", p_danger, list(dict.fromkeys(evidence))
        elif rules:  # a model from before the danger head: the rules decide, as they did
            return (
                "critical",
                max(p.get("critical", 0.0), 0.9),
                list(dict.fromkeys(rules + model_evidence("critical")[:3])),
            )
        elif p.get("critical", 0.0) >= MODEL_CRITICAL_AT:
            return "critical", p["critical"], model_evidence("critical")
        if hits.high:
            stated = [f"правило: {reason} ({', '.join(hits.evidence[marker])})" for reason, marker in hits.high.items()]
            return "high", max(p.get("high", 0.0), 0.75), stated + model_evidence("high")[:3]
        if p.get("high", 0.0) >= MODEL_HIGH_AT:
            return "high", p["high"], model_evidence("high")
        return "normal", 1.0 - p.get("high", 0.0) - p.get("critical", 0.0), model_evidence("normal")

    def _one(
        self,
        i: int,
        post: PostInput,
        doc: Doc,
        hits: RuleHits,
        row: Row,
        probabilities: dict[str, np.ndarray],
        n_word: int,
    ) -> Classification:
        # Per-feature contributions to every class of every dense head, computed once: the evidence.
        # A row's first n_word entries are its word features (the rest, character n-grams, explain poorly).
        cols, vals = row
        word_columns = cols[:n_word]
        explained = self.explains[word_columns]  # features of function words only explain nothing
        columns = word_columns[explained]
        contributions = self.stacked_coef[columns] * vals[:n_word][explained][:, None]
        # incident
        p_incident = float(probabilities["incident"][i][1])
        p_danger = (
            danger_probability(float(probabilities["danger"][i][1]), bool(hits.critical))
            if "danger" in probabilities
            else None
        )
        # Rules as priors on the model's log-odds: danger to life is always something to act on,
        # sarcasm is a complaint in disguise; an advert never is.
        stated_shift = (
            (SARCASM_SHIFT if hits.sarcasm else 0.0)
            + (STATED_SHIFT if hits.stated else 0.0)
            + (DEMAND_SHIFT if hits.demand and not hits.advert else 0.0)
            + (OUTAGE_SHIFT if hits.outage and not hits.advert else 0.0)
            - (ADVERT_SHIFT if hits.advert else 0.0)
            - (THANKS_SHIFT if hits.thanks and not hits.sarcasm and not hits.critical else 0.0)
            + (THANKS_BUT_SHIFT if "правило_спасибо_но" in hits.evidence and not hits.sarcasm else 0.0)
        )
        danger_now = p_danger is not None and p_danger >= self.danger_at
        # Danger is called critical only when the post also reads as someone's report of a problem:
        # news of a fire put out, a drill, a reminder to parents score high on danger too. Otherwise
        # it stays a complaint (someone must look) with a danger review: routing gives it the
        # critical clock until an operator decides.
        # A cry for help («…всё прибывает, помогите!») is a report however briefly it is told.
        danger_called = danger_now and (
            hits.reading.plea is not None or shift_log_odds(p_incident, stated_shift) >= _report_bar(hits)
        )
        shift = stated_shift + (CRITICAL_SHIFT if hits.critical or danger_now else 0.0)
        if shift:
            p_incident = shift_log_odds(p_incident, shift)
        incident_column = self.stacked_slices["incident"][0]
        # A danger to life now is something to act on, however the rest of the post reads.
        is_incident = p_incident >= INCIDENT_AT or danger_now
        incident_evidence = self._evidence(contributions, columns, incident_column, 1.0 if is_incident else -1.0)
        for marker in (
            "правило_сарказм",
            "правило_благодарность",
            "правило_спасибо_но",
            "правило_реклама",
            "правило_новость",
        ):
            if marker in hits.evidence:
                incident_evidence.append(f"{marker.split('_')[1]}: {', '.join(hits.evidence[marker])}")
        if hits.outage and is_incident:  # a prior, not a word the heads weigh: named here
            incident_evidence.append(
                f"правило: {RULES['нет_сейчас']}: {', '.join(hits.evidence['правило_нет_сейчас'])}"
            )
        # category
        category, category_conf, category_evidence = self._label("category", i, probabilities, contributions, columns)
        # urgency: stated cues (rules) first, the model where it is confident (see _urgency)
        if is_incident:
            urgency, urgency_conf, urgency_evidence = self._urgency(
                i, hits, p_danger, danger_called, probabilities, contributions, columns
            )
        else:
            urgency, urgency_conf, urgency_evidence = "normal", max(1.0 - p_incident, 0.5), ["не обращение"]
        # sentiment
        sentiment, sentiment_conf, sentiment_evidence = self._label(
            "sentiment", i, probabilities, contributions, columns
        )
        if hits.sarcasm and sentiment == "positive":
            sentiment, sentiment_conf = "negative", 0.6
            sentiment_evidence = ["сарказм"] + sentiment_evidence[:3]
        # region: gazetteer and hint first, the learned fallback only when they are silent
        guess = self.gazetteer.resolve(
            doc, hint=post.place_hint, hint_region=post.hint_region, hint_city=post.hint_city
        )
        region: dict[str, Any] = {
            "code": guess.code,
            "name": guess.name,
            "city": guess.city,
            "confidence": guess.confidence,
            "evidence": guess.evidence + _also_named(guess.also_in),
        }
        also_in = guess.also_in
        if post.region_fixed and post.hint_region in REGIONS:
            fixed = str(post.hint_region)
            evidence = [f"регион указан заявителем: {fixed}"]
            if guess.code is not None and guess.code != fixed:
                evidence.append(f"в тексте другой регион: {guess.code} ({', '.join(guess.evidence[:3])})")
            also_in = ()
            region = {
                "code": fixed,
                "name": REGIONS[fixed].name,
                "city": guess.city if guess.code == fixed else None,
                "confidence": 1.0,
                "evidence": evidence,
            }
        elif guess.code is None and self.region_coef_t is not None:
            region_p = self._region_probabilities(row)
            best = int(np.argmax(region_p))
            head = self.bundle.heads["region"]
            code, conf = head.classes[best], float(region_p[best])
            if conf >= 0.5 and code in REGIONS:
                words = head.evidence(row, best, self.names, self.n_words)
                region = {
                    "code": code,
                    "name": REGIONS[code].name,
                    "confidence": round(conf * 0.6, 3),
                    "evidence": ["модель: " + ", ".join(words[:4])],
                }
        review = review_reasons(
            is_incident=is_incident,
            p_incident=p_incident,
            p_danger=p_danger,
            urgency=urgency,
            category_conf=category_conf,
            region=region,
            region_also_in=also_in,
            category=category,
            hits=hits,
            review_at=self.review_at,
        )
        # One validation from plain data (pydantic-core) is cheaper than building the six models in Python.
        return Classification.model_validate(
            {
                "model_version": self.version,
                "is_incident": is_incident,
                "incident": {
                    "label": "incident" if is_incident else "not_incident",
                    "confidence": round(p_incident if is_incident else 1 - p_incident, 4),
                    "evidence": incident_evidence[:8],
                },
                "category": {"label": category, "confidence": round(category_conf, 4), "evidence": category_evidence},
                "region": region,
                "urgency": {
                    "label": urgency,
                    "confidence": round(min(urgency_conf, 1.0), 4),
                    "evidence": urgency_evidence,
                },
                "sentiment": {
                    "label": sentiment,
                    "confidence": round(sentiment_conf, 4),
                    "evidence": sentiment_evidence,
                },
                "danger": None if p_danger is None else round(p_danger, 4),
                "needs_review": bool(review),
                "review_reasons": review,
            }
        )


def load_cached(path: Path) -> Classifier:
    """One loaded model per file version and process (apps built in one process share it)."""
    return _cached(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _cached(path: str, _mtime: int) -> Classifier:
    return Classifier.load(Path(path))


def _report_bar(hits: RuleHits) -> float:
    """How much the incident head must read a post over the danger threshold as a report: less when
    a person is exposed and nothing tells the danger as over, thanked for, imagined, news or far away."""
    bare = bool(hits.reading.exposed) and DANGER_CONTEXTS.isdisjoint(hits.reading.markers)
    return DANGER_NEEDS_INCIDENT_BARE if bare else DANGER_NEEDS_INCIDENT


def _also_named(codes: tuple[str, ...]) -> list[str]:
    """Evidence that the town's name is found in other regions too (the first three named)."""
    if not codes:
        return []
    named = ", ".join(f"{code} ({REGIONS[code].name})" for code in codes[:3])
    more = f" и ещё {len(codes) - 3}" if len(codes) > 3 else ""
    return [f"то же название есть в регионах: {named}{more}"]
