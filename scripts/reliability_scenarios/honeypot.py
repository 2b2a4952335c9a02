"""Another host, on loopback: it records every request that reaches it and answers a plausible envelope.

Bad answers point the provider here (a ``nextLink`` to another host, a redirect
from the API or from the token endpoint). It is reachable and its certificate is
valid for ``localhost`` (the emulator's own, from the same CA), so nothing but
the provider's own refusal keeps a request, and the token or the client's secret
in it, from arriving. What arrives is counted; the answer is an envelope a
careless client would take as the service's.
"""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Arrival:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        head = "\n".join(f"{name}: {value}" for name, value in self.headers.items())
        return f"{self.method} {self.path}\n{head}\n\n{self.body.decode('utf-8', 'replace')}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Honeypot

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: arrivals are the record."""

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        self.server.record(Arrival(self.command, self.path, dict(self.headers.items()), body))
        answer = json.dumps(
            {"value": [{"reportId": "honeypot", "reportStatus": "Active"}], "totalCount": 1}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_PUT = do_DELETE = _record


class Honeypot(ThreadingHTTPServer):
    """``with Honeypot(cert_chain, key) as pot: pot.url; pot.arrivals``."""

    daemon_threads = True

    def __init__(self, cert_chain_path: str, key_path: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_chain_path, key_path)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """On ``localhost``: another host than the emulator's ``127.0.0.1``, with a valid certificate."""
        return f"https://localhost:{self.server_address[1]}"

    def record(self, arrival: Arrival) -> None:
        with self._lock:
            self._arrivals.append(arrival)

    @property
    def arrivals(self) -> list[Arrival]:
        with self._lock:
            return list(self._arrivals)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gives up mid-handshake is no news here."""

    def __enter__(self) -> Honeypot:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
