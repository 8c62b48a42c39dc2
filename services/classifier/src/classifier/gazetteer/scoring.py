"""The region a post is about, from the places its text names and those its source's name (the hint) gives:
each mention adds to its regions by how it is named (first, weak, elsewhere, a region outright), namesakes
are settled by what else is named, and the hint adds 0.9."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from classifier.gazetteer.entries import NICKNAME_RANK, Mention, RegionGuess
from incidents_common.regions import REGIONS

# How much a place named so counts (a place named as elsewhere still answers a post that names no other);
# «у нас в X» outweighs even a region named first.
ROLE_SHARE = {"own": 2.5, "away": 0.3, "go": 0.5, "near": 0.7, "not": 0.0}
# A text's word for a place that is not the source's own town weighs this much against a town the source's
# name gives: weak, elsewhere, a destination, or a region named not as where (у Камчатки, «Южный Урал»).
HINT_TOWN_OUTWEIGHS = 0.4
OTHER_THAN_OWN = 0.5  # a plainly named place of another region beside «у нас в X»
DISTRICT_NAMED = 1.5
CITY_WITH_DISTRICTS = 100_000  # people: a city this size has city districts (Фокинский район of Брянск)


def score_regions(
    text_mentions: list[Mention],
    hint_mentions: list[Mention],
    *,
    hint_region: str | None,
    hint_city: str | None,
    clues_of: Callable[[], set[str]],
) -> RegionGuess:
    """The best-scored region and its town, confidence and evidence; `clues_of`: the regions a post's
    rivers and villages point to (computed only for a namesake nothing else settles)."""
    hint_codes: set[str] = set()
    if hint_region and hint_region in REGIONS:
        hint_codes.add(hint_region)
    text_mentions = [m for m in text_mentions if m.role != "not"]  # «не путать с Вяткой»
    unique = {m.entry.codes[0] for m in hint_mentions if len(m.entry.codes) == 1 and not m.entry.ambiguous}
    text_codes = {
        c
        for m in text_mentions
        if not m.entry.ambiguous and not m.entry.adjective and m.words[:1].isupper() and len(m.entry.codes) == 1
        for c in m.entry.codes
    }  # (names written as names: not «у нас в шахтёрском доме»; a namesake votes for none of its regions)
    clues: set[str] | None = None  # computed only for a namesake nothing else settles
    for mention in hint_mentions:
        codes = mention.entry.codes
        if mention.entry.ambiguous or len(codes) == 1:
            continue
        # «Чат Черёмушки Саяногорск»: the namesake in the region the hint names too, or one the text
        # names (Подслушано Никольск: «езжайте в Вологду»), or one its river or village names, else the largest
        chosen = [c for c in codes if c in unique] or [c for c in codes if c in text_codes]
        if not chosen:
            clues = clues_of() if clues is None else clues
            chosen = [c for c in codes if c in clues] if len(clues.intersection(codes)) < len(codes) else []
            chosen = chosen[:1]  # (clues of several regions: the largest of them, as without clues)
        hint_codes.update(chosen or codes[:1])
    hint_codes.update(unique)
    # A source's name that names a district or a town outright outweighs its weaker adjective
    # («Казанская | Верхнедонской район»: the stanitsa of that district, not Казань's adjective).
    strong = {c for m in hint_mentions if not (m.weak and m.entry.adjective) for c in m.entry.codes}
    if strong & hint_codes:
        hint_codes = {c for c in hint_codes if c in strong or c == hint_region}
    # A source named after a village and its district («Донское | Труновский округ») is in the district's
    # region: the village's name may be a town's elsewhere (Донской), a district of one region is not.
    # A city's own districts share names with rural ones elsewhere (Брянск | Фокинский район): a city keeps.
    hint_districts = {
        m.entry.codes[0]
        for m in hint_mentions
        if m.entry.district and not m.entry.ambiguous and len(m.entry.codes) == 1
    }
    if hint_districts & hint_codes:
        cities = {c for m in hint_mentions if m.entry.population >= CITY_WITH_DISTRICTS for c in m.entry.codes}
        hint_codes = {c for c in hint_codes if c in hint_districts or c in cities or c == hint_region}
    # A district name of several regions (Первомайский район) only adds to a region that a town,
    # a region or the hint names; alone it decides nothing.
    named = hint_codes.union(*(m.entry.codes for m in text_mentions + hint_mentions if not m.entry.ambiguous))
    # A namesake in a region that a town, a region or the hint names too is that one: Краснознаменск
    # beside Гусев, Покровск beside Якутск.
    anchors = hint_codes.union(
        *(m.entry.codes for m in text_mentions if len(m.entry.codes) == 1 and not m.entry.ambiguous)
    )
    # Failing those, a namesake in a region that a district of several regions (Михайловский район)
    # or another namesake names too: Заречный beside Михайловский район is Рязанская's.
    shared = [m.entry.codes for m in text_mentions + hint_mentions if len(m.entry.codes) > 1 or m.entry.ambiguous]
    first = 0 if text_mentions and text_mentions[0].role in {"", "own"} else -1
    # A town the source's name gives (Вести Кызыла, Орск | Хоккей) outweighs a text's place that is weak,
    # elsewhere, a destination or a region named not as where.
    hint_towns = {
        c
        for m in hint_mentions
        if m.entry.official and m.entry.city and not m.weak and not m.entry.adjective
        for c in m.entry.codes
        if c in hint_codes
    }
    # «У нас в Ельне …» names the author's own place: a place the post names plainly elsewhere in
    # another region (a sister's Оренбург, the Орск of the news) is where others are.
    own_codes = {c for m in text_mentions if m.role == "own" for c in m.entry.codes}
    # (a district beside a town of the table may be the town's own: Кузнецкий район of Новокузнецк)
    towns_named = any(
        m.entry.city and (m.entry.official or m.entry.population >= NICKNAME_RANK)
        for m in text_mentions + hint_mentions
    )
    scores: dict[str, float] = defaultdict(float)
    for n, mention in enumerate(text_mentions):
        codes = mention.entry.codes
        if mention.entry.ambiguous:
            codes = tuple(code for code in codes if code in named)
        elif len(codes) > 1 and not anchors.isdisjoint(codes):
            codes = tuple(code for code in codes if code in anchors)
        elif len(codes) > 1:
            others = set().union(*(c for c in shared if c is not mention.entry.codes))
            if 0 < len(others.intersection(codes)) < len(codes):
                codes = tuple(code for code in codes if code in others)
            else:  # a river or a village the post names: Покровск на Лене, Малое Исаково под Гурьевском
                clues = clues_of() if clues is None else clues
                if 0 < len(clues.intersection(codes)) < len(codes):
                    codes = tuple(code for code in codes if code in clues)
        pops = mention.entry.populations
        dominant = (
            len(codes) > 1 and codes == mention.entry.codes and pops[0] >= 15_000 and pops[0] >= 5 * max(pops[1], 1)
        )
        share = 1.0 if len(codes) == 1 or dominant else 0.45
        if mention.weak:
            share *= 0.5
        share *= ROLE_SHARE.get(mention.role, 1.0)
        if own_codes and mention.role == "" and own_codes.isdisjoint(mention.entry.codes):
            share *= OTHER_THAN_OWN
        if (
            hint_towns
            and hint_towns.isdisjoint(codes)
            and (mention.weak or mention.loose or mention.role in {"away", "go", "near"})
        ):
            share *= HINT_TOWN_OUTWEIGHS
        if n == first:
            share *= 1.3  # posts name their own town first; later towns are comparisons
        if mention.entry.district and not mention.entry.ambiguous and len(codes) == 1 and not towns_named:
            # «ФАП в Ростоши … Эртильский район»: a district named outright is where the village is;
            # a village's name alone is shared by many (and by city parts elsewhere)
            share *= DISTRICT_NAMED
        if mention.entry.city is None and not mention.entry.adjective and not mention.entry.district:
            # A region named outright (Архангельской области) outweighs a namesake town; after a town
            # of its own it is where the author was or compares with (Невельск, … прожили в Подмосковье).
            if n == first or any(
                len(m.entry.codes) > 1 and codes[0] in m.entry.codes for m in text_mentions if m is not mention
            ):
                share *= 1.5
        for k, code in enumerate(codes):
            scores[code] += share if not dominant or k == 0 else 0.1
    for code in sorted(hint_codes):  # sorted: ties resolve the same in every process
        scores[code] += 0.9
    if not scores:
        return RegionGuess()
    # The top score; a tie goes to the larger place (population is looked up for the tied codes only).
    top = max(scores.values())
    leaders = [code for code, score in scores.items() if score == top]
    mentioned = text_mentions + hint_mentions
    best = leaders[0] if len(leaders) == 1 else max(leaders, key=lambda code: _population(mentioned, code))
    evidence = [m.words for m in text_mentions if best in m.entry.codes]
    evidence += [f"подсказка: {m.words}" for m in hint_mentions if best in m.entry.codes]
    if hint_region == best:
        evidence.append(f"подсказка: регион {best}")
    in_text = any(best in m.entry.codes for m in text_mentions)
    ambiguous = all(
        m.entry.ambiguous or (len(m.entry.codes) > 1 and m.entry.populations[0] < 5 * max(m.entry.populations[1], 1))
        for m in text_mentions
        if best in m.entry.codes
    )
    if in_text and best in hint_codes:
        confidence = 0.97
    elif in_text and not ambiguous:
        confidence = 0.9 if len(scores) == 1 else 0.75
    elif in_text:
        confidence = 0.55
    else:
        confidence = 0.8
    city = _pick_city(text_mentions, best) or _pick_city(hint_mentions, best)
    if city is None and hint_city and not text_mentions:
        city = hint_city
    also_in: tuple[str, ...] = ()
    if in_text and ambiguous and best not in hint_codes:
        also_in = _comparable_namesakes(text_mentions, best)
    return RegionGuess(best, REGIONS[best].name, city, confidence, _dedupe(evidence)[:6], also_in)


# A namesake at least half the size of the chosen town makes the choice worth a person's look: on
# the labelled corpus a tenth of such guesses were the wrong region (against 1 % of all guesses);
# counting every namesake a fifth of the size would have put twice as many posts to review for the
# same share of errors.
NAMESAKE_SHARE = 0.5


def _comparable_namesakes(mentions: list[Mention], code: str) -> tuple[str, ...]:
    """Other regions with a town of the name the guess `code` rests on, of comparable size."""
    found: dict[str, None] = {}
    for mention in mentions:
        entry = mention.entry
        if entry.ambiguous or code not in entry.codes or len(entry.populations) != len(entry.codes):
            continue
        size = entry.populations[entry.codes.index(code)]
        for other, population in zip(entry.codes, entry.populations, strict=True):
            if other != code and population >= NAMESAKE_SHARE * size:
                found[other] = None
    return tuple(found)


def _pick_city(mentions: list[Mention], code: str) -> str | None:
    for mention in mentions:
        if code in mention.entry.codes and mention.entry.city:
            if len(mention.entry.codes) > 1 and mention.entry.codes[0] != code:
                return mention.entry.display
            return mention.entry.city
    return None


def _population(mentions: list[Mention], code: str) -> int:
    return max((m.entry.population for m in mentions if code in m.entry.codes), default=0)


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
