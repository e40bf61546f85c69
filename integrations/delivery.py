"""One webhook delivery: the event as the contract's body, signed per the Standard Webhooks
spec (the ``standardwebhooks`` package), POSTed once, and what came of it.

No redirect is followed (a 3xx is a failure like any other non-2xx), no answer is waited for
longer than DELIVERY_TIMEOUT_SECONDS, and the connection goes to the address that was checked
(integrations.addresses). Nothing of the secret, the body or the receiver's answer is logged.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import httpx
import orjson
from rest_framework import serializers
from standardwebhooks import Webhook as Signer

from eventstore.store import RecordedEvent
from integrations import addresses

DELIVERY_TIMEOUT_SECONDS: Final = 10.0
SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the format's prefix, no secret
USER_AGENT: Final = "orders-service-webhooks/1"
MAX_ERROR_LENGTH: Final = 500


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


class EventOut(serializers.Serializer[Any]):
    """The contract's ``Event`` (upcast to the current schema version, as the log reads)."""

    event_id = serializers.UUIDField()
    stream_id = serializers.CharField()
    stream_type = serializers.CharField()
    version = serializers.IntegerField()
    position = serializers.IntegerField(source="global_position")
    event_type = serializers.CharField()
    schema_version = serializers.IntegerField()
    data = serializers.DictField()  # type: ignore[assignment]  # a field, not Serializer.data
    metadata = serializers.DictField()
    recorded_at = serializers.DateTimeField()


def body_of(event: RecordedEvent) -> bytes:
    """``{"type", "timestamp", "data": Event}`` as the bytes that are signed and sent."""
    # Not EventOut(event).data: the event's own "data" field hides the serializer's property.
    shown = EventOut().to_representation(event)
    return orjson.dumps(
        {"type": event.event_type, "timestamp": shown["recorded_at"], "data": shown}
    )


def signed_headers(secret: str, event: RecordedEvent, body: bytes, now: datetime) -> dict[str, str]:
    message_id = str(event.event_id)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Signer(secret).sign(message_id, now, body),
    }


@dataclass(frozen=True)
class Attempt:
    """What one POST came to: the status (None: no answer), an error text, how long it took."""

    status_code: int | None
    error: str
    duration_ms: int
    at: datetime

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def outcome(self) -> str:
        """For the metrics: delivered, http_<status class>, or why no answer came."""
        if self.succeeded:
            return "delivered"
        if self.status_code is not None:
            return f"http_{self.status_code // 100}xx"
        return self.error.split(":", 1)[0] if self.error else "error"


def deliver(
    client: httpx.Client,
    url: str,
    secret: str,
    event: RecordedEvent,
    target: addresses.Target | None = None,
) -> Attempt:
    """POST ``event`` to ``url`` once, signed with ``secret``; to ``target`` if given (``url``
    checked already, its host resolved: a batch resolves it once), else checked now."""
    at = datetime.now(UTC)
    started = time.monotonic()
    if target is None:
        try:
            target = addresses.check(url)
        except (addresses.UrlNotAllowed, addresses.UrlInvalid) as exc:
            return refused(exc, at)
    body = body_of(event)
    headers = signed_headers(secret, event, body, at)
    request_url, extensions = _pinned(target)
    if extensions:
        headers["host"] = target.url.netloc
    try:
        with client.stream(
            "POST", request_url, content=body, headers=headers, extensions=extensions
        ) as response:
            status = response.status_code  # the body is never read: the status is the answer
    except httpx.TimeoutException:
        waited = f"timeout: no answer within {DELIVERY_TIMEOUT_SECONDS:g} s"
        return _attempt(None, waited, started, at)
    except httpx.HTTPError as exc:
        return _attempt(None, f"connection: {type(exc).__name__}: {_first_line(exc)}", started, at)
    attempt = _attempt(status, "", started, at)
    if attempt.duration_ms > DELIVERY_TIMEOUT_SECONDS * 1000:
        return _attempt(status, "timeout: answered after more than 10 s", started, at)
    if not attempt.succeeded:
        reason = "a redirect (not followed)" if 300 <= status < 400 else f"HTTP {status}"
        return _attempt(status, f"http: {reason}", started, at)
    return attempt


def refused(exc: Exception, at: datetime | None = None) -> Attempt:
    """The attempt a URL refused at delivery time comes to (nothing was sent)."""
    return Attempt(None, f"url_not_allowed: {exc}"[:MAX_ERROR_LENGTH], 0, at or datetime.now(UTC))


def client() -> httpx.Client:
    """The client deliveries go through: no redirects, every wait bounded, no proxy from the
    environment (a proxy would connect to whatever the URL names, unchecked)."""
    return httpx.Client(
        follow_redirects=False,
        timeout=httpx.Timeout(DELIVERY_TIMEOUT_SECONDS),
        trust_env=False,
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
    )


def _pinned(target: addresses.Target) -> tuple[str, dict[str, Any]]:
    """The URL with its host replaced by the checked address, and the TLS name to check the
    certificate against (the original host); unchanged when nothing was resolved."""
    if target.address is None:
        return target.url.geturl(), {}
    literal = f"[{target.address}]" if target.address.version == 6 else str(target.address)
    netloc = f"{literal}:{target.port}"
    url = target.url._replace(netloc=netloc).geturl()
    return url, {"sni_hostname": target.host}


def _attempt(status: int | None, error: str, started: float, at: datetime) -> Attempt:
    duration = max(int((time.monotonic() - started) * 1000), 0)
    return Attempt(status, error[:MAX_ERROR_LENGTH], duration, at)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""
