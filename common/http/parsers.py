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
        # Each message says what is wrong with the body, never how Python found out.
        try:
            text = raw.decode("utf-8")
        except UnicodeError:
            raise exceptions.ParseError("The body is not UTF-8 text.") from None
        try:
            data = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            message = f"Malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            raise exceptions.ParseError(message) from None
        except (ValueError, ArithmeticError):  # more than 4,300 digits; an exponent of 20
            raise exceptions.ParseError("Malformed JSON: a value is out of range.") from None
        except RecursionError:
            raise exceptions.ParseError("Malformed JSON: nested too deeply.") from None
        try:
            # Lone surrogates ("\\ud800") parse but can't be stored as UTF-8: refuse them here.
            json.dumps(data, cls=_DecimalEncoder, ensure_ascii=False).encode("utf-8")
        except UnicodeError:
            raise exceptions.ParseError("A string in the body is not valid Unicode.") from None
        return data


class _DecimalEncoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        return str(o) if isinstance(o, Decimal) else super().default(o)


def _reject_constant(name: str) -> Any:
    raise exceptions.ParseError(f"Malformed JSON: {name} is not a JSON value.")
