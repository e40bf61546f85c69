"""Log lines: JSON in production, readable text in development, with the context they belong to.

Code everywhere logs through the standard library (``logging.getLogger(__name__)``); the
formatter below adds what structlog's context variables hold at that moment: the request id and
correlation id (ops.middleware), the command type, order id and outcome (orders.services), the
Celery task (below). Anything passed as ``extra=`` becomes a field too. No line carries a
secret: tracebacks are rendered without local variables and every field is redacted
(ops.redaction).
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any

import structlog
from celery import signals
from structlog.contextvars import bind_contextvars, reset_contextvars
from structlog.typing import EventDict

from ops.redaction import redact_fields


def formatter(*, json: bool) -> structlog.stdlib.ProcessorFormatter:
    """The formatter settings.LOGGING names (``"()": "ops.logs.formatter"``).

    Tracebacks never show local variables (they held the database's connection settings,
    password included, and requests with their bodies), and every field is redacted last
    (ops.redaction), the rendered traceback included.
    """
    # Plain tracebacks in text too: ConsoleRenderer would otherwise use rich when installed
    # (a dev tool brings it), which takes seconds to render the first one.
    exceptions: Any = (
        structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False, use_rich=False)
        )
        if json
        else structlog.processors.format_exc_info
    )
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            _without_formatter_fields,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            exceptions,
            _redacted,
            renderer,
        ],
    )


def _without_formatter_fields(_: Any, __: str, event: EventDict) -> EventDict:
    # Set on the record by any other handler's formatter; they are not extras.
    event.pop("message", None)
    event.pop("asctime", None)
    # Django passes the request object along with its log lines (django.request): its repr
    # adds nothing the line lacks, and an object is no field.
    if not isinstance(event.get("request", ""), str):
        event.pop("request")
    return event


# Written by the code, never taken from data: left as they are.
_CODE_FIELDS = frozenset({"level", "logger", "timestamp"})


def _redacted(_: Any, __: str, event: EventDict) -> EventDict:
    return redact_fields(event, keep=_CODE_FIELDS)


def bind_celery_tasks() -> None:
    """Log lines written while a task runs carry its id and name.

    What was bound before is put back afterwards, not cleared: without a broker, tasks run
    eagerly inside the request that sent them, whose ids must stay on its later lines.
    """
    signals.task_prerun.connect(_task_started, weak=False)
    signals.task_postrun.connect(_task_finished, weak=False)


_before_task: dict[str, Mapping[str, contextvars.Token[Any]]] = {}


def _task_started(task_id: str = "", task: Any = None, **_: Any) -> None:
    _before_task[task_id] = bind_contextvars(task_id=task_id, task_name=getattr(task, "name", ""))


def _task_finished(task_id: str = "", **_: Any) -> None:
    tokens = _before_task.pop(task_id, None)
    if tokens is not None:
        reset_contextvars(**tokens)
