"""Rules where they beat a small model: danger to life (critical urgency), thanks vs sarcasm,
adverts, news reposts. Each rule names the words that fired it, for the evidence.

Rules feed the model as marker features (so training weighs them) and critical urgency also
overrides the model: a gas smell is critical however it is phrased around it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from classifier.text import Doc

PHONE_RE = re.compile(r"(?:\+7|8)[\s(-]*\d{3}[\s)-]*\d{3}[\s-]*\d{2}[\s-]*\d{2}")
FROST_RE = re.compile(r"(?:-|минус\s*)\s?(?:[1-5]\d)\b|мороз", re.IGNORECASE)
SARCASM_RE = re.compile(
    r"\){3,}|браво|ну\s+спасибо|ирония|спасибо[^.!?]{0,40}\bза\s+(?:очередн|нашу\s+счастлив|такие|такое|эти|это)"
    r"|спасибо[^.!?]{0,40}\bза\s+[\"«“][^\"»”]{2,25}[\"»”]"
    r"|спасибо[^.!?]{0,40}\bза[^.!?]{0,30}(?:свалк|ям[ыуа]|гряз|мусор|пробк|луж|сугроб|темнот|вонь|отписк|дыр)"
    r"|«[^»]{3,30}»\s*(?:ремонт|благоустройств)",
    re.IGNORECASE,
)
PRICE_RE = re.compile(r"\d[\d\s]*(?:руб|₽|р\.|тыс\.?\s*руб)|\d+\s*%|\d+\s+в\s+месяц", re.IGNORECASE)

NEGATIONS = {"не", "нет", "ни"}
THANKS = {"спасибо", "благодарить", "благодарность", "благодарный", "молодец", "признательный", "спасибочко"}
ADVERT = {
    "продать", "продам", "купить", "куплю", "скидка", "акция", "распродажа", "доставка", "заказ",
    "заказать", "подписываться", "подписаться", "промокод", "розыгрыш", "аренда", "сдать", "сдаваться", "вакансия",
    "заработок", "бесплатный", "консультация", "недорого", "прайс", "лс", "директ", "ставка", "бесплатно",
    "замер", "сдаётся", "сдается", "продаваться", "продаётся", "кредит", "ипотека", "выгодный", "гарантия",
}  # fmt: skip
NEWS = {"сообщать", "пресс-служба", "пресс", "губернатор", "заявить", "сообщить", "опубликовать", "планировать",
        "министерство", "данные", "напомнить", "пояснить", "рассказать", "мэрия", "нацпроект", "рамка"}  # fmt: skip
CHILD = {"ребенок", "ребёнок", "дети", "малыш", "школьник", "мальчик", "девочка", "ребятишки", "детвора", "дочь", "сын"}
CHILD_DANGER = {"провалиться", "застрять", "тонуть", "утонуть", "люк", "оголить", "оголенный", "ток", "сбить",
                "лед", "поезд", "порезать", "висеть", "обочина", "трасса",
                "опасность", "угроза", "травмироваться", "травма", "одни", "одних"}  # fmt: skip
COLLAPSE = {"обрушиться", "обрушение", "рухнуть", "обвалиться", "обвал", "обрушаться", "обваливаться", "рушиться"}
FIRE = {"пожар", "гореть", "пламя", "возгорание", "загореться", "поджог", "полыхать", "поджечь"}
BUILDINGS = {"дом", "квартира", "подъезд", "крыша", "сарай", "здание", "школа", "барак", "общежитие", "больница",
             "садик", "гараж", "подвал", "этаж", "балкон"}  # fmt: skip
WEAPONS = {"нож", "топор", "стрелять", "травмат", "пистолет", "ружье", "стрельба", "обрез", "поножовщина"}
FALLING = {"падать", "упасть", "отваливаться", "сыпаться", "свисать", "рухнуть", "валиться", "обваливаться"}
FALLING_ON = {"голова", "тротуар", "прохожий", "кирпич", "плитка", "сосулька", "глыба", "наледь", "люди", "человек",
              "пешеход", "остановка"}  # fmt: skip
HOLES = {"люк", "котлован", "колодец", "яма", "траншея", "провал"}
OPEN = {"открытый", "открыть", "вскрыть", "огородить", "огороженный", "крышка", "без", "открыт"}
MEDICAL = {"инфаркт", "инсульт", "сознание", "умирать", "задыхаться", "реанимация", "гемодиализ", "кислород",
           "приступ", "судорога"}  # fmt: skip
FIRE_EXCUSE = {
    "светофор",
    "свет",
    "зеленый",
    "красный",
    "лампа",
    "фонарь",
    "желтый",
    "сроки",
    "срок",
    "путевка",
    "гирлянда",
}
SEWAGE = {"канализация", "фекалия", "нечистота", "сток", "говно", "канализационный", "стоки"}
FLOOD = {"затопить", "топить", "заливать", "залить", "хлестать", "затапливать", "фонтанировать", "подтопить",
         "прорвать", "подступать"}  # fmt: skip
HEATING = {"отопление", "батарея", "тепло", "отопительный", "радиатор"}
NO = {"нет", "не", "отключить", "холодный", "ледяной", "отключение", "без", "чуть", "еле", "остыть", "холодно"}
WIRE = {"провод", "кабель", "проводка"}
WIRE_DANGER = {"оборвать", "оголить", "оголенный", "искрить", "лежать", "висеть", "оборванный", "искра", "коротить"}
LIFE = {"жизнь", "умирать", "умереть", "сознание", "задыхаться", "кровь", "реанимация", "смерть", "погибнуть"}
GAS_SMELL = {"пахнуть", "запах", "утечка", "вонять", "воняет", "пахнет", "чувствоваться"}
LONG = {"неделя", "месяц", "год", "полгода", "лет", "третий", "четвертый", "пятый", "который", "постоянно", "вечно",
        "годами", "месяцами", "неделями", "сутки"}  # fmt: skip
MANY = {"весь", "целый", "сотня", "тысяча", "жилец", "жители", "житель", "микрорайон", "подъезд", "квартал", "улица",
        "поселок", "село", "массово", "многоквартирный", "несколько"}  # fmt: skip


DURATION_RE = re.compile(
    r"(?:(\d+)\s*(?:-?х\s*)?(дн|дня|дней|сут|недел|месяц|мес\b|год|лет)"
    r"|(втор|трет|четверт|пят|шест|седьм)\w*\s+(день|дня|недел|месяц|год|сутки)"
    r"|(полгода|полтора|годами|месяцами|неделями|с весны|с лета|с осени|с зимы|с прошлого года"
    r"|всю зиму|все лето))"
)
CROWD_RE = re.compile(
    r"(?:весь|всем|всего|всему|вся|всей|всю|все)\s+(?:дом|подъезд|микрорайон|район|улиц|поселк|поселок|сел|город|квартал|мкр)"
    r"|\d+\s*(?:домов|семей|семьи|человек|квартир|подъездов|жител|улиц)"
    r"|(?:сотни|тысячи|десятки)\s+\w+"
)


def _long_enough(match: re.Match[str]) -> bool:
    if match.group(1):  # "12 дней", "3 недели"
        count, unit = int(match.group(1)), match.group(2)
        return count >= 7 if unit.startswith(("дн", "дня", "сут")) else count >= 1
    if match.group(3):  # "вторую неделю", "третий день"
        return not match.group(4).startswith(("день", "дня", "сутки")) or match.group(3) not in {"втор"}
    return True


@dataclass(slots=True)
class RuleHits:
    markers: list[str] = field(default_factory=list)
    evidence: dict[str, list[str]] = field(default_factory=dict)
    critical: list[str] = field(default_factory=list)
    high: list[str] = field(default_factory=list)
    thanks: bool = False
    sarcasm: bool = False
    advert: bool = False

    def hit(self, marker: str, words: Iterable[str]) -> None:
        self.markers.append(marker)
        self.evidence[marker] = sorted(set(words))[:4]


def _near(
    lemmas: list[str], first: set[str], second: set[str], window: int = 5, *, negatable: bool = True
) -> list[str] | None:
    """Words from both sets within `window` tokens of each other, unless the first is negated."""
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
    text = doc.cleaned

    thanks = present & THANKS
    if thanks:
        hits.thanks = True
        hits.hit("правило_благодарность", thanks)
    if SARCASM_RE.search(text) or ({"эмосарказм", "эмосмех"} & present and (thanks or "отличный" in present)):
        hits.sarcasm = True
        hits.hit("правило_сарказм", [m.group(0) for m in [SARCASM_RE.search(text)] if m] or ["ирония"])
    advert = present & ADVERT
    if PHONE_RE.search(text):
        advert = advert | {"телефон"}
    if PRICE_RE.search(text):
        advert = advert | {"цена"}
    if len(advert) >= 2 or (advert and PHONE_RE.search(text)):
        hits.advert = True
        hits.hit("правило_реклама", advert)
    news = present & NEWS
    if len(news) >= 2:
        hits.hit("правило_новость", news)
    if doc.caps_ratio > 0.5 and len(lemmas) > 3:
        hits.hit("правило_капс", ["КАПС"])
    if doc.exclamations >= 2:
        hits.hit("правило_восклицания", ["!"])

    # Danger to life or health now: critical.
    gas = _near(lemmas, GAS_SMELL, {"газ", "газом", "газа"}, window=3)
    if gas and not _negated_gas(lemmas):
        hits.critical.append("запах газа")
        hits.hit("правило_газ", gas)
    heating = _near(lemmas, HEATING, NO, window=4, negatable=False)
    if heating and FROST_RE.search(text):
        hits.critical.append("нет отопления в мороз")
        hits.hit("правило_холод", heating + ["мороз"])
    collapse = present & COLLAPSE
    if collapse:
        hits.critical.append("обрушение")
        hits.hit("правило_обрушение", collapse)
    fire = present & FIRE
    burning = _near(lemmas, {"гореть", "поджечь", "загореться", "полыхать"}, BUILDINGS, window=5, negatable=False)
    if (fire & {"пожар", "пламя", "возгорание"} or burning) and not present & FIRE_EXCUSE:
        hits.critical.append("пожар")
        hits.hit("правило_пожар", burning or fire)
    weapon = present & WEAPONS
    if weapon:
        hits.critical.append("оружие")
        hits.hit("правило_оружие", weapon)
    falling = _near(lemmas, FALLING, FALLING_ON, window=6, negatable=False)
    if falling:
        hits.critical.append("падает на людей")
        hits.hit("правило_падение", falling)
    hole = _near(lemmas, HOLES, OPEN, window=4, negatable=False)
    if hole:
        hits.critical.append("открытый люк или котлован")
        hits.hit("правило_люк", hole)
    scald = present & {"кипяток"}
    if scald:
        hits.critical.append("кипяток")
        hits.hit("правило_кипяток", scald)
    medical = present & MEDICAL
    if medical:
        hits.critical.append("угроза жизни")
        hits.hit("правило_медицина", medical)
    sewage = _near(lemmas, SEWAGE, FLOOD, window=6)
    if sewage:
        hits.critical.append("канализация топит")
        hits.hit("правило_канализация", sewage)
    child = _near(lemmas, CHILD, CHILD_DANGER, window=8)
    if child:
        hits.critical.append("ребёнок в опасности")
        hits.hit("правило_ребенок", child)
    wire = _near(lemmas, WIRE, WIRE_DANGER, window=4)
    if wire:
        hits.critical.append("оборванные провода")
        hits.hit("правило_провод", wire)
    life = present & LIFE
    if life:
        hits.hit("правило_жизнь", life)

    lowered = doc.normalized
    duration = DURATION_RE.search(lowered)
    if duration and _long_enough(duration):
        hits.high.append("давно")
        hits.hit("правило_долго", [duration.group(0)])
    elif present & LONG:
        hits.hit("правило_долго_слабо", present & LONG)
    crowd = CROWD_RE.search(lowered)
    if crowd:
        hits.high.append("многих касается")
        hits.hit("правило_массово", [crowd.group(0)])
    elif present & MANY:
        hits.hit("правило_массово_слабо", present & MANY)
    return hits


def _negated_gas(lemmas: list[str]) -> bool:
    for i, word in enumerate(lemmas[:-1]):
        if word in NEGATIONS and lemmas[i + 1] in GAS_SMELL:
            return True
    return False
