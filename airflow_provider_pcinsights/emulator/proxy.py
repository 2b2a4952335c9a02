"""A forward proxy on loopback that refuses every tunnel, for testing how clients report it.

A corporate proxy that will not let a client through answers ``CONNECT`` with
``403 Forbidden`` (or ``407``), or just closes the connection. Retrying cannot
mend that, so a client should fail at once and name the proxy setting. This
listener plays both and never connects anywhere itself.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

_ANSWERS = {
    "forbid": b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 37\r\n"
    b"Connection: close\r\n\r\nTunnel refused by the proxy's policy.",
    "close": b"",
}


class RefusingProxy:
    """``with RefusingProxy(how="forbid") as proxy:`` then use ``proxy.url`` as the https proxy.

    :param how: ``"forbid"`` answers ``403 Forbidden`` to ``CONNECT``; ``"close"`` closes the
        connection without a word.

    ``requests`` holds the request lines it received (``"CONNECT host:443 HTTP/1.1"``), so a
    test can check what was asked for and how often.
    """

    def __init__(self, how: str = "forbid") -> None:
        if how not in _ANSWERS:
            raise ValueError(f"how must be one of {', '.join(_ANSWERS)}, got {how!r}")
        self.how = how
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._listener is None:
            raise RuntimeError("the proxy has not been started")
        host, port = self._listener.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> RefusingProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        self._listener = listener
        self._thread = threading.Thread(target=self._serve, name="pcinsights-refusing-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> RefusingProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _serve(self) -> None:
        listener = self._listener
        while listener is not None:
            try:
                client, _ = listener.accept()
            except OSError:  # stopped
                return
            with client:
                client.settimeout(5)
                head = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in head and len(head) < 65536:
                        chunk = client.recv(4096)
                        if not chunk:
                            break
                        head += chunk
                with self._lock:
                    self.requests.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
                with contextlib.suppress(OSError):
                    client.sendall(_ANSWERS[self.how])
