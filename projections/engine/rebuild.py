"""Rebuild: replay the whole log into a new generation while the old one serves, then switch.

The new generation's cursors (one per shard) fill from their own checkpoints, so an
interrupted rebuild resumes where it stopped. Once they have caught up the generation is
attached (a projection's indexes built), and with the leases of both generations held it
takes the last events and takes over.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager

from django.conf import settings

from projections.engine import followers, generations
from projections.engine.leases import Lease, holding, reload
from projections.engine.models import ProjectionState, ProjectionStatus
from projections.engine.poison import ProjectionError
from projections.engine.runner import Progress, SteppedOver, drain, run
from projections.engine.strategies import read_events


def rebuild(
    name: str, *, progress: Progress | None = None, stepped_over: SteppedOver | None = None
) -> ProjectionState:
    """Replay the log into a new generation of ``name``, then make queries read it; returns
    the new generation's (first shard's) state.

    Resumable: an interrupted rebuild continues from its own checkpoints when run again.
    Events that operators skipped in any generation are stepped over (and told to
    ``stepped_over``).
    """
    follower = followers.get(name)
    first = generations.start_rebuild(name)
    targets = list(ProjectionState.objects.filter(name=name, generation=first.generation))
    for target in targets:
        run(
            name,
            generation=target.generation,
            shard=target.shard,
            progress=progress,
            stepped_over=stepped_over,
        )
        target.refresh_from_db()
        _stop_if_failed(target)
    generations.attach(targets[0])
    live = list(ProjectionState.objects.filter(name=name, active=True))
    # Hold the live generation still while the new one takes the last events and takes over.
    with _all_held([*live, *targets]) as held:
        for target, lease in zip(targets, held[len(live) :], strict=True):
            reload(target)
            while True:
                drain(follower, target, lease, progress=progress, stepped_over=stepped_over)
                if target.error_position is not None or not read_events(
                    follower, target, target.checkpoint, 1
                ):
                    break
            _stop_if_failed(target)
        generations.switch(live[0], targets[0])
    # Events committed while the leases were held may have found them taken: look once more.
    for state in live:
        run(name, shard=state.shard)
    generations.purge_retired()
    targets[0].refresh_from_db()
    return targets[0]


@contextmanager
def _all_held(states: Sequence[ProjectionState]) -> Iterator[list[Lease]]:
    """The leases of ``states`` (whatever their status), waiting for running turns to end."""
    with ExitStack() as stack:
        held = []
        for state in states:
            turn = stack.enter_context(
                holding(state, wait=2 * settings.PROJECTION_LEASE_SECONDS, any_status=True)
            )
            if turn.lease is None:
                raise ProjectionError(f"{state} is held by another worker; rebuild again.")
            held.append(turn.lease)
        yield held


def _stop_if_failed(target: ProjectionState) -> None:
    """A rebuild stopped at a failing event is failed at once: nothing retries a rebuild in the
    background (the catch-up task applies active generations), so it waits for an operator's
    retry or skip, then for ``rebuild_projection`` again."""
    if target.status == ProjectionStatus.FAILED or target.error_position is not None:
        ProjectionState.objects.filter(pk=target.pk).update(status=ProjectionStatus.FAILED)
        raise ProjectionError(f"Rebuild of {target.name} stopped: {target.last_error}")
