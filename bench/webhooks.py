"""Webhook deliveries per second to a local receiver, through the engine as a worker runs them.

A receiver process (http.server, threads) verifies every delivery with the ``standardwebhooks``
package and answers 200. The log holds EVENTS events; a webhook made at the log's start is
caught up by the engine (projections.engine.runner, as the ``integrations`` worker's catch-up
does: batches, one POST per event in log order, the attempts and the checkpoint committed per
batch). Baseline in the same run: the same signed bodies POSTed in a bare httpx loop (no
engine, no database), what the transport alone allows. Then ENDPOINTS webhooks at once, one
thread each (the worker's ``--pool=threads``), for the total rate.

    ./scripts/bench.sh webhooks [--events N] [--endpoints K] [--runs R]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.common import format_table, machine_note, rate, setup_django

DATABASE = "bench_webhooks"


def serve_receiver(port: int, secret: str) -> None:
    """The receiver process: verify each delivery, answer 200 (or 400 if it does not verify)."""
    from standardwebhooks import Webhook

    verifier = Webhook(secret)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                verifier.verify(raw, dict(self.headers.items()), json_parse=False)
                status = 200
            except Exception:
                status = 400
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


def start_receiver(secret: str) -> tuple[subprocess.Popen[str], int]:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.webhooks", "--receiver", str(port), secret],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process, port


def fill_log(events: int) -> None:
    from eventstore.store import NewEvent, append_to_stream

    per_stream = 10
    for start in range(0, events, per_stream):
        append_to_stream(
            f"thing-{uuid.uuid4()}",
            "Thing",
            [
                NewEvent("ThingHappened", {"n": n, "note": "x" * 100}, {"actor": "bench"})
                for n in range(start, min(start + per_stream, events))
            ],
            expected_version="any",
        )


def new_webhook(url: str, secret: str) -> str:
    """A webhook whose cursor is at the log's start (it has every event to deliver)."""
    from eventstore.store import Checkpoint
    from integrations.followers import follower_name
    from integrations.models import Webhook
    from projections.engine import generations

    webhook = Webhook.objects.create(url=url, secret=secret)
    name = follower_name(webhook.id)
    generations.create_first_generation(name, start=Checkpoint())
    return name


def through_the_engine(names: list[str]) -> float:
    """Seconds until every named webhook has delivered the whole log, one thread each."""
    from django.db import connection

    from projections.engine import runner

    def follow(name: str) -> None:
        try:
            while runner.run(name):
                pass
        finally:
            connection.close()

    threads = [threading.Thread(target=follow, args=(name,)) for name in names]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def bare_loop(url: str, secret: str) -> tuple[int, float]:
    """The same signed bodies POSTed with httpx in a loop: no engine, no database."""
    from datetime import UTC, datetime

    import httpx

    from eventstore.store import read_all
    from integrations.delivery import body_of, signed_headers

    events = read_all(limit=1_000_000)
    with httpx.Client(follow_redirects=False, timeout=10.0, trust_env=False) as client:
        started = time.perf_counter()
        for event in events:
            body = body_of(event)
            headers = signed_headers(secret, event, body, datetime.now(UTC))
            response = client.post(url, content=body, headers=headers)
            assert response.status_code == 200, response.status_code
        return len(events), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--endpoints", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--receiver", nargs=2, metavar=("PORT", "SECRET"))
    args = parser.parse_args()
    if args.receiver:
        serve_receiver(int(args.receiver[0]), args.receiver[1])
        return
    os.environ["WEBHOOKS_ALLOW_HTTP"] = "true"
    os.environ["WEBHOOKS_ALLOW_PRIVATE"] = "true"
    setup_django(DATABASE)
    from django.db.models import Count

    from integrations.delivery import new_secret
    from integrations.models import Delivery

    secret = new_secret()
    receiver, port = start_receiver(secret)
    url = f"http://127.0.0.1:{port}/hooks"
    try:
        fill_log(args.events)
        rows = []
        for run in range(1, args.runs + 1):
            count, seconds = bare_loop(url, secret)
            rows.append(
                [run, "bare httpx loop (baseline)", 1, count, f"{rate(count, seconds):,.0f}"]
            )
            name = new_webhook(url, secret)
            seconds = through_the_engine([name])
            rows.append([run, "engine, 1 webhook", 1, count, f"{rate(count, seconds):,.0f}"])
            names = [new_webhook(url, secret) for _ in range(args.endpoints)]
            seconds = through_the_engine(names)
            total = count * args.endpoints
            rows.append(
                [
                    run,
                    f"engine, {args.endpoints} webhooks",
                    args.endpoints,
                    total,
                    f"{rate(total, seconds):,.0f}",
                ]
            )
        failed = Delivery.objects.exclude(status_code=200).count()
        per_event = Delivery.objects.values("webhook_id", "event_id").annotate(n=Count("id"))
        doubled = per_event.filter(n__gt=1).count()
        print(machine_note())
        print(f"webhook deliveries to a local receiver verifying signatures; {args.events} events")
        print(format_table(rows, ["run", "what", "endpoints", "deliveries", "deliveries/s"]))
        print(f"failed attempts: {failed}; events delivered more than once: {doubled}")
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)


if __name__ == "__main__":
    main()
