"""Which webhook URLs the service may call: https (or http where allowed), and never a host
that resolves to a loopback, private or link-local address unless WEBHOOKS_ALLOW_PRIVATE.

A URL is checked when a webhook is created and its host resolved again at every delivery,
whose connection then goes to the very address that was checked (a name that resolved to a
public address at creation and to 127.0.0.1 later, DNS rebinding, is refused then).
"""

from __future__ import annotations

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Final
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

# A resolver that does not answer within this is a failed delivery (tried again), not a hang.
RESOLVE_TIMEOUT_SECONDS: Final = 5.0
MAX_URL_LENGTH: Final = 2000

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_resolvers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-resolve")


class UrlNotAllowed(Exception):
    """The URL's scheme, or an address its host resolves to, is not allowed here."""


class UrlInvalid(Exception):
    """Not a URL a webhook can have (no host, credentials in it, a bad port...)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``address``, None: let the client resolve ``host``)."""

    url: SplitResult
    host: str
    port: int
    address: IPAddress | None


def parse(url: str) -> SplitResult:
    """Split ``url`` and check its form and scheme (no DNS); UrlInvalid or UrlNotAllowed."""
    if len(url) > MAX_URL_LENGTH or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UrlInvalid("Enter a valid URL.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlInvalid("Enter a valid URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlInvalid("Enter a valid http(s) URL with a host.")
    if parts.username is not None or parts.password is not None:
        # They would be shown wherever the URL is; the signature authenticates deliveries.
        raise UrlInvalid("A webhook URL may not carry a user name or password.")
    if parts.scheme == "http" and not settings.WEBHOOKS_ALLOW_HTTP:
        raise UrlNotAllowed("Webhook URLs must use https (WEBHOOKS_ALLOW_HTTP is off).")
    if port == 0:
        raise UrlInvalid("Enter a valid port.")
    return parts


def check(url: str) -> Target:
    """The URL checked and its host resolved (UrlInvalid, UrlNotAllowed otherwise). With
    WEBHOOKS_ALLOW_PRIVATE on, nothing is resolved and any host is allowed."""
    parts = parse(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if settings.WEBHOOKS_ALLOW_PRIVATE:
        return Target(parts, host, port, None)
    addresses = resolve(host, port)
    refused = [a for a in addresses if not allowed(a)]
    if refused:
        raise UrlNotAllowed(
            f"The host resolves to {refused[0]}, a loopback, private or link-local address "
            "(WEBHOOKS_ALLOW_PRIVATE is off)."
        )
    return Target(parts, host, port, addresses[0])


def allowed(address: IPAddress) -> bool:
    """A public unicast address (IPv4 inside IPv6, ::ffff:10.0.0.1, judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal: itself), within a bounded time."""
    try:
        return [_literal(host)]
    except ValueError:
        pass
    future = _resolvers.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=RESOLVE_TIMEOUT_SECONDS)
    except FutureTimeout:
        raise UrlInvalid(f"No address for the host within {RESOLVE_TIMEOUT_SECONDS:g} s.") from None
    except (OSError, UnicodeError):
        raise UrlInvalid("The host does not resolve.") from None
    addresses = []
    for info in infos:
        try:
            addresses.append(_literal(str(info[4][0])))
        except ValueError:
            continue
    if not addresses:
        raise UrlInvalid("The host does not resolve.")
    return addresses


def _literal(host: str) -> IPAddress:
    return ipaddress.ip_address(host.split("%", 1)[0])
