"""The role of a process towards the database, which decides how long its calls may take.

A web request must answer (or fail) within seconds, a worker's batch may take a minute, an
operator's maintenance job (migrate, a rebuild, an import) as long as it needs. The entry
points say which process is which: gunicorn's settings and ``manage.py runserver`` (web), the
Celery worker (``config.celery``); anything else (other management commands, a shell, the tests)
is maintenance. Read at each new connection, from the environment, so that it is inherited by
the processes a server forks.
"""

from __future__ import annotations

import os
from typing import Final

from django.core.exceptions import ImproperlyConfigured

ROLE_VARIABLE: Final = "DATABASE_ROLE"
WEB: Final = "web"
WORKER: Final = "worker"
MAINTENANCE: Final = "maintenance"
ROLES: Final = (WEB, WORKER, MAINTENANCE)


def current_role() -> str:
    """This process's role (``DATABASE_ROLE``; maintenance when unset)."""
    role = os.environ.get(ROLE_VARIABLE) or MAINTENANCE
    if role not in ROLES:
        raise ImproperlyConfigured(
            f"{ROLE_VARIABLE}={role!r} is not a role; use one of {', '.join(ROLES)}."
        )
    return role
