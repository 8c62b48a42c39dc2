"""The words around a name that decide whether it names the place: a street word before it (ул.
Энгельса), a house number after it, a river (на Оби), a person (Карла Маркса), a list of streets, a post
opening with its town («Шахты, …»), and where the place is to the post («у нас в Магадане», «дочь в
Москве», «под Вологдой»)."""

from __future__ import annotations

from classifier.gazetteer.entries import Entry
from classifier.gazetteer.words import agrees, common_sentence, is_accusative, word_kind
from classifier.text import Token, lemma_set, morph

PLACE_MARKERS = {
    "г", "город", "города", "городе", "гор", "пос", "поселок", "посёлок", "пгт", "рп", "село", "станица", "ст",
    "поселка", "поселке", "поселку", "станицы", "станице", "станицу", "аул", "ауле", "аула", "сумон", "сумоне",
}  # fmt: skip
STREET_BEFORE = {
    "ул", "улица", "улице", "улицу", "улицы", "пр", "проспект", "просп", "пер", "переулок", "пл", "площадь",
    "бульвар", "шоссе", "наб", "набережная", "им", "имени", "тц", "трц", "жк", "кинотеатр", "стадион",
    "гостиница", "остановка", "ост", "мкр", "микрорайон", "станция", "метро", "кафе", "тк", "рынок",
    "парк", "парке", "парка", "сквер", "сквере", "пляж", "завод", "заводе", "дк", "кинотеатре",
    # the same street words in the cases people write them in (на бульваре Курчатова, у проспекта Кирова)
    "бульваре", "бульвара", "бул", "б-р", "проспекте", "проспекта", "пр-т", "пр-кт", "переулке", "переулка",
    "площади", "набережной", "проезд", "проезде", "проезда", "пр-д", "тракт", "тракте", "тракта", "аллея",
    "аллее", "аллеи", "остановке", "станции", "микрорайоне",
}  # fmt: skip
STREET_AFTER = {"улица", "проспект", "шоссе", "переулок", "площадь", "бульвар", "тракт", "набережная", "проезд"}
MICRODISTRICT = {"мкр", "микрорайон", "квартал", "кв", "мкрн"}
ADDRESS_MARKS = {",", ":", "—", "–", "-"}  # «Дно, …», «Холм: …», «Циолковский — …»
ADDRESSED_WORDS = {"зима"}  # people talk to the weather as to a town: «Зима, ты не перегибай»
EXCLAMATIONS = {"дно"}  # «Дно. Просто дно.»: a verdict, not a heading
QUOTES = {"«", '"', "“", "„"}  # «Горняк» opening a quote is a club's or a shop's name, not the town
# A business or a team a name in quotes after them belongs to (гостиница «Онега» in Пудож, ТЦ «Москва»)
NAMED_BUSINESSES = {
    "гостиница", "отель", "хостел", "кафе", "ресторан", "бар", "магазин", "тц", "трц", "супермаркет",
    "кинотеатр", "санаторий", "пансионат", "турбаза", "клуб", "команда", "фк", "хк", "газета", "фирма",
    "ооо", "ао", "пао", "компания", "салон", "столовая", "автосалон", "аптека", "пиццерия", "шиномонтаж",
}  # fmt: skip
STATION = {"станция", "станции", "станцию"}
# A rank or title before a surname makes a street (на Генерала Ефремова), not the town named like it.
PERSON_TITLES = {
    "генерала", "маршала", "адмирала", "академика", "героя", "космонавта", "летчика", "полковника", "капитана",
    "майора", "лейтенанта", "профессора", "доктора", "писателя", "поэта", "художника", "композитора", "братьев",
}  # fmt: skip
# Kin and the like before a first name (дяде Коле, баба Валя, деду Лёше): a person, not a town
KIN_WORDS = {
    "дядя", "дяди", "дяде", "дядю", "дядей", "тетя", "тети", "тете", "тетю", "тетей", "тётя", "тёти", "тёте",
    "тётю", "баба", "бабы", "бабе", "бабу", "бабой", "дед", "деда", "деду", "дедом", "деде",
}  # fmt: skip
MONTHS = {"января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября",
          "ноября", "декабря"}  # fmt: skip
VILLAGE_MARKERS = {
    "деревня", "деревне", "деревню", "деревни", "село", "селе", "села", "селу", "поселок", "поселке", "поселка",
    "хутор", "хуторе", "хутора", "станица", "станице", "станицы", "аул", "ауле", "аула", "д", "с", "п", "пгт", "рп",
    "сумон", "сумоне", "улус", "улусе",
}  # fmt: skip
RIVERS = {"обь", "волга", "дон", "кама", "ока", "амур", "енисей", "лена", "иртыш", "нева", "кубань", "белая"}
DISTRICT_AFTER = {"район", "микрорайон", "мкр", "округ", "рынок", "парк", "бор", "сквер", "лес", "мост", "пруд"}
DISTRICT_FILLERS = {"муниципальный", "городской"}
# A municipality's abbreviation after its adjective or before its name: «Хвалынского МО», «Невельского
# ГО», «Администрация МО Новая Ладога», «МО г. Липки». МО there is not the Moscow region.
MUNICIPAL_ABBREVIATIONS = {"мо", "го", "мр", "гп", "сп", "гсп"}
MUNICIPALITY_NAME_WORDS = {"г", "город", "гп", "п", "пос", "поселок", "пгт", "рп", "с", "село", "сп", "ст", "станица"}
LOCATIVE = {
    "в", "во", "из", "г", "город", "города", "городе", "городу", "под", "около", "возле", "до", "над", "близ",
    # nouns a town's genitive follows: жителей Чаплыгина, администрация Верхотурья
    "жители", "жителей", "жителям", "жителями", "житель", "жительница", "администрация", "администрации",
    "мэрия", "мэрии", "окрестности", "окрестностях",
    # nouns of a town's parts and heads: в центре Холма, на окраине Дна, мэр Сима
    "центр", "центре", "центра", "окраина", "окраине", "окраины", "окраинах", "улицах", "мэр", "мэра", "глава", "главы",
}  # fmt: skip
# Where a place named in a post is not where its problem is (see `role_of`): a relative or an acquaintance
# there («дочь в Москве», «у сестры в Краснодарском крае»), a comparison («как в Саратове»), near a big
# city («под Вологдой»). And where it is: «у нас в Магадане», «живём в Кстово», «домой в Кирово-Чепецк».
# Around «из X»: words that make X the author's own place, not where someone or something came from
FROM_HOME_AHEAD = {"в", "во", "до", "на", "нет"}
FROM_HOME_BEHIND = {"в", "во", "до", "кто", "кто-то", "кто-нибудь", "земляк", "земляки", "наш", "наша", "родом",
                    "выезд"}  # fmt: skip
AWAY_PEOPLE = {
    "сестра", "брат", "дочь", "дочка", "сын", "родной", "родственник", "знакомый", "друг", "подруга", "хозяин",
    "хозяйка", "сосед", "коллега", "кум", "кума", "племянник", "племянница", "внук", "внучка", "зять", "невестка",
    "теща", "свекровь",
}  # fmt: skip
COMPARISON = {"как", "чем", "словно", "будто", "точно"}
HOME_WORDS = {"домой"}
HOME_LEMMAS = {"жить", "вернуться", "возвращаться", "переехать", "переезжать"}
# «на въезде в Лагань», «дорога в Кичменгский Городок»: the road at the town, not a journey away from it
ROAD_WORDS = {
    "въезд", "въезде", "въезда", "выезд", "выезде", "выезда", "дорога", "дороге", "дорогу", "дороги", "трасса",
    "трассе", "трассу", "поворот", "повороте", "поворота", "подъезд", "подъезде", "подъезда", "объезд", "мост",
}  # fmt: skip
# «турнира в Улан-Удэ», «на фестивале в Казани»: an event elsewhere, where the post's people went
EVENT_LEMMAS = {
    "турнир", "чемпионат", "первенство", "соревнование", "соревнования", "фестиваль", "форум", "олимпиада",
    "конкурс", "слет", "слёт", "спартакиада", "кубок", "сборы", "съезд",
}  # fmt: skip
NOT_THIS = {"путать", "перепутать", "путайте", "спутать"}  # «не путать с Вяткой»: not the place meant
# A river crossed or named as one (мост через Алатырь, река Сим) is not the town named after it.
RIVER_BEFORE = {"река", "реки", "реку", "реке", "рекой", "речка", "речки", "речку", "речке", "берег", "берегу"}
BRIDGE = {
    "мост", "моста", "мосту", "мостом", "мосте", "мостик", "мостика", "мостику", "мостиком", "мостике",
    "переправа", "переправу", "переправе", "брод",
}  # fmt: skip
# по улицам Октябрьской, Ефремова и … (after one street comes its town: ул. Кирова, Анадырь)
STREET_LIST = {"улицам", "улицах"}
HOUSE_WORDS = {"дом", "дома", "д"}  # «Чат дома Ленинградский 12»: a street, even in a source's name
CO_OPERATIVES = {"снт", "днт", "тсн", "сот", "гск", "гк", "днп"}  # dacha and garage co-operatives
# A building's or a street's chat names its street: «Чат Гагарина 21 (Тотьма)», «МКД Кирова 4 Сальск»,
# «Соседи Кирова | Нариманов» (the town is the other name, if any)
STREET_CHAT_WORDS = HOUSE_WORDS | {"чат", "мкд", "тсж", "соседи", "жильцы", "жители", "подъезд", "двор", "снт"}
# What a town has, named with its adjective: a small town's adjective counts only before one of these
# (Волчанское водохранилище, Гусиноозёрская ГРЭС, Перевозский округ, Енисейская больница).
INSTITUTION_NOUNS = {
    "грэс", "гэс", "тэц", "аэс", "водохранилище", "больница", "црб", "поликлиника", "роддом", "завод",
    "комбинат", "фабрика", "район", "округ", "администрация", "вокзал", "аэропорт", "порт", "рынок", "музей",
    "кремль", "монастырь", "техникум", "колледж", "лицей", "гимназия", "суд", "прокуратура", "водоканал",
    "дума", "пруд", "леспромхоз", "разрез", "рудник", "шахта", "карьер", "телевидение", "газета",
    "лесничество", "крепость", "пристань", "мост", "школа", "детсад", "библиотека", "стадион", "интернат",
    "амбулатория", "дк",
    # its public places and services, and the people who run them (плёсская набережная, весьегонские дорожники)
    "набережная", "площадь", "парк", "сквер", "садик", "автовокзал", "автостанция", "баня", "почта", "кладбище",
    "ярмарка", "полигон", "свалка", "котельная", "электросеть", "теплосеть", "мфц", "загс", "военкомат", "соцзащита",
    "собес", "дорожник", "коммунальщик", "власть", "чиновник", "депутат", "глава", "мэр", "врач", "житель",
    "пляж", "водитель", "автомобилист", "пешеход", "мама", "родитель", "пенсионер", "дачник", "рыбак", "школьник",
    "подстанция", "спасатель", "полиция", "пожарный", "мчс", "энергетик", "газовик", "электрик", "управляйка",
    "аптека", "поселение", "пожарка", "театр",
}  # fmt: skip
# Where a place stands in a sentence: a city's part typed in lower case counts only after one of these
NEIGHBOURHOOD_BEFORE = {"в", "во", "на", "у", "из", "по", "от", "до", "около", "возле", "за", "под", "с", "со"}
# A town's houses (дом-интернат, дом культуры, дом престарелых): what it has, like its school
HOUSE_OF = {"интернат", "культура", "престарелый", "ребенок", "творчество", "ремесло"}
COMPASS = {"северный", "южный", "восточный", "западный", "центральный"}  # a town's parts, in every town
# Parts of a town named with its genitive (на набережной Тарусы, в парке Плёса): not a street named after it
TOWN_PARTS = {
    "набережная", "набережной", "наб", "парк", "парке", "парка", "сквер", "сквере", "пляж", "рынок", "площадь",
    "площади",
}  # fmt: skip
YEAR_WORDS = {"лет", "год", "года", "годам", "летие", "летию"}  # Енисейску 405 лет: an age, not a house
# «Холм или ближайшие деревни», «Дно и окрестности»: a town beside the places around it
NEARBY_PLACES = {
    "деревни", "деревень", "села", "сел", "поселки", "поселков", "окрестности", "окрестностей", "район",
    "пригород", "пригороды", "округа",
}  # fmt: skip
# «утонул в Оби», «рыба в Оби»: the river; «почта в Оби»: the town
WATER_LEMMAS = {
    "купаться", "искупаться", "плавать", "утонуть", "тонуть", "нырнуть", "нырять", "рыба", "рыбак", "ловить",
    "поймать", "вода", "уровень", "плыть", "впадать", "течь", "лёд", "лед", "сплав",
}  # fmt: skip
# A hospital named by an adjective is the district's (Озёрская больница: Озёрский район's ЦРБ).
DISTRICT_INSTITUTIONS = {"больница", "црб", "поликлиника", "роддом"}


def split_hyphens(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    for token in tokens:
        if "-" not in token.lower:
            out.append(token)
            continue
        offset = token.start
        pieces = token.text.split("-")
        for n, piece in enumerate(pieces):
            if piece:
                low = piece.lower().replace("ё", "е")
                last = n == len(pieces) - 1
                # A hyphen follows every piece but the last: Энгельс-2 is the town's district, not a house number.
                out.append(
                    Token(piece, low, low, offset, token.sentence_start and n == 0, token.punct_after or not last)
                )
            offset += len(piece) + 1
    return out


def mark_after(text: str, token: Token) -> str:
    """The punctuation mark after a token ("" at the end of the text); a hyphen only with a space
    before it (Усолье-Сибирское is one name)."""
    end = j = token.start + len(token.text)
    while j < len(text) and text[j].isspace():
        j += 1
    mark = text[j : j + 1]
    return "a" if mark == "-" and j == end else mark


def mark_before(text: str, token: Token) -> str:
    j = token.start - 1
    while j >= 0 and text[j].isspace():
        j -= 1
    return text[j] if j >= 0 else ""


def plain_before(tokens: list[Token], i: int) -> bool:
    """Whether the word before a capitalised word leaves it a name of its own: a comma, a lower-case word
    or a word the dictionary does not know (Изге Болгар) — not a capitalised word it is part of (Красная Горка)."""
    if not i or tokens[i - 1].punct_after:
        return True
    previous = tokens[i - 1]
    return not previous.text[:1].isupper() or not morph().word_is_known(previous.lower)


def in_river_town(tokens: list[Token], i: int) -> bool:
    """A town named like its river after «в», «из» (почта в Оби), not the river one swims or fishes in."""
    if not i or tokens[i - 1].lower not in {"в", "во", "из"}:
        return False
    near = [tokens[k].lower for k in (i - 3, i - 2, i + 1) if 0 <= k < len(tokens)]
    return all(WATER_LEMMAS.isdisjoint(lemma_set(word)) for word in near)


def institution_after(tokens: list[Token], i: int, nouns: set[str] = INSTITUTION_NOUNS) -> bool:
    """Whether what follows the word at i is a thing a town has (ГРЭС, водохранилище, больница, район),
    perhaps after «муниципальный»/«городской»."""
    j = i + 1
    if j < len(tokens) and not DISTRICT_FILLERS.isdisjoint(lemma_set(tokens[j].lower)) and not tokens[i].punct_after:
        j += 1
    if j < len(tokens) and is_municipal_abbreviation(tokens[j]) and not tokens[i].punct_after:
        return True  # Невельского ГО
    if j + 1 < len(tokens) and "дом" in lemma_set(tokens[j].lower):
        j += 1  # Миньярский дом-интернат, Чухломский дом культуры (the hyphen split off)
        return not HOUSE_OF.isdisjoint(lemma_set(tokens[j].lower))
    return j < len(tokens) and not nouns.isdisjoint(lemma_set(tokens[j].lower))


def is_municipal_abbreviation(token: Token) -> bool:
    return token.lower in MUNICIPAL_ABBREVIATIONS and token.text.isupper()


def municipal_abbreviation(tokens: list[Token], i: int) -> bool:
    """Whether the capitals at i abbreviate a municipality («Хвалынского МО», «МО Новая Ладога»)."""
    if not is_municipal_abbreviation(tokens[i]):
        return False
    before = tokens[i - 1] if i else None
    if before is not None and not before.punct_after and before.lower.endswith(("ого", "его")):
        return True  # after the municipality's adjective
    after = tokens[i + 1] if i + 1 < len(tokens) else None
    if after is not None and after.lower in MUNICIPALITY_NAME_WORDS:
        return True  # МО «Город Адыгейск», МО г. Тара: a quote or a dot between them changes nothing
    return after is not None and not tokens[i].punct_after and (after.text[:1].isupper() and not after.sentence_start)


def address_prefix(tokens: list[Token], i: int, entry: Entry, nominatives: dict[str, str], text: str) -> bool:
    """A post that opens with its town and a comma or dash, as chat messages do: «шахты, баки на
    Текстильной…», «волжский, Мира 75 — …». In that place even a town that is also a common word
    (Курган, Шахты, Сокол) or an adjective (Волжский, Нижний) is the town."""
    token = tokens[i]
    if i != 0 or not token.punct_after or entry.adjective or entry.caps_only:
        return False
    if entry.small:
        # «Ермаковское: в четверг…», «Тужа, в пятницу в РДК…»: a district's centre heading a post, as written
        return (
            entry.centre
            and " " not in entry.display
            and token.text[:1].isupper()
            and token.lower.replace("ё", "е") == entry.display.lower().replace("ё", "е")
            and mark_after(text, token) in ADDRESS_MARKS
            and not addressee(token.lower)
        )
    if text and mark_after(text, token) not in ADDRESS_MARKS and common_sentence(token.lower) == "verb":
        return False  # «Любим. Помним.» (but «апатиты. третий день…» heads a post)
    if entry.official and entry.population < 15_000 and word_kind(token.lower) != "geo":
        return False  # «Короче, …» is not Короча
    if entry.official and entry.parts[0] != nominatives.get(token.lower, entry.parts[0]):
        return False  # «Строители, которые…» are not Строитель
    return len(token.text) > 3 and len(entry.parts) == 1


def addressee(word: str) -> bool:
    """Whether a word is whom a post or a source speaks to (Мама, …; «Мамы Дзержинска»; Соседи, …) or a
    part every town has (Северный, …), not a village of that name."""
    parses = morph().parse(word)
    tag = parses[0].tag
    if tag.POS == "NOUN" and tag.animacy == "anim" and morph().word_is_known(word):
        # (an unknown word's guess proves nothing; «мамы» is a plural nominative too, «Архара» is none)
        named = {"Name", "Surn", "Patr"} & set(tag.grammemes)
        return not named and any(p.tag.case == "nomn" and p.tag.animacy == "anim" for p in parses)
    return not COMPASS.isdisjoint(lemma_set(word))


def role_of(tokens: list[Token], i: int, size: int, entry: Entry, text: str) -> str:
    """Whether a place is named as where the post is ("own": у нас в Магадане, живём в Кстово, домой в
    Кирово-Чепецк, переехали в Тихвин) or as somewhere else: "away" where someone else is or what it is
    compared with (дочь в Москве, у сестры в Краснодарском крае, как в Саратове), "go" where someone goes
    (поступила в Питер, рейсы в Новосибирск, электричка на Москву), "near" the big city beside the
    post's own place (под Вологдой)."""
    if not i:
        return ""
    if i > 2 and tokens[i - 1].lower in {"с", "со"} and tokens[i - 3].lower == "не":
        if not NOT_THIS.isdisjoint(lemma_set(tokens[i - 2].lower)) or tokens[i - 2].lower in NOT_THIS:
            return "not"  # «Киров Калужской области, не путать с Вяткой»
    j = i - 1  # the preposition, before «городе», «посёлке» if they stand between (у нас в городе Сим)
    if tokens[j].lower in PLACE_MARKERS and j and tokens[j - 1].lower in {"в", "во"}:
        j -= 1
    preposition = tokens[j].lower
    if preposition in {"из", "изо"} and not tokens[j].punct_after and not entry.adjective:
        # Where someone or something came from (пишу из Питера, посылка из Москвы), unless a way from it
        # to somewhere follows: then it is the author's own (попутка из Цивильска до Казани).
        # Nor «кто из Козловки», «земляк из Нолинска», «из Торопца нет автобуса», «в Брянск из Орла».
        ahead: set[str] = set()
        if not tokens[i + size - 1].punct_after:  # (in the same clause)
            for t in tokens[i + size : i + size + 3]:
                ahead.add(t.lower)
                if t.punct_after:
                    break
        behind = {t.lower for t in tokens[max(j - 3, 0) : j]}
        return "" if ahead & FROM_HOME_AHEAD or behind & FROM_HOME_BEHIND else "away"
    if preposition not in {"в", "во", "на", "под"} or tokens[j].punct_after:
        return ""
    back: list[str] = []  # up to three words before it in the same clause, nearest first
    for k in range(j - 1, max(j - 4, -1), -1):
        word = tokens[k]
        if word.punct_after and text[word.start + len(word.text) : word.start + len(word.text) + 1] != "-":
            break  # (у нас-то тут в Вуктыле: a hyphen is no clause's end)
        back.append(word.lower)
    if back and back[0] in ROAD_WORDS:
        return ""
    if preposition in {"в", "во"} and not entry.adjective:  # (у нас в шахтёрском доме: a word)
        if "нас" in back and "у" in back[back.index("нас") + 1 :]:
            return "own"
        if "них" in back and "у" in back[back.index("них") + 1 :]:
            return "away"  # «сестра из Казахстана пишет — у них в Петропавловске паводок»
        near = back[:2]
        lemmas: set[str] = set().union(*(lemma_set(word) for word in near)) if near else set()
        if not HOME_WORDS.isdisjoint(near) or not HOME_LEMMAS.isdisjoint(lemmas):
            return "own"
        if back and back[0] in COMPARISON:
            return "away"
        if not AWAY_PEOPLE.isdisjoint(lemmas):
            return "away"
        if back and not EVENT_LEMMAS.isdisjoint(set().union(*(lemma_set(word) for word in back))):
            return "away"  # «со Всероссийского турнира в Улан-Удэ»: an event elsewhere
    if preposition == "под":
        return "near"
    if j == i - 1 and is_accusative(tokens[i + size - 1].lower, entry.display):
        return "go"
    return ""


def street_alone(tokens: list[Token], i: int, size: int) -> bool:
    """Whether a town's feminine adjective after «на»/«по» stands alone, as streets are named (на Первомайской
    разметку рисуют, по Советской 12): not before a noun it qualifies (на Вельской трассе, на Хвалынской ЦРБ)."""
    last = tokens[i + size - 1]
    if not last.lower.endswith(("ой", "ую")):
        return False
    if i + size >= len(tokens) or last.punct_after:
        return True
    following = tokens[i + size]
    if following.text.isupper() and len(following.text) > 1:
        return False  # an abbreviation it names (ЦРБ, ГРЭС, АЗС)
    return not agrees(last.lower, following.lower)


def all_words(tokens: list[Token], i: int, size: int) -> bool:
    """Whether every word of a name at i is a common word (сосновом бору, белая калитва), none a place's."""
    if tokens[i].punct_after:
        return False  # hyphened (улан-удэ, ростов-на-дону): a name
    return all(word_kind(tokens[k].lower) in {"common", "adjective", "street"} for k in range(i, i + size))


def acronym_part(text: str, token: Token) -> bool:
    """A capitals abbreviation hyphened to more capitals is an organisation's name (МСК-НТ, РТ-Инвест),
    not Moscow or Tatarstan."""
    end = token.start + len(token.text)
    after, before = text[end : end + 2], text[max(token.start - 2, 0) : token.start]
    return (len(after) == 2 and after[0] == "-" and after[1].isupper()) or (
        len(before) == 2 and before[1] == "-" and before[0].isupper()
    )


def after_river_word(tokens: list[Token], i: int) -> bool:
    """A name after «река», «берег» or «мост через» is a river's (мост через Алатырь, река Сим)."""
    if not i or tokens[i - 1].punct_after:
        return False
    previous = tokens[i - 1].lower
    return previous in RIVER_BEFORE or (previous == "через" and i > 1 and tokens[i - 2].lower in BRIDGE)


def in_street_list(tokens: list[Token], i: int, text: str) -> bool:
    """A later item of a list of streets (по улицам Октябрьской, Ефремова и проспекту …): back over
    the items joined by commas or «и» to the street word that heads the list."""
    j, steps = i, 0
    while j > 0 and steps < 6:
        previous = tokens[j - 1]
        if previous.lower in STREET_LIST:
            return steps > 0
        if previous.lower == "и" and not previous.punct_after and j > 1 and not tokens[j - 2].punct_after:
            j -= 2  # «… Октябрьской и Ефремова»
        elif previous.punct_after and mark_after(text, previous) == ",":
            j -= 1  # «…, Ефремова» (not after a sentence's end: «…Гагарина. Ульяновск»)
        elif steps and j > 1 and tokens[j - 2].lower in STREET_LIST:
            return True  # a two-word item: улицам Карла Маркса, Ефремова
        else:
            return False
        steps += 1
    return False


CROSSING = {
    "перекресток", "перекрестке", "перекрестка", "перекрестку", "пересечение", "пересечении", "пересечения",
    "угол", "углу", "угла",
}  # fmt: skip


def crossing_street(tokens: list[Token], i: int, text: str) -> bool:
    """A street of a crossing (на перекрёстке Ленина — Кирова, на углу Мира и Гагарина): both names are
    streets, though the second stands after no street word."""

    def crossing(k: int) -> bool:  # the word at k names a crossing, or «улиц» after one does
        word = tokens[k].lower if k >= 0 else ""  # (Token.lower has ё folded already)
        return word in CROSSING or (word == "улиц" and k > 0 and tokens[k - 1].lower in CROSSING)

    if crossing(i - 1):
        return True
    if i >= 2 and tokens[i - 1].lower == "и":
        first = i - 2  # «… Мира и Гагарина»
    elif i >= 1 and tokens[i - 1].punct_after and mark_after(text, tokens[i - 1]) in {"—", "–", "-", "/"}:
        first = i - 1  # «… Ленина — Кирова»
    else:
        return False
    return crossing(first - 1)


def big_name(token: Token, entry: Entry) -> bool:
    """A common word that is also a big town, written as a name (Курган, …): a capital that only starts
    a sentence proves nothing of another case form (Бора сегодня такая: the wind)."""
    return (
        token.text[:1].isupper()
        and (not token.sentence_start or token.lower == entry.parts[0])
        and entry.population >= 50_000
        and word_kind(token.lower) == "common"
    )


def after_marker(tokens: list[Token], i: int, *, capital: bool, kind: str) -> bool:
    """After «пос.», «с.», «деревня»…: a single letter only as an abbreviation, before a capital or after
    a preposition (с. Байкит, not «с маленькими»); a word the dictionary knows only written as a name
    («посёлок маленький» describes it)."""
    previous = tokens[i - 1].lower if i else ""
    if previous not in PLACE_MARKERS and previous not in VILLAGE_MARKERS:
        return False
    if len(previous) > 3 and tokens[i - 1].punct_after:
        return False  # «…через весь город. Весёлое было время»
    if len(previous) == 1:  # «в с ермаковское»: a preposition before it makes it one too
        after_preposition = i > 1 and tokens[i - 2].lower in {"в", "во", "из", "до"}
        if previous == "с" and not tokens[i - 1].punct_after and not after_preposition:
            return False  # «ушёл с Набережной»: the preposition, not «с.» (село)
        return capital or tokens[i - 1].punct_after or after_preposition
    return capital or kind == "geo"
