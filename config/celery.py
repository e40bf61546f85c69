"""The Celery application; without CELERY_BROKER_URL tasks run eagerly (see settings)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("orders_service")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
