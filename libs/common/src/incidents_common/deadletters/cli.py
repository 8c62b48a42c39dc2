"""The operator's command line: `python -m incidents_common.deadletters list|show|replay|purge`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import nats.errors

from incidents_common.deadletters.letter import DeadLetter
from incidents_common.deadletters.operations import DeadLetterNotFound, DeadLetters, UnknownConsumer
from incidents_common.problems import ProblemError

EPILOG = """\
credentials: --user and --password, else the user's password from the launcher's store
<data-dir>/secrets/nats/<user>.json (default user: operator, when the store has it); without any,
an anonymous connection (an open server).

examples:
  python -m incidents_common.deadletters list
  python -m incidents_common.deadletters list --consumer routing-post-classified --json
  python -m incidents_common.deadletters show 42
  python -m incidents_common.deadletters replay 42
  python -m incidents_common.deadletters replay --consumer routing-post-classified
  python -m incidents_common.deadletters purge 42
  python -m incidents_common.deadletters purge --all --older-than 30

exit codes: 0 done, 1 NATS unreachable or some operations failed, 2 bad arguments, 3 no such dead
letter or consumer."""


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _connection_options(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """The connection options, on the main parser (with defaults) and on each command (so that they
    may follow it; there without defaults, so that they override only when given)."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--nats-url",
        default=default(os.environ.get("INCIDENTS_NATS_URL", "nats://127.0.0.1:4222")),
        help="NATS server URL (default: $INCIDENTS_NATS_URL or nats://127.0.0.1:4222)",
    )
    parser.add_argument("--user", default=default(None), help="NATS user (default: operator, if the store has it)")
    parser.add_argument("--password", default=default(None), help="its password (default: from the store)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=default(Path("var")),
        help="the launcher's data folder, with secrets/nats/<user>.json (default: var)",
    )
    parser.add_argument("--timeout", type=float, default=default(5.0), help="seconds to wait for NATS (default: 5)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m incidents_common.deadletters",
        description="List, inspect, replay and purge the dead letters of the consumers (DEADLETTER stream).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _connection_options(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    listing = sub.add_parser("list", help="list dead letters: sequence, consumer, age, event, reason")
    _connection_options(listing, suppress=True)
    listing.add_argument("--consumer", help="only this consumer's")
    listing.add_argument("--limit", type=int, help="at most this many (oldest first)")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")

    show = sub.add_parser("show", help="one dead letter as JSON: headers and payload")
    _connection_options(show, suppress=True)
    show.add_argument("seq", type=int, help="its sequence (the first column of `list`)")

    replay = sub.add_parser(
        "replay",
        help="publish dead letters again to their original subjects, then delete them",
        description=(
            "Publishes the original payload to the original subject with Nats-Msg-Id replay-<seq> and deletes "
            "the dead letter. Consumers that processed the event already skip it (their inbox): a replay "
            "never doubles an effect. A message that fails again is dead-lettered again."
        ),
    )
    _connection_options(replay, suppress=True)
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("seq", type=int, nargs="?", help="one dead letter")
    which.add_argument("--consumer", help="every dead letter of this consumer")
    which.add_argument("--all", action="store_true", help="every dead letter")

    purge = sub.add_parser("purge", help="delete dead letters for good")
    _connection_options(purge, suppress=True)
    which = purge.add_mutually_exclusive_group(required=True)
    which.add_argument("seq", type=int, nargs="?", help="one dead letter")
    which.add_argument("--consumer", help="every dead letter of this consumer")
    which.add_argument("--all", action="store_true", help="every dead letter")
    purge.add_argument("--older-than", type=float, metavar="DAYS", help="only those dead-lettered longer ago")
    return parser


def _found_nothing_for(name: str | None) -> None:
    """`--consumer` found no dead letter: fine for one of the services' consumers (a deployment may
    prefix their names), but a typo would list, replay or purge nothing as if all were well."""
    from incidents_common.natsauth import SERVICES

    known = sorted({grant.durable for service in SERVICES.values() for grant in service.consumers})
    if name is not None and not any(name == durable or name.endswith(durable) for durable in known):
        raise UnknownConsumer(f"no dead letters of {name!r}, which is none of the consumers: {', '.join(known)}")


def _credentials(args: argparse.Namespace) -> tuple[str | None, str | None]:
    from incidents_common.natsauth import OPERATOR_USER, CredentialStore, NatsAuthError

    user, password = args.user, args.password
    if password is not None and not user:
        # Otherwise the password would be dropped and the stored operator's used: a silent success.
        raise CliError("--password needs --user (whose password it is)", 2)
    if user and password is not None:
        return user, password
    try:
        stored = CredentialStore(args.data_dir).load()
    except NatsAuthError as exc:
        if user:
            raise CliError(str(exc)) from exc
        stored = {}
    if user is None:
        if OPERATOR_USER not in stored:
            return None, None  # anonymous: an open server
        user = OPERATOR_USER
    record = stored.get(user)
    if record is None:
        raise CliError(f"no password for NATS user {user!r}: pass --password, or --data-dir with its credentials", 2)
    return user, record.password


def _table(letters: Sequence[DeadLetter]) -> str:
    rows = [("SEQ", "CONSUMER", "AGE", "EVENT TYPE", "EVENT ID", "REASON")]
    for letter in letters:
        rows.append(
            (
                str(letter.seq),
                letter.consumer,
                _age(letter.age_seconds()),
                (letter.event_type or "-").removeprefix("ru.incidents."),
                letter.event_id or "-",
                letter.reason.replace("\n", " ")[:100],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5] for row in rows)


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")


async def _run(args: argparse.Namespace) -> int:
    from incidents_common.nats import connect

    user, password = _credentials(args)
    try:
        nc = await connect(
            args.nats_url, "dead-letters-cli", attempts=1, user=user, password=password, reconnect_attempts=1
        )
    except ConnectionError as exc:
        raise CliError(str(exc)) from exc
    try:
        store = DeadLetters(nc.jetstream(timeout=args.timeout), None, timeout=args.timeout)
        if args.command == "list":
            letters = await store.list(args.consumer, limit=args.limit)
            if not letters:
                _found_nothing_for(args.consumer)
            if args.json:
                _print(json.dumps([letter.summary() for letter in letters], ensure_ascii=False, indent=2))
            elif letters:
                _print(_table(letters))
            else:
                sys.stderr.write("no dead letters\n")
            return 0
        if args.command == "show":
            _print(json.dumps((await store.get(args.seq)).detail(), ensure_ascii=False, indent=2))
            return 0
        if args.command == "replay":
            return await _replay(store, args)
        return await _purge(store, args)
    finally:
        with contextlib.suppress(Exception):
            await nc.drain()


async def _replay(store: DeadLetters, args: argparse.Namespace) -> int:
    if args.seq is not None:
        result = await store.replay(args.seq)
        _print(json.dumps(result.as_dict(), ensure_ascii=False))
        return 0
    from tqdm import tqdm

    letters = await store.list(args.consumer)
    if not letters:
        _found_nothing_for(args.consumer)
    failed: list[tuple[int, str]] = []
    replayed = 0
    with tqdm(total=len(letters), desc="replaying", unit="letter", file=sys.stderr, disable=None) as bar:
        for letter in letters:
            try:
                await store.replay_letter(letter)
                replayed += 1
            except (ProblemError, nats.errors.Error) as exc:
                failed.append((letter.seq, str(exc)))
            bar.update(1)
    for seq, error in failed:
        sys.stderr.write(f"dead letter {seq}: {error}\n")
    _print(json.dumps({"replayed": replayed, "failed": len(failed)}))
    return 1 if failed else 0


async def _purge(store: DeadLetters, args: argparse.Namespace) -> int:
    if args.seq is not None:
        if args.older_than is not None:
            raise CliError("--older-than applies to --consumer or --all, not to one dead letter", 2)
        letter = await store.purge(args.seq)
        _print(json.dumps({"purged": 1, "seq": letter.seq, "consumer": letter.consumer}))
        return 0
    if args.older_than is not None and not 0 <= args.older_than <= 36_500:
        raise CliError("--older-than takes a number of days from 0 to 36500", 2)
    older = timedelta(days=args.older_than) if args.older_than is not None else None
    purged = await store.purge_all(args.consumer, older_than=older)
    if not purged:
        _found_nothing_for(args.consumer)
    _print(json.dumps({"purged": purged}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    import logging

    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # the command says what went wrong itself
    if getattr(args, "limit", None) is not None and args.limit < 1:
        sys.stderr.write("error: --limit must be at least 1\n")
        return 2
    try:
        return asyncio.run(_run(args))
    except CliError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.code
    except (DeadLetterNotFound, UnknownConsumer) as exc:
        sys.stderr.write(f"error: {exc.detail or exc.title}\n")
        return 3
    except ProblemError as exc:
        sys.stderr.write(f"error: {exc.detail or exc.title}\n")
        return 1
    except nats.errors.Error as exc:
        sys.stderr.write(f"error: NATS: {exc}\n")
        return 1
