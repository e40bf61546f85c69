"""common.http.fields.validated keeps one serializer per class and thread: no run may see
another's data, results or errors."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from common.http.fields import StrictCharField, StrictSerializer, validated


class LineIn(StrictSerializer):
    sku = StrictCharField(max_length=5)


class BodyIn(StrictSerializer):
    name = StrictCharField(max_length=10)
    lines = serializers.ListField(child=LineIn(), min_length=1)


GOOD = {"name": "a", "lines": [{"sku": "x"}, {"sku": "y"}]}


def errors_of(data: Any) -> Any:
    with pytest.raises(ValidationError) as refused:
        validated(BodyIn, data)
    return refused.value.detail


def test_each_run_answers_its_own_data_after_a_refusal_and_a_success() -> None:
    assert validated(BodyIn, GOOD) == {"name": "a", "lines": [{"sku": "x"}, {"sku": "y"}]}
    assert errors_of({"name": "a", "lines": [{"sku": "toolong"}]}) == {
        "lines": {0: {"sku": ["Ensure this field has no more than 5 characters."]}}
    }
    assert validated(BodyIn, {"name": "b", "lines": [{"sku": "z"}]}) == {
        "name": "b",
        "lines": [{"sku": "z"}],
    }
    assert errors_of({"name": "b", "lines": [], "extra": 1}) == {"extra": ["Unknown field."]}
    assert errors_of({"name": "b", "lines": []}) == {
        "lines": ["Ensure this field has at least 1 elements."]
    }


def test_threads_validating_at_once_each_get_their_own_answer() -> None:
    mismatches: list[tuple[int, Any]] = []
    start = threading.Barrier(4)

    def validate_many(thread: int) -> None:
        start.wait()
        for round_ in range(300):
            name = f"t{thread}r{round_ % 10}"
            data = {"name": name, "lines": [{"sku": f"s{thread}"}]}
            answer = validated(BodyIn, data)
            if answer != data:
                mismatches.append((thread, answer))

    threads = [threading.Thread(target=validate_many, args=(n,)) for n in range(4)]
    switch_every = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns within a validation, as a server's can
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch_every)
    assert mismatches == []
