from __future__ import annotations

import io
from importlib import resources
from pathlib import Path

import joblib
import pytest

from classifier.gazetteer.cache import default_gazetteer
from classifier.gazetteer.matching import Gazetteer
from classifier.text import analyze


def resolve(text: str, hint: str | None = None, hint_region: str | None = None) -> tuple[str | None, str | None]:
    guess = default_gazetteer().resolve(analyze(text), hint=hint, hint_region=hint_region)
    return guess.code, guess.city


class TestDeclensions:
    @pytest.mark.parametrize(
        ("text", "code", "city"),
        [
            ("В Саратове опять прорвало трубу", "64", "Саратов"),
            ("Из Энгельса не уехать вечером", "64", "Энгельс"),
            ("По Тольятти пробки с утра", "63", "Тольятти"),
            ("Живу в Набережных Челнах", "16", "Набережные Челны"),
            ("В Ростове-на-Дону снова нет света", "61", "Ростов-на-Дону"),
            ("Старом Осколе закрыли поликлинику", "31", "Старый Оскол"),
            ("Жители Свердловской области жалуются", "66", None),
            ("Саратовские дороги хуже всех", "64", "Саратов"),
            ("Энгельс-2, нет воды", "64", "Энгельс"),
            ("в Н.Новгороде опять пробки", "52", "Нижний Новгород"),
            ("в энгельсе нет воды", "64", "Энгельс"),
        ],
    )
    def test_every_case_form_matches(self, text: str, code: str, city: str | None) -> None:
        assert resolve(text) == (code, city)


class TestColloquialNames:
    @pytest.mark.parametrize(
        ("text", "code"),
        [
            ("Питер, Невский, опять раскопали", "78"),
            ("Екб: на Уралмаше яма", "66"),
            ("В Ёбурге дороги разбиты", "66"),
            ("В Нижнем нет автобусов вечером", "52"),
            ("В Прикамье снегопад, дороги не чистят", "59"),
            ("Кузбасс задыхается от угольной пыли", "42"),
            ("Югра: отключили отопление", "86"),
            ("Башкирия, Стерлитамак: нет воды", "02"),
            ("РТ, дороги в районах ужасные", "16"),
            ("Подмосковье, Балашиха, мусор", "50"),
            ("Ленобласть, Мурино, школ не хватает", "47"),
            ("Москвичи, как же бесят самокаты", "77"),
            ("Нижний, автобус 40 сократили", "52"),
            ("Астрахань, улица Савушкина 6 — нет воды", "30"),
            ("Ангарск 22 мкр, во дворе сломана горка", "38"),
        ],
    )
    def test_names_people_use(self, text: str, code: str) -> None:
        assert resolve(text)[0] == code


class TestAmbiguity:
    def test_ambiguous_town_resolved_by_hint(self) -> None:
        assert resolve("В Кировске нет света", hint="Подслушано Апатиты")[0] == "51"
        assert resolve("В Кировске нет света", hint="Кировск | Ленобласть")[0] == "47"

    def test_ambiguous_town_resolved_by_context(self) -> None:
        assert resolve("Железногорск Красноярского края: нет воды")[0] == "24"

    def test_hint_decides_when_the_text_names_no_place(self) -> None:
        assert resolve("Нет воды третий день", hint="Подслушано Тольятти") == ("63", "Тольятти")
        assert resolve("Нет воды третий день", hint_region="64")[0] == "64"

    def test_no_place_no_region(self) -> None:
        assert resolve("Нет воды третий день, сколько можно") == (None, None)


class TestFalseFriends:
    @pytest.mark.parametrize(
        "text",
        [
            "Нижний этаж затопило",
            "ул. Энгельса, яма у дома",
            "на Гагарина, 42 не горят фонари",
            "Мирный протест у администрации",
            "На Заречной выселяют аварийный дом",
            "Московское шоссе стоит",
            "Нефтяное пятно на Оби",
            "на Карла Маркса маршрутка пропала",
            "в парке Горького сломали лавочки",
            "В деревне Марьино закрыли школу",
            "на бульваре Курчатова месяц нет освещения",
            "у проспекта Кирова опять авария",
        ],
    )
    def test_common_words_and_streets_are_not_towns(self, text: str) -> None:
        assert resolve(text)[0] is None

    def test_villages_after_a_marker_and_districts_of_a_region(self) -> None:
        assert resolve("Нет связи в с. Байкит уже 2 недели")[0] == "24"
        assert resolve("В деревне Заречье Вологодского района нет связи")[0] == "35"
        assert resolve("В поселке Октябрьский Архангельской области закрыли школу")[0] == "29"

    def test_hint_outweighs_a_street_or_a_destination(self) -> None:
        assert resolve("на Орджоникидзе дорогу перекопали", hint="Типичный Саратов")[0] == "64"
        assert resolve("Ищу попутчиков до Москвы на пятницу", hint="Подслушано Воронеж")[0] == "36"

    def test_first_named_town_wins_over_comparisons(self) -> None:
        assert resolve("Хабаровск, рыба на рынке стоит как в Москве")[0] == "27"


def test_a_truncated_cache_file_is_rebuilt_not_a_failed_start(monkeypatch: pytest.MonkeyPatch) -> None:
    # A service killed while another wrote the cache must still start (and leave a whole file).
    cache = Path(str(resources.files("classifier").joinpath("data/gazetteer.joblib")))
    original = cache.read_bytes()
    whole = joblib.load(io.BytesIO(original))["gazetteer"]
    builds: list[object] = []
    monkeypatch.setattr(Gazetteer, "build", lambda places: builds.append(places) or whole)  # (the real one: ~20 s)
    try:
        cache.write_bytes(original[: len(original) // 3])
        rebuilt = default_gazetteer.__wrapped__()
        assert builds and rebuilt.resolve(analyze("В Саратове яма"), hint=None).code == "64"
        assert joblib.load(cache)["fingerprint"]  # whole again, and renamed into place
        assert not list(cache.parent.glob(f".{cache.name}.*.tmp"))
    finally:
        cache.write_bytes(original)
