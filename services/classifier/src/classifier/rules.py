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
    r"\){3,}|спасибо[^.!?]{0,40}\bза\s+(?:очередн|нашу\s+счастлив|такие|такое|эти|это)|браво|«[^»]{3,30}»\s*(?:ремонт|благоустройств)|ну\s+спасибо|огромное\s+спасибо\s+за\s+(?:ямы|грязь|мусор)",
    re.IGNORECASE,
)  # noqa: E501

NEGATIONS = {"не", "нет", "ни"}
THANKS = {"спасибо", "благодарить", "благодарность", "благодарный", "молодец", "признательный", "спасибочко"}
ADVERT = {
    "продать", "продам", "купить", "куплю", "скидка", "акция", "распродажа", "цена", "руб", "доставка", "заказ",
    "заказать", "подписываться", "подписаться", "промокод", "розыгрыш", "аренда", "сдать", "сдаваться", "вакансия",
    "заработок", "бесплатный", "консультация", "записаться", "недорого", "прайс", "лс", "директ", "ставка",
}  # fmt: skip
NEWS = {"сообщать", "пресс-служба", "пресс", "губернатор", "заявить", "сообщить", "опубликовать", "планировать",
        "министерство", "данные", "напомнить", "пояснить", "рассказать", "мэрия", "нацпроект", "рамка"}  # fmt: skip
CHILD = {"ребенок", "ребёнок", "дети", "малыш", "школьник", "мальчик", "девочка", "ребятишки", "детвора", "дочь", "сын"}
CHILD_DANGER = {"провалиться", "упасть", "застрять", "тонуть", "утонуть", "люк", "оголить", "оголенный", "ток",
                "опасность", "угроза", "травмироваться", "травма", "пропасть", "одни", "одних", "лед"}  # fmt: skip
COLLAPSE = {"обрушиться", "обрушение", "рухнуть", "обвалиться", "обвал", "обрушаться", "обваливаться", "рушиться"}
FIRE = {"пожар", "гореть", "пламя", "возгорание", "загореться", "поджог", "полыхать", "поджечь"}
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
FLOOD = {"затопить", "топить", "заливать", "залить", "хлестать", "затапливать", "фонтанировать", "подтопить"}
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
    if fire and not present & FIRE_EXCUSE:
        hits.critical.append("пожар")
        hits.hit("правило_пожар", fire)
    sewage = _near(lemmas, SEWAGE, FLOOD, window=6)
    if sewage:
        hits.critical.append("канализация топит")
        hits.hit("правило_канализация", sewage)
    child = _near(lemmas, CHILD, CHILD_DANGER, window=6)
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

    long_running = present & LONG
    many = present & MANY
    if long_running:
        hits.high.append("давно")
        hits.hit("правило_долго", long_running)
    if many:
        hits.high.append("многих касается")
        hits.hit("правило_массово", many)
    return hits


def _negated_gas(lemmas: list[str]) -> bool:
    for i, word in enumerate(lemmas[:-1]):
        if word in NEGATIONS and lemmas[i + 1] in GAS_SMELL:
            return True
    return False
