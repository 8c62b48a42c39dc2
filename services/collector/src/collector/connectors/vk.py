"""VK API: newsfeed.search (keyword queries), wall.get (community walls), wall.getComments; and the
single call (`call_once`) the reply publisher's wall.createComment goes through.

Wire format: every method answers `{"response": …}` or `{"error": {"error_code": n, "error_msg": …}}`.
VK posts are keyed "<owner_id>_<post_id>", the same whether found by search or on a wall.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx

from collector.connectors.base import BackOff, Connector, ConnectorError, Page, SourceHalted, transport_error
from collector.ingest.schemas import PostCreate

log = logging.getLogger("collector.vk")

TOO_MANY_REQUESTS = 6  # per-second limit: slow down and retry
AUTH_FAILED = 5
FLOOD_CONTROL = 9
RATE_LIMIT = 29  # a method's daily quota is spent
SKIPPABLE = {15: "access denied", 18: "page deleted or blocked", 30: "profile is private"}
FLOOD_BACKOFF = 600.0
RATE_LIMIT_BACKOFF = 3600.0
TOO_MANY_RETRIES = 3


class VkError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"VK error {code}: {message}")
        self.code = code
        self.message = message


class VkConnector(Connector):
    kind = "vk"

    @property
    def base_url(self) -> str:
        return str(self.settings.get("base_url") or self.config.vk_base_url).rstrip("/")

    async def call(self, method: str, **params: Any) -> Any:
        """One API call, retrying error 6 with a growing pause; other errors raise VkError."""
        for attempt in range(TOO_MANY_RETRIES + 1):
            try:
                return await self.call_once(method, **params)
            except VkError as exc:
                if exc.code == TOO_MANY_REQUESTS and attempt < TOO_MANY_RETRIES:
                    await asyncio.sleep(0.4 * (attempt + 1))
                    continue
                raise
        raise AssertionError("unreachable")

    async def call_once(self, method: str, **params: Any) -> Any:
        """One API call, no retry: the `response` object, VkError with VK's code, ConnectorError when
        no answer came (MaybeDelivered when the request may have reached VK)."""
        payload = {k: str(v) for k, v in params.items() if v is not None}
        payload["access_token"] = str(self.settings["token"])
        payload["v"] = str(self.settings.get("api_version") or self.config.vk_api_version)
        if self.limiter is not None:
            await self.limiter.wait()
        try:
            # POST keeps the token out of URLs and access logs.
            response = await self.http.post(f"{self.base_url}/{method}", data=payload)
        except httpx.TimeoutException as exc:
            raise transport_error(exc, f"VK {method} timed out") from exc
        except httpx.HTTPError as exc:
            raise transport_error(exc, f"VK {method}: {exc!r}") from exc
        if response.status_code >= 500:
            raise ConnectorError(f"VK {method}: HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise ConnectorError(f"VK {method}: not JSON (HTTP {response.status_code})") from exc
        error = body.get("error") if isinstance(body, dict) else None
        if error is None:
            if not isinstance(body, dict) or "response" not in body:
                raise ConnectorError(f"VK {method}: no response object")
            return body["response"]
        raise VkError(int(error.get("error_code", 0)), str(error.get("error_msg", "")))

    async def pages(self) -> AsyncIterator[Page]:
        skipped: list[str] = []
        try:
            for query in self.settings.get("queries", []):
                async for page in self._search(query):
                    yield page
            for owner_id in self.settings.get("owner_ids", []):
                async for page in self._skippable(self._wall(int(owner_id)), f"wall {owner_id}", skipped):
                    yield page
            for watched in self.settings.get("watched_posts", []):
                owner, post = (int(part) for part in watched.split("_"))
                async for page in self._skippable(self._comments(owner, post), f"comments {watched}", skipped):
                    yield page
        except VkError as exc:
            raise _classify(exc) from exc
        if skipped:
            yield Page(skipped=skipped)

    async def _skippable(self, pages: AsyncIterator[Page], what: str, skipped: list[str]) -> AsyncIterator[Page]:
        try:
            async for page in pages:
                yield page
        except VkError as exc:
            if exc.code not in SKIPPABLE:
                raise
            reason = f"{what} skipped: {SKIPPABLE[exc.code]} (VK error {exc.code})"
            log.info("vk target skipped", extra={"source_id": self.source_id, "reason": reason})
            skipped.append(reason)

    async def _search(self, query: str) -> AsyncIterator[Page]:
        key = f"search:{query}"
        cursor = dict(self.cursors.get(key) or {})
        if "start_time" not in cursor:
            lookback = int(self.settings.get("lookback_hours", 24)) * 3600
            cursor = {"start_time": int(datetime.now(UTC).timestamp()) - lookback, "next_from": None, "newest": 0}
        for _ in range(int(self.settings.get("max_pages", 10))):
            response = await self.call(
                "newsfeed.search",
                q=query,
                count=min(int(self.settings.get("page_size", 100)), 200),
                extended=1,
                fields="city,members_count,followers_count,screen_name",
                start_time=cursor["start_time"],
                start_from=cursor.get("next_from"),
            )
            items = response.get("items", [])
            posts = _posts(items, response)
            newest = max([cursor.get("newest") or 0, *(int(i.get("date", 0)) for i in items)])
            next_from = response.get("next_from") or None
            if next_from and items:
                cursor = {"start_time": cursor["start_time"], "next_from": next_from, "newest": newest}
                self.cursors[key] = cursor
                yield Page(posts=posts, cursors={key: cursor})
                continue
            # The window is read to its end: the next poll asks only for posts after the newest seen.
            start = newest + 1 if newest else cursor["start_time"]
            cursor = {"start_time": start, "next_from": None, "newest": newest}
            self.cursors[key] = cursor
            yield Page(posts=posts, cursors={key: cursor})
            return

    async def _wall(self, owner_id: int) -> AsyncIterator[Page]:
        key = f"wall:{owner_id}"
        last_id = int((self.cursors.get(key) or {}).get("last_id", 0))
        newest = last_id
        count = min(int(self.settings.get("page_size", 100)), 100)
        for page_number in range(int(self.settings.get("max_pages", 10))):
            response = await self.call(
                "wall.get",
                owner_id=owner_id,
                count=count,
                offset=page_number * count,
                extended=1,
                fields="city,members_count,followers_count,screen_name",
            )
            items = response.get("items", [])
            fresh = [i for i in items if int(i["id"]) > last_id]
            newest = max([newest, *(int(i["id"]) for i in fresh)])
            # The pinned post sits on top whatever its age; an older unpinned one means we are caught up.
            caught_up = any(int(i["id"]) <= last_id and not i.get("is_pinned") for i in items)
            done = caught_up or len(items) < count
            cursors = {key: {"last_id": newest}} if done else {}
            yield Page(posts=_posts(fresh, response), cursors=cursors)
            if done:
                break
        else:
            yield Page(cursors={key: {"last_id": newest}})
        self.cursors[key] = {"last_id": newest}

    async def _comments(self, owner_id: int, post_id: int) -> AsyncIterator[Page]:
        key = f"comments:{owner_id}_{post_id}"
        last_id = int((self.cursors.get(key) or {}).get("last_id", 0))
        newest = last_id
        count = 100
        for page_number in range(int(self.settings.get("max_pages", 10))):
            response = await self.call(
                "wall.getComments",
                owner_id=owner_id,
                post_id=post_id,
                count=count,
                offset=page_number * count,
                sort="asc",
                extended=1,
                need_likes=1,
                fields="city,followers_count,screen_name",
            )
            items = [i for i in response.get("items", []) if int(i["id"]) > last_id]
            newest = max([newest, *(int(i["id"]) for i in items)])
            posts = _posts(items, response, parent=f"{owner_id}_{post_id}")
            done = len(response.get("items", [])) < count
            yield Page(posts=posts, cursors={key: {"last_id": newest}})
            if done:
                break
        self.cursors[key] = {"last_id": newest}


def _classify(exc: VkError) -> ConnectorError:
    if exc.code == AUTH_FAILED:
        return SourceHalted(f"VK authorisation failed (error 5): {exc.message}; update the token")
    if exc.code == FLOOD_CONTROL:
        return BackOff(f"VK flood control (error 9): {exc.message}", FLOOD_BACKOFF)
    if exc.code == RATE_LIMIT:
        return BackOff(f"VK rate limit reached (error 29): {exc.message}", RATE_LIMIT_BACKOFF)
    if exc.code == TOO_MANY_REQUESTS:
        return BackOff(f"VK too many requests per second (error 6): {exc.message}", 30.0)
    return ConnectorError(str(exc))


def _people(response: dict[str, Any]) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
    profiles = {int(p["id"]): p for p in response.get("profiles", []) or [] if "id" in p}
    groups = {int(g["id"]): g for g in response.get("groups", []) or [] if "id" in g}
    return profiles, groups


def _author(from_id: int, profiles: dict[int, dict[str, Any]], groups: dict[int, dict[str, Any]]) -> dict[str, Any]:
    if from_id < 0:
        group = groups.get(-from_id, {})
        screen = group.get("screen_name") or f"club{-from_id}"
        return {
            "id": str(from_id),
            "name": group.get("name"),
            "profile_url": f"https://vk.com/{screen}",
            "followers": group.get("members_count"),
        }
    profile = profiles.get(from_id, {})
    name = " ".join(p for p in (profile.get("first_name"), profile.get("last_name")) if p) or None
    screen = profile.get("screen_name") or f"id{from_id}"
    return {
        "id": str(from_id),
        "name": name,
        "profile_url": f"https://vk.com/{screen}",
        "followers": profile.get("followers_count"),
    }


def _city(owner_id: int, profiles: dict[int, dict[str, Any]], groups: dict[int, dict[str, Any]]) -> str | None:
    holder = groups.get(-owner_id) if owner_id < 0 else profiles.get(owner_id)
    city = (holder or {}).get("city")
    return city.get("title") if isinstance(city, dict) else None


def _count(item: dict[str, Any], field: str) -> int | None:
    value = item.get(field)
    return int(value["count"]) if isinstance(value, dict) and "count" in value else None


def _posts(items: list[dict[str, Any]], response: dict[str, Any], *, parent: str | None = None) -> list[PostCreate]:
    profiles, groups = _people(response)
    posts = []
    for item in items:
        try:
            post = _post(item, profiles, groups, parent)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("vk item skipped", extra={"error": repr(exc), "item_id": item.get("id")})
            continue
        if post is not None:
            posts.append(post)
    return posts


def _post(
    item: dict[str, Any], profiles: dict[int, dict[str, Any]], groups: dict[int, dict[str, Any]], parent: str | None
) -> PostCreate | None:
    owner_id = int(item.get("owner_id") or item["from_id"])
    from_id = int(item.get("from_id") or owner_id)
    history = item.get("copy_history") or []
    text = (item.get("text") or "").strip()
    if not text and history:
        # A repost without a comment spreads the original's words: keep them, marked as a repost.
        text = (history[0].get("text") or "").strip()
    if not text:
        return None
    if parent is not None:
        external_id = f"{parent}_c{item['id']}"
        url = f"https://vk.com/wall{parent}?reply={item['id']}"
    else:
        external_id = f"{owner_id}_{item['id']}"
        url = f"https://vk.com/wall{external_id}"
    place: dict[str, Any] = {}
    city = _city(owner_id, profiles, groups)
    if city:
        place["city"] = city
    if owner_id < 0 and groups.get(-owner_id, {}).get("name"):
        place["title"] = groups[-owner_id]["name"]
    geo = item.get("geo") or {}
    coordinates = str(geo.get("coordinates") or "").replace(",", " ").split()
    if len(coordinates) == 2:
        place["latitude"], place["longitude"] = float(coordinates[0]), float(coordinates[1])
    geo_place = geo.get("place") or {}
    if geo_place.get("city") and "city" not in place:
        place["city"] = geo_place["city"]
    chain = [
        {
            "source_type": "vk",
            "external_id": f"{int(h.get('owner_id') or h.get('from_id'))}_{h['id']}",
            "author": _author(int(h.get("from_id") or h.get("owner_id")), profiles, groups),
        }
        for h in history
        if h.get("id") is not None
    ]
    return PostCreate.model_validate(
        {
            "source_type": "vk",
            "external_id": external_id,
            "url": url,
            "author": _author(from_id, profiles, groups),
            "text": text,
            "published_at": datetime.fromtimestamp(int(item["date"]), UTC),
            "place_hints": place,
            "parent_external_id": parent,
            "repost_chain": chain,
            "reach": {
                "likes": _count(item, "likes"),
                "reposts": _count(item, "reposts"),
                "comments": _count(item, "comments"),
                "views": _count(item, "views"),
            },
        }
    )
