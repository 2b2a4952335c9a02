"""A forward proxy on loopback that refuses tunnels, for testing how clients report it.

A corporate proxy that will not let a client through answers ``CONNECT`` with
``403 Forbidden``, or just closes the connection. Retrying cannot mend that, so
a client should fail at once and name the proxy setting. This listener plays
both. It tunnels only to the loopback targets it is told to ``allow`` (so a
test can let the sign-in through and refuse the API, or the reverse), and
never connects anywhere else.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterable
from types import TracebackType

_REFUSALS = {
    "forbid": b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 37\r\n"
    b"Connection: close\r\n\r\nTunnel refused by the proxy's policy.",
    "close": b"",
}


class RefusingProxy:
    """``with RefusingProxy(how="forbid") as proxy:`` then use ``proxy.url`` as the https proxy.

    :param how: ``"forbid"`` answers ``403 Forbidden`` to a refused ``CONNECT``; ``"close"``
        closes the connection without a word.
    :param allow: ``"127.0.0.1:PORT"`` targets to tunnel to; loopback addresses only
        (``ValueError`` otherwise). Every other target is refused.

    ``requests`` holds the request lines received (``"CONNECT host:443 HTTP/1.1"``), so a
    test can check what was asked for, and how often.
    """

    def __init__(self, how: str = "forbid", allow: Iterable[str] = ()) -> None:
        if how not in _REFUSALS:
            raise ValueError(f"how must be one of {', '.join(_REFUSALS)}, got {how!r}")
        self.how = how
        self.allow = {_loopback_target(target) for target in allow}
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()

    @property
    def url(self) -> str:
        if self._listener is None:
            raise RuntimeError("the proxy has not been started")
        host, port = self._listener.getsockname()[:2]
        return f"http://{host}:{port}"

    def refused(self) -> list[str]:
        """The ``CONNECT`` lines it refused, in order."""
        with self._lock:
            return [line for line in self.requests if _target_of(line) not in self.allow]

    def start(self) -> RefusingProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        self._listener = listener
        self._spawn(self._serve, listener)
        return self

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            still_open = list(self._open)
        for sock in still_open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def __enter__(self) -> RefusingProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name="pcinsights-proxy", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # stopped
                return
            self._spawn(self._handle, client)

    def _handle(self, client: socket.socket) -> None:
        self._track(client)
        head = b""
        with contextlib.suppress(OSError):
            client.settimeout(5)
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = client.recv(4096)
                if not chunk:
                    break
                head += chunk
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        with self._lock:
            self.requests.append(line)
        target = _target_of(line)
        if target not in self.allow:
            with contextlib.suppress(OSError):
                client.sendall(_REFUSALS[self.how])
            self._close(client)
            return
        host, port = target.rsplit(":", 1)
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
        except OSError:
            with contextlib.suppress(OSError):
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            self._close(client)
            return
        self._track(upstream)
        client.settimeout(None)
        upstream.settimeout(None)
        with contextlib.suppress(OSError):
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self._spawn(_pipe, upstream, client, self._close)
        _pipe(client, upstream, self._close)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


def _pipe(source: socket.socket, sink: socket.socket, close: Callable[[socket.socket], None]) -> None:
    """Copy bytes one way until either side goes; then close both."""
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    close(source)
    close(sink)


def _target_of(request_line: str) -> str:
    parts = request_line.split()
    return parts[1].lower() if len(parts) >= 2 and parts[0].upper() == "CONNECT" else ""


def _loopback_target(target: str) -> str:
    host, _, port = target.rpartition(":")
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host.lower() == "localhost"
    if not loopback or not port.isdigit():
        raise ValueError(f"allow takes loopback HOST:PORT targets only, got {target!r}")
    return target.lower()
