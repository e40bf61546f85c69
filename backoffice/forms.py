"""The back office's forms: what staff type for a command or a repair, with the API's limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib.admin import ModelAdmin, helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse


class ShipForm(forms.Form):
    carrier = forms.CharField(max_length=100, required=False)
    tracking_number = forms.CharField(max_length=100, required=False)


class CancelForm(forms.Form):
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 3}), help_text="Required; kept."
    )


class AddressForm(forms.Form):
    line1 = forms.CharField(max_length=200)
    line2 = forms.CharField(max_length=200, required=False)
    city = forms.CharField(max_length=100)
    postal_code = forms.CharField(max_length=20)
    country = forms.CharField(min_length=2, max_length=64)


class SkipForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why may this event be left out? Recorded with your name and the time.",
    )


def action_form(
    model_admin: ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[Any],
    form_class: type[forms.Form],
    *,
    title: str,
    submit: str,
    describe: Callable[[Any], str] = str,
) -> forms.Form | TemplateResponse:
    """An admin action's form: the valid, submitted form, or the page that asks for it (which
    posts back to the same action with the same selection)."""
    if "apply" in request.POST:
        form = form_class(request.POST)
        if form.is_valid():
            return form
    else:
        form = form_class()
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "form": form,
        "objects": [(obj.pk, describe(obj)) for obj in queryset],
        "action": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "submit": submit,
    }
    return TemplateResponse(request, "backoffice/action_form.html", context)
