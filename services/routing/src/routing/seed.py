"""The demo directory shipped in routing/data, loaded at startup when the directory is empty."""

from __future__ import annotations

import logging
from importlib import resources

from sqlalchemy.exc import IntegrityError

from incidents_common.db import Database
from routing.directory.parsing import parse_import
from routing.directory.schemas import ImportResult
from routing.directory.service import directory_is_empty, import_directory

log = logging.getLogger("routing.seed")
DEMO_FILE = "demo_directory.yaml"


def demo_directory_bytes() -> bytes:
    return resources.files("routing").joinpath("data", DEMO_FILE).read_bytes()


async def seed_demo_directory(db: Database) -> ImportResult | None:
    """Import the demo directory if no official exists yet; None when there was one already."""
    try:
        async with db.transaction() as session:
            if not await directory_is_empty(session):
                return None
            result = await import_directory(session, document=parse_import(demo_directory_bytes(), filename=DEMO_FILE))
    except IntegrityError:
        log.info("demo directory loaded by another replica meanwhile")
        return None
    log.info("demo directory loaded", extra=result.model_dump(exclude={"errors"}))
    return result
