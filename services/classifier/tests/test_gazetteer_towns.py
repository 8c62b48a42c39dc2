"""Every town of Russia (incidents_common.towns) and municipal districts in the gazetteer."""

from __future__ import annotations

import pytest

from classifier.gazetteer.cache import default_gazetteer
from classifier.text import analyze
from incidents_common.towns import all_towns


def resolve(text: str, hint: str | None = None) -> tuple[str | None, str | None]:
    guess = default_gazetteer().resolve(analyze(text), hint=hint)
    return guess.code, guess.city


class TestEveryTown:
    def test_every_town_of_the_table_is_a_place_name(self) -> None:
        gazetteer = default_gazetteer()
        missing = []
        for town in all_towns():
            mentions = gazetteer.mentions(analyze(f"Новости, г. {town.name}: прорвало трубу"))
            if not any(town.region_code in m.entry.codes and m.entry.city for m in mentions):
                missing.append((town.region_code, town.name))
        assert missing == []

    @pytest.mark.parametrize(
        ("text", "code", "city"),
        [
            # towns of fewer than 15,000 people, in several case forms
            ("В Кологриве третий день нет воды", "44", "Кологрив"),
            ("Из Кологрива не уехать, автобус отменили", "44", "Кологрив"),
            ("Кологрив, садик на Некрасова: котёл стоит", "44", "Кологрив"),
            ("Под Окуловкой размыло дорогу", "53", "Окуловка"),
            ("в среднеколымске дизельная встала", "14", "Среднеколымск"),
            ("Школьный автобус из Бирюча сломался на трассе", "31", "Бирюч"),
            ("По Теберде не проехать после селя", "09", "Теберда"),
            ("Мезень. Лёд на реке пошёл раньше срока", "29", "Мезень"),
            ("В Северо-Курильске нет связи", "65", "Северо-Курильск"),
            # named like a word or a person, written as a name
            ("В Бабушкине ночью тряхнуло", "03", "Бабушкин"),
            ("Любим, на Советской яма", "76", "Любим"),
            # the town Сокол, not GeoNames' Moscow district of that name
            ("Сокол, школа №3: опять поборы", "35", "Сокол"),
            # a date after the town is no house number
            ("В Орске 1 декабря слушания по бюджету", "56", "Орск"),
            # a town's district adjective is the town's (Кондопожский район)
            ("Кондопожская ЦРБ не принимает", "10", "Кондопога"),
            ("Елецкий водоканал молодцы", "48", "Елец"),
            # villages after a settlement marker, or known to the dictionary as places after «в»
            ("В Вохме закрыли единственный Сбер", "44", "Вохма"),
            ("пгт Вохма, нет света", "44", "Вохма"),
            ("аул Хабез третий день без газа", "09", "Хабез"),
        ],
    )
    def test_small_towns_in_every_form(self, text: str, code: str, city: str) -> None:
        assert resolve(text) == (code, city)

    def test_a_source_named_after_a_small_town(self) -> None:
        assert resolve("Нет воды третий день", hint="Макарьев | соседи") == ("44", "Макарьев")
        assert resolve("Нет воды третий день", hint="Подслушано Полевской") == ("66", "Полевской")


class TestFalseFriends:
    @pytest.mark.parametrize(
        "text",
        [
            "Бабушкин рецепт пирогов с капустой",  # Бабушкин (Бурятия)
            "Короче, воды опять нет",  # Короча
            "Мы любим наш двор, но он разбит",  # Любим
            "В Париже бастуют мусорщики",  # the village Париж in the Urals
            # streets named after towns
            "ул. Каргопольская, 5 — нет воды",
            "на Вилюйской 12 нет света",
            "на Мезенской опять прорыв",
            "на улице Кологривской яма",
        ],
    )
    def test_words_and_streets_are_not_towns(self, text: str) -> None:
        assert resolve(text) == (None, None)


class TestDistricts:
    @pytest.mark.parametrize(
        ("text", "code"),
        [
            ("В Намском улусе нет света", "14"),
            ("Жители Намского улуса без связи", "14"),
            ("В Намском районе нет связи", "14"),  # the улус called a район
            ("Горный улус: нет связи", "14"),
            ("в Тоджинском кожууне закрыли зимник", "17"),
            ("Многодетные семьи Хасавюртовского района без выплат", "05"),
            ("В Кабанском районе толчки до пяти баллов", "03"),
            ("Кологривского р-на дороги не чистят", "44"),  # a district of the towns table
            ("Администрация Ядринского муниципального округа напоминает", "21"),
            ("Жители Вохомского района жалуются на дороги", "44"),
            # a town's own urban district, its adjective formed by the name's ending (not in the dictionary)
            ("Администрация Мамоновского городского округа: когда дадут тепло?", "39"),
            ("В Лыткаринском городском округе опять отключили воду", "50"),
            ("Администрация Ивдельского городского округа молчит", "66"),  # Ивдель: ивдельский
            ("Усть-Кутский район, у нас в посёлке автобус не ходит", "38"),  # a hyphenated town's district
            # named after a village or an urban settlement, the centre GeoNames lists (Демянск, Каргасок)
            ("Собаки режут кур по деревням. Демянский район, охотоведы, отлов, кто-нибудь!", "53"),
            ("Глава поселения не отвечает. В Каргасокском районе у всех так?", "70"),
        ],
    )
    def test_a_district_of_one_region_decides(self, text: str, code: str) -> None:
        guess = default_gazetteer().resolve(analyze(text))
        assert guess.code == code
        assert guess.city is None  # a district is not a town

    @pytest.mark.parametrize(
        "text",
        [
            "В Первомайском районе нет газа",  # a district of many regions and towns
            "Первомайский район: нет газа третий день",
            "В Кировском районе не вывозят мусор",
            "Горный район: нет связи",
            "Каменский район, нет воды",  # Алтайский край and Пензенская область both have one
            "Очередь в детские сады Пионерского района",  # a village Пионер names no district
        ],
    )
    def test_an_ambiguous_district_alone_decides_nothing(self, text: str) -> None:
        assert resolve(text) == (None, None)

    def test_an_ambiguous_district_agrees_with_a_town_or_region(self) -> None:
        assert resolve("Каменский район Пензенской области, нет воды")[0] == "58"
        assert resolve("В Кировском районе Волгограда не вывозят мусор") == ("34", "Волгоград")
        assert resolve("в Советском районе Казани прорвало трубу") == ("16", "Казань")
        # Кировский is also the adjective of Кировская область; as a district it does not mean it
        assert resolve("Уважаемая администрация Кировского района!", hint="Волгоград")[0] == "34"


class TestTownInstitutions:
    @pytest.mark.parametrize(
        ("text", "code"),
        [
            ("Ивдельское лесничество набирает лесных пожарных на сезон", "66"),  # ивдельский: formed
            ("Ивангородская крепость открывает сезон 1 мая", "47"),
            ("Волчанское водохранилище опять цветёт", "66"),
            ("Второй раз на приёме в Кирсановской ЦРБ терапевт не посмотрел", "68"),  # a surname's town
            ("В удачнинской поликлинике к стоматологу запись только на март", "14"),  # Удачный
            ("Любанская школа без отопления третий день", "47"),  # Любань: любанский
            ("В микуньской аптеке опять нет льготных лекарств", "11"),  # Микунь: микуньский
            ("Дед 40 лет в ивдельской пожарке отработал", "66"),  # a fire station, as people call it
        ],
    )
    def test_a_small_towns_adjective_before_what_a_town_has(self, text: str, code: str) -> None:
        assert default_gazetteer().resolve(analyze(text)).code == code


def test_a_regions_adjective_after_na_is_a_street() -> None:
    """«на Ленинградском» is the avenue, «на Московском шоссе» the road: not the region."""
    assert resolve("В Мирном дом на Ленинградском дал крен, жильцов расселили")[0] == "14"
    assert resolve("Пробка на Московском шоссе, стоим час") == (None, None)
    assert resolve("По Ленинградской области снова снегопад")[0] == "47"


def test_a_hyphenated_town_written_by_its_first_word_is_a_namesake() -> None:
    """Петровск is Саратовская's town, and Петровск-Забайкальский's short name where something says so."""
    assert resolve("В Петровске опять нет воды")[0] == "64"
    assert resolve("В воскресенье в Петровске турнир", hint="Петровск-Забайкальский | Новости")[0] == "75"
    assert resolve("Катер набили людьми, а на Амуре волна. Николаевск, звоните в МЧС")[0] == "27"
    assert resolve("Спасск, Советская: плитка на крыльце отвалилась")[0] == "58"  # not Спасск-Дальний


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Кёниг, куда в субботу с детьми если дождь?", "39"),
        ("Лабытки, где сейчас можно постричь собаку?", "89"),
        ("В поликлинике в Лодейке в регистратуре нахамили маме", "47"),
        ("На набережной в ПТЗ фонари не горят с сентября", "10"),
        ("Уренгойцы, у кого так же? Мусор не вывозят неделю", "89"),
    ],
)
def test_a_short_name_people_write_for_their_town(text: str, code: str) -> None:
    assert resolve(text)[0] == code


@pytest.mark.parametrize(
    ("text", "code", "city"),
    [
        ("На Уралмаше опять темнота, фонари не горят третью неделю", "66", "Екатеринбург"),
        ("Сипайлово, двор за магазином — сплошной лёд", "02", "Уфа"),
        ("Митино, контейнеры у дома не вывозят уже неделю", "77", "Москва"),
        ("Частный сектор на Затулинке: мешки не вывозят", "54", "Новосибирск"),
        ("ЮМР, ищу репетитора по математике", "23", "Краснодар"),
    ],
)
def test_a_big_citys_district_names_the_city(text: str, code: str, city: str) -> None:
    assert resolve(text) == (code, city)


def test_a_common_word_like_a_district_names_nothing() -> None:
    # «текстильщиков» are textile workers, not Moscow's Текстильщики
    assert resolve("Фурманов — город текстильщиков, ткацкая фабрика")[0] == "37"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Корткерос, у кого есть клюква? Возьму кило пять", "11"),  # the dictionary knows it only as a place
        ("В Лоухах пожарные отработали тушение в деревянном доме", "10"),  # a case form it does not know
        ("Омсукчан, в школьной столовой опять только чай и булка", "49"),
        ("Зимник до Жиганска до сих пор не открыли, а уже февраль", "14"),
    ],
)
def test_a_village_named_by_a_name_that_is_no_other_word(text: str, code: str) -> None:
    assert resolve(text)[0] == code


@pytest.mark.parametrize(
    "text",
    [
        "Футбольный «Урал» опять проиграл, да сколько можно",  # a team, not the village Урал
        "Чкалова, 58 — яма, сегодня пробил колесо",  # a street and a house, not the village Чкалово
        "Читаю, что в Канаде опять лесные пожары",  # not the village Канадей
        "Вот и Исеть встала у берегов. Минус 12",  # the river
    ],
)
def test_a_village_named_like_a_word_or_a_country_needs_more(text: str) -> None:
    assert resolve(text) == (None, None)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("станичники, кто знает где в Каневской продают саженцы?", "23"),
        ("В Должанской бычок с утра клюёт как бешеный", "23"),
        ("а если Дон разольётся, нас в Багаевской опять затопит?", "61"),
        # the next noun in another case than «в» asks is no noun it qualifies
        ("У рынка в Тбилисской собаки порвали ногу женщине", "23"),
        ("парк в тацинской зарос травой по пояс", "61"),  # lower case, after a preposition
        ("Дорога от Клетской до трассы — сплошные ямы", "34"),
    ],
)
def test_a_stanitsa_named_by_its_adjective(text: str, code: str) -> None:
    assert resolve(text)[0] == code


def test_a_stanitsa_a_source_is_named_after() -> None:
    assert resolve("пацаны кто завтра на косу? 2 места в тачке", hint="Подслушано Должанская")[0] == "23"
    assert resolve("Доброе утро! С праздником вас", hint="Кущёвская LIVE")[0] == "23"


@pytest.mark.parametrize(
    "text",
    ["в Заречной живём, воды нет третий день", "на Садовой опять яма"],
)
def test_an_everyday_adjective_or_an_institutions_is_no_stanitsa(text: str) -> None:
    assert resolve(text) == (None, None)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        # the hospital of the Каневской район, in the stanitsa Каневская: named after its district
        ("в Каневской больнице нет врача", "23"),
        ("Спасибо фельдшеру Красноборской ЦРБ, приехала за 15 минут", "29"),
        ("Тоншаевская школа, можно пересмотреть маршрут автобуса?", "52"),
    ],
)
def test_a_district_institution_names_the_districts_region(text: str, code: str) -> None:
    assert resolve(text)[0] == code


@pytest.mark.parametrize(
    ("text", "hint", "code"),
    [
        ("Опять нет света третий день", "Кыринский район", "75"),
        ("Новый график вывоза ТКО по Вожегодскому округу", None, "35"),
        ("Уважаемые жители района! С праздником", "Администрация Ольховского муниципального района", "34"),
        ("В Лядах течёт ржавая вода", "Плюсский район — новости и объявления", "60"),
    ],
)
def test_every_municipal_district_of_the_list_names_its_region(text: str, hint: str | None, code: str) -> None:
    assert resolve(text, hint=hint)[0] == code


@pytest.mark.parametrize(
    ("text", "hint", "code"),
    [
        ("Последний рейс теплохода на Ербогачён отменили", None, "38"),
        ("Спасибо котельщикам в Шуйском, за сутки поменяли трубу", None, "35"),
        ("Площадка в Ельниках возле почты вся в хлам", None, "13"),
        ("В субботу ярмарка на площади", "Архара | Объявления", "28"),
    ],
)
def test_a_district_centre_is_read_as_a_small_town(text: str, hint: str | None, code: str) -> None:
    assert resolve(text, hint=hint)[0] == code


def test_a_district_centre_named_like_a_word_is_no_place_in_lower_case() -> None:
    assert resolve("у нас ельники вдоль дороги вырубили") == (None, None)


def test_a_village_a_source_is_named_after_or_that_signs_the_post() -> None:
    assert resolve("Друзья, в пятницу в клубе дискотека 90-х", hint="Пичаево | Объявления")[0] == "68"
    assert resolve("Продам кур-несушек, 350 р/шт, Хворостянка")[0] == "63"


@pytest.mark.parametrize(
    ("text", "code", "city"),
    [
        # district seats GeoNames lists with no population, one spelt with the Latin ë
        ("Акбулак, третий день нет воды в колонках", "56", "Акбулак"),
        ("В Ботлихе на въезде камни на полосе", "05", "Ботлих"),
        ("Школьный автобус в Дубёнках опять без печки", "13", "Дубёнки"),
    ],
)
def test_a_district_seat_with_no_population_given_is_a_place(text: str, code: str, city: str) -> None:
    assert resolve(text) == (code, city)


def test_a_towns_people_addressed_after_a_sentence_ending_in_a_name() -> None:
    # «Сар» is also a first name: a name before a demonym («Илья Муромец») holds only within a sentence
    assert resolve("Скоро Цаган Сар! Элистинцы, где взять хороший чай?") == ("08", "Элиста")


@pytest.mark.parametrize("text", ["на Дзержинского прорвало трубу", "по Чайковского опять яма на яме"])
def test_a_street_named_after_a_person_is_no_town_named_like_him(text: str) -> None:
    assert resolve(text) == (None, None)


def test_a_village_marked_as_one_is_no_big_citys_district() -> None:
    # «Черёмушки» alone is Moscow's; «пос. Черёмушки» is a village, and the source's town decides
    assert resolve("Пос. Черёмушки — собаки покусали мальчика на остановке", hint="ЧП Кизляр")[0] == "05"


@pytest.mark.parametrize(
    ("text", "hint", "code"),
    [
        # namesakes under one key that differ in form: the written form names only its own
        ("В Отрадной прошли учения, задействовали 30 человек", None, "23"),  # the stanitsa, not Отрадный
        ("В Отрадном опять нет воды", None, "63"),
        ("У Арсеньево лес вдоль дороги вырубают под корень", None, "71"),  # the village, not Арсеньев
        ("В Арсеньеве опять нет воды", None, "25"),
        # a great river after «через» settles a namesake (Покровск на Лене, not the one in region 80)
        ("Паром через Лену у Покровска не ходит уже неделю", None, "14"),
        # another name's adjective yields to a district's centre: Кизильское is not Кызыл (Кизил)
        ("Продаю рассаду перцев, ул. Мира", "Кизильское — рынок", "74"),
        # a source's name that names a district outweighs its weaker adjective
        ("Станичники, в субботу ярмарка на площади", "Казанская | Верхнедонской район", "61"),
        # a village of a district one region has, though another region's town shares its name (Донской),
        # while a city's own district that shares a name with a rural one elsewhere leaves the city its own
        ("У магазина трутся собак шесть-семь, рычат на всех", "Донское | Труновский округ", "26"),
        ("На Ростовской возле гаражей кто-то свалил строительный мусор", "Брянск | Фокинский район", "32"),
        # short names and demonyms of towns of two words, and of towns no rule forms a demonym of
        ("В сквере за выходные спилили пять лип. В Чепецке зелени и так мало", None, "43"),
        ("Холуничане, в субботу на пруду день города", None, "43"),
        ("Спасклепиковцы, сходите в баню после ремонта", None, "62"),
        ("Грозненцы, сходите вечером в Цветочный парк", None, "20"),
        # a district's centre heading a post as chat messages do, named like an adjective or a word
        ("Ермаковское: в четверг в школе учебная пожарная тревога", None, "24"),
        ("Тужа, в пятницу в РДК дискотека 80-х", None, "43"),
        # neighbourhoods and plants of middle cities, without the city's name
        ("В пятницу на Падуне у школы прорвало трубу", None, "38"),
        ("В Ахунах школьный автобус утром опять не пришёл", None, "58"),
        ("Завтра на НЛМК учения, будут сирены", None, "48"),
        ("Новоюжный, водитель маршрутки курит в салоне", None, "21"),
        ("Фокинский район, ищем няню на три дня в неделю", None, "32"),
        # more demonyms and town adjectives no rule forms; a city's reservoir
        ("Коломенцы, с понедельника меняется расписание электричек на Москву и Рязань", None, "50"),
        ("Прокопчане, на почте на Шахтёрской опять одно окно из трёх", None, "42"),
        ("Крыша течёт с сентября. Кинешемская УК обещает и не делает", None, "37"),
        ("Вчера в юргинском загсе расписались наши Дима и Настя", None, "42"),
        ("Муж в шесть утра ушёл на лодке на Шершни и не вернулся", None, "74"),
        # a source's name that speaks to people is no village (Мама), one that names the village is
        ("Ищу няню для девочки трёх лет", "Мамы Дзержинска", "52"),
        ("Наш зимник — единственная дорога в районе без ям", "Подслушано Мама", "38"),
        # what tells namesakes apart: a region's grid company, a closed town, a spaceport, a river no word
        # shares a name with wherever it stands, the region's code after the town, a plant, an old name
        ("Провод искрит над лавочкой. В Янтарьэнерго звоню — занято", "Гурьевск и Гурьевский округ", "39"),
        ("ЗАТО Железногорск. Пропуск для мамы оформляю уже месяц", None, "24"),
        ("В Мирном окна дрожали — плановый пуск с космодрома", None, "29"),
        ("Анграпа у нас в Озерске весной тоже поднимается", None, "39"),
        ("Батареи еле тёплые уже неделю. Зеленогорск 24, кто-нибудь разберётся?", None, "24"),
        ("Недострой напротив старой проходной ГХК стоит восьмой год", None, "24"),
        ("Бабушка до сих пор говорит «поехали в Загорск на рынок»", None, "50"),
        ("Краснослободская ЦРБ: к кардиологу не записаться", "Краснослободск | РМ", "13"),
        # «зато» is no closed town: Горняк of the source stays the larger one
        ("Муж починил проводку сам. Зато не искрит 😂 Ищу электрика", "Горняк | Объявления", "22"),
        # landmarks, nicknames and demonyms of gu–gx's misses
        ("Прошлой зимой у Левбердона под рыбаком лёд провалился", None, "61"),
        ("У Приоратского парка на пруду мальчишки вышли на лёд", None, "47"),
        ("Долгопа, кто знает, где поменять ремешок на часах?", None, "50"),
        ("Верейчане, белые пошли у кого-нибудь?", None, "50"),
        # the plants, institutions and neighbourhoods that name middle towns (gz's misses)
        ("Кто на ЗиДе работает, на третьей проходной пропуск новый нужен?", None, "33"),
        ("В четверг на площадках ВНИИЭФ учебная тревога", None, "52"),
        ("На Лесном Воронеже с утра туман над водой", None, "68"),
        ("Вечером с НКНХ выехать — час в пробке на кольце", None, "16"),
        # a small town's adjective before its care home
        ("Учебная тревога в Миньярском доме-интернате для престарелых", None, "74"),
        # a first name set off by commas is a person, and the town named after it stays the town
        ("Пропал мальчик, 7 лет, Артём, синяя куртка. Ушёл на речку за Гремячинском", None, "59"),
        ("В Артёме третий день нет воды", None, "25"),
        # a district's centre in its case forms, though the dictionary knows the word as a people's
        ("В Мокшане на Советской третий день нет воды", None, "58"),
        # demonyms the dictionary knows (каргопольцы, анадырцы), not only the ones formed by rule
        ("Каргопольцы, неужели нельзя хоть плитку положить у больницы?", None, "29"),
        ("Курьер нахамил, везли час сорок, анадырцы, имейте в виду", None, "87"),
        # demonyms of other shapes: -ск to -яне, -ичи of a short name, -яне of one ending in a consonant,
        # and a town of an adjective and a noun joined (Красный Холм: краснохолмцы)
        ("на спуске к Ваге засыпали ямы 👍 шенкуряне, кто там ругался — всё сделали", None, "29"),
        ("холмичи, кто видел, что творится у моста? Вода коричневая", None, "53"),
        ("Гдовичи, кто разрешил перегородить тротуар?", None, "60"),
        ("Плесяне, после ремонта открыли амбулаторию, терапевт каждый день", None, "37"),
        ("краснохолмцы, автолавка завтра во сколько приедет на Пригородную?", None, "69"),
        ("Урайцы, кто знает, бассейн сегодня работает?", None, "86"),
        # a town the dictionary reads as a first name, after a preposition of place
        ("кто вчера видел сияние над Певеком?? полнеба зелёное", None, "87"),
        # a town's adjective in the locative before what a town has (not «в Красногорском районе»)
        ("Спектакль «Морозко» в Каменногорском ДК в воскресенье, вход бесплатный", None, "47"),
        # a town of two words written by its last, which is no word of the dictionary
        ("В Клепиках в парке у Дома культуры фонари не горят", None, "62"),
        ("В Сергах у метзавода ночью опять был выброс, снег жёлтый", None, "66"),
        # a plural name's genitive with its fleeting vowel (Серги: Серёг)
        ("Бассейн на Спортивной шестой год без крыши", "Новости Нижних Серёг", "66"),
        # a small town's adjective before its embankment or the people who run it, formed where the
        # dictionary knows none (плёсский)
        ("Плёсская набережная после выходных вся в пакетах и бутылках", None, "37"),
        ("Весьегонские дорожники клали асфальт под дождём, через три дня колея", None, "69"),
        # its people, by more ways of forming them (Кола: кольчане, Сольцы: сольчане, Шлиссельбург: шлиссельбуржцы)
        ("Кольчане, у вас тоже батареи ледяные?", None, "51"),
        ("Сольчане, кто писал в администрацию про остановку?", None, "53"),
        ("Шлиссельбуржцы, помните баржу у моста?", None, "47"),
        # a route to a town named after a person (автобус на Гусев) is the town, and settles a namesake
        ("Озёрск, автобус на Гусев снова ходит по старому расписанию", None, "39"),
        # a town's dative after «по» (a street after «по» is named in the genitive: по Гагарина)
        ("Натяжные потолки за один день! Работаем по Шарье и району", None, "44"),
        # a sentence tagged with its town after a comma, even after a word that streets are named with
        ("Потеряли розовую варежку у ДК, Щучье. Вдруг кто подобрал", None, "45"),
        # a place named before its city and a comma is the city's part (Шилово, Воронеж), but a street
        # after a town and a comma stays a street (Арсеньев, Жуковского)
        ("Пропала собака вчера вечером в районе Шилово, Воронеж. Очень ждём", None, "36"),
        ("Арсеньев, Жуковского: во дворе пятиэтажки мужик с ножом", None, "25"),
    ],
)
def test_names_read_by_their_form(text: str, hint: str | None, code: str) -> None:
    assert resolve(text, hint=hint)[0] == code


def test_another_name_that_is_a_common_word_names_no_town() -> None:
    """GeoNames gives Глазов the other name «Глаз»: «Глаза режет» is eyes, not the town."""
    assert resolve("Что за химия в воздухе сегодня?? Глаза режет, горло дерёт")[0] is None
    assert resolve("В Глазове третий день нет воды")[0] == "18"


def test_a_street_named_after_a_person_stays_a_street_after_a_route_word() -> None:
    """«автобус на Гусев» goes to the town; «автобус стоит на Гусева» is on a street named after Гусев."""
    assert resolve("Автобус опять полчаса стоит на Гусева у магазина")[0] is None
    assert resolve("Советские власти в тридцатые закрыли храм, теперь восстанавливаем")[0] is None
    assert resolve("Вечером пробки по Гагарина до самого моста")[0] is None
    assert resolve("В субботу концерт в ДК Ленина, вход свободный")[0] is None


@pytest.mark.parametrize(
    "text",
    [
        # whom a post speaks to, or a part every town has, is no village of that name (Мама, Северный)
        "Мама, посмотрев новости: «никуда не выходи, там сосульки»",
        "Северный, в субботу освящение куличей у храма",
        # a city's part that is also a word, in lower case and not where a place stands (Сходня of Химки)
        "У парома сходню оторвало с одной стороны, люди прыгают на берег",
        # a village's name in the middle of a post's first words stays a word
        "Ремонтное ведомство опять молчит",
    ],
)
def test_no_district_centre_where_a_post_speaks_to_someone(text: str) -> None:
    assert resolve(text) == (None, None)
