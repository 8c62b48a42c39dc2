"""Evaluation on the held-out split, its report, and the activation rule (never activate a worse model)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from classifier.bundle import ModelBundle
from classifier.corpus import CorpusError, is_critical, to_input
from classifier.model import Classifier
from incidents_common.events import Category
from incidents_common.towns import all_towns, fold

HEADLINE = ("incident_f1", "category_macro_f1", "region_accuracy", "urgency_accuracy")
DANGER_TARGETS = {"critical_recall": 0.95, "critical_precision": 0.75}
TARGETS = {"incident_f1": 0.92, "category_macro_f1": 0.85, "region_accuracy": 0.95, "urgency_accuracy": 0.85}
# "Not worse": the mean of the headline figures may not drop, and no single one by more than this.
MAX_SINGLE_DROP = 0.02


def evaluate(classifier: Classifier, rows: list[dict[str, Any]], *, batch: int = 256) -> dict[str, Any]:
    """Precision/recall/F1 for is_incident, macro-F1 and confusion for category, accuracies."""
    if not rows:
        raise CorpusError("no held-out rows to evaluate on (no hand-written line has split == test)")
    predictions = []
    for start in range(0, len(rows), batch):
        predictions += classifier.classify_batch([to_input(r) for r in rows[start : start + batch]])
    gold_incident = [bool(r["is_incident"]) for r in rows]
    pred_incident = [p.is_incident for p in predictions]
    precision, recall, f1, _ = precision_recall_fscore_support(
        gold_incident, pred_incident, average="binary", pos_label=True, zero_division=0
    )
    cat_pairs = [
        (r["category"], p.category.label)
        for r, p in zip(rows, predictions, strict=True)
        if r["is_incident"] and r.get("category")
    ]  # noqa: E501
    labels = sorted({g for g, _ in cat_pairs} | {q for _, q in cat_pairs}, key=_category_order)
    gold_cats = [g for g, _ in cat_pairs]
    pred_cats = [q for _, q in cat_pairs]
    region_pairs = [
        (r["region_code"], p.region.code) for r, p in zip(rows, predictions, strict=True) if r.get("region_code")
    ]  # noqa: E501
    named_pairs = [
        (r["region_code"], p.region.code)
        for r, p in zip(rows, predictions, strict=True)
        if r.get("region_code") and place_is_named(r)
    ]
    # Of those, the ones whose gold town's name no town of another region has (Покровск is Yakutia's and
    # Transbaikalia's): a shared name alone leaves a reader guessing too, so the misses are told apart.
    unique_pairs = [
        (r["region_code"], p.region.code)
        for r, p in zip(rows, predictions, strict=True)
        if r.get("region_code") and place_is_named(r) and not _shared_town_name(r.get("city"))
    ]
    no_place = [p.region.code is None for r, p in zip(rows, predictions, strict=True) if not r.get("region_code")]
    urgency_pairs = [(r["urgency"], p.urgency.label) for r, p in zip(rows, predictions, strict=True)]
    gold_critical = [is_critical(r) for r in rows]
    called_critical = [p.is_incident and p.urgency.label == "critical" for p in predictions]
    # Caught: called critical, or a complaint with a danger review (routing opens an incident only for
    # a complaint; a non-complaint's review reason reaches no operator's queue).
    flagged = [
        c or (p.is_incident and any(reason.field == "danger" for reason in p.review_reasons))
        for c, p in zip(called_critical, predictions, strict=True)
    ]
    hits_critical = sum(g and c for g, c in zip(gold_critical, called_critical, strict=True))
    hits_flagged = sum(g and f for g, f in zip(gold_critical, flagged, strict=True))
    sentiment_pairs = [(r["sentiment"], p.sentiment.label) for r, p in zip(rows, predictions, strict=True)]
    return {
        "rows": len(rows),
        "incident_precision": round(float(precision), 4),
        "incident_recall": round(float(recall), 4),
        "incident_f1": round(float(f1), 4),
        "category_macro_f1": round(
            float(f1_score(gold_cats, pred_cats, labels=sorted(set(gold_cats)), average="macro", zero_division=0)), 4
        )
        if cat_pairs
        else 0.0,  # noqa: E501
        "category_accuracy": round(float(accuracy_score(gold_cats, pred_cats)), 4) if cat_pairs else 0.0,
        "category_rows": len(cat_pairs),
        "category_labels": labels,
        "category_confusion": confusion_matrix(gold_cats, pred_cats, labels=labels).tolist() if cat_pairs else [],
        # Determinable: the text or the source's hint names the gold town or region (see place_is_named).
        "region_accuracy": _accuracy(named_pairs),
        "region_rows": len(named_pairs),
        "region_accuracy_unique_names": _accuracy(unique_pairs),
        "region_rows_unique_names": len(unique_pairs),
        "region_accuracy_all": _accuracy(region_pairs),
        "region_rows_all": len(region_pairs),
        "no_place_correct": round(sum(no_place) / len(no_place), 4) if no_place else 1.0,
        "urgency_accuracy": round(sum(g == q for g, q in urgency_pairs) / len(urgency_pairs), 4),
        "urgency_confusion": _confusion(urgency_pairs, ["critical", "high", "normal"]),
        "sentiment_accuracy": round(sum(g == q for g, q in sentiment_pairs) / len(sentiment_pairs), 4),
        # Danger: critical as the classifier calls it, and critical or sent to a human for danger
        # (routing gives those the critical clock until an operator decides).
        "critical_rows": sum(gold_critical),
        "critical_recall": round(hits_critical / max(sum(gold_critical), 1), 4),
        "critical_precision": round(hits_critical / max(sum(called_critical), 1), 4),
        "critical_or_review_recall": round(hits_flagged / max(sum(gold_critical), 1), 4),
        "danger_review_share": round(
            sum(f and not c for f, c in zip(flagged, called_critical, strict=True)) / len(rows), 4
        ),
        "needs_review_share": round(sum(p.needs_review for p in predictions) / len(rows), 4),
    }


def _accuracy(pairs: list[tuple[Any, Any]]) -> float:
    return round(sum(g == q for g, q in pairs) / len(pairs), 4) if pairs else 0.0


def _stem(name: str) -> str:
    word = name.lower().replace("ё", "е").split(" — ")[0]
    return word[: max(4, len(word) - 2)]


@lru_cache(maxsize=1)
def _places() -> dict[str, Any]:
    from classifier.gazetteer.index import load_places

    return load_places()


@lru_cache(maxsize=1)
def _shared_names() -> frozenset[str]:
    regions: dict[str, set[str]] = {}
    for town in all_towns():
        regions.setdefault(fold(town.name), set()).add(town.region_code)
    return frozenset(name for name, codes in regions.items() if len(codes) > 1)


def _shared_town_name(city: str | None) -> bool:
    return bool(city) and fold(str(city)) in _shared_names()


def place_is_named(row: dict[str, Any]) -> bool:
    """Whether a reader could tell the region from the post: its text or place hint names the gold
    town or region (by stem, so every case form counts). Posts whose region only their author knew
    (a street name, "у нас") are not determinable."""
    from incidents_common.regions import REGIONS

    haystack = f"{row.get('text') or ''} {row.get('place_hint') or ''}".lower().replace("ё", "е")
    code = str(row.get("region_code"))
    names = [row.get("city") or ""]
    region = REGIONS.get(code)
    if region is not None:
        names.append(region.name.replace("Республика ", "").replace(" область", "").replace(" край", ""))
    places = _places()
    names += [str(a) for a in places.get("regions", {}).get(code, []) if len(str(a)) > 3]
    names += [
        str(alias)
        for alias, (c, city) in places.get("cities", {}).items()
        if city == row.get("city") and len(str(alias)) > 3
    ]
    return any(name and _stem(name) in haystack for name in names)


def _category_order(label: str) -> int:
    names = [c.value for c in Category]
    return names.index(label) if label in names else len(names)


def _confusion(pairs: list[tuple[str, str]], labels: list[str]) -> list[list[int]]:
    counts = Counter(pairs)
    return [[counts[(g, q)] for q in labels] for g in labels]


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(metrics.get(k, 0.0)) for k in HEADLINE}


def compare(candidate: dict[str, Any], active: dict[str, Any]) -> tuple[bool, str]:
    """Is the candidate not worse than the active model on the same held-out rows?"""
    new, old = headline(candidate), headline(active)
    mean_new, mean_old = sum(new.values()) / len(new), sum(old.values()) / len(old)
    drops = {k: old[k] - new[k] for k in HEADLINE if old[k] - new[k] > MAX_SINGLE_DROP}
    if mean_new + 1e-9 < mean_old:
        return False, f"mean of headline metrics {mean_new:.4f} < active {mean_old:.4f}"
    if drops:
        worst = ", ".join(f"{k} {old[k]:.4f}→{new[k]:.4f}" for k in drops)
        return False, f"a headline metric dropped by more than {MAX_SINGLE_DROP}: {worst}"
    return True, f"mean of headline metrics {mean_new:.4f} ≥ active {mean_old:.4f}"


def activate(candidate_path: Path, active_path: Path, bundle: ModelBundle) -> None:
    """Copy the candidate over the active model (atomically) and write its metadata beside it."""
    active_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = active_path.with_suffix(".tmp")
    shutil.copyfile(candidate_path, temporary)
    temporary.replace(active_path)
    metadata = {
        "version": bundle.version,
        "created_at": bundle.created_at,
        "metrics": {k: v for k, v in bundle.metrics.items() if not k.endswith("confusion")},
        "training": bundle.training,
    }
    active_path.with_suffix(".json").write_text(json.dumps(metadata, ensure_ascii=False, indent=2) + "\n", "utf-8")


def bundle_size_mb(path: Path) -> float:
    return path.stat().st_size / 1e6


def format_report(metrics: dict[str, Any]) -> str:
    lines = [
        f"held-out rows: {metrics['rows']}",
        "is_incident   precision {incident_precision:.3f}  recall {incident_recall:.3f}  F1 {incident_f1:.3f}".format(
            **metrics
        ),  # noqa: E501
        f"category      macro-F1 {metrics['category_macro_f1']:.3f}  accuracy {metrics['category_accuracy']:.3f}  (on {metrics['category_rows']} incidents)",  # noqa: E501
        f"region        accuracy {metrics['region_accuracy']:.3f} where determinable (the text or hint names the town or region: {metrics['region_rows']} posts)",  # noqa: E501
        f"              accuracy {metrics.get('region_accuracy_unique_names', 0.0):.3f} of those where no town of another region has the town's name ({metrics.get('region_rows_unique_names', 0)} posts)",  # noqa: E501
        f"              accuracy {metrics.get('region_accuracy_all', 0.0):.3f} on every post with a gold region ({metrics.get('region_rows_all', 0)} posts, incl. ones only the author could place); no-place posts left empty {metrics['no_place_correct']:.3f}",  # noqa: E501
        f"urgency       accuracy {metrics['urgency_accuracy']:.3f}",
        f"sentiment     accuracy {metrics['sentiment_accuracy']:.3f}",
    ]
    for key, target in TARGETS.items():
        mark = "ok" if metrics.get(key, 0.0) >= target else "BELOW TARGET"
        lines.append(f"  target {key} ≥ {target}: {metrics.get(key, 0.0):.3f} {mark}")
    labels = metrics.get("category_labels") or []
    if labels:
        short = [label[:6] for label in labels]
        lines.append("category confusion (rows: gold, columns: predicted)")
        lines.append(" " * 18 + " ".join(f"{s:>6}" for s in short))
        for label, row in zip(labels, metrics["category_confusion"], strict=True):
            lines.append(f"{label[:17]:>17} " + " ".join(f"{n:>6}" for n in row))
    lines.append(urgency_both_ways(metrics["urgency_confusion"]))
    if "critical_recall" in metrics:
        m = metrics
        lines.append(
            f"danger        critical recall {m['critical_recall']:.3f}  precision {m['critical_precision']:.3f}"
            f"  (on {m['critical_rows']} critical posts); critical or sent for review"
            f" {m['critical_or_review_recall']:.3f} with {m['danger_review_share']:.1%} of posts in review for danger"
        )
        lines.append(f"needs review  {metrics['needs_review_share']:.1%} of posts (any field)")
        for key, target in DANGER_TARGETS.items():
            mark = "ok" if metrics.get(key, 0.0) >= target else "BELOW TARGET"
            lines.append(f"  target {key} ≥ {target}: {metrics.get(key, 0.0):.3f} {mark}")
    return "\n".join(lines)


URGENCY_LABELS = ("critical", "high", "normal")


def urgency_both_ways(confusion: list[list[int]]) -> str:
    """The urgency confusion read both ways: of each gold label, where the posts went (recall), and of
    each predicted label, where the posts came from (precision)."""
    lines = ["urgency confusion (rows: gold, columns: predicted critical/high/normal)"]
    for label, row in zip(URGENCY_LABELS, confusion, strict=True):
        total = sum(row) or 1
        shares = " ".join(f"{n / total:>6.1%}" for n in row)
        lines.append(f"{label:>17} " + " ".join(f"{n:>6}" for n in row) + f"   of gold {label}: {shares}")
    columns = list(zip(*confusion, strict=True)) if confusion else []
    lines.append("of each predicted label, where it came from (gold critical/high/normal)")
    for label, column in zip(URGENCY_LABELS, columns, strict=True):
        total = sum(column) or 1
        lines.append(f"{'called ' + label:>17} " + " ".join(f"{n / total:>6.1%}" for n in column))
    return "\n".join(lines)
