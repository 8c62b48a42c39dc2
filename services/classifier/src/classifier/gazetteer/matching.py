"""The gazetteer: the places a text names (`mentions`) and the region it is about (`resolve`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from classifier.gazetteer.accept import accepts
from classifier.gazetteer.context import (
    DISTRICT_INSTITUTIONS,
    STREET_AFTER,
    VILLAGE_MARKERS,
    after_river_word,
    big_name,
    institution_after,
    mark_after,
    role_of,
    split_hyphens,
    street_alone,
)
from classifier.gazetteer.demonyms import demonym_mention
from classifier.gazetteer.districts import district_hospital, district_size
from classifier.gazetteer.entries import Entry, Mention, RegionGuess
from classifier.gazetteer.index import PlaceNames, build_place_names
from classifier.gazetteer.scoring import score_regions
from classifier.gazetteer.words import declension, has_word_sense, inflections, word_kind
from classifier.text import Doc, Token, analyze, lemma_set
from incidents_common.regions import REGIONS

# The regions a great river flows through: «ледоход на Лене у Покровска» is Якутия's Покровск.
RIVER_REGIONS = {
    "лена": ("14", "38"), "обь": ("54", "70", "86", "89", "22"), "енисей": ("24", "17", "19"),
    "амур": ("27", "28"), "волга": ("69", "76", "44", "37", "52", "21", "12", "16", "73", "63", "64", "34", "30"),
    "дон": ("61", "34", "36", "48", "71"), "кама": ("59", "18", "16"),
    "ока": ("57", "40", "71", "50", "62", "33", "52"),
    "иртыш": ("55", "72", "86"), "нева": ("78", "47"), "кубань": ("23", "09"), "вятка": ("43", "12", "16"),
    "печора": ("11", "83"), "ангара": ("38", "24"), "колыма": ("49", "14"), "яна": ("14",), "вилюй": ("14",),
    "алдан": ("14",), "томь": ("42", "70"), "тобол": ("45", "72"), "сухона": ("35",), "онега": ("29",),
    "мезень": ("29", "11"),
    # smaller rivers that tell namesake towns apart (Никольск on the Юг, Озёрск on the Анграпа)
    "юг": ("35",), "анграпа": ("39",), "серга": ("66",), "шелонь": ("53",), "вага": ("29",), "унжа": ("44",),
    "ветлуга": ("52", "44"), "кокшеньга": ("29",), "мста": ("53", "69"), "песочня": ("40",), "ловать": ("53", "60"),
    "пьяна": ("52",), "уржумка": ("43",), "шешупа": ("39",), "мокша": ("13", "58", "62"), "нерча": ("75",),
    "свирь": ("47",), "киренга": ("38",), "бия": ("22",), "тура": ("66", "72"), "сунжа": ("20", "06"),
    "уфа": ("02", "66"),  # (через Уфу: the river or the city, either way not Ставрополье's Михайловск)
    # not a river: «на Урале» settles a namesake among the Urals' regions (Михайловск на Урале)
    "урал": ("66", "74", "59", "56", "02", "45"),
}  # fmt: skip
# Words that tell namesake towns apart wherever they stand: a region's grid company, a closed town (ЗАТО: the
# closed one of Железногорск, Озёрск, Краснознаменск, Мирный, Фокино …), a spaceport (Мирный by Плесецк)
CLUE_WORDS = {
    "янтарьэнерго": ("39",),
    "зато": ("24", "58", "66", "74", "50", "29", "51", "25", "30", "33", "70", "41"),
    "космодром": ("29", "28"),
}
# Every case form of those rivers, for the ones the dictionary does not decline (на Серге, через Сергу)
RIVER_FORMS = {form: river for river in RIVER_REGIONS for form in declension(river)}
NEAR_WORDS = {"под", "возле", "около", "близ"}
RIVER_PREPOSITIONS = {
    "на", "по", "в", "во", "над", "река", "реки", "реку", "реке", "берег", "берегу", "берега", "за", "через", "вдоль",
}  # fmt: skip


_CACHES = {"_hint_cache", "_keys_cache", "_start_tables_built"}  # built on use, not saved with the gazetteer
# Per index key: the names that start with it and whose length the text decides (one word, districts),
# and the longer ones by their second word (Gazetteer._start_tables).
StartTables = tuple[dict[str, tuple[tuple[int, Entry], ...]], dict[str, dict[str, tuple[tuple[int, Entry], ...]]]]


class Gazetteer:
    """The names of places (`PlaceNames`, built once and cached: see cache.py) and how a text names them."""

    def __init__(self, names: PlaceNames) -> None:
        self.names = names
        # The tables `mentions` asks for every word, as attributes of their own (one lookup, not two).
        self.index = names.index
        self.forms = names.forms
        self.nominatives = names.nominatives
        self.demonyms = names.demonyms

    @classmethod
    def build(cls, places: dict[str, Any], min_population: int = 15_000) -> Gazetteer:
        """From data/places.yaml (`load_places()`) and the tables it names: ~9,000 names, about 2.5 s."""
        return cls(build_place_names(places, min_population))

    def mentions(self, doc: Doc, *, hint: bool = False) -> list[Mention]:
        """The places a text names, in its order (`hint`: the text is a source's name)."""
        # (a token holds a hyphen only if the text does: most posts have nothing to split)
        tokens = split_hyphens(doc.tokens) if "-" in doc.cleaned else doc.tokens
        found: list[Mention] = []
        spans: list[tuple[int, int, int]] = []  # (mention, first token, tokens) of each found by name
        forms = self.forms
        demonyms = self.demonyms  # asked of every word: demonym_mention only for the few that are one
        cache: dict[str, tuple[str, ...]] | None = self.__dict__.get("_keys_cache")
        if cache is None or len(cache) > 50_000:  # ~6 MB at most
            cache = self.__dict__["_keys_cache"] = {}
        i = 0
        while i < len(tokens):
            best: tuple[int, Entry] | None = None
            lower = tokens[i].lower
            keys = cache.get(lower)
            if keys is None:
                keys = cache[lower] = self._index_keys(lower)
            if i and tokens[i - 1].lower == "по" and lower.endswith(("ски", "цки")) and lower + "й" in self.index:
                keys = (*keys, lower + "й")  # по-тобольски: the town's adjective
            if not keys:  # most words name no place
                if lower in demonyms and (demonym := demonym_mention(demonyms, tokens, i, doc.cleaned)) is not None:
                    found.append(demonym)
                i += 1
                continue
            own = forms.get(lower)  # the towns of the table this word is a case form of
            # Sorted, and ties broken by population: the same text resolves the same in every process.
            for key in keys:
                for entry in self._candidates(key, tokens, i):
                    size = len(entry.parts)
                    if entry.district:
                        size = district_size(tokens, i, entry)
                        if size and (best is None or size > best[0]):
                            best = (size, entry)
                        continue
                    # Longer names first, then a town of the table, then in a source's name the name
                    # written exactly (Подслушано Печоры; in a post «Печоры» is as often Печора's
                    # genitive), then the larger place.
                    exact = hint and entry.parts[0] == lower
                    if best is not None and (size, entry.official, exact, entry.population) <= (
                        best[0],
                        best[1].official,
                        hint and best[1].parts[0] == lower,
                        best[1].population,
                    ):
                        continue
                    if i + size > len(tokens):
                        continue
                    if entry.official and size == 1 and (own is None or entry.parts[0] not in own):
                        continue  # a town of the table matches only its own case forms
                    if size == 1 or all(self._has_key(tokens[i + k].lower, entry.parts[k]) for k in range(1, size)):
                        if accepts(self.names, tokens, i, entry, hint=hint, text=doc.cleaned):
                            best = (size, entry)
            if best is None:
                if lower in demonyms and (demonym := demonym_mention(demonyms, tokens, i, doc.cleaned)) is not None:
                    found.append(demonym)
                i += 1
                continue
            size, entry = best
            previous = tokens[i - 1].lower if i else ""
            if own is not None and len(own) > 1 and size == 1 and entry.official:
                entry = self._with_namesakes(tokens, i, entry, own, hint=hint, text=doc.cleaned)
                named = self.nominatives.get(lower)
                if len(entry.codes) > 1 and named and (i == 0 or tokens[i].sentence_start):
                    # «Печоры красивейший город»: opening a sentence, the town named so, not Печора's genitive
                    # (which a word before asks for: управляющие компании Печоры)
                    entry = next((e for e in self.index.get(named, ()) if e.official and e.parts == (named,)), entry)
            if size == 1 and entry.names:
                entry = _by_form(entry, lower)
            weak = (
                entry.adjective
                or entry.caps_only
                or entry.small
                or entry.ambiguous
                or (
                    size == 1
                    and (
                        (not entry.trusted and word_kind(tokens[i].lower) != "geo" and not big_name(tokens[i], entry))  # noqa: E501
                        or previous in {"на", "по", "до"}
                    )
                )
            )  # на Орджоникидзе, до Москвы: a street or a destination, which the hint outweighs
            weak = weak or after_river_word(tokens, i)  # мост через Алатырь: the river, or the town on it
            if previous in {"через", "вдоль"} and entry.parts[0] in RIVER_REGIONS and entry.city is None:
                weak = True  # через Колыму: the river, which the region (Колыма) is only named after
            role = "" if hint else role_of(tokens, i, size, entry, doc.cleaned)
            if entry.adjective and not entry.institution and institution_after(tokens, i, DISTRICT_INSTITUTIONS):
                entry = district_hospital(self.index, entry)
            # (на Камчатке, в Приморье: where; у Камчатки, «Южный Урал» the team: not)
            region = entry.city is None and not entry.district and not entry.adjective
            loose = region and previous not in {"в", "во", "на"}
            if entry.adjective and entry.city is None and previous in {"на", "по"} and not region_noun_after(tokens, i):
                role = "not"  # на Ленинградском, по Московскому: a street or a road named after a region
            elif entry.adjective and previous in {"на", "по"} and street_alone(tokens, i, size):
                role = "not"  # на Первомайской разметку рисуют: a street named after a town, not the town
            words = " ".join(t.text for t in tokens[i : i + size])
            found.append(Mention(entry, words, from_hint=hint, weak=weak, role=role, loose=loose))
            spans.append((len(found) - 1, i, size))
            i += size
        return _parts_of_cities(found, spans, tokens, doc.cleaned, self.nominatives)

    def _start_tables(self) -> StartTables:
        """Per index key, the names a word may start: those of one word and districts (whose length the
        text decides), and the longer ones by their second word. «в» and «новый» start dozens of names;
        checking each against the next word was a third of `mentions`. Built on first use (a gazetteer
        loaded from its cache file was not made by __init__)."""
        tables: StartTables | None = self.__dict__.get("_start_tables_built")
        if tables is not None:
            return tables
        all_starts: dict[str, tuple[tuple[int, Entry], ...]] = {}
        all_by_second: dict[str, dict[str, tuple[tuple[int, Entry], ...]]] = {}
        for key, entries in self.index.items():
            starts: list[tuple[int, Entry]] = []
            by_second: dict[str, list[tuple[int, Entry]]] = {}
            for order, entry in enumerate(entries):
                if len(entry.parts) == 1 or entry.district:
                    starts.append((order, entry))
                else:
                    by_second.setdefault(entry.parts[1], []).append((order, entry))
            all_starts[key] = tuple(starts)
            if by_second:
                all_by_second[key] = {second: tuple(pairs) for second, pairs in by_second.items()}
        tables = self.__dict__["_start_tables_built"] = (all_starts, all_by_second)
        return tables

    def _candidates(self, key: str, tokens: list[Token], i: int) -> list[Entry]:
        """The entries of `key` that may start at token i, in the index's order: every one-word name and
        district, and the longer names whose second word the next token may stand for."""
        all_starts, all_by_second = self._start_tables()
        starts = all_starts.get(key, ())
        by_second = all_by_second.get(key)
        following: list[tuple[int, Entry]] = []
        if by_second is not None and i + 1 < len(tokens):
            word = tokens[i + 1].lower
            for second in lemma_set(word) | self.forms.get(word, frozenset()):
                following += by_second.get(second, ())
        if not following:
            return [entry for _, entry in starts]
        return [entry for _, entry in sorted((*starts, *following), key=_order)]

    def _index_keys(self, lower: str) -> tuple[str, ...]:
        """The keys of the index a word may stand for, sorted: its lemmas and the towns it is a case
        form of. Cached per word: most words name no place."""
        keys = lemma_set(lower) | self.forms.get(lower, frozenset())
        return tuple(sorted(k for k in keys if k in self.index))

    def _has_key(self, word: str, key: str) -> bool:
        """Whether a word may stand for a later word of a name (Набережных: набережный)."""
        return key in lemma_set(word) or key in self.forms.get(word, ())

    def _with_namesakes(
        self, tokens: list[Token], i: int, entry: Entry, own: frozenset[str], *, hint: bool, text: str
    ) -> Entry:
        """A case form of two towns of the table names either: «Печоры» is the town and Печора's
        genitive, «Волжском» Волжский's locative and Волжск's instrumental."""
        codes, pops = list(entry.codes), list(entry.populations)
        for key in sorted(own - {entry.parts[0]}):
            for other in self.index.get(key, ()):
                if (
                    other.official
                    and other.parts == (key,)
                    and accepts(self.names, tokens, i, other, hint=hint, text=text)
                ):
                    for code, population in zip(other.codes, other.populations, strict=True):
                        if code not in codes:
                            codes.append(code)
                            pops.append(population)
        if len(codes) == len(entry.codes):
            return entry
        return replace(entry, codes=tuple(codes), populations=tuple(pops), names=())

    def _clues(self, doc: Doc) -> set[str]:
        """Regions a post's other words point to, to settle a namesake (only asked when one is unsettled): a
        great river it names (на Лене), a village of two words it names (в Малом Исакове)."""
        tokens = doc.tokens
        found: set[str] = set()
        for i, token in enumerate(tokens):
            for word in lemma_set(token.lower) & CLUE_WORDS.keys():
                if word != "зато" or token.text == "ЗАТО":  # («зато не искрит»: the conjunction)
                    found.update(CLUE_WORDS[word])
            if token.lower.isdigit() and len(token.lower) == 2 and i and tokens[i - 1].text[:1].isupper():
                found.add(token.lower)  # «Зеленогорск 24», «Никольск 35»: the town and its region's code
        for i in [k for k, t in enumerate(tokens) if t.text[:1].isupper()]:
            token = tokens[i]
            rivers = lemma_set(token.lower) | {RIVER_FORMS.get(token.lower, "")}
            if i and tokens[i - 1].lower in RIVER_PREPOSITIONS:
                for river in rivers:
                    found.update(RIVER_REGIONS.get(river, ()))
            else:  # a river no word shares a name with, wherever it stands (Анграпа у нас в Озерске)
                for river in rivers & RIVER_REGIONS.keys():
                    if not has_word_sense(river) and river not in self.index:
                        found.update(RIVER_REGIONS[river])
            # a district's adjective alone (Покровск Хангаласский): its region(s), when the word names no
            # place but districts (not Волжский, a town and many regions' district)
            for key in () if token.lower in self.forms else self._index_keys(token.lower):  # (Гурьевском: the town)
                entries = self.index.get(key, ())
                districts = [e for e in entries if e.district and len(e.parts) == 2]
                if districts and all(e.district or e.institution for e in entries):
                    found.update(c for e in districts for c in e.codes)
            if i + 1 < len(tokens) and not token.punct_after and tokens[i + 1].lower in STREET_AFTER:
                # a road named after a town (Гурьевск, Калининградское шоссе): settles a namesake only
                # among its own regions, so Московское шоссе, which every town has, settles nothing
                for key in self._index_keys(token.lower):
                    found.update(c for e in self.index.get(key, ()) if e.adjective for c in e.codes)
            if i + 1 < len(tokens) and tokens[i + 1].text[:1].isupper() and not token.punct_after:
                second = tokens[i + 1].lower
                for key in self._index_keys(token.lower):
                    for entry in self.index.get(key, ()):
                        if len(entry.parts) == 2 and len(entry.codes) == 1 and not entry.district:
                            if second in inflections(entry.parts[1]) or self._has_key(second, entry.parts[1]):
                                found.update(entry.codes)
        return found

    def _hint_mentions(self, hint: str) -> list[Mention]:
        # A source's hint repeats with every post of that source: resolve each hint once.
        cache: dict[str, list[Mention]] | None = self.__dict__.get("_hint_cache")
        if cache is None:
            cache = self.__dict__["_hint_cache"] = {}
        found = cache.get(hint)
        if found is None:
            if len(cache) > 20_000:
                cache.clear()
            found = cache[hint] = self.mentions(analyze(hint), hint=True)
        return found

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in _CACHES}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def resolve(
        self,
        doc: Doc,
        *,
        hint: str | None = None,
        hint_region: str | None = None,
        hint_city: str | None = None,
    ) -> RegionGuess:
        """The region a post is about, from its text and its source's place hint (`hint`: the source's
        name, `hint_region`/`hint_city`: the region and town a source or a submitter gives)."""
        text_mentions = self.mentions(doc)
        hint_mentions: list[Mention] = []
        for extra in (hint, hint_city):
            if extra:
                hint_mentions += self._hint_mentions(extra)
        guess = score_regions(
            text_mentions,
            hint_mentions,
            hint_region=hint_region,
            hint_city=hint_city,
            # the text's own clues first (в Янтарьэнерго звоню): a source's «Гурьевск и Гурьевский округ»
            # points to both regions with a district of that name
            clues_of=lambda: self._clues(doc) or (self._clues(analyze(hint)) if hint else set()),
        )
        if guess.code is None and not text_mentions and not hint_mentions and not hint_region:
            river = _river_of_one_region(doc)
            if river is not None:  # «на Шелони у моста пацаны на льду»: the river's one region, no town
                code, word = river
                return RegionGuess(code, REGIONS[code].name, None, 0.5, [word])
        return guess


def _order(pair: tuple[int, Entry]) -> int:
    return pair[0]


def _river_of_one_region(doc: Doc) -> tuple[str, str] | None:
    """The region of the river a post names after a river word (на Шелони, берег Сухоны), when that river
    flows through one region only and the post names no other place."""
    tokens = doc.tokens
    found: dict[str, str] = {}
    for i, token in enumerate(tokens):
        if not i or not token.text[:1].isupper() or tokens[i - 1].lower not in RIVER_PREPOSITIONS:
            continue
        for river in lemma_set(token.lower) | {RIVER_FORMS.get(token.lower, "")}:
            codes = RIVER_REGIONS.get(river, ())
            if len(codes) == 1 and river not in {"урал", "юг"}:  # (на Юге: the south, mostly)
                found.setdefault(codes[0], token.text)
    return next(iter(found.items())) if len(found) == 1 else None


def _by_form(entry: Entry, lower: str) -> Entry:
    """Of namesakes that differ in form, those the written word is a case form of: «в Отрадной» is
    the stanitsa Отрадная, not the town Отрадный; «у Арсеньево» the village, not Арсеньев."""
    folded = [name.lower().replace("ё", "е") for name in entry.names]
    kept = [k for k, name in enumerate(folded) if lower == name or lower in inflections(name)]
    if not kept or len(kept) == len(entry.codes):
        return entry
    first = kept[0]
    return replace(
        entry,
        codes=tuple(entry.codes[k] for k in kept),
        populations=tuple(entry.populations[k] for k in kept),
        names=tuple(entry.names[k] for k in kept),
        display=entry.display if first == 0 else entry.names[first],
        city=entry.city if first == 0 else entry.names[first],
        population=entry.populations[first],
    )


REGION_NOUNS = frozenset({"область", "край", "район", "округ", "республика", "обл", "регион"})


def region_noun_after(tokens: list[Token], i: int) -> bool:
    """Whether a region's noun follows the word at i (на Ленинградской области, по Московскому региону)."""
    return i + 1 < len(tokens) and not REGION_NOUNS.isdisjoint(lemma_set(tokens[i + 1].lower))


# A city this large named right after a smaller place and a comma is where that place is
# («в районе Шилово, Воронеж»: Voronezh's Шилово, not the town near Ryazan).
CITY_OF_PARTS = 100_000


def _parts_of_cities(
    found: list[Mention],
    spans: list[tuple[int, int, int]],
    tokens: list[Token],
    text: str,
    nominatives: dict[str, str],
) -> list[Mention]:
    """Places named as within a town of another region no longer name a region of their own:
    - a place just before a city and a comma (Шилово, Воронеж; Черёмушки, Москва) is the city's part,
      when the city is written in the nominative as an address writes it (not «Арсеньев, Жуковского»);
    - a village just before «под» a town of the table (деревня Луговая под Макушином) is in the town's
      area, and the town says where."""
    for (k, start, size), (later, next_start, _) in zip(spans, spans[1:], strict=False):
        city, place = found[later].entry, found[k].entry
        if (
            later == k + 1
            and next_start == start + size
            and mark_after(text, tokens[start + size - 1]) == ","
            and city.official
            and city.city is not None
            and nominatives.get(tokens[next_start].lower) == city.parts[0]
            and len(city.codes) == 1
            and city.population >= CITY_OF_PARTS
            and place.population < city.population
            and city.codes[0] not in place.codes
        ):
            found[k] = replace(found[k], role="not")
        elif (
            later == k + 1
            and next_start == start + size + 1
            and tokens[start + size].lower in NEAR_WORDS
            and not tokens[start + size - 1].punct_after
            and city.official
            and (not place.official or (start > 0 and tokens[start - 1].lower in VILLAGE_MARKERS))
            and not place.trusted
            and city.codes[0] not in place.codes
        ):
            # a village before «под» a town of the table (деревня Луговая под Макушином): the village is
            # the town's namesake-prone neighbour, the town says where
            found[k] = replace(found[k], role="not")
            found[later] = replace(found[later], role="")
    return found
