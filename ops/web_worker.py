"""gunicorn's gthread worker with a lane of its own for ``/healthz``: liveness is answered at
once even while every request thread waits (on a hung database, on slow clients).

gthread hands each connection to its thread pool as soon as it is accepted, and a request
queued there waits behind the busy threads, probes too: a load balancer or an orchestrator
then takes a busy instance for a dead one and restarts it, which helps nothing. This worker
waits for a new connection's first bytes in its event loop (as gthread already does for a
kept-alive connection), looks at them without reading them, and gives a complete
``GET /healthz`` request head to a small pool of its own; everything else goes to the usual
pool. Only a complete head goes there, so a client sending slowly can never hold a probe thread;
``/readyz`` stays with the other requests (it asks the database, whose calls are bounded).
"""

from __future__ import annotations

import errno
import re
import selectors
import socket
import time
from concurrent import futures
from functools import partial
from typing import Any, Final

from gunicorn.workers.gthread import DEFAULT_WORKER_DATA_TIMEOUT, TConn, ThreadWorker

# The request line of a GET or HEAD of /healthz (a trailing slash or a query string allowed).
_PROBE: Final = re.compile(rb"(?:GET|HEAD) /healthz/?(?:\?\S*)? HTTP/1\.[01]\r\n")
_END_OF_HEAD: Final = b"\r\n\r\n"
# More than any probe's request head (a few hundred bytes).
_PEEK_BYTES: Final = 4096
PROBE_THREADS: Final = 2


class ProbeLaneThreadWorker(ThreadWorker):  # type: ignore[misc]
    """``worker_class`` of config/gunicorn.py."""

    probe_pool: futures.ThreadPoolExecutor

    def init_process(self) -> None:
        self.probe_pool = futures.ThreadPoolExecutor(PROBE_THREADS, thread_name_prefix="probe")
        super().init_process()

    def accept(self, listener: socket.socket) -> None:
        """Accept a connection and wait for its first bytes in the event loop (gthread would
        hand it to a request thread at once, to wait there)."""
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, client, address, listener.getsockname())  # non-blocking
        # As long as gthread lets a new connection send its request before closing it.
        conn.timeout = time.monotonic() + max(self.cfg.keepalive, DEFAULT_WORKER_DATA_TIMEOUT)
        self.pending_conns.append(conn)
        self.poller.register(
            conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn)
        )

    def enqueue_req(self, conn: TConn) -> None:
        pool = self.probe_pool if _asks_for_liveness(conn) else self.tpool
        done = pool.submit(self.handle, conn)
        done.add_done_callback(
            lambda future: self.method_queue.defer(self.finish_request, conn, future)
        )

    def run(self) -> None:
        try:
            super().run()
        finally:
            self.probe_pool.shutdown(wait=False)

    def handle_quit(self, sig: int, frame: Any) -> None:
        self.probe_pool.shutdown(wait=False)
        super().handle_quit(sig, frame)


def _asks_for_liveness(conn: TConn) -> bool:
    """Whether the connection's next request, all of its head already received, is a GET of
    /healthz. Bytes a request thread has already read (a pipelined request) are not looked at:
    such a connection goes the usual way."""
    if conn.parser is not None and conn.parser.unreader.buf.getvalue():
        return False
    try:
        head = conn.sock.recv(_PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except (OSError, ValueError):  # ValueError: a TLS socket cannot peek
        return False
    return _PROBE.match(head) is not None and _END_OF_HEAD in head
