"""Service identity: tokens that prove who calls an internal API and for whom, and the door that checks them."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from joserfc import jwt
from joserfc.jwk import OKPKey

from incidents_common.app import create_service_app
from incidents_common.db import Database
from incidents_common.identity import (
    MAX_TOKEN_TTL,
    PROTECTED,
    ActingUser,
    CallerDep,
    Identity,
    IdentityError,
    init_identity_dir,
    main,
)
from incidents_common.problems import Unauthorized
from incidents_common.settings import ServiceSettings

REGIONAL_ADMIN = ActingUser(subject="key:k1", role="regional_admin", regions=frozenset({"64"}))


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    folder = tmp_path / "identity"
    init_identity_dir(folder)
    return folder


class TestKeyFiles:
    def test_private_keys_are_owner_only_and_a_second_init_keeps_them(self, keys: Path) -> None:
        routing_key = (keys / "routing.jwk").read_text()
        assert stat.S_IMODE((keys / "routing.jwk").stat().st_mode) == 0o600
        trusted = json.loads((keys / "trusted.jwks").read_text())
        assert {k["kid"] for k in trusted["keys"]} == {"api-gateway", "collector", "classifier", "routing", "operator"}
        assert all("d" not in k for k in trusted["keys"]), "the trusted file holds public keys only"
        init_identity_dir(keys)
        assert (keys / "routing.jwk").read_text() == routing_key

    def test_rotation_replaces_one_key_and_old_tokens_stop_working(self, keys: Path) -> None:
        old = Identity.load("api-gateway", keys).mint("routing")
        init_identity_dir(keys, rotate=["api-gateway"])
        routing = Identity.load("routing", keys)
        with pytest.raises(Unauthorized):
            routing.verify(old)
        assert routing.verify(Identity.load("api-gateway", keys).mint("routing")).identity == "api-gateway"

    def test_missing_keys_stop_the_service_with_the_command_that_makes_them(self, tmp_path: Path) -> None:
        with pytest.raises(IdentityError, match="incidents_common.identity init"):
            Identity.load("routing", tmp_path / "nothing-here")


class TestTokens:
    def test_a_gateway_token_names_the_user_it_acts_for(self, keys: Path) -> None:
        token = Identity.load("api-gateway", keys).mint("routing", user=REGIONAL_ADMIN)
        caller = Identity.load("routing", keys).verify(token)
        assert caller.identity == "api-gateway"
        assert caller.user == REGIONAL_ADMIN
        assert caller.regions == frozenset({"64"}) and not caller.can_see("77")
        assert caller.actor == "key:k1"

    def test_an_operator_token_has_every_region(self, keys: Path) -> None:
        caller = Identity.load("collector", keys).verify(Identity.load("operator", keys).mint("collector"))
        assert caller.is_operator and caller.regions is None and caller.can_see("77")

    def test_a_token_for_another_service_is_refused(self, keys: Path) -> None:
        token = Identity.load("api-gateway", keys).mint("collector")
        with pytest.raises(Unauthorized, match="not routing"):
            Identity.load("routing", keys).verify(token)

    def test_an_expired_token_is_refused(self, keys: Path) -> None:
        token = Identity.load("api-gateway", keys).mint("routing", now=time.time() - 600)
        with pytest.raises(Unauthorized, match="expired"):
            Identity.load("routing", keys).verify(token)

    def test_a_service_cannot_sign_as_another(self, keys: Path) -> None:
        """The classifier's key with the gateway's name in the header and claims: the signature fails."""
        classifier_key = OKPKey.import_key(json.loads((keys / "classifier.jwk").read_text()))
        now = int(time.time())
        forged = jwt.encode(
            {"alg": "Ed25519", "kid": "api-gateway"},
            {"iss": "api-gateway", "aud": "routing", "iat": now, "exp": now + 60, "jti": "x"},
            classifier_key,
            algorithms=["Ed25519"],
        )
        with pytest.raises(Unauthorized):
            Identity.load("routing", keys).verify(forged)

    def test_a_key_nobody_trusts_is_refused(self, keys: Path, tmp_path: Path) -> None:
        stranger = tmp_path / "stranger"
        init_identity_dir(stranger)
        with pytest.raises(Unauthorized):
            Identity.load("routing", keys).verify(Identity.load("api-gateway", stranger).mint("routing"))

    def test_lifetimes_are_capped(self, keys: Path) -> None:
        token = Identity.load("operator", keys).mint("routing", ttl=10 * MAX_TOKEN_TTL)
        caller = Identity.load("routing", keys).verify(token)
        assert caller.identity == "operator"

    def test_the_command_line_prints_a_working_operator_token(
        self, keys: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["token", "--for", "classifier", "--dir", str(keys), "--ttl", "120"]) == 0
        token = capsys.readouterr().out.strip()
        assert Identity.load("classifier", keys).verify(token).is_operator
        assert main(["token", "--for", "classifier", "--dir", str(keys / "missing")]) == 2
        assert "identity init" in capsys.readouterr().err


def _protected_app(keys: Path, tmp_path: Path) -> FastAPI:
    settings = ServiceSettings(service_name="classifier", nats_enabled=False, log_json=False, identity_dir=str(keys))
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'probe.db'}", [])
    app = create_service_app(
        title="probe",
        description="",
        version="0",
        settings=settings,
        db=db,
        events=None,
        allowed_callers=["operator", "api-gateway"],
    )
    router = APIRouter()

    @router.get("/v1/whoami")
    async def whoami(caller: CallerDep) -> dict[str, str | None]:
        return {"identity": caller.identity, "user": caller.user.subject if caller.user else None}

    app.include_router(router, dependencies=PROTECTED)
    return app


class TestTheDoor:
    async def test_only_allowed_identities_with_valid_tokens_pass(self, keys: Path, tmp_path: Path) -> None:
        app = _protected_app(keys, tmp_path)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                missing = await client.get("/v1/whoami")
                assert missing.status_code == 401
                assert missing.headers["content-type"] == "application/problem+json"
                assert missing.headers["www-authenticate"].startswith("Bearer")

                garbage = await client.get("/v1/whoami", headers={"Authorization": "Bearer not-a-token"})
                assert garbage.status_code == 401

                def bearer(name: str, **kwargs: object) -> dict[str, str]:
                    return {"Authorization": f"Bearer {Identity.load(name, keys).mint('classifier', **kwargs)}"}  # type: ignore[arg-type]

                # The collector has its own key, but the classifier does not serve it.
                refused = await client.get("/v1/whoami", headers=bearer("collector"))
                assert refused.status_code == 403
                assert "collector may not call classifier" in refused.json()["detail"]

                ok = await client.get("/v1/whoami", headers=bearer("api-gateway", user=REGIONAL_ADMIN))
                assert ok.status_code == 200
                assert ok.json() == {"identity": "api-gateway", "user": "key:k1"}

                health = await client.get("/health")
                assert health.status_code == 200, "liveness stays open for probes"
