"""Domain errors: each carries a stable snake_case code the API maps to an HTTP status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: Mapping[str, Any] = details


class InvalidCommand(DomainError):
    """The command's own content breaks a rule (caught by the API's validation first)."""

    code = "validation_error"


class OrderNotFound(DomainError):
    code = "order_not_found"


class ItemNotFound(DomainError):
    code = "item_not_found"


class RuleViolation(DomainError):
    """The order's current state forbids the command."""

    code = "rule_violation"

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.code = code


class VersionMismatch(DomainError):
    code = "version_mismatch"

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(
            f"The order is at version {actual}, not {expected}.", expected=expected, actual=actual
        )


class ConcurrencyConflict(DomainError):
    code = "concurrency_conflict"


class OrderUnreadable(DomainError):
    """An event of the order's stream does not fold: its state, and so any command, is unknown."""

    code = "order_unreadable"


class CustomerForgotten(DomainError):
    """The customer was forgotten (their personal data erased): no command may record new
    personal data of theirs (create an order, change an address)."""

    code = "customer_forgotten"
