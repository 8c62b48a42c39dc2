"""Small towns in real posts: case forms by ending, town adjectives, a town named on its own,
namesakes, and the false friends that must stay rejected."""

from __future__ import annotations

import pytest

from classifier.gazetteer.cache import default_gazetteer
from classifier.gazetteer.words import declension, inflections
from classifier.text import analyze


def resolve(text: str, hint: str | None = None) -> tuple[str | None, str | None]:
    guess = default_gazetteer().resolve(analyze(text), hint=hint)
    return guess.code, guess.city


class TestCaseForms:
    @pytest.mark.parametrize(
        ("word", "forms"),
        [
            ("харабали", {"харабалях", "харабалям", "харабалями"}),  # plural in -и
            ("печоры", {"печорах", "печор", "печорам"}),  # plural in -ы
            ("белев", {"белева", "белеву", "белевом", "белеве"}),  # -ев
            ("болгар", {"болгара", "болгаре", "болгаром"}),  # a consonant
            ("сольвычегодск", {"сольвычегодска", "сольвычегодске"}),  # -ск
            ("кедровый", {"кедрового", "кедровом", "кедровым"}),  # adjective -ый
            ("узловая", {"узловой", "узловую"}),  # adjective -ая
            ("верхотурье", {"верхотурья", "верхотурью", "верхотурьем"}),  # -ье
            ("городище", {"городища", "городищем"}),  # -е
            ("фокино", {"фокина", "фокине"}),  # -о, besides the indeclinable «в Фокино»
            ("агидель", {"агидели", "агиделью"}),  # -ь, feminine
            ("ветлуга", {"ветлуги", "ветлуге", "ветлугу", "ветлугой"}),  # -а
            ("кременки", {"кременках", "кременок"}),  # -ки
            ("починок", {"починка", "починке"}),  # a fleeting vowel
        ],
    )
    def test_declension_by_ending(self, word: str, forms: set[str]) -> None:
        assert forms <= inflections(word)

    def test_a_masculine_word_in_soft_sign_is_no_plural(self) -> None:
        assert "строители" in declension("строитель")  # the rule alone cannot tell
        assert "строители" not in inflections("строитель")  # the dictionary knows the noun is masculine
        assert {"микуни", "арамили"} <= inflections("микунь") | inflections("арамиль")  # it takes them for masculine

    @pytest.mark.parametrize(
        ("text", "code", "city"),
        [
            ("Улица Рабочая в Белёве: водоканал закопал траншею", "71", "Белев"),
            ("Подскажите, где в Харабалях можно купить саженцы винограда?", "30", "Харабали"),
            ("Горит камыш у дач на Ахтубе под Харабалями, пожарные?!", "30", "Харабали"),
            ("Подскажите, куда жаловаться на МФЦ в Печорах?", "60", "Печоры"),
            ("В Болгаре завершилась реставрация Малого минарета", "16", "Болгар"),
            ("Магазин «Урожай» в Чаплыгине на Советской", "48", "Чаплыгин"),
            ("Автобус из Сольвычегодска опять не пришёл", "29", "Сольвычегодск"),
            ("В посёлке под Кирсановом с ночи нет света", "68", "Кирсанов"),
            ("В Микуни на вокзале ступенька качается", "11", "Микунь"),
            ("В Арамили на Рабочей строят новый ЖК", "66", "Арамиль"),
            ("В Пыть-Яхе до сих пор живут в балках", "86", "Пыть-Ях"),
            ("Свалка у Щучьего тлеет с весны", "45", "Щучье"),
            ("Электрички из Узловой отменили", "71", "Узловая"),
            ("А вот администрация Верхотурья обещала ответить", "66", "Верхотурье"),
            ("Обращаюсь от имени пенсионеров Островного. Третий месяц нет надбавки", "51", "Островной"),
            ("В Кременках опять нет воды", "40", "Кременки"),
            ("Ване из Биробиджана 11 лет, собираем на протез", "79", "Биробиджан"),  # an age, not a house
        ],
    )
    def test_oblique_forms_of_small_towns(self, text: str, code: str, city: str) -> None:
        assert resolve(text) == (code, city)

    def test_a_form_of_two_towns_names_either(self) -> None:
        assert resolve("Нет воды", hint="Подслушано Печоры")[0] == "60"  # a source's name is a nominative
        assert resolve("Управляющие компании Печоры получили предписания", hint="Печора | Новости")[0] == "11"
        assert resolve("В Печоре нет света")[0] == "11"


class TestTownAdjectives:
    @pytest.mark.parametrize(
        ("text", "code", "city"),
        [
            ("Можгинский хлебокомбинат приглашает на работу пекарей", "18", "Можга"),
            ("В Ветлужской больнице с января нет педиатра", "52", "Ветлуга"),
            ("Ухтинский водоканал молчит третий день", "11", "Ухта"),
            ("Рецепт двора по-тобольски: берём двор на Ремезова", "72", "Тобольск"),
        ],
    )
    def test_the_adjective_of_a_town_names_it(self, text: str, code: str, city: str) -> None:
        assert resolve(text) == (code, city)

    def test_an_adjective_is_weak_evidence(self) -> None:
        # the town named outright outweighs another region's town adjective
        assert resolve("Ветлужские врачи уехали, в Мантурове тоже нет педиатра")[0] == "44"
        # (where people go, «возим детей в Шарью», weighs less: see test_gazetteer_context.py)

    @pytest.mark.parametrize(
        "text",
        [
            "Болгарский перец подорожал вдвое",  # Болгар: the adjective is the word's
            "Армянский коньяк в подарок",  # Армянск
            "Гвардейский полк на параде",  # Гвардейск
            "на Володарского опять прорвало трубу",  # Володарск: a street named after a person
            "Бабушкинский рынок закрыли",  # Бабушкин is named after a person
        ],
    )
    def test_adjectives_that_belong_to_a_word_or_a_person(self, text: str) -> None:
        assert resolve(text) == (None, None)


class TestStandaloneTown:
    @pytest.mark.parametrize(
        ("text", "code"),
        [
            ("Дно, на Ленина у вокзала такие дыры в асфальте", "60"),
            ("Холм: на тротуаре у моста через Ловать асфальт провалился", "53"),
            ("Верхотурье, срочно! На Туре у плотины дети на льду", "66"),
            ("Полицию вызывали, толку ноль. Сим, Пушкина 10, может кто знает", "74"),
            ("Кедровый, спасибо всем, кто помог собрать деньги", "70"),
            ("Нашёл велосипед сына. Темников, вы бы знали, как ребёнок радовался!", "13"),
            ("Циолковский — город будущего, но жить в нём скучно", "28"),
            ("Директор говорит, нет денег. Нариманов. Дочка терпит до дома", "30"),
            ("С высоты упал кусок бетона. Узловая, где надзор??", "71"),
            ("Бельё на балконе серое. Мыски, это с разреза несёт?", "42"),
            ("Дети на льду у водозабора, там промоины, Невельск, срочно кто-нибудь!!", "65"),
            ("Городище. Уважаемые депутаты, когда положат асфальт?", "58"),  # a heading
            ("Когда уже решат вопрос с водоводом? Судак", "91"),  # a signature
            ("Невельск, мы вернулись! Три года прожили в Подмосковье", "65"),  # then a region it compares with
        ],
    )
    def test_a_town_addressed_or_heading_a_post(self, text: str, code: str) -> None:
        assert resolve(text)[0] == code

    @pytest.mark.parametrize(
        "text",
        [
            "Снег, снег, снег. Зима, ты не перегибай, пожалуйста.",  # Зима: people talk to winter
            "Дно! Просто дно, а не дорога",  # a verdict
            "Любим. Помним. Скорбим.",  # a verb
            "Короче, воды опять нет",  # not the nominative of Короча
        ],
    )
    def test_a_word_standing_alone_is_no_town(self, text: str) -> None:
        assert resolve(text) == (None, None)


class TestNamesakes:
    @pytest.mark.parametrize(
        ("text", "code"),
        [
            ("Подскажите, в Краснознаменске есть где сделать ключ? Или только в Гусев ехать?", "39"),
            ("Краснознаменск, Калининградская. На чердаке дымится проводка", "39"),
            ("Покровск, подскажите, ледовая переправа на Якутск уже открыта?", "14"),
            ("Усолье, Пермский край: палаты Строгановых закрыли", "59"),
            ("Фокино, Брянская область: радуга над цементным", "32"),
        ],
    )
    def test_another_place_in_the_post_breaks_the_tie(self, text: str, code: str) -> None:
        assert resolve(text)[0] == code

    @pytest.mark.parametrize(
        ("text", "code"),
        [
            ("В Краснознаменске открыли новую школу", "50"),  # no clue: the larger
            ("Михайловск, открылась новая пекарня на Кирова!", "26"),
            ("Кедровый, спасибо всем", "70"),  # the town of the table, not the посёлок of Красноярский край
            ("Город Белый — самый маленький город области", "69"),  # not the village Белое
            ("Переехали в Калининград из Норильска три года назад", "39"),  # not Королёв's former name
        ],
    )
    def test_without_a_clue(self, text: str, code: str) -> None:
        assert resolve(text)[0] == code


class TestFalseFriends:
    @pytest.mark.parametrize(
        "text",
        [
            "Стройка на Генерала Ефремова с семи утра забивает сваи",  # a street, not Ефремов
            "Строители, которые ремонтируют дом культуры, оставляют грязь",  # not Строитель
            "Семена, рассада, удобрения — всё для огорода!",  # not Семёнов
            "Стройку многоэтажки на Свободы заморозили год назад",  # a street, not the village Свободы
            "Соседи с маленькими тоже мёрзнут",  # «с» is a preposition, not «с.» (Маленькое)
            "Посёлок маленький, добраться можно только морем",  # describes the village
            "Ходили в обход через весь город. Весёлое было время.",  # not «город Весёлое»
        ],
    )
    def test_words_and_streets_stay_rejected(self, text: str) -> None:
        assert resolve(text) == (None, None)

    def test_a_town_matches_only_its_own_forms(self) -> None:
        # Орлов is the town Орлов, not the genitive plural of орёл (Орёл)
        assert resolve("Орлов, кто в городе занимается отловом?") == ("43", "Орлов")
        assert resolve("Строители, которые ремонтируют дом культуры в Агидели") == ("02", "Агидель")

    def test_a_capital_that_only_starts_a_sentence(self) -> None:
        # «Бора» is the wind, not Бор's genitive; the town named after it wins
        assert resolve("Бора сегодня такая, что меня сдуло с самоката 😄 Новороссийск, держите шапки")[0] == "23"

    def test_a_railway_station_is_its_town(self) -> None:
        assert resolve("На станции Мураши завершили ремонт вокзала") == ("43", "Мураши")
        assert resolve("На станции метро Сокол сломался эскалатор")[0] != "35"


class TestLowerCase:
    @pytest.mark.parametrize(
        ("text", "code"),
        [
            ("у нас в горбатове третий день нет воды", "52"),  # Горбатов: else only a surname
            ("у нас в макарьеве автобус не ходит", "44"),
            ("из темникова до саранска не доехать", "13"),
        ],
    )
    def test_a_small_town_after_v_whose_other_reading_is_a_person(self, text: str, code: str) -> None:
        assert resolve(text)[0] == code

    @pytest.mark.parametrize(
        "text",
        [
            "у нас в сланцах по лужам не походишь",  # flip-flops, not Сланцы
            "на работе в шахтах опять задержали зарплату",  # mines, not Шахты
        ],
    )
    def test_a_common_word_in_lower_case_stays_a_word(self, text: str) -> None:
        assert resolve(text)[0] is None
