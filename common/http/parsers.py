"""The API's JSON parser: bounded body size, exact numbers, storable strings only."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser


class BodyTooLarge(exceptions.ParseError):
    pass


class LimitedJSONParser(JSONParser):
    """JSON parser that refuses oversized bodies and keeps numbers exact (Decimal, not float)."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise BodyTooLarge(f"Request body is larger than {limit} bytes.")
        if not raw.strip():
            return {}
        try:
            data = json.loads(
                raw.decode("utf-8"), parse_float=Decimal, parse_constant=_reject_constant
            )
            # Lone surrogates ("\\ud800") parse but can't be stored as UTF-8: refuse them here.
            json.dumps(data, cls=_DecimalEncoder, ensure_ascii=False).encode("utf-8")
        except (ValueError, UnicodeError, RecursionError) as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc}") from exc
        return data


class _DecimalEncoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        return str(o) if isinstance(o, Decimal) else super().default(o)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
