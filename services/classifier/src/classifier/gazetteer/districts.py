"""Municipal districts: every district of the towns table and those of data/places.yaml (улусы,
кожууны, the districts of the national republics), matched as their adjective and a district noun in
every case form («в Намском улусе», «Ядринского муниципального округа», «Погарский р-н»)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from classifier.gazetteer.context import DISTRICT_FILLERS, is_municipal_abbreviation
from classifier.gazetteer.entries import Entry
from classifier.gazetteer.words import (
    adjective_of,
    formed_adjective,
    has_word_sense,
    name_key,
    name_words,
    town_adjective_of,
)
from classifier.text import Token, lemma_set
from incidents_common.towns import all_towns

# What follows a district's adjective: «Вохомский район», «Намского улуса», «Тоджинском кожууне»,
# «Кетовского муниципального округа», «Погарский р-н». улус and кожуун belong to one republic each.
DISTRICT_NOUNS = ("район", "округ", "улус", "кожуун")
RAION_ABBREVIATIONS = {"н", "на", "не", "ну", "ном", "нах", "нов"}  # р-н, р-на, р-не …


def add_districts(
    places: dict[str, Any], index: dict[str, list[Entry]], centres: Sequence[tuple[str, str]] = ()
) -> dict[tuple[str, ...], dict[str, str]]:
    """Municipal districts: every district of the towns table and those of places.yaml, indexed by
    their adjective and each noun people use for them, into `index`; and the district each of `centres`
    (GeoNames' villages and urban settlements, as (name, region code)) would give its name to.
    Returns (adjective…, noun) → {code: name}."""
    found: dict[tuple[str, ...], dict[str, str]] = defaultdict(dict)

    def add(name: str, code: str) -> None:
        adjective, _, own = name.strip().rpartition(" ")
        if not adjective or own not in DISTRICT_NOUNS:
            raise ValueError(f"a district is an adjective and one of {DISTRICT_NOUNS}: {name!r}")
        keys = [tuple(name_key(p) for p in name_words(adjective))]
        if " " in adjective:  # Таймырский Долгано-Ненецкий район: people say Таймырский район
            keys.append((name_key(adjective.split()[0]),))
        # «Намский район» names the Намский улус too; улус and кожуун only their own.
        for noun in {"район", "округ", own}:
            for key in keys:
                found[key + (noun,)].setdefault(code, name)

    for town in all_towns():
        if town.district and not town.district.startswith("городской округ"):
            add(town.district, town.region_code)
    for code, names in places.get("districts", {}).items():
        for name in names:
            add(str(name), str(code))
    for code, entries in places.get("municipal_districts", {}).items():
        for name, _ in entries:
            add(str(name), str(code))
    # A town the table gives no district (a town of regional significance) usually names the district
    # around it (Кирсанов: Кирсановский район), unless another region has a district of that name.
    for town in all_towns():
        words = name_words(town.name)
        if town.district or not (len(words) == 1 or (len(words) == 2 and "-" in town.name)):
            continue
        name = name_key(words[-1])
        adjective = (
            adjective_of(name) or town_adjective_of(name) or formed_adjective(name, shortest=3 if words[:-1] else 5)
        )
        if adjective is None:
            continue
        if words[:-1]:  # Усть-Кут: Усть-Кутский район
            adjective = f"{name_key(words[0])}-{adjective}"
        if tuple(name_key(p) for p in name_words(adjective)) + ("район",) not in found:
            add(f"{adjective} район", town.region_code)
    # Most districts are named after their centre, which is often a village or an urban settlement
    # (Демянск: Демянский район, Каргасок: Каргасокский район). Only where no district of that name is
    # known: two regions' villages giving one name leave it ambiguous, so it decides nothing alone.
    derived: dict[tuple[str, ...], dict[str, str]] = defaultdict(dict)
    for name, code in centres:
        words = name_words(name)
        if len(words) != 1:
            continue
        key = name_key(words[0])
        if has_word_sense(key):
            continue  # a village named by a word (Пионер): its adjective names a city's district as often
        adjective = adjective_of(key) or town_adjective_of(key) or formed_adjective(key)
        if adjective is None and key.endswith(("ск", "цк")) and len(key) >= 5:
            adjective = key + "ий"  # Демянск: демянский
        if adjective is None:
            continue
        parts = tuple(name_key(p) for p in name_words(adjective))
        if parts + ("район",) not in found:
            derived[parts][code] = f"{adjective.capitalize()} район"
    for per_code in derived.values():
        for code, name in per_code.items():
            add(name, code)
    generic = {name_key(str(name)): str(name) for name in places.get("generic_districts", [])}
    for adjective in generic:
        for noun in ("район", "округ"):
            found.setdefault((adjective, noun), {})
    for parts, per_code in found.items():
        codes = tuple(sorted(per_code))
        ambiguous = len(codes) != 1 or (parts[0] in generic and parts[-1] in {"район", "округ"})
        display = next(iter(per_code.values()), f"{generic.get(parts[0], parts[0])} {parts[-1]}")
        index[parts[0]].append(
            Entry(parts, codes, None, 0, display, populations=(0,) * len(codes), district=True, ambiguous=ambiguous)
        )
    return found


def district_size(tokens: list[Token], i: int, entry: Entry) -> int:
    """How many tokens a district takes at i: its adjective, then its noun, perhaps after
    «муниципальный»/«городской», or «р-н» (split at the hyphen into «р», «н»); 0 when it is not there."""
    adjective = len(entry.parts) - 1
    if i + adjective >= len(tokens):
        return 0
    if not all(entry.parts[k] in lemma_set(tokens[i + k].lower) for k in range(1, adjective)):
        return 0
    j = i + adjective
    if not DISTRICT_FILLERS.isdisjoint(lemma_set(tokens[j].lower)) and j + 1 < len(tokens):
        j += 1
    noun = entry.parts[-1]
    word = tokens[j].lower
    if noun == "район" and word == "р" and j + 1 < len(tokens) and tokens[j + 1].lower in RAION_ABBREVIATIONS:
        return j + 2 - i
    if noun in {"район", "округ"} and is_municipal_abbreviation(tokens[j]):
        return j + 1 - i  # Хвалынского МО
    return j + 1 - i if noun in lemma_set(word) else 0


def district_adjective(town: str, district: str | None) -> str | None:
    """The adjective of the district a town gives its name to (Кондопога: Кондопожский район)."""
    if not district or district.startswith("городской округ"):
        return None
    adjective = district.rpartition(" ")[0]
    if " " in adjective or adjective.lower()[:3].replace("ё", "е") != town.lower()[:3].replace("ё", "е"):
        return None
    return adjective


def district_hospital(index: dict[str, list[Entry]], entry: Entry) -> Entry:
    """«Озёрская больница» is the hospital of the Озёрский район (its ЦРБ), in the region that has that
    district, when one region does and not the town the adjective is first taken for."""
    district = next(
        (
            e
            for e in index.get(entry.parts[0], ())
            if e.district and not e.ambiguous and e.parts == (entry.parts[0], "район")
        ),
        None,
    )
    if district is None:
        return entry
    if not set(district.codes).isdisjoint(entry.codes):
        if len(entry.codes) == 1 or not set(district.codes) < set(entry.codes):
            return entry
        # «Краснослободская ЦРБ»: of the two Краснослободски, the one whose region has that district
        kept = [k for k, code in enumerate(entry.codes) if code in district.codes]
        return replace(
            entry,
            codes=tuple(entry.codes[k] for k in kept),
            populations=tuple(entry.populations[k] for k in kept) if entry.populations else entry.populations,
            names=tuple(entry.names[k] for k in kept) if entry.names else entry.names,
        )
    return replace(entry, codes=district.codes, populations=(entry.population,) * len(district.codes))
