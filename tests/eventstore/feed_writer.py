"""A writer process for the feed's following test: transactions that commit out of order.

    python -m tests.eventstore.feed_writer NUMBER TRANSACTIONS

Each transaction appends to the writer's own streams and, one in three, to a stream all writers
share, then stays open a random few milliseconds, so that positions taken earlier commit later.
Prints how many transactions committed and how many lost a race (nothing of those is stored).
"""

from __future__ import annotations

import os
import random
import sys
import time

import django


def main(number: int, transactions: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.db import connection, transaction

    from eventstore.store import ConcurrencyError, NewEvent, append_to_stream

    rng = random.Random(number)
    committed = conflicts = 0
    for n in range(transactions):
        streams = [f"w{number}-{rng.randrange(4)}"]
        if rng.random() < 1 / 3:
            streams.append(f"shared-{rng.randrange(3)}")
        try:
            with transaction.atomic():
                for stream_id in streams:
                    append_to_stream(
                        stream_id,
                        "Test",
                        [
                            NewEvent("ThingHappened", {"writer": number, "n": n, "k": k})
                            for k in range(rng.randint(1, 2))
                        ],
                        expected_version="any",
                    )
                # The workload: the transaction stays open while others commit.
                time.sleep(rng.uniform(0.0, 0.02))
        except ConcurrencyError:
            conflicts += 1
            continue
        committed += 1
    connection.close()
    print(f"committed={committed} conflicts={conflicts}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
