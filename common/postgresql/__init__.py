"""Django's PostgreSQL backend with every database call bounded by the role of its process
(ENGINE ``common.postgresql``; the DatabaseWrapper is in ``base``)."""

from common.postgresql.roles import MAINTENANCE, ROLE_VARIABLE, ROLES, WEB, WORKER, current_role

__all__ = ["MAINTENANCE", "ROLES", "ROLE_VARIABLE", "WEB", "WORKER", "current_role"]
