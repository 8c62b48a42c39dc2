"""A region's subscriber: another government system that reads one region's incident events from NATS.

Get credentials from the platform's operator (locally:
`python -m incidents_common.natsauth region-credentials 64 > region64.json`), then:

    python infra/nats/region_subscriber.py --credentials region64.json [--url nats://127.0.0.1:4222]

It logs in as `region<code>` with its own inbox prefix `_INBOX_region<code>` (the only inbox its
permissions allow), creates or binds the durable pull consumer `region<code>` on the INCIDENTS stream,
filtered on `incidents.v1.incident.*.<code>`, prints each event's type and incident id and acks it.
The consumer is durable: after a restart it resumes after the last acknowledged event.
Only nats-py is needed (no platform code). Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

STREAM = "INCIDENTS"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="nats://127.0.0.1:4222", help="NATS server (default %(default)s)")
    parser.add_argument(
        "--credentials", type=Path, help="JSON printed by `natsauth region-credentials` (user, password, region)"
    )
    parser.add_argument("--region", help="region code, e.g. 64 (default: from --credentials)")
    parser.add_argument("--user", help="NATS user (default: region<code>)")
    parser.add_argument("--password", help="NATS password (default: from --credentials or $NATS_PASSWORD)")
    parser.add_argument("--batch", type=int, default=50, help="events fetched per pull (default %(default)s)")
    parser.add_argument("--max-events", type=int, default=0, help="stop after this many events (0: run until Ctrl-C)")
    parser.add_argument("--connect-seconds", type=float, default=10.0, help="keep trying to connect this long")
    args = parser.parse_args(argv)
    info: dict[str, Any] = {}
    if args.credentials is not None:
        try:
            info = json.loads(args.credentials.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            parser.error(f"cannot read {args.credentials}: {exc}")
    args.region = args.region or info.get("region")
    if not args.region:
        parser.error("give --region or --credentials")
    args.user = args.user or info.get("user") or f"region{args.region}"
    args.password = args.password or info.get("password") or os.environ.get("NATS_PASSWORD")
    if not args.password:
        parser.error("give --password, --credentials or $NATS_PASSWORD")
    return args


async def connect(args: argparse.Namespace, stop: asyncio.Event) -> Any:
    """Log in with the region's own inbox prefix; retry while the server (re)starts or reloads, for
    at most --connect-seconds. Credentials the server refuses (a rotated password) end it at once."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + args.connect_seconds
    refused = asyncio.Event()

    async def on_error(exc: Exception) -> None:
        # nats-py retries a refused login for ever (the reconnect policy covers the first connect
        # too); this stops it. Other errors while connecting are retried until the deadline.
        if "authorization violation" in str(exc).lower():
            refused.set()

    while True:
        attempt = asyncio.ensure_future(
            nats.connect(
                args.url,
                user=args.user,
                password=args.password,
                inbox_prefix=f"_INBOX_{args.user}",  # never the shared _INBOX: it is not allowed
                name=f"subscriber-{args.user}",
                max_reconnect_attempts=-1,
                connect_timeout=2,
                error_cb=on_error,
            )
        )
        waits = {attempt, asyncio.ensure_future(refused.wait()), asyncio.ensure_future(stop.wait())}
        await asyncio.wait(waits, timeout=max(0.1, deadline - loop.time()), return_when=asyncio.FIRST_COMPLETED)
        for waiting in waits - {attempt}:
            waiting.cancel()
        if attempt.done() and not attempt.cancelled() and attempt.exception() is None:
            return attempt.result()
        attempt.cancel()
        if refused.is_set():
            raise SystemExit(
                f"{args.url} refused the credentials of {args.user}: ask the operator for the current ones "
                "(a rotated password ends the old one)"
            )
        if stop.is_set():
            raise SystemExit(130)
        if loop.time() > deadline:
            error = attempt.exception() if attempt.done() and not attempt.cancelled() else "no answer"
            raise SystemExit(f"cannot connect to {args.url} as {args.user}: {error}")
        await asyncio.sleep(0.5)


async def run(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    nc = await connect(args, stop)
    try:
        js = nc.jetstream(timeout=5)
        durable = f"region{args.region}"
        filter_subject = f"incidents.v1.incident.*.{args.region}"
        # Creates the durable consumer on the first run and binds to it afterwards (same name, same
        # filter: the only ones this user may use). It remembers what was acked across restarts.
        subscription = await js.pull_subscribe(
            filter_subject,
            durable=durable,
            stream=STREAM,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL, ack_wait=60),
        )
        print(f"ready: consumer {durable} on {STREAM}, filter {filter_subject}", flush=True)
        received = 0
        while not stop.is_set():
            # Never take more than this run will ack: the rest would wait out the server's ack wait (60 s)
            # before the next run could have them.
            wanted = min(args.batch, args.max_events - received) if args.max_events else args.batch
            try:
                messages = await subscription.fetch(wanted, timeout=1)
            except TimeoutError:
                # Nothing new yet. nats-py raises its own TimeoutError (a subclass) or the plain one,
                # depending on where the wait ends: catching only its own crashed an idle subscriber.
                continue
            except nats.errors.Error:
                if stop.is_set():
                    break  # Ctrl-C while a fetch was in flight: stop cleanly
                raise
            for index, message in enumerate(messages):
                if stop.is_set():  # Ctrl-C mid-batch: hand the rest back now, for the next run
                    for left in messages[index:]:
                        with contextlib.suppress(nats.errors.Error):
                            await left.nak()
                    break
                try:
                    event = json.loads(message.data)  # a CloudEvents 1.0 JSON document
                    incident = (event.get("data") or {}).get("incident") or {}
                    kind, incident_id = event.get("type"), incident.get("incident_id")
                except (ValueError, AttributeError):
                    kind, incident_id = "unparsable", None
                # Your system's work goes here; ack only when it is done (or the event comes again).
                await message.ack_sync()
                print(f"event {kind} incident={incident_id} subject={message.subject} acked", flush=True)
                received += 1
                if args.max_events and received >= args.max_events:
                    stop.set()
                    break
        return 0
    finally:
        await nc.close()


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
