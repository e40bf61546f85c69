"""The app's admin pages, for Django's autodiscovery: projection health, then the read models."""

from projections.engine import admin as engine_admin
from projections.read_models import admin as read_models_admin

__all__ = ["engine_admin", "read_models_admin"]
