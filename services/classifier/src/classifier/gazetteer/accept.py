"""Whether a name found at a place in a text is the place it names: the rules that tell a town from a
street, a person, a river, a common word or an adjective of the next noun."""

from __future__ import annotations

from classifier.gazetteer.context import (
    ADDRESS_MARKS,
    ADDRESSED_WORDS,
    CO_OPERATIVES,
    DISTRICT_AFTER,
    EXCLAMATIONS,
    HOUSE_WORDS,
    INSTITUTION_NOUNS,
    KIN_WORDS,
    LOCATIVE,
    MICRODISTRICT,
    MONTHS,
    NAMED_BUSINESSES,
    NEARBY_PLACES,
    NEIGHBOURHOOD_BEFORE,
    PERSON_TITLES,
    PLACE_MARKERS,
    QUOTES,
    RIVERS,
    STATION,
    STREET_AFTER,
    STREET_BEFORE,
    STREET_CHAT_WORDS,
    TOWN_PARTS,
    VILLAGE_MARKERS,
    YEAR_WORDS,
    acronym_part,
    address_prefix,
    addressee,
    after_marker,
    all_words,
    crossing_street,
    in_river_town,
    in_street_list,
    institution_after,
    is_municipal_abbreviation,
    mark_after,
    mark_before,
    municipal_abbreviation,
    plain_before,
)
from classifier.gazetteer.entries import NEIGHBOURHOOD_RANK, Entry
from classifier.gazetteer.index import PlaceNames
from classifier.gazetteer.words import (
    agrees,
    common_sentence,
    folded_case,
    genitive_of,
    has_adjective_sense,
    has_word_sense,
    instrumental_of,
    is_geox,
    is_noun,
    is_patronymic,
    is_person,
    only_person_sense,
    other_gender,
    word_kind,
)
from classifier.text import Token, lemma_set, morph, parses

# A town's own markers: «г. Черёмушки» would not be a village
TOWN_MARKERS = frozenset({"г", "город", "города", "городе", "гор"})
# The cases a preposition before a stanitsa's name asks of it (в Каневской, из Каневской, под Каневской)
PREPOSITION_CASES: dict[str, frozenset[str]] = {
    "в": frozenset({"loct", "accs"}),
    "во": frozenset({"loct", "accs"}),
    "из": frozenset({"gent"}),
    "до": frozenset({"gent"}),
    "под": frozenset({"ablt", "accs"}),
    "за": frozenset({"ablt", "accs"}),
    "от": frozenset({"gent"}),
    "у": frozenset({"gent"}),
    "возле": frozenset({"gent"}),
    "пол": frozenset({"gent"}),  # пол-Порхова затопило (half of the town)
    "около": frozenset({"gent"}),
}
TOWN_INSTITUTIONS = INSTITUTION_NOUNS - {"район", "округ"}  # (в Красногорском районе: a district's own name)
# What goes «на» a town named in the nominative (автобус на Гусев, дорога на Белёв): a route to it
ROUTE_WORDS = frozenset({"автобус", "маршрутка", "рейс", "поезд", "электричка", "дорога", "трасса", "билет", "поворот"})
# Prepositions of place a town follows besides those of PREPOSITION_CASES (сияние над Певеком)
PLACE_PREPOSITIONS = frozenset({"вокруг", "через", "между", "после", "перед"})


# A number before these is a distance or a time, not a house: «от Екб 15 минут», «до Кирова 40 км»
SPANS = {"мин", "минут", "минуты", "час", "часа", "часов", "км", "километров", "километра", "верст"}


# Words before a quoted name that make it a place's, not a thing's (a municipality, a town's group or channel)
QUOTED_PLACE_BEFORE = {"мо", "го", "мр", "гп", "сп", "группа", "группы", "группе", "паблик", "паблика", "чат", "чата",
                       "сообщество", "сообщества", "канал", "канала", "гтрк", "чгтрк", "город", "города"}  # fmt: skip


def _locative_of_unknown(lower: str, entry: Entry) -> bool:
    """«на Нефтестрое», «в Культбытстрое»: the locative of a name in -ой the dictionary does not know,
    not a neuter adjective (which a known name in -ой, Лесной, would have)."""
    name = entry.parts[0]
    return name.endswith("ой") and lower == name[:-2] + "ое" and not morph().word_is_known(name)


def quoted(text: str, token: Token, size: int, tokens: list[Token], i: int) -> bool:
    """Whether a name stands alone between quotes («Москвича»)."""
    if not text or not token.start or text[token.start - 1] not in '«"„“':
        return False
    if i and tokens[i - 1].lower in QUOTED_PLACE_BEFORE:
        return False  # МО «Чегем», из группы «Торопец»: the place's own name
    last = tokens[i + size - 1]
    end = last.start + len(last.text)
    return end < len(text) and text[end] in '»"“”'


def accepts(names: PlaceNames, tokens: list[Token], i: int, entry: Entry, *, hint: bool, text: str = "") -> bool:
    """Whether the name of `entry` found at token i is that place (`hint`: in a source's name)."""
    token = tokens[i]
    previous = tokens[i - 1].lower if i else ""
    if not hint and quoted(text, token, len(entry.parts), tokens, i):
        return False  # a thing's name: «Москвич» the car, кафе «Сибирь», «Енисей» the team
    if (
        previous in STATION
        and (i < 2 or tokens[i - 2].lower != "метро")
        and names.nominatives.get(token.lower) == entry.parts[0]
        and token.text[:1].isupper()
    ):
        return True  # на станции Мураши: a railway station is named after its town
    if previous == "метро" and entry.trusted and not entry.official:
        return True  # у метро Выхино, Купчино: a big city's station, named after its neighbourhood
    following = tokens[i + len(entry.parts)].lower if i + len(entry.parts) < len(tokens) else ""
    if i and not hint and not entry.adjective and mark_before(text, token) in QUOTES:
        if not lemma_set(previous).isdisjoint(NAMED_BUSINESSES):
            return False  # в гостинице «Онега», ТЦ «Москва»: a business's name, not where it is
    if previous in CO_OPERATIVES:
        return False  # СНТ Черёмушки, ГСК Сокол: a dacha or garage co-operative's own name
    if token.text.isupper() and len(token.text) <= 5 and acronym_part(text, token):
        return False  # МСК-НТ, РТ-Инвест: an organisation
    if entry.caps_only:
        if token.text.isupper() and i and is_municipal_abbreviation(token) and mark_after(text, token) in QUOTES:
            return False  # Администрация МО «Светлогорский городской округ»: a municipality, not the Moscow region
        before = tokens[i - 1] if i else None
        if token.lower == "рб" and before and before.lower.endswith(("ая", "ой", "ую")) and not before.punct_after:
            return False  # «Киренская РБ», в Центральной РБ: a district hospital, not Bashkiria
        return token.text.isupper() and len(token.text) >= 2 and not municipal_abbreviation(tokens, i)
    if entry.institution:  # Волчанское водохранилище, Перевозский (муниципальный) округ
        if token.punct_after and _addressed_as_people(tokens, i, text):
            return True  # «Починковские, кто в администрации…»: the town's people, addressed
        return not token.punct_after and institution_after(tokens, i)
    last = tokens[i + len(entry.parts) - 1]
    after_next = tokens[i + len(entry.parts) + 1].lower if i + len(entry.parts) + 1 < len(tokens) else ""
    # «ул. Энгельса» is a street; «…к остановке. Муром, …» ends a sentence before the town.
    # (a comma too: «варежку у ДК, Щучье» is no ДК named after anyone)
    sentence_ended = (
        i > 0 and tokens[i - 1].punct_after and (len(previous) > 4 or mark_before(text, token) in {",", "|"})
    )  # (a source's name «Чат Ленина ул | Новосиль»: the bar ends the street)
    street_word_before = previous in STREET_BEFORE and not sentence_ended
    if street_word_before and previous in TOWN_PARTS and _town_genitive(names.nominatives, token, entry):
        return True  # на набережной Тарусы: the town's embankment, not a street named after someone
    if street_word_before or (following in STREET_AFTER and not last.punct_after):
        return False  # a street named after a town or a person (ул. Энгельса, Московское шоссе)
    if in_street_list(tokens, i, text):
        return False  # по улицам Октябрьской, Ефремова и проспекту Созидателей
    if crossing_street(tokens, i, text):
        return False  # на перекрёстке Ленина — Кирова
    if hint and previous in HOUSE_WORDS and following.isdigit():
        return False  # «Чат дома Ленинградский 12 Железногорск»: a house on a street
    if hint and previous in STREET_CHAT_WORDS and _chat_street(tokens, i, entry, following, text):
        return False  # «Чат Гагарина 21 (Тотьма)», «Соседи Кирова | Нариманов»: the chat's street
    if (
        not hint
        and following.isdigit()
        and following not in entry.codes  # «Зеленогорск 24»: the town and its region's code
        and previous not in {"в", "во", "из"}  # из Биробиджана 11 лет
        and (not last.punct_after or previous in {"на", "по"})
        and after_next not in MICRODISTRICT
        and after_next not in MONTHS
        and after_next not in YEAR_WORDS
        and after_next not in SPANS
    ):
        return False  # a house number: на Гагарина, 42; Димитрова 120 (not: Ангарск 22 мкр, Орске 1 декабря)
    if following and is_patronymic(following):
        return False  # Анна Фёдоровна, Киров Сергей Миронович: a person
    if i and (word_kind(previous) == "name" or previous in PERSON_TITLES) and previous != "пол":  # (пол-Порхова)
        return False  # Карла Маркса, Льва Толстого, Генерала Ефремова: a street named after a person
    if i and previous in KIN_WORDS and token.text[:1].isupper() and not tokens[i - 1].punct_after:
        return False  # дяде Коле 79 лет: a person
    village_marked = previous in VILLAGE_MARKERS or (previous in PLACE_MARKERS and previous not in TOWN_MARKERS)
    if village_marked and entry.city in {"Москва", "Санкт-Петербург"}:
        return False  # деревня Марьино, пос. Черёмушки: not the Moscow district
    if entry.parts[0] in RIVERS and len(entry.parts) == 1 and previous not in PLACE_MARKERS:
        # на Оби, по Дону, утонул в Оби: the river; почта в Оби: the town
        return entry.official and token.text[:1].isupper() and in_river_town(tokens, i)
    if len(entry.parts) > 1:
        # «в сосновом бору», «великие луки» in lower case: words, unless after «в»… or a marker
        return hint or token.text[:1].isupper() or not all_words(tokens, i, len(entry.parts))
    if previous in {"в", "во", "на", "о", "об"} and instrumental_of(token.lower, entry):
        # в Красногорском is Красногорский's locative, not Красногорск's instrumental; but before what a
        # town has (в Каменногорском ДК, на Шенкурском рынке) it is the town's own adjective
        return not token.punct_after and institution_after(tokens, i, TOWN_INSTITUTIONS)
    if previous in {"на", "по"} and genitive_of(token.lower, entry.display):
        return False  # на Пугачёва, по Гагарина: a street named after a person, not the town's genitive
    if (
        previous in {"на", "по"}
        and token.lower.endswith(("ого", "его"))
        and entry.display.lower().replace("ё", "е").endswith(("ский", "цкий"))
    ):
        return False  # на Дзержинского, по Чайковского: a street named after a person, not Дзержинский's
    if (
        not entry.official
        and not entry.adjective
        and other_gender(token.lower, entry.display)
        and not _locative_of_unknown(token.lower, entry)
    ):
        return False  # Сиверское озеро is not the settlement Сиверский
    if address_prefix(tokens, i, entry, names.nominatives, text) or _standalone(
        names.nominatives, tokens, i, entry, text
    ):
        return True
    if _with_nearby(names.nominatives, tokens, i, entry):
        return True
    if entry.adjective:  # Вологодского района: a district of the town's region
        if (
            previous in {"на", "по"}
            and word_kind(token.lower) == "street"
            and not (is_noun(following) and not token.punct_after)
        ):
            return False  # на Вилюйской, по Московской, на Первомайской — …: a street
        return following not in {"область", "обл", "край", "округ", "республика"}
    kind = word_kind(token.lower)
    capital = token.text[:1].isupper()
    if not capital and not hint and kind == "common" and entry.official and previous not in PLACE_MARKERS:
        if previous not in {"в", "во", "из", "до", "под", "у", "около", "возле"}:
            return False  # «прям королева 👑»: a word in lower case, not Королёв's genitive
    if not capital and not hint and kind == "geo" and entry.official and previous not in PLACE_MARKERS:
        if previous not in {"в", "во", "из"} and has_word_sense(token.lower):
            return False  # «на заливном лугу» is a meadow, not Луга
    # «…весь город. Весёлое было время»: a sentence's end parts the town from the word before it
    locative = previous in LOCATIVE and not (i and tokens[i - 1].punct_after)
    marker = previous in PLACE_MARKERS and (len(previous) <= 3 or not tokens[i - 1].punct_after)  # пос. X
    if kind in {"street", "district"}:
        # на Заречной is a street; Полевской, Узловая, Каневская after «г.», «станица» or in a hint are not
        if marker or (previous in VILLAGE_MARKERS and len(previous) > 1 and not tokens[i - 1].punct_after):
            return True  # в станице Каневской, г. Полевской
        if (
            entry.official
            and capital
            and (locative or previous == "для")
            and previous != "до"
            and not agrees(token.lower, following)
        ):
            return True  # из Узловой, администрация Верхотурья, прогноз для Верхотурья (not: в Полевской больнице)
        governed = previous in PREPOSITION_CASES
        if (
            not entry.official
            and kind == "street"
            and (capital or governed)
            and (governed or village_address(tokens, i, text))
            # the noun it would qualify in the case the preposition asks (в Полевской больнице), not
            # any noun beside it (у рынка в Тбилисской собаки порвали …)
            and not agrees(token.lower, following, PREPOSITION_CASES.get(previous))
            and (stanitsa_name(token.lower) or _centre_after_in(tokens, i, entry))
        ):
            return True  # в Тацинской, из Каневской, в ясенской, «Вёшенская, на выходных…»: a stanitsa
        if hint and not entry.official and kind == "street" and stanitsa_name(token.lower):
            return previous not in {"на", "по"}  # «Подслушано Должанская», «Кущёвская LIVE»
        return entry.official and hint and previous not in {"на", "по"}
    if (
        kind == "adjective"
        and not token.punct_after
        and (following in DISTRICT_AFTER or agrees(token.lower, following))
        and not (hint and entry.official and capital and names.nominatives.get(token.lower) == entry.parts[0])
    ):
        # an adjective agreeing with a noun: Нижний этаж, Юбилейный проезд (not: в Островном случай; in a
        # source's name the town as written: «Белоярский чат»)
        return False
    if (entry.official or entry.centre) and entry.population < 15_000 and not entry.trusted and not marker:
        # A small town named like a word or a person (Любим, Макаров, Дно, Бабушкин) counts as a name:
        # capitalised, and never as an adjective of the next noun (бабушкин рецепт); one the dictionary
        # does not know as a place first (Макаров, Дно) only after «в», «из» … or in a source's name.
        sense = has_word_sense(token.lower)
        if sense and not capital and not (previous in {"в", "во", "из"} and only_person_sense(token.lower)):
            return False  # (у нас в горбатове: a town after «в» in a post typed in lower case)
        if sense and token.sentence_start and not hint and common_sentence(token.lower) == "verb":
            return False  # «Любим. Помним.»: a capital that only starts a sentence proves no name
        if (
            sense
            and not hint
            and not token.punct_after
            and has_adjective_sense(token.lower)
            and agrees(token.lower, following)
        ):
            return False
        if (
            kind != "geo"
            and not hint
            and not locative
            and not (kind == "adjective" and capital and not token.sentence_start)
            and not (
                kind == "common"
                and capital
                and not token.sentence_start
                and token.lower not in EXCLAMATIONS
                and plain_before(tokens, i)
                and mark_before(text, token) not in QUOTES
            )
        ):
            # (an adjective written as a name mid-sentence is one: пенсионеров Островного; so is a noun:
            # «пацаны, Городище гордится», «праздник «Изге Болгар жыены»», not one opening a quote: «Горняк»)
            return False
    marked = after_marker(tokens, i, capital=capital, kind=kind)
    if (
        entry.small
        and not marked
        and previous not in NEIGHBOURHOOD_BEFORE
        and (i == 0 or not hint)
        and addressee(token.lower)
    ):
        return False  # «Мамы Дзержинска», «Соседи, …»: people, not the village Мама (but «Подслушано Мама»)
    if (
        entry.small
        and not marked
        and capital
        and entry.parts not in names.abroad
        and previous not in {"на", "по"}
        and (
            not morph().word_is_known(token.lower)  # no word at all: Батагай, в Лоухах, из Омсукчана
            or (
                is_geox(token.lower)
                and (
                    hint
                    or previous in VILLAGE_PREPOSITIONS
                    or village_address(tokens, i, text)
                    or (i == len(tokens) - 1 and i > 0 and tokens[i - 1].punct_after)  # «…, самовывоз. Поныри»
                )
            )
        )
    ):
        # A village's name, written as a name: one the dictionary knows only as a place (Корткерос,
        # Омсукчан) where a place stands (в …, из …, «Корткерос, у кого…», a source's name: «Пичаево |
        # Объявления»), not «Урал» the team or «Исеть встала», the river.
        return True
    if entry.small and not marked and not entry.centre:
        # (a district's centre is read as a small town of the table, by the checks above)
        # Under 15,000 people: only a known place name, or an adjective-named one after «в» (в Тымовском);
        # a village only after «в»/«из» and when the dictionary knows it as a place (в Вохме).
        if entry.population < 5_000:
            return (
                capital and previous in {"в", "во", "из"} and is_geox(token.lower) and entry.parts not in names.abroad
            )
        if kind == "adjective":
            return capital and locative and not agrees(token.lower, following)
        if kind != "geo":
            return False
    if entry.small and marked:
        return True
    if entry.population == NEIGHBOURHOOD_RANK and not capital and not hint and previous not in NEIGHBOURHOOD_BEFORE:
        return False  # a city's part in lower case only where a place stands (в бутово; «сходню оторвало»)
    if kind == "geo":
        return True
    if entry.trusted and kind in {"proper", "name"}:
        return previous not in {"на", "по"} or capital
    if entry.trusted and capital:
        return True  # a name people use (Нижний, Москвичи), written as a name
    if entry.trusted and kind in {"geo", "common"} and len(token.text) > 3:
        return True  # a demonym or nickname typed in lower case (мурманчане, магнитка, новосиб)
    if (
        kind == "name"
        and entry.population < 300_000
        and not hint
        and not locative
        and not marker
        and previous not in PREPOSITION_CASES
        and previous not in PLACE_PREPOSITIONS
    ):
        return False  # «Пропал мальчик, 7 лет, Артём, синяя куртка»: a boy, not the town (в Артёме, над Певеком are)
    if kind in {"proper", "name"}:
        # на Гагарина: a street, в Гагарине: the town; posts typed in lower case keep the preposition.
        # (автобус на Гусев: a route to the town, whose name is in the nominative, not a street's genitive)
        route = (
            previous == "на"
            and i >= 2
            and names.nominatives.get(token.lower) == entry.parts[0]
            and not ROUTE_WORDS.isdisjoint(lemma_set(tokens[i - 2].lower))
        )
        # (по Шарье, по Гусеву: the town's dative, where a street after «по» is named in the genitive)
        across = (
            previous == "по"
            and token.lower.endswith(("е", "у", "ю"))
            and names.nominatives.get(token.lower) != entry.parts[0]
            and not genitive_of(token.lower, entry.display)
        )
        return (capital and (previous not in {"на", "по"} or route or across)) or locative
    if marker:
        # «Фурманов — город текстильщиков»: a common word after «город» is what the town is of
        return capital or entry.official or not previous.startswith("город")
    if previous in {"на", "по"} and kind == "common" and not entry.official:
        return False  # на Свободы, по Победы: a street named by a word, not the village Свободы
    big = entry.population >= 50_000
    # A short name (Дно, Бор, Сим) only as a town of the table after «в», «из»… or in a source's name
    short_ok = len(token.text) > 3 or (entry.official and (hint or locative))
    return capital and (hint or big or not token.sentence_start) and short_ok


def _standalone(nominatives: dict[str, str], tokens: list[Token], i: int, entry: Entry, text: str) -> bool:
    """A town's name standing alone, as posts address or head with their town: «Дно, на Ленина…»,
    «…. Темников, вы бы знали», «…промоины, Никольск, срочно», «Холм: на тротуаре…», «Циолковский —
    город будущего», «Нариманов.». It counts even when the name is also a word, but only written
    exactly and capitalised (Строители, … is no Строитель), after nothing, a sentence's end or a comma."""
    token = tokens[i]
    if not entry.official or len(entry.parts) != 1 or not token.text[:1].isupper():
        return False
    if nominatives.get(token.lower) != entry.parts[0] or token.lower in ADDRESSED_WORDS:
        return False
    if not (token.sentence_start or mark_before(text, token) == ","):
        return False
    if not token.sentence_start and word_kind(token.lower) == "name":
        return False  # «Пропал мальчик, 7 лет, Артём, синяя куртка»: set off by commas, a first name is a person
    mark = mark_after(text, token)
    if mark in ADDRESS_MARKS:
        return True
    if mark in {".", "!", "?", ""}:
        # A sentence of one word: not one a common word makes (Дно! Любим.), but a noun may head or
        # sign a post (Городище. Уважаемые депутаты…; …с водоводом? Судак)
        common = common_sentence(token.lower)
        if common is None:
            return True
        # heading or signing the post, or tagging a sentence with its town («…варежку у ДК, Щучье.»)
        heading = (i == 0 and mark == ".") or i == len(tokens) - 1 or (mark == "." and mark_before(text, token) == ",")
        return common == "noun" and heading and token.lower not in EXCLAMATIONS
    return False


def _town_genitive(nominatives: dict[str, str], token: Token, entry: Entry) -> bool:
    """A one-word town of the table in its genitive, written as a name and no person's (Тарусы, Плёса;
    not Энгельса, Гагарина, Пушкина)."""
    lower = token.lower
    if not entry.official or len(entry.parts) != 1 or not token.text[:1].isupper():
        return False
    if nominatives.get(lower) == entry.parts[0] or is_person(lower):
        return False
    if word_kind(lower) not in {"geo", "common"}:
        return False
    return not morph().word_is_known(lower) or any(folded_case(p.tag.case) == "gent" for p in parses(lower))


def _with_nearby(nominatives: dict[str, str], tokens: list[Token], i: int, entry: Entry) -> bool:
    """A town's name before the villages around it: «Холм или ближайшие деревни», «Дно и окрестности»."""
    token = tokens[i]
    j = i + 1
    if not token.punct_after:
        if j >= len(tokens) or tokens[j].lower not in {"и", "или"}:
            return False
        j += 1
    if not any(tokens[k].lower in NEARBY_PLACES for k in range(j, min(j + 2, len(tokens)))):
        return False
    return (
        entry.official
        and len(entry.parts) == 1
        and token.text[:1].isupper()
        and nominatives.get(token.lower) == entry.parts[0]
    )


VILLAGE_PREPOSITIONS = frozenset({"в", "во", "из", "под", "до", "от", "у", "с"})


def village_address(tokens: list[Token], i: int, text: str) -> bool:
    """Whether the word at i opens the post or a sentence of it, followed by a comma or «!» and no house
    number («Корткерос, у кого есть клюква?»: the post speaks to the place; not «Чкалова, 58»)."""
    if not (i == 0 or (tokens[i].sentence_start and mark_before(text, tokens[i]) not in QUOTES)):
        return False
    following = tokens[i + 1].text if i + 1 < len(tokens) else ""
    return mark_after(text, tokens[i]) in {",", "!"} and not following[:1].isdigit()


def stanitsa_name(lower: str) -> bool:
    """Whether a feminine adjective is a place's own: formed by -ская/-цкая from a stem that is no
    word of its own (Тацинская, Каневская, Вёшенская), not an everyday adjective (Северная, Горная,
    Заречная, Садовая) that names streets in every town."""
    lemma = parses(lower)[0].normal_form.replace("ё", "е")
    if not lemma.endswith(("ский", "цкий")):
        return False
    stem = lemma[:-4]
    return len(stem) >= 4 and (not morph().word_is_known(stem) or "Geox" in parses(stem)[0].tag or is_person(stem))


def _centre_after_in(tokens: list[Token], i: int, entry: Entry) -> bool:
    """A district's centre named like an adjective, written as a name after «в»/«из» and ending the name
    (в Вёшенской на центральной улице), though its stem is a word (вешен): not a two-word name (в Северной
    Ривьере, в Горной Шории) nor after other prepositions (за Садовой: a street)."""
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    return (
        entry.centre
        and tokens[i].text[:1].isupper()
        and i > 0
        and tokens[i - 1].lower in {"в", "во", "из"}
        and (nxt is None or tokens[i].punct_after or not nxt.text[:1].isupper())
    )


def _addressed_as_people(tokens: list[Token], i: int, text: str) -> bool:
    """A town's adjective in the plural opening a sentence and set off by a comma: its people, addressed
    (Починковские, кто в администрации…), as a demonym would be."""
    token = tokens[i]
    return (
        token.text[:1].isupper()
        and (i == 0 or token.sentence_start)
        and token.lower.endswith(("ие", "ые"))
        and mark_after(text, token) == ","
    )


def _chat_street(tokens: list[Token], i: int, entry: Entry, following: str, text: str) -> bool:
    """Whether a name after «Чат», «МКД», «Соседи»… in a source's name is the chat's street: a house
    number or «ул» follows, or a bar does and the name is in another case than the town's own
    («Соседи Кирова | Нариманов»; «Чат Тотьма | Объявления» is the town)."""
    if following.isdigit() or following in {"ул", "улица"}:
        return True
    after = i + len(entry.parts)
    return (
        after < len(tokens)
        and mark_before(text, tokens[after]) == "|"
        and tokens[i].lower.replace("ё", "е") != entry.parts[0]
    )
