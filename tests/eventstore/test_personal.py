"""Sealing personal fields (eventstore.personal): AES-GCM under the subject's key, opened in
place, "[erased]" without the key; and the store sealing on append, on SQLite too."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator

import pytest

from eventstore import personal, store
from eventstore.models import Event, PersonalKey

FIELDS = personal.PersonalFields(
    "Moved", (("address", "line1"), ("address", "city"), ("note",)), subject_field="who"
)
DATA = {"who": "c-1", "address": {"line1": "1 Secret St", "city": "Hushton", "country": "PT"}}


def test_sealing_moves_the_fields_into_an_envelope_and_opening_puts_them_back() -> None:
    original = copy.deepcopy(DATA)
    key = personal.new_key()
    sealed = personal.seal(DATA, FIELDS, "c-1", key)
    assert original == DATA  # the caller's payload is left alone
    assert sealed["address"] == {"country": "PT"}
    assert sealed["who"] == "c-1"
    envelope = sealed[personal.SEALED]
    assert (envelope["subject"], envelope["fields"]) == ("c-1", ["address.line1", "address.city"])
    text = json.dumps(sealed)
    assert "Secret" not in text and "Hushton" not in text
    assert personal.open_sealed(sealed, {"c-1": key}) == DATA


def test_without_the_key_or_with_another_each_field_reads_erased() -> None:
    sealed = personal.seal(DATA, FIELDS, "c-1", personal.new_key())
    erased = {"who": "c-1", "address": {"line1": "[erased]", "city": "[erased]", "country": "PT"}}
    assert personal.open_sealed(sealed, {}) == erased
    assert personal.open_sealed(sealed, {"c-1": None}) == erased
    assert personal.open_sealed(sealed, {"c-1": personal.new_key()}) == erased
    assert personal.erased(DATA, FIELDS) == erased


def test_an_envelope_moved_to_another_subject_does_not_open() -> None:
    key = personal.new_key()
    sealed = personal.seal(DATA, FIELDS, "c-1", key)
    sealed[personal.SEALED] = {**sealed[personal.SEALED], "subject": "c-2"}
    assert personal.open_sealed(sealed, {"c-2": key})["address"]["city"] == "[erased]"


def test_each_seal_has_its_own_nonce() -> None:
    key = personal.new_key()
    boxes = {personal.seal(DATA, FIELDS, "c-1", key)[personal.SEALED]["box"] for _ in range(20)}
    assert len(boxes) == 20


def test_a_payload_without_the_fields_is_not_sealed() -> None:
    assert personal.seal({"who": "c-1"}, FIELDS, "c-1", personal.new_key()) == {"who": "c-1"}
    assert not personal.has_personal_values(FIELDS, {"who": "c-1", "address": {"country": "PT"}})


def test_fields_registered_twice_differently_are_refused() -> None:
    personal.register_personal_fields("Twice", ["a.b"])
    try:
        personal.register_personal_fields("Twice", ["a.b"])  # the same again: fine
        with pytest.raises(ValueError, match="already registered"):
            personal.register_personal_fields("Twice", ["a.c"])
    finally:
        personal.unregister_personal_fields("Twice")


@pytest.fixture
def moved() -> Iterator[None]:
    personal.register_personal_fields(
        "Moved", ["address.line1", "address.city"], subject_field="who"
    )
    try:
        yield
    finally:
        personal.unregister_personal_fields("Moved")
        personal.append_keys.clear()


@pytest.mark.django_db(transaction=True)
def test_the_store_seals_on_append_opens_on_read_and_refuses_a_forgotten_subject(
    moved: None,
) -> None:
    store.append_to_stream(
        "T-1", "T", [store.NewEvent("Moved", DATA)], expected_version="no_stream"
    )
    # An event naming no subject takes the stream's.
    later = {"address": {"line1": "2 Quiet Rd", "city": "Mumbleby", "country": "PT"}}
    store.append_to_stream("T-1", "T", [store.NewEvent("Moved", later)], expected_version=1)
    stored = list(Event.objects.filter(stream_id="T-1").order_by("version"))
    assert [e.data[personal.SEALED]["subject"] for e in stored] == ["c-1", "c-1"]
    assert "Hushton" not in json.dumps([e.data for e in stored])
    assert [e.data for e in store.read_stream("T-1")] == [DATA, later]
    assert [e.data for e in store.read_all() if e.stream_id == "T-1"] == [DATA, later]
    assert PersonalKey.objects.get(subject_id="c-1").key is not None

    done = store.forget_subject(
        "c-1", stream_id="Subject-c-1", stream_type="Subject", event=store.NewEvent("Forgot", {})
    )
    assert done.first
    assert store.read_stream("T-1")[1].data["address"] == {
        "line1": "[erased]",
        "city": "[erased]",
        "country": "PT",
    }
    with pytest.raises(store.SubjectForgotten):
        store.append_to_stream("T-1", "T", [store.NewEvent("Moved", DATA)], expected_version=2)
    assert store.current_version("T-1") == 2
    again = store.forget_subject(
        "c-1", stream_id="Subject-c-1", stream_type="Subject", event=store.NewEvent("Forgot", {})
    )
    assert (again.first, again.forgotten_at, again.position) == (
        False,
        done.forgotten_at,
        done.position,
    )


@pytest.mark.django_db(transaction=True)
def test_a_forget_runs_the_registered_hooks_in_its_transaction(moved: None) -> None:
    seen: list[str] = []
    hook = store.on_subject_forgotten(seen.append)
    try:
        store.forget_subject(
            "c-9",
            stream_id="Subject-c-9",
            stream_type="Subject",
            event=store.NewEvent("Forgot", {}),
        )
    finally:
        store._forget_hooks.remove(hook)
    assert seen == ["c-9"]


@pytest.mark.django_db(transaction=True)
def test_personal_fields_with_no_subject_to_name_are_refused(moved: None) -> None:
    with pytest.raises(ValueError, match="name no data subject"):
        store.append_to_stream(
            "T-2",
            "T",
            [store.NewEvent("Moved", {"address": {"city": "X"}})],
            expected_version="any",
        )
