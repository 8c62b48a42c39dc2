"""Telegram Bot API: getUpdates long polling with `offset`, the webhook's update parser, and the
single call (`request`) the reply publisher's sendMessage goes through.

Wire format: `{"ok": true, "result": […]}` or `{"ok": false, "error_code": n, "description": …,
"parameters": {"retry_after": s}}`. Private chats are never collected: only channels and groups.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx

from collector.connectors.base import BackOff, Connector, ConnectorError, Page, SourceHalted, transport_error
from collector.ingest.schemas import PostCreate

log = logging.getLogger("collector.telegram")

UPDATE_KINDS = ("channel_post", "message", "edited_message", "edited_channel_post")
PAGE_LIMIT = 100
MAX_PAGES = 20


class TelegramError(Exception):
    """Telegram answered `ok: false`: its error code, description and, for 429, `retry_after` seconds."""

    def __init__(self, code: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(f"Telegram error {code}: {description}")
        self.code = code
        self.description = description
        self.retry_after = retry_after


class TelegramConnector(Connector):
    kind = "telegram"

    @property
    def base_url(self) -> str:
        return str(self.settings.get("base_url") or self.config.telegram_base_url).rstrip("/")

    async def call(self, method: str, params: dict[str, Any], *, wait: float = 0) -> Any:
        """One Bot API call for polling: what Telegram refuses becomes SourceHalted, BackOff or ConnectorError."""
        try:
            return await self.request(method, params, wait=wait)
        except TelegramError as exc:
            if exc.code in (401, 404):
                raise SourceHalted(f"Telegram rejected the bot token ({exc.code} {exc.description})") from exc
            if exc.code == 409:
                raise SourceHalted(
                    f"Telegram getUpdates conflicts with a webhook or another poller: {exc.description}"
                ) from exc
            if exc.code == 429:
                raise BackOff(f"Telegram flood limit: {exc.description}", exc.retry_after or 30) from exc
            raise ConnectorError(f"Telegram {method} failed ({exc.code} {exc.description})") from exc

    async def request(self, method: str, params: dict[str, Any], *, wait: float = 0) -> Any:
        """One Bot API call: its `result`, TelegramError when Telegram answers `ok: false`, ConnectorError
        when no answer came (MaybeDelivered when the request may have reached Telegram)."""
        url = f"{self.base_url}/bot{self.settings['token']}/{method}"
        try:
            response = await self.http.post(url, json=params, timeout=self.config.http_timeout + wait)
        except httpx.TimeoutException as exc:
            raise transport_error(exc, f"Telegram {method} timed out") from exc
        except httpx.HTTPError as exc:
            # The type only: the message of an httpx error quotes the URL, which holds the bot token.
            raise transport_error(exc, f"Telegram {method}: {type(exc).__name__}") from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise ConnectorError(f"Telegram {method}: not JSON (HTTP {response.status_code})") from exc
        if isinstance(body, dict) and body.get("ok") is True:
            return body.get("result")
        if not isinstance(body, dict):
            raise TelegramError(response.status_code, "")
        parameters = body.get("parameters") or {}
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        code = int(body.get("error_code", response.status_code))
        raise TelegramError(code, str(body.get("description", "")), float(retry_after) if retry_after else None)

    async def pages(self) -> AsyncIterator[Page]:
        if self.settings.get("mode", "polling") != "polling":
            return
        offset = (self.cursors.get("updates") or {}).get("offset")
        wait = int(self.settings.get("long_poll_timeout", 25))
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"timeout": wait, "limit": PAGE_LIMIT, "allowed_updates": list(UPDATE_KINDS)}
            if offset is not None:
                params["offset"] = offset
            updates = await self.call("getUpdates", params, wait=wait)
            if not updates:
                return
            offset = max(int(u["update_id"]) for u in updates) + 1
            cursor = {"offset": offset}
            self.cursors["updates"] = cursor
            # Confirming (offset) and storing happen together: Telegram forgets confirmed updates.
            yield Page(posts=posts_from_updates(updates), cursors={"updates": cursor})
            if len(updates) < PAGE_LIMIT:
                return
            wait = 0  # the backlog is being drained: no need to hold the connection open


async def set_webhook(http: httpx.AsyncClient, *, base_url: str, token: str, url: str, secret: str) -> dict[str, Any]:
    """Register the collector's webhook URL with Telegram (setWebhook with the secret token)."""
    response = await http.post(
        f"{base_url.rstrip('/')}/bot{token}/setWebhook",
        json={"url": url, "secret_token": secret, "allowed_updates": list(UPDATE_KINDS)},
    )
    try:
        body = response.json()
    except ValueError as exc:
        raise ConnectorError(f"Telegram setWebhook: not JSON (HTTP {response.status_code})") from exc
    if not (isinstance(body, dict) and body.get("ok") is True):
        description = body.get("description", "") if isinstance(body, dict) else ""
        raise ConnectorError(f"Telegram setWebhook failed: {description or response.status_code}")
    return body


def posts_from_updates(updates: list[dict[str, Any]]) -> list[PostCreate]:
    posts = []
    for update in updates:
        try:
            post = post_from_update(update)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("telegram update skipped", extra={"error": repr(exc), "update_id": update.get("update_id")})
            continue
        if post is not None:
            posts.append(post)
    return posts


def _chat_author(chat: dict[str, Any]) -> dict[str, Any]:
    username = chat.get("username")
    return {
        "id": str(chat["id"]),
        "name": chat.get("title") or chat.get("first_name"),
        "profile_url": f"https://t.me/{username}" if username else None,
    }


def _user_author(user: dict[str, Any]) -> dict[str, Any]:
    username = user.get("username")
    name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p) or username
    return {"id": str(user["id"]), "name": name, "profile_url": f"https://t.me/{username}" if username else None}


def _forward_chain(message: dict[str, Any]) -> list[dict[str, Any]]:
    origin = message.get("forward_origin")
    if isinstance(origin, dict):
        kind = origin.get("type")
        if kind == "channel" and origin.get("chat"):
            chat = origin["chat"]
            return [
                {
                    "source_type": "telegram",
                    "external_id": f"{chat['id']}_{origin.get('message_id')}",
                    "author": _chat_author(chat),
                }
            ]
        if kind == "chat" and origin.get("sender_chat"):
            chat = origin["sender_chat"]
            return [
                {
                    "source_type": "telegram",
                    "external_id": f"{chat['id']}@{origin.get('date')}",
                    "author": _chat_author(chat),
                }
            ]
        if kind == "user" and origin.get("sender_user"):
            user = origin["sender_user"]
            return [
                {
                    "source_type": "telegram",
                    "external_id": f"user{user['id']}@{origin.get('date')}",
                    "author": _user_author(user),
                }
            ]
        if kind == "hidden_user":
            name = origin.get("sender_user_name")
            return [
                {
                    "source_type": "telegram",
                    "external_id": f"hidden:{name}@{origin.get('date')}",
                    "author": {"name": name},
                }
            ]
        return []
    # Bot API before 7.0: forward_from_chat / forward_from_message_id.
    chat = message.get("forward_from_chat")
    if isinstance(chat, dict):
        return [
            {
                "source_type": "telegram",
                "external_id": f"{chat['id']}_{message.get('forward_from_message_id')}",
                "author": _chat_author(chat),
            }
        ]
    return []


def post_from_update(update: dict[str, Any]) -> PostCreate | None:
    """The post inside one update, or None (private chat, no text, an update kind we ignore)."""
    message = next((update[k] for k in UPDATE_KINDS if isinstance(update.get(k), dict)), None)
    if message is None:
        return None
    chat = message["chat"]
    if chat.get("type") == "private":
        return None  # only public posts are collected
    text = message.get("text") or message.get("caption")
    if not text or not str(text).strip():
        return None
    chat_id, message_id = chat["id"], message["message_id"]
    username = chat.get("username")
    if message.get("from"):
        author = _user_author(message["from"])
    else:
        author = _chat_author(message.get("sender_chat") or chat)
    place: dict[str, Any] = {}
    if chat.get("title"):
        place["title"] = chat["title"]
    location = message.get("location") or (message.get("venue") or {}).get("location")
    if isinstance(location, dict):
        place["latitude"], place["longitude"] = location.get("latitude"), location.get("longitude")
    reply = message.get("reply_to_message")
    return PostCreate.model_validate(
        {
            "source_type": "telegram",
            "external_id": f"{chat_id}_{message_id}",
            "url": f"https://t.me/{username}/{message_id}" if username else None,
            "author": author,
            "text": text,
            "published_at": datetime.fromtimestamp(int(message["date"]), UTC),
            "place_hints": place,
            "parent_external_id": f"{chat_id}_{reply['message_id']}" if isinstance(reply, dict) else None,
            "repost_chain": _forward_chain(message),
            "reach": {"views": message.get("views")},
        }
    )
