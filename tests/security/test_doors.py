"""Every door of every service, tried from outside over HTTP with the credentials a user would have.

The endpoints come from the committed OpenAPI files, so a new endpoint is covered without anyone
remembering: with no credential it must answer 401; the internal services also refuse a token of an
identity they do not serve (403), a token minted for another service (401) and an expired one (401).
At the gateway, every endpoint must also be classified in DOORS below (what a lower role and another
region's object get); an unclassified endpoint fails `test_every_gateway_endpoint_is_classified`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from incidents_common.identity import Identity

from .conftest import System, operations

INTERNAL = ("collector", "classifier", "routing")
# Open doors, each for a reason: liveness probes, the OAuth2 token endpoints (they take the client's
# own credentials), Telegram's webhook (authenticated by the secret token Telegram was given), and
# Open311's service list and definitions (public in GeoReport v2: the same category list for everyone).
OPEN311_CATALOGUE = {
    ("GET", f"/open311/v2/services{tail}") for tail in (".json", ".xml", "/{service_code}.json", "/{service_code}.xml")
}
PUBLIC = {
    "collector": {
        ("GET", "/health"),
        ("GET", "/health/live"),
        ("GET", "/health/ready"),
        ("POST", "/v1/telegram/webhook/{source_id}"),
    },
    "classifier": {("GET", "/health"), ("GET", "/health/live"), ("GET", "/health/ready")},
    "routing": {("GET", "/health"), ("GET", "/health/live"), ("GET", "/health/ready")},
    "api-gateway": {
        ("GET", "/health"),
        ("GET", "/health/live"),
        ("GET", "/health/ready"),
        ("POST", "/v1/oauth/token"),
        ("POST", "/v1/oauth/revoke"),
        *OPEN311_CATALOGUE,
    },
}
# An identity each service has a key for but does not serve.
STRANGER = {"collector": "classifier", "classifier": "collector", "routing": "classifier"}
INTEGER_PARAMS = {"rule_id", "policy_id"}


def concrete(path: str, values: dict[str, str] | None = None) -> str:
    values = values or {}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "1" if m.group(1) in INTEGER_PARAMS else "x"), path)


def guarded(service: str) -> list[tuple[str, str, str]]:
    return [(service, method, path) for method, path in operations(service) if (method, path) not in PUBLIC[service]]


def assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers


def bearer(identity: str, audience: str, **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {Identity.load(identity).mint(audience, **kwargs)}"}


ALL_GUARDED = [door for service in (*INTERNAL, "api-gateway") for door in guarded(service)]


@pytest.mark.parametrize(("service", "method", "path"), ALL_GUARDED, ids=[f"{s} {m} {p}" for s, m, p in ALL_GUARDED])
def test_no_credential_is_401(system: System, service: str, method: str, path: str) -> None:
    response = httpx.request(method, system.urls[service] + concrete(path), timeout=10)
    assert_problem(response, 401)
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer")


INTERNAL_GUARDED = [door for service in INTERNAL for door in guarded(service)]
INTERNAL_IDS = [f"{s} {m} {p}" for s, m, p in INTERNAL_GUARDED]


@pytest.mark.parametrize(("service", "method", "path"), INTERNAL_GUARDED, ids=INTERNAL_IDS)
def test_internal_doors_refuse_wrong_tokens(system: System, service: str, method: str, path: str) -> None:
    url = system.urls[service] + concrete(path)
    # A service that is not one of this service's callers, with a valid token of its own.
    assert_problem(httpx.request(method, url, headers=bearer(STRANGER[service], service), timeout=10), 403)
    # The operator's token, but minted for another service.
    other = next(s for s in INTERNAL if s != service)
    assert_problem(httpx.request(method, url, headers=bearer("operator", other), timeout=10), 401)
    # The operator's token for this service, expired ten minutes ago.
    expired = bearer("operator", service, now=time.time() - 600)
    assert_problem(httpx.request(method, url, headers=expired, timeout=10), 401)
    # A gateway API key is not a service token.
    assert_problem(httpx.request(method, url, headers={"Authorization": "Bearer gwk_x"}, timeout=10), 401)


def test_the_telegram_webhook_wants_its_secret(system: System) -> None:
    response = httpx.post(f"{system.urls['collector']}/v1/telegram/webhook/x", json={"update_id": 1}, timeout=10)
    assert 400 <= response.status_code < 500 and response.status_code != 422
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("credential", ["gwk_unknown", "a.b.c", "demo-federal-key"])
def test_the_gateway_refuses_unknown_credentials(system: System, credential: str) -> None:
    response = httpx.get(f"{system.urls['api-gateway']}/v1/incidents", headers={"X-API-Key": credential})
    assert_problem(response, 401)


# ---------------------------------------------------------------------------------------------
# The gateway: roles and regions, endpoint by endpoint
# ---------------------------------------------------------------------------------------------


@dataclass
class Probe:
    """One request as `key` and the answer it must get; `absent`: strings that must not appear in it."""

    key: str
    status: int | tuple[int, ...]
    path: dict[str, str] | None = None
    params: dict[str, Any] | None = None
    json: Any = None
    data: dict[str, Any] | None = None
    absent: tuple[str, ...] = ()
    present: tuple[str, ...] = ()  # strings that must appear: the door answered with real data


Door = list[Probe] | str  # the probes, or the reason none applies

OTHER = {"incident_id": "inc-77"}  # Moscow's incident, seen from Saratov
ACTION = {"action": "take", "comment": "Взято в работу"}
DEPARTMENT_77 = {"region_code": "77", "name": "Чужой департамент", "kind": "ministry"}
DOORS: dict[tuple[str, str], Door] = {
    ("GET", "/v1/me"): "describes the caller itself",
    ("GET", "/v1/regions"): "the public list of the subjects of the federation",
    ("GET", "/v1/incidents"): [
        Probe("admin64", (200, 404), params={"region": "77"}, absent=("inc-77",)),
        Probe("admin64", 200, absent=("inc-77",)),
    ],
    ("GET", "/v1/incidents/export.csv"): [
        Probe("admin64", (200, 404), params={"region": "77"}, absent=("inc-77",)),
        Probe("integration64", 200, absent=("inc-77",)),
    ],
    ("GET", "/v1/incidents/{incident_id}"): [Probe("admin64", 404, path=OTHER), Probe("official64", 404, path=OTHER)],
    ("GET", "/v1/review-queue"): [
        Probe("admin64", 200, params={"region": "77"}, absent=("inc-77", "Москва")),
        Probe("admin64", 200, absent=("inc-77", "Москва"), present=("inc-64",)),
        Probe("integration64", 200, params={"region": ["64", "77"]}, absent=("inc-77", "Москва"), present=("inc-64",)),
    ],
    ("GET", "/v1/review-queue/posts"): [
        Probe("admin64", 200, params={"region": "77"}, absent=("Москва",)),
        Probe("integration64", 200, absent=("Москва",)),
    ],
    ("POST", "/v1/review-queue/posts/{post_id}/place"): [
        Probe("integration64", 403, path={"post_id": "p-1"}, json={"region_code": "64"}),
        Probe("official64", 403, path={"post_id": "p-1"}, json={"region_code": "64"}),
        Probe("admin64", (403, 404), path={"post_id": "p-1"}, json={"region_code": "77"}),
    ],
    ("POST", "/v1/review-queue/posts/{post_id}/dismiss"): [
        Probe("integration64", 403, path={"post_id": "p-1"}, json={}),
        Probe("official64", 403, path={"post_id": "p-1"}, json={}),
    ],
    ("GET", "/v1/incidents/{incident_id}/audit"): [
        Probe("admin64", 404, path=OTHER),
        Probe("official64", 404, path=OTHER),
    ],
    ("POST", "/v1/incidents/{incident_id}/actions"): [
        Probe("admin64", 404, path=OTHER, json=ACTION),
        # Correcting another region's incident into one's own region is no way in either.
        Probe("admin64", 404, path=OTHER, json={"action": "correct", "region_code": "64"}),
        Probe("integration64", 403, path={"incident_id": "inc-64"}, json=ACTION),
        Probe("federal", 403, path={"incident_id": "inc-64"}, json=ACTION),
    ],
    # Held replies: another region's are invisible (tests/.../test_reply_guard.py holds one in 64 and
    # asks from 77); only the region's curator decides.
    ("GET", "/v1/held-replies"): [
        Probe("admin64", (200, 404), params={"region": "77"}, absent=("inc-77",)),
        Probe("integration64", 403),
    ],
    ("POST", "/v1/held-replies/{held_id}/release"): [
        Probe("official64", 403, path={"held_id": "h-1"}, json={"reason": "так надо"}),
        Probe("federal", 403, path={"held_id": "h-1"}, json={"reason": "так надо"}),
        Probe("admin64", 404, path={"held_id": "h-1"}, json={"reason": "так надо"}),
    ],
    ("POST", "/v1/held-replies/{held_id}/return"): [
        Probe("integration64", 403, path={"held_id": "h-1"}, json={"reason": "так надо"}),
        Probe("admin64", 404, path={"held_id": "h-1"}, json={"reason": "так надо"}),
    ],
    # Surge alerts: another region's are invisible in the list and a 404 alone (both regions have one).
    ("GET", "/v1/alerts"): [
        Probe("admin64", (200, 404), params={"region": "77"}, absent=("alert-77", "Москва")),
        Probe("admin64", 200, absent=("alert-77", "Москва"), present=("alert-64",)),
        Probe("official64", 200, params={"region": ["64", "77"]}, absent=("alert-77",), present=("alert-64",)),
    ],
    ("GET", "/v1/alerts/{alert_id}"): [
        Probe("admin64", 404, path={"alert_id": "alert-77"}),
        Probe("integration64", 404, path={"alert_id": "alert-77"}),
        Probe("official64", 200, path={"alert_id": "alert-64"}, present=("alert-64",)),
    ],
    ("GET", "/v1/analytics/summary"): [Probe("admin64", (200, 404), params={"region": "77"}, absent=("Москва",))],
    ("GET", "/v1/analytics/trend"): [Probe("admin64", (200, 404), params={"region": "77"}, absent=("Москва",))],
    ("GET", "/v1/analytics/rating"): "the federal rating compares every region by design (aggregates only)",
    ("GET", "/v1/analytics/export.csv"): [
        Probe("admin64", (200, 404), params={"region": "77"}, absent=("Москва",)),
    ],
    ("GET", "/v1/events/stream"): "a stream that stays open; its region filter is tested in test_live.py",
    ("GET", "/v1/webhooks"): [Probe("admin64", 200, absent=("hook-of-77",))],
    ("POST", "/v1/webhooks"): [
        Probe("admin64", (403, 404, 422), json={"url": "https://example.org/h", "regions": ["77"]}),
    ],
    ("DELETE", "/v1/webhooks/{webhook_id}"): [Probe("admin64", 404, path={"webhook_id": "@webhook77"})],
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): [Probe("admin64", 404, path={"webhook_id": "@webhook77"})],
    ("GET", "/v1/directory/departments"): [Probe("admin64", 404, params={"region": "77"})],
    ("POST", "/v1/directory/departments"): [
        Probe("admin64", (403, 404), json=DEPARTMENT_77),
        Probe("official64", 403, json={**DEPARTMENT_77, "region_code": "64"}),
    ],
    ("GET", "/v1/directory/officials"): [Probe("admin64", 404, params={"region": "77"})],
    ("POST", "/v1/directory/officials"): [
        Probe("integration64", 403, json={"region_code": "64", "name": "Х", "department_id": "64-gzhi"}),
    ],
    ("GET", "/v1/directory/rules"): [Probe("admin64", 404, params={"region": "77"})],
    ("POST", "/v1/directory/rules"): [
        Probe("admin64", (403, 404), json={"region_code": "77", "category": "roads", "department_id": "77-gzhi"}),
    ],
    ("PATCH", "/v1/directory/departments/{object_id}"): [
        Probe("admin64", 404, path={"object_id": "77-gzhi"}, json={"name": "Захвачено"}),
        Probe("official64", 403, path={"object_id": "64-gzhi"}, json={"name": "Переименовано"}),
    ],
    ("PATCH", "/v1/directory/officials/{object_id}"): [
        Probe("admin64", 404, path={"object_id": "77-gzhi-1"}, json={"active": False}),
        Probe("integration64", 403, path={"object_id": "64-gzhi-1"}, json={"active": False}),
    ],
    ("PATCH", "/v1/directory/rules/{object_id}"): [
        Probe("admin64", 404, path={"object_id": "@rule77"}, json={"active": False}),
        Probe("official64", 403, path={"object_id": "@rule64"}, json={"active": False}),
    ],
    ("GET", "/v1/admin/clients"): [Probe("official64", 403)],
    ("POST", "/v1/admin/clients"): [
        Probe("admin64", 403, json={"name": "x", "role": "integration", "regions": ["77"]}),
        Probe("admin64", 403, json={"name": "x", "role": "federal", "regions": []}),
        Probe("integration64", 403, json={"name": "x", "role": "integration", "regions": ["64"]}),
    ],
    ("DELETE", "/v1/admin/clients/{client_id}"): [Probe("admin64", 404, path={"client_id": "@client77"})],
    ("GET", "/v1/admin/keys"): [Probe("official64", 403), Probe("admin64", 200, absent=("@key77",))],
    ("POST", "/v1/admin/keys"): [
        Probe("admin64", 403, json={"name": "x", "role": "regional_admin", "regions": ["77"]}),
        Probe("official64", 403, json={"name": "x", "role": "integration", "regions": ["64"]}),
    ],
    ("DELETE", "/v1/admin/keys/{key_id}"): [Probe("admin64", 404, path={"key_id": "@key77"})],
    # Dead letters: the operator's service token only; every gateway key, whatever its role, gets 403.
    ("GET", "/v1/admin/dead-letters"): [Probe("admin64", 403), Probe("federal", 403)],
    ("GET", "/v1/admin/dead-letters/{seq}"): [Probe("official64", 403, path={"seq": "1"})],
    ("DELETE", "/v1/admin/dead-letters/{seq}"): [Probe("admin64", 403, path={"seq": "1"})],
    ("POST", "/v1/admin/dead-letters/{seq}/replay"): [Probe("admin64", 403, path={"seq": "1"})],
    ("POST", "/v1/admin/dead-letters/replay"): [Probe("federal", 403, json={})],
    ("POST", "/v1/admin/dead-letters/purge"): [Probe("admin64", 403, json={"older_than_days": 0})],
    ("GET", "/open311/v2/requests.json"): [
        Probe("admin64", (200, 404), params={"jurisdiction_id": "77"}, absent=("inc-77",)),
    ],
    ("GET", "/open311/v2/requests.xml"): [
        Probe("admin64", (200, 404), params={"jurisdiction_id": "77"}, absent=("inc-77",)),
    ],
    ("GET", "/open311/v2/requests/{service_request_id}.json"): [
        Probe("admin64", 404, path={"service_request_id": "inc-77"}),
    ],
    ("GET", "/open311/v2/requests/{service_request_id}.xml"): [
        Probe("admin64", 404, path={"service_request_id": "inc-77"}),
    ],
    ("POST", "/open311/v2/requests.json"): [
        Probe("integration64", 403, data={"service_code": "roads", "description": "Яма", "jurisdiction_id": "64"}),
        Probe("admin64", (403, 404), data={"service_code": "roads", "description": "Яма", "jurisdiction_id": "77"}),
    ],
    ("POST", "/open311/v2/requests.xml"): [
        Probe("integration64", 403, data={"service_code": "roads", "description": "Яма", "jurisdiction_id": "64"}),
    ],
    ("GET", "/open311/v2/tokens/{token}.json"): [Probe("admin64", 404, path={"token": "@token77"})],
    ("GET", "/open311/v2/tokens/{token}.xml"): [Probe("admin64", 404, path={"token": "@token77"})],
}


def test_every_gateway_endpoint_is_classified() -> None:
    guarded_ops = {(m, p) for _, m, p in guarded("api-gateway")}
    missing = sorted(guarded_ops - DOORS.keys())
    stale = sorted(DOORS.keys() - guarded_ops)
    assert not missing, f"classify these gateway endpoints in DOORS (roles and regions): {missing}"
    assert not stale, f"DOORS lists endpoints the gateway no longer has: {stale}"


@pytest.fixture(scope="module")
def moscow_objects(system: System) -> dict[str, str]:
    """Objects that belong to Moscow's admin (a webhook, a key, a client, an Open311 token), by placeholder."""
    gateway = system.urls["api-gateway"]
    admin77 = {"X-API-Key": system.keys["admin77"]}
    found: dict[str, str] = {}
    with httpx.Client(base_url=gateway, headers=admin77, timeout=10) as client:
        hook = client.post("/v1/webhooks", json={"url": "https://example.org/hook-of-77", "regions": ["77"]})
        assert hook.status_code == 201, hook.text
        found["@webhook77"] = str(hook.json()["webhook_id"])
        keys = client.get("/v1/admin/keys").json()
        found["@key77"] = next(k["key_id"] for k in keys if k.get("regions") == ["77"])
        created = client.post("/v1/admin/clients", json={"name": "portal77", "role": "integration", "regions": ["77"]})
        assert created.status_code == 201, created.text
        found["@client77"] = created.json()["client_id"]
        found["@rule77"] = str(client.get("/v1/directory/rules", params={"region": "77"}).json()[0]["id"])
    admin64 = {"X-API-Key": system.keys["admin64"]}
    rules64 = httpx.get(f"{gateway}/v1/directory/rules", params={"region": "64"}, headers=admin64, timeout=10)
    found["@rule64"] = str(rules64.json()[0]["id"])
    found["@token77"] = "o311_not_yours"
    return found


GATEWAY_PROBES = [
    (method, path, probe) for (method, path), door in DOORS.items() if not isinstance(door, str) for probe in door
]


@pytest.mark.parametrize(
    ("method", "path", "probe"),
    GATEWAY_PROBES,
    ids=[f"{m} {p} as {probe.key} #{n}" for n, (m, p, probe) in enumerate(GATEWAY_PROBES)],
)
def test_gateway_roles_and_regions(
    system: System, moscow_objects: dict[str, str], method: str, path: str, probe: Probe
) -> None:
    resolve: Callable[[str], str] = lambda value: moscow_objects.get(value, value)  # noqa: E731
    url = system.urls["api-gateway"] + concrete(path, {k: resolve(v) for k, v in (probe.path or {}).items()})
    response = httpx.request(
        method,
        url,
        headers={"X-API-Key": system.keys[probe.key]},
        params=probe.params,
        json=probe.json,
        data=probe.data,
        timeout=10,
    )
    expected = probe.status if isinstance(probe.status, tuple) else (probe.status,)
    assert response.status_code in expected, f"{method} {url} as {probe.key}: {response.status_code} {response.text}"
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
    for leak in probe.absent:
        assert resolve(leak) not in response.text, f"{method} {url} as {probe.key} shows {leak}"
    for expected in probe.present:
        assert resolve(expected) in response.text, f"{method} {url} as {probe.key} does not show {expected}"
