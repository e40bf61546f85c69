"""drf-spectacular postprocessing hooks for every app's schema: it says exactly what the
API accepts.

- Request bodies are StrictSerializers, which refuse fields they do not declare: their
  components say so (``additionalProperties: false``).
- drf-spectacular describes a string that may also be blank as ``oneOf: [its schema, a blank
  string]``. When its schema admits the blank string as well (a pattern that matches ""), no
  value is "exactly one of" those and validators refuse a valid blank: it must be ``anyOf``.
"""

from __future__ import annotations

from typing import Any

_BLANK = {"type": "string", "maxLength": 0}


def strict_request_bodies(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and "properties" in component:
            component["additionalProperties"] = False
    return result


def blank_alternatives_as_any_of(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    _visit(result)
    return result


def _visit(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _visit(item)
    elif isinstance(node, dict):
        if _BLANK in node.get("oneOf", []):
            node["anyOf"] = node.pop("oneOf")
        for value in node.values():
            _visit(value)
