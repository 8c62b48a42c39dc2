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

The package: `permissions` (the model above), `store` (the credential store), `config` (a server
config's text), `render` (the committed example configs, a cluster node's), `local` (what the launcher
calls), `cli` (the command line). Import from the package.
"""

from incidents_common.natsauth.errors import BadRequest, NatsAuthError
from incidents_common.natsauth.local import LocalNatsAuth, issue_region_credentials, prepare_local_nats
from incidents_common.natsauth.permissions import (
    ACCOUNT,
    DEAD_LETTER_DELETE,
    DEAD_LETTER_STREAM,
    INCIDENTS_STREAM,
    OPERATOR_USER,
    SERVICES,
    ConsumerGrant,
    Permissions,
    ServiceUser,
    dead_letter_subjects,
    env_password_variable,
    inbox_prefix,
    operator_permissions,
    region_alerts_filter,
    region_alerts_grant,
    region_corrections_filter,
    region_corrections_grant,
    region_filter,
    region_grant,
    region_permissions,
    region_permissions_grants,
    region_user,
    service_permissions,
    users_table,
)
from incidents_common.natsauth.render import (
    CLUSTER_EXAMPLE_STORE,
    CLUSTER_NAME,
    ROUTE_PASSWORD_VARIABLE,
    ROUTE_USER,
    ClusterNode,
    example_cluster,
    render,
    render_cluster_node,
)
from incidents_common.natsauth.store import BCRYPT_ROUNDS, Credentials, CredentialStore, StoredUser

__all__ = [
    "ACCOUNT",
    "BCRYPT_ROUNDS",
    "BadRequest",
    "CLUSTER_EXAMPLE_STORE",
    "CLUSTER_NAME",
    "ClusterNode",
    "ConsumerGrant",
    "CredentialStore",
    "Credentials",
    "DEAD_LETTER_DELETE",
    "DEAD_LETTER_STREAM",
    "INCIDENTS_STREAM",
    "LocalNatsAuth",
    "NatsAuthError",
    "OPERATOR_USER",
    "Permissions",
    "ROUTE_PASSWORD_VARIABLE",
    "ROUTE_USER",
    "SERVICES",
    "ServiceUser",
    "StoredUser",
    "dead_letter_subjects",
    "env_password_variable",
    "example_cluster",
    "inbox_prefix",
    "issue_region_credentials",
    "operator_permissions",
    "prepare_local_nats",
    "region_alerts_filter",
    "region_alerts_grant",
    "region_corrections_filter",
    "region_corrections_grant",
    "region_filter",
    "region_grant",
    "region_permissions",
    "region_permissions_grants",
    "region_user",
    "render",
    "render_cluster_node",
    "service_permissions",
    "users_table",
]
