"""Clear a projection's failure so that it tries the failing event again."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from projections.engine import poison, runner


class Command(BaseCommand):
    help = "Retry a failed projection at the event it stopped on."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            state = poison.retry(options["name"])
            read = runner.run(options["name"], generation=state.generation)
        except (LookupError, poison.ProjectionError) as exc:
            raise CommandError(str(exc)) from exc
        state.refresh_from_db()
        outcome = f"failed again: {state.last_error}" if state.error_position else "caught up"
        self.stdout.write(f"{options['name']}: read {read} events, {outcome}.")
