"""Rebuild: replay the whole log into a new generation while the old one serves, then switch.

The new generation fills its own (detached) tables from its own checkpoint, so an interrupted
rebuild resumes where it stopped. Once it has caught up its tables are attached (indexes
built), and with both generations' locks held it applies the last events and takes over.
"""

from __future__ import annotations

from eventstore.store import read_all
from projections.engine import base, generations
from projections.engine.checkpoints import projection_lock, reload
from projections.engine.models import ProjectionState, ProjectionStatus
from projections.engine.poison import ProjectionError
from projections.engine.runner import Progress, SteppedOver, drain, run


def rebuild(
    name: str, *, progress: Progress | None = None, stepped_over: SteppedOver | None = None
) -> ProjectionState:
    """Replay the log into a new generation of ``name``, then make queries read it.

    Resumable: an interrupted rebuild continues from its own checkpoint when run again. Events
    that operators skipped in any generation are stepped over (and told to ``stepped_over``).
    """
    projection = base.get(name)
    target = generations.start_rebuild(name)
    run(name, generation=target.generation, progress=progress, stepped_over=stepped_over)
    target.refresh_from_db()
    _stop_if_failed(target)
    generations.attach(target)
    live = generations.active_state(name)
    # Hold the live generation still while the new one takes the last events and takes over.
    with (
        projection_lock(name, live.generation, wait=True),
        projection_lock(name, target.generation, wait=True),
    ):
        reload(target)
        while True:
            drain(projection, target, progress, stepped_over=stepped_over)
            if target.error_position is not None or not read_all(target.checkpoint, limit=1):
                break
        _stop_if_failed(target)
        generations.switch(live, target)
    # Events committed while the locks were held may have found them taken: look once more.
    run(name)
    generations.purge_retired()
    target.refresh_from_db()
    return target


def _stop_if_failed(target: ProjectionState) -> None:
    """A rebuild stopped at a failing event is failed at once: nothing retries a rebuild in the
    background (the catch-up task applies active generations), so it waits for an operator's
    retry or skip, then for ``rebuild_projection`` again."""
    if target.status == ProjectionStatus.FAILED or target.error_position is not None:
        ProjectionState.objects.filter(pk=target.pk).update(status=ProjectionStatus.FAILED)
        raise ProjectionError(f"Rebuild of {target.name} stopped: {target.last_error}")
