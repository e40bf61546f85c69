"""Print each projection's position, head, lag and status (the same as GET /api/projections),
then those of the other followers of the log (webhooks, Python subscribers)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from projections.engine.status import other_followers_status_list, projection_status_list


class Command(BaseCommand):
    help = (
        "Show each projection's position, head, lag (events and seconds) and status, and "
        "each shard's position, lag, status and owner; then each webhook's and Python "
        "subscriber's."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        header = f"{'projection':<20} {'position':>10} {'head':>10} {'lag':>8} {'lag s':>9}  status"
        self.stdout.write(header)
        for row in projection_status_list():
            self.stdout.write(
                f"{row['name']:<20} {row['position']:>10} {row['head_position']:>10} "
                f"{row['lag_events']:>8} {row['lag_seconds']:>9.1f}  {row['status']}"
            )
            if len(row["shards"]) > 1 or row["configured_shards"] != len(row["shards"]):
                for shard in row["shards"]:
                    owner = shard["owner"] or "-"
                    self.stdout.write(
                        f"  shard {shard['index']:<11} {shard['position']:>10} {'':>10} "
                        f"{shard['lag_events']:>8} {'':>9}  {shard['status']}  owner {owner}"
                    )
            if row["configured_shards"] != len(row["shards"]):
                self.stdout.write(
                    f"    PROJECTION_SHARDS asks for {row['configured_shards']} shards: "
                    f"rebuild {row['name']} to apply it"
                )
            if row["last_error"]:
                self.stdout.write(f"    last error: {row['last_error']}")
        others = other_followers_status_list()
        if others:
            self.stdout.write("")
            self.stdout.write(
                f"{'follower':<46} {'kind':<10} {'position':>10} {'lag':>8} {'lag s':>9}  status"
            )
        for row in others:
            self.stdout.write(
                f"{row['name']:<46} {row['kind']:<10} {row['position']:>10} "
                f"{row['lag_events']:>8} {row['lag_seconds']:>9.1f}  {row['status']}"
            )
            if row["last_error"]:
                self.stdout.write(f"    last error: {row['last_error']}")
