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


# ---------------------------------------------------------------------------------------------
# The write methods of VK and Telegram, with their documented answers (scripts for a FakeServer)
# ---------------------------------------------------------------------------------------------

# error_msg of the VK errors the reply publisher meets (dev.vk.com/ru/reference/errors, English texts).
VK_ERROR_MESSAGES = {
    5: "User authorization failed: invalid access_token (4).",
    6: "Too many requests per second",
    9: "Flood control",
    10: "Internal server error",
    15: "Access denied",
    18: "User was deleted or banned",
    29: "Rate limit reached",
    100: "One of the parameters specified was missing or invalid: post_id is undefined",
    212: "Access to post comments denied",
    213: "Access to status replies denied",
}


def vk_error_body(code: int, params: dict[str, str] | None = None) -> dict[str, Any]:
    """VK's error object: the code, its message and the request's parameters (the token left out)."""
    request_params = [{"key": k, "value": v} for k, v in (params or {}).items() if k != "access_token"]
    return {
        "error": {
            "error_code": code,
            "error_msg": VK_ERROR_MESSAGES.get(code, "Unknown error occurred"),
            "request_params": request_params,
        }
    }


class FakeVk:
    """VK's `wall.createComment` and `wall.getComments` as a FakeServer script (`fake.script = FakeVk()`).

    Comments made are recorded in `comments` (the form VK received, with its comment id); a call with a
    `guid` already used answers the comment made then and adds nothing, as VK documents. Every comment
    under a post, made by createComment or added by a test (`add_comment`, a citizen or the community
    writing there), is also on the post's wall, which `wall.getComments` reads as VK documents it: the
    post's comments or one comment's thread (`comment_id`), `sort`, `offset`, `count`, `start_comment_id`,
    each top-level comment with its `thread` (count and the first `thread_items_count` items), and
    `profiles`/`groups` with `extended=1`. Comment ids grow across the fake, as on one VK wall.

    `errors` queues error codes for the next calls of either method (first first); `refuse` maps a post
    ("<owner_id>_<post_id>") to the error every call on it gets; `delay` holds each createComment answer
    (after the comment is recorded: a caller may stop before it hears back). createComment calls are in
    `calls`, getComments calls in `reads`. Other methods go to `fallback`, or get error 3."""

    USER_ID = 1  # whom a token comments as when it does not answer as a community (from_group)

    def __init__(self, fallback: Script | None = None) -> None:
        self.comments: list[dict[str, Any]] = []
        self.calls: list[dict[str, str]] = []
        self.reads: list[dict[str, str]] = []
        self.errors: list[int] = []
        self.refuse: dict[str, int] = {}
        self.delay = 0.0
        self.fallback = fallback
        self.walls: dict[str, list[dict[str, Any]]] = {}  # "<owner_id>_<post_id>" -> its comments, VK's form
        self._by_guid: dict[str, int] = {}
        self._next_id = 500
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        method = request.path.rsplit("/", 1)[-1]
        if method not in ("wall.createComment", "wall.getComments"):
            return self.fallback(request) if self.fallback else Reply(body=vk_error_body(3, request.form))
        form = request.form
        with self._lock:
            (self.calls if method == "wall.createComment" else self.reads).append(form)
            if not form.get("access_token"):
                return Reply(body=vk_error_body(5, form))
            if self.errors:
                return Reply(body=vk_error_body(self.errors.pop(0), form))
            refused = self.refuse.get(f"{form.get('owner_id')}_{form.get('post_id')}")
            if refused is not None:
                return Reply(body=vk_error_body(refused, form))
            if method == "wall.getComments":
                return Reply(body={"response": self._read(form)})
            if not form.get("message"):
                return Reply(body=vk_error_body(100, form))
            guid = form.get("guid")
            comment_id = self._by_guid.get(guid) if guid else None
            if comment_id is None:
                from_group = form.get("from_group")
                comment_id = self._add(
                    int(form["owner_id"]),
                    int(form["post_id"]),
                    from_id=-int(from_group) if from_group else self.USER_ID,
                    text=form["message"],
                    reply_to=int(form["reply_to_comment"]) if form.get("reply_to_comment") else None,
                    date=None,
                )
                if guid:
                    self._by_guid[guid] = comment_id
                self.comments.append({**form, "comment_id": comment_id})
        return Reply(body={"response": {"comment_id": comment_id, "parents_stack": []}}, delay=self.delay)

    def comments_on(self, owner_id: int, post_id: int) -> list[dict[str, Any]]:
        return [c for c in self.comments if (c["owner_id"], c["post_id"]) == (str(owner_id), str(post_id))]

    def add_comment(
        self,
        owner_id: int,
        post_id: int,
        *,
        from_id: int,
        text: str,
        reply_to: int | None = None,
        date: int | None = None,
    ) -> int:
        """A comment written under the post (in the thread of `reply_to`, when given); returns its id."""
        with self._lock:
            return self._add(owner_id, post_id, from_id=from_id, text=text, reply_to=reply_to, date=date)

    def _add(
        self, owner_id: int, post_id: int, *, from_id: int, text: str, reply_to: int | None, date: int | None
    ) -> int:
        wall = self.walls.setdefault(f"{owner_id}_{post_id}", [])
        root = None
        if reply_to is not None:
            # VK nests one level: an answer in a thread stays in it (a comment the test did not add is a root).
            answered = next((c for c in wall if c["id"] == reply_to), None)
            root = answered["parents_stack"][0] if answered and answered["parents_stack"] else reply_to
        self._next_id += 1
        comment: dict[str, Any] = {
            "id": self._next_id,
            "from_id": from_id,
            "post_id": post_id,
            "owner_id": owner_id,
            "date": date if date is not None else int(time.time()),
            "text": text,
            "parents_stack": [root] if root is not None else [],
        }
        if reply_to is not None:
            comment["reply_to_comment"] = reply_to
        wall.append(comment)
        return self._next_id

    def _read(self, form: dict[str, str]) -> dict[str, Any]:
        wall = self.walls.get(f"{form.get('owner_id')}_{form.get('post_id')}", [])
        root = int(form["comment_id"]) if form.get("comment_id") else None
        level = sorted(
            (c for c in wall if (c["parents_stack"][0] if c["parents_stack"] else None) == root),
            key=lambda c: int(c["id"]),
            reverse=form.get("sort") == "desc",
        )
        if form.get("start_comment_id"):
            start = int(form["start_comment_id"])
            first = next((n for n, c in enumerate(level) if int(c["id"]) == start), None)
            level = level[first:] if first is not None else []
        offset, count = int(form.get("offset") or 0), min(int(form.get("count") or 10), 100)
        thread_items = min(int(form.get("thread_items_count") or 0), 10)
        items = []
        for comment in level[offset : offset + count]:
            item = dict(comment)
            if root is None:
                thread = sorted((c for c in wall if c["parents_stack"] == [comment["id"]]), key=lambda c: int(c["id"]))
                item["thread"] = {"count": len(thread), "items": thread[:thread_items], "can_post": True}
            items.append(item)
        response: dict[str, Any] = {"count": len(level), "current_level_count": len(level), "can_post": True}
        response["items"] = items
        if form.get("extended") == "1":
            authors = {int(c["from_id"]) for i in items for c in [i, *i.get("thread", {}).get("items", [])]}
            response["profiles"] = [
                {"id": a, "first_name": "Житель", "last_name": str(a), "screen_name": f"id{a}"}
                for a in sorted(authors)
                if a > 0
            ]
            response["groups"] = [
                {"id": -a, "name": f"Сообщество {-a}", "screen_name": f"club{-a}", "type": "page"}
                for a in sorted(authors)
                if a < 0
            ]
        return response


# Bot API answers the reply publisher meets: (error_code, description).
TELEGRAM_BLOCKED = (403, "Forbidden: bot was blocked by the user")
TELEGRAM_KICKED = (403, "Forbidden: bot was kicked from the supergroup chat")
TELEGRAM_REPLIED_NOT_FOUND = (400, "Bad Request: message to be replied not found")
TELEGRAM_CHAT_NOT_FOUND = (400, "Bad Request: chat not found")


def telegram_error_body(code: int, description: str, retry_after: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return body


class FakeTelegram:
    """The Bot API's `sendMessage` as a FakeServer script (`fake.script = FakeTelegram()`).

    Messages sent are recorded in `messages` (the JSON body, the token from the path, the message id
    given). `errors` queues answers for the next calls: (code, description) or (429, description,
    retry_after); `refuse` maps a chat id to the (code, description) every call to it gets; `delay`
    holds each answer after the message is recorded. Other methods go to `fallback`, or get 404."""

    def __init__(self, fallback: Script | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.errors: list[tuple[int, str] | tuple[int, str, int]] = []
        self.refuse: dict[int, tuple[int, str]] = {}
        self.delay = 0.0
        self.fallback = fallback
        self._next_id = 9000
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        token, _, method = request.path.removeprefix("/bot").partition("/")
        if method != "sendMessage":
            if self.fallback:
                return self.fallback(request)
            return Reply(404, telegram_error_body(404, "Not Found"))
        body: dict[str, Any] = request.json or {}
        with self._lock:
            self.calls.append(body)
            if self.errors:
                code, description, *retry_after = self.errors.pop(0)
                return Reply(code, telegram_error_body(code, description, *retry_after))
            chat_id = body.get("chat_id")
            refused = self.refuse.get(chat_id) if isinstance(chat_id, int) else None
            if refused is not None:
                return Reply(refused[0], telegram_error_body(*refused))
            if not body.get("text"):
                return Reply(400, telegram_error_body(400, "Bad Request: message text is empty"))
            self._next_id += 1
            message_id = self._next_id
            self.messages.append({**body, "token": token, "message_id": message_id})
        result = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": body.get("chat_id")},
            "text": body["text"],
        }
        reply_to = (body.get("reply_parameters") or {}).get("message_id")
        if reply_to is not None:
            result["reply_to_message"] = {"message_id": reply_to, "chat": {"id": body.get("chat_id")}}
        return Reply(body={"ok": True, "result": result}, delay=self.delay)
