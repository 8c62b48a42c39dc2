"""Write corpus/generated/augmented.jsonl: noisy copies of the hand-written TRAIN lines.

Real posts are typed on phones: dropped and swapped letters, no capitals or ALL CAPS, no
punctuation, е for ё, doubled letters. Each copy keeps its source line's labels. Only `split ==
"train"` lines are copied, so nothing of the held-out split leaks into training; `evaluate` never
reads generated files.

Run: python services/classifier/scripts/augment.py [--copies 1] [--seed 13]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
NEIGHBOURS = dict(zip("йцукенгшщзхъфывапролджэячсмитьбю", "цукенгшщзхъйывапролджэфчсмитьбюя", strict=True))


def typo(word: str, rng: random.Random) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.random()
    if kind < 0.35:
        return word[:i] + word[i + 1 :]  # dropped letter
    if kind < 0.65:
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]  # swapped letters
    if kind < 0.85:
        low = word[i].lower()
        return word[:i] + NEIGHBOURS.get(low, low) + word[i + 1 :]  # neighbouring key
    return word[:i] + word[i] * 3 + word[i + 1 :]  # stretched letter


def noisy(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    words = [typo(w, rng) if rng.random() < 0.12 else w for w in words]
    out = " ".join(words).replace("ё", "е").replace("Ё", "Е")
    style = rng.random()
    if style < 0.35:
        out = out.lower()
    elif style < 0.45:
        out = out.upper()
    if rng.random() < 0.4:
        out = re.sub(r"[,.;:]", "", out)
    if rng.random() < 0.2:
        out += rng.choice([" 😡", " !!!", " ((", " 🤬🤬", " помогите", " ..."])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=1, help="noisy copies per train line (default 1)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows = []
    for path in sorted(CORPUS.glob("handwritten_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if row.get("split") != "train":
                continue
            for n in range(args.copies):
                rows.append({**row, "id": f"g-{row['id']}-{n}", "text": noisy(row["text"], rng), "split": "train"})
    target = CORPUS / "generated" / "augmented.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    sys.stdout.write(f"{len(rows)} noisy copies of train lines -> {target}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
