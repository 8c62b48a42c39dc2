"""Russian full-text search that works the same on SQLite and PostgreSQL.

Each incident stores `search_text`: its words lower-cased with ё→е, followed by their lemmas
(pymorphy3; every likely one: «ямы» is stored as «ям» and «яма»), each surrounded by spaces. A query
word matches when one of its normal forms is a prefix of a stored word, so «ямы», «ямой» and «ям» all
find «яма», «яма» finds «ямы», and «подъезд» finds «подъездах».
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_WORD = re.compile(r"[0-9a-zа-я]+")


def normalize(text: str) -> str:
    return text.lower().replace("ё", "е")


def words(text: str) -> list[str]:
    return _WORD.findall(normalize(text))


@lru_cache(maxsize=1)
def _morph() -> Any:
    try:
        import pymorphy3

        return pymorphy3.MorphAnalyzer()
    except Exception:  # noqa: BLE001 - without dictionaries search degrades to prefix matching
        return None


@lru_cache(maxsize=50_000)
def lemma(word: str) -> str:
    morph = _morph()
    if morph is None or not re.search("[а-я]", word):
        return word
    return normalize(morph.parse(word)[0].normal_form)


# A stored word is indexed under each dictionary form that has at least this share of its readings:
# «ямы» is «ям» (0.4) and «яма» (0.6), so a search for «яма» finds it; «дороги» stays «дорога» alone.
LEMMA_SHARE = 0.1


@lru_cache(maxsize=50_000)
def lemmas(word: str) -> tuple[str, ...]:
    """The likely dictionary forms of a stored word, the likeliest first."""
    morph = _morph()
    if morph is None or not re.search("[а-я]", word):
        return (word,)
    shares: dict[str, float] = {}
    for parse in morph.parse(word):
        form = normalize(parse.normal_form)
        shares[form] = shares.get(form, 0.0) + parse.score
    likeliest = max(shares, key=lambda form: shares[form])
    return (likeliest, *(form for form, share in shares.items() if share >= LEMMA_SHARE and form != likeliest))


def warm_up() -> None:
    """Load the morphological dictionaries now (at start-up) rather than in the first search."""
    lemma("ямы")


def index_text(*parts: str | None) -> str:
    """The stored search string: surface forms then lemmas, space-delimited on both ends."""
    surface: list[str] = []
    for part in parts:
        if part:
            surface.extend(words(part))
    terms = dict.fromkeys(surface)
    for word in list(terms):  # each distinct word looked up once
        terms.update(dict.fromkeys(lemmas(word)))
    return " " + " ".join(terms) + " "


def query_terms(query: str) -> list[set[str]]:
    """For each query word, the forms any of which must start a stored word."""
    result: list[set[str]] = []
    for word in words(query)[:10]:
        forms = {word, lemma(word)}
        # A short stem catches forms the analyser lemmatises differently (e.g. plural-only nouns).
        if len(word) >= 6:
            forms.add(word[:-2])
        result.append(forms)
    return result
