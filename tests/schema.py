"""Every API answer checked against the served OpenAPI schema.

``check(method, path, response)`` finds the schema's operation for the request, requires the
status to be one it documents and the JSON body to match the documented schema exactly (no
undocumented fields: objects with declared properties admit no others). An answer from no
operation (an unknown path under /api/) must still have the contract's error shape.
tests/conftest.py runs it on every answer an APIClient gets, so every API test is also a
test that the schema and the bodies cannot drift apart.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from rest_framework.test import APIClient

Schema = dict[str, Any]


@cache
def served_schema() -> Schema:
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content
    schema: Schema = json.loads(response.content)
    return schema


def _strict(node: Any, components: Schema) -> Any:
    """``node`` with $refs inlined, OpenAPI 3.0's ``nullable`` as JSON Schema's null type,
    and no property beyond the declared ones."""
    if isinstance(node, list):
        return [_strict(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _strict(components[node["$ref"].rsplit("/", 1)[1]], components)
    strict = {key: _strict(value, components) for key, value in node.items()}
    if "properties" in strict:
        strict.setdefault("additionalProperties", False)
    if strict.pop("nullable", False):
        return {"anyOf": [strict, {"type": "null"}]}
    return strict


@cache
def _operations() -> list[tuple[re.Pattern[str], str, Schema]]:
    """(path regex, method, operation) for each operation of the schema."""
    operations = []
    # Literal paths first: /api/orders/search is not /api/orders/{order_id}.
    paths = sorted(served_schema()["paths"].items(), key=lambda item: item[0].count("{"))
    for template, methods in paths:
        regex = re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template.rstrip("/")))
        for method, operation in methods.items():
            operations.append((re.compile(f"^{regex}/?$"), method.upper(), operation))
    return operations


@cache
def _validator(schema_json: str) -> Draft202012Validator:
    components = served_schema()["components"]["schemas"]
    return Draft202012Validator(
        _strict(json.loads(schema_json), components),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _body_schema(responses: Schema, status: int) -> Schema | None:
    documented = responses.get(str(status))
    assert documented is not None, f"status {status} is not documented (only {list(responses)})"
    content = documented.get("content", {}).get("application/json")
    return None if content is None else content["schema"]


ERROR_SCHEMA: Schema = {"$ref": "#/components/schemas/Error"}


def check(method: str, path: str, response: Any) -> None:
    """Fail unless ``response`` (to ``method path``) is what the schema documents."""
    if not path.startswith("/api/") or path.rstrip("/") in ("/api/schema", "/api/docs"):
        return
    operation = next(
        (op for regex, verb, op in _operations() if verb == method and regex.match(path)), None
    )
    if operation is None:
        schema: Schema | None = ERROR_SCHEMA
        assert response.status_code >= 400, f"{method} {path} is not in the schema"
    else:
        schema = _body_schema(operation["responses"], response.status_code)
    if schema is None:
        return
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    errors = sorted(
        _validator(json.dumps(schema, sort_keys=True)).iter_errors(body), key=lambda e: e.path
    )
    assert not errors, (
        f"{method} {path} answered {response.status_code} outside its schema: "
        + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    )
