"""The command line: `python -m incidents_common.natsauth region-credentials|rotate|list|render`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from incidents_common.natsauth.errors import BadRequest, NatsAuthError
from incidents_common.natsauth.local import issue_region_credentials
from incidents_common.natsauth.render import render
from incidents_common.natsauth.store import CredentialStore
from incidents_common.settings import DATA_DIR

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
