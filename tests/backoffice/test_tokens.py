"""API token keys in the back office: no page shows one, except to its owner ("My API token")
and once to whoever creates one; lists, detail, history, deletion and the admin's own log
show a masked key."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.authtoken.models import Token

from backoffice.roles import ensure_roles
from tests.backoffice.conftest import StaffFactory

pytestmark = pytest.mark.django_db

TOKENS = "/admin/backoffice/apitoken/"
# The page DRF registers, which listed every key to anyone who may view tokens.
DRF_TOKENS = "/admin/authtoken/tokenproxy/"


@pytest.fixture
def boss_token(django_user_model: type[User], boss: Client) -> Token:
    return Token.objects.create(user=django_user_model.objects.get(username="boss"))


def every_token_page(client: Client, owner: User) -> list[str]:
    pages = [
        TOKENS,
        f"{TOKENS}?q={owner.username}",
        f"{TOKENS}{owner.pk}/change/",
        f"{TOKENS}{owner.pk}/history/",
        "/admin/",
        "/admin/section/operations/",
    ]
    return [client.get(url).content.decode() for url in pages]


def test_drfs_list_of_every_key_is_gone_for_staff_who_may_view_tokens(
    staff: StaffFactory, boss_token: Token
) -> None:
    """It listed every key, the superuser's too, to staff allowed to view tokens."""
    viewer = staff("authtoken.view_tokenproxy", username="drf-viewer")
    answer = viewer.get(DRF_TOKENS)
    assert boss_token.key not in answer.content.decode()
    assert answer.status_code in (302, 404)


def test_staff_who_may_view_tokens_never_see_a_key_not_even_the_superusers(
    staff: StaffFactory, boss_token: Token
) -> None:
    viewer = staff("backoffice.view_apitoken", "authtoken.view_tokenproxy", username="viewer")
    assert viewer.get(TOKENS).status_code == 200
    assert viewer.get(DRF_TOKENS).status_code in (302, 404)  # gone: not a page of keys
    for html in [
        viewer.get(DRF_TOKENS).content.decode(),
        *every_token_page(viewer, boss_token.user),
    ]:
        assert boss_token.key not in html
    listing = viewer.get(TOKENS).content.decode()
    assert f"{boss_token.key[:4]}••••••••" in listing
    assert ">boss<" in listing


def test_the_support_role_sees_the_tokens_masked(staff: StaffFactory, boss_token: Token) -> None:
    from django.apps import apps

    ensure_roles(apps)
    support = staff(groups=("support",), username="helpdesk")
    listing = support.get(TOKENS)
    assert listing.status_code == 200
    assert boss_token.key not in listing.content.decode()


def test_a_user_sees_their_own_key_and_can_replace_it(boss: Client, boss_token: Token) -> None:
    mine = boss.get("/admin/my-token/")
    assert boss_token.key in mine.content.decode()
    assert "no-store" in mine["Cache-Control"]

    replaced = boss.post("/admin/my-token/", follow=True).content.decode()
    new = Token.objects.get(user=boss_token.user)
    assert new.key != boss_token.key
    assert new.key in replaced
    assert boss_token.key not in replaced


def test_creating_a_token_shows_its_key_once_and_never_again(
    boss: Client, django_user_model: type[User]
) -> None:
    clerk = django_user_model.objects.create_user(username="phone-app", is_staff=False)

    created = boss.post(f"{TOKENS}add/", {"user": clerk.pk})

    token = Token.objects.get(user=clerk)
    assert created.status_code == 200
    assert token.key in created.content.decode()
    assert "it is not shown again" in created.content.decode()
    for html in every_token_page(boss, clerk):
        assert token.key not in html
    # The admin's log of the addition names the token by its owner and masked key.
    entry = LogEntry.objects.get(object_id=str(clerk.pk))
    assert token.key not in entry.object_repr
    assert entry.object_repr == f"API token of phone-app ({token.key[:4]}••••••••)"


def test_a_token_cannot_be_edited_only_revoked(
    boss: Client, boss_token: Token, django_user_model: Any
) -> None:
    other = django_user_model.objects.create_user(username="other")
    url = f"{TOKENS}{boss_token.user.pk}/change/"
    assert boss.post(url, {"user": other.pk}).status_code == 403
    assert Token.objects.get(key=boss_token.key).user == boss_token.user

    confirm = boss.get(f"{TOKENS}{boss_token.user.pk}/delete/").content.decode()
    assert boss_token.key not in confirm
    boss.post(f"{TOKENS}{boss_token.user.pk}/delete/", {"post": "yes"})
    assert not Token.objects.filter(key=boss_token.key).exists()
