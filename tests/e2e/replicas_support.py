"""What test_replicas.py needs besides the services: the posts it feeds (complaints in several regions
and categories, near-duplicates that belong to one incident, noise), a nats-server with the real service
users, PostgreSQL databases of one server, and a read of a stream's messages."""

from __future__ import annotations

import contextlib
import random
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import nats.js.errors
import orjson
from nats.aio.client import Client as NatsClient

from incidents_common.natsauth import prepare_local_nats
from incidents_common.processes import NatsServer, asyncpg_url

# ---------------------------------------------------------------------------------------------
# The posts
# ---------------------------------------------------------------------------------------------

# Region code -> the city as the text names it ("В Саратове") and as a heading ("Саратов").
CITIES: dict[str, tuple[str, str]] = {
    "64": ("Саратове", "Саратов"),
    "16": ("Казани", "Казань"),
    "54": ("Новосибирске", "Новосибирск"),
    "66": ("Екатеринбурге", "Екатеринбург"),
    "63": ("Самаре", "Самара"),
    "52": ("Нижнем Новгороде", "Нижний Новгород"),
}
STREETS = ("Ленина", "Гагарина", "Кирова", "Чапаева", "Пушкина", "Горького")
PROBLEMS_PER_CATEGORY = 3  # per region, each at its own address: routing's address veto keeps them apart

# Per category, one complaint retold five ways. Each retelling keeps the problem's words and its
# address, so that routing clusters the retellings of one problem into one incident, and only them.
# (Checked against the shipped model: every retelling is a complaint of that category and region.)
RETELLINGS: dict[str, tuple[str, ...]] = {
    "roads": (
        "В {city} на улице {street}, дом {house} огромная яма на дороге, машины бьют колёса, никто не ремонтирует. "
        "Когда отремонтируют дорогу?",
        "Опять яма на дороге в {city}, улица {street}, дом {house}. Колёса бьют все машины, дорогу не ремонтируют!",
        "Присоединяюсь: в {city} на улице {street}, дом {house} яма на дороге, машины бьют колёса, дорогу никто "
        "не ремонтирует, примите меры.",
        "Жалоба: в {city} на улице {street}, дом {house} яма на дороге стала ещё больше, машины бьют колёса, "
        "дорогу не ремонтируют.",
        "Сколько можно ждать? В {city} на улице {street}, дом {house} яма на дороге, колёса бьют каждый день, "
        "дорогу не ремонтируют.",
    ),
    "waste": (
        "В {city} на улице {street}, дом {house} две недели не вывозят мусор, контейнеры переполнены, "
        "вонь на весь двор.",
        "Мусор не вывозят уже две недели! {city_name}, улица {street}, дом {house}: контейнеры переполнены, "
        "вонь во дворе.",
        "Жалоба: в {city} на улице {street}, дом {house} контейнеры переполнены, мусор не вывозят, "
        "вонь стоит во дворе.",
        "Присоединяюсь, в {city} на улице {street}, дом {house} мусор не вывозят две недели, переполнены все "
        "контейнеры, вонь.",
        "Регоператор, когда вывезут мусор? В {city} на улице {street}, дом {house} контейнеры переполнены, "
        "во дворе вонь.",
    ),
    "housing_utilities": (
        "В {city} на улице {street}, дом {house} третий день нет горячей воды, управляющая компания не отвечает "
        "на звонки.",
        "Нет горячей воды уже третий день! {city_name}, улица {street}, дом {house}, управляющая компания трубку "
        "не берёт.",
        "В {city} на улице {street}, дом {house} так и нет горячей воды, третий день, управляющая компания молчит "
        "и не отвечает.",
        "Соседи подтверждают: в {city} на улице {street}, дом {house} нет горячей воды третий день, управляющая "
        "компания не отвечает.",
        "Когда дадут горячую воду? В {city} на улице {street}, дом {house} её нет третий день, управляющая компания "
        "не отвечает.",
    ),
    "stray_animals": (
        "В {city} на улице {street} у дома {house} стая бездомных собак бросается на детей, нужен отлов собак срочно.",
        "Стая бездомных собак снова бросается на детей в {city}, улица {street}, дом {house}. Где отлов собак?",
        "В {city} на улице {street}, дом {house} бездомные собаки стаей бросаются на детей и прохожих, просим "
        "отлов собак.",
        "Страшно выпускать детей: в {city} на улице {street} у дома {house} стая бездомных собак бросается на детей. "
        "Отлов собак нужен!",
        "Опять стая бездомных собак у дома {house} на улице {street} в {city} бросается на детей, когда будет "
        "отлов собак?",
    ),
}

# Posts that are no complaint: the classifier says so and routing skips them.
NOISE = (
    "Какая сегодня прекрасная погода, гуляли с детьми в парке весь день {n}",
    "Поздравляю всех с праздником, счастья и здоровья вам и вашим близким! {n}",
    "Продаю детский велосипед в хорошем состоянии, недорого, пишите в личку {n}",
    "Посмотрели вчера новый фильм в кино, всем советую, очень понравилось {n}",
    "Испекла сегодня пирог с яблоками по бабушкиному рецепту, получилось вкусно {n}",
    "Наша команда выиграла матч, поздравляем ребят с победой! {n}",
)
NOISE_ROUNDS = 10


@dataclass(frozen=True)
class Problem:
    """One real problem: the posts about it (its retellings) belong in one incident."""

    key: str
    region_code: str
    category: str
    external_ids: tuple[str, ...]


@dataclass
class Dataset:
    posts: list[dict[str, Any]]  # in the order they are sent, as POST /v1/posts takes them
    problems: list[Problem]
    noise: list[str] = field(default_factory=list)  # external ids

    @property
    def complaints(self) -> list[str]:
        return [external_id for problem in self.problems for external_id in problem.external_ids]


def build_dataset(seed: int = 12) -> Dataset:
    """Every region × category × PROBLEMS_PER_CATEGORY problems, each told one to five times, plus noise;
    shuffled, so that the retellings of one problem reach different batches (and replicas)."""
    rng = random.Random(seed)
    published_at = datetime.now(UTC).isoformat()
    posts: list[dict[str, Any]] = []
    problems: list[Problem] = []

    def post(external_id: str, text: str, author: int) -> dict[str, Any]:
        return {
            "source_type": "push",
            "external_id": external_id,
            "text": text,
            "published_at": published_at,
            "author": {"id": f"u{author}", "name": f"Житель {author}"},
        }

    for region_code, (city, city_name) in CITIES.items():
        for index, (category, retellings) in enumerate(RETELLINGS.items()):
            for k in range(PROBLEMS_PER_CATEGORY):
                street = STREETS[(index * PROBLEMS_PER_CATEGORY + k) % len(STREETS)]
                house = str(rng.randint(1, 120))
                key = f"{region_code}-{category}-{k}"
                told = retellings[: rng.randint(1, len(retellings))]
                external_ids = tuple(f"{key}-{n}" for n in range(len(told)))
                for n, (external_id, template) in enumerate(zip(external_ids, told, strict=True)):
                    text = template.format(city=city, city_name=city_name, street=street, house=house)
                    posts.append(post(external_id, text, author=len(posts) * 7 + n))
                problems.append(Problem(key, region_code, category, external_ids))
    noise: list[str] = []
    for n in range(NOISE_ROUNDS):
        for i, template in enumerate(NOISE):
            external_id = f"noise-{n}-{i}"
            posts.append(post(external_id, template.format(n=n), author=10_000 + len(noise)))
            noise.append(external_id)
    rng.shuffle(posts)
    return Dataset(posts, problems, noise)


# ---------------------------------------------------------------------------------------------
# NATS with the service users, and a reader for the test's own assertions
# ---------------------------------------------------------------------------------------------

READER = "test-reader"
# Services prefix their durables with nothing here: the users' grants name the plain durables.
SERVICE_USERS = ("collector", "classifier", "routing", "api-gateway")


@dataclass
class SecuredNats:
    server: NatsServer
    passwords: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def login(self, user: str) -> dict[str, Any]:
        """Settings fields that make a service log in as `user`."""
        return {"nats_url": self.url, "nats_user": user, "nats_password": self.passwords[user]}


@contextlib.contextmanager
def secured_nats(folder: Path) -> Iterator[SecuredNats]:
    """A nats-server with the generated config: every service user with its permissions (so replicas
    share a user exactly as deployed), plus an unrestricted reader that only the test uses to read the
    streams (no service user may read a stream outside its own durables)."""
    auth = prepare_local_nats(folder / "auth")
    config = auth.config_file.read_text(encoding="utf-8")
    reader_password = secrets.token_hex(16)
    users_end = config.rindex("\n        ]")
    reader_entry = f'\n        {{ user: "{READER}", password: "{reader_password}" }}'  # no permissions: all
    config = config[:users_end] + reader_entry + config[users_end:]
    config_file = folder / "nats-with-reader.conf"
    config_file.write_text(config, encoding="utf-8")
    server = NatsServer(folder / "jetstream", config_file=config_file).start()
    passwords = {user: auth.credentials[user].password for user in SERVICE_USERS}
    passwords[READER] = reader_password
    try:
        yield SecuredNats(server, passwords)
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def reader(secured: SecuredNats) -> AsyncIterator[NatsClient]:
    client = await nats.connect(secured.url, user=READER, password=secured.passwords[READER])
    try:
        yield client
    finally:
        await client.close()


@dataclass(frozen=True)
class StreamMessage:
    subject: str
    event: dict[str, Any]  # the CloudEvent as JSON


async def stream_count(client: NatsClient, stream: str) -> int:
    return int((await client.jetstream().stream_info(stream)).state.messages)


async def stream_messages(client: NatsClient, stream: str) -> list[StreamMessage]:
    """Every message the stream holds now, by sequence (read once it is quiet, so the list is final)."""
    js = client.jetstream()
    state = (await js.stream_info(stream)).state
    messages = []
    for sequence in range(state.first_seq, state.last_seq + 1) if state.messages else ():
        try:
            raw = await js.get_msg(stream, sequence)
        except nats.js.errors.NotFoundError:
            continue  # a deleted message leaves a gap in the sequence
        assert raw.subject is not None and raw.data is not None
        messages.append(StreamMessage(raw.subject, orjson.loads(raw.data)))
    assert len(messages) == state.messages, f"{stream}: read {len(messages)} of {state.messages} messages"
    return messages


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------


async def create_database(libpq_url: str, purpose: str) -> str:
    """A new, empty database on the session's server; its SQLAlchemy asyncpg URL."""
    import asyncpg  # type: ignore[import-untyped]

    name = f"replicas_{purpose}_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(libpq_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return asyncpg_url(libpq_url, name)
