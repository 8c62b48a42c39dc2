"""A town named by its people (Олончане, подскажите…: Олонец): demonyms formed by rule for every
one-word town of the table, and the irregular ones of data/places.yaml (Куряне)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any

from classifier.gazetteer.context import mark_after
from classifier.gazetteer.entries import Entry, Mention
from classifier.gazetteer.words import (
    has_word_sense,
    is_person,
    name_key,
    name_words,
    named_person,
    only_people,
    place_first,
    word_kind,
)
from classifier.text import Token, morph, parses
from incidents_common.towns import all_towns

DEMONYM_ADDRESS_MARKS = {",", "!"}  # «Олончане, подскажите…»: the post speaks to its town
HUSHING = "жшчщ"


def build_demonyms(
    places: dict[str, Any], index: dict[str, list[Entry]], forms: dict[str, frozenset[str]]
) -> dict[str, Entry]:
    """Case form of a demonym → the town's entry (Олончане, Шенкурчанам, Нюрбинец: Олонец, Шенкурск,
    Нюрба). Formed by rule for every one-word town of the table, and from places.yaml's irregular
    ones (Куряне). A generated word the dictionary knows counts only when its stem is no word or
    person of its own (Борцы, Братцы, Ленинцы are not Бор, Братск, Ленинск); places.yaml lists what
    slips through (Гвардейцы, Черногорцы). A form that is itself a place (Клинцы) stays the place."""
    stop = {str(w).lower().replace("ё", "е") for w in places.get("not_demonyms", [])}
    towns: dict[str, list[Entry]] = defaultdict(list)  # form → entries of the towns it names

    def town_entry(name: str) -> Entry | None:
        parts = tuple(name_key(p) for p in name_words(name))
        return next((e for e in index.get(parts[0], ()) if e.parts == parts and e.official), None)

    def add(plural: str, entry: Entry, *, checked: bool, besides: set[str] | None = None) -> None:
        if plural in stop:
            return
        for form in _demonym_forms(plural):
            if form in forms or form in index or form in stop or (besides is not None and form in besides):
                continue
            if not checked and is_person(form) and morph().word_is_known(form):
                continue  # Муромец: Илья's (a word the dictionary only guesses a surname is no one's: себежане)
            if entry not in towns[form]:
                towns[form].append(entry)

    for name, town in places.get("demonyms", {}).items():
        entry = town_entry(str(town))
        if entry is None:
            raise ValueError(f"demonym {name!r}: {town!r} is not a town of the table")
        add(str(name).lower().replace("ё", "е"), entry, checked=True)
    for town in all_towns():
        words = name_words(town.name)
        compound = _compound(town.name)
        entry = town_entry(town.name) if len(words) == 1 or _joined(town.name) or compound else None
        if entry is None:
            continue
        if compound is not None:
            prefix, noun = compound
            for plural, _ in _demonym_candidates(noun):
                if not morph().word_is_known(prefix + plural):
                    add(prefix + plural, entry, checked=False)
            continue
        for plural, stem in _demonym_candidates(_joined(town.name) or words[0].lower().replace("ё", "е")):
            if morph().word_is_known(plural) and (
                len(stem) < 4
                or (has_word_sense(stem) and not only_people(stem, persons=False))  # каргопол(ьцы), not бор(цы)
                or (named_person(stem) and morph().word_is_known(stem))
            ):
                continue  # a common word or a person's followers, not a town's people
            add(plural, entry, checked=False)
    # Villages and settlements too (Баргузин: баргузинцы, Ярково: ярковцы), when their name is no other word,
    # and never a form a town of the table has (тарчане are Тара's, not Тарки's)
    of_towns = set(towns)
    for entries in list(index.values()):
        for entry in entries:
            if len(entry.parts) != 1 or entry.official or not entry.small or entry.adjective or entry.district:
                continue
            if entry.population < 2_000 or len(entry.codes) != 1 or not place_first(entry.parts[0]):
                continue
            for plural, _ in _demonym_candidates(entry.parts[0]):
                if morph().word_is_known(plural) or plural in of_towns:
                    continue  # a word of its own, not a village's people; or a town's people
                add(plural, entry, checked=False, besides=of_towns)
    found: dict[str, Entry] = {}
    for form, entries in towns.items():
        # Two towns' people share a name (Павловцы: Павлово, Павловск): every namesake, largest first
        ranked = sorted(
            ((code, pop) for e in entries for code, pop in zip(e.codes, e.populations, strict=True)),
            key=lambda item: -item[1],
        )
        codes = tuple(dict.fromkeys(code for code, _ in ranked))
        pops = tuple(max(p for c, p in ranked if c == code) for code in codes)
        top = max(entries, key=lambda e: e.population)
        found[form] = top if len(codes) == len(top.codes) else replace(top, codes=codes, populations=pops)
    return found


def demonym_mention(demonyms: dict[str, Entry], tokens: list[Token], i: int, text: str) -> Mention | None:
    """A town named by its people: capitalised or opening the post, and of full weight only as the
    post's address (Беловчане, спасибо…); elsewhere (мы, беловчане, …) weak."""
    token = tokens[i]
    entry = demonyms.get(token.lower)
    if entry is None:
        return None
    if not (i == 0 or token.text[:1].isupper()):
        # typed in lower case (дорогие рубцовчане, кто из елабужан): only a word that is nothing else
        known = morph().word_is_known(token.lower)
        if len(token.lower) < 7 or (known and parses(token.lower)[0].normal_form not in demonyms):
            return None
        return Mention(entry, token.text, weak=True)
    if i and not tokens[i - 1].punct_after and word_kind(tokens[i - 1].lower) == "name":
        return None  # Илья Муромец (not: «Скоро Цаган Сар! Элистинцы, …»)
    # Opening the post or a sentence of it («…Узнаёте кого-нибудь? Макарьевцы, откликнитесь!»)
    address = (i == 0 or token.sentence_start) and mark_after(text, token) in DEMONYM_ADDRESS_MARKS
    # a village's people (баргузинцы) are weak evidence even as the address: a source's town outweighs them
    return Mention(entry, token.text, weak=not address or entry.small)


def _compound(name: str) -> tuple[str, str] | None:
    """A town of an adjective and a noun, whose people join them (Красный Холм: краснохолмцы, Старый Крым:
    старокрымцы, Нижние Серги: нижнесергинцы): the adjective's joining stem and the noun; else None."""
    words = name.lower().replace("ё", "е").split()
    if len(words) != 2 or "-" in name:
        return None
    adjective, noun = words
    if adjective.endswith(("ний", "няя", "нее", "ние")):
        return adjective[:-2] + "е", noun  # Нижние: нижне-
    if adjective.endswith(("ый", "ий", "ой", "ая", "ое", "ые", "ие")) and len(adjective) > 4:
        return adjective[:-2] + "о", noun  # Красный: красно-, Великие: велико-
    return None


def _joined(name: str) -> str | None:
    """A hyphenated town whose people write it as one word (Северо-Курильск: северокурильцы,
    Нарьян-Мар: нарьянмарцы); None for other names."""
    first, dash, rest = name.lower().replace("ё", "е").partition("-")
    if not dash or "-" in rest or " " in name or len(rest) < 3 or rest.endswith(("ий", "ый", "ое", "ая")):
        return None  # (Петровск-Забайкальский's people are петровчане)
    return first + rest


def _demonym_candidates(name: str) -> list[tuple[str, str]]:
    """A town's demonyms by word formation, as (plural, the stem kept of the name): шенкурск →
    шенкурчане, змеиногорцы; кириллов → кирилловцы; белово → беловчане; нюрба → нюрбинцы; олонец →
    олончане; керчь → керчане; ишим → ишимцы. Generous: a form nobody writes costs nothing."""
    if len(name) < 3:
        return []
    s1, s2 = name[:-1], name[:-2]
    if name.endswith("цк"):  # Новокузнецк: новокузнечане
        return [(s2 + "чане", s2)]
    if name.endswith("ск"):
        found = [(s2 + "чане", s2), (s2 + "цы", s2)]
        if s2[-1] in HUSHING and len(s2) >= 6:
            found.append((s2 + "ане", s2))  # Заволжск: заволжане
        if s2[-1] in "рл":
            found.append((s2 + "яне", s2))  # Курск: куряне, Шенкурск: шенкуряне
        return found + [(s2 + "ичи", s2)] if len(s2) <= 3 else found  # омичи, томичи
    if name.endswith(("ов", "ев", "ин", "ын")):
        found = [(name + "цы", name), (name + "чане", name)]
        return found + [(name + "ичи", name)] if len(name) <= 4 else found  # Гдов: гдовичи
    if name.endswith("ец"):  # Олонец: олончане, Елец: ельчане
        return [(s2 + "чане", s2), (s2 + "ьчане", s2)]
    if name.endswith("о"):
        if s1.endswith(("ов", "ев", "ин", "ын")):  # Белово: беловчане, Одинцово: одинцовцы
            return [(s1 + "чане", s1), (s1 + "цы", s1)]
        return [(s1 + "инцы", s1), (s1 + "цы", s1)]
    if name.endswith(("а", "я")):  # Нюрба: нюрбинцы, Самара: самарцы, Воркута: воркутяне
        found = [(s1 + "инцы", s1), (s1 + "цы", s1), (s1 + ("ане" if s1[-1] in HUSHING else "яне"), s1)]
        if s1[-1] in HUSHING:  # Короча: корочанцы
            found.append((s1 + "анцы", s1))
        if s1[-1] in "гкх":  # Елабуга: елабужане, Калуга: калужане
            found.append((s2 + {"г": "ж", "к": "ч", "х": "ш"}[s1[-1]] + "ане", s1))
        if name.endswith("я") and s1[-1] in "аеиоу":  # Верея: верейцы
            found.append((s1 + "йцы", s1))
        if name.endswith("ьма"):  # Тотьма: тотьмичи
            found.append((s1 + "ичи", s1))
        if s1[-1] == "л":  # Кола: кольчане
            found.append((s1 + "ьчане", s1))
        return found
    if name.endswith("ь"):  # Тюмень: тюменцы, Севастополь: севастопольцы, Тверь: тверичи, Керчь: керчане
        settlers = s1 + ("ане" if s1[-1] in HUSHING else "яне")
        return [(s1 + "цы", s1), (name + "цы", s1), (s1 + "ичи", s1), (settlers, s1)]
    if name.endswith(("и", "ы")):  # Сочи: сочинцы, Чебоксары: чебоксарцы, Тетюши: тетюшане
        found = [(s1 + "инцы", s1), (s1 + "цы", s1)]
        if name.endswith("цы"):  # Сольцы: сольчане
            found.append((s2 + "чане", s2))
        if s1[-1] in HUSHING:
            found.append((s1 + "ане", s1))
        return found
    if name.endswith("ье"):  # Облучье: облученцы, Усолье: усольцы, Верхотурье: верхотурцы
        return [(s2 + "енцы", s2), (s2 + "ьцы", s2), (s2 + "цы", s2)]
    if name.endswith(("ый", "ий", "ой")):  # Мирный: мирнинцы
        return [(s2 + "инцы", s2)]
    if name.endswith("ай"):  # Урай: урайцы
        return [(name + "цы", name)]
    if name.endswith("ей"):  # Сенгилей: сенгилеевцы
        return [(s1 + "евцы", s1), (name + "цы", s1)]
    if name.endswith("рг"):  # Шлиссельбург: шлиссельбуржцы, Выборг: выборжцы
        return [(s1 + "жцы", s1)]
    if name.endswith("л"):  # Вуктыл: вуктыльцы
        return [(name + "ьцы", name), (name + "цы", name)]
    if name[-1] not in "аеёиоуыэюяй":  # Ишим: ишимцы, Талдом: талдомцы, Надым: надымчане
        found = [(name + "цы", name), (name + ("ане" if name[-1] in HUSHING else "чане"), name)]
        if name[-1] not in HUSHING:
            found.append((name + "яне", name))  # Плёс: плесяне
        if len(name) <= 4:
            found.append((name + "ичи", name))  # Холм: холмичи
        if name.endswith("к"):  # Горняк: горнячане
            found.append((s1 + "чане", s1))
        return found
    return []


def _demonym_forms(plural: str) -> set[str]:
    """The case forms of a demonym given in the plural, and of its singulars (Олончанин, Олончанка)."""
    if plural.endswith("цы"):  # талдомцы, талдомец
        return {plural[:-2] + e for e in ("цы", "цев", "цам", "цами", "цах", "ец", "ца", "цу", "цем", "це")}
    if plural.endswith(("ане", "яне")):  # олончане, олончанин, олончанка
        stem = plural[:-1]
        endings = ("е", "", "ам", "ами", "ах", "ин", "ина", "ину", "ином", "ине", "ка", "ки", "ке", "ку", "кой", "ок")
        return {stem + e for e in endings}
    if plural.endswith(("ичи", "ки")):  # омичи, омич; туляки, туляк
        stem = plural[:-1]
        many = "ей" if plural.endswith("ичи") else "ов"
        return {stem + e for e in ("и", many, "ам", "ами", "ах", "", "а", "у", "ом" if many == "ов" else "ем", "е")}
    return {plural}
