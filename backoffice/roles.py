"""The staff roles: each a group, made (and kept up to date) by a data migration.

A role is what a kind of staff member needs, no more: clerks take and change orders, support
staff see everything and change nothing, operators keep the read side running. The README's
"Roles" table says the same in words; ``ensure_roles`` is what the migration runs (and what
tests run again after a transactional test empties the tables).
"""

from __future__ import annotations

from typing import Any, Final

ISSUE_COMMANDS: Final = "orders.issue_order_commands"
OPERATE: Final = "projections.operate_projections"
MANAGE_WEBHOOKS: Final = "integrations.manage_webhooks"
FORGET: Final = "orders.forget_customers"

# The pages each kind of staff member sees, as view permissions.
ORDER_PAGES: Final = (
    "projections.view_orderview",
    "projections.view_customersummary",
    "projections.view_dailysales",
)
EVENT_LOG: Final = ("eventstore.view_event",)
OPERATIONS: Final = (
    "projections.view_projectionstate",
    "projections.view_projectionskip",
    "orders.view_idempotencyrecord",
    "integrations.view_webhook",
    "integrations.view_delivery",
    "integrations.view_subscriberstate",
)
TOKENS: Final = ("backoffice.view_apitoken",)

# Group name -> the permissions it holds. "order-clerks" is the API contract's group (the
# permission to issue commands); the others are the back office's.
ROLES: Final = {
    # Take orders by phone, change and ship them; see orders, customers, daily sales and an
    # order's timeline (its own stream, not the whole log).
    "order-clerks": (ISSUE_COMMANDS, *ORDER_PAGES),
    # See every page staff see, to answer questions; change nothing, but for a customer's
    # request to be forgotten (their personal data erased), which support receives.
    "support": (FORGET, *ORDER_PAGES, *EVENT_LOG, *OPERATIONS, *TOKENS),
    # Keep the read side running: projections, skips, rebuilds, idempotency records, the log;
    # and the other systems that follow it: webhooks (made, enabled, deleted) and subscribers.
    "projection-operators": (OPERATE, MANAGE_WEBHOOKS, *OPERATIONS, *EVENT_LOG),
}

# The names the permissions get when Django creates them (after every migration has run, so
# a data migration on a fresh database creates them itself, as Django would name them).
_NAMES: Final = {
    ISSUE_COMMANDS: "Can issue order commands",
    OPERATE: "Can rebuild, retry and skip projections",
    MANAGE_WEBHOOKS: "Can manage webhooks",
    FORGET: "Can forget customers (erase their personal data)",
}


# The models the custom permissions are declared on (their Meta.permissions).
_MODEL_OF: Final = {
    ISSUE_COMMANDS: "idempotencyrecord",
    OPERATE: "projectionstate",
    MANAGE_WEBHOOKS: "webhook",
    FORGET: "idempotencyrecord",
}


def ensure_roles(apps: Any) -> None:
    """Create each role's group and give it its permissions (adding, never removing: an
    administrator's additions stay). ``apps``: a migration's historical apps, or django.apps."""
    content_type_model = apps.get_model("contenttypes", "ContentType")
    permission_model = apps.get_model("auth", "Permission")
    group_model = apps.get_model("auth", "Group")
    for group_name, dotted in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=group_name)
        for name in dotted:
            app_label, codename = name.split(".")
            model = _MODEL_OF.get(name) or codename.removeprefix("view_")
            content_type, _ = content_type_model.objects.get_or_create(
                app_label=app_label, model=model
            )
            permission, _ = permission_model.objects.get_or_create(
                content_type=content_type,
                codename=codename,
                defaults={"name": _NAMES.get(name, f"Can view {model}")},
            )
            group.permissions.add(permission)
