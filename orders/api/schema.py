"""The OpenAPI schema's last touches (a drf-spectacular postprocessing hook): exact path
parameters, and links from a command's answer to the operations on the same order.

Paths are routed as ``[^/]+`` so that a malformed id is a 400 naming it, not a 404; the
schema says what the views accept. The links let a client (and stateful fuzzing) follow the
returned ``order_id`` from a created order to the operations on it.
"""

from __future__ import annotations

from typing import Any

from common.http.fields import IDENTIFIER_SCHEMA

PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "order_id": {"type": "string", "format": "uuid"},
    "customer_id": IDENTIFIER_SCHEMA,
    "product_id": IDENTIFIER_SCHEMA,
}

_ORDER_FROM_ANSWER = {"order_id": "$response.body#/order_id"}
# operationId -> the link's parameters, for each operation on the order a command created.
_ON_THE_ORDER = {
    "get_order": _ORDER_FROM_ANSWER,
    "order_history": _ORDER_FROM_ANSWER,
    "order_state": _ORDER_FROM_ANSWER,
    "add_order_item": _ORDER_FROM_ANSWER,
    "change_shipping_address": _ORDER_FROM_ANSWER,
    "ship_order": _ORDER_FROM_ANSWER,
    "cancel_order": _ORDER_FROM_ANSWER,
    "cancel_order_by_delete": _ORDER_FROM_ANSWER,
}
LINKS: dict[tuple[str, str], dict[str, dict[str, str]]] = {
    ("create_order", "201"): {
        **_ON_THE_ORDER,
        "remove_order_item": {
            **_ORDER_FROM_ANSWER,
            "product_id": "$request.body#/items/0/product_id",
        },
    },
    ("add_order_item", "200"): {
        **_ON_THE_ORDER,
        "remove_order_item": {**_ORDER_FROM_ANSWER, "product_id": "$request.body#/product_id"},
    },
}


def exact_parameters_and_links(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    for operations in result["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in PATH_PARAMETERS:
                    parameter["schema"] = dict(PATH_PARAMETERS[parameter["name"]])
            for status, response in operation["responses"].items():
                links = LINKS.get((operation["operationId"], status))
                if links:
                    response["links"] = {
                        target: {"operationId": target, "parameters": parameters}
                        for target, parameters in links.items()
                    }
    return result
