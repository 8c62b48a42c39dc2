"""NATS JetStream: connection, the outbox relay and inbox-backed consumers, pauses and dead letters.

Delivery guarantees: JetStream is at-least-once. Publishing carries `Nats-Msg-Id` (the CloudEvent
id), so a relay that re-publishes after a crash is de-duplicated by the server within the stream's
duplicate window; consuming records every processed id in the inbox table with the effect, so a
redelivery changes nothing.

Failures (see `is_infrastructure_failure` and `Consumer`):

- **the database or NATS is unavailable** (a connection refused or lost, a pool timeout, SQLite's
  "database is locked" …, confirmed by a probe: `SELECT 1` and the NATS connection) — the consumer
  *pauses*: it keeps the messages in hand (telling JetStream they are in progress, so they are not
  redelivered and their delivery count does not grow), probes with back-off up to a ceiling, and
  retries the same messages when the dependency answers, however long that takes;
- **a message fails on its own** (the handler raises while the database answers, or runs longer
  than `handler_timeout`) — it is retried alone with back-off and after `max_deliver` attempts moved
  to `incidents.deadletter.<consumer>` with the reason, and acknowledged;
- **a message that can never be processed** (malformed, `BadEvent`) is dead-lettered at once;
- **a message delivered more than `max_deliver` times without a verdict** (the process crashed or
  hung while handling it) is dead-lettered on receipt, before it is handled again. The server-side
  consumer has no delivery limit (`max_deliver` -1), so JetStream never drops a message silently:
  every message ends processed or in the dead-letter stream.

Shutdown (`EventRuntime.stop`) drains within a bounded time: consumers stop fetching and finish the
batch in hand, the outbox relay flushes, the connection drains.

The package: `connection` (connect, ConnectionLog), `failures` (is this an outage? the database probe),
`outbox` (OutboxRelay), `spec` (the batch contract, ConsumerSpec), `consumer` (Consumer),
`dead_letter` (a dead letter's headers), `runtime` (EventRuntime), `gcpause` (the cycle collector
held off while a batch is handled). Import from the package.
"""

from incidents_common.nats.connection import ConnectionLog, connect, inbox_prefix_of
from incidents_common.nats.consumer import Consumer
from incidents_common.nats.dead_letter import (
    DEAD_LETTER_CONSUMER_HEADER,
    DEAD_LETTER_REASON_HEADER,
    DEAD_LETTERED_AT_HEADER,
    DELIVERIES_HEADER,
    DELIVERY_LIMIT_REASON,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    ORIGINAL_SEQUENCE_HEADER,
    ORIGINAL_STREAM_HEADER,
    ORIGINAL_SUBJECT_HEADER,
)
from incidents_common.nats.failures import HandlerTimeout, is_infrastructure_failure, probe_database
from incidents_common.nats.outbox import OUTBOX, OutboxRelay
from incidents_common.nats.runtime import EventRuntime
from incidents_common.nats.spec import BatchHandler, ConsumerSpec, ConsumerStats, EventHandler, each_event

__all__ = [
    "DEAD_LETTERED_AT_HEADER",
    "DEAD_LETTER_CONSUMER_HEADER",
    "DEAD_LETTER_REASON_HEADER",
    "DELIVERIES_HEADER",
    "DELIVERY_LIMIT_REASON",
    "EVENT_ID_HEADER",
    "EVENT_TYPE_HEADER",
    "ORIGINAL_SEQUENCE_HEADER",
    "ORIGINAL_STREAM_HEADER",
    "ORIGINAL_SUBJECT_HEADER",
    "OUTBOX",
    "BatchHandler",
    "ConnectionLog",
    "Consumer",
    "ConsumerSpec",
    "ConsumerStats",
    "EventHandler",
    "EventRuntime",
    "HandlerTimeout",
    "OutboxRelay",
    "connect",
    "each_event",
    "inbox_prefix_of",
    "is_infrastructure_failure",
    "probe_database",
]
