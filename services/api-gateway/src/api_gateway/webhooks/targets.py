"""Webhook targets: a webhook may only point at a public host, so that a caller cannot make the gateway
call services on its own network (SSRF). Loopback, private, link-local, unique-local, multicast, reserved
and unspecified addresses and internal names (`routing`, `localhost`, `*.local`, `*.internal` …)
are refused when the webhook is created and again at every delivery, where the name is resolved,
every address it resolves to must be public, and the connection goes to the address that was
checked (so a name cannot resolve to a public address for the check and to an internal one for the
call: DNS rebinding). Redirects are not followed. `GATEWAY_WEBHOOK_ALLOWED_HOSTS` names the
exceptions a deployment wants (a portal on its own network). The delivery log shows the caller one
generic reason for a refused or unreachable target, so it cannot be used to map which internal
hosts and ports answer; the precise reason goes to the gateway's log.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx
import orjson

from incidents_common.problems import ProblemError

log = logging.getLogger("api_gateway.webhooks")

# What the delivery log says for a target that was refused or did not answer: the same words for
# both, and no address or port, so that the log reveals nothing about the gateway's network.
UNREACHABLE = "target unreachable or not allowed"
INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".lan", ".home.arpa", ".intranet", ".corp")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
RESOLVE_TIMEOUT = 3.0


class WebhookUrlRefused(ProblemError):
    status, slug, title = 422, "webhook-url-refused", "Webhook URL refused"


class TargetRefused(Exception):
    """A delivery target that is not public (the message is for the gateway's log only)."""


def _normal(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(_normal(host).split("%", 1)[0])
    except ValueError:
        return None


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally routable unicast: not loopback, private, link-local, unique-local, CGNAT, reserved,
    documentation, unspecified or multicast; IPv4 carried in IPv6 (mapped, 6to4, NAT64) is judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
    return address.is_global and not address.is_multicast


def host_refusal(host: str) -> str | None:
    """Why a URL's host is not a public target (None when it may be one, subject to resolution)."""
    name = _normal(host)
    address = _address(name)
    if address is not None:
        return None if is_public_address(address) else f"address {address} is not public"
    if not name or "." not in name:
        return f"single-label name {name!r} (an internal service name)"
    if name == "localhost" or name.endswith(INTERNAL_SUFFIXES):
        return f"internal name {name!r}"
    return None


def is_allowed_host(host: str, allowed_hosts: Iterable[str]) -> bool:
    """Whether the deployment allowed this host (name or address) as a webhook target."""
    name = _normal(host)
    return any(name == _normal(entry) for entry in allowed_hosts if entry.strip())


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (tests replace this to play DNS)."""
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP), RESOLVE_TIMEOUT
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _refused_addresses(addresses: Iterable[str], allowed_hosts: Iterable[str]) -> list[str]:
    allowed = list(allowed_hosts)
    refused = []
    for text in addresses:
        address = _address(text)
        if address is None or not (is_public_address(address) or is_allowed_host(text, allowed)):
            refused.append(text)
    return refused


def refusal_detail(host: str) -> str:
    """The 422's detail: what is refused, and the setting that allows this host (the caller's own host,
    echoed; why it was refused, what it resolves to, stays in the gateway's log)."""
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address as it is written in a URL
    allow = orjson.dumps([host]).decode()
    return (
        f"the webhook URL's host {shown} is not a public host: loopback, private, link-local, multicast and "
        "internal addresses and names (localhost, single labels, *.local …) are refused. To allow it (a receiver "
        f"on this machine or network, e.g. while trying webhooks locally), start the gateway with "
        f"GATEWAY_WEBHOOK_ALLOWED_HOSTS='{allow}' (a JSON list of host names or addresses)"
    )


async def check_webhook_url(url: str, allowed_hosts: Iterable[str]) -> None:
    """At creation: 422 (WebhookUrlRefused) for a URL whose host is not public, by its form or by
    what it resolves to now. A name that does not resolve yet is accepted: every delivery checks again."""
    parsed = httpx.URL(url)
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded: what DNS and TLS see
    allowed = list(allowed_hosts)
    if is_allowed_host(host, allowed):
        return
    reason = host_refusal(host)
    if reason is None and _address(host) is None:
        try:
            addresses = await resolve_host(host, parsed.port or (443 if parsed.scheme == "https" else 80))
        except (OSError, TimeoutError, UnicodeError):
            addresses = []
        if _refused_addresses(addresses, allowed):
            reason = "resolves to a non-public address"
    if reason is not None:
        log.info("webhook URL refused", extra={"host": host, "reason": reason})
        raise WebhookUrlRefused(
            refusal_detail(host),
            errors=[{"loc": ["body", "url"], "msg": "host is not a public address", "type": "value_error"}],
        )


@dataclass(frozen=True)
class Target:
    """Where a delivery connects: the checked address, with the original Host and TLS server name."""

    url: httpx.URL
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


async def pin_target(url: str, allowed_hosts: Iterable[str]) -> Target:
    """At delivery: resolve, check every address, and connect to a checked one. TargetRefused or OSError."""
    parsed = httpx.URL(url)
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded: what DNS and TLS see
    allowed = list(allowed_hosts)
    if is_allowed_host(host, allowed):
        return Target(parsed)
    reason = host_refusal(host)
    if reason is not None:
        raise TargetRefused(reason)
    if _address(host) is not None:
        return Target(parsed)
    addresses = await resolve_host(host, parsed.port or (443 if parsed.scheme == "https" else 80))
    if not addresses:
        raise OSError(f"{host} resolves to nothing")
    refused = _refused_addresses(addresses, allowed)
    if refused:
        raise TargetRefused(f"{host} resolves to non-public {', '.join(refused)}")
    extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    return Target(parsed.copy_with(host=addresses[0]), {"Host": parsed.netloc.decode("ascii")}, extensions)
