"""JSON as readable, highlighted HTML (indented, keys, strings, numbers and literals marked)."""

from __future__ import annotations

import json
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

INDENT = "  "


def json_html(value: Any) -> SafeString:
    """``value`` pretty-printed in a <pre>, every token escaped and wrapped in a CSS class."""
    return mark_safe(f'<pre class="json">{_render(value, 0)}</pre>')  # noqa: S308 - escaped


def _token(css: str, value: Any) -> str:
    return f'<span class="json-{css}">{escape(json.dumps(value, ensure_ascii=False))}</span>'


def _render(value: Any, depth: int) -> str:
    inner, outer = INDENT * (depth + 1), INDENT * depth
    if isinstance(value, dict):
        if not value:
            return "{}"
        members = (
            f"{inner}{_token('key', str(k))}: {_render(v, depth + 1)}" for k, v in value.items()
        )
        return "{\n" + ",\n".join(members) + f"\n{outer}}}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        elements = (f"{inner}{_render(v, depth + 1)}" for v in value)
        return "[\n" + ",\n".join(elements) + f"\n{outer}]"
    if isinstance(value, str):
        return _token("string", value)
    if value is None or isinstance(value, bool):
        return _token("literal", value)
    if isinstance(value, int | float):
        return _token("number", value)
    return _token("string", str(value))  # Decimals, dates: as the JSON encoder writes them
