"""Ingest's pure half: posts normalised into rows and PostCollected payloads (no database work)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from collector.errors import ValidationProblem
from collector.ingest.schemas import PostCreate
from collector.normalize import clean_text, content_hash, guess_language, post_id_for, synthetic_external_id, to_utc
from incidents_common.db import utcnow


@dataclass(slots=True)
class PreparedPost:
    """A post normalised into its posts row (version 1), with the identity ingest decides on."""

    post_id: str
    source_type: str
    external_id: str
    text: str
    hash: str
    row: dict[str, Any]
    post: PostCreate


def has_text(post: PostCreate) -> bool:
    """Whether anything is left of the text once cleaned (validation already refused blank text, but
    markup, entities or control characters alone clean away to nothing)."""
    return bool(clean_text(post.text))


def _present(model: BaseModel) -> dict[str, Any]:
    # A flat model's set fields; model_dump(exclude_none=True) did the same at several times the cost.
    return {k: v for k, v in model.__dict__.items() if v is not None}


def _prepare(post: PostCreate, *, source_id: str | None, now: datetime) -> PreparedPost:
    text = clean_text(post.text)
    if not text:
        raise ValueError("text is empty once HTML and whitespace are removed")
    published_at = to_utc(post.published_at)
    author = post.author
    external_id = post.external_id or synthetic_external_id(
        author_id=author.id if author else None, url=post.url, published_at=published_at, text=text
    )
    source_type = str(post.source_type)
    post_id = post_id_for(source_type, external_id)
    digest = content_hash(text)
    row = {
        "id": post_id,
        "source_type": source_type,
        "external_id": external_id,
        "source_id": post.source_id or source_id,
        "version": 1,
        "content_hash": digest,
        "url": post.url,
        "author_id": author.id if author else None,
        "author_name": author.name if author else None,
        "author_url": author.profile_url if author else None,
        "author_followers": author.followers if author else None,
        "text": text,
        "published_at": published_at,
        "collected_at": now,
        "updated_at": now,
        "language": post.language or guess_language(text),
        "place_hints": _present(post.place_hints),
        "parent_external_id": post.parent_external_id,
        "repost_chain": [r.model_dump(mode="json", exclude_none=True) for r in post.repost_chain],
        "reach": _present(post.reach),
    }
    return PreparedPost(post_id, source_type, external_id, text, digest, row, post)


def json_time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _compact(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if v is not None}


def post_collected_payload(row: Mapping[str, Any]) -> dict[str, Any]:
    """The PostCollected payload in its JSON form (None left out, as encode_event does)."""
    author = None
    if row["author_id"] or row["author_name"]:
        author = _compact(
            {
                "id": row["author_id"],
                "name": row["author_name"],
                "profile_url": row["author_url"],
                "followers": row["author_followers"],
            }
        )
    return _compact(
        {
            "post_id": row["id"],
            "version": row["version"],
            "source_id": row["source_id"],
            "source_type": row["source_type"],
            "external_id": row["external_id"],
            "url": row["url"],
            "author": author,
            "text": row["text"],
            "published_at": json_time(row["published_at"]),
            "collected_at": json_time(row["collected_at"]),
            "language": row["language"],
            "place_hints": row["place_hints"],
            "parent_external_id": row["parent_external_id"],
            "repost_chain": row["repost_chain"],
            "reach": row["reach"],
        }
    )


def prepare_posts(posts: Sequence[PostCreate], *, source_id: str | None = None) -> list[PreparedPost]:
    """Normalise posts into rows (no database work). ValidationProblem if a text is empty once cleaned:
    raised before any write, so that a submission is stored completely or not at all."""
    now = utcnow()
    prepared = []
    errors = []
    for index, post in enumerate(posts):
        try:
            prepared.append(_prepare(post, source_id=source_id, now=now))
        except ValueError as exc:
            errors.append({"loc": ["body", "posts", str(index), "text"], "msg": str(exc), "type": "value_error"})
    if errors:
        raise ValidationProblem(f"{len(errors)} post(s) have no text", errors=errors[:50])
    return prepared


def parse_post(document: Any) -> PostCreate:
    """Validate one decoded JSON document as a post; ValueError with a readable reason."""
    if not isinstance(document, dict):
        raise ValueError("a post must be a JSON object")
    try:
        post = PostCreate.model_validate(document)
    except ValidationError as exc:
        raise ValueError(_errors_text(exc)) from exc
    if not has_text(post):
        raise ValueError("text: empty once HTML and whitespace are removed")
    return post


def _errors_text(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'post'}: {e['msg']}" for e in exc.errors()[:5])
