"""Dead letters: list, show, replay and purge what consumers could not process.

A dead letter is the original message, byte for byte, on `incidents.deadletter.<consumer>` in the
DEADLETTER stream, with headers saying why (`Incidents-Dead-Letter-Reason`), where it came from
(`Incidents-Original-Subject`, `-Stream`, `-Sequence`) and how often it was delivered. It is
identified by its sequence number in DEADLETTER.

- **list / show**: read through an ephemeral push consumer on DEADLETTER whose filter is the
  consumer's dead-letter subject (a service's NATS user may read only its own durables' dead letters,
  docs/nats-security.md); the messages arrive in the reader's own inbox.
- **replay**: publish the original payload to the original subject with `Nats-Msg-Id: replay-<seq>`
  (a fresh id, so the duplicate window does not drop it; replaying the same dead letter twice within
  the window publishes once), then delete the dead letter. Every consumer of that subject receives
  it; those that processed the event already skip it through their inbox, so a replay never doubles
  an effect. If it fails again, it is dead-lettered again.
- **purge**: delete one dead letter, all of a consumer, or those older than N days.

Three ways in: the `DeadLetters` class (a JetStream context and, for a service, its consumers);
the operator's command line `python -m incidents_common.deadletters list|show|replay|purge`; and the
admin API every service mounts, `dead_letter_router()` at `/v1/admin/dead-letters`, limited to that
service's own consumers and to the operator. docs/dead-letters.md is the operator's guide.

The package: `letter` (one dead letter), `operations` (DeadLetters), `api` (the admin router and its
schemas), `cli` (the command line). Import from the package.
"""

from incidents_common.deadletters.api import (
    API_KEYS_REFUSED,
    PROTECTED_NO_API_KEYS,
    DeadLetterDetail,
    DeadLetterPage,
    DeadLetterSummary,
    PurgeRequest,
    PurgeResult,
    ReplayAll,
    ReplayAllResult,
    ReplayedRead,
    ReplayFailure,
    dead_letter_router,
    refuse_api_keys,
    require_operator,
)
from incidents_common.deadletters.letter import REPLAY_OF_HEADER, STREAM, DeadLetter, Replayed, subject_matches
from incidents_common.deadletters.operations import (
    DeadLetterNotFound,
    DeadLetters,
    DeadLettersUnavailable,
    ReplayRefused,
    UnknownConsumer,
)

__all__ = [
    "API_KEYS_REFUSED",
    "DeadLetter",
    "DeadLetterDetail",
    "DeadLetterNotFound",
    "DeadLetterPage",
    "DeadLetterSummary",
    "DeadLetters",
    "DeadLettersUnavailable",
    "PROTECTED_NO_API_KEYS",
    "PurgeRequest",
    "PurgeResult",
    "REPLAY_OF_HEADER",
    "ReplayAll",
    "ReplayAllResult",
    "ReplayFailure",
    "ReplayRefused",
    "Replayed",
    "ReplayedRead",
    "STREAM",
    "UnknownConsumer",
    "dead_letter_router",
    "refuse_api_keys",
    "require_operator",
    "subject_matches",
]
