"""The trained model: TF-IDF features over lemma n-grams and character n-grams, one linear head per
field (scikit-learn logistic regression, coefficients kept as float32 arrays), rules, gazetteer.

`Classifier.classify_batch` is the one code path used by the NATS consumer, the HTTP API, the CLI
and the benchmark.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from itertools import chain
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import yaml
from scipy import sparse

from classifier.gazetteer.cache import default_gazetteer
from classifier.gazetteer.matching import Gazetteer
from classifier.rules import RuleHits, apply_rules
from classifier.text import Doc, analyze
from incidents_common.events import Classification
from incidents_common.regions import REGIONS

log = logging.getLogger("classifier.model")

BUNDLE_FORMAT = 2  # 2: plain TF-IDF blocks, so loading a model never imports scikit-learn (~1.3 s)
CRITICAL_SHIFT = 2.5
DANGER_RULE_SHIFT = 1.5
# Urgency above normal needs a stated cue (corpus/LABELLING.md): a rule (danger to life; a length of
# a week or more; a whole building, street or village) or a confident model. Posts the model thinks
# only "maybe high" stay normal: on unseen posts, the model alone over-calls high (0.81 vs 0.88).
MODEL_CRITICAL_AT = 0.7
MODEL_HIGH_AT = 0.8
# A post is a complaint from this probability up, not 0.5: the class-balanced head over-calls
# complaints on look-alikes (reviews, private quarrels, jokes). On a first-contact file of those
# (writer s) 0.6 took precision from 0.79 to 0.83 for recall 0.987 → 0.975; the held-out F1 stayed
# 0.944–0.945. Danger is not at stake: a critical danger makes a post a complaint by itself.
INCIDENT_AT = 0.6
# The incident head's probability (with the rules' priors, before danger's) that a post over the
# danger threshold needs to be called critical; below it, the danger goes to review (see _one).
DANGER_NEEDS_INCIDENT = 0.15
# A human looks when the model is unsure (see Classifier._review): incident probability within this
# of 0.5, a category or a region guessed with less confidence than these.
REVIEW_INCIDENT_BAND = 0.1
REVIEW_CATEGORY_BELOW = 0.35
REVIEW_REGION_BELOW = 0.45
ADVERT_SHIFT = 1.5
SARCASM_SHIFT = 1.5  # sarcastic thanks is a complaint
THANKS_SHIFT = 1.0  # sincere thanks (not "заранее спасибо") rarely asks anyone to act
FIELDS = ("incident", "category", "urgency", "sentiment", "region")

# Prepositions, conjunctions, particles and pronouns carry weight in the model but explain nothing
# to an official reading the evidence; features made only of them are not shown.
_FUNCTION_WORD_LIST = (
    "в во на по до из от у к ко с со за о об обо при для про над под без через между и а но или да же ли "
    "не ни бы то это этот тот что как так уже еще ещё вот все весь мы я вы он она они оно мой наш ваш их "
    "его ее её свой который кто где когда там тут здесь быть есть и_так"
).split()
_FUNCTION_WORDS = frozenset(_FUNCTION_WORD_LIST)


@functools.lru_cache(maxsize=100_000)
def _explains(feature: str) -> bool:
    return not any(word in _FUNCTION_WORDS for word in feature.split())


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


Row = tuple[np.ndarray, np.ndarray]  # one CSR row: column indices and values (no scipy slicing per post)


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


class TfidfBlock:
    """A fitted TfidfVectorizer's transform for one text, in plain Python and numpy.

    Mirrors sklearn exactly for the options training uses: word n-grams over whitespace tokens
    (token_pattern \\S+, no lower-casing) or char_wb n-grams over lower-cased text; sublinear tf,
    idf weights, l2 norm.
    """

    def __init__(
        self,
        *,
        vocabulary: dict[str, int],
        idf: np.ndarray,
        char: bool,
        ngram_range: tuple[int, int],
        sublinear: bool,
        lowercase: bool,
        offset: int = 0,
    ) -> None:
        self.vocabulary = vocabulary
        self.idf = idf.astype(np.float32)
        self.offset = offset
        self.char = char
        self.min_n, self.max_n = ngram_range
        self.sublinear = sublinear
        self.lowercase = lowercase

    @classmethod
    def from_vectorizer(cls, vectorizer: Any, offset: int = 0) -> TfidfBlock:
        """From a fitted sklearn TfidfVectorizer (analyzer "word" with token_pattern \\S+, or "char_wb")."""
        return cls(
            vocabulary={str(k): int(v) for k, v in vectorizer.vocabulary_.items()},
            idf=vectorizer.idf_,
            char=vectorizer.analyzer == "char_wb",
            ngram_range=tuple(vectorizer.ngram_range),
            sublinear=bool(vectorizer.sublinear_tf),
            lowercase=bool(vectorizer.lowercase),
            offset=offset,
        )

    def names(self) -> list[str]:
        out = [""] * len(self.vocabulary)
        for name, column in self.vocabulary.items():
            out[column] = name
        return out

    def ngrams(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        grams: list[str] = []
        if self.char:
            # char_wb pads each word with spaces. Words joined by two spaces give the same n-grams plus
            # some that span a word gap; those contain two spaces, which no vocabulary entry has.
            padded = " " + "  ".join(text.split()) + " "
            size = len(padded)
            for n in range(self.min_n, self.max_n + 1):
                grams.extend([padded[i : i + n] for i in range(size - n + 1)])
            return grams
        tokens = text.split()
        for n in range(self.min_n, self.max_n + 1):
            if n == 1:
                grams.extend(tokens)
            else:
                grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
        return grams

    def _word_columns(self, word: str) -> tuple[int, ...]:
        """The vocabulary columns of one word's character n-grams (char_wb n-grams never span words)."""
        return self._columns_cache()[word]

    def _columns_cache(self) -> _WordColumns:
        cache: _WordColumns | None = self.__dict__.get("_cache")
        if cache is None:
            cache = self.__dict__["_cache"] = _WordColumns(self)
        return cache

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_cache"}

    def counts(self, text: str) -> Counter[Any]:
        """Vocabulary column → how often its n-gram occurs, in order of first occurrence."""
        if self.char:
            if self.lowercase:
                text = text.lower()
            return Counter(chain.from_iterable(map(self._columns_cache().__getitem__, text.split())))
        if self.min_n == 1 and self.max_n == 2 and not self.lowercase:
            # The word block's unigrams and bigrams, without ngrams()'s slicing and joining per bigram.
            tokens = text.split()
            grams = tokens + [a + " " + b for a, b in zip(tokens, tokens[1:], strict=False)]
        else:
            grams = self.ngrams(text)
        counts = Counter(map(self.vocabulary.get, grams))
        counts.pop(None, None)
        return counts

    def row(self, text: str) -> Row:
        counts = self.counts(text)
        if not counts:
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        columns = np.fromiter(counts.keys(), dtype=np.int32, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        if self.sublinear:
            tf = (np.log(tf) + 1.0).astype(np.float32)
        values = tf * self.idf[columns]
        norm = float(np.sqrt(np.dot(values, values)))
        if norm > 0:
            values /= norm
        return columns + self.offset, values

    def rows(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """`row` of every text, concatenated (columns, values, each text's length): the same numbers,
        with the element-wise numpy work done once per batch instead of once per text."""
        counted = [self.counts(text) for text in texts]
        lengths = [len(c) for c in counted]
        total = sum(lengths)
        columns = np.fromiter(chain.from_iterable(counted), dtype=np.int32, count=total)
        values = np.fromiter(chain.from_iterable(c.values() for c in counted), dtype=np.float32, count=total)
        if self.sublinear:
            values = np.log(values)
            values += 1.0
        values *= self.idf[columns]
        # Each text's l2 norm from its own float32 dot product, as `row` sums it.
        dots = np.empty(len(texts), dtype=np.float32)
        start = 0
        for n, length in enumerate(lengths):
            stop = start + length
            part = values[start:stop]
            dots[n] = np.dot(part, part) if length else 0.0
            start = stop
        norms = np.sqrt(dots)
        norms[norms == 0] = 1.0  # (an empty row: nothing to divide)
        values /= np.repeat(norms, lengths)
        if self.offset:
            columns += self.offset
        return columns, values, lengths


class _WordColumns(dict[str, tuple[int, ...]]):
    """A char block's cache, word → its n-grams' columns: a hit is a dict lookup in C, no Python call.
    Tuples, not lists: the garbage collector stops tracking tuples of ints, and every full collection
    walks each tracked object (tens of thousands of cached words)."""

    def __init__(self, block: TfidfBlock) -> None:
        super().__init__()
        self.block = block

    def __missing__(self, word: str) -> tuple[int, ...]:
        if len(self) > 200_000:
            self.clear()
        get = self.block.vocabulary.get
        found = self[word] = tuple([c for c in map(get, self.block.ngrams(word)) if c is not None])
        return found


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
                np.array(["w:" + n for n in bundle.word_block.names()], dtype=object),
                np.array(["c:" + n for n in bundle.char_block.names()], dtype=object),
            ]
        )
        self.taxonomy = load_taxonomy()
        self.n_words = len(bundle.word_block.vocabulary)
        self.readable = [str(n)[2:].replace("правило_", "правило: ") for n in self.names[: self.n_words]]
        self.explains = np.fromiter(map(_explains, self.readable), dtype=bool, count=len(self.readable))
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
        if not posts:
            return []
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

    def _review(
        self,
        *,
        is_incident: bool,
        p_incident: float,
        p_danger: float | None,
        urgency: str,
        category_conf: float,
        region: dict[str, Any],
        hits: RuleHits,
    ) -> list[dict[str, Any]]:
        """Why a human should look at this post before anyone relies on it (empty: no need)."""
        reasons: list[dict[str, Any]] = []
        if p_danger is not None and urgency != "critical" and p_danger >= self.review_at:
            found = "; ".join(hits.reading.describe()[:2])
            reasons.append(
                {
                    "field": "danger",
                    "confidence": round(p_danger, 4),
                    "detail": f"возможна угроза жизни или здоровью: вероятность {p_danger:.2f}"
                    + (f" ({found})" if found else ""),
                }
            )
        if abs(p_incident - INCIDENT_AT) < REVIEW_INCIDENT_BAND:
            reasons.append(
                {
                    "field": "is_incident",
                    "confidence": round(p_incident if p_incident >= INCIDENT_AT else 1 - p_incident, 4),
                    "detail": f"не уверен, жалоба ли это: вероятность {p_incident:.2f}",
                }
            )
        if is_incident and category_conf < REVIEW_CATEGORY_BELOW:
            reasons.append(
                {
                    "field": "category",
                    "confidence": round(category_conf, 4),
                    "detail": f"категория неуверенно: {category_conf:.2f}",
                }
            )
        if is_incident and region.get("code") and float(region.get("confidence") or 0.0) < REVIEW_REGION_BELOW:
            reasons.append(
                {
                    "field": "region",
                    "confidence": round(float(region["confidence"]), 4),
                    "detail": f"регион неуверенно: {float(region['confidence']):.2f}",
                }
            )
        return reasons

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
            - (ADVERT_SHIFT if hits.advert else 0.0)
            - (THANKS_SHIFT if hits.thanks and not hits.sarcasm and not hits.critical else 0.0)
        )
        danger_now = p_danger is not None and p_danger >= self.danger_at
        # Danger is called critical only when the post also reads as someone's report of a problem:
        # news of a fire put out, a drill, a reminder to parents score high on danger too. Otherwise
        # it stays a complaint (someone must look) with a danger review: routing gives it the
        # critical clock until an operator decides.
        danger_called = danger_now and _shift(p_incident, stated_shift) >= DANGER_NEEDS_INCIDENT
        shift = stated_shift + (CRITICAL_SHIFT if hits.critical or danger_now else 0.0)
        if shift:
            p_incident = _shift(p_incident, shift)
        incident_column = self.stacked_slices["incident"][0]
        # A danger to life now is something to act on, however the rest of the post reads.
        is_incident = p_incident >= INCIDENT_AT or danger_now
        incident_evidence = self._evidence(contributions, columns, incident_column, 1.0 if is_incident else -1.0)
        for marker in ("правило_сарказм", "правило_благодарность", "правило_реклама", "правило_новость"):
            if marker in hits.evidence:
                incident_evidence.append(f"{marker.split('_')[1]}: {', '.join(hits.evidence[marker])}")
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
            "evidence": guess.evidence,
        }
        if post.region_fixed and post.hint_region in REGIONS:
            fixed = str(post.hint_region)
            evidence = [f"регион указан заявителем: {fixed}"]
            if guess.code is not None and guess.code != fixed:
                evidence.append(f"в тексте другой регион: {guess.code} ({', '.join(guess.evidence[:3])})")
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
        review = self._review(
            is_incident=is_incident,
            p_incident=p_incident,
            p_danger=p_danger,
            urgency=urgency,
            category_conf=category_conf,
            region=region,
            hits=hits,
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


def danger_probability(head: float, rule_fired: bool) -> float:
    """The danger head's probability, raised when a rule's cue fired: the rules are evidence of a
    hazard the head may not have seen told that way (a prior of DANGER_RULE_SHIFT on the log-odds)."""
    return _shift(head, DANGER_RULE_SHIFT) if rule_fired else head


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
