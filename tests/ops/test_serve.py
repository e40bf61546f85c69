"""The documented ways to run it, started, used and stopped: `make serve` and `./scripts/run.sh`.

`make serve` (scripts/serve.sh) runs gunicorn, a Celery worker and beat on PostgreSQL and Redis
as production does, here from a virtualenv that has requirements.txt and nothing else (what
production installs: the test virtualenv's tools would hide a missing requirement); run.sh is
the embedded default (SQLite, eager Celery, runserver).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import pytest
from django.contrib.auth.models import User
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token

from eventstore.models import Event
from projections.engine.models import ProjectionState
from tests.ops.conftest import ORDER_BODY
from tests.projections import builders as b
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    """A script started in its own process group, its output collected as it comes."""

    process: subprocess.Popen[str]
    base_url: str
    output: list[str] = field(default_factory=list)

    def collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def text(self) -> str:
        return "".join(self.output)

    def call(
        self, path: str, body: Any = None, **headers: str
    ) -> tuple[int, dict[str, str], bytes]:
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = Request(self.base_url + path, data=data, headers=headers)
        try:
            with urlopen(request, timeout=20) as response:
                return response.status, dict(response.headers), response.read()
        except HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def running(self) -> bool:
        """True while the script runs; its output in the failure if it ended."""
        code = self.process.poll()
        assert code is None, f"ended with {code}:\n{self.text()[-4000:]}"
        return True

    def answers(self, path: str) -> bool:
        try:
            return self.call(path)[0] == 200
        except OSError:
            return False

    def stop(self, *, group: bool = False) -> int:
        """SIGTERM to the script (or its whole process group); returns its exit code."""
        if self.process.poll() is None:
            if group:
                os.killpg(self.process.pid, signal.SIGTERM)
            else:
                self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def kill_leftovers(self) -> None:
        if not group_is_gone(self.process.pid):
            os.killpg(self.process.pid, signal.SIGKILL)


def start(command: list[str], env: dict[str, str], port: int) -> Served:
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **env, "PORT": str(port), "HOST": "127.0.0.1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: nothing it started may outlive it
    )
    served = Served(process, f"http://127.0.0.1:{port}")
    threading.Thread(target=served.collect, daemon=True).start()
    return served


def group_is_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def database_url() -> str:
    """The test database, for processes of their own."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def serve(tmp_path: Path, redis_url: str, production_venv: Path) -> Iterator[Served]:
    port = free_port()
    env = {
        # serve.sh's bootstrap uses it instead of .venv (installed already: nothing to do).
        "ORDERS_VENV": str(production_venv),
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": redis_url,
        "CELERY_TASK_DEFAULT_QUEUE": f"test-serve-{uuid.uuid4().hex[:12]}",
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "SERVE_STATE_DIR": str(tmp_path / "state"),
        "PROJECTION_SWEEP_SECONDS": "1",
        "GUNICORN_THREADS": "2",
        "CELERY_CONCURRENCY": "1",
    }
    served = start([str(ROOT / "scripts" / "serve.sh")], env, port)
    try:
        wait_until(lambda: served.answers("/healthz"), timeout=120, interval=0.2, what="serve")
        # All three started: the worker says so once it consumes (a missing requirement ends
        # it at import, and serve.sh with it).
        wait_until(
            lambda: served.running() and " ready." in served.text(),
            timeout=60,
            interval=0.2,
            what="the Celery worker",
        )
        yield served
    finally:
        served.stop()
        try:
            wait_until(lambda: group_is_gone(served.process.pid), timeout=30, what="all stopped")
        finally:
            served.kill_leftovers()


@pytest.mark.postgres
@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_make_serve_runs_web_worker_and_beat_until_stopped(serve: Served, clerk: User) -> None:
    token = Token.objects.create(user=clerk).key
    auth = {"Authorization": f"Token {token}"}
    assert f"API docs   {serve.base_url}/api/docs/" in serve.text()

    # A command, then a query asking for its position: the worker applied it, woken by Redis.
    status, _, body = serve.call("/api/orders", ORDER_BODY, **auth, **{"Idempotency-Key": "k1"})
    assert status == 201, body
    created = json.loads(body)
    query = f"/api/orders/{created['order_id']}?min_position={created['position']}"
    status, headers, body = serve.call(f"{query}&consistency_timeout=20", **auth)
    assert (status, headers["X-Consistency"]) == (200, "fresh"), body

    # An event no command woke anyone for: beat's sweep has it applied.
    _, appended = b.append_new_order()
    wait_until(
        lambda: (
            ProjectionState.objects.get(name="order_views", active=True).position
            >= appended.last_position
        ),
        timeout=30,
        what="the beat sweep",
    )

    status, _, body = serve.call("/readyz")
    assert status == 200, body
    checks = json.loads(body)["checks"]
    shards = checks.pop("projection_shards")
    assert checks == {
        "database": "ok",
        "migrations": "ok",
        "broker": "ok",
        "projections": {"customer_summaries": "ok", "daily_sales": "ok", "order_views": "ok"},
    }
    assert {name: [shard["index"] for shard in parts] for name, parts in shards.items()} == {
        "customer_summaries": [0],
        "daily_sales": [0],
        "order_views": [0],
    }

    for _ in range(10):
        assert serve.call("/api/projections", **auth)[0] == 200
    status, _, body = serve.call("/metrics")
    assert status == 200
    scraped = samples(body.decode())
    created_ok = frozenset({"command": "CreateOrder", "outcome": "ok"}.items())
    assert scraped[("orders_commands_total", created_ok)] == 1
    listed = frozenset({"method": "GET", "route": "/api/projections", "status": "200"}.items())
    # Whichever of the two web workers answered, the count is the sum of both.
    assert scraped[("http_request_duration_seconds_count", listed)] == 10
    # Counted in the Celery worker's process, served by the web's.
    batches = frozenset({"projection": "order_views"}.items())
    assert scraped[("projection_batch_duration_seconds_count", batches)] >= 1
    # The worker's heartbeat (what the worker-absent alert reads), and the broker's state.
    ages = [v for (name, _), v in scraped.items() if name == "orders_worker_last_task_age_seconds"]
    assert ages and min(ages) < 30
    assert scraped[("orders_broker_up", frozenset())] == 1

    status, _, body = serve.call("/admin/login/")
    css = re.search(r'href="(/static/admin/css/[^"]+)"', body.decode())
    assert status == 200 and css is not None
    assert serve.call(css.group(1))[0] == 200

    assert serve.stop() in (0, 143)
    wait_until(lambda: group_is_gone(serve.process.pid), timeout=30, what="all three to stop")


def test_gunicorn_without_its_database_is_alive_but_not_ready(
    tmp_path: Path, production_venv: Path
) -> None:
    port = free_port()
    env = {
        "DATABASE_URL": f"postgres://nobody@127.0.0.1:{free_port()}/nothing",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "test-only-" + uuid.uuid4().hex,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "WEB_CONCURRENCY": "1",
    }
    served = start(
        [str(production_venv / "bin" / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi"],
        env,
        port,
    )
    try:
        wait_until(lambda: served.answers("/healthz"), timeout=60, interval=0.2, what="gunicorn")
        status, _, body = served.call("/readyz")
    finally:
        served.stop()
        served.kill_leftovers()

    assert status == 503
    error = json.loads(body)["error"]
    assert (error["code"], error["details"]["database"]) == ("not_ready", "unreachable")
    # Production logs are JSON lines.
    assert any(line.startswith("{") and '"logger"' in line for line in served.output)


def post_chunked(base_url: str, path: str, body: bytes, token: str) -> tuple[int, bytes]:
    """POST ``body`` in chunks (Transfer-Encoding: chunked, no Content-Length)."""
    address = urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        pieces = (body[n : n + 1000] for n in range(0, len(body), 1000))
        connection.request(
            "POST",
            path,
            body=pieces,
            headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_gunicorn_takes_a_chunked_body_within_the_size_limit(
    tmp_path: Path, clerk: User, settings: Any
) -> None:
    token = Token.objects.create(user=clerk).key
    port = free_port()
    env = {
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": "",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "test-only-" + uuid.uuid4().hex,
        "DJANGO_SECURE_SSL_REDIRECT": "false",  # plain HTTP here, as behind a TLS proxy
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "WEB_CONCURRENCY": "1",
    }
    served = start(
        [str(ROOT / ".venv/bin/gunicorn"), "-c", "config/gunicorn.py", "config.wsgi"], env, port
    )
    too_large = {**ORDER_BODY, "customer_id": "x" * settings.API_MAX_BODY_BYTES}
    try:
        wait_until(lambda: served.answers("/healthz"), timeout=60, interval=0.2, what="gunicorn")
        created = post_chunked(
            served.base_url, "/api/orders", json.dumps(ORDER_BODY).encode(), token
        )
        refused = post_chunked(
            served.base_url, "/api/orders", json.dumps(too_large).encode(), token
        )
    finally:
        served.stop()
        served.kill_leftovers()

    assert created[0] == 201, created[1]
    order_id = json.loads(created[1])["order_id"]
    assert Event.objects.filter(stream_id=f"Order-{order_id}").count() == 1
    assert refused[0] == 400, refused[1]
    assert "larger than" in json.loads(refused[1])["error"]["message"]


def test_run_sh_serves_where_it_says(tmp_path: Path) -> None:
    port = free_port()
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "CELERY_BROKER_URL": ""}
    served = start([str(ROOT / "scripts" / "run.sh")], env, port)
    try:
        banner = wait_until(
            lambda: re.search(r"API token +Authorization: Token (\w+)", served.text()),
            timeout=120,
            interval=0.2,
            what="run.sh's admin login",
        )
        wait_until(lambda: served.answers("/healthz"), timeout=60, interval=0.2, what="runserver")
        login = served.call("/admin/login/")
        projections = served.call("/api/projections", Authorization=f"Token {banner.group(1)}")
    finally:
        served.stop(group=True)
        served.kill_leftovers()

    assert f"Admin login   {served.base_url}/admin/" in served.text()
    assert f"API docs      {served.base_url}/api/docs/" in served.text()
    assert ":8000" not in served.text()
    assert (login[0], projections[0]) == (200, 200)
    assert len(json.loads(projections[2])) == 3
