"""Text and identity normalisation: HTML to plain text, whitespace, language guess, stable ids."""

from __future__ import annotations

import hashlib
import html
import re
import uuid
from datetime import UTC, datetime
from html.parser import HTMLParser

_TAG = re.compile(r"<[a-zA-Z/!]")
# Control characters count as spaces: a NUL (which PostgreSQL cannot store in text) or a stray
# control byte pasted between two words still separates them.
_SPACES = re.compile(r"[ \t\f\v\x00-\x08\x0e-\x1f\x7f\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_LINE_SPACE = re.compile(r" *\n *")
_NEWLINES = re.compile(r"\n{3,}")
_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "section"}
_SKIP_TAGS = {"script", "style", "head", "title", "template"}

# Post ids are derived from the dedup key so that they are the same in every deployment.
POST_NAMESPACE = uuid.UUID("6f1c2a52-6f0e-4b9c-9a55-6b3f0d1c0a11")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


_NEEDS_WHITESPACE_WORK = re.compile(r"[\t\f\v\r\n\x00-\x08\x0e-\x1f\x7f\u00a0\u2000-\u200b\u202f\u205f\u3000]| {2}")


def clean_text(raw: str) -> str:
    """HTML stripped, entities decoded, whitespace normalised (paragraph breaks kept)."""
    if "<" not in raw and "&" not in raw and not _NEEDS_WHITESPACE_WORK.search(raw):
        return raw.strip()  # the common case: one plain line
    if _TAG.search(raw):
        parser = _TextExtractor()
        parser.feed(raw)
        parser.close()
        text = "".join(parser.parts)
    else:
        text = html.unescape(raw) if "&" in raw else raw
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _SPACES.sub(" ", text)
    text = _LINE_SPACE.sub("\n", text)
    text = _NEWLINES.sub("\n\n", text)
    return text.strip()


_CYRILLIC = re.compile(r"[а-яёА-ЯЁ]")
_LATIN = re.compile(r"[a-zA-Z]")
_UKRAINIAN = re.compile(r"[іїєґІЇЄҐ]")
_BELARUSIAN = re.compile(r"[ўЎ]")
_TATAR = re.compile(r"[әөүңҗһӘӨҮҢҖҺ]")


def guess_language(text: str) -> str | None:
    """A cheap script-based guess; the classifier does the real language work."""
    sample = text[:2000]
    has_cyrillic = _CYRILLIC.search(sample) is not None
    has_latin = _LATIN.search(sample) is not None
    if not has_cyrillic and not has_latin:
        return None
    if has_cyrillic and has_latin:
        # Mixed (a Russian post with a link or a brand name): the majority script decides.
        has_cyrillic = len(_CYRILLIC.findall(sample)) >= len(_LATIN.findall(sample))
    if has_cyrillic:
        if _TATAR.search(sample):
            return "tt"
        if _UKRAINIAN.search(sample):
            return "uk"
        if _BELARUSIAN.search(sample):
            return "be"
        return "ru"
    return "en"


def to_utc(value: datetime) -> datetime:
    """Aware datetimes converted to UTC; naive ones are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def content_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def post_id_for(source_type: str, external_id: str) -> str:
    """uuid5(POST_NAMESPACE, "<source_type>:<external_id>"), computed without building UUID objects."""
    digest = bytearray(
        hashlib.sha1(POST_NAMESPACE.bytes + f"{source_type}:{external_id}".encode(), usedforsecurity=False).digest()[
            :16
        ]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def synthetic_external_id(*, author_id: str | None, url: str | None, published_at: datetime, text: str) -> str:
    """A stable id for a post that came without one: the same post sent twice gets the same id."""
    basis = "\x1f".join([author_id or "", url or "", to_utc(published_at).isoformat(), text])
    return "h:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:40]
