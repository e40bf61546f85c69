"""Write the event log (or one stream) as JSON lines, payloads exactly as stored."""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from eventstore.store import export_records


class Command(BaseCommand):
    help = "Export the event log (or one stream) as JSON lines."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--stream", help="Export only this stream id.")
        parser.add_argument("--output", "-o", help="File to write (default: standard output).")

    def handle(self, *args: Any, **options: Any) -> None:
        out = open(options["output"], "w", encoding="utf-8") if options["output"] else sys.stdout  # noqa: SIM115
        count = 0
        try:
            for record in export_records(options["stream"]):
                out.write(json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n")
                count += 1
        finally:
            if out is not sys.stdout:
                out.close()
        self.stderr.write(f"Exported {count} events.")
