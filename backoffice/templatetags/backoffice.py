"""Template filters of the back office."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils.safestring import SafeString

from backoffice import navigation
from backoffice.display import count, moment
from backoffice.jsonhtml import json_html as render_json

register = template.Library()


@register.filter
def json_html(value: Any) -> SafeString:
    return render_json(value)


@register.filter
def grouped(value: int | None) -> str:
    """``12,345``: a count with its thousands separated."""
    return count(value)


@register.filter
def utc(value: Any) -> str:
    """``2024-03-01 10:05:07 UTC``."""
    return moment(value)


@register.simple_tag
def place_of(opts: Any) -> dict[str, str]:
    """Where a model's pages sit: its section (name, url) and its page's name and list url."""
    model = opts.model
    section = navigation.section_of(model)
    label = navigation.label_of(model)
    return {
        "section": section.name,
        "section_url": navigation.section_url(section),
        "page": navigation.NAME_OF.get(label, str(opts.verbose_name_plural).capitalize()),
        "page_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
    }
