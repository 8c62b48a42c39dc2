"""RSS 2.0 and Atom feeds through feedparser, with ETag / Last-Modified conditional requests."""

from __future__ import annotations

import calendar
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import feedparser
import httpx

from collector.connectors.base import Connector, ConnectorError, Page, SourceHalted
from collector.ingest.schemas import PostCreate
from collector.normalize import clean_text

log = logging.getLogger("collector.rss")

USER_AGENT = "incidents-collector/0.1 (+https://incidents.example)"


class RssConnector(Connector):
    kind = "rss"

    async def pages(self) -> AsyncIterator[Page]:
        url = str(self.settings["url"])
        cursor = dict(self.cursors.get("feed") or {})
        headers = {"User-Agent": USER_AGENT, "Accept": "application/rss+xml, application/atom+xml, */*;q=0.5"}
        if cursor.get("etag"):
            headers["If-None-Match"] = cursor["etag"]
        if cursor.get("last_modified"):
            headers["If-Modified-Since"] = cursor["last_modified"]
        try:
            response = await self.http.get(url, headers=headers, follow_redirects=True)
        except httpx.TimeoutException as exc:
            raise ConnectorError(f"feed {url} timed out") from exc
        except httpx.HTTPError as exc:
            raise ConnectorError(f"feed {url}: {type(exc).__name__}") from exc
        if response.status_code == 304:
            return
        if response.status_code == 410:
            raise SourceHalted(f"feed {url} is gone (HTTP 410)")
        if response.status_code != 200:
            raise ConnectorError(f"feed {url}: HTTP {response.status_code}")
        parsed = feedparser.parse(response.content)
        if parsed.bozo and not parsed.entries:
            raise ConnectorError(f"feed {url} is not RSS/Atom: {parsed.get('bozo_exception')!r}")
        new_cursor = {
            "etag": response.headers.get("ETag"),
            "last_modified": response.headers.get("Last-Modified"),
        }
        self.cursors["feed"] = new_cursor
        feed_title = clean_text(parsed.feed.get("title", "") or "") or None
        posts = []
        for entry in parsed.entries:
            post = self._post(entry, feed_title)
            if post is not None:
                posts.append(post)
        yield Page(posts=posts, cursors={"feed": new_cursor})

    def _post(self, entry: Any, feed_title: str | None) -> PostCreate | None:
        title = entry.get("title") or ""
        body = ""
        if entry.get("content"):
            body = entry["content"][0].get("value", "")
        elif entry.get("summary"):
            body = entry["summary"]
        text = "\n\n".join(part for part in (title, body) if part and part.strip())
        if not clean_text(text):
            return None
        parsed_time = entry.get("published_parsed") or entry.get("updated_parsed")
        published = datetime.fromtimestamp(calendar.timegm(parsed_time), UTC) if parsed_time else datetime.now(UTC)
        place: dict[str, Any] = {"title": feed_title} if feed_title else {}
        for field in ("city", "region_code"):
            if self.settings.get(field):
                place[field] = self.settings[field]
        external_id = entry.get("id") or entry.get("link")
        author = {"name": entry["author"]} if entry.get("author") else None
        try:
            return PostCreate.model_validate(
                {
                    "source_type": "rss",
                    "external_id": external_id[:255] if external_id else None,
                    "url": entry.get("link"),
                    "author": author,
                    "text": text,
                    "published_at": published,
                    "place_hints": place,
                }
            )
        except ValueError as exc:
            log.warning("feed entry skipped", extra={"error": str(exc)[:300]})
            return None
