"""The permission model: what each NATS user (services, the operator, region subscribers) may publish
and subscribe to (the package docstring, `incidents_common.natsauth`, describes it)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from incidents_common.events import (
    SUBJECT_ALERT_ALL,
    SUBJECT_CLASSIFICATION_CORRECTED_ALL,
    SUBJECT_INCIDENT_ALL,
    SUBJECT_POST_CLASSIFIED,
    SUBJECT_POST_COLLECTED,
    SUBJECT_POST_NOISE,
    SUBJECT_REACTION_CLASSIFIED_ALL,
    SUBJECT_REACTION_COLLECTED_ALL,
    SUBJECT_REPLY_PUBLICATION_ALL,
    SUBJECT_REPLY_REQUESTED_ALL,
    SUBJECT_ROOT,
    dead_letter_subject,
)
from incidents_common.nats import inbox_prefix_of
from incidents_common.natsauth.errors import BadRequest
from incidents_common.regions import REGIONS
from incidents_common.streams import STREAMS

ACCOUNT = "INCIDENTS"
INCIDENTS_STREAM = "INCIDENTS"
_TOKEN = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


@dataclass(frozen=True)
class ConsumerGrant:
    """A durable pull consumer a user may create (with exactly this filter), pull from and ack."""

    stream: str
    durable: str
    filter_subject: str

    def api_subjects(self) -> list[str]:
        s, d = self.stream, self.durable
        return [
            f"$JS.API.CONSUMER.INFO.{s}.{d}",
            f"$JS.API.CONSUMER.CREATE.{s}.{d}.{self.filter_subject}",
            f"$JS.API.CONSUMER.MSG.NEXT.{s}.{d}",
            f"$JS.ACK.{s}.{d}.>",
        ]


@dataclass(frozen=True)
class ServiceUser:
    """A service's NATS user: what it publishes and which durable consumers (unprefixed names) it owns."""

    user: str
    env_prefix: str
    publishes: tuple[str, ...]
    consumers: tuple[ConsumerGrant, ...] = ()

    def grants(self, stream_prefix: str = "") -> list[ConsumerGrant]:
        check_prefix(stream_prefix)
        return [ConsumerGrant(g.stream, stream_prefix + g.durable, g.filter_subject) for g in self.consumers]

    def permissions(self, stream_prefix: str = "") -> Permissions:
        publish = [f"$JS.API.STREAM.{verb}.{spec.name}" for spec in STREAMS for verb in ("INFO", "CREATE", "UPDATE")]
        publish += self.publishes
        grants = self.grants(stream_prefix)
        for grant in grants:
            publish += grant.api_subjects()
            publish.append(dead_letter_subject(grant.durable))
            publish += dead_letter_subjects(grant)
        if grants:
            publish.append(DEAD_LETTER_DELETE)
        return Permissions(tuple(dict.fromkeys(publish)), (f"{inbox_prefix_of(self.user)}.>",))


DEAD_LETTER_STREAM = "DEADLETTER"
# NATS cannot restrict a message deletion by subject (the sequence is in the request body): a user
# with this subject may delete any dead letter. The code deletes only what it has read through its
# own filtered consumer; see docs/nats-security.md.
DEAD_LETTER_DELETE = f"$JS.API.STREAM.MSG.DELETE.{DEAD_LETTER_STREAM}"


def dead_letter_subjects(grant: ConsumerGrant) -> list[str]:
    """What a service needs to operate the dead letters of one of its durables: an ephemeral consumer
    (any name) on DEADLETTER whose filter is that durable's dead-letter subject. A service replays
    in-process (its own handler and inbox), so it never publishes the subjects it consumes."""
    return [f"$JS.API.CONSUMER.CREATE.{DEAD_LETTER_STREAM}.*.{dead_letter_subject(grant.durable)}"]


OPERATOR_USER = "operator"


def operator_permissions() -> Permissions:
    """The operator's user: every dead letter (read, delete, replay to any event subject), nothing else."""
    publish = (
        "$JS.API.INFO",
        f"$JS.API.STREAM.INFO.{DEAD_LETTER_STREAM}",
        f"$JS.API.CONSUMER.CREATE.{DEAD_LETTER_STREAM}.*.{dead_letter_subject('>')}",
        DEAD_LETTER_DELETE,
        f"{SUBJECT_ROOT}.>",
    )
    return Permissions(publish, (f"{inbox_prefix_of(OPERATOR_USER)}.>",))


# Durable names as the services' main.py files declare them (a test builds each service's app and
# compares): the collector's collector.consumers.REPLY_REQUESTED_DURABLE; the classifier's three in
# classifier.consumers; routing.main.DURABLE, REPLY_DURABLE and REACTION_DURABLE; the gateway's three in
# api_gateway/main.py.
SERVICES: dict[str, ServiceUser] = {
    service.user: service
    for service in (
        ServiceUser(
            "collector",
            "COLLECTOR_",
            publishes=(SUBJECT_POST_COLLECTED, SUBJECT_REPLY_PUBLICATION_ALL, SUBJECT_REACTION_COLLECTED_ALL),
            # Officials' replies to publish where the complaints were (it holds the sources' credentials).
            consumers=(ConsumerGrant(INCIDENTS_STREAM, "collector-reply-requested", SUBJECT_REPLY_REQUESTED_ALL),),
        ),
        ServiceUser(
            "classifier",
            "CLASSIFIER_",
            publishes=(SUBJECT_POST_CLASSIFIED, SUBJECT_POST_NOISE, SUBJECT_REACTION_CLASSIFIED_ALL),
            consumers=(
                ConsumerGrant("POSTS", "classifier-post-collected", SUBJECT_POST_COLLECTED),
                # Operators' corrections, made through routing's incident actions: training feedback.
                ConsumerGrant(
                    INCIDENTS_STREAM, "classifier-classification-corrected", SUBJECT_CLASSIFICATION_CORRECTED_ALL
                ),
                # Citizens' reactions to published replies, labelled (issue 14).
                ConsumerGrant(INCIDENTS_STREAM, "classifier-reaction-collected", SUBJECT_REACTION_COLLECTED_ALL),
            ),
        ),
        ServiceUser(
            "routing",
            "ROUTING_",
            publishes=(
                SUBJECT_INCIDENT_ALL,
                SUBJECT_CLASSIFICATION_CORRECTED_ALL,
                SUBJECT_REPLY_REQUESTED_ALL,
                SUBJECT_ALERT_ALL,  # surge alerts (routing.surges)
            ),
            consumers=(
                ConsumerGrant("POSTS", "routing-post-classified", SUBJECT_POST_CLASSIFIED),
                ConsumerGrant(INCIDENTS_STREAM, "routing-reply-publication", SUBJECT_REPLY_PUBLICATION_ALL),
                ConsumerGrant(INCIDENTS_STREAM, "routing-reaction-classified", SUBJECT_REACTION_CLASSIFIED_ALL),
            ),
        ),
        ServiceUser(
            "api-gateway",
            "GATEWAY_",
            publishes=(),
            consumers=(
                ConsumerGrant(INCIDENTS_STREAM, "gateway-incident-events", SUBJECT_INCIDENT_ALL),
                ConsumerGrant("POSTS", "gateway-post-classified", SUBJECT_POST_CLASSIFIED),
                ConsumerGrant(INCIDENTS_STREAM, "gateway-alert-events", SUBJECT_ALERT_ALL),
            ),
        ),
    )
}


def users_table() -> str:
    """The table of users and what each may do, for docs/nats-security.md (`make contracts` writes it)."""

    def code(items: Iterable[str]) -> str:
        return ", ".join(f"`{item}`" for item in items) or "—"

    def durables(grants: Iterable[ConsumerGrant]) -> str:
        return ", ".join(f"`{g.durable}` ({g.stream}, `{g.filter_subject}`)" for g in grants) or "—"

    rows = [
        "| user | publishes | its durable consumers (stream, filter) | dead letters it operates (read, delete, "
        "replay) | subscribes |",
        "|---|---|---|---|---|",
    ]
    for service in SERVICES.values():
        letters = code(dead_letter_subject(g.durable) for g in service.consumers)
        rows.append(
            f"| `{service.user}` | {code(service.publishes) if service.publishes else 'no event subject of its own'} "
            f"| {durables(service.consumers)} | {letters}{' (replays in-process)' if service.consumers else ''} "
            f"| `{inbox_prefix_of(service.user)}.>` |"
        )
    rows.append(
        f"| `{OPERATOR_USER}` | replays to any event subject `{SUBJECT_ROOT}.>` | — | every dead letter "
        f"`{dead_letter_subject('>')}` | `{inbox_prefix_of(OPERATOR_USER)}.>` |"
    )
    sample = list(region_permissions_grants("<code>"))
    rows.append(
        f"| `region<code>` | nothing | {durables(sample)} | — | `_INBOX_region<code>.>`, "
        f"{code(g.filter_subject for g in sample)} |"
    )
    return "\n".join(rows) + "\n"


def service_permissions(user: str, stream_prefix: str = "") -> Permissions:
    return SERVICES[user].permissions(stream_prefix)


def region_user(code: str) -> str:
    return f"region{code}"


def inbox_prefix(code: str) -> str:
    """The inbox prefix of region `code`'s subscriber."""
    return inbox_prefix_of(region_user(code))


def region_filter(code: str) -> str:
    return f"{SUBJECT_ROOT}.incident.*.{code}"


def region_grant(code: str) -> ConsumerGrant:
    return ConsumerGrant(INCIDENTS_STREAM, region_user(code), region_filter(code))


def region_corrections_filter(code: str) -> str:
    return f"{SUBJECT_ROOT}.classification.corrected.{code}"


def region_corrections_grant(code: str) -> ConsumerGrant:
    """The region's second durable: the classification corrections made on its incidents."""
    return ConsumerGrant(INCIDENTS_STREAM, f"{region_user(code)}-corrections", region_corrections_filter(code))


def region_alerts_filter(code: str) -> str:
    return f"{SUBJECT_ROOT}.alert.*.{code}"


def region_alerts_grant(code: str) -> ConsumerGrant:
    """The region's third durable: the surge alerts raised for its towns."""
    return ConsumerGrant(INCIDENTS_STREAM, f"{region_user(code)}-alerts", region_alerts_filter(code))


def region_permissions_grants(code: str) -> tuple[ConsumerGrant, ...]:
    """A region subscriber's durables: its incidents, its operators' corrections, its surge alerts."""
    return (region_grant(code), region_corrections_grant(code), region_alerts_grant(code))


def region_permissions(code: str) -> Permissions:
    grants = region_permissions_grants(code)
    publish = ["$JS.API.INFO", f"$JS.API.STREAM.INFO.{INCIDENTS_STREAM}"]
    for grant in grants:
        s, d = grant.stream, grant.durable
        publish += [
            f"$JS.API.CONSUMER.CREATE.{s}.{d}.{grant.filter_subject}",
            f"$JS.API.CONSUMER.INFO.{s}.{d}",
            f"$JS.API.CONSUMER.DELETE.{s}.{d}",
            f"$JS.API.CONSUMER.MSG.NEXT.{s}.{d}",
            f"$JS.ACK.{s}.{d}.>",
        ]
    return Permissions(tuple(publish), (f"{inbox_prefix(code)}.>", *(grant.filter_subject for grant in grants)))


def check_region(code: str) -> str:
    if code not in REGIONS:
        raise BadRequest(f"unknown region code {code!r}: use a two-digit ФИАС/ГАР code such as 64 or 77")
    return code


def check_prefix(prefix: str) -> str:
    if not _TOKEN.fullmatch(prefix):
        raise BadRequest(f"stream prefix {prefix!r} may contain only letters, digits, '-' and '_'")
    return prefix


def env_password_variable(user: str) -> str:
    """The environment variable holding a service's password (the service's own <PREFIX>NATS_PASSWORD)."""
    return f"{SERVICES[user].env_prefix}NATS_PASSWORD"
