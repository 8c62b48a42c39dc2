"""Training and judging the reactions labeller: the labelled rows (corpus/reactions/*.jsonl, `read_rows`),
`train` (scikit-learn, imported only here and only to train), `evaluate` and the report it prints.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifier.reactions.model import LABELS, ReactionModel, feature_columns, features
from classifier.reactions.reading import read_reaction


def read_rows(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """The labelled reactions of the files (JSON lines with 'text', a label of LABELS, maybe 'reply' and
    'split'); a line that is not one raises ValueError naming its file and line."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict) or row.get("label") not in LABELS or not str(row.get("text") or "").strip():
                raise ValueError(f"{path}:{number}: a reaction needs 'text' and a label of {'/'.join(LABELS)}")
            rows.append(row)
    return rows


def _matrix(rows: Sequence[dict[str, Any]], buckets: int, progress: Callable[[Any], Any] | None = None) -> Any:
    from scipy import sparse

    indptr, indices, data = [0], [], []
    for row in progress(rows) if progress else rows:
        columns, values, _ = feature_columns(features(read_reaction(row["text"], row.get("reply")), buckets), buckets)
        indices.append(columns)
        data.append(values)
        indptr.append(indptr[-1] + len(columns))
    matrix = sparse.csr_matrix(
        (np.concatenate(data), np.concatenate(indices), np.array(indptr)), shape=(len(rows), buckets)
    )
    matrix.sum_duplicates()
    return matrix


def train(
    rows: Sequence[dict[str, Any]],
    *,
    buckets: int = 2**16,
    c: float = 4.0,
    progress: Callable[[Any], Any] | None = None,
) -> ReactionModel:
    from sklearn.linear_model import LogisticRegression  # training only: the service never imports sklearn

    matrix = _matrix(rows, buckets, progress)
    gold = np.array([LABELS.index(r["label"]) for r in rows])
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    model.fit(matrix, gold)
    weights = np.zeros((len(LABELS), buckets))
    bias = np.zeros(len(LABELS))
    for position, klass in enumerate(model.classes_):
        weights[klass] = model.coef_[position]
        bias[klass] = model.intercept_[position]
    # The version names the data, the settings and the code that makes the features (this package's modules).
    digest = hashlib.sha256(
        json.dumps([[r.get("reply") or "", r["text"], r["label"]] for r in rows], ensure_ascii=False).encode()
    )
    digest.update(f"{buckets}:{c}".encode())
    for module in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(module.read_bytes())
    return ReactionModel(weights=weights, bias=bias, buckets=buckets, version=digest.hexdigest()[:8])


def evaluate(
    model: ReactionModel, rows: Sequence[dict[str, Any]], progress: Callable[[Any], Any] | None = None
) -> dict[str, Any]:
    """Per-label precision, recall and F1, macro-F1, accuracy and the confusion (gold → called) on `rows`."""
    confusion = {gold: dict.fromkeys(LABELS, 0) for gold in LABELS}
    for row in progress(rows) if progress else rows:
        called = model.label(row["text"], row.get("reply")).label
        confusion[row["label"]][called] += 1
    per_label: dict[str, dict[str, float]] = {}
    for label in LABELS:
        tp = confusion[label][label]
        fp = sum(confusion[g][label] for g in LABELS if g != label)
        fn = sum(confusion[label][c] for c in LABELS if c != label)
        precision = tp / max(tp + fp, 1)
        recall = tp / max(tp + fn, 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-9)
        per_label[label] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": tp + fn,
        }
    correct = sum(confusion[label][label] for label in LABELS)
    return {
        "rows": len(rows),
        "accuracy": round(correct / max(len(rows), 1), 4),
        "macro_f1": round(sum(v["f1"] for v in per_label.values()) / len(LABELS), 4),
        "labels": per_label,
        "confusion": confusion,
    }


def format_confusion(metrics: dict[str, Any]) -> str:
    """The confusion as a table: rows are the gold labels, columns what the model called."""
    width = max(len(label) for label in LABELS) + 2
    lines = ["gold \\ called".ljust(width + 2) + "".join(label.rjust(width) for label in LABELS)]
    for gold in LABELS:
        counts = metrics["confusion"][gold]
        lines.append(gold.ljust(width + 2) + "".join(str(counts[c]).rjust(width) for c in LABELS))
    return "\n".join(lines)


def format_report(metrics: dict[str, Any]) -> str:
    lines = [f"{metrics['rows']} reactions: macro-F1 {metrics['macro_f1']:.3f}, accuracy {metrics['accuracy']:.3f}"]
    for label, values in metrics["labels"].items():
        lines.append(
            f"  {label:<12} precision {values['precision']:.3f}  recall {values['recall']:.3f}  "
            f"F1 {values['f1']:.3f}  ({values['support']})"
        )
    lines.append(format_confusion(metrics))
    return "\n".join(lines)
