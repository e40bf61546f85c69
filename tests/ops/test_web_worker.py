"""Which connections gunicorn's worker gives to its /healthz threads: a whole GET /healthz
request head already received, nothing else (tests/ops/test_busy_threads.py serves them)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from ops.web_worker import _asks_for_liveness

HEAD = b"Host: 10.0.0.7:8000\r\nUser-Agent: kube-probe/1.30\r\nAccept: */*\r\n\r\n"


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    server, client = socket.socketpair()
    server.setblocking(False)
    yield server, client
    server.close()
    client.close()


@pytest.mark.parametrize(
    ("sent", "to_probe_threads"),
    [
        (b"GET /healthz HTTP/1.1\r\n" + HEAD, True),
        (b"GET /healthz/ HTTP/1.1\r\n" + HEAD, True),
        (b"HEAD /healthz?verbose=1 HTTP/1.0\r\n" + HEAD, True),
        (b"GET /healthz HTTP/1.0\r\n\r\n", True),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", False),  # the head not all there yet
        (b"GET /healthz", False),
        (b"", False),  # nothing yet
        (b"POST /healthz HTTP/1.1\r\n" + HEAD, False),
        (b"GET /healthzz HTTP/1.1\r\n" + HEAD, False),
        (b"GET /readyz HTTP/1.1\r\n" + HEAD, False),
        (b"GET /api/orders HTTP/1.1\r\n" + HEAD, False),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", False),  # a TLS handshake
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", False),
    ],
)
def test_only_a_whole_healthz_request_head_goes_to_the_probe_threads(
    pair: tuple[socket.socket, socket.socket], sent: bytes, to_probe_threads: bool
) -> None:
    server, client = pair
    client.sendall(sent)

    assert _asks_for_liveness(SimpleNamespace(parser=None, sock=server)) is to_probe_threads
    if sent:
        assert server.recv(65536) == sent  # only looked at: all of it is still there


def test_bytes_a_request_thread_already_read_send_the_connection_the_usual_way(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = pair
    client.sendall(b"GET /healthz HTTP/1.1\r\n" + HEAD)
    parser = SimpleNamespace(unreader=SimpleNamespace(buf=SimpleNamespace(getvalue=lambda: b"GET")))

    assert _asks_for_liveness(SimpleNamespace(parser=parser, sock=server)) is False
