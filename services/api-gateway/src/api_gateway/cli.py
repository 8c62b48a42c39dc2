"""Admin command line: manage OAuth2 clients and API keys directly in the gateway's database.

python -m api_gateway create-client --name "Портал 64" --role regional_admin --region 64
python -m api_gateway create-key --name "Мониторинг" --role integration --region 64 --region 63
python -m api_gateway revoke-key key_0a1b2c3d4e5f
python -m api_gateway list-keys
python -m api_gateway migrate [upgrade|current|history|check|revision]   (the database schema)

NATS users (services and per-region subscribers) are managed by `python -m incidents_common.natsauth`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from api_gateway.auth import service as credentials
from api_gateway.auth.principal import Role
from api_gateway.config import Settings
from api_gateway.models import TABLES
from api_gateway.webhooks.signing import rotate_webhook_secrets
from incidents_common.db import Database
from incidents_common.migrations import add_migrate_command, run_migrate_command
from incidents_common.problems import ProblemError
from incidents_common.secretbox import SecretBoxError


def _name(value: str) -> str:
    """A credential's name, as the API takes it: 1 to 200 characters once trimmed."""
    name = value.strip()
    if not 1 <= len(name) <= 200:
        raise argparse.ArgumentTypeError("give a name of 1 to 200 characters")
    return name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m api_gateway",
        description="Manage API gateway credentials (uses GATEWAY_DATABASE_URL, default var/api-gateway.db).",
        epilog="NATS users and region subscribers' credentials: python -m incidents_common.natsauth --help",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, what in (
        ("create-client", "an OAuth2 client (prints client_id and secret once)"),
        ("create-key", "an API key (prints the key once)"),
    ):
        cmd = sub.add_parser(name, help=f"create {what}")
        cmd.add_argument("--name", required=True, type=_name, help="who or what the credential is for")
        cmd.add_argument("--role", required=True, choices=[r.value for r in Role])
        cmd.add_argument("--region", action="append", default=[], help="region code (repeatable); none for federal")
        cmd.add_argument("--official-id", help="the routing official id (role official)")
    revoke = sub.add_parser("revoke-key", help="revoke an API key at once")
    revoke.add_argument("key_id")
    revoke_client = sub.add_parser("revoke-client", help="revoke an OAuth2 client: its tokens stop working at once")
    revoke_client.add_argument("client_id")
    sub.add_parser("list-keys", help="list API keys (never their values)")
    sub.add_parser("list-clients", help="list OAuth2 clients (never their secrets)")
    add_migrate_command(sub)
    sub.add_parser(
        "rotate",
        help="re-encrypt every stored webhook secret with the first of GATEWAY_SECRET_KEYS",
        description="Key rotation: put the new key first in GATEWAY_SECRET_KEYS (keep the old ones after it), run "
        "this, then drop the old keys. Secrets stored in plaintext by an earlier release are encrypted too.",
    )
    return parser


async def _run(args: argparse.Namespace, settings: Settings) -> dict[str, Any] | list[dict[str, Any]]:
    db = Database(settings.resolved_database_url(), TABLES)
    await db.migrate()
    try:
        async with db.transaction() as session:
            if args.command == "create-client":
                client, secret = await credentials.create_client(
                    session, name=args.name, role=Role(args.role), regions=args.region, official_id=args.official_id
                )
                return {
                    "client_id": client.client_id,
                    "client_secret": secret,
                    "role": client.role,
                    "regions": client.regions,
                }
            if args.command == "create-key":
                key, value = await credentials.create_key(
                    session, name=args.name, role=Role(args.role), regions=args.region, official_id=args.official_id
                )
                return {"key_id": key.key_id, "api_key": value, "role": key.role, "regions": key.regions}
            if args.command == "rotate":
                changed = await rotate_webhook_secrets(session, settings.secret_box())
                return {"rotated_webhook_secrets": changed}
            if args.command == "revoke-key":
                key = await credentials.revoke_key(session, args.key_id)
                return {"key_id": key.key_id, "revoked_at": str(key.revoked_at)}
            if args.command == "revoke-client":
                client = await credentials.revoke_client(session, args.client_id)
                return {"client_id": client.client_id, "revoked_at": str(client.revoked_at)}
            if args.command == "list-keys":
                return [
                    {
                        "key_id": k.key_id,
                        "name": k.name,
                        "role": k.role,
                        "regions": k.regions,
                        "revoked": k.revoked_at is not None,
                    }
                    for k in await credentials.list_keys(session, None)
                ]
            return [
                {"client_id": c.client_id, "name": c.name, "role": c.role, "regions": c.regions, "active": c.active}
                for c in await credentials.list_clients(session, None)
            ]
    finally:
        await db.dispose()


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = settings or Settings()
    if args.command == "migrate":
        return run_migrate_command(args, package="api_gateway", database_url=settings.resolved_database_url)
    try:
        result = asyncio.run(_run(args, settings))
    except ProblemError as exc:
        sys.stderr.write(f"error: {exc.detail or exc.title}\n")
        return 2
    except SecretBoxError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2, default=str) + "\n")
    return 0
