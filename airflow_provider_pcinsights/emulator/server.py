"""HTTPS transport: a threading HTTP server whose every connection is TLS, handled off the accept loop.

The TLS handshake runs in the connection's own thread, so a client that
connects and says nothing cannot stall other clients. Open connections are
tracked and cut on ``stop()``: with HTTP keep-alive, a stopped emulator must
not go on answering on connections it accepted earlier. They are also counted
(``ConnectionStats``), and each request carries the number of the connection
it came on, so a test can tell how many connections a client held.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .messages import Request, Response

IDLE_CONNECTION_TIMEOUT = 30.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pcinsights-emulator/1.0"
    sys_version = ""
    timeout = IDLE_CONNECTION_TIMEOUT
    # Headers and body leave in separate writes; without TCP_NODELAY each answer waits for a delayed ACK.
    disable_nagle_algorithm = True
    server: EmulatorHTTPServer

    def setup(self) -> None:
        self.request = self.server.ssl_context.wrap_socket(self.request, server_side=True)
        self.connection_number = self.server.track(self.request)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.request)
            with contextlib.suppress(OSError):
                self.request.close()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is the record; stderr chatter would only hide test output."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            base_url=self.server.base_url,
            client_address=self.client_address[0],
            connection=self.connection_number,
        )
        try:
            response = self.server.router(request)
        except Exception as error:  # the emulator's own bug: answer 500 rather than hang the client
            response = Response.json(
                500, {"statusCode": 500, "message": f"emulator error: {type(error).__name__}"}
            )
        if response.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        body, declared = response.body, len(response.body)
        if response.keep is not None:  # cut short: a proxy that gave up, or a connection that broke
            body = body[: int(len(body) * response.keep)]
            declared = declared if response.cut_close else len(body)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(declared))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.close or response.cut_close or self.server.stopping.is_set():
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if response.trickle_seconds > 0:
            self._trickle(body, response.trickle_seconds)
        else:
            self.wfile.write(body)
        if response.cut_close:
            with contextlib.suppress(OSError):
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)

    def _trickle(self, body: bytes, seconds: float) -> None:
        """One byte at a time, spread over ``seconds``; stops when the client goes or the server stops."""
        pause = seconds / max(len(body), 1)
        for index in range(len(body)):
            try:
                self.wfile.write(body[index : index + 1])
                self.wfile.flush()
            except OSError:  # the client gave up: what the fault is for
                self.close_connection = True
                return
            if self.server.stopping.wait(pause):
                self.close_connection = True
                return


class ConnectionStats:
    """TLS connections the emulator accepted, how many are open, and the most open at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._numbered = 0  # never reset, so connection numbers stay unique
        self.accepted = 0
        self.open = 0
        self.peak_open = 0

    def opened(self) -> int:
        """Count one connection; its number (from 1, since the emulator started)."""
        with self._lock:
            self._numbered += 1
            self.accepted += 1
            self.open += 1
            self.peak_open = max(self.peak_open, self.open)
            return self._numbered

    def closed(self, count: int = 1) -> None:
        with self._lock:
            self.open -= count

    def reset(self) -> None:
        """Count afresh: ``accepted`` from 0 and ``peak_open`` from the connections open now."""
        with self._lock:
            self.accepted = 0
            self.peak_open = self.open

    def to_dict(self) -> dict[str, int]:
        with self._lock:
            return {"accepted": self.accepted, "open": self.open, "peak_open": self.peak_open}


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        ssl_context: ssl.SSLContext,
        router: Callable[[Request], Response],
        stopping: threading.Event,
        stats: ConnectionStats | None = None,
    ) -> None:
        super().__init__(address, _Handler)
        self.ssl_context = ssl_context
        self.router = router
        self.stopping = stopping
        self.stats = stats or ConnectionStats()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.base_url = f"https://{address[0]}:{self.server_address[1]}"  # the port bound, if 0 was asked

    def track(self, connection: socket.socket) -> int:
        """Count and remember an accepted connection; its number."""
        with self._connections_lock:
            self._connections.add(connection)
        return self.stats.opened()

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            if connection not in self._connections:
                return
            self._connections.discard(connection)
        self.stats.closed()

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        self.stats.closed(len(connections))
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                connection.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that vanish mid-call or fail the handshake are normal in fault tests; stay quiet."""


def make_ssl_context(cert_chain_path: str, key_path: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_chain_path, key_path)
    return context
