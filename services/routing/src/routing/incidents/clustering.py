"""Which open incident a new post is about: lemma-set similarity, time window and address.

Method: each text becomes the set of its content lemmas (pymorphy3; prepositions, conjunctions,
particles, pronouns and adverbs dropped; a few synonyms folded: «выбоина», «колдобина» → «яма»),
with the address words taken out, so that two complaints about different problems in one street do
not look alike because of the street's name. Two sets are compared by the larger of their Jaccard
index and a damped containment (|A∩B| / min(|A|,|B|)), so that a repost with a comment added still
matches the original; one shared word is never enough. Exact set arithmetic beats MinHash here:
candidates are few (one region, one category, the open incidents of the last days), and exact
scores make the threshold testable.

The address (street and house number, with «улица» or without it) is a veto: when both texts name
one and they differ, they are different problems whatever the words say. One house of one street
named in both is evidence the other way: a single shared noun of the problem is then enough.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import pymorphy3

from routing.incidents.snapshots import IncidentRecord

_WORD = re.compile(r"[а-яёa-z0-9]+(?:-[а-яёa-z0-9]+)*", re.IGNORECASE)
_STREET_TYPES = (
    r"ул\.?|улиц[аеуыи]|улицей|пр-т|пр-кт|просп\.?|проспект[аеу]?|пер\.?|переул(?:ок|ке|ка)|ш\.|шоссе|"
    r"б-р|бульвар[аеу]?|пл\.|площад[ьи]|наб\.|набережн(?:ая|ой|ую)|мкр\.?|микрорайон[аеу]?|проезд[аеу]?"
)
_ADDRESS = re.compile(
    rf"(?<![а-яёА-ЯЁ])(?i:{_STREET_TYPES})\s+((?:[А-ЯЁ0-9][\w\-]*)(?:\s+[А-ЯЁ][\w\-]*)?)"
    # a building's letter is written on the number («5а», «5-а»); after a space it is a word («5 в Энгельсе»)
    r"(?:\s*,?\s*(?i:д\.|дом|д)?\s*(\d+(?:-?[а-я](?![а-яё]))?(?:/\d+)?)(?![\w]))?"
)
_HOUSE_ONLY = re.compile(r"(?:(?<![\w])(?:д\.|дом[аеу]?)\s*)(\d+[а-я]?)", re.IGNORECASE)
# A street told without «улица»: a capitalised name and a house number, as people write it
# («Чернышевского 120», «Революционная, 52», «на Ленина у 5», «Садовая возле дома 14»).
_BARE_ADDRESS = re.compile(
    r"(?<![\w-])([А-ЯЁ][а-яё]{2,}(?:-[А-ЯЁа-яё][а-яё]+)?)\s*,?\s+"
    r"(?:(?:у|возле|около|напротив)\s+)?(?:(?:дом[аеу]?|д\.)\s*)?"
    r"(\d{1,3}(?:-?[а-яА-Я](?![а-яё]))?(?:/\d+)?)(?![\w.,]?\d)"
    # … not an amount, a time or a count («Саратов 5 раз», «Ждём 40 минут», «Садик 2 года»)
    r"(?!\s*(?:[-–]?\s*(?:руб|р\.|₽|тыс|мин|час|ч\.|дн|ден|сут|недел|мес|лет|год|раз|км|метр|м\b|см|мм|"
    r"кг|л\b|литр|%|°|градус|шт|чел|квартир|кв\b|этаж|подъезд|маршрут|автобус|машин|минут|секунд|сек|числ|"
    r"января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|декабря)))",
)
# Nouns that head a number but name no street («квартира 15», «школа 5», «маршрут 12»).
_NOT_STREETS = {
    "квартира", "подъезд", "этаж", "школа", "садик", "сад", "детсад", "гимназия", "лицей", "больница",
    "поликлиника", "роддом", "автобус", "маршрут", "маршрутка", "троллейбус", "трамвай", "линия", "корпус",
    "дом", "палата", "кабинет", "участок", "отделение", "номер", "рейс", "поезд", "электричка", "остановка",
    "вагон", "место", "пункт", "колония", "лагерь", "котельная", "подстанция", "скважина", "цех", "март", "май",
}  # fmt: skip
# The parts of speech a street's name can be: a surname or a noun in the genitive, an adjective.
_STREET_POS = {"NOUN", "ADJF", "PRTF"}

# Parts of speech that carry no problem: prepositions, conjunctions, particles, interjections, pronouns, adverbs.
_DROP_POS = {"PREP", "CONJ", "PRCL", "INTJ", "NPRO", "ADVB", "PRED", "COMP"}
_STOP = {
    "быть",
    "весь",
    "это",
    "этот",
    "который",
    "такой",
    "год",
    "день",
    "раз",
    "мочь",
    "свой",
    "каждый",
    "когда",
    "сколько",
    "очень",
    "уже",
    "ещё",
    "просто",
    "наш",
    "ваш",
    "город",
    "житель",
    "администрация",
    "пожалуйста",
    "хотеть",
    "сделать",
    "делать",
    "сказать",
    "человек",
    "дом",
    "улица",
}
_SYNONYMS = {
    "выбоина": "яма",
    "колдобина": "яма",
    "ямка": "яма",
    "ямища": "яма",
    "провал": "яма",
    "помойка": "мусор",
    "мусорка": "мусор",
    "мусорк": "мусор",  # pymorphy3's reading of «мусорку»
    "отходы": "мусор",
    "горячий": "горячий",
    "кипяток": "горячий",
    "фонарь": "освещение",
    "свет": "освещение",
    "маршрутка": "автобус",
    "троллейбус": "автобус",
    "доктор": "врач",
    "терапевт": "врач",
    "поликлиника": "больница",
}


# Nouns that tell where, when or who, not what is wrong: two problems at one house share them.
_CONTEXT_WORDS = {
    "дорога", "двор", "подъезд", "квартира", "этаж", "тротуар", "остановка", "район", "дворик", "территория",
    "неделя", "месяц", "утро", "вечер", "ночь", "час", "минута", "сутки", "время", "зима", "лето", "весна", "осень",
    "машина", "люди", "сосед", "жилец", "ребенок", "дети", "бабушка", "мама", "народ", "проблема", "вопрос",
    "ук", "управляйка", "жкх", "администрация", "мэрия", "власть", "заявка", "жалоба", "звонок", "ответ",
}  # fmt: skip


@lru_cache(maxsize=20_000)
def _is_noun(normal: str) -> bool:
    return bool(_morph().parse(normal)[0].tag.POS == "NOUN")


@lru_cache(maxsize=1)
def _morph() -> pymorphy3.MorphAnalyzer:
    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=200_000)
def lemma(word: str) -> str | None:
    """The normal form of a content word, or None for a function word or noise."""
    if word.isdigit() or len(word) < 2:
        return None
    parse = _morph().parse(word)[0]
    if parse.tag.POS in _DROP_POS:
        return None
    normal: str = parse.normal_form.replace("ё", "е")  # pymorphy3 is untyped
    normal = _SYNONYMS.get(normal, normal)
    if normal in _STOP:
        return None
    return normal


# The key of an address whose street the text did not name («возле дома 12»).
_HOUSE_KEY = "дом"


@dataclass(frozen=True)
class Address:
    street: str | None
    house: str | None = None

    def key(self) -> str:
        street = self.street or _HOUSE_KEY
        return f"{street} {self.house}" if self.house else street

    @classmethod
    def parse(cls, key: str | None) -> Address | None:
        return _parse_address(key) if key else None


@lru_cache(maxsize=100_000)
def _parse_address(key: str) -> Address:
    # Every batch reads the addresses of the open incidents again: one shared (frozen) object per key.
    street, _, house = key.partition(" ")
    return Address(None if street == _HOUSE_KEY else street, house or None)


def extract_address(
    text: str, place_lemmas: frozenset[str] = frozenset()
) -> tuple[Address | None, set[str], str | None]:
    """The first street address in the text (street lemma + house), the words it spans and the address
    as written; a street told without «улица» counts only with its house number, and never the town's
    name (`place_lemmas`)."""
    match = _ADDRESS.search(text)
    if match is None:
        return _bare_address(text, place_lemmas)
    words = [w.lower() for w in _WORD.findall(match.group(0))]
    name_words = _WORD.findall(match.group(1))
    street = "-".join(_street_lemma(w) for w in name_words)
    house = re.sub(r"[\s-]+", "", match.group(2)).lower() if match.group(2) else None
    written = match.group(0)
    if house is None:
        after = _HOUSE_ONLY.search(text, match.end())
        if after is not None and after.start() - match.end() < 40:
            house = after.group(1).lower()
            written = f"{match.group(0)}, {after.group(0)}"
    return Address(street, house), set(words), _tidy(written)


def _tidy(written: str) -> str:
    return " ".join(written.split()).strip(" ,")


def _bare_address(text: str, place_lemmas: frozenset[str]) -> tuple[Address | None, set[str], str | None]:
    for match in _BARE_ADDRESS.finditer(text):
        name = match.group(1)
        parse = _morph().parse(name.lower())[0]
        street = _street_lemma(name)
        if (
            parse.tag.POS not in _STREET_POS
            or parse.normal_form in _NOT_STREETS
            or street in place_lemmas
            or lemma(name.lower()) in place_lemmas
        ):
            continue
        house = re.sub(r"[\s-]+", "", match.group(2)).lower()
        return Address(street, house), {w.lower() for w in _WORD.findall(match.group(0))}, _tidy(match.group(0))
    house_only = _HOUSE_ONLY.search(text)
    if house_only is not None:
        words = {w.lower() for w in _WORD.findall(house_only.group(0))}
        return Address(None, house_only.group(1).lower()), words, _tidy(house_only.group(0))
    return None, set(), None


@lru_cache(maxsize=50_000)
def _street_lemma(word: str) -> str:
    if word.isdigit():
        return word
    parses = _morph().parse(word.lower())
    # Street names are mostly surnames in the genitive («улица Ленина»): prefer a surname's normal form.
    for parse in parses:
        if "Surn" in parse.tag or "Name" in parse.tag:
            return str(parse.normal_form).replace("ё", "е")  # str(): pymorphy3 is untyped
    return str(parses[0].normal_form).replace("ё", "е")


@dataclass
class Fingerprint:
    terms: frozenset[str]
    address: Address | None
    # The address as the post wrote it («Чернышевского 120»): reasons show this, not the lemma key.
    written_address: str | None = None


def place_lemmas(city: str | None) -> frozenset[str]:
    """The lemmas that name the post's town («Саратов»): they say where, not what, like the address."""
    if not city:
        return frozenset()
    return frozenset(filter(None, (lemma(word) for word in _WORD.findall(city.lower()))))


def _names_place(normal: str, places: frozenset[str]) -> bool:
    # the town and its people and adjective: саратов, саратовец, саратовский
    return any(normal.startswith(place[: max(4, len(place) - 1)]) for place in places)


# A numbered institution or route: «поликлиника №2», «школы № 15», «маршрут 12» — its number is kept as
# a term («№2»), so that two posts about the same one share it and two about different ones conflict.
_NUMBERED = re.compile(
    r"(?:№\s*|(?<![\w])(?:школ[аеуыой]*|поликлиник[аеуиой]*|больниц[аеуыой]*|садик[аеу]?|сад[аеу]?|"
    r"детсад[аеу]?|гимнази[яиюей]+|лице[йяюем]+|маршрут[аеу]?|автобус[аеу]?|троллейбус[аеу]?|трамва[йяюем]+)"
    r"\s+(?:№\s*)?)(\d{1,4})(?![\d])",
    re.IGNORECASE,
)
NUMBER_MARK = "№"


def numbered(terms: frozenset[str]) -> frozenset[str]:
    return frozenset(t for t in terms if t.startswith(NUMBER_MARK))


def fingerprint(text: str, city: str | None = None) -> Fingerprint:
    places = place_lemmas(city)
    address, address_words, written_address = extract_address(text, places)
    terms = set()
    for word in _WORD.findall(text.lower()):
        if word in address_words:
            continue
        normal = lemma(word)
        if normal is None or (address is not None and normal == address.street):
            continue
        if places and _names_place(normal, places):
            continue
        terms.add(normal)
    terms.update(NUMBER_MARK + match.group(1) for match in _NUMBERED.finditer(text))
    return Fingerprint(frozenset(terms), address, written_address)


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    common = len(a & b)
    if common < 2:
        return 0.0  # one shared word («яма») is no evidence of one problem
    jaccard = common / len(a | b)
    smaller = min(len(a), len(b))
    containment = common / smaller if smaller >= 4 else 0.0
    return max(jaccard, 0.8 * containment)


def addresses_conflict(a: Address | None, b: Address | None) -> bool:
    """Two places that cannot be one: other streets, or other houses (of one street, or where one
    text named the house alone: «возле дома 12» is not «Чернышевского 120»)."""
    if a is None or b is None:
        return False
    if a.street is not None and b.street is not None and a.street != b.street:
        return True
    return a.house is not None and b.house is not None and a.house != b.house


def same_place(a: Address | None, b: Address | None) -> bool:
    """One street and one house, both named."""
    return a is not None and b is not None and a.street is not None and a.house is not None and a == b


@dataclass
class Candidate:
    """An open incident as the clusterer sees it: its posts' term sets and its address."""

    incident_id: str
    address: Address | None
    term_sets: list[frozenset[str]] = field(default_factory=list)
    external_ids: set[str] = field(default_factory=set)
    post_ids: set[str] = field(default_factory=set)
    incident: IncidentRecord | None = None  # once a batch needs it (loaded, or opened by the batch)
    city: str | None = None  # the incident's town, when known

    def other_town(self, city: str | None) -> bool:
        """Both name a town, and not the same one: a problem in Балаково is never Энгельс's."""
        return self.city is not None and city is not None and town_key(self.city) != town_key(city)

    def score(self, terms: frozenset[str]) -> float:
        return max((similarity(terms, other) for other in self.term_sets), default=0.0)

    def numbers_conflict(self, terms: frozenset[str]) -> bool:
        """Both name numbered institutions or routes, and none is the same («поликлиника №2» is not №9)."""
        mine = numbered(terms)
        if not mine:  # most posts name no number: nothing to compare, and no walk over the incident's posts
            return False
        theirs = frozenset().union(*(numbered(other) for other in self.term_sets))
        return bool(theirs) and not mine & theirs

    def shared(self, terms: frozenset[str]) -> list[str]:
        """The nouns of the problem `terms` shares with any of the incident's posts («яма», «мусор»;
        not «дорога» or «неделя», which say where and when)."""
        common: set[str] = set().union(*(terms & other for other in self.term_sets))
        return sorted(word for word in common if word not in _CONTEXT_WORDS and _is_noun(word))


def town_key(city: str) -> str:
    return city.strip().lower().replace("ё", "е")


def best_match(
    candidates: list[Candidate],
    fp: Fingerprint,
    *,
    threshold: float,
    repost_of: set[str] | None = None,
    city: str | None = None,
) -> tuple[Candidate, float, str] | None:
    """The most similar candidate at or above the threshold, with a readable reason. A repost joins the
    incident of what it reposts wherever it is; any other post only an incident of its own town."""
    if repost_of:
        for candidate in candidates:
            if candidate.external_ids & repost_of:
                return candidate, 1.0, "репост сообщения этого инцидента"
    best: tuple[Candidate, float, str] | None = None
    for candidate in candidates:
        if (
            candidate.other_town(city)
            or addresses_conflict(candidate.address, fp.address)
            or candidate.numbers_conflict(fp.terms)
        ):
            continue
        score = candidate.score(fp.terms)
        why = f"похожий текст (сходство {score:.2f} ≥ {threshold:.2f})"
        if score < threshold and same_place(candidate.address, fp.address):
            # One house of one street, one category: a single shared word of the problem is enough
            # («яма», «мусор»), where the texts share too few words for the similarity to tell.
            shared = candidate.shared(fp.terms)
            if shared:
                assert fp.address is not None
                score = threshold
                where = f"«{fp.written_address}»" if fp.written_address else fp.address.key()
                why = f"тот же адрес ({where}) и общие слова: {', '.join(shared[:3])}"
        if score >= threshold and (best is None or score > best[1]):
            best = (candidate, score, why)
    return best
