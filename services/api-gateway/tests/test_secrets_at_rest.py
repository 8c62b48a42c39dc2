"""Webhook secrets at rest (encrypted, rotatable, an old release's plaintext rows still work), the
start-up refusal of example secrets, the constant-cost token endpoint and the demo key's lifetime."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from sqlalchemy import text
from sqlmodel import select

from api_gateway import cli
from api_gateway.auth.hashing import hash_key
from api_gateway.auth.models import ApiKey
from api_gateway.auth.principal import Role
from api_gateway.auth.service import revoke_key
from api_gateway.config import Settings
from api_gateway.testing import TEST_SECRET_KEY, Gateway, gateway_settings, running, serve
from api_gateway.webhooks.models import Webhook
from api_gateway.webhooks.signing import SIGNATURE_HEADER, verify_signature
from incidents_common.secretbox import ExampleSecretError, SecretBoxError, generate_key
from incidents_common.testing import incident_snapshot

SECRET = "a-caller-chosen-secret-0123456789"


async def raw(gw: Gateway, sql: str, **params: Any) -> list[Any]:
    async with gw.app.state.db.transaction() as session:
        result = await session.exec(text(sql), params=params)  # type: ignore[call-overload]
        return [tuple(row) for row in result.all()] if result.returns_rows else []


def receiver(received: list[tuple[dict[str, str], bytes]]) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Any:
        received.append((dict(request.headers), await request.body()))
        return {"ok": True}

    return app


async def deliver_one(gw: Gateway, incident_id: str) -> None:
    await gw.create(incident_snapshot(incident_id))
    await gw.app.state.dispatcher.fan_out()
    await gw.app.state.dispatcher.deliver_due()


class TestWebhookSecretsAtRest:
    async def test_the_stored_secret_is_encrypted_and_never_echoed(self, gw: Gateway) -> None:
        created = await gw.client.post(
            "/v1/webhooks", json={"url": "https://93.184.216.34/hook", "secret": SECRET}, headers=gw.headers("admin64")
        )
        assert created.status_code == 201, created.text
        assert created.json()["secret"] is None  # the caller's own secret is not sent back
        assert SECRET not in created.text
        listed = await gw.client.get("/v1/webhooks", headers=gw.headers("admin64"))
        assert SECRET not in listed.text and "secret" not in listed.json()[0]

        hook_id = created.json()["webhook_id"]
        [(column,)] = await raw(gw, "SELECT secret FROM gw_webhook WHERE webhook_id = :id", id=hook_id)
        [(ciphertext,)] = await raw(gw, "SELECT ciphertext FROM gw_webhook_secret WHERE webhook_id = :id", id=hook_id)
        assert column == ""
        assert ciphertext.startswith("fernet:") and SECRET not in ciphertext
        assert gw.settings.secret_box().reveal(ciphertext) == SECRET

    async def test_a_generated_secret_is_shown_once_and_signs_deliveries(self, make_gateway) -> None:
        received: list[tuple[dict[str, str], bytes]] = []
        async with serve(receiver(received)) as url, make_gateway(webhook_allowed_hosts=["127.0.0.1"]) as gw:
            created = await gw.client.post("/v1/webhooks", json={"url": f"{url}/hook"}, headers=gw.headers("admin64"))
            generated = created.json()["secret"]
            assert isinstance(generated, str) and len(generated) >= 32
            assert generated not in str(await raw(gw, "SELECT * FROM gw_webhook_secret"))
            await deliver_one(gw, "signed")
        headers, body = received[0]
        assert verify_signature(generated, headers[SIGNATURE_HEADER.lower()], body)

    async def test_rotation_old_key_still_decrypts_and_after_rotate_only_the_new_key_is_needed(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        received: list[tuple[dict[str, str], bytes]] = []
        old, new = TEST_SECRET_KEY, generate_key()
        common = {"webhook_allowed_hosts": ["127.0.0.1"]}
        async with serve(receiver(received)) as url:
            async with running(gateway_settings(tmp_path, secret_keys=old, **common)) as gw:
                created = await gw.client.post(
                    "/v1/webhooks", json={"url": f"{url}/hook", "secret": SECRET}, headers=gw.headers("admin64")
                )
                assert created.status_code == 201
            # The new key first, the old one after it: the old ciphertext still decrypts.
            both = gateway_settings(tmp_path, secret_keys=f"{new},{old}", **common)
            async with running(both) as gw:
                await deliver_one(gw, "with-both-keys")
            assert verify_signature(SECRET, received[-1][0][SIGNATURE_HEADER.lower()], received[-1][1])

            assert await asyncio.to_thread(cli.main, ["rotate"], both) == 0  # the CLI runs its own loop
            assert json.loads(capsys.readouterr().out) == {"rotated_webhook_secrets": 1}

            only_new = gateway_settings(tmp_path, secret_keys=new, **common)
            async with running(only_new) as gw:
                [(ciphertext,)] = await raw(gw, "SELECT ciphertext FROM gw_webhook_secret")
                with pytest.raises(SecretBoxError):
                    gateway_settings(tmp_path, secret_keys=old).secret_box().reveal(ciphertext)
                await deliver_one(gw, "with-the-new-key-only")
            assert len(received) == 2
            assert verify_signature(SECRET, received[-1][0][SIGNATURE_HEADER.lower()], received[-1][1])

    async def test_a_previous_release_plaintext_row_still_works_and_is_sealed(self, tmp_path: Path) -> None:
        received: list[tuple[dict[str, str], bytes]] = []
        settings = gateway_settings(tmp_path, webhook_allowed_hosts=["127.0.0.1"])
        async with serve(receiver(received)) as url, running(settings) as gw:
            # What the release before encryption left: the secret in gw_webhook.secret, no
            # gw_webhook_secret table at all (this start created it).
            owner = (await gw.client.get("/v1/me", headers=gw.headers("admin64"))).json()["subject"]
            await raw(gw, "DROP TABLE gw_webhook_secret")
            await gw.app.state.db.create_tables()
            await raw(
                gw,
                "INSERT INTO gw_webhook (webhook_id, owner, url, secret, active, cursor, created_at) "
                "VALUES ('wh_old', :owner, :url, :secret, 1, 0, '2026-11-01 00:00:00')",
                owner=owner,
                url=f"{url}/hook",
                secret=SECRET,
            )
            await deliver_one(gw, "read-transparently")
            assert verify_signature(SECRET, received[-1][0][SIGNATURE_HEADER.lower()], received[-1][1])

            # Sealed at the dispatcher's start (called here directly): moved and encrypted.
            assert await gw.app.state.dispatcher.seal_plaintext() == 1
            assert await raw(gw, "SELECT secret FROM gw_webhook WHERE webhook_id = 'wh_old'") == [("",)]
            [(ciphertext,)] = await raw(gw, "SELECT ciphertext FROM gw_webhook_secret WHERE webhook_id = 'wh_old'")
            assert SECRET not in ciphertext
            await deliver_one(gw, "after-sealing")
            assert len(received) == 2
            assert verify_signature(SECRET, received[-1][0][SIGNATURE_HEADER.lower()], received[-1][1])
            async with gw.app.state.db.transaction() as session:
                hook = await session.get(Webhook, "wh_old")
                assert hook is not None and hook.active


class TestStartupSecretCheck:
    def test_example_values_are_refused_outside_the_local_launcher(self, tmp_path: Path) -> None:
        for field, value in (
            ("jwt_secret", "change-me-to-32-random-bytes"),
            ("demo_api_key", "demo-federal-key"),
            ("jwt_secret", "CHANGE-ME"),
        ):
            settings = gateway_settings(tmp_path, **{field: value})
            with pytest.raises(ExampleSecretError) as refused:
                settings.check_secrets(environ={})
            assert f"GATEWAY_{field.upper()}" in str(refused.value)
            assert value not in str(refused.value)  # named, never shown
            settings.check_secrets(environ={"INCIDENTS_LOCAL_LAUNCHER": "1"})

    def test_real_values_pass_and_bad_keys_are_reported(self, tmp_path: Path) -> None:
        gateway_settings(tmp_path, demo_api_key="").check_secrets(environ={})
        generated = Settings(jwt_secret="a-real-random-value-Zq81", secret_keys="", data_dir=str(tmp_path / "data"))
        generated.check_secrets(environ={})
        assert not (tmp_path / "data").exists()  # the check has no side effects …
        generated.secret_box()  # … the key is generated at first use, private
        assert (tmp_path / "data" / "api-gateway-secret.keys").stat().st_mode & 0o077 == 0
        with pytest.raises(SecretBoxError):
            gateway_settings(tmp_path, secret_keys="not-a-fernet-key").check_secrets(environ={})


class TestTokenEndpointCost:
    async def test_known_and_unknown_client_ids_cost_one_scrypt_each(
        self, gw: Gateway, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        client_id, secret = await gw.client_credentials(Role.integration, ["64"])
        calls: list[int] = []
        real = hashlib.scrypt

        def counting(*args: Any, **kwargs: Any) -> bytes:
            calls.append(1)
            return real(*args, **kwargs)

        monkeypatch.setattr(hashlib, "scrypt", counting)
        costs = {}
        for name, form_id, form_secret in (
            ("unknown id", "cl_doesnotexist00", "whatever"),
            ("known id, wrong secret", client_id, "wrong"),
            ("known id, right secret", client_id, secret),
        ):
            calls.clear()
            response = await gw.client.post(
                "/v1/oauth/token",
                data={"grant_type": "client_credentials", "client_id": form_id, "client_secret": form_secret},
            )
            assert response.status_code == (200 if form_secret == secret else 401)
            costs[name] = len(calls)
        assert costs == {"unknown id": 1, "known id, wrong secret": 1, "known id, right secret": 1}


class TestDemoKey:
    async def test_a_revoked_demo_key_stays_revoked_after_a_restart(self, tmp_path: Path) -> None:
        settings = gateway_settings(tmp_path, demo_api_key="demo-key-xyz")
        async with running(settings) as gw:
            assert (await gw.client.get("/v1/me", headers={"X-API-Key": "demo-key-xyz"})).status_code == 200
            async with gw.app.state.db.transaction() as session:
                key = (await session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key("demo-key-xyz")))).one()
                await revoke_key(session, key.key_id)
        async with running(settings) as gw:
            assert (await gw.client.get("/v1/me", headers={"X-API-Key": "demo-key-xyz"})).status_code == 401
            async with gw.app.state.db.transaction() as session:
                demo = (await session.exec(select(ApiKey).where(ApiKey.name.startswith("demo")))).all()  # type: ignore[attr-defined]
            assert len(demo) == 1 and demo[0].revoked_at is not None  # not un-revoked, not re-created
