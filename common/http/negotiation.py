"""Content negotiation: the API answers JSON whatever the client's Accept header asks for.

DRF would answer 406 to ``Accept: text/html`` and 404 to an unknown ``?format=``; the contract
is JSON in, JSON out, so a view's first renderer (JSON) answers an Accept it cannot meet, and a
``format`` none of the view's renderers has is a 400 naming it (the schema lists ``format`` with
the one value it takes: ``format_parameter``). The schema view keeps its own formats (json, yaml).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from common.http.errors import ValidationFailed

FORMAT_PARAM = "format"


class JSONFirstNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        wanted = format_suffix or request.query_params.get(FORMAT_PARAM)
        formats = [renderer.format for renderer in renderers]
        if wanted is not None and wanted not in formats:
            raise ValidationFailed(
                f"Unknown format {wanted!r}.",
                details={FORMAT_PARAM: [f"Must be one of: {', '.join(dict.fromkeys(formats))}."]},
            )
        try:
            chosen: tuple[BaseRenderer, str] = super().select_renderer(
                request, renderers, format_suffix
            )
        except exceptions.NotAcceptable:
            first = next(r for r in renderers if wanted is None or r.format == wanted)
            return first, str(first.media_type)
        return chosen


def format_parameter(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """A drf-spectacular postprocessing hook: every operation under /api/ takes ``format``,
    whose one value is json (common.http.negotiation answers 400 to any other)."""
    parameter = {
        "name": FORMAT_PARAM,
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["json"]},
        "description": "The answer's format: JSON only (also without it, whatever Accept says).",
    }
    for path, operations in result["paths"].items():
        if path.startswith("/api/"):
            for operation in operations.values():
                operation.setdefault("parameters", []).append(dict(parameter))
    return result
