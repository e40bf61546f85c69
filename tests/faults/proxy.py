"""A TCP proxy in front of the shared PostgreSQL that a test can take down and bring back.

Why a proxy and not a private cluster (initdb + pg_ctl): what the web server and the worker see
of a database outage is the network side of it, and the proxy reproduces exactly that: every
open connection is cut (mid-query, mid-transaction or idle, as when the server stops or
crashes) and new connections are refused until it is back. It costs nothing to start, needs no
``postgres`` OS user, and keeps the test database the suite already migrated; the test itself
reads the log and the read models directly, past the proxy, to check what survived. What it
does not show: the server's own "shutting down"/"starting up" refusals (FATAL 57P01/57P03),
which psycopg raises as the same OperationalError as a refused connection.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@dataclass
class TcpProxy:
    """Listens on 127.0.0.1:``port`` and relays every connection to ``upstream``."""

    port: int
    upstream: tuple[str, int]
    _listener: socket.socket | None = None
    _open: set[socket.socket] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)
    connections: int = 0  # accepted since the proxy was made

    @property
    def up(self) -> bool:
        return self._listener is not None

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        self._spawn(self._accept, listener)

    def stop(self) -> None:
        """Refuse new connections and cut every open one, as a database that goes away."""
        listener, self._listener = self._listener, None
        if listener is not None:
            _shut(listener)
        with self._lock:
            cut, self._open = self._open, set()
        for sock in cut:
            _shut(sock)

    def close(self) -> None:
        self.stop()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=10)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _shut(client)
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # stopped meanwhile
                    _shut(client)
                    _shut(server)
                    return
                self._open |= {client, server}
                self.connections += 1
            self._spawn(self._pump, client, server)
            self._spawn(self._pump, server, client)

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._open -= {source, target}
        _shut(source)
        _shut(target)
