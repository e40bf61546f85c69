"""Celery tasks of the write side."""

from celery import shared_task

from orders.services import expire_idempotency_keys


@shared_task(name="orders.expire_idempotency_keys")
def expire_idempotency_keys_task() -> int:
    return expire_idempotency_keys()
