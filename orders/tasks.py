"""Celery tasks of the write side."""

from celery import shared_task

from orders import idempotency


@shared_task(name="orders.expire_idempotency_keys")
def expire_idempotency_keys() -> int:
    return idempotency.expire()
