"""One sender per webhook at a time, so that its deliveries go out one by one in event-sequence order.

Within a dispatcher a set of the webhooks being sent is enough. Between gateway replicas on one
PostgreSQL, a replica claims a webhook with a session-level advisory lock, taken on one connection
of its own for the whole pass and released when the webhook is done (or when that connection ends:
a replica that dies frees its webhooks). Not a row lock held in a transaction around the POSTs: that
would hold a pooled connection per webhook for as long as the receivers take to answer, and make
`DELETE /v1/webhooks/{id}` (an UPDATE of the webhook's row) wait for them. SQLite has one process.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from incidents_common.db import Database

_TRY_LOCK = text("SELECT pg_try_advisory_lock(hashtext('gw_webhook_delivery'), hashtext(:webhook_id))")
_UNLOCK = text("SELECT pg_advisory_unlock(hashtext('gw_webhook_delivery'), hashtext(:webhook_id))")


class WebhookClaims:
    """The webhooks one pass of a dispatcher sends (`async with`: released, every one, at its end)."""

    def __init__(self, db: Database, busy: set[str]) -> None:
        self.db = db
        self.busy = busy  # the dispatcher's: shared by its passes, so that two of them never send one webhook
        self._mine: set[str] = set()
        self._connection: AsyncConnection | None = None
        self._statements = asyncio.Lock()  # one connection: one statement at a time

    async def __aenter__(self) -> WebhookClaims:
        if not self.db.is_sqlite:
            connection = await self.db.engine.connect()
            self._connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.busy.difference_update(self._mine)
        self._mine.clear()
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                await connection.execute(text("SELECT pg_advisory_unlock_all()"))
            except BaseException:
                # Not back into the pool still holding locks: closing the session releases them.
                await connection.invalidate()
                raise
            finally:
                await connection.close()

    async def claim(self, webhook_id: str) -> bool:
        """Whether this pass may send the webhook's deliveries now (False: another pass or replica is)."""
        if webhook_id in self.busy:
            return False
        self.busy.add(webhook_id)
        if self._connection is not None:
            async with self._statements:
                claimed = (await self._connection.execute(_TRY_LOCK, {"webhook_id": webhook_id})).scalar_one()
            if not claimed:
                self.busy.discard(webhook_id)
                return False
        self._mine.add(webhook_id)
        return True

    async def release(self, webhook_id: str) -> None:
        if webhook_id not in self._mine:
            return
        if self._connection is not None:
            async with self._statements:
                await self._connection.execute(_UNLOCK, {"webhook_id": webhook_id})
        self._mine.discard(webhook_id)
        self.busy.discard(webhook_id)
