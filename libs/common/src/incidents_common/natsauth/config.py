"""The text of a nats-server config: the account with its users and their permissions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from incidents_common.natsauth.permissions import ACCOUNT, Permissions


def _quoted(items: Iterable[str]) -> str:
    return ", ".join(f'"{item}"' for item in items)


def user_entry(user: str, password: str, permissions: Permissions) -> str:
    """`password` is the config literal: a quoted string or a `$VARIABLE` reference."""
    return (
        f'        {{ user: "{user}", password: {password}, permissions: {{\n'
        f"            publish: {{ allow: [{_quoted(permissions.publish)}] }}\n"
        f"            subscribe: {{ allow: [{_quoted(permissions.subscribe)}] }}\n"
        f"        }} }}"
    )


def server_config(
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
