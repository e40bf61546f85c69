"""The fault suite's own services and processes, each on a port of its own.

A fault test breaks only what it started: a private redis-server, a web server, Celery workers
and beat as real subprocesses, all pointed at the test database. The shared PostgreSQL and
Redis are never stopped, restarted or reconfigured. Everything started here is killed (with its
process group) when the fixture that owns the ``Processes`` ends, however the test ended.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model

from tests.faults.proxy import TcpProxy
from tests.waiting import wait_until

# Private services take ports from this range, away from the shared services and from the
# ranges other suites on this machine use.
PORTS = range(16300, 16400)
SECRET_KEY = "fault-suite-only-" + "x" * 40


def free_port(taken: set[int]) -> int:
    """A port of PORTS that nothing listens on and that this run has not handed out yet."""
    for port in PORTS:
        if port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As the servers do: a port whose last connections linger in TIME_WAIT is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def database_url(
    *, port: int | None = None, application_name: str = "", password: str | None = None
) -> str:
    """The test database as a URL for subprocesses, optionally through another port (a proxy),
    naming its sessions (pg_stat_activity.application_name) or with another password (the
    shared server trusts local connections: it never asks for one)."""
    db = connection.settings_dict
    user = quote(db["USER"] or "")
    secret = db["PASSWORD"] if password is None else password
    written = f":{quote(secret, safe='')}" if secret else ""
    host = db["HOST"] or "127.0.0.1"
    url = f"postgres://{user}{written}@{host}:{port or db['PORT'] or 5432}/{db['NAME']}"
    return f"{url}?application_name={quote(application_name)}" if application_name else url


def other_sessions() -> list[int]:
    """Sessions on the test database other than this process's own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cursor.fetchall()]


def in_transaction(application_name: str) -> bool:
    """Whether a session of that name is inside a transaction right now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = %s AND xact_start IS NOT NULL",
            [application_name],
        )
        return bool(cursor.fetchone()[0])


def waiting_for_locks() -> int:
    """Sessions on the test database that wait for a lock."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else fixed for the transaction
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


@contextmanager
def writes_held(*models: type[Model], waiting: int = 1) -> Iterator[None]:
    """Hold off writes to the models' tables until at least ``waiting`` sessions wait for them.

    Whoever writes there then waits in the middle of its transaction: a command before its
    append, a catch-up before it moves its checkpoint (its batch already applied, its Celery
    message unacknowledged). Readers are not held, and the lock takes no transaction id, so
    the log stays readable. The writers go on when the block ends.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"LOCK TABLE {model._meta.db_table} IN EXCLUSIVE MODE")
        wait_until(lambda: waiting_for_locks() >= waiting, timeout=30, what="writers to be held")
        yield


@dataclass
class Process:
    """A subprocess in a process group of its own, its output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self, tail: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-tail:]

    def kill(self) -> None:
        """SIGKILL the whole group (a prefork worker's pool children too), then reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, and SIGKILL if it has not ended after ``timeout`` seconds."""
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        self.kill()


@dataclass
class RedisServer:
    """A private redis-server that keeps nothing on disk; stop() and start() keep its port."""

    port: int
    directory: Path
    processes: Processes
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = self.processes.spawn(
            "redis",
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
        )
        wait_until(self.answers, timeout=10, interval=0.02, what=f"redis on {self.port}")

    def stop(self) -> None:
        """Shut the server down: connections are closed and new ones are refused."""
        if self.process is not None:
            self.process.stop()
            self.process = None

    def freeze(self) -> None:
        """Hang the server (SIGSTOP): the kernel still accepts connections, nothing answers."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGCONT)

    def crash(self) -> None:
        """SIGKILL the server, hung or not: its connections are reset, new ones refused."""
        if self.process is not None:
            self.process.kill()
            self.process = None

    def calls(self, command: str) -> int:
        """How often ``command`` ran since the server started."""
        client = redis.Redis(port=self.port, socket_connect_timeout=2, socket_timeout=2)
        try:
            stats = client.info("commandstats")
        finally:
            client.close()
        return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))

    def answers(self) -> bool:
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()


@dataclass
class Processes:
    """Starts the suite's subprocesses (and a proxy) and ends every one of them in ``close``."""

    directory: Path
    ports: set[int] = field(default_factory=set)
    started: list[Process] = field(default_factory=list)
    proxies: list[TcpProxy] = field(default_factory=list)

    def port(self) -> int:
        return free_port(self.ports)

    def database_proxy(self) -> TcpProxy:
        """A proxy in front of the test database's server, on a port of its own."""
        db = connection.settings_dict
        proxy = TcpProxy(self.port(), (db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
        self.proxies.append(proxy)
        proxy.start()
        return proxy

    def spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> Process:
        log = self.directory / f"{name}-{len(self.started)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed with its children
            )
        process = Process(name, popen, log)
        self.started.append(process)
        return process

    def close(self) -> None:
        for process in self.started:
            process.kill()
        for proxy in self.proxies:
            proxy.close()

    # --- the project's own processes -----------------------------------------------------
    def env(self, *, broker_url: str, database: str | None = None, **extra: str) -> dict[str, str]:
        """The environment of a web server, worker or beat: production settings (debug off)."""
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database or database_url(),
            "CELERY_BROKER_URL": broker_url,
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": SECRET_KEY,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            # Plain HTTP on loopback: production's HTTPS redirect would answer every call 301.
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "CELERY_SKIP_CHECKS": "1",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
        env.pop("DATABASE_TEST_NAME", None)  # the URL names the test database itself
        return env

    def redis(self) -> RedisServer:
        directory = self.directory / "redis"
        directory.mkdir(exist_ok=True)
        server = RedisServer(self.port(), directory, self)
        server.start()
        return server

    def web(self, env: dict[str, str]) -> tuple[Process, int]:
        """``manage.py runserver`` (threaded, no autoreload) on a port of its own."""
        port = self.port()
        process = self.spawn(
            "web",
            [
                sys.executable,
                "manage.py",
                "runserver",
                f"127.0.0.1:{port}",
                "--noreload",
                "--skip-checks",
            ],
            env,
        )
        return process, port

    def gunicorn(self, env: dict[str, str]) -> tuple[Process, int]:
        """gunicorn as production runs it (config/gunicorn.py), one process, on a port of its
        own."""
        port = self.port()
        metrics = self.directory / f"metrics-{len(self.started)}"
        metrics.mkdir()
        web_env = {
            **env,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WEB_CONCURRENCY": "1",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        }
        command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]
        return self.spawn("gunicorn", command, web_env), port

    def worker(self, env: dict[str, str], name: str, *options: str) -> Process:
        """``celery -A config worker`` as the README runs it, plus ``options``."""
        return self.spawn(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-n",
                f"{name}-{len(self.started)}@%h",
                "--loglevel=WARNING",
                *options,
            ],
            env,
        )

    def beat(self, env: dict[str, str]) -> Process:
        state = self.directory / f"beat-{len(self.started)}"
        return self.spawn(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel=WARNING",
                "--schedule",
                f"{state}.schedule",
                "--pidfile",
                f"{state}.pid",
            ],
            env,
        )


def wait_for_no_other_sessions(timeout: float = 30.0) -> None:
    """Killed processes' sessions end as PostgreSQL notices; the test database is flushed next."""
    wait_until(lambda: not other_sessions(), timeout=timeout, what="other sessions to end")
