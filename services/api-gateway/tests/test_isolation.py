"""Region isolation (issue 6 point 2): a caller of region 64 learns nothing about region 77.

Other regions' ids give the same 404 as ids that do not exist; lists, search, export, analytics,
actions, live streams, webhooks, Open311 and the directory are all filtered; no role escalation;
expired, forged and revoked credentials get 401.
"""

from __future__ import annotations

import base64
import time

from joserfc import jwt
from joserfc.jwk import OctKey

from api_gateway.auth.models import ApiClient
from api_gateway.auth.principal import Role
from api_gateway.auth.tokens import TokenSigner
from api_gateway.testing import Gateway
from incidents_common.testing import incident_snapshot


async def _two_regions(gw: Gateway) -> None:
    await gw.create(incident_snapshot("inc-64", region="64", title="Яма во дворе"))
    await gw.create(
        incident_snapshot("inc-77", region="77", city="Москва", title="Яма на Тверской", official="off-77-1")
    )


class TestNoExistenceLeak:
    async def test_other_regions_id_is_the_same_404_as_a_missing_id(self, gw: Gateway) -> None:
        await _two_regions(gw)
        headers = gw.headers("admin64")
        other = await gw.client.get("/v1/incidents/inc-77", headers=headers)
        missing = await gw.client.get("/v1/incidents/inc-nope", headers=headers)
        assert other.status_code == missing.status_code == 404
        assert other.json()["title"] == missing.json()["title"]
        assert set(other.json()) == set(missing.json())
        assert (await gw.client.get("/v1/incidents/inc-64", headers=headers)).status_code == 200
        assert (await gw.client.get("/v1/incidents/inc-77", headers=gw.headers("federal"))).status_code == 200
        regions = (await gw.client.get("/v1/regions", headers=headers)).json()
        assert [r["code"] for r in regions] == ["64"]
        assert len((await gw.client.get("/v1/regions", headers=gw.headers("federal"))).json()) > 80

    async def test_actions_on_other_regions_incidents_are_404_before_routing_is_called(self, gw: Gateway) -> None:
        await _two_regions(gw)
        # routing_url points at a closed port: reaching routing would be a 503, not a 404.
        response = await gw.client.post(
            "/v1/incidents/inc-77/actions", json={"action": "take"}, headers=gw.headers("admin64")
        )
        assert response.status_code == 404


class TestNoListLeak:
    async def test_list_search_and_export_only_show_own_region(self, gw: Gateway) -> None:
        await _two_regions(gw)
        headers = gw.headers("admin64")
        for params in ({}, {"region": "77"}, {"q": "Тверской"}, {"region": ["64", "77"]}, {"q": "яма"}):
            body = (await gw.client.get("/v1/incidents", params=params, headers=headers)).json()
            assert "inc-77" not in [i["incident_id"] for i in body["items"]], params
        export = await gw.client.get("/v1/incidents/export.csv", params={"region": "77"}, headers=headers)
        assert export.status_code == 200
        assert "inc-77" not in export.text
        assert len(export.text.strip().splitlines()) == 1  # the header only

    async def test_a_code_that_names_no_region_is_422_not_an_empty_answer(self, gw: Gateway) -> None:
        await _two_regions(gw)
        for role in ("admin64", "federal"):
            for path in ("/v1/incidents", "/v1/review-queue", "/v1/analytics/summary", "/v1/incidents/export.csv"):
                for region in ("99", "abc", ["64", "6 4"]):
                    response = await gw.client.get(path, params={"region": region}, headers=gw.headers(role))
                    assert response.status_code == 422, (role, path, region, response.text)
                    # Malformed codes fail the parameter's pattern where it has one; well-formed ones
                    # that name no subject fail the region check.
                    assert response.json()["type"].endswith(("/unknown-region", "/validation-failed"))
        # A real region that is not yours stays an empty answer (as if there were none there).
        other = await gw.client.get("/v1/incidents", params={"region": "77"}, headers=gw.headers("admin64"))
        assert other.status_code == 200 and other.json()["items"] == []
        backwards = {"from": "2026-12-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}
        period = await gw.client.get("/v1/analytics/summary", params=backwards, headers=gw.headers("federal"))
        assert period.status_code == 422 and period.json()["type"].endswith("/empty-period")

    async def test_analytics_never_count_other_regions(self, gw: Gateway) -> None:
        await _two_regions(gw)
        headers = gw.headers("admin64")
        summary = (await gw.client.get("/v1/analytics/summary", params={"region": "77"}, headers=headers)).json()
        assert summary["total"]["incidents"] == 0
        rating = (await gw.client.get("/v1/analytics/rating", headers=headers)).json()
        assert [e["key"] for e in rating["entries"]] == ["64"]
        csv_text = (await gw.client.get("/v1/analytics/export.csv", headers=headers)).content.decode("utf-8-sig")
        assert [line.split(",")[0] for line in csv_text.strip().splitlines()[1:]] == ["64"]

    async def test_open311_is_scoped_too(self, gw: Gateway) -> None:
        await _two_regions(gw)
        headers = gw.headers("admin64")
        assert (
            await gw.client.get("/open311/v2/requests.json", params={"jurisdiction_id": "77"}, headers=headers)
        ).status_code == 404
        listed = (await gw.client.get("/open311/v2/requests.json", headers=headers)).json()
        assert [r["service_request_id"] for r in listed] == ["inc-64"]
        by_id = await gw.client.get(
            "/open311/v2/requests.json", params={"service_request_id": "inc-77,inc-64"}, headers=headers
        )
        assert [r["service_request_id"] for r in by_id.json()] == ["inc-64"]
        assert (await gw.client.get("/open311/v2/requests/inc-77.json", headers=headers)).status_code == 404
        posted = await gw.client.post(
            "/open311/v2/requests.json",
            data={"jurisdiction_id": "77", "service_code": "roads", "description": "Яма"},
            headers=headers,
        )
        assert posted.status_code == 404


class TestNoSubscribeOrUpdateLeak:
    async def test_cannot_subscribe_to_other_regions(self, gw: Gateway) -> None:
        headers = gw.headers("integration64")
        stream = await gw.client.get("/v1/events/stream", params={"region": "77"}, headers=headers)
        assert stream.status_code == 404
        hook = await gw.client.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "regions": ["77"]}, headers=headers
        )
        assert hook.status_code == 404

    async def test_directory_reads_and_writes_of_other_regions_are_refused(self, gw: Gateway) -> None:
        headers = gw.headers("admin64")
        assert (
            await gw.client.get("/v1/directory/officials", params={"region": "77"}, headers=headers)
        ).status_code == 404
        write = await gw.client.post(
            "/v1/directory/departments", json={"region_code": "77", "name": "Чужое ведомство"}, headers=headers
        )
        assert write.status_code == 404
        federal_write = await gw.client.post(
            "/v1/directory/departments", json={"region_code": "64", "name": "x"}, headers=gw.headers("federal")
        )
        assert federal_write.status_code == 403

    async def test_officials_and_integrations_cannot_act_beyond_their_role(self, gw: Gateway) -> None:
        await gw.create(incident_snapshot("mine", official="off-64-1"))
        await gw.create(incident_snapshot("theirs", official="off-64-9"))
        official = gw.headers("official64")
        mine = (await gw.client.get("/v1/incidents", params={"assignee": "me"}, headers=official)).json()
        assert [i["incident_id"] for i in mine["items"]] == ["mine"]
        assert (
            await gw.client.post("/v1/incidents/theirs/actions", json={"action": "take"}, headers=official)
        ).status_code == 403
        reassign = {"action": "reassign", "official_id": "off-64-2"}
        assert (await gw.client.post("/v1/incidents/mine/actions", json=reassign, headers=official)).status_code == 403
        for key in ("integration64", "federal"):
            response = await gw.client.post(
                "/v1/incidents/mine/actions", json={"action": "take"}, headers=gw.headers(key)
            )
            assert response.status_code == 403, key


class TestNoRoleEscalation:
    async def test_a_regional_admin_cannot_grant_more_than_it_holds(self, gw: Gateway) -> None:
        headers = gw.headers("admin64")
        for body in (
            {"name": "x", "role": "federal"},
            {"name": "x", "role": "regional_admin", "regions": ["77"]},
            {"name": "x", "role": "integration", "regions": ["64", "77"]},
        ):
            for path in ("/v1/admin/keys", "/v1/admin/clients"):
                response = await gw.client.post(path, json=body, headers=headers)
                assert response.status_code == 403, (path, body)
        ok = await gw.client.post(
            "/v1/admin/keys", json={"name": "monitor", "role": "integration", "regions": ["64"]}, headers=headers
        )
        assert ok.status_code == 201
        assert ok.json()["regions"] == ["64"]

    async def test_lower_roles_cannot_manage_credentials_or_see_other_regions_keys(self, gw: Gateway) -> None:
        for key in ("official64", "integration64"):
            response = await gw.client.post(
                "/v1/admin/keys", json={"name": "x", "role": "integration", "regions": ["64"]}, headers=gw.headers(key)
            )
            assert response.status_code == 403
        listed = (await gw.client.get("/v1/admin/keys", headers=gw.headers("admin64"))).json()
        assert all(k["regions"] == ["64"] for k in listed)
        other = next(
            k
            for k in (await gw.client.get("/v1/admin/keys", headers=gw.headers("federal"))).json()
            if k["regions"] == ["77"]
        )
        revoke = await gw.client.delete(f"/v1/admin/keys/{other['key_id']}", headers=gw.headers("admin64"))
        assert revoke.status_code == 404

    async def test_unknown_fields_cannot_smuggle_a_role(self, gw: Gateway) -> None:
        response = await gw.client.post(
            "/v1/admin/keys",
            json={"name": "x", "role": "integration", "regions": ["64"], "is_superuser": True},
            headers=gw.headers("admin64"),
        )
        assert response.status_code == 422


class TestBadCredentials:
    async def _client(self, gw: Gateway) -> tuple[str, str]:
        return await gw.client_credentials(Role.regional_admin, ["64"])

    async def test_missing_credentials_are_401_with_a_challenge(self, gw: Gateway) -> None:
        response = await gw.client.get("/v1/incidents")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert (await gw.client.get("/v1/incidents", headers={"X-API-Key": "gwk_wrong"})).status_code == 401

    async def test_a_client_revokes_its_own_tokens_with_its_credentials_rfc_7009(self, gw: Gateway) -> None:
        client_id, secret = await self._client(gw)
        other_id, other_secret = await self._client(gw)

        async def token_of(cid: str, sec: str) -> str:
            form = {"grant_type": "client_credentials", "client_id": cid, "client_secret": sec}
            return str((await gw.client.post("/v1/oauth/token", data=form)).json()["access_token"])

        mine, theirs = await token_of(client_id, secret), await token_of(other_id, other_secret)
        # Another client's token: refused, and it still works.
        refused = await gw.client.post("/v1/oauth/revoke", data={"token": theirs}, auth=(client_id, secret))
        assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
        assert (await gw.client.get("/v1/incidents", headers={"Authorization": f"Bearer {theirs}"})).status_code == 200
        # Wrong secret, or no credentials at all: 401.
        wrong = await gw.client.post("/v1/oauth/revoke", data={"token": mine}, auth=(client_id, "not-the-secret"))
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
        assert (await gw.client.post("/v1/oauth/revoke", data={"token": mine})).status_code == 401
        # HTTP Basic, as at the token endpoint; then the form's client_id and client_secret.
        revoked = await gw.client.post("/v1/oauth/revoke", data={"token": mine}, auth=(client_id, secret))
        assert revoked.status_code == 200, revoked.text
        assert (await gw.client.get("/v1/incidents", headers={"Authorization": f"Bearer {mine}"})).status_code == 401
        form = {"token": theirs, "client_id": other_id, "client_secret": other_secret}
        assert (await gw.client.post("/v1/oauth/revoke", data=form)).status_code == 200
        assert (await gw.client.get("/v1/incidents", headers={"Authorization": f"Bearer {theirs}"})).status_code == 401

    async def test_expired_token_is_401(self, gw: Gateway) -> None:
        client_id, _ = await self._client(gw)
        signer: TokenSigner = gw.app.state.signer
        async with gw.app.state.db.transaction() as session:
            client = await session.get(ApiClient, client_id)
            assert client is not None
            expired, _ = signer.issue(client, now=time.time() - 10 * signer.ttl)
            fresh, _ = signer.issue(client)
        assert (await gw.client.get("/v1/incidents", headers={"Authorization": f"Bearer {fresh}"})).status_code == 200
        assert (await gw.client.get("/v1/incidents", headers={"Authorization": f"Bearer {expired}"})).status_code == 401

    async def test_forged_tokens_are_401(self, gw: Gateway) -> None:
        client_id, _ = await self._client(gw)
        now = int(time.time())
        claims = {
            "iss": gw.settings.jwt_issuer,
            "aud": gw.settings.jwt_issuer,
            "sub": client_id,
            "iat": now,
            "exp": now + 600,
            "jti": "forged",
            "role": "federal",
        }
        wrong_key = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(b"not-the-gateway-key-at-all-0123456"))
        _, payload, _ = wrong_key.split(".")
        none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
        for token in (wrong_key, f"{none_header}.{payload}.", f"{none_header}.{payload}.AAAA"):
            response = await gw.client.get("/v1/incidents", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401

    async def test_revoked_key_client_and_token_are_401_at_once(self, gw: Gateway) -> None:
        federal = gw.headers("federal")
        created = (
            await gw.client.post(
                "/v1/admin/keys", json={"name": "temp", "role": "integration", "regions": ["64"]}, headers=federal
            )
        ).json()
        temp = {"X-API-Key": created["api_key"]}
        assert (await gw.client.get("/v1/incidents", headers=temp)).status_code == 200
        assert (await gw.client.delete(f"/v1/admin/keys/{created['key_id']}", headers=federal)).status_code == 200
        assert (await gw.client.get("/v1/incidents", headers=temp)).status_code == 401

        client_id, secret = await self._client(gw)
        token = (
            await gw.client.post(
                "/v1/oauth/token",
                data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
            )
        ).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await gw.client.get("/v1/incidents", headers=bearer)).status_code == 200
        assert (await gw.client.post("/v1/oauth/revoke", data={"token": token}, headers=bearer)).status_code == 200
        assert (await gw.client.get("/v1/incidents", headers=bearer)).status_code == 401

        token2 = (
            await gw.client.post(
                "/v1/oauth/token",
                data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
            )
        ).json()["access_token"]
        bearer2 = {"Authorization": f"Bearer {token2}"}
        assert (await gw.client.get("/v1/incidents", headers=bearer2)).status_code == 200
        assert (await gw.client.delete(f"/v1/admin/clients/{client_id}", headers=federal)).status_code == 200
        assert (await gw.client.get("/v1/incidents", headers=bearer2)).status_code == 401
        again = await gw.client.post(
            "/v1/oauth/token",
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        )
        assert again.status_code == 401
