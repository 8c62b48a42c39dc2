"""Webhook targets (SSRF): only public hosts, checked at creation and again at every delivery (with
the name resolved and the connection pinned to the checked address), no redirects, and a delivery
log that does not reveal what answers inside the gateway's network."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

from api_gateway.testing import Gateway, serve
from api_gateway.webhooks import targets
from incidents_common.testing import incident_snapshot

REFUSED_URLS = [
    "http://127.0.0.1:8003/v1/incidents",  # loopback
    "http://127.1/",  # loopback, short form (normalised by the URL parser)
    "http://2130706433/",  # loopback as one number
    "http://[::1]:8000/",  # IPv6 loopback
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
    "http://169.254.169.254/latest/meta-data/",  # link-local (cloud metadata)
    "http://[fe80::1]/",  # IPv6 link-local
    "http://10.0.0.5/",  # private
    "http://172.16.3.4/",
    "http://192.168.1.10/hook",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://[fd12:3456::1]/",  # unique-local
    "http://224.0.0.1/",  # multicast
    "http://[ff02::1]/",
    "http://0.0.0.0:8000/",  # unspecified
    "http://routing:8003/v1/incidents",  # an internal service name (single label)
    "http://localhost:8000/",
    "http://api.localhost/",
    "http://printer.local/",
    "http://metadata.google.internal/",
]


def receiver(calls: list[str], *, redirect_to: str | None = None) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Any:
        calls.append(f"hook {request.headers.get('host')}")
        if redirect_to is not None:
            return RedirectResponse(redirect_to, status_code=307)
        return {"ok": True}

    @app.post("/elsewhere")
    async def elsewhere() -> Any:
        calls.append("elsewhere")
        return {"ok": True}

    return app


async def create(gw: Gateway, url: str) -> Any:
    return await gw.client.post("/v1/webhooks", json={"url": url}, headers=gw.headers("integration64"))


async def deliver(gw: Gateway) -> list[dict[str, Any]]:
    dispatcher = gw.app.state.dispatcher
    await dispatcher.fan_out()
    await dispatcher.deliver_due()
    response = await gw.client.get("/v1/webhooks", headers=gw.headers("integration64"))
    hook_id = response.json()[0]["webhook_id"]
    log = await gw.client.get(f"/v1/webhooks/{hook_id}/deliveries", headers=gw.headers("integration64"))
    return log.json()  # type: ignore[no-any-return]


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise OSError(f"no such host {host}")
        return answers[host]

    monkeypatch.setattr(targets, "resolve_host", resolve)


class TestAtCreation:
    @pytest.mark.parametrize("url", REFUSED_URLS)
    async def test_non_public_targets_are_refused_with_422(self, gw: Gateway, url: str) -> None:
        response = await create(gw, url)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/webhook-url-refused")

    async def test_a_name_that_resolves_to_an_internal_address_is_refused(
        self, gw: Gateway, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        fake_dns(monkeypatch, {"hooks.portal64.example": ["93.184.216.34", "10.1.2.3"]})
        assert (await create(gw, "https://hooks.portal64.example/in")).status_code == 422

    async def test_public_targets_are_accepted(self, gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
        fake_dns(monkeypatch, {"hooks.portal64.example": ["93.184.216.34", "2606:2800:220:1::1"]})
        assert (await create(gw, "https://hooks.portal64.example/in")).status_code == 201
        assert (await create(gw, "https://93.184.216.34/in")).status_code == 201
        # A name that does not resolve yet is accepted: every delivery checks again.
        assert (await create(gw, "https://not-yet.portal64.example/in")).status_code == 201

    async def test_a_deployment_can_allow_specific_hosts(self, make_gateway) -> None:
        async with make_gateway(webhook_allowed_hosts=["127.0.0.1", "portal.internal"]) as gw:
            assert (await create(gw, "http://127.0.0.1:9000/hook")).status_code == 201
            assert (await create(gw, "http://portal.internal/hook")).status_code == 201
            assert (await create(gw, "http://10.0.0.5/hook")).status_code == 422  # only what is listed

    @pytest.mark.parametrize("url", ["http://127.0.0.1:9000/hook", "http://localhost:9000/hook", "http://[::1]:9000/"])
    async def test_the_refusal_names_the_setting_that_allows_the_host(
        self, gw: Gateway, make_gateway: Any, monkeypatch: pytest.MonkeyPatch, url: str
    ) -> None:
        detail = (await create(gw, url)).json()["detail"]
        advice = re.search(r"(GATEWAY_WEBHOOK_ALLOWED_HOSTS)='([^']*)'", detail)
        assert advice is not None, detail
        # Started as the detail says, the gateway takes the URL.
        monkeypatch.setenv(advice[1], advice[2])
        async with make_gateway() as allowed:
            assert (await create(allowed, url)).status_code == 201


class TestAtDelivery:
    async def test_dns_rebinding_to_an_internal_address_is_refused_with_a_generic_reason(
        self, make_gateway, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls: list[str] = []
        async with serve(receiver(calls)) as local_url, make_gateway() as gw:
            port = local_url.rsplit(":", 1)[1]
            # Public when the webhook is created …
            fake_dns(monkeypatch, {"rebind.portal64.example": ["93.184.216.34"]})
            assert (await create(gw, f"http://rebind.portal64.example:{port}/hook")).status_code == 201
            # … and the gateway's own loopback (where a receiver answers) when it is delivered.
            fake_dns(monkeypatch, {"rebind.portal64.example": ["93.184.216.34", "127.0.0.1"]})
            await gw.create(incident_snapshot("rebound"))
            log = await deliver(gw)
        assert calls == []
        assert len(log) == 1 and log[0]["status"] == "pending"
        assert log[0]["last_error"] == targets.UNREACHABLE
        assert log[0]["last_status_code"] is None
        assert port not in str(log) and "127.0.0.1" not in str(log)

    async def test_an_unreachable_and_a_refused_target_look_the_same_in_the_log(self, make_gateway) -> None:
        async with make_gateway(webhook_allowed_hosts=["127.0.0.1"]) as gw:
            # Nothing listens on port 9: the log says exactly what it says for a refused target.
            assert (await create(gw, "http://127.0.0.1:9/hook")).status_code == 201
            await gw.create(incident_snapshot("nobody-home"))
            log = await deliver(gw)
        assert log[0]["last_error"] == targets.UNREACHABLE
        assert ":9" not in str(log) and "Connect" not in str(log)

    async def test_the_connection_goes_to_the_checked_address(
        self, make_gateway, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The name exists only in the fake DNS: the delivery can arrive only through the address the
        # gateway checked (here allowed by address), with the original Host header.
        calls: list[str] = []
        async with serve(receiver(calls)) as local_url, make_gateway(webhook_allowed_hosts=["127.0.0.1"]) as gw:
            port = local_url.rsplit(":", 1)[1]
            fake_dns(monkeypatch, {"portal.example": ["127.0.0.1"]})
            assert (await create(gw, f"http://portal.example:{port}/hook")).status_code == 201
            await gw.create(incident_snapshot("pinned"))
            log = await deliver(gw)
        assert log[0]["status"] == "delivered", log
        assert calls == [f"hook portal.example:{port}"]

    async def test_redirects_are_not_followed(self, make_gateway) -> None:
        calls: list[str] = []
        async with make_gateway(webhook_allowed_hosts=["127.0.0.1"]) as gw:
            async with serve(receiver(calls, redirect_to="/elsewhere")) as local_url:
                assert (await create(gw, f"{local_url}/hook")).status_code == 201
                await gw.create(incident_snapshot("redirected"))
                log = await deliver(gw)
        assert calls == [f"hook {local_url.removeprefix('http://')}"]  # never "elsewhere"
        assert log[0]["status"] == "pending" and log[0]["last_status_code"] == 307


def test_public_address_rules() -> None:
    import ipaddress

    public = ["93.184.216.34", "8.8.8.8", "2606:2800:220:1::1"]
    private = ["127.0.0.1", "10.0.0.1", "::1", "fc00::1", "fe80::1", "224.0.0.1", "0.0.0.0", "::ffff:10.0.0.1"]
    private += ["64:ff9b::7f00:1", "2002:7f00:1::", "192.0.2.1", "255.255.255.255"]
    assert all(targets.is_public_address(ipaddress.ip_address(a)) for a in public)
    assert not any(targets.is_public_address(ipaddress.ip_address(a)) for a in private)


@pytest.fixture(autouse=True)
def _no_real_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here may depend on the machine's DNS: unknown names do not resolve."""
    fake_dns(monkeypatch, {})
