"""Skip the event a projection is stopped on, recording who and why."""

from __future__ import annotations

import getpass
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from projections.engine import poison, runner


class Command(BaseCommand):
    help = "Skip the failing event of a projection (recorded with who and why), then go on."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--reason", required=True, help="Why the event may be skipped.")
        parser.add_argument("--actor", default=None, help="Who skips it (default: OS user).")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = options["actor"] or f"cli:{getpass.getuser()}"
        try:
            record = poison.skip(options["name"], reason=options["reason"], actor=actor)
            read = runner.run(options["name"], generation=record.generation)
        except (LookupError, poison.ProjectionError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{options['name']}: skipped {record.event_type} at position {record.position}; "
            f"then read {read} events."
        )
