"""What no log line may carry: the service's own secrets, and whatever looks like a credential.

The log formatter (ops.logs) passes every field of every line through ``redact`` just before
rendering, exception text included. Two nets, because a secret reaches text in ways nobody
lists in advance (an exception message quoting a connection string, a repr of settings):

- the values the service is configured with: the secret key (and its fallbacks), the metrics
  token, the database passwords, the broker's password and the SMTP password, as written and
  as they appear quoted in a repr or percent-encoded in a URL;
- the shapes credentials take in text: the password of a URL (``scheme://user:pw@``), a
  ``password=``/``'password': ...`` pair (libpq connection strings, dict reprs), and the
  value after an HTTP ``Token``/``Bearer`` scheme (API tokens, which are too many to
  list), webhook signing secrets (``whsec_...``, one per webhook); and, likewise, an
  address's personal field (``'city': '...'``, ``line1=...``).

It is the second line of defence: the first is that nothing renders a traceback's local
variables and that no code logs a request's body or headers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.core.signals import setting_changed

REDACTED = "[redacted]"
# Shorter values are not treated as secrets: replacing them would garble every line, and they
# protect nothing anyway.
MIN_SECRET_LENGTH = 4
# Variables the settings are read from: the gunicorn master logs before Django is set up.
SECRET_VARIABLES = ("DJANGO_SECRET_KEY", "METRICS_TOKEN", "EMAIL_HOST_PASSWORD")
URL_VARIABLES = ("DATABASE_URL", "CELERY_BROKER_URL")

_SHAPES = (
    # scheme://user:password@host: the password (a user name alone stays).
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), rf"\1{REDACTED}@"),
    # password=..., 'password': '...', "secret_key": "..." (the key's value up to its end).
    (
        re.compile(
            r"(?i)(\b(?:password|passwd|secret_key|api_key|token)['\"]?\s*[=:]\s*)"
            r"('[^']*'|\"[^\"]*\"|[^\s,;&)}\]]+)"
        ),
        rf"\1{REDACTED}",
    ),
    # A personal field of an address (the API contract's "Personal data") quoted in a dict's
    # repr or a key=value pair, e.g. an exception message about a payload: its value.
    (
        re.compile(
            r"(\b(?:line1|line2|city|postal_code)['\"]?\s*[=:]\s*)"
            r"('[^']*'|\"[^\"]*\"|[^\s,;&)}\]]+)"
        ),
        rf"\1{REDACTED}",
    ),
    # An Authorization header's credentials (long enough not to be a word: "Token
    # authentication" stays).
    (re.compile(r"\b(Token|Bearer)(\s+)[A-Za-z0-9._~+/=-]{16,}"), rf"\1\2{REDACTED}"),
    # A webhook's signing secret (integrations.delivery.new_secret).
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]{8,}"), f"whsec_{REDACTED}"),
)


# Only text holding one of these can hold a credential's shape (saves the patterns' time on
# the many fields that cannot).
_MAYBE_SHAPED = re.compile(
    r"(?i)://|passw|secret|api_key|token|bearer|whsec_|line1|line2|city|postal_code"
)


def redact(value: Any) -> Any:
    """``value`` with every secret replaced; containers are walked, other objects rendered
    as their repr first (as the log renderers would)."""
    return _redact(value, _secret_forms())


def redact_fields(fields: Mapping[str, Any], *, keep: frozenset[str]) -> dict[str, Any]:
    """Every field but those in ``keep`` redacted (a log line's fields)."""
    forms = _secret_forms()
    return {key: value if key in keep else _redact(value, forms) for key, value in fields.items()}


def redact_text(text: str) -> str:
    return _redact_text(text, _secret_forms())


# (whether the settings were loaded, the secrets' written forms then): asking the environment
# and the settings for every line cost more than the rest of its formatting.
_known: tuple[bool, tuple[str, ...]] | None = None


def _secret_forms() -> tuple[str, ...]:
    global _known  # noqa: PLW0603 - one cache for the process, all threads
    loaded = settings.configured
    known = _known
    if known is None or known[0] != loaded:
        known = _known = (loaded, _written_forms(configured_secrets()))
    return known[1]


def forget_secrets(**_: Any) -> None:
    """Read the secrets again at the next line: the settings changed (tests do that)."""
    global _known  # noqa: PLW0603
    _known = None


setting_changed.connect(forget_secrets)


def configured_secrets() -> tuple[str, ...]:
    """The secret values this process is configured with, from the settings once they are
    loaded and from the environment they are read from."""
    values = [os.environ.get(name, "") for name in SECRET_VARIABLES]
    values += [_url_password(os.environ.get(name, "")) for name in URL_VARIABLES]
    if settings.configured:
        values += [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
        values.append(getattr(settings, "METRICS_TOKEN", ""))
        values.append(getattr(settings, "EMAIL_HOST_PASSWORD", ""))
        values += [db.get("PASSWORD") or "" for db in settings.DATABASES.values()]
        values.append(_url_password(getattr(settings, "CELERY_BROKER_URL", "") or ""))
    return tuple(sorted({str(v) for v in values if v}))


def _url_password(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


def _written_forms(secrets: tuple[str, ...]) -> tuple[str, ...]:
    """Each secret as written, inside a repr and percent-encoded; longest first, so that a
    secret containing another is replaced whole."""
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH:
            forms |= {secret, repr(secret)[1:-1], quote(secret, safe=""), quote(secret)}
    return tuple(sorted(forms, key=len, reverse=True))


def _redact(value: Any, forms: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return _redact_text(value, forms)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dict):
        return {key: _redact(item, forms) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_redact(item, forms) for item in value]
    return _redact_text(repr(value), forms)


def _redact_text(text: str, forms: tuple[str, ...]) -> str:
    for form in forms:
        if form in text:
            text = text.replace(form, REDACTED)
    if _MAYBE_SHAPED.search(text):
        for pattern, replacement in _SHAPES:
            text = pattern.sub(replacement, text)
    return text
