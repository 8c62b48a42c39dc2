"""NATS users and permissions: one user per service, one per region subscriber, and the local credential store.

The permission model (every list is an allow list; NATS denies whatever a list does not name):

- one account, INCIDENTS, with JetStream; it holds the streams POSTS, INCIDENTS and DEADLETTER;
- one user per service (`collector`, `classifier`, `routing`, `api-gateway`) that may
  * look up, create and update the three streams (`ensure_streams` at start-up:
    `$JS.API.STREAM.INFO|CREATE|UPDATE.<stream>`);
  * publish its own event subjects only (the collector `incidents.v1.post.collected`, what came of
    publishing replies `incidents.v1.reply.publication.>` and citizens' reactions
    `incidents.v1.reaction.collected.>`, the classifier `incidents.v1.post.classified` and the reactions
    labelled `incidents.v1.reaction.classified.>`,
    routing `incidents.v1.incident.>`, the operators' corrections `incidents.v1.classification.corrected.>`,
    the replies to publish `incidents.v1.reply.requested.>` and the surge alerts `incidents.v1.alert.>`,
    the gateway none);
  * for each of its durable pull consumers: look it up (`$JS.API.CONSUMER.INFO.<stream>.<durable>`),
    create it with its own filter only (`$JS.API.CONSUMER.CREATE.<stream>.<durable>.<filter>`: since
    nats-server 2.9 the filter is part of the create subject, so the permission pins it), pull from it
    (`$JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>`), ack/nak it (`$JS.ACK.<stream>.<durable>.>`) and
    dead-letter into `incidents.deadletter.<durable>`;
  * subscribe to its own inbox prefix `_INBOX_<user>.>` only (never the shared `_INBOX.>`, where other
    clients' replies travel); the service connects with `inbox_prefix="_INBOX_<user>"`.
  * for each of its durables, manage its own dead letters (incidents_common.deadletters, the admin
    API `/v1/admin/dead-letters`): read them through an ephemeral push consumer on DEADLETTER whose
    filter is pinned to `incidents.deadletter.<durable>`
    (`$JS.API.CONSUMER.CREATE.DEADLETTER.*.incidents.deadletter.<durable>`; the messages arrive in
    its own inbox), replay them by publishing to the durable's filter subject, and delete them
    (`$JS.API.STREAM.MSG.DELETE.DEADLETTER`: NATS cannot pin a deletion to a subject, see
    docs/nats-security.md);
  These are exactly the subjects nats-py 2.16 uses for that work (read from a nats-server trace).
  `$JS.API.CONSUMER.DURABLE.CREATE` is not granted: nats-py never uses it for a named consumer, and
  it would let the filter be chosen freely. A service's `stream_prefix` setting prefixes its durable
  names; the store records it per service and the permissions use the prefixed names.
- one user per region subscriber `region<code>` (outside government systems), which may create, look
  up, delete, pull from and ack one durable consumer `region<code>` on INCIDENTS pinned to the filter
  `incidents.v1.incident.*.<code>`, and in the same way a second one, `region<code>-corrections`,
  pinned to `incidents.v1.classification.corrected.<code>` (the corrections its operators made), and a
  third, `region<code>-alerts`, pinned to `incidents.v1.alert.*.<code>` (its surge alerts),
  subscribe to those subjects and to `_INBOX_region<code>.>`.

- one `operator` user for the operator's command line (`python -m incidents_common.deadletters`):
  it reads every dead letter (ephemeral consumers on DEADLETTER filtered under
  `incidents.deadletter.>`), deletes them, and republishes replays to the event subjects
  `incidents.v1.>`; it reads no other stream and owns no durable consumer.

The local credential store lives in the data folder:

    <data_dir>/secrets/nats/<user>.json   (0600) the user's plaintext password, its bcrypt hash, its grants
    <data_dir>/nats/server.conf           (0600) the generated nats-server config: bcrypt hashes only
    <data_dir>/nats/nats-server.pid       written by nats-server itself (`pid_file` in the config)

Passwords come from `secrets`; an existing user is always reused (only `--rotate` changes a password).
The launcher calls `prepare_local_nats(data_dir)`; people use the command line:

    python -m incidents_common.natsauth region-credentials 64 [--data-dir var] [--rotate]
    python -m incidents_common.natsauth rotate <user> [--data-dir var]
    python -m incidents_common.natsauth list [--data-dir var]
    python -m incidents_common.natsauth render [--region 64 ...] [--no-regions] [--data-dir DIR]

docs/nats-security.md explains the whole design.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from incidents_common.events import (
    SUBJECT_ALERT_ALL,
    SUBJECT_CLASSIFICATION_CORRECTED_ALL,
    SUBJECT_INCIDENT_ALL,
    SUBJECT_POST_CLASSIFIED,
    SUBJECT_POST_COLLECTED,
    SUBJECT_REACTION_CLASSIFIED_ALL,
    SUBJECT_REACTION_COLLECTED_ALL,
    SUBJECT_REPLY_PUBLICATION_ALL,
    SUBJECT_REPLY_REQUESTED_ALL,
    SUBJECT_ROOT,
    dead_letter_subject,
)
from incidents_common.nats import inbox_prefix_of
from incidents_common.regions import REGIONS
from incidents_common.settings import DATA_DIR
from incidents_common.streams import STREAMS

ACCOUNT = "INCIDENTS"
INCIDENTS_STREAM = "INCIDENTS"
BCRYPT_ROUNDS = 11  # the cost `nats server passwd` uses; nats-server checks it on every connect
_TOKEN = re.compile(r"[A-Za-z0-9_-]*")


class NatsAuthError(Exception):
    """A problem with the credential store; the CLI prints it and exits with 1."""


class BadRequest(NatsAuthError):
    """An unknown region, user or an invalid name; the CLI prints it and exits with 2."""


# ---------------------------------------------------------------------------------------------
# The permission model
# ---------------------------------------------------------------------------------------------


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
        _check_prefix(stream_prefix)
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
            publishes=(SUBJECT_POST_CLASSIFIED, SUBJECT_REACTION_CLASSIFIED_ALL),
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


def _check_region(code: str) -> str:
    if code not in REGIONS:
        raise BadRequest(f"unknown region code {code!r}: use a two-digit ФИАС/ГАР code such as 64 or 77")
    return code


def _check_prefix(prefix: str) -> str:
    if not _TOKEN.fullmatch(prefix):
        raise BadRequest(f"stream prefix {prefix!r} may contain only letters, digits, '-' and '_'")
    return prefix


# ---------------------------------------------------------------------------------------------
# Rendering nats-server configs
# ---------------------------------------------------------------------------------------------


def env_password_variable(user: str) -> str:
    """The environment variable holding a service's password (the service's own <PREFIX>NATS_PASSWORD)."""
    return f"{SERVICES[user].env_prefix}NATS_PASSWORD"


def _quoted(items: Iterable[str]) -> str:
    return ", ".join(f'"{item}"' for item in items)


def _user_entry(user: str, password: str, permissions: Permissions) -> str:
    """`password` is the config literal: a quoted string or a `$VARIABLE` reference."""
    return (
        f'        {{ user: "{user}", password: {password}, permissions: {{\n'
        f"            publish: {{ allow: [{_quoted(permissions.publish)}] }}\n"
        f"            subscribe: {{ allow: [{_quoted(permissions.subscribe)}] }}\n"
        f"        }} }}"
    )


def _config(
    header: str, entries: list[str], pid_file: Path | None = None, *, server: str = "", jetstream: Sequence[str] = ()
) -> str:
    """`server`: top-level settings put before the jetstream block (a cluster node's name, listen
    addresses and cluster block); `jetstream`: extra lines in the jetstream block."""
    pid = f'pid_file: "{pid_file}"\n\n' if pid_file is not None else ""
    users = "\n".join(entries)
    jetstream_lines = "".join(f"    {line}\n" for line in jetstream)
    return f"""{header}

{pid}{server}jetstream {{
{jetstream_lines}    max_memory_store: 256MB
    max_file_store: 10GB
}}

accounts {{
    {ACCOUNT} {{
        jetstream: enabled
        users: [
{users}
        ]
    }}
}}
"""


EXAMPLE_HEADER = """\
# NATS users and permissions: one user per service, one per region subscriber (outside systems).
# Generated by `python -m incidents_common.natsauth render{options}` (rules: libs/common/src/
# incidents_common/natsauth.py, docs/nats-security.md). Start: nats-server -js -sd <dir> -c <this file>
# Service passwords are read from the environment ($COLLECTOR_NATS_PASSWORD, $CLASSIFIER_NATS_PASSWORD,
# $ROUTING_NATS_PASSWORD, $GATEWAY_NATS_PASSWORD); nats-server refuses to start when one is missing.
# A region's client connects as region<code> with inbox_prefix "_INBOX_region<code>" and pulls from
# the durable consumer "region<code>" filtered on incidents.v1.incident.*.<code>."""


def render(codes: Iterable[str] | None = None, *, include_regions: bool = True, data_dir: Path | None = None) -> str:
    """A config for a deployment whose service passwords come from the environment (compose).

    Region users: with `data_dir`, those issued in that store (bcrypt hashes); otherwise placeholders
    `region<code>-change-me` for `codes` (default: every region) — the committed example
    infra/nats/regions.conf. `include_regions=False` leaves them out (infra/nats/compose.conf).
    """
    entries = [
        _user_entry(user, f"${env_password_variable(user)}", service.permissions())
        for user, service in SERVICES.items()
    ]
    options = ""
    if not include_regions:
        options = " --no-regions"
        header = (
            EXAMPLE_HEADER.format(options=options)
            + "\n# Region subscribers: `region-credentials <code> --data-dir <store>`, then render with"
            + "\n# `--data-dir <store>` instead of `--no-regions`."
        )
    elif data_dir is not None:
        store = CredentialStore(data_dir)
        regions = [record for record in store.load().values() if record.kind == "region"]
        if codes is not None:
            wanted = {_check_region(code) for code in codes}
            regions = [record for record in regions if record.region in wanted]
        entries += [_user_entry(r.user, f'"{r.password_hash}"', region_permissions(r.region or "")) for r in regions]
        header = EXAMPLE_HEADER.format(options=" --data-dir <dir>") + "\n# Region users: issued in that store."
    else:
        selected = sorted(_check_region(code) for code in codes) if codes is not None else sorted(REGIONS)
        if codes is not None:
            options = "".join(f" --region {code}" for code in selected)
        entries += [
            _user_entry(region_user(code), f'"{region_user(code)}-change-me"', region_permissions(code))
            for code in selected
        ]
        header = (
            EXAMPLE_HEADER.format(options=options)
            + "\n# The region passwords are placeholders: issue real ones with `region-credentials <code>` and"
            + "\n# render with `--data-dir`, or put bcrypt hashes here."
        )
    return _config(header, entries)


# ---------------------------------------------------------------------------------------------
# A JetStream cluster: every node has the same accounts and users, the routes log in
# (docs/operations-cluster.md; incidents_common.processes.NatsCluster runs one for tests)
# ---------------------------------------------------------------------------------------------

CLUSTER_NAME = "incidents"
ROUTE_USER = "route"
ROUTE_PASSWORD_VARIABLE = "NATS_ROUTE_PASSWORD"  # noqa: S105 - the name of a variable, not a password
CLUSTER_EXAMPLE_STORE = "var/nats-cluster"


@dataclass(frozen=True)
class ClusterNode:
    """One nats-server of a cluster: its `server_name` (unique: JetStream needs it) and addresses."""

    name: str
    client_port: int
    cluster_port: int
    monitor_port: int | None = None
    host: str = "127.0.0.1"
    store_dir: str = ""  # JetStream storage; empty: given on the command line (-sd)

    @property
    def client_url(self) -> str:
        return f"nats://{self.host}:{self.client_port}"

    def route_url(self, password: str) -> str:
        return f"nats-route://{ROUTE_USER}:{password}@{self.host}:{self.cluster_port}"

    @property
    def route_variable(self) -> str:
        """The environment variable holding the route URL to this node (with the route password)."""
        return f"NATS_ROUTE_{re.sub(r'[^A-Za-z0-9]', '_', self.name).upper()}"


def example_cluster(hosts: Sequence[str] | None = None, store_dir: str | None = None) -> list[ClusterNode]:
    """Three nodes n1, n2, n3. Without `hosts`: all on 127.0.0.1 (client ports 4222-4224, routes
    6222-6224, monitoring 8222-8224, storage var/nats-cluster/n<i>), the committed infra/nats/cluster
    example. With three `hosts`: one node per host on the standard ports 4222, 6222 and 8222, storing
    in `store_dir` (default /var/lib/nats/jetstream)."""
    if hosts is None:
        return [
            ClusterNode(
                f"n{i + 1}", 4222 + i, 6222 + i, 8222 + i, store_dir=f"{store_dir or CLUSTER_EXAMPLE_STORE}/n{i + 1}"
            )
            for i in range(3)
        ]
    if len(hosts) < 3 or len(set(hosts)) != len(hosts):
        raise BadRequest(f"a cluster needs three distinct hosts (or more), not {list(hosts)}")
    return [
        ClusterNode(f"n{i + 1}", 4222, 6222, 8222, host=host, store_dir=store_dir or "/var/lib/nats/jetstream")
        for i, host in enumerate(hosts)
    ]


CLUSTER_HEADER = """\
# Node {name} of the {size}-node JetStream cluster "{cluster}" (docs/operations-cluster.md). Generated by
# `python infra/nats/cluster/render.py{options}`; a test fails if the committed files drift from it.
# Start: nats-server -c <this file>. Clients: a comma-separated list of every node's client URL,
# {urls}.
# Users and permissions are a single server's (docs/nats-security.md), the same on every node.{users}
# Routes: the nodes log in to each other as "{route_user}"; {route_auth}
# Durability: `sync_interval: always` fsyncs every write before it is acknowledged (with the default,
# a lazy fsync every 2 minutes, Jepsen's 2025 analysis of NATS lost acknowledged writes on power
# failure). It is a server setting: it applies to every stream on this node."""


def _store_entries(data_dir: Path) -> list[str]:
    """The users of a credential store (services first, then the others by name), bcrypt hashes only."""
    store = CredentialStore(data_dir)
    users = store.load()
    missing = [user for user in SERVICES if user not in users]
    if missing:
        raise NatsAuthError(f"service users {missing} are missing from {store.secrets_dir}")
    ordered = [users[user] for user in SERVICES] + sorted(
        (r for r in users.values() if r.user not in SERVICES), key=lambda r: r.user
    )
    return [_user_entry(r.user, f'"{r.password_hash}"', r.permissions()) for r in ordered]


def render_cluster_node(
    node: ClusterNode,
    nodes: Sequence[ClusterNode],
    *,
    route_password: str | None = None,
    data_dir: Path | None = None,
    cluster_name: str = CLUSTER_NAME,
    options: str = "",
    sync_interval: str | None = "always",
) -> str:
    """The config of one node of the cluster `nodes`.

    Users: with `data_dir`, every user of that credential store (bcrypt hashes); otherwise the four
    services with passwords from the environment, as infra/nats/compose.conf. Routes: with
    `route_password`, it is written into the config (the cluster's authorization and the route URLs,
    so keep the file private); otherwise the authorization reads $NATS_ROUTE_PASSWORD and each route
    URL is a variable of its own ($NATS_ROUTE_N2 …): nats-server substitutes a variable only as a
    whole value, never inside a URL. JetStream fsyncs every write (`sync_interval: always`; None
    leaves the server's default, a lazy fsync every 2 minutes: for measurements only).
    """
    names = [n.name for n in nodes]
    if node not in nodes or len(set(names)) != len(names):
        raise BadRequest(f"node {node.name!r} must be one of the cluster's uniquely named nodes {names}")
    peers = [n for n in nodes if n != node]
    if route_password is None:
        password_literal = f"${ROUTE_PASSWORD_VARIABLE}"
        routes = [f"${peer.route_variable}" for peer in peers]
        route_auth = (
            f"the password is ${ROUTE_PASSWORD_VARIABLE}, and this\n# node's routes "
            "are variables holding the URLs with that password written out (nats-server substitutes\n"
            "# a variable only as a whole value, never inside a URL):"
            + "".join(f"\n#   {p.route_variable}={p.route_url('<password>')}" for p in peers)
        )
    else:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", route_password):
            raise BadRequest("a route password is letters and digits, starting with a letter (it goes into URLs)")
        password_literal = f'"{route_password}"'
        routes = [f'"{peer.route_url(route_password)}"' for peer in peers]
        route_auth = "the password is written in this file (keep it private)."
    if data_dir is not None:
        entries = _store_entries(data_dir)
        users = "\n# Users: those of the credential store the file was rendered from (bcrypt hashes)."
    else:
        entries = [
            _user_entry(user, f"${env_password_variable(user)}", service.permissions())
            for user, service in SERVICES.items()
        ]
        users = (
            "\n# Service passwords are read from the environment ($COLLECTOR_NATS_PASSWORD, $CLASSIFIER_NATS_PASSWORD,"
            "\n# $ROUTING_NATS_PASSWORD, $GATEWAY_NATS_PASSWORD), the same on every node."
        )
    header = CLUSTER_HEADER.format(
        name=node.name,
        size=len(nodes),
        cluster=cluster_name,
        options=options,
        urls=",".join(n.client_url for n in nodes),
        users=users,
        route_user=ROUTE_USER,
        route_auth=route_auth,
    )
    monitor = f'http: "{node.host}:{node.monitor_port}"\n' if node.monitor_port is not None else ""
    route_lines = "".join(f"        {route}\n" for route in routes)
    server = (
        f'server_name: "{node.name}"\n'
        f'listen: "{node.host}:{node.client_port}"\n'
        f"{monitor}\n"
        f"cluster {{\n"
        f'    name: "{cluster_name}"\n'
        f'    listen: "{node.host}:{node.cluster_port}"\n'
        f"    authorization {{\n"
        f'        user: "{ROUTE_USER}"\n'
        f"        password: {password_literal}\n"
        f"        timeout: 2\n"
        f"    }}\n"
        f"    routes: [\n{route_lines}    ]\n"
        f"}}\n\n"
    )
    jetstream = [f'store_dir: "{node.store_dir}"'] if node.store_dir else []
    if sync_interval is not None:
        jetstream.append(f"sync_interval: {sync_interval}")
    return _config(header, entries, server=server, jetstream=jetstream)


# ---------------------------------------------------------------------------------------------
# The credential store
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)

    @property
    def inbox_prefix(self) -> str:
        return inbox_prefix_of(self.user)


@dataclass(frozen=True)
class StoredUser:
    user: str
    kind: str  # "service", "region" or "operator"
    password: str = field(repr=False)
    password_hash: str = field(repr=False)
    created_at: str
    rotated_at: str | None = None
    region: str | None = None
    stream_prefix: str = ""

    def permissions(self) -> Permissions:
        if self.kind == "service":
            return service_permissions(self.user, self.stream_prefix)
        if self.kind == "operator":
            return operator_permissions()
        return region_permissions(self.region or "")

    def public(self) -> dict[str, Any]:
        """What a client needs to connect (the password included), never the hash."""
        info: dict[str, Any] = {
            "user": self.user,
            "password": self.password,
            "kind": self.kind,
            "inbox_prefix": inbox_prefix_of(self.user),
        }
        if self.kind == "region" and self.region is not None:
            grant = region_grant(self.region)
            corrections = region_corrections_grant(self.region)
            info |= {
                "region": self.region,
                "region_name": REGIONS[self.region].name,
                "stream": grant.stream,
                "durable": grant.durable,
                "filter_subject": grant.filter_subject,
                "corrections_durable": corrections.durable,
                "corrections_filter_subject": corrections.filter_subject,
            }
        if self.kind == "service":
            info["stream_prefix"] = self.stream_prefix
        return info | {"created_at": self.created_at, "rotated_at": self.rotated_at}


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _new_password() -> tuple[str, str]:
    import bcrypt

    password = secrets.token_urlsafe(24)
    return password, bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def _write_private(path: Path, text: str) -> None:
    """Write atomically, readable by the owner only (0600) from the first byte."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _private_dir(path: Path) -> Path:
    existed = path.exists()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not existed:
        path.chmod(0o700)
    return path


class CredentialStore:
    """`<data_dir>/secrets/nats/<user>.json` per user and the generated `<data_dir>/nats/server.conf`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.secrets_dir = self.data_dir / "secrets" / "nats"
        self.config_file = self.data_dir / "nats" / "server.conf"
        self.pid_file = self.data_dir / "nats" / "nats-server.pid"

    def path_of(self, user: str) -> Path:
        return self.secrets_dir / f"{user}.json"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One writer at a time (the launcher and the CLI may run together)."""
        _private_dir(self.data_dir / "secrets")
        _private_dir(self.secrets_dir)
        fd = os.open(self.secrets_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+") as handle:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
                yield
                return
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def load(self) -> dict[str, StoredUser]:
        users: dict[str, StoredUser] = {}
        if not self.secrets_dir.is_dir():
            return users
        for path in sorted(self.secrets_dir.glob("*.json")):
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                record = StoredUser(
                    user=raw["user"],
                    kind=raw["kind"],
                    password=raw["password"],
                    password_hash=raw["password_hash"],
                    created_at=raw["created_at"],
                    rotated_at=raw.get("rotated_at"),
                    region=raw.get("region"),
                    stream_prefix=raw.get("stream_prefix", ""),
                )
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise NatsAuthError(f"unreadable credentials file {path}: {exc!r}") from exc
            if record.kind not in ("service", "region", "operator") or path.stem != record.user:
                raise NatsAuthError(f"credentials file {path} does not describe user {path.stem!r}")
            users[record.user] = record
        return users

    def _save(self, record: StoredUser) -> StoredUser:
        data = {
            "user": record.user,
            "kind": record.kind,
            "password": record.password,
            "password_hash": record.password_hash,
            "created_at": record.created_at,
            "rotated_at": record.rotated_at,
            "region": record.region,
            "stream_prefix": record.stream_prefix,
        }
        _write_private(self.path_of(record.user), json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return record

    def ensure_services(self, stream_prefixes: Mapping[str, str] | None = None) -> dict[str, StoredUser]:
        """Every service has a user: existing ones are kept (their stream prefix follows the argument)."""
        prefixes = dict(stream_prefixes or {})
        users = self.load()
        for user in SERVICES:
            prefix = _check_prefix(prefixes.get(user, ""))
            record = users.get(user)
            if record is None:
                password, hashed = _new_password()
                users[user] = self._save(StoredUser(user, "service", password, hashed, _now(), stream_prefix=prefix))
            elif record.stream_prefix != prefix:
                users[user] = self._save(_replace(record, stream_prefix=prefix))
        return users

    def ensure_operator(self) -> StoredUser:
        """The operator's user (dead letters), created on first use and reused afterwards."""
        record = self.load().get(OPERATOR_USER)
        if record is not None:
            return record
        password, hashed = _new_password()
        return self._save(StoredUser(OPERATOR_USER, "operator", password, hashed, _now()))

    def issue_region(self, code: str, *, rotate: bool = False) -> tuple[StoredUser, str]:
        """Issue region `code`'s subscriber user, or return the existing one (`rotate`: a new password)."""
        _check_region(code)
        user = region_user(code)
        record = self.load().get(user)
        if record is not None and not rotate:
            return record, "existing"
        password, hashed = _new_password()
        if record is None:
            return self._save(StoredUser(user, "region", password, hashed, _now(), region=code)), "issued"
        return self._save(_replace(record, password=password, password_hash=hashed, rotated_at=_now())), "rotated"

    def rotate(self, user: str) -> StoredUser:
        record = self.load().get(user)
        if record is None:
            raise BadRequest(f"no user {user!r} in {self.secrets_dir} (see `list`)")
        password, hashed = _new_password()
        return self._save(_replace(record, password=password, password_hash=hashed, rotated_at=_now()))

    def write_server_config(self) -> Path:
        """Regenerate `<data_dir>/nats/server.conf` from every stored user (bcrypt hashes only)."""
        users = self.load()
        missing = [user for user in SERVICES if user not in users]
        if missing:
            raise NatsAuthError(f"service users {missing} are missing from {self.secrets_dir}")
        operators = [users[OPERATOR_USER]] if OPERATOR_USER in users else []
        ordered = (
            [users[user] for user in SERVICES]
            + operators
            + sorted((r for r in users.values() if r.kind == "region"), key=lambda r: r.user)
        )
        header = (
            "# Generated by incidents_common.natsauth from the credential store "
            f"{self.secrets_dir}: do not edit.\n"
            "# Regenerated by the launcher and by `python -m incidents_common.natsauth region-credentials`.\n"
            "# Passwords are bcrypt hashes; the plaintext ones stay in the store (mode 0600)."
        )
        entries = [_user_entry(r.user, f'"{r.password_hash}"', r.permissions()) for r in ordered]
        _private_dir(self.config_file.parent)
        _write_private(self.config_file, _config(header, entries, pid_file=self.pid_file))
        return self.config_file

    def running_server_pid(self) -> int | None:
        """The pid of a nats-server running with this store's config, if there is one."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        command = _command_line(pid)
        if command is None or "nats-server" not in command or str(self.config_file) not in command:
            return None  # a stale pid file (the pid may now belong to another process)
        return pid

    def reload_server(self) -> int | None:
        """Make a running nats-server from this data dir re-read its config (SIGHUP); its pid or None."""
        pid = self.running_server_pid()
        if pid is None:
            return None
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError:
            return None
        return pid


def _replace(record: StoredUser, **changes: Any) -> StoredUser:
    from dataclasses import replace

    return replace(record, **changes)


def _command_line(pid: int) -> str | None:
    if Path("/proc/self/cmdline").exists():
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return None
    try:  # no /proc (macOS): ask ps
        result = subprocess.run(  # noqa: S603 - fixed argv
            ["ps", "-o", "command=", "-p", str(pid)],  # noqa: S607 - ps from PATH
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    return result.stdout.strip() or None


# ---------------------------------------------------------------------------------------------
# What the launcher calls
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalNatsAuth:
    config_file: Path
    pid_file: Path
    credentials: dict[str, Credentials]

    def service_env(self, user: str, env_prefix: str) -> dict[str, str]:
        """`<PREFIX>NATS_USER` / `<PREFIX>NATS_PASSWORD` for a service's process."""
        credentials = self.credentials[user]
        return {f"{env_prefix}NATS_USER": credentials.user, f"{env_prefix}NATS_PASSWORD": credentials.password}


def prepare_local_nats(data_dir: Path, stream_prefixes: Mapping[str, str] | None = None) -> LocalNatsAuth:
    """Create (first start) or reuse the service users and the operator's user under `data_dir` and
    regenerate the server config.

    Start nats-server with `-js -sd <dir> -c <config_file>`; give each service its credentials.
    `stream_prefixes` maps a service user to the `stream_prefix` its settings use (default none).
    """
    store = CredentialStore(data_dir)
    with store.locked():
        users = store.ensure_services(stream_prefixes)
        store.ensure_operator()
        store.write_server_config()
    return LocalNatsAuth(
        config_file=store.config_file,
        pid_file=store.pid_file,
        credentials={user: Credentials(user, users[user].password) for user in SERVICES},
    )


def issue_region_credentials(data_dir: Path, code: str, *, rotate: bool = False) -> dict[str, Any]:
    """Issue (or look up, or rotate) region `code`'s user, regenerate the config, reload a running server."""
    store = CredentialStore(data_dir)
    with store.locked():
        store.ensure_services(_stored_prefixes(store))
        store.ensure_operator()
        record, status = store.issue_region(code, rotate=rotate)
        store.write_server_config()
        pid = store.reload_server()
    return record.public() | {
        "status": status,
        "credentials_file": str(store.path_of(record.user)),
        "server_config": str(store.config_file),
        "reloaded_server_pid": pid,
    }


def _stored_prefixes(store: CredentialStore) -> dict[str, str]:
    return {user: record.stream_prefix for user, record in store.load().items() if record.kind == "service"}


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

EPILOG = """\
examples:
  python -m incidents_common.natsauth region-credentials 64              # issue (or show) Saratov's subscriber
  python -m incidents_common.natsauth region-credentials 64 --rotate     # a new password, server reloaded
  python -m incidents_common.natsauth list --data-dir var
  python -m incidents_common.natsauth render > infra/nats/regions.conf   # the committed example
  python -m incidents_common.natsauth render --no-regions > infra/nats/compose.conf

exit codes: 0 done, 1 the store is unusable, 2 bad arguments (unknown region or user)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m incidents_common.natsauth",
        description="NATS users of the services and of per-region subscribers; the local credential store.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    data_dir_help = "the data folder of the local system (default: var, as `make run`)"

    issue = sub.add_parser(
        "region-credentials",
        help="issue (or show) a region subscriber's credentials; reloads a running local nats-server",
        description=(
            "Prints JSON: user, password, inbox prefix, stream, durable and filter subject. The user may "
            "read only incidents.v1.incident.*.<code> through the durable consumer region<code>, and the "
            "corrections of its incidents' classifications, incidents.v1.classification.corrected.<code>, "
            "through region<code>-corrections. The server "
            "config is regenerated and a nats-server running from the data folder reloads it (SIGHUP)."
        ),
    )
    issue.add_argument("code", help="two-digit ФИАС/ГАР region code, e.g. 64")
    issue.add_argument("--data-dir", type=Path, default=DATA_DIR, help=data_dir_help)
    issue.add_argument("--rotate", action="store_true", help="replace an existing user's password")

    rotate = sub.add_parser(
        "rotate",
        help="give any stored user a new password (services: stop the system first)",
        description=(
            "New password for a stored user; regenerates the config and reloads a running nats-server. A "
            "service reads its password when it starts: stop the system, rotate, start it again."
        ),
    )
    rotate.add_argument("user", help="e.g. routing or region64")
    rotate.add_argument("--data-dir", type=Path, default=DATA_DIR, help=data_dir_help)

    listing = sub.add_parser("list", help="list the stored users as JSON (never their passwords)")
    listing.add_argument("--data-dir", type=Path, default=DATA_DIR, help=data_dir_help)

    render_cmd = sub.add_parser(
        "render",
        help="print a nats-server config whose service passwords come from the environment",
        description=(
            "Without options: the example infra/nats/regions.conf (every region, placeholder passwords). "
            "--no-regions: the services only (infra/nats/compose.conf). --data-dir: add the region users "
            "issued in that store, with their bcrypt hashes."
        ),
    )
    render_cmd.add_argument("--region", action="append", help="only these region codes (repeatable)")
    render_cmd.add_argument("--no-regions", action="store_true", help="the four service users only")
    render_cmd.add_argument("--data-dir", type=Path, help="take region users from this store")
    return parser


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "render":
            if args.no_regions and (args.region or args.data_dir):
                parser.error("--no-regions cannot be combined with --region or --data-dir")
            sys.stdout.write(render(args.region, include_regions=not args.no_regions, data_dir=args.data_dir))
            return 0
        if args.command == "region-credentials":
            result = issue_region_credentials(args.data_dir, args.code, rotate=args.rotate)
            _print_json(result)
            pid = result["reloaded_server_pid"]
            if pid is not None:
                sys.stderr.write(f"nats-server (pid {pid}) reloaded {result['server_config']}\n")
            else:
                sys.stderr.write(
                    f"no nats-server is running from {args.data_dir}: the user exists from its next start\n"
                )
            return 0
        store = CredentialStore(args.data_dir)
        if args.command == "list":
            _print_json(
                [
                    {key: value for key, value in record.public().items() if key != "password"}
                    for record in store.load().values()
                ]
            )
            return 0
        with store.locked():  # rotate
            record = store.rotate(args.user)
            store.write_server_config()
            pid = store.reload_server()
        _print_json(record.public() | {"credentials_file": str(store.path_of(record.user)), "reloaded_server_pid": pid})
        if record.kind == "service":
            sys.stderr.write(
                "restart the system: a service reads its NATS password when it starts (a running one was"
                " disconnected if the server reloaded)\n"
            )
        return 0
    except BadRequest as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except NatsAuthError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
