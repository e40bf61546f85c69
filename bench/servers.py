"""The service's processes for HTTP benchmarks: gunicorn and a Celery worker, as `make serve`
starts them, plus a keep-alive HTTP client and process memory readings."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
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
