"""Analytics: shares, percentiles, overdue, trend, a rating fair to small numbers, CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from api_gateway.analytics.service import percentile
from api_gateway.testing import Gateway
from incidents_common.events import IncidentCreated, IncidentEscalated, IncidentStatus
from incidents_common.testing import T0, incident_snapshot


def _answered(incident_id: str, region: str, minutes: float, *, on_time: bool = True, **kw: object) -> IncidentCreated:
    created = T0 + timedelta(days=int(incident_id.rsplit("-", 1)[-1]) % 3)
    answered = created + timedelta(minutes=minutes)
    due = answered + timedelta(minutes=1) if on_time else answered - timedelta(minutes=1)
    snap = incident_snapshot(
        incident_id,
        region=region,
        status=IncidentStatus.answered,
        created_at=created,
        first_response_at=answered,
        first_response_due=due,
        **kw,  # type: ignore[arg-type]
    )
    return IncidentCreated(incident=snap, post_id=f"post-{incident_id}")


def _unanswered(incident_id: str, region: str) -> IncidentCreated:
    snap = incident_snapshot(
        incident_id, region=region, created_at=T0, first_response_due=T0 + timedelta(hours=1), department="dep-77-a"
    )
    return IncidentCreated(incident=snap, post_id=f"post-{incident_id}")


async def _seed(gw: Gateway) -> None:
    # 63: one incident answered in four minutes. 64: 40 incidents, 36 on time. 77: 20, half on time.
    events = [_answered("s-0", "63", 4)]
    events += [_answered(f"b-{n}", "64", 60 + n, on_time=n < 36) for n in range(40)]
    events += [
        _answered(f"c-{n}", "77", 30, on_time=n % 2 == 0, department="dep-77-b" if n < 10 else "dep-77-a")
        for n in range(20)
    ]
    events += [_unanswered(f"u-{n}", "77") for n in range(2)]
    await gw.feed(*events)
    await gw.feed(
        IncidentEscalated(
            incident=incident_snapshot("u-0", region="77", created_at=T0, department="dep-77-a"),
            level=1,
            reason="просрочка",
        )
    )


class TestRating:
    async def test_one_fast_answer_does_not_top_the_table(self, gw: Gateway) -> None:
        await _seed(gw)
        rating = (await gw.client.get("/v1/analytics/rating", headers=gw.headers("federal"))).json()
        order = [e["key"] for e in rating["entries"]]
        assert order == ["64", "63", "77"]
        by_key = {e["key"]: e for e in rating["entries"]}
        assert by_key["63"]["share_answered_on_time"] == 1.0  # raw share is the best …
        assert by_key["63"]["provisional"] is True  # … but it is one incident
        p0 = rating["prior_mean"]
        assert p0 == round((1 + 36 + 10) / 63, 4)
        m = rating["prior_weight"]
        assert by_key["64"]["score"] == round((36 + m * p0) / (40 + m), 4)

    async def test_bodies_inside_a_region_for_its_admin(self, gw: Gateway) -> None:
        await _seed(gw)
        rating = (
            await gw.client.get("/v1/analytics/rating", params={"level": "department"}, headers=gw.headers("admin77"))
        ).json()
        assert {e["key"] for e in rating["entries"]} == {"dep-77-a", "dep-77-b"}
        assert sum(e["incidents"] for e in rating["entries"]) == 22


class TestSummary:
    async def test_shares_percentiles_overdue_and_escalations(self, make_gateway, database_url: str) -> None:
        async with make_gateway(database_url=database_url) as gw:
            await _seed(gw)
            body = (await gw.client.get("/v1/analytics/summary", headers=gw.headers("federal"))).json()
            groups = {g["key"]: g for g in body["groups"]}
            r64 = groups["64"]
            assert (r64["incidents"], r64["answered"], r64["answered_on_time"]) == (40, 40, 36)
            assert r64["share_answered_on_time"] == 0.9
            # Region 64 answered in 60, 61, …, 99 minutes (40 values, sorted; index i holds 60 + i).
            # Median: position (40 - 1) × 0.5 = 19.5, between 79 and 80: 79 + 0.5 × (80 - 79) = 79.5.
            # p90: position (40 - 1) × 0.9 = 35.1, between 95 and 96: 95 + 0.1 × (96 - 95) = 95.1.
            assert r64["median_first_response_minutes"] == 79.5
            assert r64["p90_first_response_minutes"] == 95.1
            r77 = groups["77"]
            assert r77["share_answered"] == round(20 / 22, 4)
            assert r77["overdue_now"] == 2 and r77["escalations"] == 1
            assert body["total"]["incidents"] == 63

    async def test_by_category_trend_and_csv(self, gw: Gateway) -> None:
        await _seed(gw)
        headers = gw.headers("admin64")
        by_category = (await gw.client.get("/v1/analytics/summary", params={"by": "category"}, headers=headers)).json()
        assert [(g["key"], g["name"]) for g in by_category["groups"]] == [("roads", "Дороги")]
        trend = (await gw.client.get("/v1/analytics/trend", headers=headers)).json()
        assert [p["created"] for p in trend] == [14, 13, 13]
        assert sum(p["answered_on_time"] for p in trend) == 36
        period = {"from": (T0 + timedelta(days=1)).isoformat(), "to": (T0 + timedelta(days=2)).isoformat()}
        window = (await gw.client.get("/v1/analytics/summary", params=period, headers=headers)).json()
        assert window["total"]["incidents"] == 13
        exported = await gw.client.get("/v1/analytics/export.csv", headers=headers)
        rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert rows[0]["key"] == "64" and rows[0]["incidents"] == "40"


def test_percentile_interpolates_between_the_two_nearest_values() -> None:
    """Worked by hand: sort the n values, position = (n - 1) × q, and between the values at the two
    indexes around the position go the fraction of the position past the lower index; 2 decimals."""
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.9) == 5.0  # one value: position 0 × 0.9 = 0
    # [1, 2, 3, 4], q 0.5: position 3 × 0.5 = 1.5 → 2 + 0.5 × (3 - 2) = 2.5.
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    # 1 … 10, q 0.9: position 9 × 0.9 = 8.1 → 9 + 0.1 × (10 - 9) = 9.1.
    assert percentile([float(n) for n in range(1, 11)], 0.9) == 9.1
    # Unsorted input [40, 15, 50, 20, 35] is sorted first: [15, 20, 35, 40, 50].
    unsorted = [40.0, 15.0, 50.0, 20.0, 35.0]
    assert percentile(unsorted, 0.4) == 29.0  # position 4 × 0.4 = 1.6 → 20 + 0.6 × (35 - 20) = 29
    assert percentile(unsorted, 0.9) == 46.0  # position 4 × 0.9 = 3.6 → 40 + 0.6 × (50 - 40) = 46
    assert percentile(unsorted, 0.0) == 15.0  # the smallest
    assert percentile(unsorted, 1.0) == 50.0  # the largest
    # [10, 20, 30], q 1/3: position 2 × 1/3 = 0.667 → 10 + 0.667 × 10 = 16.666… → 16.67 (rounded).
    assert percentile([10.0, 20.0, 30.0], 1 / 3) == 16.67
