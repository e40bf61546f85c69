"""Clear a projection's failure so that it tries the failing event again; exits non-zero
unless the event then applies (a script can tell a fixed projection from a still broken one)."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from projections.engine import poison, runner
from projections.engine.models import ProjectionState

POLL_SECONDS = 0.2


class Command(BaseCommand):
    help = (
        "Retry a failed projection at the event it stopped on; exits non-zero if the event "
        "fails again (or no outcome is known within --timeout seconds)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--timeout",
            type=float,
            default=30.0,
            help="Seconds to wait for the outcome when another worker holds the projection "
            "(default 30).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"]
        try:
            state = poison.retry(name)
            read = runner.run(name, generation=state.generation)
        except (LookupError, poison.ProjectionError) as exc:
            raise CommandError(str(exc)) from exc
        state = _outcome(state, deadline=time.monotonic() + options["timeout"])
        if state.error_position is None:
            self.stdout.write(f"{name}: read {read} events, caught up.")
        elif state.attempts:
            raise CommandError(
                f"{name}: the event at position {state.error_position} failed again "
                f"(attempt {state.attempts}; read {read} events): {state.last_error}"
            )
        else:
            raise CommandError(
                f"{name}: another worker holds the projection and has not tried the event at "
                f"position {state.error_position} within {options['timeout']:g} s; see "
                "projection_status."
            )


def _outcome(state: ProjectionState, *, deadline: float) -> ProjectionState:
    """``state`` once its retried event applied (no error position) or failed again (attempts
    counted anew by ``poison.retry``), or as it stands at ``deadline``. This process tried it
    already unless another worker held the projection: then that worker's turn decides."""
    while True:
        state.refresh_from_db()
        if state.error_position is None or state.attempts or time.monotonic() >= deadline:
            return state
        time.sleep(POLL_SECONDS)
