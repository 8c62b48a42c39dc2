"""Rules where they beat a small model: danger to life (critical urgency), thanks vs sarcasm,
adverts, news reposts. Each rule names the words that fired it, for the evidence.

Rules feed the model as marker features (so training weighs them) and critical urgency also
overrides the model: a gas smell is critical however it is phrased around it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from classifier.danger import DangerReading, read_danger
from classifier.text import Doc

PHONE_RE = re.compile(r"(?:\+7|8)[\s(-]*\d{3}[\s)-]*\d{3}[\s-]*\d{2}[\s-]*\d{2}")
FROST_RE = re.compile(
    r"(?:-|−|минус\s*)\s?(?:[1-5]\d)\b|минус\s+(?:пятнадцат|двадцат|тридцат|сорок|пятьдесят)|мороз|зим[аеуоы]",
)
SARCASM_RE = re.compile(
    r"\){3,}|браво|ну\s+спасибо|ирония|спасибо[^.!?]{0,40}\bза\s+(?:очередн|нашу\s+счастлив|такие|такое|эти|это)"
    r"|спасибо[^.!?]{0,40}\bза\s+[\"«“][^\"»”]{2,25}[\"»”]"
    r"|спасибо[^.!?]{0,40}\bза[^.!?]{0,30}(?:свалк|ям[ыуа]|гряз|мусор|пробк|луж|сугроб|темнот|вонь|отписк|дыр)"
    r"|«[^»]{3,30}»\s*(?:ремонт|благоустройств)",
)
PRICE_RE = re.compile(r"\d[\d\s]*(?:руб|₽|р\.|тыс\.?\s*руб)|\d+\s*%|\d+\s+в\s+месяц")

NEGATIONS = {"не", "нет", "ни"}
THANKS = {"спасибо", "благодарить", "благодарность", "благодарный", "молодец", "признательный", "спасибочко",
          "поблагодарить", "отблагодарить"}  # fmt: skip
# "Заранее спасибо", "спасибо за внимание": the polite close of a complaint, not thanks for anything.
POLITE_CLOSE_RE = re.compile(
    r"(?:заранее\s+(?:спасибо|благодар\w*)|(?:спасибо|благодар\w*)\s+(?:заранее|за\s+(?:внимание|понимание|ответ"
    r"|репост|помощь|содействие|распространение|отклик)))",
)
# Memories and anniversaries ("помню, в 1979 году…", "годовщина наводнения") tell of the past.
MEMORY_RE = re.compile(
    r"\b(?:помню|вспоминаю|вспомнила|вспомнил|годовщин\w*|светлая\s+память|в\s+детстве|в\s+молодости|при\s+союзе"
    r"|раньше\s+(?:было|были|был|летом|у\s+нас))",
)
# A question asked ahead of need: "куда звонить, если вдруг…", "спрашиваю на будущее".
AHEAD_RE = re.compile(
    r"\bесли\s+вдруг\b|\bна\s+будущее\b|\bзаранее\s+знать|\bна\s+всякий\s+случай\b|\bгипотетически\b"
    r"|\bтеоретически\b|\bчто\s+(?:делать|будет),?\s+если\b",
)
# Films, books and stories retold; a problem reported fixed ("отбой", "уже починили").
FICTION_RE = re.compile(
    r"\b(?:пере|до|по)смотрел\w*|\bдочитал\w*|\bфильм\w*|\bсериал\w*|\bрассказ(?:а|е|ом)?\b|\bкниг[аиуе]\b"
    r"|\bфанфик\w*|\bприснил\w*|\bстих(?:и|отворение)?\b",
)
RESOLVED_RE = re.compile(
    r"\bотбой\b|\bуже\s+(?:починили|сделали|убрали|вывезли|закрыли|дали|пустили|заменили)\b|\bпроблем\w*\s+решен\w*",
)
ADVERT = {
    "продать", "продам", "купить", "куплю", "скидка", "акция", "распродажа", "доставка", "заказ",
    "заказать", "подписываться", "подписаться", "промокод", "розыгрыш", "аренда", "сдать", "сдаваться", "вакансия",
    "заработок", "бесплатный", "консультация", "недорого", "прайс", "лс", "директ", "ставка", "бесплатно",
    "замер", "сдаётся", "сдается", "продаваться", "продаётся", "кредит", "ипотека", "выгодный", "гарантия",
}  # fmt: skip
NEWS = {"сообщать", "пресс-служба", "пресс", "губернатор", "заявить", "сообщить", "опубликовать", "планировать",
        "информировать", "стартовать", "объявлять", "ликвидировать", "пострадавший",
        "министерство", "данные", "напомнить", "пояснить", "рассказать", "мэрия", "нацпроект", "рамка"}  # fmt: skip
# A planned outage or a timetable announced ahead ("завтра с 9 до 17 не будет воды") is news, not a complaint.
ANNOUNCEMENT_RE = re.compile(
    r"(?:\bс\s*\d{1,2}(?::\d\d)?\s*(?:ч\.?\s*)?до\s*\d{1,2}(?::\d\d)?\b)"
    r"|\bплан(?:ово|овые|овое|овая|ируется|ируют)\b|\bпо\s+графику\b|\bбудет\s+отключ|\bотключат\b"
    r"|\bзапуска(?:ют|ется)\b|\bвозобновит|\bоткрыт[аы]?\s+запись\b",
)
ABROAD = {"франция", "сша", "америка", "германия", "китай", "калифорния", "турция", "англия", "британия", "италия",
          "испания", "япония", "индия", "египет", "таиланд", "париж", "лондон", "нью-йорк", "европа", "канада",
          "австралия", "бразилия", "мексика", "израиль", "польша"}  # fmt: skip
# Genres that borrow a complaint's words but ask no authority to act: private life, reviews of a
# business, games and sport, jokes, verse. Markers only: the heads weigh them against the rest.
GENRES: tuple[tuple[str, frozenset[str]], ...] = (
    ("жанр_частное", frozenset(
        "муж жена свекровь свекор теща тесть бывший бывшая подруга парень развестись развод долг одолжить занять "
        "расписка ревновать изменять зять невестка сожительница сожитель".split())),
    ("жанр_отзыв", frozenset(
        "отель гостиница хостел номер ресторан кафе официант меню пицца суши доставка курьер приложение "
        "магазин кассир рекомендовать звезда оценка отзыв сервис персонал маникюр салон парикмахер "
        "автосалон банк оператор тариф интернет-магазин маркетплейс заказ посылка".split())),
    ("жанр_игра", frozenset(
        "игра сервер пинг лагать матч гол тренер вратарь болельщик клуб турнир чемпионат команда сезон "
        "стрим геймер танк катка рейтинг".split())),
    ("жанр_юмор", frozenset("анекдот мем шутка ржать ржу угорать прикол юмор хохотать смешно".split())),
)  # fmt: skip
VERSE_LINE_RE = re.compile(r"\n[^\n]{8,48}\n[^\n]{8,48}\n")
CHILD = {"ребенок", "ребёнок", "дети", "малыш", "школьник", "мальчик", "девочка", "ребятишки", "детвора", "дочь", "сын"}
CHILD_DANGER = {"провалиться", "застрять", "тонуть", "утонуть", "люк", "оголить", "оголенный", "ток", "сбить",
                "лед", "поезд", "порезать", "висеть", "обочина", "трасса",
                "опасность", "угроза", "травмироваться", "травма", "одни", "одних"}  # fmt: skip
COLLAPSE = {"обрушиться", "обрушение", "рухнуть", "обвалиться", "обвал", "обрушаться", "обваливаться", "рушиться"}
FIRE = {"пожар", "гореть", "пламя", "возгорание", "загореться", "поджог", "полыхать", "поджечь"}
BUILDINGS = {"дом", "квартира", "подъезд", "крыша", "сарай", "здание", "школа", "барак", "общежитие", "больница",
             "садик", "гараж", "подвал", "этаж", "балкон"}  # fmt: skip
WEAPONS = {"нож", "топор", "стрелять", "травмат", "пистолет", "ружье", "стрельба", "обрез", "поножовщина", "бита"}
FALLING = {"падать", "упасть", "отваливаться", "сыпаться", "свисать", "рухнуть", "валиться", "обваливаться",
           "надломиться", "наклониться", "сорваться", "сорвать"}  # fmt: skip
FALLING_ON = {"голова", "тротуар", "прохожий", "кирпич", "плитка", "сосулька", "глыба", "наледь", "люди", "человек",
              "пешеход", "остановка"}  # fmt: skip
OVERHEAD_TARGETS = {"площадка", "качели", "вход", "тротуар", "дорожка", "люди", "голова", "остановка"}
FALLING_THINGS = {"сосулька", "сосулища", "глыба", "наледь", "дерево", "тополь", "ветка", "крыша", "плита", "бадья",
                  "павильон", "балкон", "козырек"}  # fmt: skip
HOLES = {"люк", "котлован", "колодец", "яма", "траншея", "провал", "обрыв", "пролет", "шахта"}
OPEN = {"открытый", "открыть", "вскрыть", "огородить", "огороженный", "крышка", "без", "открыт", "ограждение",
        "перила", "лазить", "лазать", "провалиться", "забор"}  # fmt: skip
DOGS = {"собака", "стая", "пес", "пёс", "свора", "собачка", "собачий", "псина"}
BITES = {"укусить", "покусать", "кусать", "кусаться", "напасть", "нападать", "рвать", "окружить", "укус"}
ABANDONED = {"заброшка", "заброшенный", "долгострой", "недострой", "заброшенка", "котлован", "стройка"}
CLIMBING = {"лазить", "лазать", "лезть", "тусить", "залезать", "разбиться", "упасть", "селфи", "играть"}
YOUNG = {"ребенок", "ребёнок", "дети", "подросток", "пацан", "школьник", "малыш", "ребятишки", "детвора", "мальчик",
         "девочка", "ребята"}  # fmt: skip
TRAFFIC = {"светофор", "шлагбаум", "переезд"}
BROKEN = {"не_работать", "не_гореть", "мигать", "мигающий", "сломать", "отключить", "молчать", "выключить", "сломанный",
          "не_опускаться"}  # fmt: skip
TOXIC = {"хлор", "аммиак", "взрыв", "взорваться", "рвануть", "отравленный", "отравить", "приманка", "ртуть",
         "пестицид", "сероводород"}  # fmt: skip
SMOKE = {"костер", "костёр", "жечь", "поджечь", "поджигать", "угарный"}
HOMES = {"квартира", "подъезд", "подвал"}
CRACKS = {"трещина", "треснуть", "трескаться"}
GROWING = {"расти", "расширяться", "расшириться", "бояться", "рухнуть", "ползти", "поехать", "обрушиться"}
MEDICAL = {"инфаркт", "инсульт", "сознание", "умирать", "задыхаться", "реанимация", "гемодиализ", "кислород",
           "приступ", "судорога"}  # fmt: skip
FIRE_EXCUSE = {
    "светофор",
    "свет",
    "зеленый",
    "красный",
    "лампа",
    "фонарь",
    "желтый",
    "сроки",
    "срок",
    "путевка",
    "гирлянда",
}
SEWAGE = {"канализация", "фекалия", "нечистота", "сток", "говно", "канализационный", "стоки"}
FLOOD = {"затопить", "топить", "заливать", "залить", "хлестать", "затапливать", "фонтанировать", "подтопить",
         "прорвать", "подступать", "подняться", "плавать", "течь", "литься"}  # fmt: skip
HEATING = {"отопление", "батарея", "тепло", "отопительный", "радиатор", "котел", "котёл"}
NO = {"нет", "не", "отключить", "холодный", "ледяной", "отключение", "без", "чуть", "еле", "остыть", "холодно"}
WIRE = {"провод", "кабель", "проводка"}
WIRE_DANGER = {"оборвать", "оголить", "оголенный", "искрить", "лежать", "висеть", "оборванный", "искра", "коротить"}
LIFE = {"жизнь", "умирать", "умереть", "сознание", "задыхаться", "кровь", "реанимация", "смерть", "погибнуть"}
GAS_SMELL = {"пахнуть", "запах", "утечка", "вонять", "воняет", "пахнет", "чувствоваться"}
LONG = {"неделя", "месяц", "год", "полгода", "лет", "третий", "четвертый", "пятый", "который", "постоянно", "вечно",
        "годами", "месяцами", "неделями", "сутки"}  # fmt: skip
MANY = {"весь", "целый", "сотня", "тысяча", "жилец", "жители", "житель", "микрорайон", "подъезд", "квартал", "улица",
        "поселок", "село", "массово", "многоквартирный", "несколько"}  # fmt: skip


# Danger to life from the words alone, or from two kinds of words near each other:
# (reason, marker, first words, second words, window, whether «не» before the first cancels it).
WORD_DANGERS: tuple[tuple[str, str, set[str]], ...] = (
    ("обрушение", "правило_обрушение", COLLAPSE),
    ("оружие", "правило_оружие", WEAPONS),
    ("кипяток", "правило_кипяток", {"кипяток"}),
    ("угроза жизни", "правило_медицина", MEDICAL),
    ("яд или взрыв", "правило_отрава", TOXIC),
)
NEAR_DANGERS: tuple[tuple[str, str, set[str], set[str], int, bool], ...] = (
    ("падает на людей", "правило_падение", FALLING, FALLING_ON, 6, False),
    ("открытый люк или котлован", "правило_люк", HOLES, OPEN, 4, False),
    ("канализация топит", "правило_канализация", SEWAGE, FLOOD, 6, True),
    ("ребёнок в опасности", "правило_ребенок", CHILD, CHILD_DANGER, 8, True),
    ("оборванные провода", "правило_провод", WIRE, WIRE_DANGER, 4, True),
    ("собаки нападают на людей", "правило_собаки", BITES, DOGS, 6, True),
    ("дым в жилье", "правило_дым", SMOKE, HOMES, 5, False),
    ("трещины растут", "правило_трещины", CRACKS, GROWING, 10, False),
)

# How long a problem has lasted, in days, from what the post says ("уже неделю", "второй месяц",
# "с лета", "4 года назад", "полгода"). The labelling guide (corpus/LABELLING.md) calls a week or
# more "long", and three days without water, heat, power, connection or money too.
_NUMBER_WORDS = {
    "один": 1, "одну": 1, "два": 2, "две": 2, "двое": 2, "пару": 2, "три": 3, "трое": 3, "четыре": 4,
    "пять": 5, "шесть": 6, "семь": 7, "восемь": 8, "девять": 9, "десять": 10, "несколько": 3,
    "полтора": 1.5, "полторы": 1.5,
}  # fmt: skip
_ORDINALS = {"втор": 2, "трет": 3, "четверт": 4, "пят": 5, "шест": 6, "седьм": 7, "восьм": 8, "девят": 9, "десят": 10}
_UNITS = (("недел", 7), ("месяц", 30), ("мес", 30), ("год", 365), ("лет", 365), ("сут", 1), ("дн", 1), ("ден", 1))
_UNIT = r"(дн(?:я|ей|и)?|день|сут(?:ки|ок)|недел[юиья]?|недель|месяц(?:а|ев)?|мес\b|год(?:а|у)?|лет)"
_COUNTED_RE = re.compile(r"\b(\d{1,3}|" + "|".join(_NUMBER_WORDS) + r")\s*(?:-?х\s*)?" + _UNIT)
_ORDINAL_RE = re.compile(r"\b(" + "|".join(_ORDINALS) + r")\w*\s+" + _UNIT)
_BARE_RE = re.compile(r"\b(уже|целую|целый|целых|всю|весь|которую|который|больше|более|почти|около)\s+" + _UNIT)
_SINCE_SEASON_RE = re.compile(
    r"\bс\s+(весны|лета|осени|зимы|прошлого\s+года|позапрошлого|января|февраля|марта|апреля|мая|июня|июля"
    r"|августа|сентября|октября|ноября|декабря|нового\s+года|советских|90-х|\d{4})"
)
_SINCE_DAY_RE = re.compile(
    r"\bс\s+(\d{1,2}\s*(?:-?го\s+)?(?:числа|января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября"
    r"|ноября|декабря)|понедельника|вторника|среды|четверга|пятницы|субботы|воскресенья|прошлой\s+недели)"
)
_LONG_WORDS_RE = re.compile(
    r"\b(годами|месяцами|неделями|полгода|полгодика|полмесяца|много\s+лет|всю\s+(?:зиму|весну|осень)|все\s+лето"
    r"|кажд(?:ый|ую|ое)\s+(?:год|зиму|весну|осень|лето)|испокон|десятилети\w*)\b"
)
_LONG_WORD_DAYS = {"полмесяца": 15}
# A count after these words is an age, a wait ahead, a frequency or a date: "ребёнку 3 года",
# "запись на 3 недели", "раз в 2 недели", "через месяц", "деревьям по 50 лет", "стаж 35 лет".
_NOT_A_LENGTH_BEFORE = frozenset(
    "через на до по в раз старше младше стаж возраст исполнилось исполнится ребенку ребёнку мне ему ей сыну дочке "
    "дочери маме папе бабушке дедушке деду внуку внучке детям им нам лет".split()
)
_LAST_WORD_RE = re.compile(r"(\w+)\W*$")

# Words every match of a pattern holds: a post with none of them skips the pattern. Python's re tries
# each alternative at each position; `in` scans in C, several times faster on the many posts that
# name none of them. Lower case without ё, as the patterns are written.
_UNIT_WORDS = ("дн", "день", "сут", "недел", "мес", "год", "лет")  # _UNIT's: _COUNTED_RE, _ORDINAL_RE, _BARE_RE
_SINCE_GATE_RE = re.compile(r"с\s")  # _SINCE_SEASON_RE, _SINCE_DAY_RE
_LONG_WORDS = ("год", "мес", "недел", "лет", "всю", "кажд", "испокон", "десятилети")  # _LONG_WORDS_RE
_MEMORY_WORDS = ("помн", "помин", "годовщин", "светлая", "детстве", "молодости", "союзе", "раньше")
_AHEAD_WORDS = ("если", "будущее", "заранее", "всякий", "тически")
_FICTION_WORDS = ("смотрел", "дочитал", "фильм", "сериал", "рассказ", "книг", "фанфик", "приснил", "стих")
_RESOLVED_WORDS = ("отбой", "уже", "проблем")
_SARCASM_WORDS = (")))", "браво", "спасибо", "ирония", "«")
_PRICE_WORDS = ("руб", "₽", "р.", "%", "месяц")


def _holds_any(text: str, words: tuple[str, ...]) -> bool:
    for word in words:
        if word in text:
            return True
    return False


def _word_before(text: str, position: int) -> str:
    match = _LAST_WORD_RE.search(text, max(0, position - 30), position)
    return match.group(1) if match else ""


def _unit_days(unit: str) -> int:
    return next((days for prefix, days in _UNITS if unit.startswith(prefix)), 1)


def duration_days(text: str) -> tuple[float, str] | None:
    """The longest duration the (lower-cased) text states, in days, and the words that said it."""
    found: list[tuple[float, str]] = []
    units = _holds_any(text, _UNIT_WORDS)
    for match in _COUNTED_RE.finditer(text) if units else ():
        if _word_before(text, match.start()) in _NOT_A_LENGTH_BEFORE:
            continue
        count_word, unit = match.group(1), match.group(2)
        count = float(count_word) if count_word.isdigit() else float(_NUMBER_WORDS[count_word])
        if count_word.isdigit() and _unit_days(unit) == 365 and count > 60:
            continue  # "в 2017 году" is a date, not a length
        found.append((count * _unit_days(unit), match.group(0)))
    for match in _ORDINAL_RE.finditer(text) if units else ():
        days = _unit_days(match.group(2))
        # "третий день" counts as three days; "вторую неделю" as more than a week
        ordinal = _ORDINALS[match.group(1)]
        found.append((float(ordinal) if days == 1 else (ordinal - 1) * days + 1.0, match.group(0)))
    for match in _BARE_RE.finditer(text) if units else ():
        found.append((float(_unit_days(match.group(2))), match.group(0)))
    since = _SINCE_GATE_RE.search(text) is not None
    for match in _SINCE_SEASON_RE.finditer(text) if since else ():
        found.append((30.0, match.group(0)))
    for match in _SINCE_DAY_RE.finditer(text) if since else ():
        found.append((4.0, match.group(0)))
    for match in _LONG_WORDS_RE.finditer(text) if _holds_any(text, _LONG_WORDS) else ():
        found.append((float(_LONG_WORD_DAYS.get(match.group(1), 60)), match.group(0)))
    return max(found) if found else None


ESSENTIALS = {"вода", "отопление", "тепло", "батарея", "свет", "электричество", "газ", "связь", "интернет", "пенсия",
              "выплата", "пособие", "компенсация", "зарплата", "лифт", "канализация", "электроэнергия"}  # fmt: skip
CROWD_RE = re.compile(
    r"(?:весь|всем|всего|всему|вся|всей|всю|все|целый|целого|целом|половин[аеуы])\s+"
    r"(?:дом|подъезд|микрорайон|район|улиц|поселк|поселок|сел|город|квартал|мкр|деревн|станиц|двор|домов)"
    r"|\d+\s*(?:домов|семей|семьи|человек|квартир|подъездов|жител|улиц|сел|деревен|детей|пенсионер)"
    r"|(?:сотни|тысячи|десятки|сотен|тысяч|десятков)\s+\w+"
)


@dataclass(slots=True)
class RuleHits:
    markers: list[str] = field(default_factory=list)
    evidence: dict[str, list[str]] = field(default_factory=dict)
    critical: list[str] = field(default_factory=list)
    high: dict[str, str] = field(default_factory=dict)  # reason -> the marker holding its words
    thanks: bool = False
    sarcasm: bool = False
    advert: bool = False
    reading: DangerReading = field(default_factory=DangerReading)

    def danger(self, reason: str, marker: str, words: Iterable[str]) -> None:
        self.critical.append(reason)
        self.hit(marker, words)

    def hit(self, marker: str, words: Iterable[str]) -> None:
        self.markers.append(marker)
        self.evidence[marker] = sorted(set(words))[:4]


def _near(
    lemmas: list[str],
    first: set[str],
    second: set[str],
    window: int = 5,
    *,
    negatable: bool = True,
    present: set[str] | None = None,
) -> list[str] | None:
    """Words from both sets within `window` tokens of each other, unless the first is negated.
    `present`: set(lemmas), when the caller has it (set against set checks the smaller one)."""
    words = lemmas if present is None else present
    if first.isdisjoint(words) or second.isdisjoint(words):
        return None  # most posts: no word of either set, decided in C
    for i, word in enumerate(lemmas):
        if word in first:
            if negatable and i and lemmas[i - 1] in NEGATIONS:
                continue
            for j in range(max(0, i - window), min(len(lemmas), i + window + 1)):
                if j != i and lemmas[j] in second:
                    return [word, lemmas[j]]
    return None


def apply_rules(doc: Doc) -> RuleHits:
    hits = RuleHits()
    lemmas = doc.lemmas
    present = set(lemmas)
    text = doc.normalized  # lower case, ё→е; patterns skip IGNORECASE (2–3× slower on Cyrillic)

    thanks = present & THANKS
    if thanks and POLITE_CLOSE_RE.search(text) and len(POLITE_CLOSE_RE.findall(text)) >= len(thanks):
        thanks = set()  # only the polite close of a complaint
    if thanks:
        hits.thanks = True
        hits.hit("правило_благодарность", thanks)
    memory = MEMORY_RE.search(text) if _holds_any(text, _MEMORY_WORDS) else None
    if memory:
        hits.hit("правило_воспоминание", [memory.group(0)])
    for marker, pattern, cue_words in (
        ("правило_на_будущее", AHEAD_RE, _AHEAD_WORDS),
        ("правило_вымысел", FICTION_RE, _FICTION_WORDS),
        ("правило_решено", RESOLVED_RE, _RESOLVED_WORDS),
    ):
        found = pattern.search(text) if _holds_any(text, cue_words) else None
        if found:
            hits.hit(marker, [found.group(0)])
    sarcasm = SARCASM_RE.search(text) if _holds_any(text, _SARCASM_WORDS) else None
    if sarcasm or ({"эмосарказм", "эмосмех"} & present and (thanks or "отличный" in present)):
        hits.sarcasm = True
        hits.hit("правило_сарказм", [sarcasm.group(0)] if sarcasm else ["ирония"])
    advert = present & ADVERT
    if PHONE_RE.search(text):
        advert = advert | {"телефон"}
    if _holds_any(text, _PRICE_WORDS) and PRICE_RE.search(text):
        advert = advert | {"цена"}
    if len(advert) >= 2 or (advert and PHONE_RE.search(text)):
        hits.advert = True
        hits.hit("правило_реклама", advert)
    news = present & NEWS
    if len(news) >= 2:
        hits.hit("правило_новость", news)
    announcement = ANNOUNCEMENT_RE.search(text)
    if announcement:
        hits.hit("правило_объявление", [announcement.group(0)])
    abroad = present & ABROAD
    if abroad:
        hits.hit("правило_заграница", abroad)
    for marker, words in GENRES:
        genre = present & words
        if genre:
            hits.hit(marker, genre)
    if VERSE_LINE_RE.search(doc.raw):
        hits.hit("жанр_стих", ["строки стиха"])
    if doc.caps_ratio > 0.5 and len(lemmas) > 3:
        hits.hit("правило_капс", ["КАПС"])
    if doc.exclamations >= 2:
        hits.hit("правило_восклицания", ["!"])

    # Danger to life or health now: critical.
    gas = _near(lemmas, GAS_SMELL, {"газ", "газом", "газа"}, window=3, present=present)
    if gas and not _negated_gas(lemmas):
        hits.danger("запах газа", "правило_газ", gas)
    heating = _near(lemmas, HEATING, NO, window=4, negatable=False, present=present)
    if heating and FROST_RE.search(text):
        hits.danger("нет отопления в мороз", "правило_холод", heating + ["мороз"])
    fire = present & FIRE
    burning = _near(
        lemmas, {"гореть", "поджечь", "загореться", "полыхать"}, BUILDINGS, window=5, negatable=False, present=present
    )
    if (fire & {"пожар", "пламя", "возгорание"} or burning) and not present & FIRE_EXCUSE:
        hits.danger("пожар", "правило_пожар", burning or fire)
    for reason, marker, danger_words in WORD_DANGERS:
        if present & danger_words:
            hits.danger(reason, marker, present & danger_words)
    for reason, marker, first, second, window, negatable in NEAR_DANGERS:
        near = _near(lemmas, first, second, window=window, negatable=negatable, present=present)
        if near:
            hits.danger(reason, marker, near)
    abandoned = _near(lemmas, ABANDONED, CLIMBING | YOUNG, window=10, negatable=False, present=present)
    if abandoned and present & YOUNG:
        hits.danger("дети на опасном объекте", "правило_заброшка", abandoned)
    negated = [f"не_{word}" if i and lemmas[i - 1] == "не" else word for i, word in enumerate(lemmas)]
    traffic = _near(negated, TRAFFIC, BROKEN, window=8, negatable=False)
    if traffic:
        hits.danger("не работает светофор или переезд", "правило_светофор", traffic)
    overhead = _near(lemmas, FALLING_THINGS, FALLING | {"висеть"}, window=5, negatable=False, present=present)
    if overhead and "правило_падение" not in hits.evidence and present & (OVERHEAD_TARGETS | YOUNG):
        hits.danger("может упасть на людей", "правило_нависает", overhead)
    life = present & LIFE
    if life:
        hits.hit("правило_жизнь", life)
    # Hazard × who is exposed × now, as markers the danger head weighs (classifier/danger.py).
    hits.reading = read_danger(doc, lemmas)
    hits.markers.extend(hits.reading.markers)

    # High urgency: going on for long, or many people (corpus/LABELLING.md). Markers only: the
    # urgency head weighs them against the rest of the post.
    duration = duration_days(text)
    if duration and duration[0] >= 7:
        hits.high["давно"] = "правило_долго"
        hits.hit("правило_долго", [duration[1]])
    elif duration and duration[0] >= 3:
        hits.hit("правило_дни", [duration[1]])
        essential = present & ESSENTIALS
        if essential:
            hits.high["нет необходимого несколько дней"] = "правило_без_необходимого"
            hits.hit("правило_без_необходимого", [duration[1], *sorted(essential)])
    elif present & LONG:
        hits.hit("правило_долго_слабо", present & LONG)
    crowd = CROWD_RE.search(text)
    if crowd:
        hits.high["многих касается"] = "правило_массово"
        hits.hit("правило_массово", [crowd.group(0)])
    elif present & MANY:
        hits.hit("правило_массово_слабо", present & MANY)
    return hits


def _negated_gas(lemmas: list[str]) -> bool:
    for i, word in enumerate(lemmas[:-1]):
        if word in NEGATIONS and lemmas[i + 1] in GAS_SMELL:
            return True
    return False
