"""The operations on dead letters, through a JetStream context: list, show, replay, purge."""

from __future__ import annotations

import builtins
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, ReplayPolicy

from incidents_common.deadletters.letter import (
    REPLAY_OF_HEADER,
    STREAM,
    DeadLetter,
    Replayed,
    from_message,
    subject_matches,
)
from incidents_common.events import DEAD_LETTER_ROOT, SUBJECT_ROOT, BadEvent, dead_letter_subject
from incidents_common.nats import is_infrastructure_failure
from incidents_common.problems import NotFound, ProblemError, ServiceUnavailable


class DeadLetterNotFound(NotFound):
    slug, title = "dead-letter-not-found", "Dead letter not found"


class UnknownConsumer(NotFound):
    slug, title = "unknown-consumer", "Unknown consumer"


class ReplayRefused(ProblemError):
    status, slug, title = 409, "replay-refused", "Replay refused"


class DeadLettersUnavailable(ServiceUnavailable):
    slug, title = "dead-letters-unavailable", "Dead letters unavailable"


class DeadLetters:
    """The dead letters some consumers may operate on, through a JetStream context.

    `consumers` maps each durable name to its filter subject: a service passes its own consumers
    and sees nothing else (and a replay must go to a subject its consumer reads). None (the
    operator) means every consumer's dead letters, and replays to any event subject.
    """

    def __init__(
        self,
        js: JetStreamContext,
        consumers: Mapping[str, str] | None = None,
        *,
        timeout: float = 5.0,
        appliers: Mapping[str, Callable[[bytes], Awaitable[bool]]] | None = None,
    ) -> None:
        self.js = js
        self.consumers = dict(consumers) if consumers is not None else None
        self.timeout = timeout
        # A service replays in-process through its own consumer (handler + inbox); only the operator
        # republishes to the event subject.
        self.appliers = dict(appliers) if appliers is not None else None

    # --- reading -----------------------------------------------------------------------------

    def _filters(self, consumer: str | None) -> list[str]:
        if consumer is not None:
            self._check_consumer(consumer)
            return [dead_letter_subject(consumer)]
        if self.consumers is None:
            return [f"{DEAD_LETTER_ROOT}.>"]
        return [dead_letter_subject(durable) for durable in self.consumers]

    def _check_consumer(self, consumer: str) -> None:
        if not consumer or any(c in consumer for c in ".*> \t"):
            raise UnknownConsumer(f"{consumer!r} is not a consumer name")
        if self.consumers is not None and consumer not in self.consumers:
            raise UnknownConsumer(
                f"{consumer!r} is not a consumer of this service (its consumers: {sorted(self.consumers)})"
            )

    async def _read(
        self,
        filter_subject: str,
        *,
        start_seq: int | None = None,
        limit: int | None = None,
        headers_only: bool = False,
    ) -> list[DeadLetter]:
        """Messages on `filter_subject` from `start_seq` on (all without it), in order, up to `limit`."""
        nc = self.js._nc  # noqa: SLF001 - the context's client, for an inbox of this user's own
        inbox = nc.new_inbox()
        subscription = await nc.subscribe(inbox)
        config = ConsumerConfig(
            name=f"dl{uuid.uuid4().hex[:20]}",
            filter_subject=filter_subject,
            deliver_subject=inbox,
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if start_seq else DeliverPolicy.ALL,
            opt_start_seq=start_seq if start_seq else None,
            replay_policy=ReplayPolicy.INSTANT,
            inactive_threshold=max(self.timeout, 5.0),  # the server deletes it once nobody listens
            mem_storage=True,
            num_replicas=1,
            headers_only=headers_only or None,
        )
        found: list[DeadLetter] = []
        try:
            try:
                info = await self.js.add_consumer(STREAM, config, timeout=self.timeout)
            except nats.js.errors.NotFoundError:
                return []  # no DEADLETTER stream yet: nothing was ever dead-lettered
            except nats.errors.TimeoutError as exc:
                raise DeadLettersUnavailable(
                    "NATS did not answer the request to read dead letters (down, or this user may not read them)"
                ) from exc
            if info.num_pending == 0 and (info.delivered is None or info.delivered.consumer_seq == 0):
                return []
            while limit is None or len(found) < limit:
                try:
                    msg = await subscription.next_msg(timeout=self.timeout)
                except nats.errors.TimeoutError as exc:
                    raise DeadLettersUnavailable("reading the dead letters stalled") from exc
                found.append(from_message(msg))
                if msg.metadata.num_pending == 0:
                    break
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        return found

    async def list(
        self, consumer: str | None = None, *, after: int = 0, limit: int | None = None, headers_only: bool = False
    ) -> list[DeadLetter]:
        """Dead letters (of `consumer`, or of every consumer in scope) with a sequence above `after`,
        oldest first, at most `limit`."""
        found: list[DeadLetter] = []
        for filter_subject in self._filters(consumer):
            found += await self._read(
                filter_subject, start_seq=after + 1 if after else None, limit=limit, headers_only=headers_only
            )
        found.sort(key=lambda letter: letter.seq)
        return found[:limit] if limit is not None else found

    async def get(self, seq: int) -> DeadLetter:
        """One dead letter by its sequence; DeadLetterNotFound if there is none in scope."""
        if seq < 1:
            raise DeadLetterNotFound(f"no dead letter {seq}")
        for filter_subject in self._filters(None):
            letters = await self._read(filter_subject, start_seq=seq, limit=1)
            if letters and letters[0].seq == seq:
                return letters[0]
        raise DeadLetterNotFound(f"no dead letter {seq}" + ("" if self.consumers is None else " of this service"))

    # --- replay and purge ----------------------------------------------------------------------

    def _replay_subject(self, letter: DeadLetter) -> str:
        subject = letter.original_subject
        if not subject:
            raise ReplayRefused(f"dead letter {letter.seq} has no original subject")
        if not subject.startswith(f"{SUBJECT_ROOT}."):
            raise ReplayRefused(f"dead letter {letter.seq} came from {subject!r}, not an event subject")
        if self.consumers is not None:
            filter_subject = self.consumers.get(letter.consumer)
            if filter_subject is None or not subject_matches(subject, filter_subject):
                raise ReplayRefused(f"dead letter {letter.seq}: {subject!r} is not read by {letter.consumer!r}")
        return subject

    async def replay_letter(self, letter: DeadLetter) -> Replayed:
        """Publish `letter`'s payload to its original subject (`Nats-Msg-Id: replay-<seq>`), then delete it."""
        subject = self._replay_subject(letter)
        if self.appliers is not None:
            apply = self.appliers.get(letter.consumer)
            if apply is None:
                raise ReplayRefused(f"dead letter {letter.seq}: {letter.consumer!r} is not a consumer of this service")
            try:
                applied = await apply(letter.data)
            except BadEvent as exc:
                raise ReplayRefused(f"dead letter {letter.seq} is not a valid event: {exc}") from exc
            except Exception as exc:  # noqa: BLE001 - the handler's own failure: the dead letter stays
                if is_infrastructure_failure(exc):
                    raise DeadLettersUnavailable(f"the database is unavailable: {exc.__class__.__name__}") from exc
                raise ReplayRefused(f"dead letter {letter.seq} failed again: {exc!r}"[:500]) from exc
            await self._delete(letter.seq)
            return Replayed(
                seq=letter.seq,
                consumer=letter.consumer,
                subject=subject,
                event_id=letter.event_id,
                stream="",  # applied in-process, not republished
                stream_seq=0,
                duplicate=not applied,
            )
        headers = {"Nats-Msg-Id": f"replay-{letter.seq}", REPLAY_OF_HEADER: str(letter.seq)}
        try:
            ack = await self.js.publish(subject, letter.data, headers=headers, timeout=self.timeout)
        except nats.errors.TimeoutError as exc:
            raise DeadLettersUnavailable(f"NATS did not acknowledge the replay to {subject}") from exc
        await self._delete(letter.seq)
        return Replayed(
            seq=letter.seq,
            consumer=letter.consumer,
            subject=subject,
            event_id=letter.event_id,
            stream=ack.stream,
            stream_seq=ack.seq,
            duplicate=bool(ack.duplicate),
        )

    async def replay(self, seq: int) -> Replayed:
        return await self.replay_letter(await self.get(seq))

    async def replay_all(
        self, consumer: str | None = None, *, progress: Callable[[Replayed | Exception], None] | None = None
    ) -> tuple[builtins.list[Replayed], builtins.list[tuple[int, str]]]:
        """Replay every dead letter in scope (of `consumer`); (replayed, [(seq, error) …])."""
        letters = await self.list(consumer)
        done: builtins.list[Replayed] = []
        failed: builtins.list[tuple[int, str]] = []
        for letter in letters:
            try:
                result = await self.replay_letter(letter)
            except (ProblemError, nats.errors.Error) as exc:
                failed.append((letter.seq, str(exc)))
                if progress is not None:
                    progress(exc)
                continue
            done.append(result)
            if progress is not None:
                progress(result)
        return done, failed

    async def _delete(self, seq: int) -> bool:
        try:
            return bool(await self.js.delete_msg(STREAM, seq))
        except nats.js.errors.NotFoundError:
            return False  # deleted meanwhile (a replay by someone else)
        except nats.errors.TimeoutError as exc:
            raise DeadLettersUnavailable(f"NATS did not answer the deletion of dead letter {seq}") from exc

    async def purge(self, seq: int) -> DeadLetter:
        """Delete one dead letter (it must be in scope); returns it."""
        letter = await self.get(seq)
        await self._delete(seq)
        return letter

    async def purge_all(
        self,
        consumer: str | None = None,
        *,
        older_than: timedelta | None = None,
        progress: Callable[[DeadLetter], None] | None = None,
    ) -> int:
        """Delete the dead letters in scope (of `consumer`; only those older than `older_than`)."""
        letters = await self.list(consumer, headers_only=True)
        if older_than is not None:
            cutoff = datetime.now(UTC) - older_than
            letters = [letter for letter in letters if letter.stored_at < cutoff]
        purged = 0
        for letter in letters:
            if await self._delete(letter.seq):
                purged += 1
            if progress is not None:
                progress(letter)
        return purged
