"""Write the event log (or one stream) as JSON lines, payloads upcast to their current schema
version as every read gives them (``--as-stored``: exactly as stored), followed by
the other apps' records of those events (eventstore.exports: a projection's recorded skips)."""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from eventstore.exports import record_kinds
from eventstore.store import export_records


class Command(BaseCommand):
    help = (
        "Export the event log (or one stream) as JSON lines, then the records other apps keep "
        'of those events (lines with a "kind", e.g. projection skips).'
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--stream", help="Export only this stream id.")
        parser.add_argument("--output", "-o", help="File to write (default: standard output).")
        parser.add_argument(
            "--as-stored",
            action="store_true",
            help="Write payloads exactly as stored, old schema versions as they are (by "
            "default each is upcast to its current version, as every read gives it).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        out = open(options["output"], "w", encoding="utf-8") if options["output"] else sys.stdout  # noqa: SIM115
        count = 0
        others: dict[str, int] = {}
        try:
            for record in export_records(options["stream"], as_stored=options["as_stored"]):
                out.write(_line(record))
                count += 1
            for kind in record_kinds():
                for record in kind.export(options["stream"]):
                    out.write(_line({**record, "kind": kind.name}))
                    others[kind.name] = others.get(kind.name, 0) + 1
        finally:
            if out is not sys.stdout:
                out.close()
        besides = "".join(f", {n} {name} records" for name, n in others.items())
        self.stderr.write(f"Exported {count} events{besides}.")


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n"
