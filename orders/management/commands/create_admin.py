"""Create (or reset) the admin superuser with a freshly generated password, and print it."""

from __future__ import annotations

import secrets
from argparse import ArgumentParser
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create or reset the admin superuser with a new random password; prints the login."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="where the site is served, for the printed links (run.sh passes HOST:PORT)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        password = secrets.token_urlsafe(12)
        user, _ = user_model.objects.get_or_create(
            username=options["username"], defaults={"email": "admin@example.com"}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        token, _ = Token.objects.get_or_create(user=user)
        base = options["base_url"].rstrip("/")
        self.stdout.write(
            "\n"
            f"  Admin login   {base}/admin/\n"
            f"  username      {user.get_username()}\n"
            f"  password      {password}\n"
            f"  API token     Authorization: Token {token.key}\n"
            f"  API docs      {base}/api/docs/\n"
        )
