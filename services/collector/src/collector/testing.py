"""Test helpers: fake external APIs (real HTTP servers on 127.0.0.1) and test settings.

Shipped in the package (like incidents_common.testing) so that tests import them by name, which
pytest's importlib mode does not allow for modules beside the tests.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from collector.config import Settings


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    json: Any
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Script = Callable[[Request], Reply]


class FakeServer:
    """An HTTP server whose answers come from `script(request)`; requests are recorded."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.script: Script = lambda _request: Reply(404, {"error": "no script"})
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _serve(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                content_type = self.headers.get("Content-Type", "")
                form: dict[str, str] = {}
                body_json: Any = None
                if "application/x-www-form-urlencoded" in content_type:
                    form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                elif "json" in content_type and raw:
                    body_json = json.loads(raw)
                request = Request(
                    self.command,
                    url.path,
                    {k: v[0] for k, v in parse_qs(url.query).items()},
                    form,
                    body_json,
                    {k.lower(): v for k, v in self.headers.items()},
                )
                fake.requests.append(request)
                reply = fake.script(request)
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.body
                headers = dict(reply.headers)
                if isinstance(body, dict | list):
                    body = json.dumps(body, ensure_ascii=False).encode()
                    headers.setdefault("Content-Type", "application/json")
                elif isinstance(body, str):
                    body = body.encode()
                try:
                    self.send_response(reply.status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = do_POST = _serve  # noqa: N815 - BaseHTTPRequestHandler's naming

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# A fixed key, so that apps made one after another over the same test database read each other's rows.
TEST_SECRET_KEY = "b3ixpJkxjfvjTT-lklvHx9Z4sAkpRLy6Mgrv2hwuY0c="  # noqa: S105 - a key for tests only


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_keys": TEST_SECRET_KEY,
        "nats_enabled": False,
        "scheduler_enabled": False,
        "log_json": False,
        "log_level": "WARNING",
        "vk_requests_per_second": 200.0,
        "http_timeout": 2.0,
        "poll_jitter": 0.0,
    }
    values.update(overrides)
    return Settings(**values)
