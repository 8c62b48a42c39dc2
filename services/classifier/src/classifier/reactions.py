"""What a citizen wrote under an official's published reply: thanks, not fixed, a new problem, or other.

The reading (`read_reaction`) looks for a few things by lemma and pattern, each with the words that
found it:
- thanks («спасибо», «благодарю», «спс», 🙏) and what it thanks for: the work, or only the answer
  («спасибо за ответ», «за разъяснение»: then it is not a verdict on the work);
- work reported done («сделали», «починили», «дали свет», «наконец-то», «горит», «ходит») and work
  reported not done («не сделали», «так и не», «до сих пор», «ничего не изменилось», «как был … так
  и», «опять», «отписка», «для галочки», a promised date that «прошло»);
- sarcasm: thanks with «конечно», «очень помогло», 🙃 🙂 👏, turned by «только», «но», «а»;
- another problem: «а у нас ещё и», «кстати», «заодно», or a broken thing («не горит», «сломан»,
  «яма», «течёт») whose object the official's reply does not mention;
- a question, waiting («ждём», «посмотрим»), chatter.

A multinomial logistic regression over those markers and the reaction's lemmas and lemma pairs
(hashed, so the model is a plain weight matrix; `ReactionModel`, trained by `python -m classifier
train-reactions` on corpus/reactions/*.jsonl) decides; the evidence is the markers and the words that
pushed the winning label most. Nothing here calls the network, and scikit-learn is imported only to train.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from classifier.text import analyze, parses

LABELS: tuple[str, ...] = ("thanks", "not_fixed", "new_problem", "other")

THANKS_LEMMAS = frozenset(
    "спасибо благодарить благодарность благодарный благодарочка спс пасиб пасибо сенкс мерси молодец молодца".split()
)
# Work reported done: the verbs of fixing (and the state words a fixed thing has)
DONE_LEMMAS = frozenset(
    """сделать починить отремонтировать заменить поменять заделать залатать вывезти убрать установить поставить
    восстановить устранить прочистить почистить откачать закрыть заварить вставить вкрутить запустить пустить
    дать подать включить вернуть перечислить привезти решить исправить одобрить отловить перекрыть высадить
    пересадить посадить положить покрасить отмыть помыть вымыть продезинфицировать обработать подключить
    наладить появиться заработать выйти провести доделать сдержать найти""".split()
)
STATE_DONE_LEMMAS = frozenset("гореть работать ходить чистый сухой тепло тёплый теплый светло тихо горячий".split())
NEGATIONS = frozenset({"не", "нет", "ни"})
# The old problem described as it still is («батареи холодные», «тишина», «собаки остались»)
STILL_LEMMAS = frozenset(
    """холодный ледяной тишина остаться грязный грязно грязнее темно темнота тёмный темный вонять капать течь
    дохнуть гибнуть стоять размазать пусто пустой""".split()
)
# A thing broken or missing: what a new problem (or the old one, still there) is made of
PROBLEM_LEMMAS = frozenset(
    """сломать сломанный разбить разбитый течь протекать затопить топить яма дыра провалиться вонять вонь запах
    гнить сгнить торчать мусор свалка грязь лужа трещина обрушиться упасть валяться закрыть закрытый висеть
    опасно невозможно""".split()
)
# Words any reply or reaction has: not evidence that the reaction is about the reply's problem
COMMON = frozenset(
    """добрый день здравствуйте уважаемый ваш ваше обращение вопрос спасибо который этот весь наш свой мочь быть
    это как так уже еще когда где что чтобы очень сделать год месяц неделя сегодня завтра вчера время день
    работа ответ информация житель администрация""".split()
)

_PATTERNS: dict[str, tuple[tuple[str, str], ...]] = {
    # (marker, pattern) pairs over the lower-cased text (ё→е); the marker names the rule in evidence
    "not_fixed": (
        ("ничего не изменилось", r"ничего\s+не\s+(?:измен|помен|сдела|происход|дела)|вс[её]\s+по-?старому"),
        (
            "как было, так и",
            r"как\s+(?:был|было|была|были|стоял\w*|лежал\w*|ходил\w*|сидел\w*|дохн\w*|гнил\w*)\b.{0,40}\bтак\s+и",
        ),
        ("так и не", r"так\s+и\s+(?:не|нет)\b"),
        ("до сих пор", r"до\s+сих\s+пор|по-?прежнему|вс[её]\s+(?:так\s+же|то\s+же|также|ещ[её])\b"),
        ("опять", r"\b(?:опять|снова|обратно|вновь)\b|опять\s+то\s+же"),
        ("отписка", r"отписк\w*|отфутбол\w*|футбол\w*|замкнут\w+\s+круг"),
        (
            "сделано плохо",
            r"для\s+(?:галочки|вида|отч[её]та)|тяп-?ляп|кое-?как|абы\s+как|на\s+отвали|через\s+одно\s+место"
            r"|халтур\w*|криво|формальн\w*|на\s+бумаге|толку\s+(?:ноль|нет|никакого)|наполовину|половин\w*",
        ),
        ("срок прошёл", r"\b(?:прош[её]л|прошло|прошла|прошли)\b|где\s+(?:обещан|ваш|результат)|уже\s+\d+"),
        (
            "не сделали",
            r"\bне\s+(?:сделал|починил|пришл|приш[её]л|приехал|вставил|поставил|убрал|вывез|дали|дал|проверил|вернул"
            r"|позвонил|привез|исправил|заменил|подключил|отремонтир|закрыл|работает|горит|ходит|топ|отвечает|моют"
            r"|убирают|чист|откачал|подключ|началс|приступил|был[оа]?\b)",
        ),
        (
            "и что?",
            r"\bи\s+что\?|сколько\s+можно|вы\s+о\s+ч[её]м|сделайте\s+уже|вы\s+издеваетесь|издевательство"
            r"|как\s+(?:ездить|жить|ходить|добираться)|на\s+что\s+(?:жить|кормить|покупать)",
        ),
        ("нет до сих пор", r"\b(?:нет|не\s+было)\b.{0,25}(?:до\s+сих|так\s+и|вс[её]\s+ещ)|никто\s+не\s+\w+"),
    ),
    "sarcasm": (
        (
            "спасибо, конечно",
            r"спасибо,?\s+(?:конечно|огромное|большое)(?:\s+огромное)?,?.{0,60}(?:только|но|а)\s"
            r"|очень\s+(?:помогло|помогают|эффективно|познавательно)|спасибо\s+за\s+«|за\s+рекомендацию",
        ),
    ),
    "thanks_reply": (
        (
            "спасибо за ответ",
            r"(?:спасибо|благодар\w+)\s+(?:вам\s+)?за\s+(?:ответ|информаци|разъяснени|подробн|быстр\w+\s+ответ|оперативн\w+\s+ответ)",
        ),
    ),
    "waiting": (
        (
            "ждём",
            r"\b(?:жд[её]м|будем\s+(?:ждать|звонить|писать|следить)|подожд[её]м|посмотрим|потерпим|ждать\s+\w+|надеюсь|наде[еи]мся"
            r"|запишусь|попробую|подам|напишем|отправ(?:ил|ила|лю)|буду\s+\w+)\b",
        ),
    ),
    "finally": (
        ("наконец-то", r"наконец|дождались|(?<![а-яё])ура\b|вс[её]\s+(?:сделали|работает|горит|ходит|чисто|хорошо)"),
    ),
    "new_problem": (
        (
            "ещё и / а у нас",
            r"\b(?:ещ[её]\s+и|а\s+у\s+нас|у\s+нас\s+(?:ещ[её]|тоже|же)|кстати|заодно|а\s+ещ[её]|и\s+ещ[её]|также|ещ[её]\s+бы"
            r"|пока\s+(?:ждём|ждем|писали)|раз\s+уж|и\s+раз\s+уж|ещ[её]\s+вопрос|ещ[её]:|теперь\s+(?:бы|ещ[её]))\b",
        ),
        (
            "в другом месте",
            r"\b(?:на\s+соседн\w+|в\s+соседн\w+|рядом|на\s+той\s+же|в\s+том\s+же|на\s+этой\s+же|у\s+того\s+же)\b",
        ),
        ("теперь", r"\b(?:а\s+)?теперь\b|после\s+(?:ремонта|них|урагана|откачки|стройки|замены)"),
    ),
}
_COMPILED = {
    group: tuple((name, re.compile(pattern, re.IGNORECASE)) for name, pattern in patterns)
    for group, patterns in _PATTERNS.items()
}
_SARCASM_EMOJI = re.compile(r"[🙃🙂😑😏🤡🙄]|👏")
_THANKS_EMOJI = re.compile(r"[🙏❤💐🤝]|👍|🙌|😊")
_CONTRAST = re.compile(r"(?:,|\.|\s)\s*(?:но|однако|только|а)\s", re.IGNORECASE)


@dataclass
class ReactionReading:
    """What `read_reaction` found, with the words that found it."""

    markers: dict[str, list[str]] = field(default_factory=dict)  # marker → the words that matched
    lemmas: list[str] = field(default_factory=list)  # the reaction's lemmas (negation joined: не_сделать)
    new_objects: list[str] = field(default_factory=list)  # problem words not in the reply
    question: bool = False

    def tokens(self) -> list[str]:
        """Marker tokens for the model."""
        tokens = ["р_" + name.replace(" ", "_") for name in self.markers]
        if self.question:
            tokens.append("р_вопрос")
        if self.new_objects:
            tokens.append("р_новый_предмет")
        return tokens


def _negation_joined(lemmas: list[str]) -> list[str]:
    """«не сделали» → не_сделать (and «так и не починили» → не_починить), so a negated verb is its own word."""
    out: list[str] = []
    negate = False
    for lemma in lemmas:
        if lemma in NEGATIONS:
            negate = True
            out.append(lemma)
            continue
        out.append(f"не_{lemma}" if negate else lemma)
        negate = False
    return out


def _matches(text: str, group: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, pattern in _COMPILED[group]:
        words = [m.group(0).strip(" ,.") for m in pattern.finditer(text)]
        if words:
            found[name] = words[:3]
    return found


def _reported_done(word: str) -> bool:
    """«сделали», «отремонтирован», «сделано»: the work as done, not asked for («сделайте») or promised («сделают»)."""
    tag = parses(word)[0].tag
    return "past" in tag or "PRTS" in tag or "PRTF" in tag


def _is_verb(word: str) -> bool:
    tag = parses(word)[0].tag
    return bool({"VERB", "INFN", "PRTS", "ADJS"} & set(str(tag).replace(" ", ",").split(",")))


def _content(lemma: str) -> bool:
    return len(lemma) >= 4 and lemma not in COMMON and lemma not in THANKS_LEMMAS and not lemma.isdigit()


def read_reaction(text: str, reply: str | None = None) -> ReactionReading:
    doc = analyze(text)
    lowered = doc.normalized
    tokens = doc.tokens
    lemmas = _negation_joined([t.lemma for t in tokens])
    markers: dict[str, list[str]] = {}
    thanks = [t.text for t in tokens if t.lemma in THANKS_LEMMAS] + _THANKS_EMOJI.findall(text)
    if thanks:
        markers["спасибо"] = thanks[:3]
    if all(t.lemma.startswith("эмо") for t in tokens):  # clean() turns a few emoji into эмо… tokens
        markers["без слов"] = [text.strip()[:8]]
    done = [t.text for t, lemma in zip(tokens, lemmas, strict=True) if lemma in DONE_LEMMAS and _reported_done(t.lower)]
    if done:
        markers["сделано"] = done[:3]
    state = [t.text for t, lemma in zip(tokens, lemmas, strict=True) if lemma in STATE_DONE_LEMMAS]
    if state:
        markers["работает"] = state[:3]
    undone = [
        t.text
        for t, lemma in zip(tokens, lemmas, strict=True)
        if lemma.startswith("не_") and (lemma[3:] in DONE_LEMMAS or lemma[3:] in STATE_DONE_LEMMAS)
    ]
    if undone:
        markers["не сделано"] = undone[:3]
    for group in ("not_fixed", "sarcasm", "thanks_reply", "waiting", "finally", "new_problem"):
        markers.update(_matches(lowered, group))
    sarcastic_emoji = _SARCASM_EMOJI.findall(text)
    if sarcastic_emoji and (thanks or done):
        markers["сарказм"] = sarcastic_emoji[:2]
    if thanks and _CONTRAST.search(lowered):
        markers["спасибо, но"] = [m.group(0).strip(" ,.") for m in _CONTRAST.finditer(lowered)][:2]
    if thanks and "ждём" in markers and not done:
        markers["спасибо и ждём"] = markers["ждём"]
    still = [t.text for t in tokens if t.lemma in STILL_LEMMAS]
    if still:
        markers["всё так же"] = still[:3]
    problems = [
        t.text
        for t, lemma in zip(tokens, lemmas, strict=True)
        if lemma in PROBLEM_LEMMAS or (lemma.startswith("не_") and _is_verb(t.lower))
    ]
    if problems:
        markers["поломка"] = problems[:3]
    # The reply's own words in the reaction: the same problem (still there, or fixed); a broken thing
    # the reply does not mention: likely another problem.
    new_objects: list[str] = []
    if reply:
        reply_lemmas = {t.lemma for t in analyze(reply).tokens if _content(t.lemma)}
        content = [t.lemma for t in tokens if _content(t.lemma) and t.lemma not in DONE_LEMMAS]
        shared = sorted({lemma for lemma in content if lemma in reply_lemmas})
        if shared:
            markers["о том же"] = shared[:3]
        if problems or any(name in markers for name in ("ещё и / а у нас", "в другом месте")):
            new_objects = sorted({lemma for lemma in content if lemma not in reply_lemmas})[:6]
        missing = re.findall(r"([а-яё]+)\s+(?:так\s+и\s+|до\s+сих\s+пор\s+|вс[её]\s+ещ[её]\s+)?нет\b", lowered)
        still_missing = [w for w in missing if {t.lemma for t in analyze(w).tokens} & reply_lemmas]
        if still_missing:
            markers["нет того же"] = still_missing[:2]
    if problems and any(name in markers for name in ("ещё и / а у нас", "в другом месте", "теперь")):
        markers["ещё поломка"] = problems[:2]
    question = "?" in text or bool(
        re.match(r"^\s*(?:а\s+)?(?:кто|где|когда|как|куда|почему|зачем|сколько|можно)\b", lowered)
    )
    return ReactionReading(markers=markers, lemmas=lemmas, new_objects=new_objects, question=question)


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


def _columns(named: dict[str, float], buckets: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
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
        columns, values, names = _columns(features(reading, self.buckets), self.buckets)
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
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, path, compress=3)

    @staticmethod
    def load(path: Path) -> ReactionModel:
        model = joblib.load(path)
        if not isinstance(model, ReactionModel):
            raise ValueError(f"{path} is not a reactions model")
        return model


def read_rows(paths: Iterable[Path]) -> list[dict[str, Any]]:
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
        columns, values, _ = _columns(features(read_reaction(row["text"], row.get("reply")), buckets), buckets)
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
    # The version names the data, the settings and the reading (this module's code makes the features).
    digest = hashlib.sha256(
        json.dumps([[r.get("reply") or "", r["text"], r["label"]] for r in rows], ensure_ascii=False).encode()
    )
    digest.update(f"{buckets}:{c}".encode())
    digest.update(Path(__file__).read_bytes())
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
