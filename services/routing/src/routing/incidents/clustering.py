"""Which open incident a new post is about: lemma-set similarity, time window and address.

Method: each text becomes the set of its content lemmas (pymorphy3; prepositions, conjunctions,
particles, pronouns and adverbs dropped; a few synonyms folded: «выбоина», «колдобина» → «яма»),
with the address words taken out, so that two complaints about different problems in one street do
not look alike because of the street's name. Two sets are compared by the larger of their Jaccard
index and a damped containment (|A∩B| / min(|A|,|B|)), so that a repost with a comment added still
matches the original; one shared word is never enough. Exact set arithmetic beats MinHash here:
candidates are few (one region, one category, the open incidents of the last days), and exact
scores make the threshold testable.

The address (street and house number) is a veto: when both texts name one and they differ, they are
different problems whatever the words say.
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
    r"(?:\s*,?\s*(?i:д\.|дом|д)?\s*(\d+\s*[а-я]?(?:/\d+)?)(?![\w]))?"
)
_HOUSE_ONLY = re.compile(r"(?:(?<![\w])(?:д\.|дом[аеу]?)\s*)(\d+[а-я]?)", re.IGNORECASE)

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


@dataclass(frozen=True)
class Address:
    street: str
    house: str | None = None

    def key(self) -> str:
        return f"{self.street} {self.house}" if self.house else self.street

    @classmethod
    def parse(cls, key: str | None) -> Address | None:
        return _parse_address(key) if key else None


@lru_cache(maxsize=100_000)
def _parse_address(key: str) -> Address:
    # Every batch reads the addresses of the open incidents again: one shared (frozen) object per key.
    street, _, house = key.partition(" ")
    return Address(street, house or None)


def extract_address(text: str) -> tuple[Address | None, set[str]]:
    """The first street address in the text (street lemma + house) and the words it spans."""
    match = _ADDRESS.search(text)
    if match is None:
        return None, set()
    words = [w.lower() for w in _WORD.findall(match.group(0))]
    name_words = _WORD.findall(match.group(1))
    street = "-".join(_street_lemma(w) for w in name_words)
    house = re.sub(r"\s+", "", match.group(2)).lower() if match.group(2) else None
    if house is None:
        after = _HOUSE_ONLY.search(text, match.end())
        if after is not None and after.start() - match.end() < 40:
            house = after.group(1).lower()
    return Address(street, house), set(words)


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


def fingerprint(text: str) -> Fingerprint:
    address, address_words = extract_address(text)
    terms = set()
    for word in _WORD.findall(text.lower()):
        if word in address_words:
            continue
        normal = lemma(word)
        if normal is not None and (address is None or normal != address.street):
            terms.add(normal)
    return Fingerprint(frozenset(terms), address)


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
    if a is None or b is None:
        return False
    if a.street != b.street:
        return True
    return a.house is not None and b.house is not None and a.house != b.house


@dataclass
class Candidate:
    """An open incident as the clusterer sees it: its posts' term sets and its address."""

    incident_id: str
    address: Address | None
    term_sets: list[frozenset[str]] = field(default_factory=list)
    external_ids: set[str] = field(default_factory=set)
    post_ids: set[str] = field(default_factory=set)
    incident: IncidentRecord | None = None  # once a batch needs it (loaded, or opened by the batch)

    def score(self, terms: frozenset[str]) -> float:
        return max((similarity(terms, other) for other in self.term_sets), default=0.0)


def best_match(
    candidates: list[Candidate], fp: Fingerprint, *, threshold: float, repost_of: set[str] | None = None
) -> tuple[Candidate, float, str] | None:
    """The most similar candidate at or above the threshold, with a readable reason."""
    if repost_of:
        for candidate in candidates:
            if candidate.external_ids & repost_of:
                return candidate, 1.0, "репост сообщения этого инцидента"
    best: tuple[Candidate, float] | None = None
    for candidate in candidates:
        if addresses_conflict(candidate.address, fp.address):
            continue
        score = candidate.score(fp.terms)
        if score >= threshold and (best is None or score > best[1]):
            best = (candidate, score)
    if best is None:
        return None
    return best[0], best[1], f"похожий текст (сходство {best[1]:.2f} ≥ {threshold:.2f})"
