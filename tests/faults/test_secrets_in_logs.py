"""No log line carries a secret or an address, whatever happens: a database outage included.

gunicorn, a Celery worker and beat run as in production (DEBUG off, JSON lines), at log level
DEBUG so that every line any of them can write is written, with a password in DATABASE_URL,
a secret key and a metrics token of this test's own. The database (reached through a proxy the
test cuts: tests/faults/proxy.py) goes away while commands with addresses, queries, probes,
scrapes and failing requests come in, and comes back. Then every line of every process's output
is searched for the password, the secret key, the API tokens sent, the metrics token and the
address fields. Tracebacks were written (the outage saw to it): they must carry none of them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from tests.faults.processes import Process, Processes, database_url
from tests.faults.traffic import Api, Reply
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.faults,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

RUN = uuid.uuid4().hex[:10]
# Characters a URL must escape, in the password: it must be found as written and as encoded.
DB_PASSWORD = f"Pg-{RUN}/p@ss:w0rd"
SECRET_KEY = f"secret-key-{RUN}-" + "s" * 40
METRICS_TOKEN = f"metrics-token-{RUN}"
UNKNOWN_TOKEN = f"{RUN}deadbeef{RUN}deadbeef1234"[:40]
ADDRESS = {
    "line1": f"{RUN} Hidden Lane",
    "line2": f"Flat Q{RUN}",
    "city": f"Quietville{RUN}",
    "postal_code": f"Z{RUN}",
    "country": "US",
}
ITEMS = [{"product_id": "widget", "quantity": 2, "unit_price": "12.50"}]


def new_order(customer: str, items: list[dict[str, object]] | None = None) -> dict[str, object]:
    return {"customer_id": customer, "items": items or ITEMS, "shipping_address": ADDRESS}


def lines(process: Process) -> Iterator[tuple[str, int, str]]:
    for number, line in enumerate(process.log.read_text(errors="replace").splitlines(), 1):
        yield process.log.name, number, line


def send_everything(api: Api, order_id: str) -> list[Reply]:
    """Commands with addresses, queries, probes, scrapes, and requests that fail."""
    stranger = Api(api.port, UNKNOWN_TOKEN, timeout=api.timeout)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    replies = [
        api.call("POST", "/api/orders", new_order(f"c-{RUN}"), key),
        api.call("POST", "/api/orders", new_order(f"c-{RUN}"), key),  # the same again
        api.call("POST", "/api/orders", new_order(f"c-{RUN}", [{"product_id": "x"}])),
        # A price no decimal column holds (answered 500 once).
        api.call(
            "POST",
            "/api/orders",
            new_order(f"c-{RUN}", [{"product_id": "x", "quantity": 1, "unit_price": 1e26}]),
        ),
        # A body of the wrong type, the address in it.
        api.call("POST", "/api/orders", f"{json.dumps(ADDRESS)}, not an order"),
        stranger.call("POST", "/api/orders", new_order(f"c-{RUN}")),
        stranger.get("/api/projections"),
        api.get("/readyz"),
        api.call("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}),
        api.call("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}x"}),
        api.get(f"/api/customers/c-{RUN}/orders"),
    ]
    for target in (order_id, str(uuid.uuid4())):  # an order, and one that does not exist
        replies += [
            api.call("PUT", f"/api/orders/{target}/shipping-address", ADDRESS),
            api.call("PUT", f"/api/orders/{target}/shipping-address", {**ADDRESS, "city": ""}),
            api.get(f"/api/orders/{target}?min_position=1&consistency_timeout=1"),
        ]
    return replies


def test_no_log_line_carries_a_secret_a_token_or_an_address(
    processes: Processes, token: str
) -> None:
    proxy = processes.database_proxy()
    broker = processes.redis()
    env = processes.env(
        broker_url=broker.url,
        database=database_url(port=proxy.port, password=DB_PASSWORD),
        DJANGO_SECRET_KEY=SECRET_KEY,
        METRICS_TOKEN=METRICS_TOKEN,
        LOG_LEVEL="DEBUG",
        CELERY_TASK_LOG_LEVEL="DEBUG",
        PROJECTION_SWEEP_SECONDS="1",
    )
    web, port = processes.gunicorn(env)
    worker = processes.worker(env, "worker", "--concurrency", "1", "--loglevel=DEBUG")
    beat = processes.beat(env)
    api = Api(port, token, timeout=15)
    wait_until(lambda: api.get("/api/projections").ok, timeout=60, what="gunicorn")

    created = api.call("POST", "/api/orders", new_order(f"c-{RUN}"))
    assert created.status == 201, created
    order_id = created.body["order_id"]
    fresh = f"/api/orders/{order_id}?min_position={created.body['position']}"
    assert api.get(f"{fresh}&consistency_timeout=20").ok
    before = send_everything(api, order_id)

    proxy.stop()
    during = send_everything(api, order_id)

    # Both sides ran into the outage with a traceback: the readiness probe, and the worker's
    # sweeps (beat sends one every second).
    def seen(process: Process, text: str) -> bool:
        return any(text in line for _, _, line in lines(process))

    wait_until(
        lambda: send_everything(api, order_id) and seen(web, '"exception"'),
        timeout=30,
        interval=0.5,
        what="a traceback in gunicorn's output",
    )
    wait_until(
        lambda: seen(worker, "OperationalError") and seen(worker, '"exception"'),
        timeout=30,
        interval=0.5,
        what="a failed catch-up in the worker's output",
    )
    proxy.start()

    back = wait_until(
        lambda: (reply := api.call("POST", "/api/orders", new_order(f"c-{RUN}"))).ok and reply,
        timeout=30,
        interval=0.5,
        what="commands after the outage",
    )
    assert api.get(
        f"/api/orders/{back.body['order_id']}?min_position="
        f"{back.body['position']}&consistency_timeout=20"
    ).ok
    after = send_everything(api, back.body["order_id"])
    for process in (web, worker, beat):
        process.stop(timeout=30)  # their shutdown lines too

    assert {r.status for r in before + after} >= {200, 201, 400, 401, 403, 404}
    assert 503 in {r.status for r in during}
    forbidden = {
        "the database password": [DB_PASSWORD, quote(DB_PASSWORD, safe=""), "p@ss:w0rd"],
        "the secret key": [SECRET_KEY],
        "the API token": [token],
        "an unknown token sent": [UNKNOWN_TOKEN],
        "the metrics token": [METRICS_TOKEN],
        **{
            f"the address's {field}": [value]
            for field, value in ADDRESS.items()
            if field != "country"
        },
    }
    written = [line for process in (web, worker, beat) for line in lines(process)]
    assert len(written) > 100  # DEBUG: the processes had plenty to say
    leaks = [
        f"{what} in {name}:{number}: {line[:2000]}"
        for name, number, line in written
        for what, values in forbidden.items()
        if any(value in line for value in values)
    ]
    assert not leaks, "\n".join(leaks[:20])
