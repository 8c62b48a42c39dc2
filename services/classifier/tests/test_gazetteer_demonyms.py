"""Towns named by their people (Олончане, подскажите…): demonyms formed for every town of the table."""

from __future__ import annotations

import pytest

from classifier.gazetteer.cache import default_gazetteer
from classifier.text import analyze


def resolve(text: str) -> str | None:
    return default_gazetteer().resolve(analyze(text)).code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Олончане, подскажите, работает ли в выходные МФЦ?", "10"),
        ("Шенкурчане, спасибо всем, кто помог найти кота!", "29"),
        ("Беловчане, спасибо водителю автобуса", "42"),
        ("Нюрбинцы, кто ещё не был в новой столовой — сходите", "14"),
        ("Талдомцы, где сдать старую технику?", "50"),
        ("Кирилловцы, вот честно: пусть лучше монастырь собирает туристов", "35"),
        ("Змеиногорцы, где починить часы с кукушкой?", "22"),
        ("ишимцы, кто знает, когда дадут воду?", "72"),
        ("Керчане! Паром опять не ходит", "91"),
        ("Куряне, на Карла Маркса прорвало трубу", "46"),
        ("Себежане, кто на рыбалку — лёд на озере уже тёмный", "60"),  # a word the dictionary only guesses
        ("Лузяне, спасибо всем, кто откликнулся!", "43"),
        ("Верейцы! 22 февраля концерт в Доме культуры", "50"),  # Верея
        ("Дорогие тотьмичи! Приглашаем всех на проводы зимы", "35"),  # Тотьма, in lower case
        # an address opening a later sentence of the post outweighs a holiday that looks like a town
        ("Лёд тогда вставал к Октябрьским. Узнаёте кого-нибудь? Макарьевцы, откликнитесь!", "44"),
        ("Обращаюсь к Шенкурчанам: кто видел собаку?", "29"),
        ("Мы, Олончане, давно ждём ремонта дороги", "10"),
        ("Я коренная Беловчанка, и такого не помню", "42"),
        ("Корочанцы, доброе утро! Черешня на рынке уже по 300", "31"),  # Короча
        ("Сенгилеевцы! 12 июня праздник на набережной", "73"),  # Сенгилей
        ("В газовую звоним — занято!!! вуктыльцы, какой ещё номер есть?", "11"),  # Вуктыл
        ("Ветер такой, что кошку с крыльца сдуло. Держите шапки, северокурильцы", "65"),  # Северо-Курильск
        ("Горнячане, где сейчас взять нормальный уголь?", "22"),  # Горняк
        ("Тетюшане, кто в субботу на Волгу на рыбалку?", "16"),  # Тетюши
        ("Облученцы, на День города места под торговлю уже распределили?", "79"),  # Облучье
        ("Баргузинцы! В субботу в клубе встреча выпускников", "03"),  # Баргузин, a village
        ("Нарьянмарцы, кто в пятницу летит в Архангельск?", "83"),  # Нарьян-Мар, written as one word
        ("Верхотурцы, кто на ярмарку в субботу?", "66"),  # Верхотурье
    ],
)
def test_demonym_names_its_town(text: str, code: str) -> None:
    assert resolve(text) == code


@pytest.mark.parametrize(
    "word", ["Молодцы", "Жильцы", "Граждане", "Горожане", "Селяне", "Сельчане", "Северяне", "Земляне", "Славяне",
             "Волонтёры", "Борцы", "Братцы", "Гвардейцы", "Ленинцы", "Черногорцы", "Южане"],
)  # fmt: skip
def test_common_words_like_demonyms_are_no_towns(word: str) -> None:
    assert resolve(f"{word}, спасибо вам за помощь во дворе!") is None


def test_demonym_in_lower_case_mid_sentence_is_weak() -> None:
    # typed in lower case a demonym that is no other word still names its town (дорогие рубцовчане),
    # but any town named outright outweighs it
    assert resolve("Спасибо, что шенкурчане откликнулись") == "29"
    assert resolve("В Вологде прорвало трубу, спасибо, что шенкурчане откликнулись") == "35"
    assert resolve("Дорогие рубцовчане старшего возраста, приходите в хор") == "22"
    assert resolve("Кто из елабужан ещё помнит тот разлив?") == "16"


def test_address_outweighs_a_demonym_later_in_the_post() -> None:
    assert resolve("Кирилловцы, передайте беловчанам привет") == "35"


def test_a_named_town_outweighs_a_demonym_mid_post() -> None:
    assert resolve("В Вологде прорвало трубу, пишут Беловчане") == "35"


def test_singular_epic_hero_is_no_town() -> None:
    assert resolve("Илья Муромец на открытке") is None


def test_a_villages_people_yield_to_the_source_s_town() -> None:
    guess = default_gazetteer().resolve(analyze("Тарчане, поздравьте моего Серёжу!"), hint="Подслушано Тара")
    assert guess.code == "55"
