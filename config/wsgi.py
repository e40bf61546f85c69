"""WSGI entry point: Django, with chunked request bodies passed on as bodies of a known length.

A request sent with ``Transfer-Encoding: chunked`` has no Content-Length, and Django reads a
body of that length: nothing, so a valid order arrived as an empty one. gunicorn decodes the
chunks itself and says so (``wsgi.input_terminated``: ``wsgi.input`` ends where the body
does); such a body is read here, up to the size limits plus one byte, so that the parser (or
Django) still refuses one that is too large.
"""

import io
import os
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def with_chunked_bodies(app: WSGIApp) -> WSGIApp:
    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (
            environ.get("wsgi.input_terminated")
            and not environ.get("CONTENT_LENGTH")
            and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        ):
            limit = max(settings.API_MAX_BODY_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0)
            body = environ["wsgi.input"].read(limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return app(environ, start_response)

    return application


application = with_chunked_bodies(get_wsgi_application())
