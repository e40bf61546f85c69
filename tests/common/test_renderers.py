"""PlainJSONRenderer writes exactly DRF's JSONRenderer's bytes, faster where it can."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.renderers import JSONRenderer

from common.http.renderers import PlainJSONRenderer

SAMPLES: list[Any] = [
    [],
    {},
    [{"position": 1, "data": {"city": "Zürich ✓", "note": 'a "quote" \\ slash /'}}],
    {"controls": "\x00\x01\x08\t\n\x0c\r\x1f\x7f", "separators": "\u2028 and \u2029"},
    {"emoji": "😀", "surrogate-free": "\ud7ff\ue000", "big": 2**63 - 1, "neg": -(2**63)},
    {"float": 1.5, "small": 1e-7, "large": 1e22, "zero": -0.0, "true": True, "false": False},
    {"null": None, "nested": [[[]], {"a": {"b": [1, "2", 3.0]}}]},
    {"beyond 64 bits": 2**64, "int key": {1: "one"}},
    {"decimal": Decimal("12.50"), "when": datetime(2026, 12, 7, 9, 0, 1, tzinfo=UTC)},
]


@pytest.mark.parametrize("data", SAMPLES)
def test_the_bytes_are_drfs(data: Any) -> None:
    assert PlainJSONRenderer().render(data) == JSONRenderer().render(data)


def test_what_drf_refuses_is_refused() -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        PlainJSONRenderer().render({"nan": math.nan})


def test_nothing_renders_as_nothing() -> None:
    assert PlainJSONRenderer().render(None) == b""


def test_plain_data_is_written_by_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_drf(*args: Any, **kwargs: Any) -> bytes:
        raise AssertionError("handed to DRF's renderer")

    monkeypatch.setattr(JSONRenderer, "render", not_drf)
    page = [{"event_id": "0e4a1b2c-3e5f-4e6a-8b9c-1e2f3a4b5c6d", "n": 1, "price": "1e5"}]

    assert PlainJSONRenderer().render(page).startswith(b'[{"event_id"')
