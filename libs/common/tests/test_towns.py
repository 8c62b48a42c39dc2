from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from incidents_common.regions import REGIONS
from incidents_common.towns import (
    COLUMNS,
    all_towns,
    current_offset_hours,
    derive,
    find_town,
    iana_timezone,
    offset_hours,
    town_timezone,
    towns_named,
)

SOURCE = Path(__file__).resolve().parents[4] / "shared" / "data" / "ru-cities.csv"


class TestTable:
    def test_every_town_of_the_source_is_there(self) -> None:
        towns = all_towns()
        assert len(towns) == 1117
        assert len({(t.region_code, t.name) for t in towns}) == 1117

    def test_region_codes_are_the_projects(self) -> None:
        codes = {t.region_code for t in all_towns()}
        assert codes <= set(REGIONS)
        # the source predates 2022: no towns of the new regions
        assert codes.isdisjoint({"80", "81", "84", "85"})
        assert len(codes) == len(REGIONS) - 4

    def test_every_town_gets_a_zone_whose_offset_equals_its_column(self) -> None:
        now = datetime.now(UTC)
        wrong = [
            (t.name, t.utc_offset, t.timezone)
            for t in all_towns()
            if current_offset_hours(t.timezone, now) != offset_hours(t.utc_offset)
        ]
        assert wrong == []

    def test_zones_follow_the_region_where_offsets_agree(self) -> None:
        assert find_town("64", "Энгельс").timezone == "Europe/Saratov"  # type: ignore[union-attr]
        assert find_town("42", "Новокузнецк").timezone == "Asia/Novokuznetsk"  # type: ignore[union-attr]
        assert find_town("14", "Нерюнгри").timezone == "Asia/Yakutsk"  # type: ignore[union-attr]

    def test_a_region_with_several_zones(self) -> None:
        assert find_town("14", "Верхоянск").timezone == "Asia/Ust-Nera"  # type: ignore[union-attr]
        assert find_town("14", "Среднеколымск").timezone == "Asia/Srednekolymsk"  # type: ignore[union-attr]
        # tz database: the northern Kuril Islands keep Srednekolymsk's zone (same offset as Sakhalin)
        assert find_town("65", "Северо-Курильск").timezone == "Asia/Srednekolymsk"  # type: ignore[union-attr]
        assert find_town("65", "Холмск").timezone == "Asia/Sakhalin"  # type: ignore[union-attr]

    def test_coordinates_are_in_russia(self) -> None:
        for town in all_towns():
            assert 41.0 < town.latitude < 78.0, town
            assert 19.0 < town.longitude <= 180.0 or town.longitude < -168.0, town
            assert town.population > 0, town


class TestLookup:
    def test_a_small_town_with_all_its_fields(self) -> None:
        town = find_town("44", "Кологрив")
        assert town is not None
        assert town.name == "Кологрив"
        assert town.district == "Кологривский район"
        assert town.oktmo == "34612101001"
        assert town.population == 3314
        assert (round(town.latitude, 2), round(town.longitude, 2)) == (58.83, 44.32)
        assert town.timezone == "Europe/Moscow"

    @pytest.mark.parametrize("name", ["КОРОЛЁВ", "королев", "Королёв", "  королёв ", "г. Королёв", "город Королев"])
    def test_case_and_yo_insensitive(self, name: str) -> None:
        town = find_town("50", name)
        assert town is not None and town.name == "Королёв"

    def test_the_region_decides_between_namesakes(self) -> None:
        assert find_town("51", "Кировск").oktmo.startswith("47")  # type: ignore[union-attr]
        assert find_town("47", "Кировск").oktmo.startswith("41")  # type: ignore[union-attr]
        assert find_town("64", "Кировск") is None
        assert [t.region_code for t in towns_named("кировск")] == ["51", "47"]

    def test_quirks_of_the_source(self) -> None:
        assert find_town("20", "Урус-Мартан").district == "Урус-Мартановский район"  # type: ignore[union-attr]
        assert find_town("50", "Клин").district is None  # type: ignore[union-attr]  # the town is the okrug
        assert find_town("50", "Высоковск").district == "городской округ Клин"  # type: ignore[union-attr]
        assert find_town("91", "Алупка").district == "городской округ Ялта"  # type: ignore[union-attr]
        assert find_town("91", "Ялта").population > 70_000  # type: ignore[union-attr]
        assert find_town("14", "Среднеколымск").district == "Среднеколымский улус"  # type: ignore[union-attr]

    def test_federal_cities(self) -> None:
        for code, name in (("77", "Москва"), ("78", "Санкт-Петербург"), ("92", "Севастополь")):
            town = find_town(code, name)
            assert town is not None and town.population > 300_000 and town.district is None

    def test_unknown(self) -> None:
        assert find_town("64", "Нигдеград") is None
        assert find_town(None, "Энгельс") is None
        assert find_town("64", None) is None
        assert town_timezone("14", "Среднеколымск") == "Asia/Srednekolymsk"
        assert town_timezone("14", "Нигдеград") is None


class TestTimezoneConversion:
    def test_region_zone_when_offsets_agree(self) -> None:
        assert iana_timezone("63", "UTC+4") == "Europe/Samara"
        assert iana_timezone("30", "UTC+4") == "Europe/Astrakhan"

    def test_a_zone_of_that_offset_otherwise(self) -> None:
        assert iana_timezone("14", "UTC+10") == "Asia/Ust-Nera"
        assert iana_timezone("24", "UTC+8") == "Asia/Irkutsk"  # no such town; the offset's zone
        with pytest.raises(ValueError):
            iana_timezone("77", "UTC+1")
        with pytest.raises(ValueError):
            offset_hours("MSK+1")


@pytest.mark.skipif(not SOURCE.exists(), reason="HFLabs' ru-cities.csv is not beside the checkout")
def test_the_packaged_file_is_derived_from_the_source() -> None:
    with SOURCE.open(encoding="utf-8", newline="") as source:
        rows = derive(csv.DictReader(source))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    packaged = Path(__file__).resolve().parents[1] / "src" / "incidents_common" / "data" / "ru-towns.csv"
    assert packaged.read_text(encoding="utf-8") == buffer.getvalue()
