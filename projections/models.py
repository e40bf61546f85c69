"""The app's models, for Django: the engine's bookkeeping and the order read models' tables."""

from projections.engine.models import ProjectionSkip, ProjectionState, ProjectionStatus
from projections.read_models.models import (
    CustomerOrderFact,
    CustomerSummary,
    DailySales,
    OrderStatusCount,
    OrderTermCount,
    OrderView,
    OrderViewItem,
    SalesOrderFact,
)

__all__ = [
    "CustomerOrderFact",
    "CustomerSummary",
    "DailySales",
    "OrderStatusCount",
    "OrderTermCount",
    "OrderView",
    "OrderViewItem",
    "ProjectionSkip",
    "ProjectionState",
    "ProjectionStatus",
    "SalesOrderFact",
]
