"""The Celery application; without CELERY_BROKER_URL tasks run eagerly (see settings)."""

import logging
import os
from typing import Any, Self

from celery import Celery
from celery.app.amqp import AMQP
from celery.signals import celeryd_init
from kombu import Connection

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
logger = logging.getLogger(__name__)

# Seconds between attempts to reach a lost broker, however long it stays away.
RECONNECT_EVERY_SECONDS = 2


class BrokerConnection(Connection):
    """A broker connection that, once lost, is tried again every few seconds for good.

    Workers and beat reconnect through ``ensure_connection`` with kombu's default back-off,
    which waits 2 s longer after each failed attempt, up to 30 s: after a long outage a
    worker would sit up to half a minute with the broker back and the read side stale.
    """

    def ensure_connection(self, *args: Any, **kwargs: Any) -> Self:
        kwargs.setdefault("interval_start", 1)
        kwargs.setdefault("interval_step", 1)
        kwargs.setdefault("interval_max", RECONNECT_EVERY_SECONDS)
        return super().ensure_connection(*args, **kwargs)

    def release(self) -> None:
        """Close, without ever raising: the connection is being dropped either way.

        A worker closes its lost connection before reconnecting and counts on that to raise
        only connection errors; kombu 5.7 can raise others from a channel whose broker is
        gone (seen: AttributeError while restoring unacknowledged messages, which the sweep
        re-sends anyway), and that ended the worker for good.
        """
        try:
            super().release()
        except Exception:
            logger.warning("closing a broker connection failed", exc_info=True)

    close = release


class BrokerAMQP(AMQP):
    Connection = BrokerConnection


@celeryd_init.connect
def _worker_database_role(**_: Any) -> None:
    """A worker's database calls get the worker role's limits (settings DB_WORKER_*); its pool
    processes, forked later, inherit the environment."""
    os.environ["DATABASE_ROLE"] = "worker"


app = Celery("orders_service", amqp=BrokerAMQP)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
