"""Read a JSON-lines export back into an empty event store, keeping ids and order, then
restore the other apps' records of those events (eventstore.exports)."""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from eventstore.exports import Record, record_kind
from eventstore.models import Event
from eventstore.store import EXPORT_FIELDS, import_records, reset_position_sequence

BATCH = 1000


class Command(BaseCommand):
    help = (
        "Import a JSON-lines export into an empty event store; records of other kinds "
        "(projection skips) are restored after the events."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("input", nargs="?", help="File to read (default: standard input).")

    def handle(self, *args: Any, **options: Any) -> None:
        if Event.objects.exists():
            raise CommandError("The event store is not empty; import only into an empty store.")
        source = open(options["input"], encoding="utf-8") if options["input"] else sys.stdin  # noqa: SIM115
        batch: list[Record] = []
        others: dict[str, list[Record]] = {}
        total = 0
        last_position = 0
        try:
            for line_number, line in enumerate(source, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise CommandError(f"Line {line_number}: not JSON ({exc})") from exc
                if not isinstance(record, dict):
                    raise CommandError(f"Line {line_number}: not a JSON object")
                if "kind" in record:  # another app's record: restored after the events
                    others.setdefault(_kind_of(record, line_number), []).append(record)
                    continue
                missing = [f for f in EXPORT_FIELDS if f not in record]
                if missing:
                    raise CommandError(f"Line {line_number}: missing {', '.join(missing)}")
                if record["global_position"] <= last_position:
                    raise CommandError(f"Line {line_number}: positions must increase")
                last_position = record["global_position"]
                batch.append(record)
                if len(batch) >= BATCH:
                    total += import_records(batch)
                    batch = []
            if batch:
                total += import_records(batch)
        finally:
            if source is not sys.stdin:
                source.close()
        reset_position_sequence()
        restored = ""
        for name, records in others.items():
            kind = record_kind(name)
            assert kind is not None  # checked line by line
            try:
                restored += f", {kind.restore(records)} {name} records"
            except ValueError as exc:
                raise CommandError(
                    f"Imported {total} events, but no {name} records: {exc}"
                ) from exc
        self.stderr.write(f"Imported {total} events{restored}.")


def _kind_of(record: Record, line_number: int) -> str:
    """The name of ``record``'s registered kind, its fields all there; CommandError if not."""
    kind = record_kind(str(record["kind"]))
    if kind is None:
        raise CommandError(f"Line {line_number}: unknown record kind {record['kind']!r}")
    missing = [f for f in kind.fields if f not in record]
    if missing:
        raise CommandError(f"Line {line_number}: missing {', '.join(missing)}")
    return kind.name
