"""App configuration of the back office, and the admin app that uses its site."""

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class BackOfficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = "Back office"


class BackOfficeAdminConfig(AdminConfig):
    """django.contrib.admin, with the back office's site as ``admin.site``."""

    default_site = "backoffice.site.BackOfficeSite"
