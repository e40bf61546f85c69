"""The fault suite's own services and processes, each on a port of its own.

A fault test breaks only what it started: a private redis-server, a private PostgreSQL server
(a copy of the test database), a web server, Celery workers and beat as real subprocesses, all
pointed at the test database. The shared PostgreSQL and Redis are never stopped, restarted or
reconfigured. Everything started here is killed (with its process group) when the fixture that
owns the ``Processes`` ends, however the test ended.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
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
    """A port of PORTS that nothing listens on and that this run has not handed out yet.

    Looked for from a random place in the range: suites running at the same time on this
    machine would otherwise all try the same first ports, and one's server could take the
    port another just found free.
    """
    start = random.randrange(len(PORTS))
    for port in [*PORTS[start:], *PORTS[:start]]:
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
    """Sessions on the test database other than this process's own. Behind a transaction-mode
    PgBouncer its idle server connections stay open, holding nothing (no session state, no
    locks): only sessions doing something count there."""
    idle = " AND state <> 'idle'" if settings.DATABASE_POOL_MODE == "transaction" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            f"AND backend_type = 'client backend' AND pid <> pg_backend_pid(){idle}"
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


# Debian's PostgreSQL 15 programs (the shared server's version: its dumps load as they are).
POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class PostgresServer:
    """A private PostgreSQL cluster (initdb in a temporary folder, its own port, run by the
    ``postgres`` OS user when the tests run as root, as PostgreSQL requires), holding a copy
    of the test database. Freezing and making it read-only touch nothing shared."""

    port: int
    directory: Path  # the data directory, removed by Processes.close
    processes: Processes
    process: Process | None = None

    def dsn(self, dbname: str = "postgres") -> str:
        user = connection.settings_dict["USER"] or "root"
        return f"host=127.0.0.1 port={self.port} user={user} dbname={dbname} connect_timeout=5"

    def init(self) -> None:
        user = connection.settings_dict["USER"] or "root"
        subprocess.run(
            [
                *(POSTGRES_BIN / "initdb", "-D", self.directory, "-U", user, "-A", "trust"),
                *("-E", "UTF8", "--locale=C.UTF-8", "--no-sync"),
            ],
            check=True,
            capture_output=True,
            user=_postgres_user(),
        )

    def start(self) -> None:
        self.process = self.processes.spawn(
            "postgres",
            [
                *(str(POSTGRES_BIN / "postgres"), "-D", str(self.directory), "-p", str(self.port)),
                *("-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="),
                # A throwaway copy: no need to survive a crash of the machine.
                *("-c", "fsync=off", "-c", "shared_buffers=32MB"),
            ],
            user=_postgres_user(),
        )
        wait_until(self.answers, timeout=30, interval=0.05, what=f"postgres on {self.port}")

    def answers(self) -> bool:
        try:
            psycopg.connect(self.dsn(), connect_timeout=2).close()
        except psycopg.Error:
            return False
        return True

    def copy_database(self, name: str) -> None:
        """Create ``name`` here as a copy of the shared server's database ``name``."""
        db = connection.settings_dict
        with psycopg.connect(self.dsn(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        dump = subprocess.run(
            [
                *(POSTGRES_BIN / "pg_dump", "-h", db["HOST"] or "127.0.0.1"),
                *("-p", str(db["PORT"] or 5432), "-U", db["USER"] or "root", name),
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PGPASSWORD": db["PASSWORD"] or ""},
        )
        subprocess.run(
            [POSTGRES_BIN / "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", self.dsn(name)],
            input=dump.stdout,
            check=True,
            capture_output=True,
        )

    def pids(self) -> list[int]:
        """The postmaster and its children (each backend runs in a session of its own, so
        they share no process group with the postmaster)."""
        assert self.process is not None
        postmaster = self.process.pid
        with open(f"/proc/{postmaster}/task/{postmaster}/children", encoding="ascii") as kids:
            return [postmaster, *(int(pid) for pid in kids.read().split())]

    def freeze(self) -> None:
        """Hang the server (SIGSTOP every process of it, the postmaster first so that it forks
        no more): its kernel still accepts connections and acknowledges data, nothing answers."""
        for pid in self.pids():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in reversed(self.pids()):
            os.kill(pid, signal.SIGCONT)

    def shut_down(self) -> None:
        """Immediate shutdown (SIGQUIT: the postmaster ends its children), thawed first; what
        is left after a few seconds is killed. Its backends are not in the postmaster's
        process group: killing the group alone would leave them behind."""
        if self.process is None or not self.process.alive():
            return
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        os.kill(self.process.pid, signal.SIGQUIT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.popen.wait(timeout=10)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.kill()

    def read_only(self, on: bool) -> None:
        """Make every new transaction read-only (as on a standby), or writable again; existing
        sessions take the change at their next transaction."""
        with psycopg.connect(self.dsn(), autocommit=True) as admin:
            if on:
                admin.execute("ALTER SYSTEM SET default_transaction_read_only = on")
            else:
                admin.execute("ALTER SYSTEM RESET default_transaction_read_only")
            admin.execute("SELECT pg_reload_conf()")


def _postgres_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, its programs run as the postgres user."""
    return "postgres" if os.geteuid() == 0 else None


@contextmanager
def django_served_by(server: PostgresServer) -> Iterator[None]:
    """This process's default database connection (the tests' checks, the fixtures' writes,
    ``database_url`` for subprocesses) goes to ``server``'s copy of the test database."""
    db = connection.settings_dict
    kept = (db["HOST"], db["PORT"])
    connection.close()
    db["HOST"], db["PORT"] = "127.0.0.1", str(server.port)
    try:
        yield
    finally:
        connection.close()
        db["HOST"], db["PORT"] = kept


@dataclass
class Processes:
    """Starts the suite's subprocesses (and a proxy) and ends every one of them in ``close``."""

    directory: Path
    ports: set[int] = field(default_factory=set)
    started: list[Process] = field(default_factory=list)
    proxies: list[TcpProxy] = field(default_factory=list)
    servers: list[PostgresServer] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)  # removed once everything is killed

    def port(self) -> int:
        return free_port(self.ports)

    def database_proxy(self) -> TcpProxy:
        """A proxy in front of the test database's server, on a port of its own."""
        db = connection.settings_dict
        proxy = TcpProxy(self.port(), (db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
        self.proxies.append(proxy)
        proxy.start()
        return proxy

    def spawn(
        self,
        name: str,
        command: list[str],
        env: dict[str, str] | None = None,
        user: str | None = None,
    ) -> Process:
        log = self.directory / f"{name}-{len(self.started)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed with its children
                user=user,
            )
        process = Process(name, popen, log)
        self.started.append(process)
        return process

    def close(self) -> None:
        for server in self.servers:
            server.shut_down()
        for process in self.started:
            process.kill()
        for proxy in self.proxies:
            proxy.close()
        for folder in self.folders:
            shutil.rmtree(folder, ignore_errors=True)

    def postgres(self) -> PostgresServer:
        """A private PostgreSQL server, started (see PostgresServer)."""
        folder = Path(tempfile.mkdtemp(prefix="faults-postgres-"))  # not under tmp_path:
        self.folders.append(folder)  # pytest's folders are closed to the postgres user
        if (user := _postgres_user()) is not None:
            entry = pwd.getpwnam(user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        server = PostgresServer(self.port(), folder / "data", self)
        self.servers.append(server)
        server.init()
        server.start()
        return server

    def replica(self, primary: PostgresServer) -> PostgresServer:
        """A streaming replica of ``primary`` (pg_basebackup -R into a temporary folder, its
        own port), started and replaying."""
        folder = Path(tempfile.mkdtemp(prefix="faults-replica-"))
        self.folders.append(folder)
        if (user := _postgres_user()) is not None:
            entry = pwd.getpwnam(user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        server = PostgresServer(self.port(), folder / "data", self)
        self.servers.append(server)
        subprocess.run(
            [
                *(POSTGRES_BIN / "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port)),
                *("-U", connection.settings_dict["USER"] or "root", "-D", server.directory),
                *("-R", "-X", "stream", "--checkpoint=fast", "--no-sync"),
            ],
            check=True,
            capture_output=True,
            user=_postgres_user(),
        )
        server.start()
        return server

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

    def gunicorn(
        self, env: dict[str, str], *, workers: int = 1, threads: int = 4
    ) -> tuple[Process, int]:
        """gunicorn as production runs it (config/gunicorn.py), on a port of its own."""
        port = self.port()
        metrics = self.directory / f"metrics-{len(self.started)}"
        metrics.mkdir()
        server_env = {
            **env,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_THREADS": str(threads),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        }
        command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]
        return self.spawn("gunicorn", command, server_env), port

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
