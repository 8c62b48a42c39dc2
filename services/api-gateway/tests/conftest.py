"""Fixtures of the gateway tests; the helpers live in api_gateway.testing. `contracts` checks the
answers of the fakes of our own services against those services' committed openapi.json."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_gateway.testing import Gateway, gateway_settings, running
from incidents_common.regions import REGIONS


@pytest.fixture
def make_gateway(tmp_path: Path) -> Callable[..., contextlib.AbstractAsyncContextManager[Gateway]]:
    def factory(**overrides: Any) -> contextlib.AbstractAsyncContextManager[Gateway]:
        return running(gateway_settings(tmp_path, **overrides))

    return factory


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with running(gateway_settings(tmp_path)) as gateway:
        yield gateway


# -- fakes of our own services answer only what the real service may answer ----------------------

SERVICES_DIR = Path(__file__).resolve().parents[2]  # services/: each service's committed openapi.json


def _closed(node: Any) -> Any:
    """The schema with every object that lists its properties closed to others (no additionalProperties):
    the real services answer through their response models, so a field they do not declare is a field
    they never send, and a fake that sends one (a wrong field name) must fail as a missing one does."""
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    closed = {key: _closed(value) for key, value in node.items()}
    if isinstance(closed.get("properties"), dict) and "additionalProperties" not in closed:
        closed["additionalProperties"] = False
    return closed


@functools.cache
def _contract(service: str) -> tuple[dict[str, Any], Any]:
    """The committed openapi.json of `service` (closed objects) and its schemathesis schema."""
    import schemathesis

    spec = json.loads((SERVICES_DIR / service / "openapi.json").read_text(encoding="utf-8"))
    spec["components"] = _closed(spec.get("components", {}))
    return spec, schemathesis.openapi.from_dict(spec)


def contract_violation(service: str, method: str, path: str, response: httpx.Response) -> str | None:
    """Why `response` to `method path` is not an answer `service` could give per its committed
    openapi.json (an unknown operation, an undocumented status, a body off the schema); None if it could."""
    spec, schema = _contract(service)
    where = f"{service}: {method} {path} → {response.status_code}"
    operation = schema.find_operation_by_path(method, path)
    if operation is None:
        return f"{where}: no such operation in services/{service}/openapi.json"
    documented = spec["paths"][operation.path][method.lower()]["responses"]
    if str(response.status_code) not in documented and "default" not in documented:
        return f"{where}: status not documented (documented: {', '.join(documented)})"
    try:
        operation.validate_response(response)
    except (AssertionError, BaseExceptionGroup) as exc:  # schemathesis' Failure / FailureGroup
        return f"{where}: {exc}"
    return None


@dataclass
class Contracts:
    """Checks every response a fake of one of our services gives (see `checked`)."""

    violations: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)  # each answer checked: "service: METHOD path → status"

    def checked(self, service: str, app: FastAPI) -> FastAPI:
        """`app` (a fake of `service`), each of whose answers is validated against the service's
        committed openapi.json as it is sent; what does not validate is kept in `violations`."""
        app.add_middleware(_CheckAnswers, contracts=self, service=service)
        return app

    def assert_kept(self) -> None:
        """Fail with every answer that broke its contract (reported once: the list is emptied)."""
        violations, self.violations = self.violations, []
        assert not violations, "a fake answered in a shape the real service does not:\n" + "\n".join(violations)

    def check(self, service: str, method: str, path: str, response: httpx.Response) -> None:
        self.answers.append(f"{service}: {method} {path} → {response.status_code}")
        violation = contract_violation(service, method, path, response)
        if violation is not None:
            self.violations.append(violation)


class _CheckAnswers:
    """ASGI middleware: captures the status, headers and body a fake sends, then checks them."""

    def __init__(self, app: ASGIApp, contracts: Contracts, service: str) -> None:
        self.app = app
        self.contracts = contracts
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        body = bytearray()

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        request = httpx.Request(scope["method"], f"http://{self.service}{scope['path']}")
        response = httpx.Response(status, headers=headers, content=bytes(body), request=request)
        response.elapsed = timedelta(0)  # read by schemathesis; a captured answer has none
        self.contracts.check(self.service, scope["method"], scope["path"], response)


@pytest.fixture
def contracts() -> Iterator[Contracts]:
    """Wrap each fake of one of our services with `contracts.checked(service, app)`: the test fails
    if the fake answered anything the real service's committed openapi.json does not allow."""
    found = Contracts()
    yield found
    found.assert_kept()


@pytest.fixture
def fake_collector(contracts: Contracts) -> Callable[..., FastAPI]:
    """A collector's POST /v1/posts that records each body and answers as the real collector does for
    a new push post (IngestResult); `with_post_id=False`: an answer that lists no item, which the
    contract allows, so the gateway must find the post by its external id."""

    def make(received: list[dict[str, Any]], *, with_post_id: bool = True) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/posts")
        async def push(request: Request) -> Any:
            body = await request.json()
            received.append(body)
            item = {
                "post_id": f"p-{len(received)}",
                "source_type": body["source_type"],
                "external_id": body["external_id"],
                "version": 1,
                "status": "created",
            }
            return {"accepted": 1, "duplicates": 0, "updated": 0, "items": [item] if with_post_id else []}

        return contracts.checked("collector", app)

    return make


@pytest.fixture
def fake_classifier(contracts: Contracts) -> Callable[..., FastAPI]:
    """A classifier's POST /v1/classify that records each body and answers a Classification whose
    region is `region` with `confidence`, as the classifier would for a text naming it."""

    def make(seen: list[dict[str, Any]], region: str | None, confidence: float = 0.9) -> FastAPI:
        app = FastAPI()

        def label(value: str) -> dict[str, Any]:
            return {"label": value, "confidence": 0.9, "evidence": []}

        @app.post("/v1/classify")
        async def classify(request: Request) -> Any:
            seen.append(await request.json())
            return {
                "model_version": "fake-classifier",
                "is_incident": True,
                "incident": label("complaint"),
                "category": label("roads"),
                "region": {
                    "code": region,
                    "name": REGIONS[region].name if region else None,
                    "city": None,
                    "confidence": confidence,
                    "evidence": [],
                },
                "urgency": label("normal"),
                "sentiment": label("negative"),
            }

        return contracts.checked("classifier", app)

    return make
