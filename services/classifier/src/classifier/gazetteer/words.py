"""The words of place names: the key a name is indexed by, its case forms, its adjective, and what
the dictionary (pymorphy3) says a word is — a place, a person, a common word, an adjective agreeing with
the next noun."""

from __future__ import annotations

import re
from functools import lru_cache

from classifier.gazetteer.entries import Entry
from classifier.text import WORDS_KEPT, morph, parses

PROPER_TAGS = {"Name", "Surn", "Patr"}
VELAR_HUSHING = "кгхжшчщ"


def name_words(name: str) -> list[str]:
    parts = (p.rstrip(".") for p in re.split(r"[\s\-]+", name.strip()))  # "Н. Новгород" → н, новгород
    return [p for p in parts if p]


def name_key(word: str) -> str:
    """The lemma a name's word is indexed by. Names are written in the nominative, so a nominative
    parse comes first (Печоры, not the genitive of Печора; Семёнов, not Семён), the geographic one
    when pymorphy has it; a word it knows in no nominative is its own key (Белёв, not белеть).
    `PlaceNames.forms` matches the case forms of the towns of the table whatever their key."""
    lower = word.lower().replace("ё", "е")
    parses = morph().parse(lower)
    nominative = [p for p in parses if "nomn" in p.tag]
    if nominative:
        parse = next((p for p in nominative if "Geox" in p.tag), nominative[0])
        return str(parse.normal_form).replace("ё", "е")
    for parse in parses:
        if "Geox" in parse.tag:
            return str(parse.normal_form).replace("ё", "е")  # a part in an oblique case: Ростов-на-Дону
    if morph().word_is_known(lower) or not parses:
        return lower
    return str(parses[0].normal_form).replace("ё", "е")  # the guess its case forms share (Ныроб: ныроба)


@lru_cache(maxsize=WORDS_KEPT)
def word_kind(lower: str) -> str:
    analyzer = morph()
    if not lower or not analyzer.word_is_known(lower):
        return "geo"
    tag = parses(lower)[0].tag
    if "Geox" in tag:
        return "geo"
    if "Name" in tag:
        return "name"
    if any(t in tag for t in PROPER_TAGS):
        return "proper"
    if tag.POS == "ADJF":
        # Feminine adjectives are streets (на Заречной, Октябрьской); towns named by an
        # adjective are masculine or neuter (в Заречном, Советском).
        return "street" if tag.gender == "femn" and tag.number == "sing" else "adjective"
    return "common"


@lru_cache(maxsize=WORDS_KEPT)
def has_word_sense(lower: str) -> bool:
    """Whether a word the dictionary knows has a reading that is not a place (бабушкин, короче, дно)."""
    if not morph().word_is_known(lower):
        return False
    return any("Geox" not in p.tag for p in parses(lower) if p.score >= 0.05)


def only_people(word: str, *, persons: bool = True) -> bool:
    """Whether every reading of a word that is not a place names people (мокшане, the Moksha; каргопол);
    `persons=False`: and none of them a first name, surname or patronymic."""
    readings = [p for p in parses(word) if p.score >= 0.05 and "Geox" not in p.tag]
    return bool(readings) and all(
        p.tag.POS == "NOUN" and "anim" in p.tag and (persons or PROPER_TAGS.isdisjoint(p.tag.grammemes))
        for p in readings
    )


def only_person_sense(lower: str) -> bool:
    """Whether every reading of a word that is not a place is a person's name (горбатове, макарьеве:
    Горбатов, Макарьев), so after «в» it is the town: people are not where things happen."""
    readings = [p for p in parses(lower) if p.score >= 0.05 and "Geox" not in p.tag]
    return bool(readings) and all(not PROPER_TAGS.isdisjoint(p.tag.grammemes) for p in readings)


@lru_cache(maxsize=WORDS_KEPT)
def has_adjective_sense(lower: str) -> bool:
    return any(p.tag.POS == "ADJF" for p in parses(lower))


@lru_cache(maxsize=WORDS_KEPT)
def is_geox(lower: str) -> bool:
    return bool(morph().word_is_known(lower)) and "Geox" in parses(lower)[0].tag


def place_first(lower: str) -> bool:
    """Whether a word is first of all a place's name: the dictionary reads it so first, or knows no such
    word (Омсукчан, Корткерос, Батагай; not Мирный, Заря, Ключи)."""
    return not morph().word_is_known(lower) or "Geox" in parses(lower)[0].tag


@lru_cache(maxsize=WORDS_KEPT)
def is_noun(lower: str) -> bool:
    if not lower or lower.isdigit():
        return False
    tag = parses(lower)[0].tag
    return tag.POS == "NOUN" and "Geox" not in tag


def is_adjective_lemma(word: str) -> bool:
    """A masculine nominative adjective in the dictionary (not one pymorphy guesses: барнаулский)."""
    return bool(morph().word_is_known(word)) and any(
        p.tag.POS == "ADJF" and {"masc", "sing", "nomn"} <= p.tag.grammemes for p in parses(word)
    )


def named_person(word: str) -> bool:
    """A surname or name as written (Ленин, Суворов), not a case form of one (олон is no Олоня)."""
    return any("nomn" in p.tag and not PROPER_TAGS.isdisjoint(p.tag.grammemes) for p in parses(word))


def is_person(word: str) -> bool:
    return any(not PROPER_TAGS.isdisjoint(p.tag.grammemes) for p in parses(word))


@lru_cache(maxsize=WORDS_KEPT)
def is_patronymic(lower: str) -> bool:
    return any("Patr" in p.tag for p in parses(lower))


@lru_cache(maxsize=WORDS_KEPT)
def common_sentence(lower: str) -> str | None:
    """How a word can be a sentence of its own other than as a name: "verb" as a verb in the
    indicative, an infinitive or an interjection (Любим.), "noun" as a common noun or adjective in the
    nominative (Дно! Судак.), None when it cannot (Темников. Нариманов. Белёв.)."""
    if not morph().word_is_known(lower):
        return None
    kind = None
    for parse in parses(lower):
        tag = parse.tag
        if "Geox" in tag or any(t in tag for t in PROPER_TAGS):
            continue
        if tag.POS in {"INFN", "PRED", "INTJ"} or (tag.POS == "VERB" and "indc" in tag):
            return "verb"
        if tag.POS in {"NOUN", "ADJF"} and "nomn" in tag:
            kind = "noun"
    return kind


@lru_cache(maxsize=WORDS_KEPT)
def agrees(adjective: str, noun: str, cases: frozenset[str] | None = None) -> bool:
    """Whether a word may be an adjective of the next word as a noun: agreeing in case, number and
    gender (Нижний этаж, в Полевской больнице), not beside a noun in another case (в Островном случай).
    `cases`: only the adjective's forms in these cases (those a preposition before it asks)."""
    if not is_noun(noun):
        return False
    forms = [
        p.tag
        for p in parses(adjective)
        if p.tag.POS in {"ADJF", "PRTF"} and (cases is None or folded_case(p.tag.case) in cases)
    ]
    if not forms:
        return True  # no adjective reading to compare: the noun decides, as before
    nouns = [p.tag for p in parses(noun) if p.tag.POS == "NOUN"]
    for a in forms:
        for n in nouns:
            if folded_case(a.case) != folded_case(n.case) or a.number != n.number:
                continue
            if a.number == "sing" and a.gender and n.gender and a.gender != n.gender:
                continue
            return True
    return False


def folded_case(case: str | None) -> str | None:
    return {"loc2": "loct", "gen2": "gent", "acc2": "accs", "gen1": "gent", "loc1": "loct"}.get(case or "", case)


def genitive_of(lower: str, display: str) -> bool:
    """Whether a word is the genitive of a one-word masculine name (Пугачёв: Пугачёва), the form of a
    street named after a person (на Пугачёва), never of a town after «на» or «по»."""
    name = display.lower().replace("ё", "е")
    if " " in name or "-" in name or len(name) < 4:
        return False
    if name[-1] in "йь":
        return lower == name[:-1] + "я" and not name.endswith(("ый", "ий", "ой"))
    return name[-1] not in "аеёиоуыэюя" and lower == name + "а"


def instrumental_of(lower: str, entry: Entry) -> bool:
    """Whether a word is the instrumental of a one-word name ending in a consonant (Красногорск:
    Красногорском), which no «в» or «на» takes: «в Красногорском» is another place's locative (but «в
    Тобольском кремле» is the town's adjective)."""
    if entry.adjective:
        return False
    name = entry.display.lower().replace("ё", "е")
    return " " not in name and name[-1:] not in set("аеёиоуыэюяйь") and lower == name + "ом"


def other_gender(lower: str, display: str) -> bool:
    """Whether a word is an adjective of another gender than the name (Сиверское, Сиверская: not
    Сиверский), so it agrees with another noun (Сиверское озеро)."""
    name = display.lower().replace("ё", "е")
    if " " in name or "-" in name:
        return False
    if name.endswith(("ий", "ый", "ой")):
        return lower.endswith(("ое", "ее", "ая", "яя", "ую", "юю"))
    if name.endswith(("ое", "ее")):
        return lower.endswith(("ый", "ий", "ая", "яя", "ую", "юю"))
    if name.endswith(("ая", "яя")):
        return lower.endswith(("ый", "ий", "ое", "ее", "ого", "ому", "ым", "ом"))
    return False


def is_accusative(lower: str, display: str) -> bool:
    """Whether a town's word after «в» is its accusative, not its locative: where one goes (в Питер,
    в Москву, в Новосибирск), not where one is (в Питере, в Москве). Names that do not decline (в Сочи,
    в Фокино) say neither."""
    name = display.lower().replace("ё", "е").split()[-1]
    if name[-1:] in {"а", "я"}:
        return lower == name[:-1] + ("у" if name[-1] == "а" else "ю")
    return name[-1:] not in set("еёиоуыэю") and lower == name


def adjective_of(name: str) -> str | None:
    """саратов → саратовский, пермь → пермский, самара → самарский, омск → омский, бор → борский."""
    if len(name) < 3 or " " in name:
        return None
    if name.endswith("ск"):
        candidates = [name + "ий"]
    elif name.endswith(("ь", "а", "я", "о", "е")):
        candidates = [name[:-1] + "ский"]
    elif name.endswith("и"):
        candidates = [name + "нский", name[:-1] + "ский"]  # сочинский, киришский
    else:
        # саратовский, барнаульский, елецкий, асбестовский
        candidates = [name + "ский", name + "ьский", name + "кий", name + "овский", name + "евский"]
    return next((c for c in candidates if morph().word_is_known(c)), None)


def town_adjective_of(name: str) -> str | None:
    """More ways a town's adjective is formed, for towns `adjective_of` finds none for, as the dictionary
    knows it: можга → можгинский, ветлуга → ветлужский, фокино → фокинский, городище →
    городищенский, верхотурье → верхотурский, харабали → харабалинский, печоры → печорский."""
    if len(name) < 3 or " " in name:
        return None
    stem = name[:-1]
    if name.endswith(("а", "я")):
        candidates = [stem + "инский", stem + "енский", stem + "ьский", stem + "ской", stem + "янский"]  # руднянский
        if stem.endswith("г"):
            candidates.insert(0, stem[:-1] + "жский")  # онежский, not Онегин's
    elif name.endswith(("ье", "ие")):
        candidates = [name[:-2] + "ский"]
    elif name.endswith(("о", "е")):
        candidates = [stem + "ский", stem + "енский", stem + "овский"]
    elif name.endswith("ь"):
        candidates = [name + "ский", stem + "енский"]
    elif name.endswith(("и", "ы")):
        candidates = [stem + "ский", stem + "инский", stem + "овский"]
    else:
        candidates = [name + "ский"]
    return next((c for c in candidates if is_adjective_lemma(c)), None)


def formed_adjective(name: str, *, shortest: int = 5) -> str | None:
    """A town's adjective formed by its ending where the dictionary knows none (Мамоново: мамоновский,
    Ивдель: ивдельский, Ивангород: ивангородский). Only ever matched before a district or a thing a
    town has (Мамоновского городского округа, Ивдельское лесничество), so a guess names nothing alone."""
    if len(name) < shortest or " " in name or "-" in name:
        return None
    if name.endswith(("ово", "ево", "ино", "ыно")):
        return name[:-1] + "ский"
    if name.endswith("ный"):  # Удачный: удачнинский
        return name[:-2] + "инский"
    if name[-1] == "ь" or (name[-1] not in "аеёиоуыэюяй" and not name.endswith(("ск", "цк"))):
        return name + "ский"
    return None


def formed_adjectives(name: str, *, shortest: int = 5) -> list[str]:
    """`formed_adjective`, and for a town in -нь the form without the sign too: Микунь gives
    микуньский, Любань любанский, and no rule tells which."""
    formed = formed_adjective(name, shortest=shortest)
    if formed is None:
        return []
    return [formed, name[:-1] + "ский"] if name.endswith("нь") else [formed]


def declension(word: str) -> set[str]:
    """The case forms of a toponym by its ending, whether the dictionary declines it or not (Харабали →
    Харабалях, Белёв → Белёве, Болгар → Болгаре, Печоры → Печорах). Generous on purpose: a form only
    ever points to its own town, which must still pass `accepts`."""
    forms = {word}
    if len(word) < 2:
        return forms

    def add(stem: str, *endings: str) -> None:
        forms.update(stem + ending for ending in endings)

    stem, stem2 = word[:-1], word[:-2]
    if word.endswith(("ый", "ой")):  # Кедровый, Островной; Курчалой is a noun
        add(stem2, "ого", "ому", "ым", "ом")
        if word.endswith("ой"):
            add(stem, "я", "ю", "ем", "е")
    elif word.endswith("ий") and stem2[-1:] in {"к", "г", "х"}:  # Циолковский
        add(stem2, "ого", "ому", "им", "ом")
    elif word.endswith("ий"):  # Верхний
        add(stem2, "его", "ему", "им", "ем")
    elif word.endswith(("ое", "ее")):  # Яровое, Бологое
        add(stem2, "ого", "ому", "ым", "ом", "его", "ему", "им", "ем")
    elif word.endswith(("ая", "яя")):  # Узловая
        add(stem2, "ой", "ую", "ою", "ей", "юю")
    elif word.endswith(("ые", "ие")):  # Великие (Луки)
        add(stem2, "ых", "ым", "ыми", "их", "им", "ими")
    elif word[-1] in "иы":  # plural: Харабали, Печоры, Мыски, Кременки
        add(stem, "ам", "ами", "ах", "ов", "ей", "")
        if word[-1] == "и" and stem[-1] not in VELAR_HUSHING:
            add(stem, "ям", "ями", "ях")
        if stem.endswith("к"):
            add(stem[:-1], "ок", "ек")  # Кременки → Кременок
        elif stem.endswith("г") and stem[-2:-1] not in set("аеёиоуыэюя"):
            add(stem[:-1], "ег")  # Серги → Серёг (Нижних Серёг)
    elif word[-1] == "ь":  # Агидель, Сызрань (feminine), Ярославль (masculine)
        add(stem, "и", "ью", "я", "ю", "ем", "е")
    elif word[-1] == "й":
        add(stem, "я", "ю", "ем", "е")
    elif word[-1] == "а":  # Ветлуга, Можга
        add(stem, "и" if stem[-1] in VELAR_HUSHING else "ы", "е", "у", "ой", "ою")
        if stem[-1] in "жшчщц":
            add(stem, "ей", "ею")
    elif word[-1] == "я":  # Шарья
        add(stem, "и", "е", "ю", "ей", "ею")
    elif word[-1] == "о":  # Фокино: «в Фокине» beside the indeclinable «в Фокино»
        add(stem, "а", "у", "ом", "е")
    elif word.endswith(("ье", "ие")):  # Верхотурье
        add(stem, "я", "ю", "ем", "и")
    elif word[-1] == "е":  # Городище
        add(stem, "а", "у", "ем")
    elif word[-1] not in "аеёиоуыэюя":  # Белёв, Болгар, Сольвычегодск
        add(word, "а", "у", "ом", "е")
        if word[-1] in "жшчщц":
            add(word, "ем")
        if word.endswith(("ов", "ев", "ин", "ын")):
            add(word, "ым")  # Сергиевым Посадом
        if word.endswith("ец"):  # Елец → Ельца, Олонец → Олонца
            add(stem2 + "ц", "а", "у", "ом", "е", "ем")
            add(stem2 + "ьц", "а", "у", "ом", "е", "ем")
        if word.endswith(("ок", "ек")):  # Починок → Починка, Торжок → Торжка
            add(stem2 + "к", "а", "у", "ом", "е")
    return forms


@lru_cache(maxsize=20_000)
def inflections(word: str) -> frozenset[str]:
    """Every case form of one (folded) word of a place's name: the declension by its ending, and the
    dictionary's declensions of the word as a place, a noun, an adjective or a surname in the same
    number and gender (a town named like a person declines like a place: под Чаплыгином)."""
    nominative = [p for p in parses(word) if "nomn" in p.tag and "Fixd" not in p.tag]
    geox = [p for p in nominative if "Geox" in p.tag]
    forms = declension(word)  # also for places it knows: it takes Микунь, Арамиль for masculine
    if word.endswith("ь") and any(p.tag.POS == "NOUN" and p.tag.gender == "masc" for p in nominative if p not in geox):
        forms -= {word[:-1] + "и", word[:-1] + "ью"}  # Строитель is masculine: Строители are people
    for parse in geox[:1] + [p for p in nominative if p not in geox]:  # Щучье: у Щучьего, в Щучьем
        tag = parse.tag
        for form in parse.lexeme:
            other = form.tag
            if other.POS != tag.POS or other.number != tag.number:
                continue
            if tag.number == "sing" and tag.gender and other.gender and other.gender != tag.gender:
                continue  # Чаплыгин, not Чаплыгиной; Узловая, not Узловым
            forms.add(form.word.replace("ё", "е"))
    return frozenset(forms)
