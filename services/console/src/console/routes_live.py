"""Live updates: the gateway's SSE stream of the user's regions, relayed to the browser as small
notices (type, incident, region) that make the open page refresh what changed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from console.deps import GatewayDep, UserDep
from console.gateway import GatewayError

router = APIRouter(include_in_schema=False)


def notice(event_type: str, data: str) -> dict[str, str | None]:
    """What the browser needs of an event: never the whole payload (it does not need the texts).

    The gateway sends each event as its CloudEvent; an incident event's data holds the incident's
    snapshot, an alert's data the alert itself."""
    try:
        envelope = orjson.loads(data)
    except orjson.JSONDecodeError:
        envelope = {}
    body = envelope.get("data", envelope) if isinstance(envelope, dict) else {}
    if not isinstance(body, dict):
        body = {}
    incident = body.get("incident")
    subject: dict[str, Any] = incident if isinstance(incident, dict) else body
    return {
        "type": event_type,
        "incident_id": subject.get("incident_id"),
        "region_code": subject.get("region_code"),
    }


async def relay(lines: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Parse the gateway's text/event-stream and re-emit each event as an unnamed message with its id."""
    buffer = b""
    event_id: str | None = None
    event_type = "message"
    data: list[str] = []
    yield b": connected\n\n"
    async for chunk in lines:
        buffer += chunk
        while b"\n" in buffer:
            raw, buffer = buffer.split(b"\n", 1)
            line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
            if line == "":
                if data:
                    body = orjson.dumps(notice(event_type, "\n".join(data)))
                    head = f"id: {event_id}\n".encode() if event_id else b""
                    yield head + b"data: " + body + b"\n\n"
                    if event_type == "stream.closed":
                        return
                event_type, data = "message", []
            elif line.startswith(":"):
                yield b": keep-alive\n\n"
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "id":
                    event_id = value
                elif name == "event":
                    event_type = value
                elif name == "data":
                    data.append(value)


@router.get("/live")
async def live(request: Request, user: UserDep, gateway: GatewayDep, after: int | None = None) -> StreamingResponse:
    # `after`: the newest event the page was rendered with (an incident's last history entry), so an
    # event that lands between the render and this connection is not missed; on a reconnect the
    # browser's own Last-Event-ID wins.
    last_event_id = request.headers.get("Last-Event-ID") or (str(after) if after is not None and after >= 0 else None)

    async def stream() -> AsyncIterator[bytes]:
        try:
            async for piece in relay(gateway.stream("/v1/events/stream", user.credentials, None, last_event_id)):
                yield piece
        except GatewayError as exc:
            closed = {"type": "stream.closed", "incident_id": None, "region_code": None, "status": exc.status}
            yield b"data: " + orjson.dumps(closed) + b"\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
