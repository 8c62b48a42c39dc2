"""Danger to life or health now, read as three questions: is there a hazard, is someone exposed to
it, is it happening now (or is it past, fixed, imagined, reported as news, far away).

Each question is answered from word concepts, matched by lemma so that every case form and word
order counts («провалился под лёд ребёнок», «ребёнка затянуло под лёд»). The answers are not a
verdict: they become marker tokens (`опас_вода`, `опас_вода_люди`, `опас_вода_сейчас`,
`опас_прошло` …) that the model's heads read beside the words, and the danger head learns from
the corpus how much each weighs. A post told in words that none of the concepts list still has its
words and character n-grams; the concepts are what lets a few hundred examples of one hazard teach
the same hazard told otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from classifier.text import WORDS_KEPT, Doc, parses

# Hazards by kind: the words that name the hazard itself or what people see, hear or smell of it.
HAZARDS: dict[str, frozenset[str]] = {
    "вода": frozenset(
        "затопить затоплять затапливать подтопить подтоплять подтопление потоп топить залить заливать прорвать "
        "прорыв прорваться хлестать хлынуть фонтан фонтанировать кипяток паводок наводнение половодье разлив "
        "разлиться затор дамба размыть смыть промоина ливень вода переливаться перелиться".split()
    ),
    "холод": frozenset(
        "мороз морозный холод холодно холодный замерзать замерзнуть мерзнуть промерзнуть окоченеть ледяной "
        "переохлаждение обморожение разморозить разморозиться разморозка котельная котел отопление батарея "
        "радиатор теплотрасса градус минус стужа".split()
    ),
    "огонь": frozenset(
        "пожар гореть горение огонь пламя дым дымить задымление задымить гарь тлеть возгорание загореться "
        "полыхать поджог поджечь искра пал пожарный пепел сгореть выгореть дымиться зарево".split()
    ),
    "газ": frozenset("газ газовый угарный угар угореть утечка баллон метан".split()),
    "обрушение": frozenset(
        "рухнуть обрушиться обрушение обвал обвалиться трещина треснуть крен накрениться проседать просесть "
        "осыпаться сыпаться провиснуть провисать шататься аварийный ветхий прогнить гнилой разрушаться "
        "развалиться разваливаться оползень оползать сель лавина сползать ползти склон подмыть подмывать "
        "покоситься прогнуться прогибаться".split()
    ),
    "падение": frozenset(
        "сосулька глыба наледь свисать нависать падать упасть сорваться кирпич плитка козырек балкон шифер "
        "карниз облицовка штукатурка сугроб подоконник нараспашку".split()
    ),
    "провал": frozenset(
        "люк колодец яма провал котлован траншея канава шахта воронка дыра обрыв пролет открытый".split()
    ),
    "ток": frozenset(
        "провод кабель проводка искрить замыкание оголить оголенный ток напряжение щиток электрощит "
        "трансформатор столб коротить током электричество розетка".split()
    ),
    "звери": frozenset(
        "собака стая свора пес псина медведь медведица медвежонок волк волчица кабан рысь лось бешеный бешенство "
        "укусить покусать кусать загрызть змея гадюка "
        "напасть нападать кидаться кинуться броситься бросаться рычать порвать цапнуть тяпнуть".split()
    ),
    "насилие": frozenset(
        "нож драка избить избивать стрелять стрельба выстрел пистолет ружье угрожать убить зарезать "
        "поножовщина топор травмат насилие грабить ломиться душить".split()
    ),
    "здоровье": frozenset(
        "скорый скорая температура сознание умирать умереть задыхаться приступ инфаркт инсульт давление "
        "кровь кровотечение реанимация госпитализация госпитализировать судорога лекарство инсулин "
        "кислород рвота отравление отравиться обморок плохо помирать гемодиализ сердце астма ингалятор тошнить "
        "вялый бредить посинеть захлебываться кашлять хрипеть задыхаться сползти обмякнуть очнуться пульс припадок "
        "эпилепсия диабетик диализ отекать задыхаться роженица рожать роды схватка ивл концентратор "
        "стонать стон".split()
    ),
    "отрава": frozenset(
        "хлор аммиак выброс смог химия химический ядовитый отравить приманка ртуть сероводород кашлять "
        "кашель першить слезиться дышать вонь едкий удушливый отрава яд травить гранула сдохнуть "
        "поганка мухомор".split()
    ),
    "лед": frozenset("лед льдина полынья провалиться тонкий трещать переправа зимник ледовый".split()),
    "дорога": frozenset(
        "переезд шлагбаум светофор тормоз тормоза мост мостик ограждение перила обочина трасса фура гололед "
        "гололедица разметка".split()
    ),
    "вода_люди": frozenset(
        "тонуть утонуть тонущий течение купаться затянуть лодка моторка паром баржа жилет сносить унести "
        "шторм волна перевернуться дрейфовать".split()
    ),
    "жара": frozenset("жара зной пекло духота тепловой солнечный обезвоживание перегреться".split()),
    "стихия": frozenset(
        "камень камнепад осыпь сойти сход дамба плотина сочиться размыв ураган смерч буря шквал град "
        "землетрясение".split()
    ),
    "взрыв": frozenset("взрыв взорваться бахнуть хлопок рвануть грохнуть детонировать".split()),
    "пропажа": frozenset("пропасть потеряться заблудиться исчезнуть розыск".split()),
    "ловушка": frozenset("застрять заблокировать запереть лифт заперт".split()),
}
# Words of ice that name it only beside ice or water: «крыша провалилась», «тонкий голос» are no ice.
ICE_BY_WATER = frozenset({"провалиться", "тонкий", "трещать"})
ICE_OR_WATER = frozenset(
    "лед льдина полынья переправа зимник ледовый ледостав река речка озеро пруд водохранилище залив море "
    "водоем затон протока рыбак рыбалка каток".split()
)
# Each hazard word's kinds, looked up once per token (most words name none).
KINDS_OF: dict[str, tuple[str, ...]] = {}
for _kind, _words in HAZARDS.items():
    for _word in _words:
        KINDS_OF[_word] = (*KINDS_OF.get(_word, ()), _kind)
# Who is exposed: people, above all those who cannot protect themselves.
EXPOSED = frozenset(
    "ребенок малыш младенец грудной школьник подросток сын дочь дочка внук внучка бабушка дедушка пенсионер "
    "старик старушка инвалид лежачий больной пациент беременная человек люди жилец житель сосед соседка "
    "прохожий пешеход пассажир водитель мама мать отец папа семья мужчина женщина девушка парень ребята "
    "детвора ребятишки пацан первоклассник ученик девочка мальчик роженица дед бабка бабуля дедуля муж жена "
    "свекровь теща тесть свекор школьница студент студентка мужик ребятня малышня детишки".split()
)
# Now: the danger is going on and someone must act within hours.
NOW = frozenset(
    "сейчас прямо срочно помочь спасти немедленно сегодня ночь продолжать вот-вот скоро опять снова "
    "помогите срочный караул спасите минута только успевать стемнеть".split()
)
# A cry for help that ends its sentence («…всё прибывает, помогите!»): the writer or someone beside
# them is in it now. Not a request that goes on («помогите найти», «помогите советом», «помогите с …»).
PLEA = re.compile(
    r"(?<![\w-])(помогите|спасите|спасайте|караул|sos|сос)"
    r"(?:[\s,]+(?:пожалуйста|срочно|кто-нибудь|люди|кто[\s-]+может))*\s*(?:[!.…?]|$)"
)
# What gas's odorant smells of, as the evidence names it
ODOURS = {"яйцо": "запах тухлых яиц", "капуста": "запах тухлой капусты"}
# Over: the danger is past or fixed.
OVER = frozenset(
    "устранить починить отремонтировать восстановить ликвидировать потушить обойтись "
    "закончиться вчерашний прошлый позапрошлый тогда помнить вспомнить спасти устранение "
    "фейк вброс".split()  # (a rumour denied: «это фейк, никакой утечки не было»)
)
# Thanks alone is its own context: it closes a fixed danger («спасибо, за час починили») as often as
# it mocks a standing one («спасибо газовщикам за бесплатный ароматизатор: несёт тухлыми яйцами»).
THANKED = frozenset({"спасибо", "благодарить", "благодарность"})
SINCE = frozenset({"с", "со"})
STILL_RE = re.compile(r"\bвс[её]\s+ещ[её]\b|\bдо\s+сих\s+пор\b|\bпо-прежнему\b")
# Advice to everyone after an accident told in the past («…обрушился балкон вместе с мужчиной.
# Проверьте свои балконы!», «…сбили школьника. Родители, повесьте детям светоотражатели»): a lesson
# drawn from what happened, not a report of a danger that is there now.
ADVICE_RE = re.compile(
    r"\b(?:провер\w*|гляньте\s+на|осмотрите|объясните)\s+(?:сво\w+|детям|детей)"
    r"|\bберегите\s+(?:себя|детей|своих|близких)|\bбудьте\s+(?:осторожн|внимательн|бдительн)"
    r"|\bсмотрите\s+(?:под\s+ноги|наверх|вверх|по\s+сторонам)|\bходите\s+подальше|\bне\s+(?:стойте|ходите)\s+под\b"
    r"|\bповесьте\s+(?:детям|на)|\bне\s+экономьте\b|\bне\s+отпускайте\s+детей"
)
# Imagined: a question or a worry about what might happen.
IMAGINED = frozenset("если вдруг представить гипотетически бы случай вдруг возможный".split())
# Told as news or as a general warning.
NEWS = frozenset(
    "сообщать сообщить пресс-служба информировать напоминать напомнить ведомство заявить уточнить "
    "корреспондент берегите памятка правило соблюдать осторожный осторожно учение учения тренировка".split()
)
# Far away: the hazard is abroad (a flooded metro in China, heat deaths in Spain), not where anyone can act.
FAR_AWAY = frozenset(
    "китай европа америка сша испания италия германия франция турция индия япония таиланд египет греция "
    "бразилия мексика австралия канада англия великобритания индонезия филиппины вьетнам корея "
    "грузия армения казахстан киргизия кыргызстан узбекистан эстония латвия литва финляндия норвегия "
    "заграница рубеж".split()
)
NEGATIONS = frozenset({"не", "нет", "ни"})
# What a life hangs on day by day. When it runs out, is cut off or does not come, the gap is the danger
# («инсулин кончается, в аптеке нет», «смеси на два дня», «концентратор без света»), whatever else
# the post names; «закончился» then tells of the gap, not of a danger that is over.
VITAL = frozenset(
    "инсулин лекарство таблетка препарат смесь кислород концентратор ивл диализ гемодиализ обезболивающее "
    "морфин ампула баллон аппарат".split()
)
GAP = frozenset(
    "закончиться заканчиваться кончиться кончаться остаться оставаться нет отсутствовать хватать перебой "
    "дефицит выдавать выдать привезти привозить завезти отказать отказывать последний отключить отключать "
    "отключение обесточить свет электричество".split()
)
# Help that does not come: the ambulance, the doctor, the carer (не едет, не приходит третий день).
HELPERS = frozenset("скорая скорый врач фельдшер соцработник сиделка бригада медик терапевт педиатр".split())
NOT_COMING = frozenset("ехать приехать приезжать доехать прийти приходить отвечать принять брать взять".split())
REFUSING = frozenset("отказаться отказываться отказать отказывать".split())  # «скорая ехать отказалась»
GAP_WINDOW = 5
# Temperatures that endanger people by themselves: frost of −15 and below, heat of +33 and above.
FROST_RE = re.compile(r"(?:[-−–]|минус\s*)\s?(?:1[5-9]|[2-5]\d)\b|минус\s+(?:двадцат|тридцат|сорок|пятьдесят)")
HEAT_RE = re.compile(r"(?:\+|плюс\s*)\s?(?:3[3-9]|4\d)\b")
# (kind, pattern, what every match of the pattern holds)
TEMPERATURES = (("мороз", FROST_RE, ("-", "−", "–", "минус")), ("жара", HEAT_RE, ("+", "плюс")))
SHORT = 6  # words in a post that is only a caption or a shout
WINDOW = 8  # tokens between a hazard word and an exposed person that still tie them together


@lru_cache(maxsize=WORDS_KEPT)
def _tense(word: str) -> str | None:
    """'now' for present-tense and imperative verbs, 'past' for past-tense ones, else None."""
    if not word or not word[0].isalpha():
        return None
    tag = parses(word)[0].tag
    if "VERB" not in tag:
        return None
    if "pres" in tag or "impr" in tag:
        return "now"
    if "past" in tag:
        return "past"
    return None


@dataclass(slots=True)
class DangerReading:
    """What the three questions found: markers for the model, words for the evidence."""

    markers: list[str] = field(default_factory=list)
    words: dict[str, list[str]] = field(default_factory=dict)  # hazard kind -> its words in the post
    exposed: list[str] = field(default_factory=list)
    plea: str | None = None  # the cry for help of a hazard going on, told by nobody as news or as past

    def describe(self) -> list[str]:
        """Evidence for an official: «угроза: вода (затопить, кипяток) · люди: ребёнок»."""
        out = [f"угроза: {kind} ({', '.join(words[:3])})" for kind, words in self.words.items()]
        if self.exposed and out:
            out.append("кто в опасности: " + ", ".join(self.exposed[:3]))
        if self.plea and out:
            out.append(f"просят о помощи: {self.plea}")
        return out


def read_danger(doc: Doc, lemmas: list[str] | None = None) -> DangerReading:
    """`lemmas`: doc.lemmas when the caller has them already (apply_rules), not built twice."""
    reading = DangerReading()
    if lemmas is None:
        lemmas = doc.lemmas
    if not lemmas:
        return reading
    text = doc.normalized
    temperatures = [
        (kind, found)
        for kind, pattern, signs in TEMPERATURES
        # a sign or its word first: the patterns try their alternatives at every position
        if any(sign in text for sign in signs) and (found := pattern.search(text))
    ]
    if not temperatures and KINDS_OF.keys().isdisjoint(lemmas) and VITAL.isdisjoint(lemmas) and "тухлый" not in lemmas:
        return reading  # no hazard named: nothing to mark (decided in C, for most posts)
    positions: dict[str, list[int]] = {}
    exposed_at: list[int] = []
    now = past = 0
    for i, (token, word) in enumerate(zip(doc.tokens, lemmas, strict=True)):
        kinds = KINDS_OF.get(word)
        if kinds and not (i > 0 and lemmas[i - 1] in NEGATIONS):
            for kind in kinds:
                positions.setdefault(kind, []).append(i)
                kind_words = reading.words.setdefault(kind, [])
                if word not in kind_words:
                    kind_words.append(word)
        if word in EXPOSED:
            exposed_at.append(i)
            if word not in reading.exposed:
                reading.exposed.append(word)
        tense = _tense(token.lower)
        if tense == "now":
            now += 1
        elif tense == "past":
            past += 1
    if "лед" in positions and ICE_OR_WATER.isdisjoint(lemmas) and set(reading.words["лед"]) <= ICE_BY_WATER:
        del positions["лед"], reading.words["лед"]
    # Gas is smelt before it is named: its odorant smells of rotten eggs or cabbage (тянет тухлыми яйцами)
    smelt = next((ODOURS[word] for word in ("яйцо", "капуста") if word in lemmas), None) if "тухлый" in lemmas else None
    if smelt is not None:
        positions.setdefault("газ", []).append(lemmas.index("тухлый"))
        reading.words.setdefault("газ", []).append(smelt)
    for kind, found_temperature in temperatures:
        positions.setdefault(kind, []).append(_token_at(doc, found_temperature.start()))
        reading.words.setdefault(kind, []).append(found_temperature.group(0).strip())
    gap_at = _gaps(lemmas)
    if gap_at:
        positions.setdefault("нехватка", []).extend(gap_at)
        reading.words.setdefault("нехватка", []).extend(dict.fromkeys(lemmas[i] for i in gap_at))
    present = set(lemmas)
    # «собаки всё ещё там», «до сих пор»: still going on; an imperative to people around («люди,
    # выносите вещи») makes a tie of tenses «now»
    is_now = bool(present & NOW) or now > past or (now > 0 and now == past) or bool(STILL_RE.search(text))
    cry = PLEA.search(text) if is_now else None
    # «спасите» is a form of «спасти», which otherwise tells of a rescue done
    # «со вчерашнего вечера», «с прошлой недели»: since then, so still going on
    over = {w for i, w in enumerate(lemmas) if w in OVER and not (i and lemmas[i - 1] in SINCE)}
    over -= ({"спасти"} if cry else set()) | (GAP if gap_at else set())
    contexts = [
        ("прошло", bool(over)),
        ("спасибо", bool(present & THANKED)),
        ("если", bool(present & IMAGINED)),
        ("новость", bool(present & NEWS)),
        ("далеко", bool(present & FAR_AWAY)),
        # (a lesson drawn: the accident is told in the past and nothing says the danger is still there)
        ("совет", past > 0 and not present & NOW and not STILL_RE.search(text) and bool(ADVICE_RE.search(text))),
        ("прош_время", past > now),
    ]
    markers = reading.markers
    for kind, at in positions.items():
        markers.append(f"опас_{kind}")
        if exposed_at and any(abs(i - j) <= WINDOW for i in at for j in exposed_at):
            markers.append(f"опас_{kind}_люди")
            if is_now:
                markers.append("опас_люди_сейчас")
        if is_now:
            markers.append(f"опас_{kind}_сейчас")
    if positions:
        if len(positions) >= 2:
            markers.append("опас_несколько")
        if len(lemmas) <= SHORT:
            # «Фасад сыплется ⚠️», «Дети, полынья!!»: a caption or a shout names the hazard and little else
            markers.append("опас_коротко")
        markers.extend(f"опас_{name}" for name, present_here in contexts if present_here)
        if cry and not any(present_here for _, present_here in contexts):
            reading.plea = cry.group(1)
    return reading


def _gaps(lemmas: list[str]) -> list[int]:
    """Where a vital supply runs out or help does not come: a VITAL word with a GAP word near it, or
    a helper with «не» before a coming verb near it."""
    found = []
    for i, word in enumerate(lemmas):
        if word not in VITAL and word not in HELPERS:
            continue
        near = lemmas[max(0, i - GAP_WINDOW) : i + GAP_WINDOW + 1]
        if word in VITAL:
            if not GAP.isdisjoint(near):
                found.append(i)
        elif not REFUSING.isdisjoint(near) or any(
            w in NOT_COMING and j > 0 and near[j - 1] == "не" for j, w in enumerate(near)
        ):
            found.append(i)
    return found


def _token_at(doc: Doc, offset: int) -> int:
    """The index of the first token at or after a character offset of the text."""
    for i, token in enumerate(doc.tokens):
        if token.start >= offset:
            return i
    return max(len(doc.tokens) - 1, 0)
