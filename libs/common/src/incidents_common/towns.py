"""The towns and cities of the Russian Federation: region, district, OKTMO, time zone, coordinates.

Shared reference data beside `incidents_common.regions`: the classifier's gazetteer names every town,
routing keeps a town's own time zone for deadlines, the gateway's Open311 gives a town's coordinates.
`data/ru-towns.csv` is derived from HFLabs' «Города России» (CC BY-SA 4.0, see data/README.md) by
`python -m incidents_common.towns derive ru-cities.csv > ru-towns.csv`; it is read once per process.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from incidents_common.regions import REGIONS

COLUMNS = (
    "region_code",
    "name",
    "district",
    "oktmo",
    "utc_offset",
    "timezone",
    "latitude",
    "longitude",
    "population",
)

# A zone of each offset in use in Russia, for a town whose offset differs from its region's zone.
ZONE_OF_OFFSET: dict[int, str] = {
    2: "Europe/Kaliningrad",
    3: "Europe/Moscow",
    4: "Europe/Samara",
    5: "Asia/Yekaterinburg",
    6: "Asia/Omsk",
    7: "Asia/Novosibirsk",
    8: "Asia/Irkutsk",
    9: "Asia/Yakutsk",
    10: "Asia/Vladivostok",
    11: "Asia/Magadan",
    12: "Asia/Kamchatka",
}
# Regions spanning several zones: the tz database's own zone for the part of the region that
# keeps that offset (zone1970.tab: Ust-Nera "Oymyakonsky", Srednekolymsk "Sakha (E), N Kuril Is").
ZONE_IN_REGION: dict[tuple[str, int], str] = {
    ("14", 10): "Asia/Ust-Nera",
    ("14", 11): "Asia/Srednekolymsk",
}
ZONE_OF_DISTRICT: dict[tuple[str, str], str] = {
    ("65", "Северо-Курильский район"): "Asia/Srednekolymsk",
}
DISTRICT_TYPES = {"р-н": "район", "у": "улус"}


@dataclass(frozen=True, slots=True)
class Town:
    region_code: str  # two-digit ФИАС/ГАР code, as in incidents_common.regions
    name: str  # as written: «Сергиев Посад», «Петропавловск-Камчатский», «Москва»
    district: str | None  # «Вохомский район», «Намский улус», «городской округ Ялта»; None: a town of its own
    oktmo: str
    utc_offset: str  # «UTC+9», as in the source
    timezone: str  # IANA zone whose offset is utc_offset
    latitude: float
    longitude: float
    population: int


def fold(name: str) -> str:
    """The key a name is looked up by: lower case, ё as е, single spaces."""
    return " ".join(name.lower().replace("ё", "е").split())


def offset_hours(utc_offset: str) -> int:
    """«UTC+9» → 9 (the source has whole hours only)."""
    text = utc_offset.strip().upper()
    if not text.startswith("UTC") or not text[3:]:
        raise ValueError(f"not a UTC offset: {utc_offset!r}")
    return int(text[3:])


def current_offset_hours(zone: str, when: datetime | None = None) -> float:
    offset = ZoneInfo(zone).utcoffset(when or datetime.now(UTC))
    return offset.total_seconds() / 3600 if offset is not None else 0.0


def iana_timezone(region_code: str, utc_offset: str, district: str | None = None) -> str:
    """The IANA zone of a town given as «UTC+N»: its region's zone when the offsets agree, else the
    tz database's zone for that part of the region, else a zone with that offset in Russia."""
    hours = offset_hours(utc_offset)
    special = ZONE_OF_DISTRICT.get((region_code, district or ""))
    if special and current_offset_hours(special) == hours:
        return special
    region = REGIONS.get(region_code)
    if region is not None and current_offset_hours(region.timezone) == hours:
        return region.timezone
    zone = ZONE_IN_REGION.get((region_code, hours)) or ZONE_OF_OFFSET.get(hours)
    if zone is None:
        raise ValueError(f"no Russian time zone with offset {utc_offset}")
    return zone


# -- derivation from HFLabs' ru-cities.csv -------------------------------------------------------


def _source_name(row: dict[str, str]) -> str:
    # A town inside another's urban okrug is the settlement (Алупка in Ялта); some rows have the
    # town only in `settlement` (Урус-Мартан) or only as the okrug (Московская обл, г Клин);
    # a federal city is its region (Москва).
    for name in (row["settlement"], row["city"]):
        if name:
            return name
    if row["area_type"] == "г" and row["area"]:
        return row["area"]
    return row["region"]


def _source_district(row: dict[str, str], name: str) -> str | None:
    if row["settlement"] and row["city"] and row["city"] != name:
        return f"городской округ {row['city']}"
    area, kind = row["area"], row["area_type"]
    if not area or area == name:
        return None
    if kind == "г":
        return f"городской округ {area}"
    return f"{area} {DISTRICT_TYPES.get(kind, kind)}".strip()


def derive(source: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """The rows of ru-towns.csv from the rows of HFLabs' ru-cities.csv."""
    out: list[dict[str, str]] = []
    for row in source:
        code = row["kladr_id"][:2]  # KLADR's first two digits are the ФИАС/ГАР region code
        if code not in REGIONS:
            raise ValueError(f"{row['address']}: region code {code} is not in incidents_common.regions")
        name = _source_name(row)
        district = _source_district(row, name)
        out.append(
            {
                "region_code": code,
                "name": name,
                "district": district or "",
                "oktmo": row["oktmo"],
                "utc_offset": row["timezone"],
                "timezone": iana_timezone(code, row["timezone"], district),
                "latitude": row["geo_lat"],
                "longitude": row["geo_lon"],
                "population": row["population"] or "0",
            }
        )
    out.sort(key=lambda r: (r["region_code"], fold(r["name"])))
    return out


# -- the table ------------------------------------------------------------------------------------


def _parse(rows: Iterable[dict[str, str]]) -> Iterator[Town]:
    for row in rows:
        yield Town(
            region_code=row["region_code"],
            name=row["name"],
            district=row["district"] or None,
            oktmo=row["oktmo"],
            utc_offset=row["utc_offset"],
            timezone=row["timezone"],
            latitude=float(row["latitude"]),
            longitude=float(row["longitude"]),
            population=int(row["population"] or 0),
        )


@lru_cache(maxsize=1)
def all_towns() -> tuple[Town, ...]:
    """Every town of the table, sorted by region code and name."""
    text = resources.files("incidents_common").joinpath("data/ru-towns.csv").read_text(encoding="utf-8")
    return tuple(_parse(csv.DictReader(io.StringIO(text))))


@lru_cache(maxsize=1)
def _by_region_and_name() -> dict[tuple[str, str], Town]:
    index: dict[tuple[str, str], Town] = {}
    for town in all_towns():
        key = (town.region_code, fold(town.name))
        # Two towns of one name in a region (Ялта the okrug, Ялта the town): the larger is meant.
        if key not in index or town.population > index[key].population:
            index[key] = town
    return index


@lru_cache(maxsize=1)
def _by_name() -> dict[str, tuple[Town, ...]]:
    index: dict[str, list[Town]] = {}
    for town in all_towns():
        bucket = index.setdefault(fold(town.name), [])
        if all(t.region_code != town.region_code for t in bucket):
            bucket.append(town)
    return {k: tuple(sorted(v, key=lambda t: -t.population)) for k, v in index.items()}


def find_town(region_code: str | None, name: str | None) -> Town | None:
    """The town of this name in this region (case- and ё-insensitive, «г.»/«город» ignored), or None."""
    if not region_code or not name:
        return None
    key = fold(name)
    for prefix in ("г. ", "г ", "город "):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return _by_region_and_name().get((region_code, key))


def towns_named(name: str) -> tuple[Town, ...]:
    """Every town of this name, one per region, the most populous first."""
    return _by_name().get(fold(name), ())


def town_timezone(region_code: str | None, name: str | None) -> str | None:
    """The IANA zone of a town the table knows in its region, else None."""
    town = find_town(region_code, name)
    return town.timezone if town else None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "derive":
        sys.stderr.write("usage: python -m incidents_common.towns derive path/to/ru-cities.csv > ru-towns.csv\n")
        return 2
    with Path(args[1]).open(encoding="utf-8", newline="") as source:
        rows = derive(csv.DictReader(source))
    writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
