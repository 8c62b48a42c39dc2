"""Calls to routing and the collector: timeouts, bounded retries, and their errors passed through;
the classifier's optional checks (`Classifier`, one try).

Only failures that cannot have changed anything upstream are retried for writes (the connection
was refused or never established); reads are also retried on timeouts and 502/503/504. When the
service stays unreachable the caller gets 503 problem+json with Retry-After within about
`upstream_timeout * (1 + retries)` seconds, never a hang. A write that was sent and got no answer in
time is 504 problem+json without Retry-After: the service may still apply it, so the caller reads
the resource before sending the write again.

Every call carries a fresh service token of the gateway for that service, naming the user the
gateway verified and acts for, so the service called checks both (incidents_common.identity).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from api_gateway.config import Settings
from incidents_common.identity import ActingUser, Identity
from incidents_common.problems import ProblemError, ServiceUnavailable
from incidents_common.settings import CLIENT_KEEP_ALIVE_SECONDS
from incidents_common.tracing import instrument_http_client

log = logging.getLogger("api_gateway.upstream")

RETRYABLE_STATUS = {502, 503, 504}


# The answers an endpoint that asks routing may give besides its own (the errors below, relayed).
UPSTREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "Your role may not do this"},
    409: {"description": "Routing refused the transition from the current status"},
    502: {
        "description": "Routing failed, or applied the action and answered off its contract (a version skew): "
        "read the incident"
    },
    503: {"description": "Routing is unavailable; nothing was changed (Retry-After)"},
    504: {"description": "Routing did not answer in time; the action may still be applied: read the incident"},
}


class UpstreamUnavailable(ServiceUnavailable):
    """Routing or the collector did not answer in time; rendered with Retry-After."""

    retry_after = 5

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(self.retry_after)}, **extensions)


class UpstreamOutcomeUnknown(ProblemError):
    """A change was sent and no answer came in time: it may have been applied (routing finishes what it
    started), so the client is not told to retry, but to read the resource first."""

    status, slug, title = 504, "upstream-timeout", "Gateway timeout"


class UpstreamProblem(ProblemError):
    """An error answered by the upstream service, relayed with its status and detail."""

    def __init__(self, status: int, body: Any, service: str) -> None:
        detail = None
        title = "Upstream error"
        extensions: dict[str, Any] = {}
        if isinstance(body, dict):
            detail = body.get("detail") if isinstance(body.get("detail"), str) else None
            title = str(body.get("title") or title)
            if isinstance(body.get("errors"), list):
                extensions["errors"] = body["errors"]
        super().__init__(detail or f"{service} answered {status}", **extensions)
        self.status = status if 400 <= status < 500 else 502
        self.title = title
        self.slug = {404: "not-found", 409: "conflict", 422: "validation-failed"}.get(status, "upstream-error")


class Upstream:
    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        identity: Identity,
        connect_timeout: float,
        timeout: float,
        retries: int,
    ) -> None:
        self.name = name
        self.identity = identity
        self.retries = max(0, retries)
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(
                max_connections=100, max_keepalive_connections=20, keepalive_expiry=CLIENT_KEEP_ALIVE_SECONDS
            ),
            headers={"User-Agent": "incidents-api-gateway"},
        )
        instrument_http_client(self.client)  # client spans, and the trace goes on in routing/the collector

    async def close(self) -> None:
        await self.client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        user: ActingUser | None = None,
    ) -> Any:
        """Call the service for `user` (None: as the gateway itself)."""
        idempotent = method in ("GET", "HEAD")
        last_error = ""
        sent = False  # a change left the gateway: its outcome is unknown without an answer
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(min(0.1 * 2**attempt, 1.0))
            try:
                # A token per attempt: it lives a minute, and a retry may come later.
                token = self.identity.mint(self.name, user=user)
                signed = {**(headers or {}), "Authorization": f"Bearer {token}"}
                response = await self.client.request(method, path, json=json, params=params, headers=signed)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                last_error = f"{exc.__class__.__name__}: {exc}"
                continue
            except httpx.TimeoutException as exc:
                last_error = f"{exc.__class__.__name__}: {exc}"
                if idempotent:
                    continue
                sent = True
                break
            except httpx.HTTPError as exc:
                last_error = f"{exc.__class__.__name__}: {exc}"
                sent = not idempotent
                break
            if response.status_code in RETRYABLE_STATUS and idempotent and attempt < self.retries:
                last_error = f"status {response.status_code}"
                continue
            return self._result(response)
        if sent:
            log.warning("upstream outcome unknown", extra={"service": self.name, "path": path, "error": last_error})
            raise UpstreamOutcomeUnknown(
                f"{self.name} did not answer in time ({last_error}); the change may still be applied: "
                "read the resource before sending it again"
            )
        log.warning("upstream unavailable", extra={"service": self.name, "path": path, "error": last_error})
        raise UpstreamUnavailable(f"{self.name} is unavailable ({last_error or 'no answer'})")

    def _result(self, response: httpx.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            if response.status_code in RETRYABLE_STATUS:
                raise UpstreamUnavailable(f"{self.name} answered {response.status_code}")
            raise UpstreamProblem(response.status_code, body, self.name)
        return body


class Classifier:
    """The classifier, asked (as the gateway, one try) for the gateway's optional checks: Open311's
    region, a reply's quality. Their callers decide what a failure means."""

    def __init__(self, settings: Settings, identity: Identity | None) -> None:
        self.settings = settings
        self.identity = identity

    async def ask(self, path: str, body: dict[str, Any]) -> Any:
        """POST `body` to `path`: the JSON answer, or the error; the classifier's span joins the caller's trace."""
        headers = {"User-Agent": "incidents-api-gateway"}
        if self.identity is not None:
            headers["Authorization"] = f"Bearer {self.identity.mint('classifier')}"
        async with httpx.AsyncClient(
            base_url=self.settings.classifier_url.rstrip("/"),
            timeout=httpx.Timeout(self.settings.upstream_timeout, connect=self.settings.upstream_connect_timeout),
            headers=headers,
        ) as client:
            instrument_http_client(client)
            response = await client.post(path, json=body)
        response.raise_for_status()
        return response.json()
