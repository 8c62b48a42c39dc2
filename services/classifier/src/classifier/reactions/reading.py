"""What a reaction says, read by lemma and pattern (`read_reaction`): thanks and what for, work reported
done or not done, sarcasm, another problem, a question, waiting; each marker with the words that found it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from classifier.text import analyze, parses

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
