"""Does an official's reply answer the complaint, or is it a formula («отписка»)?

Four questions, read by lemma and pattern, each with the words that answered it (`read_reply`):
- does the reply name the problem (the complaint's own content words come back in it)?
- does it say what will be done or was done (an action verb of work: заменим, вывезли, отремонтируют …)?
- does it give a date or a term (до 15 мая, в течение 3 рабочих дней, завтра с 9 до 12, в июне)?
- does it say who does it (a named service, a contractor, ООО «…», МУП, a department, a person, a phone)?
and which formulas it is made of (передано в ответственную службу, на контроле, спасибо за обращение,
в ближайшее время, в установленном порядке …).

A logistic regression over those answers and the reply's words (`ReplyModel`, trained by
`python -m classifier train-replies` on corpus/replies/*.jsonl) gives the probability that the reply
is an отписка; the quality shown to the official is one minus it, with the reasons and what to add
(«укажите срок», «укажите, кто выполнит»). Nothing here calls the network.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from classifier import modelfile
from classifier.text import analyze

MONTHS = "январ|феврал|март|апрел|ма[йея]|июн|июл|август|сентябр|октябр|ноябр|декабр"  # any case of the month names
WEEKDAYS = "понедельник|вторник|сред[уае]|четверг|пятниц[уае]|суббот[уае]|воскресень[ея]"
_TERM = re.compile(
    rf"""
    \b\d{{1,2}}\.\d{{1,2}}(?:\.\d{{2,4}})?\b                           # 15.05, 15.05.2026
    | \b\d{{1,2}}\s+(?:{MONTHS})\w*                                     # 15 мая
    | \b(?:до|к|не\s+позднее|по)\s+(?:\d{{1,2}}\s+)?(?:конц\w+\s+)?(?:{MONTHS})\w*   # до конца мая, к июню
    | \bв\s+(?:{MONTHS})\w*\b                                           # в июне
    | \b(?:в\s+)?течени[еи]\s+(?:\d+|одн\w+|двух|трех|трёх|пяти|десяти|недел\w+|месяц\w*|суток)\s*\w*
    | \bза\s+\d+\s+(?:рабоч\w+\s+)?(?:дн|час|сут|недел)\w*
    | \b(?:завтра|послезавтра|сегодня|вчера)\b
    | \bна\s+(?:этой|следующей|будущей)\s+неделе\b
    | \bв\s+(?:{WEEKDAYS})\b
    | \b(?:до|к|по)\s+(?:понедельник|вторник|сред|четверг|пятниц|суббот|воскресень)\w*
    | \b\d{{1,2}}[:.]\d{{2}}\b                                          # 9:00
    | \bс\s+\d{{1,2}}\s+до\s+\d{{1,2}}\b                                # с 9 до 12
    | \b(?:до|к)\s+\d{{1,2}}(?:-?го)?\s+(?:числа|{MONTHS})                # до 20 числа
    | \b(?:в|до)\s+20\d\d\s+год\w*                                      # в 2027 году
    | \b(?:во?\s+)?(?:I|II|III|IV|1|2|3|4|перв\w+|втор\w+|трет\w+|четв[её]рт\w+)\s+квартал\w*
    | \b(?:до\s+)?конца\s+(?:недели|месяца|года|дня)
    | \bуже\s+(?:выполнен|завершен|заверш[её]н|сделан|устранен|устран[её]н|вывезен|отремонтирован)\w*
    """,
    re.IGNORECASE | re.VERBOSE,
)
_VAGUE_TERM = re.compile(
    r"в\s+ближайшее\s+время|в\s+плановом\s+порядке|по\s+мере\s+(?:финансирования|возможност\w+|поступления)"
    r"|в\s+установленн\w+\s+(?:законом\s+)?(?:порядке|сроки?)|в\s+кратчайшие\s+сроки|своевременно",
    re.IGNORECASE,
)
_WHO = re.compile(
    r"""
    \b(?:ООО|ОАО|ПАО|АО|ЗАО|МУП|ГУП|МКУ|МБУ|МАУ|ГБУ|ГКУ|ФГУП|ГБУЗ|УК|ТСЖ|ИП|ДРСУ|ДЭП|ЖЭУ|ЖЭК|РЭС|ПЖРТ)\b
    | «[^»]{2,60}»
    | \bподрядчик\w*\b | \bбригад\w+\b | \bмастер\w*\b | \bинспектор\w*\b | \bучастков\w+\b
    | \b(?:начальник|заместител|глав[аеуы]|директор|специалист|инженер|прораб)\w*\s+[А-ЯЁ]
    | \b[А-ЯЁ][а-яё]+\s+[А-ЯЁ]\.\s?[А-ЯЁ]\.                           # Иванов И. И.
    | \b[А-ЯЁ]\.\s?[А-ЯЁ]\.\s?[А-ЯЁ][а-яё]+                           # И. И. Иванов
    | (?:\+7|8)[\s(-]*\d{3}[\s)-]*\d{3}[\s-]*\d{2}[\s-]*\d{2}          # a phone
    | \b(?:отдел|управлени|департамент|комитет|служб)\w*\s+(?!ответствен)\w+
    | \b(?:водоканал|теплосет|горгаз|газпром|энергосбыт|россети|скорая|поликлиник|больниц|школ|администраци)\w*
    """,
    re.VERBOSE,
)
_FORMULAS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        ("передано", r"передан\w*|перенаправлен\w*|направлен\w*\s+(?:в|для)\s+(?:ответственн|компетентн|профильн)"),
        ("на контроле", r"на\s+контрол\w*|взят\w*\s+на\s+контроль|держим\s+на\s+контроле|контролируем"),
        (
            "спасибо за обращение",
            r"(?:спасибо|благодарим)\s+(?:вас\s+)?за\s+(?:ваше\s+)?(?:обращени|сообщени|информаци|неравнодуш)",
        ),
        (
            "извинения",
            r"приносим\s+(?:свои\s+)?извинени|извините\s+за\s+(?:доставленные|неудобств)|приносим\s+извинения",
        ),
        ("принято к сведению", r"принят\w*\s+к\s+сведению|информация\s+(?:принята|получена|передана)"),
        ("проверка без срока", r"проводится\s+проверк|будет\s+(?:проведена\s+)?провер\w+|организована\s+проверка"),
        ("в ближайшее время", r"в\s+ближайшее\s+время|в\s+кратчайшие\s+сроки"),
        ("в установленном порядке", r"в\s+установленн\w+\s+(?:законом\s+)?(?:порядке|срок)|59-ФЗ|№\s*59"),
        (
            "по мере финансирования",
            r"по\s+мере\s+(?:финансирования|возможност|поступления)|при\s+наличии\s+(?:финансирования|средств)",
        ),
        ("обратитесь сами", r"(?:рекомендуем|просим|необходимо|вам\s+следует|можете)\s+обратиться|обратитесь\s+в"),
        ("будет рассмотрено", r"будет\s+рассмотрен\w*|рассматривается|находится\s+на\s+рассмотрении"),
        ("в плановом порядке", r"в\s+плановом\s+порядке|включ\w+\s+в\s+план\w*\s+(?!на\s+\d)"),
        ("разберёмся", r"разбер[её]мся|примем\s+меры|будут\s+приняты\s+меры|меры\s+будут\s+приняты"),
        ("ответственная служба", r"ответственн\w+\s+(?:служб|организац|лиц)"),
    )
)
# Lemmas of the work an answer promises or reports (a verb of the complaint's kind of problem)
ACTION_LEMMAS = frozenset(
    """заменить заменять отремонтировать ремонтировать заделать заделывать залатать вывезти вывозить установить
    устанавливать восстановить восстанавливать выполнить устранить устранять убрать убирать очистить очищать
    расчистить отловить подключить подключать выехать выезжать починить прочистить почистить обработать спилить
    подсыпать отсыпать грейдировать засыпать демонтировать покрасить назначить выдать перечислить открыть
    запустить пустить дать включить провести проложить построить достроить закрыть огородить оградить
    переложить положить уложить асфальтировать ямочный завезти доставить выплатить начислить пересчитать
    вернуть продлить записать согласовать смонтировать заварить откачать
    промыть опрессовать подать возобновить перенести переставить нанести поменять обрезать вырубить высадить
    привести вывезти утеплить отремонтирован выполнен устранен завершить завершен сделать сделан""".split()
)
# Words any reply or complaint has: not evidence that the reply is about this complaint's problem
COMMON = frozenset(
    """добрый день здравствуйте уважаемый уважаемая ваш вашe ваше обращение вопрос сообщение информация
    житель жительница спасибо благодарить который этот весь наш свой мочь быть это как так уже еще ещё
    когда где что чтобы очень просить помочь сделать весь год месяц неделя сегодня завтра вчера время""".split()
)


@dataclass
class ReplyReading:
    """What `read_reply` found, with the words that found it."""

    mentions_problem: bool
    has_action: bool
    has_term: bool
    has_who: bool
    formulas: list[str] = field(default_factory=list)
    evidence: dict[str, list[str]] = field(default_factory=dict)
    overlap: float = 0.0
    vague_term: bool = False
    lemmas: list[str] = field(default_factory=list)  # the reply's, for the model's features

    def markers(self) -> str:
        """Marker tokens for the model (beside the reply's words)."""
        tokens = [
            f"ответ_{name}" if value else f"ответ_нет_{name}"
            for name, value in (
                ("проблема", self.mentions_problem),
                ("действие", self.has_action),
                ("срок", self.has_term),
                ("кто", self.has_who),
            )
        ]
        tokens += ["ответ_формула_" + f.replace(" ", "_") for f in self.formulas]
        if self.vague_term:
            tokens.append("ответ_размытый_срок")
        return " ".join(tokens)


def _content_lemmas(text: str) -> set[str]:
    return {t.lemma for t in analyze(text).tokens if len(t.lemma) >= 3 and t.lemma not in COMMON}


def read_reply(complaint: str, reply: str) -> ReplyReading:
    doc = analyze(reply)
    lemmas = [t.lemma for t in doc.tokens]
    complaint_words = _content_lemmas(complaint)
    reply_words = {lemma for lemma in lemmas if len(lemma) >= 3 and lemma not in COMMON}
    shared = sorted(complaint_words & reply_words)
    overlap = len(shared) / max(min(len(complaint_words), 12), 1)
    actions = sorted({t.lemma for t in doc.tokens if t.lemma in ACTION_LEMMAS})
    terms = [m.group(0).strip() for m in _TERM.finditer(reply)]
    vague = [m.group(0) for m in _VAGUE_TERM.finditer(reply)]
    who = [m.group(0).strip() for m in _WHO.finditer(reply) if not re.match(r"«\s*»", m.group(0))]
    formulas = [name for name, pattern in _FORMULAS if pattern.search(reply)]
    evidence = {
        "проблема": shared[:6],
        "действие": actions[:6],
        "срок": terms[:4],
        "кто": who[:4],
        "формулы": formulas,
    }
    return ReplyReading(
        mentions_problem=bool(shared),
        has_action=bool(actions),
        has_term=bool(terms),
        has_who=bool(who),
        formulas=formulas,
        evidence={k: v for k, v in evidence.items() if v},
        overlap=round(overlap, 3),
        vague_term=bool(vague) and not terms,
        lemmas=lemmas,
    )


SUGGESTIONS = {
    "срок": "укажите срок: дату или число дней («до 20 мая», «в течение 3 рабочих дней»)",
    "кто": "укажите, кто выполнит: службу, подрядчика или ответственного с контактом",
    "действие": "напишите, что именно будет сделано (заменим, вывезем, отремонтируем …)",
    "проблема": "ответьте по существу жалобы: назовите проблему и адрес, о которых пишет житель",
}


@dataclass(frozen=True)
class ReplyScore:
    quality: float  # 0..1: one minus the probability of an отписка
    verdict: str  # "answer" | "otpiska"
    reasons: list[str]
    suggestions: list[str]
    reading: ReplyReading


@dataclass
class ReplyModel:
    """Logistic regression over the reading's markers and the reply's lemmas (hashed, so the model
    is a plain weight vector); `threshold` on the probability of an отписка."""

    weights: np.ndarray
    bias: float
    buckets: int
    threshold: float = 0.5
    version: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)

    def probability(self, complaint: str, reply: str, reading: ReplyReading | None = None) -> float:
        reading = reading or read_reply(complaint, reply)
        columns, values = features(reading, self.buckets)
        z = float(self.weights[columns] @ values) + self.bias
        return 1.0 / (1.0 + math.exp(-z))

    def score(self, complaint: str, reply: str) -> ReplyScore:
        reading = read_reply(complaint, reply)
        p = self.probability(complaint, reply, reading)
        missing = [name for name, present in (
            ("проблема", reading.mentions_problem),
            ("действие", reading.has_action),
            ("срок", reading.has_term),
            ("кто", reading.has_who),
        ) if not present]  # fmt: skip
        reasons = [f"формула: {name}" for name in reading.formulas]
        reasons += [f"нет: {name}" for name in missing]
        if reading.vague_term:
            reasons.append("срок размытый («в ближайшее время»)")
        return ReplyScore(
            quality=round(1.0 - p, 3),
            verdict="otpiska" if p >= self.threshold else "answer",
            reasons=reasons,
            suggestions=[SUGGESTIONS[name] for name in missing],
            reading=reading,
        )

    def save(self, path: Path) -> None:
        modelfile.save(self, path)

    @staticmethod
    def load(path: Path) -> ReplyModel:
        return modelfile.load(path, ReplyModel, "a reply-quality model")


def _bucket(token: str, buckets: int) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little") % buckets


def features(reading: ReplyReading, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashed columns and values: the markers (weight 1), the reply's lemmas and lemma pairs (tf,
    L2-normalised), its length and the overlap with the complaint."""
    lemmas = reading.lemmas
    tokens = lemmas + [f"{a}_{b}" for a, b in zip(lemmas, lemmas[1:], strict=False)]
    counts: dict[int, float] = {}
    for token in tokens:
        column = _bucket("w:" + token, buckets)
        counts[column] = counts.get(column, 0.0) + 1.0
    norm = math.sqrt(sum(v * v for v in counts.values())) or 1.0
    values = {column: value / norm for column, value in counts.items()}
    for marker in reading.markers().split():
        column = _bucket("m:" + marker, buckets)
        values[column] = values.get(column, 0.0) + 1.0
    values[_bucket("n:length", buckets)] = min(math.log1p(len(lemmas)) / 5.0, 1.0)
    values[_bucket("n:overlap", buckets)] = min(reading.overlap, 1.0)
    columns = np.fromiter(values.keys(), dtype=np.int64, count=len(values))
    return columns, np.fromiter(values.values(), dtype=np.float64, count=len(values))


def read_rows(paths: Iterable[Path]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("label") not in ("answer", "otpiska") or not row.get("reply"):
                raise ValueError(f"{path}:{number}: a reply needs 'reply' and a label of answer/otpiska")
            rows.append(row)
    return rows


def train(rows: Sequence[dict[str, Any]], *, buckets: int = 2**16, c: float = 4.0) -> ReplyModel:
    from sklearn.linear_model import LogisticRegression  # training only: the service never imports sklearn

    matrix = _matrix(rows, buckets)
    gold = np.array([r["label"] == "otpiska" for r in rows])
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    model.fit(matrix, gold)
    weights = np.asarray(model.coef_[0], dtype=np.float64)
    digest = hashlib.sha256(json.dumps([[r["reply"], r["label"]] for r in rows], ensure_ascii=False).encode())
    return ReplyModel(weights=weights, bias=float(model.intercept_[0]), buckets=buckets, version=digest.hexdigest()[:8])


def _matrix(rows: Sequence[dict[str, Any]], buckets: int) -> Any:
    from scipy import sparse

    indptr, indices, data = [0], [], []
    for row in rows:
        columns, values = features(read_reply(row.get("complaint") or "", row["reply"]), buckets)
        indices.append(columns)
        data.append(values)
        indptr.append(indptr[-1] + len(columns))
    return sparse.csr_matrix(
        (np.concatenate(data), np.concatenate(indices), np.array(indptr)), shape=(len(rows), buckets)
    )


def evaluate(model: ReplyModel, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Precision, recall and F1 of «отписка», and accuracy, on `rows`."""
    tp = fp = fn = tn = 0
    for row in rows:
        called = model.probability(row.get("complaint") or "", row["reply"]) >= model.threshold
        gold = row["label"] == "otpiska"
        tp += called and gold
        fp += called and not gold
        fn += (not called) and gold
        tn += (not called) and not gold
    precision = tp / max(tp + fp, 1)
    recall = tp / max(tp + fn, 1)
    return {
        "rows": len(rows),
        "otpiska_precision": round(precision, 4),
        "otpiska_recall": round(recall, 4),
        "otpiska_f1": round(2 * precision * recall / max(precision + recall, 1e-9), 4),
        "accuracy": round((tp + tn) / max(len(rows), 1), 4),
    }
