"""Where an API token's key is shown whole: to its owner ("My API token"), and once to whoever
creates one (backoffice.admin.tokens). Everywhere else it is masked (backoffice.models)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from rest_framework.authtoken.models import Token

from backoffice.display import moment


def key_page(
    site: admin.AdminSite, request: HttpRequest, key: str, *, title: str, note: str
) -> TemplateResponse:
    context = {**site.each_context(request), "title": title, "key": key, "note": note}
    response = TemplateResponse(request, "backoffice/token_key.html", context)
    response["Cache-Control"] = "no-store"
    return response


def my_token_view(site: admin.AdminSite, request: HttpRequest) -> HttpResponse:
    """A staff member's own API token: shown to them, created or replaced on request."""
    owner = request.user.pk
    assert owner is not None  # a staff page: logged in
    if request.method == "POST":
        with transaction.atomic():
            Token.objects.filter(user_id=owner).delete()
            Token.objects.create(user_id=owner)
        messages.success(request, "Your new API token is below; the old one no longer works.")
        return HttpResponseRedirect(reverse("admin:my-token"))
    token = Token.objects.filter(user_id=owner).first()
    context = {
        **site.each_context(request),
        "title": "My API token",
        "key": token.key if token else "",
        "created": moment(token.created) if token else "",
    }
    response = TemplateResponse(request, "backoffice/my_token.html", context)
    response["Cache-Control"] = "no-store"
    return response
