"""Who a request comes from: the client address that throttles count against."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or behind LOGIN_THROTTLE_PROXY_COUNT trusted proxies
    the address the outermost of them saw (that far from the right of X-Forwarded-For; what
    a client writes further left is not trusted). Behind a proxy, REMOTE_ADDR is the proxy's,
    and every client would share one count."""
    remote = str(request.META.get("REMOTE_ADDR", ""))
    proxies = settings.LOGIN_THROTTLE_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [a.strip() for a in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    forwarded = [address for address in forwarded if address]
    return forwarded[-proxies] if len(forwarded) >= proxies else remote
