"""What the gazetteer holds and answers: a name's entry, a mention of it in a text, the region guessed."""

from __future__ import annotations

from dataclasses import dataclass, field

# The ranks (as populations) of names from data/places.yaml, below a region's and above any town's:
NICKNAME_RANK = 5 * 10**7  # what people call a town (Питер, Магнитка, Чепецк)
NEIGHBOURHOOD_RANK = 4 * 10**7  # a city's part (Купчино, Падун)


@dataclass(frozen=True, slots=True)
class Entry:
    parts: tuple[str, ...]  # lemma of each word of the name
    codes: tuple[str, ...]  # region codes this name may denote (several: an ambiguous town)
    city: str | None  # the town reported, None for a whole region
    population: int
    display: str
    caps_only: bool = False  # abbreviations (РТ, МО) match only as written in capitals
    adjective: bool = False  # саратовский: weaker evidence than the name itself
    small: bool = False  # under 15,000 people: matched only as a known place name or after "пос."/"с."
    populations: tuple[int, ...] = ()  # per code, same order
    trusted: bool = False  # a name people use for a town (places.yaml): matches in lower case too
    official: bool = False  # one of the 1,117 towns (incidents_common.towns), whatever its size
    district: bool = False  # a municipal district: parts are its adjective and the noun that follows
    ambiguous: bool = False  # a district name of several regions (or a generic one): only agrees
    institution: bool = False  # a small town's adjective: only before what a town has (Волчанское водохранилище)
    centre: bool = False  # a municipal district's centre (data/districts.yaml): read as a small town of the table
    names: tuple[str, ...] = ()  # per code, the namesake's own name (Отрадный, Отрадная), when they differ


@dataclass(slots=True)
class Mention:
    entry: Entry
    words: str  # the words as written
    from_hint: bool = False
    weak: bool = False  # a name that is also a common word or an adjective: the hint outweighs it
    role: str = ""  # "away": named as elsewhere (дочь в Москве, как в Саратове); "own": у нас в X
    loose: bool = False  # a region named, not as where (у Камчатки, «Южный Урал» the team)


@dataclass(slots=True)
class RegionGuess:
    code: str | None = None
    name: str | None = None
    city: str | None = None
    confidence: float = 0.0
    evidence: list[str] = field(default_factory=list)
    # Other regions with a town of the name the guess rests on (Железногорск: 46 and 24): the choice
    # between them is the larger town's, and a person should confirm it.
    also_in: tuple[str, ...] = ()
