"""Secrets at rest: a source's token and webhook secret, sealed in its settings document.

A source's token and webhook secret are stored as `fernet:<token>` inside its settings document
(incidents_common.secretbox). Rows written by the release before encryption hold them in
plaintext. We read those transparently (reveal() passes a value without the prefix through) and
seal them when they are next written, plus once at start-up (Scheduler.start) and by `rotate`,
rather than requiring a migration step before start: a database made by the previous release
then works at once, in the service and in the command-line tools alike, and a start-up pass
that failed halfway (or a replica that has not run it yet) leaves nothing unreadable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from collector.errors import ValidationProblem
from collector.models import Source
from collector.sources.schemas import SECRET_FIELDS
from incidents_common.secretbox import SecretBox

# Settings that decide where a source's secrets are sent: changing one needs the secrets again.
DESTINATION_FIELDS: dict[str, tuple[str, ...]] = {"vk": ("base_url",), "telegram": ("base_url",), "rss": ("url",)}


def seal_settings(box: SecretBox, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings as stored: every secret field encrypted (already sealed ones are kept)."""
    sealed = dict(settings)
    for field in SECRET_FIELDS:
        value = sealed.get(field)
        if isinstance(value, str) and not box.is_sealed(value):
            sealed[field] = box.seal(value)
    return sealed


def reveal_settings(box: SecretBox, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings as the connectors use them: secrets decrypted (plaintext from an old release as is)."""
    revealed = dict(settings)
    for field in SECRET_FIELDS:
        value = revealed.get(field)
        if isinstance(value, str):
            revealed[field] = box.reveal(value)
    return revealed


def redact(text: str | None, settings: Mapping[str, Any]) -> str | None:
    """`text` with the source's secrets blanked out: error texts are stored and shown to operators."""
    if not text:
        return text
    for field in SECRET_FIELDS:
        value = settings.get(field)
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def has_plaintext(box: SecretBox, settings: Mapping[str, Any]) -> bool:
    return any(isinstance(settings.get(f), str) and not box.is_sealed(settings[f]) for f in SECRET_FIELDS)


async def seal_plaintext_sources(session: AsyncSession, *, box: SecretBox) -> int:
    """Encrypt the secrets an earlier release stored in plaintext; returns the sources changed."""
    changed = 0
    for source in (await session.exec(select(Source))).all():
        if has_plaintext(box, source.settings):
            source.settings = seal_settings(box, source.settings)
            session.add(source)
            changed += 1
    return changed


async def rotate_source_secrets(session: AsyncSession, *, box: SecretBox) -> int:
    """Re-encrypt every stored secret with the first key (plaintext ones included); returns the
    sources changed. Afterwards the other keys can be removed from the setting."""
    changed = 0
    for source in (await session.exec(select(Source))).all():
        rotated = dict(source.settings)
        touched = False
        for field in SECRET_FIELDS:
            value = rotated.get(field)
            if isinstance(value, str):
                rotated[field] = box.rotate(value)
                touched = True
        if touched:
            source.settings = rotated
            session.add(source)
            changed += 1
    return changed


class SecretsNeeded(ValidationProblem):
    slug, title = "secrets-needed", "Secrets must be sent again"


def check_destination(
    kind: str, stored: Mapping[str, Any], update: Mapping[str, Any], merged: Mapping[str, Any]
) -> None:
    """A change of where the secrets go (base_url …) must come with the secrets themselves: otherwise
    whoever may edit a source could point it at their own host and have the stored token sent there."""
    moved = [f for f in DESTINATION_FIELDS.get(kind, ()) if stored.get(f) != merged.get(f)]
    if not moved:
        return
    missing = [f for f in SECRET_FIELDS if stored.get(f) and not update.get(f)]
    if missing:
        fields = " and ".join(missing)
        raise SecretsNeeded(
            f"changing {', '.join(moved)} decides where the stored {fields} is sent: send {fields} again in the "
            "same request",
            errors=[
                {
                    "loc": ["body", "settings", field],
                    "msg": f"required when {', '.join(moved)} changes",
                    "type": "missing",
                }
                for field in missing
            ],
        )
