"""Region on posts of an unseen feed: small towns named in an oblique case or by their adjective, a town
in the source's name against a place the text names elsewhere, and namesakes settled by what else a
post names."""

from __future__ import annotations

import pytest

from classifier.gazetteer.cache import default_gazetteer
from classifier.text import analyze


def resolve(text: str, hint: str | None = None) -> str | None:
    return default_gazetteer().resolve(analyze(text), hint=hint).code


@pytest.mark.parametrize(
    ("text", "hint", "code"),
    [
        # a town's part named with its genitive is the town's, not a street named after someone
        ("Вечером на набережной Весьегонска играл оркестр", None, "69"),
        ("Гуляли в парке Чухломы, всё заросло", None, "44"),
        # a number of years after a town is its age, not a house number
        ("Зарайску 500 лет! Поздравляем всех", None, "50"),
        # a small town's adjective before what a town has
        ("На Сосногорской ТЭЦ авария, горячей воды нет", None, "11"),
        ("Нет отопления, Невьянский водоканал молчит", None, "66"),
        ("Во дворе опять мусор", "Вуктыльский округ | Новости", "11"),
        # a hospital named by an adjective is the district's
        ("Спасибо врачам Озёрской больницы", None, "39"),
        # a town named like its river, after «в»
        ("Почта в Оби снова закрыта", None, "54"),
        # a town named like a word, capitalised mid-sentence or beside the villages around it
        ("Ребята, Чухлома гордится вами!", None, "44"),
        ("Продаю сено. Дно и окрестности, доставка", None, "60"),
        # МО is a municipality beside its adjective or its name, the Moscow region otherwise
        ("Парк вы красите, а фонари не горят", "Администрация МО Новая Ладога", "47"),
        ("Спасибо за спуск к пляжу", "Администрация Хвалынского МО", "64"),
        ("Дорогу хорошо сделали", "Администрация МО г. Липки", "71"),
        ("Отключат свет на Садовой", "Администрация Макушинского МО", "45"),
        ("Живу в МО, дороги ужас", None, "50"),
        ("В МО опять снег не чистят. Сергиев Посад", None, "50"),
        # the district around a town the table gives none (a town of regional significance)
        ("Яму на въезде в посёлок засыпали", "Посёлки Кирсановского района", "68"),
        ("На улице Кирсанова яма", None, None),
    ],
)
def test_small_towns_in_any_form(text: str, hint: str | None, code: str | None) -> None:
    assert resolve(text, hint) == code


@pytest.mark.parametrize(
    "text",
    [
        "Купались в Оби, вода ледяная",
        "Рыбак провалился под лёд на Оби",
        "Холм за домом весь в мусоре",
        "Армянская церковь открылась после ремонта",
        "На набережной Пушкина опять темно",
        "На ул. Энгельса яма",
    ],
)
def test_what_stays_no_town(text: str) -> None:
    assert resolve(text) is None


def test_a_moscow_district_is_no_small_town() -> None:
    assert resolve("Бабушкинский район Москвы, у подъезда яма") == "77"


@pytest.mark.parametrize(
    ("text", "hint", "code"),
    [
        # an event elsewhere, a far-away cause: the source's town
        ("Наши гимнастки взяли серебро на первенстве в Красноярске!", "Новости Абакана", "19"),
        ("Отбой тревоги после землетрясения у Камчатки", "Анадырь | Новости", "87"),
        # without a source's town the text's place still answers
        ("Наши гимнастки взяли серебро на первенстве в Красноярске!", None, "24"),
        ("Отбой тревоги после землетрясения у Камчатки", None, "41"),
        # a region named as where the problem is outweighs the source's town
        ("В Камчатском крае прошло землетрясение, у нас трясло", "Анадырь | Новости", "41"),
    ],
)
def test_the_source_town_against_places_elsewhere(text: str, hint: str | None, code: str) -> None:
    assert resolve(text, hint) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Ледоход на Неве у Кировска прошёл спокойно", "47"),
        ("Ледоход на Лене у Покровска прошёл спокойно", "14"),
        ("В Малом Исакове под Гурьевском бегают собаки", "39"),
        ("Советск Кировской области, не путать с Калининградом: на Кирова нет света", "43"),
        # a road named after a town of one of its regions (not Московское шоссе, which every town has)
        ("Гурьевск, Калининградское шоссе. Маршрутка ходит раз в 40 минут", "39"),
        ("Гурьевск, Московское шоссе. Маршрутка ходит раз в 40 минут", "42"),
        # «у нас в Ельне» outweighs the places where others are
        (
            "Сестра из Оренбурга вспоминает, как Орск топило. У нас в Ельне речка маленькая. "
            "Они тогда у нас жили, пока в Орске вода не ушла.",
            "67",
        ),
        # no clue: the larger namesake
        ("Покровск, дороги разбиты", "80"),
        ("Озёрск, у нас опять нет воды", "74"),
    ],
)
def test_namesakes_by_what_else_a_post_names(text: str, code: str) -> None:
    assert resolve(text) == code
