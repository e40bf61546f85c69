"""Catch every projection (or the named ones) up with the log, once or in a loop."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from projections.engine.tasks import catch_up


class Command(BaseCommand):
    help = "Catch projections up with the log (what the Celery task does), once or --forever."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("names", nargs="*")
        parser.add_argument("--forever", action="store_true")
        parser.add_argument("--interval", type=float, default=1.0)

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            result = catch_up(options["names"] or None)
            self.stdout.write(", ".join(f"{k}: {v}" for k, v in result.items()))
            if not options["forever"]:
                return
            time.sleep(options["interval"])
