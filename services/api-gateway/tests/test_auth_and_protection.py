"""OAuth2 token endpoint, the admin CLI, the demo key, rate limits, body limits and CORS."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from sqlmodel import select

from api_gateway import cli
from api_gateway.auth.models import ApiClient, ApiKey
from api_gateway.auth.principal import Role
from api_gateway.testing import Gateway, gateway_settings, running


class TestTokenEndpoint:
    async def test_client_credentials_by_form_and_basic_auth(self, gw: Gateway) -> None:
        client_id, secret = await gw.client_credentials(Role.integration, ["64", "63"])
        form = await gw.client.post(
            "/v1/oauth/token",
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        )
        assert form.status_code == 200
        assert form.headers["cache-control"] == "no-store"
        body = form.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == gw.settings.token_ttl_seconds
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        response = await gw.client.post(
            "/v1/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
        )
        me = await gw.client.get("/v1/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"})
        assert me.json() == {
            "subject": f"client:{client_id}",
            "name": "portal",
            "role": "integration",
            "regions": ["63", "64"],
            "official_id": None,
        }

    async def test_wrong_secret_or_grant_follow_rfc6749_errors(self, gw: Gateway) -> None:
        client_id, _ = await gw.client_credentials(Role.integration, ["64"])
        wrong = await gw.client.post(
            "/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "x"}
        )
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_client"
        grant = await gw.client.post("/v1/oauth/token", data={"grant_type": "password", "client_id": client_id})
        assert grant.status_code == 400
        assert grant.json()["error"] == "unsupported_grant_type"

    async def test_secrets_and_keys_are_stored_only_as_hashes(self, gw: Gateway) -> None:
        client_id, secret = await gw.client_credentials(Role.integration, ["64"])
        async with gw.app.state.db.transaction() as session:
            client = await session.get(ApiClient, client_id)
            keys = (await session.exec(select(ApiKey))).all()
        assert client is not None and secret not in client.secret_hash and client.secret_hash.startswith("scrypt$")
        stored = {k.key_hash for k in keys}
        assert not stored & set(gw.keys.values())
        assert all(len(h) == 64 for h in stored)


class TestAdminCli:
    def test_create_use_and_revoke_a_key_from_the_command_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        settings = gateway_settings(tmp_path)
        assert (
            cli.main(["create-key", "--name", "Портал 64", "--role", "regional_admin", "--region", "64"], settings) == 0
        )
        created = json.loads(capsys.readouterr().out)
        assert created["role"] == "regional_admin" and created["api_key"].startswith("gwk_")
        assert cli.main(["create-key", "--name", "x", "--role", "official", "--region", "64"], settings) == 2
        assert "official_id" in capsys.readouterr().err
        with pytest.raises(SystemExit) as nameless:  # refused as the API refuses it
            cli.main(["create-key", "--name", "  ", "--role", "federal"], settings)
        assert nameless.value.code == 2 and "1 to 200 characters" in capsys.readouterr().err
        assert cli.main(["list-keys"], settings) == 0
        listed = json.loads(capsys.readouterr().out)
        assert [k["key_id"] for k in listed] == [created["key_id"]]
        assert cli.main(["revoke-key", created["key_id"]], settings) == 0
        assert cli.main(["create-client", "--name", "ЦУР", "--role", "federal"], settings) == 0
        assert json.loads(capsys.readouterr().out.split("\n}\n")[-2] + "\n}")["role"] == "federal"
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["--help"], settings)
        assert exit_info.value.code == 0

    async def test_demo_key_is_a_federal_key_with_exactly_that_value(self, tmp_path: Path) -> None:
        async with running(gateway_settings(tmp_path, demo_api_key="demo-key-123")) as gw:
            me = await gw.client.get("/v1/me", headers={"X-API-Key": "demo-key-123"})
            assert me.status_code == 200
            assert me.json()["role"] == "federal"
            assert (
                await gw.client.get("/v1/incidents", headers={"Authorization": "Bearer demo-key-123"})
            ).status_code == 200
        # A second start keeps one key, not two.
        async with running(gateway_settings(tmp_path, demo_api_key="demo-key-123")) as gw:
            async with gw.app.state.db.transaction() as session:
                demo = (await session.exec(select(ApiKey).where(ApiKey.role == "federal"))).all()
            assert len([k for k in demo if k.name.startswith("demo")]) == 1

    async def test_a_demo_key_shaped_like_a_jwt_still_works(self, tmp_path: Path) -> None:
        async with running(gateway_settings(tmp_path, demo_api_key="demo.federal.key")) as gw:
            assert (await gw.client.get("/v1/me", headers={"X-API-Key": "demo.federal.key"})).status_code == 200
            assert (await gw.client.get("/v1/me", headers={"X-API-Key": "other.federal.key"})).status_code == 401


class TestProtection:
    async def test_rate_limit_answers_429_with_retry_after(self, make_gateway) -> None:
        async with make_gateway(rate_limit_per_minute=60, rate_limit_burst=3) as gw:
            statuses = [(await gw.client.get("/v1/me", headers=gw.headers("admin64"))).status_code for _ in range(4)]
            assert statuses == [200, 200, 200, 429]
            limited = await gw.client.get("/v1/me", headers=gw.headers("admin64"))
            assert limited.headers["content-type"] == "application/problem+json"
            assert int(limited.headers["retry-after"]) >= 1
            # Per client: another caller is not affected.
            assert (await gw.client.get("/v1/me", headers=gw.headers("admin77"))).status_code == 200

    async def test_oversized_bodies_are_413(self, make_gateway) -> None:
        async with make_gateway(max_body_bytes=1000) as gw:
            response = await gw.client.post(
                "/v1/admin/keys",
                json={"name": "x" * 5000, "role": "integration", "regions": ["64"]},
                headers=gw.headers("federal"),
            )
            assert response.status_code == 413
            assert response.headers["content-type"] == "application/problem+json"

    async def test_cors_allows_only_configured_portal_origins(self, make_gateway) -> None:
        async with make_gateway(cors_origins=["https://portal64.example"]) as gw:
            preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "X-API-Key"}
            allowed = await gw.client.options(
                "/v1/incidents", headers={"Origin": "https://portal64.example", **preflight}
            )
            assert allowed.headers["access-control-allow-origin"] == "https://portal64.example"
            denied = await gw.client.options("/v1/incidents", headers={"Origin": "https://evil.example", **preflight})
            assert "access-control-allow-origin" not in denied.headers


class TestSigningKey:
    async def test_a_generated_key_is_kept_private_and_reused_across_restarts(self, tmp_path: Path) -> None:
        settings = gateway_settings(tmp_path, jwt_secret="", data_dir=str(tmp_path / "data"))
        async with running(settings) as gw:
            client_id, secret = await gw.client_credentials(Role.integration, ["64"])
            form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
            token = (await gw.client.post("/v1/oauth/token", data=form)).json()["access_token"]
        key_file = tmp_path / "data" / "api-gateway-jwt.key"
        assert key_file.stat().st_mode & 0o077 == 0
        async with running(settings) as gw:
            response = await gw.client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200
