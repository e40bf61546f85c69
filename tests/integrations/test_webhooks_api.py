"""The webhooks API against the contract ("Following the log"), and its security: permissions,
the addresses a webhook may not call, and the secret shown once only."""

from __future__ import annotations

import logging
import socket
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from integrations.models import Delivery, Webhook, WebhookStatus

pytestmark = pytest.mark.django_db

# A public address given as a literal: no DNS lookup (the tests run without internet).
PUBLIC_URL = "https://93.184.215.14/hooks/orders"
WEBHOOK_KEYS = {
    "id",
    "url",
    "event_types",
    "description",
    "status",
    "position",
    "lag_events",
    "last_error",
    "last_delivery_at",
    "created_at",
}
SLASHES = pytest.mark.parametrize("slash", ["", "/"], ids=["no-slash", "slash"])


def create(client: APIClient, **body: Any) -> Any:
    return client.post("/api/webhooks", {"url": PUBLIC_URL, **body}, format="json")


@SLASHES
def test_creating_a_webhook_answers_201_with_its_secret_this_once(
    hooks: APIClient, slash: str
) -> None:
    response = hooks.post(
        f"/api/webhooks{slash}",
        {"url": PUBLIC_URL, "event_types": ["OrderShipped"], "description": "warehouse"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == WEBHOOK_KEYS | {"secret"}
    assert body["secret"].startswith("whsec_")
    assert body["status"] == "active"
    assert body["event_types"] == ["OrderShipped"]
    assert body["description"] == "warehouse"
    assert response["Cache-Control"] == "no-store"
    assert Webhook.objects.get(pk=body["id"]).secret == body["secret"]


def test_the_secret_is_in_no_later_answer(hooks: APIClient) -> None:
    created = create(hooks).json()
    secret, webhook_id = created["secret"], created["id"]
    Delivery.objects.create(
        webhook_id=webhook_id,
        event_id=uuid.uuid4(),
        position=1,
        attempt=1,
        status_code=500,
        error="http: HTTP 500",
        duration_ms=3,
        delivered_at=Webhook.objects.get(pk=webhook_id).created_at,
    )
    answers = [
        hooks.get("/api/webhooks"),
        hooks.get(f"/api/webhooks/{webhook_id}/deliveries"),
        hooks.post(f"/api/webhooks/{webhook_id}/enable"),
        hooks.get("/api/schema/"),
    ]
    for answer in answers:
        assert answer.status_code == 200
        assert secret not in answer.content.decode()
        assert "secret" not in answer.content.decode() or answer.request["PATH_INFO"].startswith(
            "/api/schema"
        )


def test_the_list_shows_every_webhook_without_secrets(hooks: APIClient) -> None:
    first = create(hooks, description="one").json()
    second = create(hooks, event_types=["OrderCreated", "OrderShipped"]).json()
    response = hooks.get("/api/webhooks")
    assert response.status_code == 200
    listed = response.json()
    assert [w["id"] for w in listed] == [first["id"], second["id"]]
    assert all(set(w) == WEBHOOK_KEYS for w in listed)
    assert listed[1]["event_types"] == ["OrderCreated", "OrderShipped"]


def test_deliveries_come_as_a_page_newest_first(hooks: APIClient) -> None:
    webhook = create(hooks).json()
    at = Webhook.objects.get(pk=webhook["id"]).created_at
    event = uuid.uuid4()
    for attempt, status in enumerate([503, None, 200], start=1):
        Delivery.objects.create(
            webhook_id=webhook["id"],
            event_id=event,
            position=7,
            attempt=attempt,
            status_code=status,
            error="" if status == 200 else "failed",
            duration_ms=10 * attempt,
            delivered_at=at.replace(microsecond=attempt),
        )
    response = hooks.get(f"/api/webhooks/{webhook['id']}/deliveries?page_size=2")
    assert response.status_code == 200
    page = response.json()
    assert (page["total"], page["page"], page["page_size"], page["total_pages"]) == (3, 1, 2, 2)
    assert [d["attempt"] for d in page["items"]] == [3, 2]
    assert set(page["items"][0]) == {
        "event_id",
        "attempt",
        "status_code",
        "error",
        "duration_ms",
        "delivered_at",
    }
    assert page["items"][1]["status_code"] is None
    assert hooks.get(f"/api/webhooks/{webhook['id']}/deliveries?page_size=101").status_code == 400


def test_enabling_a_disabled_webhook_makes_it_active(hooks: APIClient) -> None:
    webhook = create(hooks).json()
    Webhook.objects.filter(pk=webhook["id"]).update(
        status=WebhookStatus.DISABLED, last_error="http: HTTP 500"
    )
    response = hooks.post(f"/api/webhooks/{webhook['id']}/enable/")
    assert response.status_code == 200
    assert response.json()["status"] == "active"
    assert Webhook.objects.get(pk=webhook["id"]).failing_since is None


def test_deleting_a_webhook_answers_204_and_takes_its_deliveries(hooks: APIClient) -> None:
    webhook = create(hooks).json()
    response = hooks.delete(f"/api/webhooks/{webhook['id']}")
    assert response.status_code == 204
    assert not Webhook.objects.exists()
    assert hooks.delete(f"/api/webhooks/{webhook['id']}").json()["error"]["code"] == (
        "webhook_not_found"
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", "/api/webhooks/{id}"),
        ("post", "/api/webhooks/{id}/enable"),
        ("get", "/api/webhooks/{id}/deliveries"),
    ],
)
def test_an_unknown_webhook_is_a_404_and_a_bad_id_a_400(
    hooks: APIClient, method: str, path: str
) -> None:
    unknown = getattr(hooks, method)(path.format(id=uuid.uuid4()))
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "webhook_not_found"
    bad = getattr(hooks, method)(path.format(id="not-a-uuid"))
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "validation_error"


# --- permissions ------------------------------------------------------------------------------
OPERATIONS = [
    ("post", "/api/webhooks"),
    ("get", "/api/webhooks"),
    ("get", "/api/webhooks/{id}/deliveries"),
    ("post", "/api/webhooks/{id}/enable"),
    ("delete", "/api/webhooks/{id}"),
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_without_the_permission_every_operation_is_403(
    django_user_model: type[User], clerk: User, method: str, path: str
) -> None:
    webhook = Webhook.objects.create(url=PUBLIC_URL, secret="whsec_c2VjcmV0c2VjcmV0c2VjcmV0")
    client = APIClient()
    client.force_authenticate(clerk)  # may issue order commands, not manage webhooks
    kwargs = {"data": {"url": PUBLIC_URL}, "format": "json"} if method == "post" else {}
    response = getattr(client, method)(path.format(id=webhook.id), **kwargs)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    anonymous = getattr(APIClient(), method)(path.format(id=webhook.id), **kwargs)
    assert anonymous.status_code == 401
    assert Webhook.objects.count() == 1


def test_a_superuser_may_manage_webhooks(django_user_model: type[User]) -> None:
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_superuser("root", None, None))
    assert create(client).status_code == 201


# --- what a webhook may call ------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://127.1.2.3:8443/hook",
        "https://10.1.2.3/hook",
        "https://172.16.0.1/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://0.0.0.0/hook",
        "https://localhost/hook",
        "https://2130706433/hook",  # 127.0.0.1 as one number: resolved, then refused
    ],
)
def test_a_url_whose_host_is_loopback_private_or_link_local_is_refused(
    hooks: APIClient, url: str
) -> None:
    response = hooks.post("/api/webhooks", {"url": url}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "url_not_allowed"
    assert not Webhook.objects.exists()


def test_a_name_resolving_to_a_private_address_is_refused(
    hooks: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = socket.getaddrinfo

    def resolver(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.example.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.20.30.40", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    response = hooks.post("/api/webhooks", {"url": "https://hooks.example.test/x"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "url_not_allowed"


def test_private_addresses_and_http_are_allowed_where_the_settings_say(
    hooks: APIClient, settings: Any
) -> None:
    assert create(hooks, url="http://93.184.215.14/hook").json()["error"]["code"] == (
        "url_not_allowed"
    )
    settings.WEBHOOKS_ALLOW_HTTP = True
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    assert create(hooks, url="http://127.0.0.1:9/hook").status_code == 201
    assert create(hooks, url="https://localhost/hook").status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "ftp://93.184.215.14/x"}, "url"),
        ({"url": "https://user:pw@93.184.215.14/x"}, "url"),
        ({"url": 5}, "url"),
        ({"url": PUBLIC_URL, "event_types": "OrderShipped"}, "event_types"),
        ({"url": PUBLIC_URL, "event_types": ["Order Shipped"]}, "event_types"),
        ({"url": PUBLIC_URL, "description": "x" * 501}, "description"),
        ({"url": PUBLIC_URL, "secret": "mine"}, "secret"),
    ],
)
def test_invalid_bodies_are_400_in_the_error_shape(
    hooks: APIClient, body: dict[str, Any], field: str
) -> None:
    response = hooks.post("/api/webhooks", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]


def test_the_secret_is_never_logged(hooks: APIClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    created = create(hooks).json()
    hooks.post(f"/api/webhooks/{created['id']}/enable")
    hooks.get("/api/webhooks")
    hooks.delete(f"/api/webhooks/{created['id']}")
    assert created["secret"] not in caplog.text
    assert created["secret"].removeprefix("whsec_") not in caplog.text
