"""What the launcher and the region command call: prepare the local users and server config, issue a
region subscriber's credentials."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from incidents_common.natsauth.permissions import SERVICES
from incidents_common.natsauth.store import Credentials, CredentialStore


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
