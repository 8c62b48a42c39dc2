"""`apply_rules`: the rules a post fires, each with the words that fired it (`RuleHits`), and the
danger reading (classifier.danger) whose markers the danger head weighs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from classifier.danger import DangerReading, read_danger
from classifier.rules.durations import duration_days
from classifier.rules.words import (
    ABANDONED,
    ABROAD,
    ADVERT,
    AHEAD_CUES,
    AHEAD_RE,
    ANNOUNCEMENT_RE,
    BROKEN,
    BUILDINGS,
    CHILD,
    CLIMBING,
    CO_SOURCES,
    CO_SYMPTOMS,
    CROWD_RE,
    ESSENTIALS,
    FAILURES,
    FALLING,
    FALLING_THINGS,
    FICTION_CUES,
    FICTION_RE,
    FIRE,
    FIRE_EXCUSE,
    FOUND,
    FROST_RE,
    GAS_FITTINGS,
    GAS_SIGNS,
    GAS_SMELL,
    GAS_WORDS,
    GENRES,
    HEATING,
    LIFE,
    LONG,
    LOST,
    MANY,
    MEMORY_CUES,
    MEMORY_RE,
    MISSING_NOW,
    MOCK_PRAISE_RE,
    NEAR_DANGERS,
    NEGATIONS,
    NEWS,
    NO,
    OVERHEAD_TARGETS,
    PETS,
    PHONE_RE,
    POLITE_CLOSE_RE,
    PRICE_CUES,
    PRICE_RE,
    PUBLIC_BODIES,
    RESOLVED_CUES,
    RESOLVED_RE,
    SARCASM_CUES,
    SARCASM_RE,
    THANKS,
    THANKS_BUT_RE,
    TRAFFIC,
    VERSE_LINE_RE,
    WILDS,
    WORD_DANGERS,
    YOUNG,
    holds_any,
)
from classifier.text import Doc


@dataclass(slots=True)
class RuleHits:
    """What the rules found in one post: the marker tokens the model reads, each marker's words (the
    evidence), the reasons for critical and high urgency, the tone flags, and the danger reading."""

    markers: list[str] = field(default_factory=list)
    evidence: dict[str, list[str]] = field(default_factory=dict)
    critical: list[str] = field(default_factory=list)
    high: dict[str, str] = field(default_factory=dict)  # reason -> the marker holding its words
    thanks: bool = False
    sarcasm: bool = False
    advert: bool = False
    stated: bool = False  # the post opens by naming itself a complaint (Жалоба: …, Обращение к главе …)
    demand: bool = False  # «сколько можно», «когда уже починят», «куда смотрит администрация»
    outage: bool = False  # «нет воды», «нет отопления»: a utility missing now
    reading: DangerReading = field(default_factory=DangerReading)

    def danger(self, reason: str, marker: str, words: Iterable[str]) -> None:
        self.critical.append(reason)
        self.hit(marker, words)

    def hit(self, marker: str, words: Iterable[str]) -> None:
        self.markers.append(marker)
        self.evidence[marker] = sorted(set(words))[:4]


# A post that opens by naming itself a complaint or an appeal: every one of the corpus's 20 such posts is
# one. Not «жалоба на курьера» in mid-sentence, nor a question about how to complain.
STATED_COMPLAINT_RE = re.compile(r"\W*#?(жалоба|жалуюсь|обращение)\b")
# A demand that the authorities act, asked as a question people do not expect answered: «сколько можно»,
# «когда уже починят», «доколе», «куда смотрит администрация», «где же УК». In the hand-written corpus
# 93 % of the posts holding one are complaints (187 of 199 «сколько можно», 31 of 35 «когда уже …»,
# all 67 «доколе»/«куда смотрят»): a short one reads like chat to the model, which has too few words.
_FIXING = (
    r"(?:почин|отремонт|убер|сдела|задела|залата|вывез|откро|дадут|включ|почист|привед|восстанов|навед|замен|"
    r"постро|заасфальт|положат|покрас|спил|отлов|провед|подключ|решат|прекрат|займ|начн|прид|приед|наладят|"
    r"исправ|вернут|пустят|запуст|ответят|услыш)"
)
DEMAND_RE = re.compile(
    r"сколько\s+(?:же\s+|ещ[её]\s+)?можно(?!\s+(?:купить|взять|заработать|сэкономить|получить|приготовить|найти))|доколе|до\s+каких\s+пор|куда\s+(?:же\s+|вообще\s+)?смотр(?:ит|ят)"
    r"|где\s+(?:же\s+|вообще\s+)?(?:администрация|власть|власти|мэр|глава|ук|управляйка|жкх)\b"
    rf"|когда\s+(?:же|уже|наконец(?:-то)?|уж)\s+(?:[\w-]+\s+){{0,3}}?{_FIXING}"
)


# A utility missing now, told with «нет» (not «без», which the corpus's memories and news of elsewhere
# use: «неделю без тепла сидели»): 362 of the corpus's 380 posts holding one are complaints.
OUTAGE_RE = re.compile(
    r"(?<![а-яё])нет\s+(?:(?:горяч|холодн|питьев|нормальн)\w*\s+)?"
    r"(?:воды|света|отопления|тепла|газа|электричества|электроэнергии|канализации)(?![а-яё])"
)


SEARCH_FORMS = {"найти", "найдите", "найдем", "найдём"}


def _not_back(lemmas: list[str], present: set[str]) -> list[str] | None:
    """A child who has not come back («девочка 12 лет не вернулась домой из школы»)."""
    if "вернуться" not in present or CHILD.isdisjoint(present):
        return None
    for i, word in enumerate(lemmas):
        if word == "вернуться" and i and lemmas[i - 1] == "не":
            near = [w for w in lemmas[max(0, i - 6) : i + 6] if w in CHILD]
            if near:
                return [near[0], "не вернуться"]
    return None


def _near(
    lemmas: list[str],
    first: set[str],
    second: set[str],
    window: int = 5,
    *,
    negatable: bool = True,
    present: set[str] | None = None,
) -> list[str] | None:
    """Words from both sets within `window` tokens of each other, unless the first is negated.
    `present`: set(lemmas), when the caller has it (set against set checks the smaller one)."""
    words = lemmas if present is None else present
    if first.isdisjoint(words) or second.isdisjoint(words):
        return None  # most posts: no word of either set, decided in C
    for i, word in enumerate(lemmas):
        if word in first:
            if negatable and i and lemmas[i - 1] in NEGATIONS:
                continue
            for j in range(max(0, i - window), min(len(lemmas), i + window + 1)):
                if j != i and lemmas[j] in second:
                    return [word, lemmas[j]]
    return None


def apply_rules(doc: Doc) -> RuleHits:
    hits = RuleHits()
    lemmas = doc.lemmas
    present = set(lemmas)
    text = doc.normalized  # lower case, ё→е; patterns skip IGNORECASE (2–3× slower on Cyrillic)

    thanks = present & THANKS
    if thanks and POLITE_CLOSE_RE.search(text) and len(POLITE_CLOSE_RE.findall(text)) >= len(thanks):
        thanks = set()  # only the polite close of a complaint
    preface = THANKS_BUT_RE.search(text) if thanks else None
    if preface:  # thanks, but…: what follows is what the post is about
        hits.hit("правило_спасибо_но", [f"{preface.group(1)} … {preface.group(2)}"])
    elif thanks:
        hits.thanks = True
        hits.hit("правило_благодарность", thanks)
    memory = MEMORY_RE.search(text) if holds_any(text, MEMORY_CUES) else None
    if memory:
        hits.hit("правило_воспоминание", [memory.group(0)])
    for marker, pattern, cue_words in (
        ("правило_на_будущее", AHEAD_RE, AHEAD_CUES),
        ("правило_вымысел", FICTION_RE, FICTION_CUES),
        ("правило_решено", RESOLVED_RE, RESOLVED_CUES),
    ):
        found = pattern.search(text) if holds_any(text, cue_words) else None
        if found:
            hits.hit(marker, [found.group(0)])
    sarcasm = SARCASM_RE.search(text) if holds_any(text, SARCASM_CUES) else None
    if sarcasm is None and not present.isdisjoint(PUBLIC_BODIES) and not present.isdisjoint(FAILURES):
        sarcasm = MOCK_PRAISE_RE.search(text)
    if sarcasm or ({"эмосарказм", "эмосмех"} & present and (thanks or "отличный" in present)):
        hits.sarcasm = True
        hits.hit("правило_сарказм", [sarcasm.group(0)] if sarcasm else ["ирония"])
    stated = STATED_COMPLAINT_RE.match(text)
    if stated:
        hits.stated = True
        hits.hit("правило_жалоба", [stated.group(1)])
    demand = DEMAND_RE.search(text)
    if demand:
        hits.demand = True
        hits.hit("правило_требование", [demand.group(0)])
    outage = OUTAGE_RE.search(text) if "нет" in text else None
    if outage:
        hits.outage = True
        hits.hit("правило_нет_сейчас", [outage.group(0)])
    advert = present & ADVERT
    if PHONE_RE.search(text):
        advert = advert | {"телефон"}
    if holds_any(text, PRICE_CUES) and PRICE_RE.search(text):
        advert = advert | {"цена"}
    if len(advert) >= 2 or (advert and PHONE_RE.search(text)):
        hits.advert = True
        hits.hit("правило_реклама", advert)
    news = present & NEWS
    if len(news) >= 2:
        hits.hit("правило_новость", news)
    announcement = ANNOUNCEMENT_RE.search(text)
    if announcement:
        hits.hit("правило_объявление", [announcement.group(0)])
    abroad = present & ABROAD
    if abroad:
        hits.hit("правило_заграница", abroad)
    for marker, words in GENRES:
        genre = present & words
        if genre:
            hits.hit(marker, genre)
    if VERSE_LINE_RE.search(doc.raw):
        hits.hit("жанр_стих", ["строки стиха"])
    if doc.caps_ratio > 0.5 and len(lemmas) > 3:
        hits.hit("правило_капс", ["КАПС"])
    if doc.exclamations >= 2:
        hits.hit("правило_восклицания", ["!"])

    # Danger to life or health now: critical.
    gas = _near(lemmas, GAS_SMELL, {"газ", "газом", "газа"}, window=3, present=present)
    if not gas and not present.isdisjoint(GAS_WORDS):
        gas = _near(lemmas, GAS_SIGNS, GAS_FITTINGS, window=4, present=present)
    if gas and not _negated_gas(lemmas):
        hits.danger("запах газа", "правило_газ", gas)
    heating = _near(lemmas, HEATING, NO, window=4, negatable=False, present=present)
    if heating and FROST_RE.search(text):
        hits.danger("нет отопления в мороз", "правило_холод", heating + ["мороз"])
    fire = present & FIRE
    # (not negated: «лампочки не горят ни на одном этаже» is a dark stairwell)
    burning = _near(lemmas, {"гореть", "поджечь", "загореться", "полыхать"}, BUILDINGS, window=5, present=present)
    if (fire & {"пожар", "пламя", "возгорание"} or burning) and not present & FIRE_EXCUSE:
        hits.danger("пожар", "правило_пожар", burning or fire)
    symptoms = present & CO_SYMPTOMS
    if len(symptoms) >= 2 and present & CO_SOURCES:
        hits.danger("угарный газ", "правило_угар", sorted(present & CO_SOURCES) + sorted(symptoms))
    for reason, marker, danger_words in WORD_DANGERS:
        if present & danger_words:
            hits.danger(reason, marker, present & danger_words)
    for reason, marker, first, second, window, negatable in NEAR_DANGERS:
        near = _near(lemmas, first, second, window=window, negatable=negatable, present=present)
        if near:
            hits.danger(reason, marker, near)
    abandoned = _near(lemmas, ABANDONED, CLIMBING | YOUNG, window=10, negatable=False, present=present)
    if abandoned and present & YOUNG:
        hits.danger("дети на опасном объекте", "правило_заброшка", abandoned)
    negated = [f"не_{word}" if i and lemmas[i - 1] == "не" else word for i, word in enumerate(lemmas)]
    traffic = _near(negated, TRAFFIC, BROKEN, window=8, negatable=False)
    if traffic:
        hits.danger("не работает светофор или переезд", "правило_светофор", traffic)
    lost = _near(negated, LOST, WILDS, window=6, negatable=False)
    if lost and present.isdisjoint(FOUND):
        hits.danger("человек пропал в лесу", "правило_пропал", lost)
    missing = _near(lemmas, CHILD, MISSING_NOW, window=3, present=present) or _not_back(lemmas, present)
    # («помогите найти» asks for a search: only a found form says the child is back)
    child_found = not present.isdisjoint(FOUND) and not (
        present & FOUND == {"найти"} and all(t.lower in SEARCH_FORMS for t in doc.tokens if t.lemma == "найти")
    )
    if missing and not child_found and present.isdisjoint(PETS):
        hits.danger("ребёнок потерялся", "правило_потерялся", missing)
    overhead = _near(lemmas, FALLING_THINGS, FALLING | {"висеть"}, window=5, negatable=False, present=present)
    if overhead and "правило_падение" not in hits.evidence and present & (OVERHEAD_TARGETS | YOUNG):
        hits.danger("может упасть на людей", "правило_нависает", overhead)
    life = present & LIFE
    if life:
        hits.hit("правило_жизнь", life)
    # Hazard × who is exposed × now, as markers the danger head weighs (classifier/danger.py).
    hits.reading = read_danger(doc, lemmas)
    hits.markers.extend(hits.reading.markers)
    if hits.sarcasm and hits.reading.words:
        # a hazard told with irony («спасибо газовщикам за ароматизатор: несёт тухлыми яйцами») is
        # still a hazard: the pair tells the danger head what thanks alone does not
        hits.markers.append("опас_ирония")
        # …and its thanks thank nobody: «Ну спасибо нашему здравоохранению. Дед бредит, скорая
        # ехать отказалась» is no danger thanked away
        for markers in (hits.markers, hits.reading.markers):
            if "опас_спасибо" in markers:
                markers.remove("опас_спасибо")

    # High urgency: going on for long, or many people (corpus/LABELLING.md). Markers only: the
    # urgency head weighs them against the rest of the post.
    duration = duration_days(text)
    if duration and duration[0] >= 7:
        hits.high["давно"] = "правило_долго"
        hits.hit("правило_долго", [duration[1]])
    elif duration and duration[0] >= 3:
        hits.hit("правило_дни", [duration[1]])
        essential = present & ESSENTIALS
        if essential:
            hits.high["нет необходимого несколько дней"] = "правило_без_необходимого"
            hits.hit("правило_без_необходимого", [duration[1], *sorted(essential)])
    elif present & LONG:
        hits.hit("правило_долго_слабо", present & LONG)
    public = present & PUBLIC_BODIES
    if public:
        hits.hit("правило_служба", public)
        styled = hits.sarcasm or thanks or "жанр_отзыв" in hits.evidence or "жанр_юмор" in hits.evidence
        failure = present & FAILURES
        if styled and (failure or duration or present & LONG):
            # A public body and a failure told as thanks, a review or a joke: the heads read the pair,
            # which neither word alone tells them.
            hits.hit("правило_ирония_о_службе", sorted(public)[:2] + sorted(failure)[:2])
    crowd = CROWD_RE.search(text)
    if crowd:
        hits.high["многих касается"] = "правило_массово"
        hits.hit("правило_массово", [crowd.group(0)])
    elif present & MANY:
        hits.hit("правило_массово_слабо", present & MANY)
    return hits


def _negated_gas(lemmas: list[str]) -> bool:
    for i, word in enumerate(lemmas[:-1]):
        if word in NEGATIONS and lemmas[i + 1] in GAS_SMELL:
            return True
    return False
