"""Template filters of the back office."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString

from backoffice.jsonhtml import json_html as render_json

register = template.Library()


@register.filter
def json_html(value: Any) -> SafeString:
    return render_json(value)
