"""API tokens in the back office: listed with their keys masked, shown whole only to whom
they belong, and once to whoever creates one.

Replaces DRF's own page (``TokenProxy``), which lists every key to anyone allowed to view
tokens. A token cannot be edited: it is created (for a user, by staff allowed to add tokens),
or revoked (deleted); a user replaces their own on "My API token".
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from rest_framework.authtoken.models import TokenProxy

from backoffice.display import moment
from backoffice.models import ApiToken, masked
from backoffice.tokens import key_page

if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)


class TokenChangeList(ChangeList):
    """Rows link by the owner's id (the proxy's primary key), never by the key itself."""

    def url_for_result(self, result: Model) -> str:
        return reverse("admin:backoffice_apitoken_change", args=[result.pk])


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("owner", "masked_key", "created_at")
    list_display_links = ("owner",)
    fields = ("user",)
    readonly_fields = ()
    search_fields = ("=user__username",)
    search_help_text = "A username, exactly."
    ordering = ("user__username",)
    actions = None  # the list's ids are the owners' (see TokenChangeList)
    show_facets = admin.ShowFacets.NEVER

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return TokenChangeList

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        return super().get_queryset(request).select_related("user")

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> ApiToken | None:
        """By the owner's id, as the list links."""
        field = get_user_model()._meta.pk
        assert field is not None
        try:
            owner = field.to_python(object_id)
            return self.get_queryset(request).get(user_id=owner)
        except (ApiToken.DoesNotExist, ValidationError, ValueError):
            return None

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("user",) if obj is None else ("owner", "masked_key", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return () if obj is None else ("owner", "masked_key", "created_at")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a token is created or revoked, never edited

    @admin.display(description="user", ordering="user__username")
    def owner(self, token: ApiToken) -> str:
        return str(token.user)

    # Not "key" nor "created": those name the model's fields, which the admin would show.
    @admin.display(description="key")
    def masked_key(self, token: ApiToken) -> str:
        return masked(token.key)

    @admin.display(description="created", ordering="created")
    def created_at(self, token: ApiToken) -> str:
        return moment(token.created)

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None
    ) -> HttpResponse:
        """The new key, shown this once, on the page itself (never kept in a message)."""
        return key_page(
            self.admin_site,
            request,
            obj.key,
            title=f"API token created for {obj.user}",
            note="Give it to them now: it is not shown again, to you or anyone else.",
        )
