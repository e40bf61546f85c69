"""The back office's sections, named for what staff do rather than for the apps that hold the
models: Orders, Event log, Operations (and, for administrators, Staff and logins).

The admin lists pages by Django app ("Projections and read models > Order views"); here each
registered page is filed under a section with a staff member's name for it, and a user sees
only the sections and pages their role may view (roles: backoffice.roles).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from django.db.models import Model
from django.urls import reverse

User = Any  # a request's user: has_perm


@dataclass(frozen=True)
class Page:
    """A page of a section: a registered model's list (``model``: "app_label.model_name") or a
    page of the site's own (``url_name``, shown to users holding ``permission``)."""

    name: str
    model: str = ""
    url_name: str = ""
    permission: str = ""


@dataclass(frozen=True)
class Section:
    slug: str
    name: str
    pages: tuple[Page, ...]


SECTIONS: Final = (
    Section(
        "orders",
        "Orders",
        (
            Page("Orders", model="projections.orderview"),
            Page("Customers", model="projections.customersummary"),
            Page("Daily sales", model="projections.dailysales"),
        ),
    ),
    Section(
        "event-log",
        "Event log",
        (
            Page("Events", model="eventstore.event"),
            Page("Streams", url_name="admin:streams", permission="eventstore.view_event"),
        ),
    ),
    Section(
        "operations",
        "Operations",
        (
            Page("Projections", model="projections.projectionstate"),
            Page("Skipped events", model="projections.projectionskip"),
            Page("Webhooks", model="integrations.webhook"),
            Page("Webhook deliveries", model="integrations.delivery"),
            Page("Subscribers", model="integrations.subscriberstate"),
            Page("Idempotency records", model="orders.idempotencyrecord"),
            Page("API tokens", model="backoffice.apitoken"),
        ),
    ),
)
# Registered models no section names (users, groups, login attempts) go here.
OTHERS: Final = Section("administration", "Staff and logins", ())

SECTION_OF: Final = {page.model: section for section in SECTIONS for page in section.pages}
NAME_OF: Final = {page.model: page.name for section in SECTIONS for page in section.pages}


def label_of(model: type[Model]) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def section_of(model: type[Model]) -> Section:
    return SECTION_OF.get(label_of(model), OTHERS)


def section_url(section: Section) -> str:
    return reverse("admin:section", args=[section.slug])


def app_list(
    apps: dict[str, dict[str, Any]], user: User, *, only: str | None = None
) -> list[dict[str, Any]]:
    """The admin's app list (``AdminSite._build_app_dict``'s apps) regrouped into sections, in
    the shape the admin's templates read (``name``, ``app_url``, ``models`` with ``admin_url``
    and ``perms``), pages in the section's order; ``only`` keeps one section (its slug)."""
    entries: dict[str, dict[str, Any]] = {}
    for app in apps.values():
        for entry in app["models"]:
            label = label_of(entry["model"])
            entries[label] = {**entry, "name": NAME_OF.get(label, entry["name"])}
    sections = []
    for section in (*SECTIONS, OTHERS):
        if only is not None and section.slug != only:
            continue
        if section is OTHERS:
            pages = [e for label, e in entries.items() if label not in SECTION_OF]
        else:
            pages = [p for page in section.pages if (p := _entry(page, entries, user))]
        if pages:
            sections.append(
                {
                    "name": section.name,
                    "app_label": section.slug,
                    "app_url": section_url(section),
                    "has_module_perms": True,
                    "models": pages,
                }
            )
    return sections


def _entry(page: Page, entries: dict[str, dict[str, Any]], user: User) -> dict[str, Any] | None:
    if page.model:
        return entries.get(page.model)
    if not user.has_perm(page.permission):
        return None
    return {
        "name": page.name,
        "object_name": page.name.replace(" ", ""),
        "perms": {"view": True, "add": False, "change": False, "delete": False},
        "admin_url": reverse(page.url_name),
        "add_url": None,
        "view_only": True,
    }
