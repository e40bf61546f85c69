"""The service's processes for HTTP benchmarks: gunicorn and a Celery worker, as `make serve`
starts them, a private PostgreSQL cluster to freeze, a keep-alive HTTP client and process
memory readings."""

from __future__ import annotations

import getpass
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def start(command: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen[bytes]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (RESULTS / log_name).open("wb") as out:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_gunicorn(env: dict[str, str], port: int, workers: int = 2) -> subprocess.Popen[bytes]:
    server_env = {
        **env,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": str(workers),
        # A benchmark's few clients send far more than a user's 1,200 requests a minute.
        "API_THROTTLE_USER": "",
        "API_THROTTLE_ANON": "",
    }
    command = [_tool("gunicorn"), "-c", "config/gunicorn.py", "config.wsgi"]
    process = start(command, server_env, "gunicorn.log")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited; see {RESULTS / 'gunicorn.log'}")
        try:
            if Client(port).get("/healthz")[0] == 200:
                return process
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")


def start_worker(env: dict[str, str], queue: str, concurrency: int = 2) -> subprocess.Popen[bytes]:
    command = [
        _tool("celery"),
        *("-A", "config", "worker", "-Q", queue, "--concurrency", str(concurrency)),
        *("--without-gossip", "--without-mingle", "-l", "warning"),
    ]
    return start(command, env, "worker.log")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as listing:
            return [int(child) for child in listing.read().split()]
    except OSError:
        return []


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Client:
    """One keep-alive HTTP/1.1 connection (a thread's own)."""

    def __init__(self, port: int, token: str = "") -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Token {token}"} if token else {}

    def request(
        self, method: str, path: str, body: Any = None, **headers: str
    ) -> tuple[int, dict[str, str], Any]:
        payload = None if body is None else json.dumps(body)
        sent = {**self.headers, **headers}
        if payload is not None:
            sent["Content-Type"] = "application/json"
        try:
            self.connection.request(method, path, body=payload, headers=sent)
            response = self.connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closes a connection idle past its keep-alive: connect again, once.
            self.connection.close()
            self.connection.request(method, path, body=payload, headers=sent)
            response = self.connection.getresponse()
        raw = response.read()
        kind = response.getheader("Content-Type", "")
        data = json.loads(raw) if raw and kind.startswith("application/json") else raw
        return response.status, dict(response.getheaders()), data

    def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], Any]:
        return self.request("GET", path, **headers)

    def post(self, path: str, body: Any, **headers: str) -> tuple[int, dict[str, str], Any]:
        return self.request("POST", path, body, **headers)

    def close(self) -> None:
        self.connection.close()


class PrivatePostgres:
    """A PostgreSQL cluster of the benchmark's own (initdb in a temporary folder, a port of its
    own): the only server a benchmark may freeze. Run by the ``postgres`` OS user when this is
    root, as PostgreSQL requires; stopped and removed by ``stop``."""

    BIN = Path(os.environ.get("BENCH_PG_BIN", "/usr/lib/postgresql/15/bin"))

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="bench-postgres-"))
        self.user = getpass.getuser()
        self.run_as = "postgres" if os.geteuid() == 0 else None
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: str) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        data = self.folder / "data"
        subprocess.run(
            [self.BIN / "initdb", "-D", data, "-U", self.user, "-A", "trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            user=self.run_as,
        )
        RESULTS.mkdir(parents=True, exist_ok=True)
        with (RESULTS / "private-postgres.log").open("wb") as out:
            self.process = subprocess.Popen(
                [
                    *(self.BIN / "postgres", "-D", data, "-p", str(self.port)),
                    *("-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=self.run_as,
            )
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.Error:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.1)

    def pids(self) -> list[int]:
        """The postmaster and its children (each backend in a session of its own)."""
        assert self.process is not None
        return [self.process.pid, *children(self.process.pid)]

    def freeze(self) -> None:
        for pid in self.pids():  # the postmaster first: it forks no more
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in reversed(self.pids()):
            os.kill(pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.thaw()
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                for pid in self.pids():
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.folder, ignore_errors=True)
