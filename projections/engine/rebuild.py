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
from projections.engine.runner import Progress, drain, run


def rebuild(name: str, *, progress: Progress | None = None) -> ProjectionState:
    """Replay the log into a new generation of ``name``, then make queries read it.

    Resumable: an interrupted rebuild continues from its own checkpoint when run again.
    """
    projection = base.get(name)
    target = generations.start_rebuild(name)
    run(name, generation=target.generation, progress=progress)
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
            drain(projection, target, progress)
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
    if target.status == ProjectionStatus.FAILED or target.error_position is not None:
        raise ProjectionError(f"Rebuild of {target.name} stopped: {target.last_error}")
