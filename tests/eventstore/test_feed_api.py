"""GET /api/events through DRF's client: who may read, paging, cursors, filters, long polls."""

from __future__ import annotations

import importlib
import os
import threading
import time
import uuid
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, Permission, User
from django.core import signing
from django.db import connection
from rest_framework.test import APIClient

from eventstore import feed
from eventstore.models import Event, LogIdentity
from eventstore.store import NO_STREAM, NewEvent, append_to_stream, read_all
from eventstore.upcasting import register_upcaster, unregister_upcaster
from tests.eventstore.support import EVENT_KEYS, an_event, events, in_own_connection, log_settled
from tests.eventstore.test_following import Held
from tests.waiting import wait_until

# Reads see committed events only (gap-safe reading stops below every running transaction,
# a test's own included).
pytestmark = pytest.mark.django_db(transaction=True)


def integrations_group() -> Group:
    """The group holding eventstore.read_events (made here if a transactional test's flush
    emptied what the migration made)."""
    group, _ = Group.objects.get_or_create(name="integrations")
    group.permissions.add(
        Permission.objects.get(content_type__app_label="eventstore", codename="read_events")
    )
    return group


@pytest.fixture
def reader(django_user_model: type[User]) -> User:
    user = django_user_model.objects.create_user(username="warehouse")
    user.groups.add(integrations_group())
    return user


@pytest.fixture
def client(reader: User) -> APIClient:
    api = APIClient()
    api.force_authenticate(reader)
    return api


def get(client: APIClient, **params: Any) -> Any:
    response = client.get("/api/events", params)
    assert response.status_code == 200, response.content
    return response.json()


def follow_all(client: APIClient, **params: Any) -> tuple[list[dict[str, Any]], str]:
    """Every event the feed gives from ``params``' start, page after page; and the last cursor."""
    seen: list[dict[str, Any]] = []
    answer = get(client, **params)
    while answer["events"]:
        seen += answer["events"]
        answer = get(client, **{**params, "after": answer["next"]})
    return seen, answer["next"]


def append(stream_id: str, count: int = 1, *, stream_type: str = "Test", **kw: Any) -> None:
    append_to_stream(stream_id, stream_type, events(count, **kw), expected_version="any")


def error_code(response: Any) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return str(body["error"]["code"])


# --- who may read -------------------------------------------------------------------------


def test_an_anonymous_client_gets_401() -> None:
    response = APIClient().get("/api/events")
    assert response.status_code == 401
    assert error_code(response) == "not_authenticated"


def test_a_user_without_the_permission_gets_403_in_the_error_shape(
    django_user_model: type[User], clerk: User
) -> None:
    for user in (django_user_model.objects.create_user(username="nobody"), clerk):
        api = APIClient()
        api.force_authenticate(user)
        response = api.get("/api/events")
        assert response.status_code == 403
        assert error_code(response) == "permission_denied"
        assert "eventstore.read_events" in response.json()["error"]["message"]


def test_the_migration_makes_the_group_integrations_with_the_permission() -> None:
    migration = importlib.import_module("eventstore.migrations.0005_feed")
    Group.objects.filter(name="integrations").delete()
    migration.forward(django_apps, None)
    group = Group.objects.get(name="integrations")
    assert list(group.permissions.values_list("content_type__app_label", "codename")) == [
        ("eventstore", "read_events")
    ]


def test_members_of_integrations_and_superusers_may_read(
    client: APIClient, django_user_model: type[User]
) -> None:
    append("s-1")
    assert len(get(client)["events"]) == 1
    root = APIClient()
    root.force_authenticate(django_user_model.objects.create_superuser("root", "r@x.org", None))
    assert len(get(root)["events"]) == 1


def test_the_path_answers_with_a_trailing_slash_too(client: APIClient) -> None:
    assert client.get("/api/events/").status_code == 200


# --- pages and the Event shape ---------------------------------------------------------------


def test_pages_give_every_event_once_in_log_order_in_the_contracts_shape(
    client: APIClient,
) -> None:
    for n in range(5):
        append(f"s-{n % 2}", 3)

    seen, _ = follow_all(client, limit=4)

    assert [e["position"] for e in seen] == [e.global_position for e in read_all(limit=100)]
    assert len(seen) == 15
    first = seen[0]
    assert set(first) == EVENT_KEYS
    stored = Event.objects.get(global_position=first["position"])
    assert first["event_id"] == str(stored.event_id)
    assert (first["stream_id"], first["stream_type"], first["version"]) == ("s-0", "Test", 1)
    assert first["data"] == stored.data and first["metadata"] == stored.metadata
    assert first["recorded_at"].endswith("Z")


def test_a_page_holds_at_most_limit_events_and_100_by_default(client: APIClient) -> None:
    append("big", 130)
    assert len(get(client)["events"]) == 100
    assert len(get(client, limit=1)["events"]) == 1
    assert len(get(client, limit=1000)["events"]) == 130


def test_events_are_upcast_to_their_current_schema_version(client: APIClient) -> None:
    append_to_stream(
        "old", "Test", [NewEvent("FeedOldShape", {"name": "x"})], expected_version=NO_STREAM
    )
    register_upcaster("FeedOldShape", 1)(lambda data: {"full_name": data["name"]})
    try:
        (event,) = get(client)["events"]
    finally:
        unregister_upcaster("FeedOldShape", 1)
    assert (event["schema_version"], event["data"]) == (2, {"full_name": "x"})


def test_an_empty_page_answers_the_same_cursor_and_the_next_event_follows(
    client: APIClient,
) -> None:
    append("s", 2)
    seen, cursor = follow_all(client)
    assert len(seen) == 2
    assert get(client, after=cursor) == {"events": [], "next": cursor}
    append("s", 1)
    (event,) = get(client, after=cursor)["events"]
    assert event["version"] == 3


# --- after=now --------------------------------------------------------------------------------


def test_after_now_starts_at_the_current_end(client: APIClient) -> None:
    append("before", 3)
    answer = get(client, after="now")
    assert answer["events"] == []
    append("after", 2)
    seen, _ = follow_all(client, after=answer["next"])
    assert [(e["stream_id"], e["version"]) for e in seen] == [("after", 1), ("after", 2)]


def test_after_now_on_an_empty_log_then_reads_the_first_event(client: APIClient) -> None:
    cursor = get(client, after="now")["next"]
    append("first")
    assert [e["stream_id"] for e in get(client, after=cursor)["events"]] == ["first"]


# --- filters ------------------------------------------------------------------------------


def mixed_log() -> None:
    append_to_stream("o-1", "Order", [an_event("OrderCreated")], expected_version=NO_STREAM)
    append_to_stream("c-1", "Customer", [an_event("CustomerForgotten")], expected_version=NO_STREAM)
    append_to_stream("o-1", "Order", [an_event("OrderShipped")], expected_version=1)
    append_to_stream("o-2", "Order", [an_event("OrderCreated")], expected_version=NO_STREAM)
    append_to_stream("o-2", "Order", [an_event("OrderCancelled")], expected_version=1)


def test_event_type_and_stream_type_filter_comma_separated(client: APIClient) -> None:
    mixed_log()

    def types(**params: Any) -> list[tuple[str, str]]:
        seen, _ = follow_all(client, limit=1, **params)
        return [(e["stream_id"], e["event_type"]) for e in seen]

    assert types(event_type="OrderShipped,OrderCancelled") == [
        ("o-1", "OrderShipped"),
        ("o-2", "OrderCancelled"),
    ]
    assert types(stream_type="Customer") == [("c-1", "CustomerForgotten")]
    assert types(event_type="OrderCreated", stream_type="Order,Customer") == [
        ("o-1", "OrderCreated"),
        ("o-2", "OrderCreated"),
    ]
    assert types(event_type="OrderCreated", stream_type="Customer") == []


def test_a_filtered_cursor_moves_past_what_the_filters_leave_out(client: APIClient) -> None:
    mixed_log()
    answer = get(client, event_type="CustomerForgotten")
    assert [e["stream_id"] for e in answer["events"]] == ["c-1"]
    # The cursor is past the whole log read, not at the one event answered.
    assert feed.decode_cursor(answer["next"]) == read_all(limit=100)[-1].checkpoint
    assert get(client, event_type="CustomerForgotten", after=answer["next"])["events"] == []


def test_a_filtered_page_reads_a_bounded_stretch_of_the_log(
    client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed, "SCAN_LIMIT", 3)
    append("noise", 7)
    append("wanted", 1, event_type="Wanted")
    pages = []
    answer = get(client, event_type="Wanted", limit=1)
    while not answer["events"]:
        pages.append(answer)
        answer = get(client, event_type="Wanted", limit=1, after=answer["next"])
    assert len(pages) == 2  # 3 + 3 events looked at and left out, then the last noise and it
    assert answer["events"][0]["stream_id"] == "wanted"


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "ten"},
        {"limit": "1.5"},
        {"wait": "-1"},
        {"wait": "30.5"},
        {"wait": "nan"},
        {"wait": "1e999"},
        {"event_type": ""},
        {"event_type": "A,,B"},
        {"stream_type": "x" * 101},
        {"stream_type": ",".join(["T"] * 51)},
        {"after": ""},
        {"after": "x" * 201},
        {"page": "2"},
    ],
)
def test_bad_parameters_are_a_400_validation_error_naming_them(
    client: APIClient, params: dict[str, str]
) -> None:
    response = client.get("/api/events", params)
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert set(response.json()["error"]["details"]) == set(params)


def tampered(cursor: str) -> str:
    body, signature = cursor.rsplit(".", 1)
    tx_id, position = body.split("-")
    return f"{tx_id}-{int(position, 16) + 1:x}.{signature}"


@pytest.mark.parametrize(
    "make",
    [
        lambda good: "garbage",
        lambda good: "0-0",
        lambda good: good[:-1] + ("A" if good[-1] != "A" else "B"),
        tampered,
        lambda good: good + ".x",
        lambda good: (
            "1-1." + signing.Signer(salt="eventstore.feed.cursor", sep=".").signature("1-1")
        ),
    ],
    ids=["garbage", "unsigned", "signature", "position", "suffix", "no-identity"],
)
def test_a_malformed_or_tampered_cursor_is_a_400_invalid_cursor(
    client: APIClient, make: Any
) -> None:
    append("s", 3)
    good = get(client, limit=1)["next"]
    response = client.get("/api/events", {"after": make(good)})
    assert response.status_code == 400
    assert error_code(response) == "invalid_cursor"


def test_a_cursor_from_another_database_is_a_400_invalid_cursor(client: APIClient) -> None:
    append("s", 3)
    cursor = get(client, limit=1)["next"]
    # Another database: the same service (secret key) but another log identity.
    LogIdentity.objects.filter(id=1).update(value=uuid.uuid4())
    response = client.get("/api/events", {"after": cursor})
    assert response.status_code == 400
    assert error_code(response) == "invalid_cursor"


def test_a_cursor_signed_with_another_secret_key_is_refused(
    client: APIClient, settings: Any
) -> None:
    append("s", 3)
    cursor = get(client, limit=1)["next"]
    settings.SECRET_KEY = "another-service-" + "k" * 40
    response = client.get("/api/events", {"after": cursor})
    assert error_code(response) == "invalid_cursor"


def test_a_cursor_survives_a_rotated_secret_key_kept_as_a_fallback(
    client: APIClient, settings: Any
) -> None:
    append("s", 3)
    cursor = get(client, limit=1)["next"]
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "the-new-key-" + "k" * 40
    assert len(get(client, after=cursor)["events"]) == 2


# --- long polls -----------------------------------------------------------------------------


def test_a_long_poll_with_nothing_new_answers_empty_with_the_same_cursor_after_wait(
    client: APIClient,
) -> None:
    append("s")
    cursor = get(client)["next"]
    started = time.monotonic()
    answer = get(client, after=cursor, wait="0.3")
    assert time.monotonic() - started >= 0.3
    assert answer == {"events": [], "next": cursor}


def test_long_polls_beyond_the_process_bound_answer_at_once(
    client: APIClient, settings: Any
) -> None:
    settings.FEED_MAX_WAITS = 0
    started = time.monotonic()
    answer = get(client, wait="20")
    assert time.monotonic() - started < 5
    assert answer["events"] == []


def test_a_long_poll_with_events_waiting_answers_at_once(client: APIClient) -> None:
    append("s")
    started = time.monotonic()
    assert len(get(client, wait="20")["events"]) == 1
    assert time.monotonic() - started < 5


def test_a_long_poll_answers_soon_after_a_commit_in_this_process(client: APIClient) -> None:
    append("s")
    cursor = get(client)["next"]
    errors: list[BaseException] = []
    committed: list[float] = []

    def later() -> None:
        # The workload: a command arriving while the client waits.
        wait_until(lambda: feed._slots.held == 1, what="the long poll to wait")
        append("s")
        committed.append(time.monotonic())

    writer = in_own_connection(later, errors)
    answer = get(client, after=cursor, wait="10")
    answered = time.monotonic()
    writer.join(10)
    assert errors == []
    assert [e["version"] for e in answer["events"]] == [2]
    assert answered - committed[0] < 1.0


def test_a_long_poll_holds_no_database_session_while_it_waits(client: APIClient) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("counts PostgreSQL sessions")
    cursor = get(client, after="now")["next"]
    done = threading.Event()

    def sessions() -> int:  # other sessions on the test database (earlier tests' may linger)
        with connection.cursor() as cursor_:
            cursor_.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
            return int(cursor_.fetchone()[0])

    def poll() -> None:
        get(client, after=cursor, wait="6")
        done.set()

    before = sessions()
    errors: list[BaseException] = []
    thread = in_own_connection(poll, errors)
    wait_until(lambda: feed._slots.held == 1, what="the long poll to wait")
    # The poll takes its slot, then closes its session; the server ends the backend a moment
    # after the client hangs up. So: the count falls back while the poll still waits.
    wait_until(lambda: sessions() <= before, timeout=4, what="the waiting poll's session to end")
    assert not done.is_set() and feed._slots.held == 1
    append("s")  # ends the wait
    thread.join(10)
    assert done.is_set() and errors == []


def test_an_integer_beyond_64_bits_in_a_payload_is_answered_exactly(client: APIClient) -> None:
    append_to_stream(
        "big", "Test", [NewEvent("Counted", {"count": 2**70})], expected_version=NO_STREAM
    )
    response = client.get("/api/events")
    assert response.status_code == 200
    assert str(2**70).encode() in response.content
    assert response.json()["events"][0]["data"] == {"count": 2**70}


@pytest.mark.postgres
@pytest.mark.parametrize("event_type", ["", "Wanted"], ids=["unfiltered", "filtered"])
def test_a_cursor_never_moves_past_an_event_of_a_transaction_still_running(
    client: APIClient, event_type: str
) -> None:
    slow = Held()
    slow.do(
        lambda: append_to_stream("slow", "Test", [an_event("Wanted")], expected_version=NO_STREAM)
    )
    append("fast", 3)  # later positions, committed first
    params = {"event_type": event_type} if event_type else {}
    answer = get(client, **params)
    assert answer["events"] == []
    slow.commit()
    log_settled()
    seen, _ = follow_all(client, after=answer["next"], **params)
    expected = ["slow"] if event_type else ["slow", "fast", "fast", "fast"]
    assert [e["stream_id"] for e in seen] == expected


@pytest.mark.postgres
def test_a_long_poll_held_back_by_a_transaction_writing_no_event_answers_once_it_ends(
    client: APIClient, settings: Any
) -> None:
    settings.FEED_REDIS_URL = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/15"
    cursor = get(client, after="now")["next"]
    other = Held()
    other.do(lambda: Group.objects.create(name="holding"))  # a transaction id, no event
    answers: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    poll = in_own_connection(lambda: answers.append(get(client, after=cursor, wait="15")), errors)
    wait_until(lambda: feed._slots.held == 1, what="the long poll to wait")
    append("s")  # committed and announced, but held back behind the other transaction
    # The workload: the other transaction ends after the poll's re-reads for the wake-up.
    time.sleep(1.0)
    ended = time.monotonic()
    other.commit()  # announces nothing: no event
    poll.join(15)
    assert errors == []
    assert [e["stream_id"] for e in answers[0]["events"]] == ["s"]
    assert time.monotonic() - ended < feed.SAFETY_RECHECK_SECONDS + 2
