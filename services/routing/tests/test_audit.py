"""The tamper-evident audit log (issue 14, part 4): hash chains per incident, daily roots per region,
the endpoints and the CLI that check them, and what they say when a row is rewritten behind routing's back."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from incidents_common.db import Database, OutboxMessage, writes_of
from incidents_common.identity import ActingUser
from incidents_common.migrations import upgrade
from incidents_common.testing import ServiceAuth
from routing import cli
from routing.incidents import audit
from routing.incidents.chain import GENESIS, chain, daily_root, verify
from routing.incidents.writes import route_posts
from routing.models import TABLES

T = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def _entries(n: int) -> list[dict[str, Any]]:
    entries, head = [], None
    for seq in range(1, n + 1):
        entry = {"incident_id": "i1", "seq": seq, "at": T + timedelta(minutes=seq), "actor": "routing",
                 "action": "created" if seq == 1 else "take", "from_status": None, "to_status": "new",
                 "comment": f"запись {seq}"}  # fmt: skip
        head = chain(head, entry)
        entries.append(entry)
    return entries


class TestChain:
    def test_a_chain_holds_and_its_first_entry_follows_genesis(self) -> None:
        entries = _entries(3)
        assert entries[0]["prev_hash"] == GENESIS
        assert [e["prev_hash"] for e in entries[1:]] == [e["hash"] for e in entries[:-1]]
        check = verify("i1", list(reversed(entries)), entries[-1]["hash"])
        assert check.ok and check.entries == 3 and check.broken_at is None

    def test_the_hash_is_sha256_of_the_previous_hash_and_the_fields(self) -> None:
        (entry,) = _entries(1)
        fields = [GENESIS, "i1", 1, "2026-12-03T10:01:00.000000+00:00", "routing", "created", None, "new", "запись 1"]
        assert entry["hash"] == hashlib.sha256(orjson.dumps(fields)).hexdigest()

    @pytest.mark.parametrize(
        ("tamper", "broken_at", "reason"),
        [
            (lambda es: es[1].update(comment="ответ переписан"), 2, "запись изменена"),
            (lambda es: es[1].update(at=T), 2, "Содержимое записи не соответствует её хешу"),
            (lambda es: es.pop(1), 2, "Запись 2 отсутствует (следующая — 3)"),
            (lambda es: es[2].update(prev_hash=GENESIS), 3, "Предыдущий хеш записи не совпадает"),
            (lambda es: es.pop(), None, "Головной хеш цепочки инцидента"),
        ],
    )
    def test_a_rewritten_or_removed_entry_is_found(self, tamper: Any, broken_at: int | None, reason: str) -> None:
        entries = _entries(3)
        head = entries[-1]["hash"]
        tamper(entries)
        check = verify("i1", entries, head)
        assert not check.ok
        assert check.broken_at == broken_at
        assert reason in (check.reason or "")

    def test_a_daily_root_depends_on_every_hash_and_its_order(self) -> None:
        hashes = [e["hash"] for e in _entries(3)]
        assert daily_root(hashes) == daily_root(list(hashes))
        assert daily_root(hashes) != daily_root(list(reversed(hashes)))
        assert daily_root(hashes) != daily_root(hashes[:2])


async def _incident(client: httpx.AsyncClient, make_post: Any, post_id: str, **kw: Any) -> str:
    app = client.app  # type: ignore[attr-defined]
    async with app.state.db.transaction() as session:
        (incident,) = await route_posts(
            writes_of(session),
            [make_post(post_id, "Огромная яма на дороге у остановки", **kw)],
            settings=app.state.settings,
        )
    assert incident is not None
    return str(incident.id)


async def _sql(client: httpx.AsyncClient, statement: str, **params: Any) -> None:
    async with client.app.state.db.engine.begin() as connection:  # type: ignore[attr-defined]
        await connection.execute(text(statement), params)


class TestOverTheApi:
    async def test_every_action_is_chained_and_a_rewritten_reply_is_found(
        self, client: httpx.AsyncClient, make_post: Any
    ) -> None:
        incident_id = await _incident(client, make_post, "p1")
        for body in (
            {"action": "take"},
            {"action": "reply", "reply_text": "Яму заделаем до пятницы", "reply_url": "https://vk.com/wall-1_2"},
        ):
            assert (await client.post(f"/v1/incidents/{incident_id}/actions", json=body)).status_code == 200
        checked = (await client.get(f"/v1/incidents/{incident_id}/audit")).json()
        history = (await client.get(f"/v1/incidents/{incident_id}")).json()["history"]
        assert checked["ok"] and checked["entries"] == len(history) >= 4 and checked["broken_at"] is None

        # Someone with database access makes the official's answer look better.
        reply_seq = next(h["seq"] for h in history if h["action"] == "reply")
        await _sql(
            client,
            "UPDATE routing_incident_history SET comment = 'Яму заделали' WHERE incident_id = :i AND seq = :s",
            i=incident_id,
            s=reply_seq,
        )
        checked = (await client.get(f"/v1/incidents/{incident_id}/audit")).json()
        assert not checked["ok"] and checked["broken_at"] == reply_seq
        assert "запись изменена" in checked["reason"]

    async def test_another_regions_incident_answers_like_a_missing_one(
        self, client: httpx.AsyncClient, make_post: Any
    ) -> None:
        incident_id = await _incident(client, make_post, "p1")
        stranger = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=client.app),  # type: ignore[attr-defined]
            base_url="http://test",
            auth=ServiceAuth(
                "routing", identity="api-gateway", user=ActingUser("key:a77", "regional_admin", frozenset({"77"}))
            ),
        )
        async with stranger:
            foreign = await stranger.get(f"/v1/incidents/{incident_id}/audit")
            missing = await stranger.get("/v1/incidents/no-such-incident/audit")
            roots = await stranger.get("/v1/audit/roots")
        assert foreign.status_code == missing.status_code == 404
        assert foreign.json()["title"] == missing.json()["title"]
        assert roots.status_code == 200 and roots.json() == []
        anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=client.app), base_url="http://test")  # type: ignore[attr-defined]
        async with anonymous:
            assert (await anonymous.get(f"/v1/incidents/{incident_id}/audit")).status_code == 401
            assert (await anonymous.get("/v1/audit/roots")).status_code == 401

    async def test_a_day_is_sealed_once_published_and_a_rewrite_of_it_shows(
        self, client: httpx.AsyncClient, make_post: Any
    ) -> None:
        incident_id = await _incident(client, make_post, "p1")
        db = client.app.state.db  # type: ignore[attr-defined]
        day = datetime.now(UTC).date()
        later = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=2)
        async with db.transaction() as session:
            sealed = await audit.seal_days(session, now=later)
        assert [(r.region_code, r.day, r.entries) for r in sealed] == [("64", day, 2)]
        async with db.transaction() as session:
            assert await audit.seal_days(session, now=later) == []  # sealed once
        async with db.transaction() as session:
            published = [
                orjson.loads(row.payload)
                for row in (await session.exec(OutboxMessage.__table__.select())).all()  # type: ignore[attr-defined,call-overload]
                if row.subject == "incidents.v1.incident.audit_root.64"
            ]
        assert [(p["id"], p["data"]["root"]) for p in published] == [
            (f"audit-root-64-{day.isoformat()}", sealed[0].root)
        ]

        roots = (await client.get("/v1/audit/roots", params={"region": "64"})).json()
        assert [(r["day"], r["ok"], r["entries"]) for r in roots] == [(day.isoformat(), True, 2)]
        # A rewrite that keeps the incident's own chain consistent (every hash recomputed, the head
        # too) still changes the day's root that was published.
        async with db.transaction() as session:
            rows = (
                (
                    await session.exec(  # type: ignore[call-overload]
                        audit.HISTORY.select()
                        .where(audit.HISTORY.c.incident_id == incident_id)
                        .order_by(audit.HISTORY.c.seq)
                    )
                )
                .mappings()
                .all()
            )
        head = None
        for row in rows:
            entry = dict(row)
            if entry["seq"] == 2:
                entry["comment"] = "назначено в срок"
            head = chain(head, entry)
            rewrite = "UPDATE routing_incident_history SET comment = :c, prev_hash = :p, hash = :h WHERE id = :i"
            await _sql(client, rewrite, c=entry["comment"], p=entry["prev_hash"], h=entry["hash"], i=entry["id"])
        await _sql(client, "UPDATE routing_incidents SET chain_head = :h WHERE id = :i", h=head, i=incident_id)
        assert (await client.get(f"/v1/incidents/{incident_id}/audit")).json()["ok"]
        roots = (await client.get("/v1/audit/roots", params={"region": "64", "day": day.isoformat()})).json()
        assert [(r["ok"], r["root"] == sealed[0].root) for r in roots] == [(False, True)]


class TestCli:
    async def test_audit_verify_says_where_it_breaks(
        self, client: httpx.AsyncClient, make_post: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        first = await _incident(client, make_post, "p1")
        await _incident(client, make_post, "h1", category="healthcare")
        url = client.app.state.settings.resolved_database_url()  # type: ignore[attr-defined]
        assert await cli._run(cli._parser().parse_args(["--database-url", url, "audit-verify"])) == 0
        assert "2 incident chains and 0 daily roots checked: 0 broken" in capsys.readouterr().err

        await _sql(client, "DELETE FROM routing_incident_history WHERE incident_id = :i AND seq = 1", i=first)
        assert await cli._run(cli._parser().parse_args(["--database-url", url, "audit-verify"])) == 1
        out, err = capsys.readouterr()
        (line,) = [json.loads(x) for x in out.splitlines()]
        assert line == {"incident_id": first, "broken_at": 1, "reason": "Запись 1 отсутствует (следующая — 2)"}
        assert "1 broken" in err

    def test_a_missing_or_foreign_database_is_an_error_not_an_all_clear(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        missing = tmp_path / "routng.db"  # a typo
        assert cli.main(["--database-url", f"sqlite+aiosqlite:///{missing}", "audit-verify"]) == 2
        assert f"no routing database at {missing}" in capsys.readouterr().err
        assert not missing.exists(), "checking must not create it"
        empty = tmp_path / "empty.db"
        empty.touch()
        assert cli.main(["--database-url", f"sqlite+aiosqlite:///{empty}", "audit-verify"]) == 2
        assert "has no routing tables" in capsys.readouterr().err
        with pytest.raises(SystemExit) as exit_:
            cli.main(["audit-verify", "--region", "99"])
        assert exit_.value.code == 2 and "unknown region code '99'" in capsys.readouterr().err

    def test_help(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit):
            cli.main(["audit-verify", "--help"])
        assert "--incident" in capsys.readouterr().out


async def test_the_upgrade_chains_the_entries_written_before_it(tmp_path: Path) -> None:
    """A database of the previous release (revision 0002) with history: upgraded, every chain holds."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'routing.db'}", TABLES)
    try:
        await upgrade(db, "0002")
        async with db.engine.begin() as connection:
            for incident_id in ("i1", "i2"):
                await connection.execute(
                    text("INSERT INTO routing_incidents (id, region_code, region_name, category, urgency, status, "
                         "severity, title, summary, origin_post_id, post_ids, author_keys, complainants, total_reach, "
                         "federal_fallback, escalation_level, history_seq, flagged, needs_review, review_reasons, "
                         "possibly_critical, redirect_chain, created_at, updated_at, last_post_at) VALUES (:i, '64', "
                         "'Саратовская область', 'roads', 'normal', 'new', 1, 'Яма', 'Яма', 'p', '[]', '[]', 1, 0, "
                         "0, 0, 2, 0, 0, '[]', 0, '[]', :t, :t, :t)"),
                    {"i": incident_id, "t": T.replace(tzinfo=None)},
                )  # fmt: skip
                for seq in (1, 2):
                    await connection.execute(
                        text("INSERT INTO routing_incident_history (id, incident_id, seq, at, actor, action, "
                             "comment) VALUES (:id, :i, :s, :t, 'routing', 'created', 'старая запись')"),
                        {"id": f"{incident_id}-{seq}", "i": incident_id, "s": seq,
                         "t": (T + timedelta(minutes=seq)).replace(tzinfo=None)},
                    )  # fmt: skip
        await upgrade(db)
        async with db.transaction() as session:
            checks = [await audit.check_incident(session, incident_id) for incident_id in ("i1", "i2")]
        assert [(c.ok, c.entries) for c in checks if c is not None] == [(True, 2), (True, 2)]
    finally:
        await db.dispose()


async def test_chains_hold_on_sqlite_and_postgresql(any_db: Database, settings: Any, make_post: Any) -> None:
    """Hashes are taken of the time as written; each database must give back the same microsecond."""
    posts = [
        make_post("p1", "Огромная яма на дороге у остановки на Ленина"),
        make_post("p2", "Яма на дороге у остановки на Ленина, колесо пробил", author="a2"),
    ]
    async with any_db.transaction() as session:
        incidents = await route_posts(writes_of(session), posts, settings=settings)
    incident_id = next(i.id for i in incidents if i is not None)
    async with any_db.transaction() as session:
        check = await audit.check_incident(session, incident_id)
        hashes = await audit.day_hashes(session, datetime.now(UTC).date())
    assert check is not None and check.ok and check.entries >= 3, check
    assert len(hashes["64"]) >= check.entries
