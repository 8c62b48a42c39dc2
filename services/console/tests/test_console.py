"""The console against a real gateway: who sees what, sign-in and sign-out, forms that cannot be forged,
errors shown with nothing lost, and the pages' content (clocks, evidence, priority, analytics)."""

from __future__ import annotations

import re
from datetime import timedelta

from api_gateway.auth.principal import Role
from console.gateway import Credentials, Gateway
from incidents_common.testing import surge_alert

from .conftest import NOW, Console

SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy")


async def test_every_page_needs_a_sign_in(console: Console) -> None:
    for path in ("/", "/incidents/inc-64-a", "/analytics", "/alerts", "/export/incidents.csv"):
        response = await console.client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/sign-in?next="), path
    # htmx asks for fragments: it is told where to go instead of getting the sign-in page inside the table.
    fragment = await console.client.get("/", headers={"HX-Request": "true"})
    assert fragment.status_code == 401 and fragment.headers["HX-Redirect"].startswith("/sign-in")
    live = await console.client.get("/live")
    assert live.status_code == 401


async def test_the_sign_in_page_names_an_icon_that_is_served(console: Console) -> None:
    page = await console.client.get("/sign-in")
    assert '<link rel="icon" href="/static/favicon.svg"' in page.text
    icon = await console.client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


async def test_a_wrong_key_is_refused_and_nothing_is_remembered(console: Console) -> None:
    response = await console.client.post("/sign-in", data={"method": "api_key", "api_key": "nope", "next": "/"})
    assert response.status_code == 401
    assert "не подошли" in response.text
    assert "console_session" not in response.headers.get("set-cookie", "")


async def test_a_regional_user_sees_only_their_region(console: Console) -> None:
    signed = await console.sign_in("admin64")
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    page = await console.client.get("/")
    assert page.status_code == 200
    assert "Яма на улице Ленина" in page.text and "Не вывозят мусор" in page.text
    assert "Сломан лифт" not in page.text  # region 77
    # Asking for region 77 explicitly shows nothing of it either: the gateway decides, not the console.
    other = await console.client.get("/incidents/inc-77-a")
    assert other.status_code == 404
    assert "Сломан лифт" not in other.text
    for header in SECURITY_HEADERS:
        assert header in page.headers


async def test_the_federal_user_sees_every_region(console: Console) -> None:
    await console.sign_in("federal")
    page = await console.client.get("/")
    assert "Сломан лифт" in page.text and "Яма на улице Ленина" in page.text
    assert "все регионы" in page.text


async def test_oauth_client_sign_in_and_sign_out_revokes_the_token(console: Console) -> None:
    client_id, secret = await console.gateway.client_credentials(Role.regional_admin, ["64"])
    response = await console.client.post(
        "/sign-in", data={"method": "client_credentials", "client_id": client_id, "client_secret": secret}
    )
    assert response.status_code == 303
    page = await console.client.get("/")
    assert "Яма на улице Ленина" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    out = await console.client.post("/sign-out", data={"csrf": csrf.group(1)})
    assert out.status_code == 303 and out.headers["location"].startswith("/sign-in")
    again = await console.client.get("/")
    assert again.status_code == 303  # the session is gone


async def test_sign_out_revokes_the_access_token_at_the_gateway(console: Console) -> None:
    client_id, secret = await console.gateway.client_credentials(Role.regional_admin, ["64"])
    token = (
        await console.gateway.client.post(
            "/v1/oauth/token",
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        )
    ).json()["access_token"]
    await Gateway(console.gateway.client).revoke(Credentials("bearer", token))
    refused = await console.gateway.client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401


async def test_a_revoked_key_ends_the_session(console: Console) -> None:
    key = await console.gateway.key(Role.regional_admin, ["64"], name="to-revoke")
    response = await console.client.post("/sign-in", data={"method": "api_key", "api_key": key})
    assert response.status_code == 303
    assert (await console.client.get("/")).status_code == 200
    keys = (await console.gateway.client.get("/v1/admin/keys", headers=console.gateway.headers("federal"))).json()
    key_id = next(k["key_id"] for k in keys if k["name"] == "to-revoke")
    deleted = await console.gateway.client.delete(
        f"/v1/admin/keys/{key_id}", headers=console.gateway.headers("federal")
    )
    assert deleted.status_code in (200, 204)
    ended = await console.client.get("/")
    assert ended.status_code == 303 and "reason=expired" in ended.headers["location"]


async def test_sign_in_never_redirects_to_another_site(console: Console) -> None:
    response = await console.client.post(
        "/sign-in",
        data={"method": "api_key", "api_key": console.gateway.keys["admin64"], "next": "//evil.example/x"},
    )
    assert response.headers["location"] == "/"


async def test_a_form_without_the_session_token_is_refused(console: Console) -> None:
    await console.sign_in("admin64")
    response = await console.client.post("/incidents/inc-64-a/actions", data={"action": "take"})
    assert response.status_code == 403
    forged = await console.client.post("/incidents/inc-64-a/actions", data={"action": "take", "csrf": "guess"})
    assert forged.status_code == 403


async def test_the_queue_sorts_by_priority_and_shows_clocks_in_the_region_time_zone(console: Console) -> None:
    await console.sign_in("admin64")
    page = await console.client.get("/")
    rows = re.findall(r'data-incident="([^"]+)"', page.text)
    assert rows == ["inc-64-a", "inc-64-b"]  # by priority: 72 first, the one without a score last
    # inc-64-b's first reaction was due an hour ago; inc-64-a has about three hours left (Saratov is UTC+4).
    assert re.search(r"просрочен на (1 ч|59 мин|60 мин)", page.text)
    assert re.search(r"осталось (2 ч 5\d мин|3 ч 0 мин)", page.text)
    assert "(UTC+4)" in page.text


async def test_filters_reach_the_gateway(console: Console) -> None:
    await console.sign_in("admin64")
    page = await console.client.get("/", params={"category": "waste"}, headers={"HX-Request": "true"})
    assert page.status_code == 200
    assert page.text.lstrip().startswith('<section id="queue-table"')  # the fragment, for htmx
    assert "Не вывозят мусор" in page.text and "Яма на улице Ленина" not in page.text
    overdue = await console.client.get("/", params={"overdue": "true"})
    assert "Не вывозят мусор" in overdue.text and "Яма на улице Ленина" not in overdue.text
    bad = await console.client.get("/", params={"q": "я"})  # too short for the gateway's search
    assert bad.status_code == 422
    assert 'class="error"' in bad.text


async def test_an_incident_page_marks_the_evidence_and_escapes_the_post(console: Console) -> None:
    await console.sign_in("admin64")
    page = await console.client.get("/incidents/inc-64-a")
    assert page.status_code == 200
    assert "<mark>яма</mark>" in page.text and "<mark>пробили</mark>" in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "Правило: дороги → дорожный комитет" in page.text  # the assignment's explanation
    assert "Сроки по политике: Политика SLA 3 (регион 64, высокая срочность)" in page.text  # what set the deadlines
    assert "https://vk.com/wall-1_p-64-a" in page.text
    # The history names what happened in words, not by the event's type.
    history = page.text[page.text.index('data-testid="history"') :]
    assert "создан" in history and "incident.created" not in history


async def test_priority_parts_are_shown(console: Console) -> None:
    await console.sign_in("admin64")
    page = await console.client.get("/incidents/inc-64-a")
    assert 'data-testid="priority"' in page.text
    assert "40 × 1.80 = 72.0" in page.text and "510 views" in page.text
    queue = await console.client.get("/")
    assert '<td class="num">72</td>' in queue.text


async def test_a_refused_action_shows_why_and_keeps_what_was_typed(console: Console) -> None:
    await console.sign_in("admin64")
    csrf = await console.csrf()
    text = "Здравствуйте! Яму засыпали 3 декабря, асфальт положат до 10-го."
    # Routing is not reachable in this test: the gateway answers 503, the console says so.
    response = await console.client.post(
        "/incidents/inc-64-a/actions", data={"action": "reply", "reply_text": text, "csrf": csrf}
    )
    assert response.status_code in (502, 503)
    assert 'data-testid="action-error"' in response.text
    assert text in response.text  # nothing the official wrote is lost


async def test_analytics_page_and_csv(console: Console) -> None:
    await console.sign_in("admin64")
    page = await console.client.get("/analytics")
    assert page.status_code == 200
    assert 'id="chart-data"' in page.text and "(n·p + m·p₀)" in page.text
    assert 'data-testid="kpi-incidents">2<' in page.text  # region 64's two incidents, not 77's
    csv = await console.client.get("/export/analytics.csv", params={"by": "region"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "Саратовская" in csv.text and "Москва" not in csv.text
    incidents = await console.client.get("/export/incidents.csv")
    assert "inc-64-a" in incidents.text and "inc-77-a" not in incidents.text


async def test_surge_alerts_show_in_the_banner_of_their_region_only(console: Console) -> None:
    await console.gateway.feed(surge_alert("alert-64", region="64", raised_at=NOW), time=NOW)
    await console.gateway.feed(surge_alert("alert-77", region="77", city="Москва", raised_at=NOW), time=NOW)
    await console.gateway.feed(surge_alert("alert-old", region="64", raised_at=NOW - timedelta(days=3)))
    await console.sign_in("admin64")
    banner = await console.client.get("/alerts")
    assert 'data-testid="alerts"' in banner.text
    assert "/incidents/inc-alert-64" in banner.text
    assert "inc-alert-77" not in banner.text  # another region's
    assert "inc-alert-old" not in banner.text  # the banner shows the last day


async def test_live_updates_relay_only_what_the_page_needs(console: Console) -> None:
    from console.routes_live import relay

    async def gateway_stream():  # what the gateway's SSE sends, split at awkward places
        yield b'id: 7\nevent: incident.created\ndata: {"data": {"incident": {"incident_id": "inc-1", '
        yield b'"region_code": "64", "summary": "secret text"}}}\n\n: ping\n\n'
        yield b'event: stream.closed\ndata: {"reason": "token_expired"}\n\n'

    pieces = [piece async for piece in relay(gateway_stream())]
    body = b"".join(pieces).decode()
    assert 'id: 7\ndata: {"type":"incident.created","incident_id":"inc-1","region_code":"64"}' in body
    assert "secret text" not in body
    assert '"type":"stream.closed"' in body


async def test_health(console: Console) -> None:
    assert (await console.client.get("/health")).status_code == 200
    ready = (await console.client.get("/health/ready")).json()
    assert ready["checks"]["gateway"] == "ok" and ready["service"] == "console"
