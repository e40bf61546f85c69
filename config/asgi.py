"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# An ASGI server serves web requests: the web role's database limits (settings).
os.environ.setdefault("DATABASE_ROLE", "web")
application = get_asgi_application()
