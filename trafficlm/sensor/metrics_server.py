"""The ``/metrics`` endpoint: one thread, a bounded number of connections, each with a deadline.

A thread per connection with no timeout (http.server's way) lets any local
user hold a thousand idle connections open: scrapes stop being answered and
the daemon runs out of file descriptors, which the next SIGHUP then needs.
Here one thread multiplexes every connection with a selector; at most
``MAX_CONNECTIONS`` are open (a new one pushes out the oldest, which is the
slow one), each must send its request within ``REQUEST_DEADLINE_S``, and a
request larger than ``MAX_REQUEST_BYTES`` is refused. What is pushed out or
expired is counted in ``metrics_connections_dropped``.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from dataclasses import dataclass

from trafficlm.sensor.metrics import Metrics

MAX_CONNECTIONS = 64
ACCEPTS_PER_TURN = 16  # so a scrape, once accepted, is read before 48 more can push it out
REQUEST_DEADLINE_S = 5.0
MAX_REQUEST_BYTES = 8192
SELECT_TIMEOUT_S = 0.5


@dataclass
class _Connection:
    sock: socket.socket
    deadline: float
    received: bytes = b""
    reply: bytes = b""


class MetricsServer:
    """Serves Prometheus text from ``metrics`` on (host, port); binding fails now if the
    port is taken. IPv6 hosts are given without brackets (``::1``)."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        self.metrics = metrics
        self._listener = _listen(host, port)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._wake_read, self._wake_write = socket.socketpair()
        self._selector.register(self._wake_read, selectors.EVENT_READ)
        self._open: dict[socket.socket, _Connection] = {}  # oldest first
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="metrics", daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple:
        return self._listener.getsockname()

    def shutdown(self) -> None:
        self._stopping.set()
        self._wake_write.send(b"x")
        self._thread.join(5)
        for connection in list(self._open.values()):
            self._close(connection)
        for sock in (self._listener, self._wake_read, self._wake_write):
            sock.close()
        self._selector.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            for key, events in self._selector.select(SELECT_TIMEOUT_S):
                if key.fileobj is self._listener:
                    self._accept()
                elif key.fileobj is not self._wake_read:
                    self._step(key.data, events)
            self._expire(time.monotonic())

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_TURN):
            try:
                sock, _ = self._listener.accept()
            except BlockingIOError:
                return
            except OSError:  # out of descriptors: make room, take it next turn
                self._push_out_oldest()
                return
            if len(self._open) >= MAX_CONNECTIONS:
                self._push_out_oldest()
            sock.setblocking(False)
            connection = _Connection(sock, time.monotonic() + REQUEST_DEADLINE_S)
            self._open[sock] = connection
            self._selector.register(sock, selectors.EVENT_READ, connection)

    def _step(self, connection: _Connection, events: int) -> None:
        try:
            if events & selectors.EVENT_READ and not connection.reply:
                self._receive(connection)
            elif events & selectors.EVENT_WRITE:
                self._send(connection)
        except OSError:
            self._close(connection)

    def _receive(self, connection: _Connection) -> None:
        data = connection.sock.recv(4096)
        if not data:
            self._close(connection)
            return
        connection.received += data
        if b"\r\n\r\n" in connection.received or b"\n\n" in connection.received:
            self._answer(connection, _status_and_body(connection.received, self.metrics))
        elif len(connection.received) > MAX_REQUEST_BYTES:
            self._answer(connection, ("431 Request Header Fields Too Large", b""))

    def _answer(self, connection: _Connection, reply: tuple[str, bytes]) -> None:
        status, body = reply
        connection.reply = (f"HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n"
                            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                            ).encode() + body
        connection.deadline = time.monotonic() + REQUEST_DEADLINE_S
        self._selector.modify(connection.sock, selectors.EVENT_WRITE, connection)

    def _send(self, connection: _Connection) -> None:
        sent = connection.sock.send(connection.reply)
        connection.reply = connection.reply[sent:]
        if not connection.reply:
            _drain(connection.sock)
            self._close(connection)

    def _expire(self, now: float) -> None:
        late = [c for c in self._open.values() if c.deadline < now]
        for connection in late:
            self._close(connection)
        if late:
            self.metrics.add("metrics_connections_dropped", len(late), "deadline")

    def _push_out_oldest(self) -> None:
        if self._open:
            self._close(next(iter(self._open.values())))
            self.metrics.add("metrics_connections_dropped", 1, "too_many")

    def _close(self, connection: _Connection) -> None:
        if self._open.pop(connection.sock, None) is not None:
            self._selector.unregister(connection.sock)
        connection.sock.close()


def _drain(sock: socket.socket) -> None:
    """Read what the client sent beyond its request: closing with unread bytes makes the
    kernel reset the connection, and the client may lose the reply it has not read yet."""
    with contextlib.suppress(OSError):
        for _ in range(4):
            if not sock.recv(MAX_REQUEST_BYTES):
                return


def _status_and_body(request: bytes, metrics: Metrics) -> tuple[str, bytes]:
    method, _, rest = request.partition(b" ")
    path = rest.split(b" ", 1)[0]
    if method != b"GET":
        return "405 Method Not Allowed", b""
    if path != b"/metrics":
        return "404 Not Found", b""
    return "200 OK", metrics.prometheus().encode()


def _listen(host: str, port: int) -> socket.socket:
    """A non-blocking listening socket on the first address ``host`` resolves to."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(128)
    except OSError:
        listener.close()
        raise
    listener.setblocking(False)
    return listener
