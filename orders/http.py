"""The order domain's errors in HTTP terms: which status each error code is answered with.

Views call the domain inside ``domain_errors_as_api_errors()``; the project's exception handler
(common.http.errors) then answers in the contract's shape without knowing the domain.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from rest_framework import status

from common.http.errors import ApiError, ValidationFailed
from orders.domain.errors import DomainError

# Every code not listed is a business rule refusing the command in the order's state (409).
STATUS_OF: Final = {
    "validation_error": status.HTTP_400_BAD_REQUEST,
    "order_not_found": status.HTTP_404_NOT_FOUND,
    "item_not_found": status.HTTP_404_NOT_FOUND,
    "version_mismatch": status.HTTP_412_PRECONDITION_FAILED,
    "idempotency_key_reused": status.HTTP_422_UNPROCESSABLE_ENTITY,
}


def api_error(exc: DomainError) -> ApiError:
    return ApiError(
        exc.message,
        details=exc.details,
        code=exc.code,
        status_code=STATUS_OF.get(exc.code, status.HTTP_409_CONFLICT),
    )


@contextmanager
def domain_errors_as_api_errors() -> Iterator[None]:
    try:
        yield
    except DomainError as exc:
        raise api_error(exc) from exc


def parse_order_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed(
            "The order id is not a UUID.", details={"order_id": ["Must be a UUID."]}
        ) from None
