"""Replay the log into a fresh generation of a projection, then switch queries over to it."""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from eventstore.store import head_position
from projections.engine import followers as base
from projections.engine.generations import GenerationMissing
from projections.engine.models import ProjectionSkip
from projections.engine.poison import ProjectionError
from projections.engine.rebuild import rebuild


class Command(BaseCommand):
    help = "Rebuild one projection (or --all) from the log while the old tables keep serving."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", nargs="?", help="Projection name.")
        parser.add_argument("--all", action="store_true", help="Rebuild every projection.")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["all"] == bool(options["name"]):
            raise CommandError("Name one projection or pass --all.")
        # Projections only: other followers (webhooks, subscribers) have nothing to rebuild.
        known = [p.name for p in base.registered()]
        names = known if options["all"] else [options["name"]]
        for name in names:
            if name not in known:
                raise CommandError(
                    f"No projection named {name!r} (known: {', '.join(known) or 'none'})"
                )
        for name in names:
            with tqdm(
                total=head_position(),
                desc=name,
                unit="ev",
                disable=options["no_progress"],
                file=self.stderr,
            ) as bar:
                try:
                    state = rebuild(
                        name, progress=bar.update, stepped_over=self._telling(name, bar)
                    )
                except (GenerationMissing, ProjectionError) as exc:
                    raise CommandError(str(exc)) from exc
            self.stdout.write(
                f"{name}: generation {state.generation} is live at position {state.position}."
            )

    def _telling(self, name: str, bar: tqdm[Any]) -> Callable[[ProjectionSkip], None]:
        """Says, above the progress bar, which recorded skip the rebuild stepped over."""

        def stepped_over(skip: ProjectionSkip) -> None:
            with bar.external_write_mode():
                self.stdout.write(
                    f"{name}: stepped over skipped event {skip.position} ({skip.event_type}), "
                    f"skipped by {skip.actor} on {skip.skipped_at:%Y-%m-%d %H:%M} UTC: "
                    f"{skip.reason}"
                )

        return stepped_over
