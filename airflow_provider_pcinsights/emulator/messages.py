"""Transport-neutral request and response values passed between the server and the handlers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    base_url: str  # "https://127.0.0.1:PORT"
    client_address: str = "127.0.0.1"
    connection: int | None = None  # the number of the TLS connection it came on (ConnectionStats)

    def param(self, name: str) -> str | None:
        """A query parameter, matching its name without regard to case as ASP.NET does."""
        lowered = name.lower()
        for key, values in self.query.items():
            if key.lower() == lowered and values:
                return values[-1]
        return None

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))

    def flat_query(self) -> dict[str, str]:
        return {key: values[-1] for key, values in self.query.items() if values}


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    close: bool = False  # answer, then close the connection
    trickle_seconds: float = 0.0  # send the body one byte at a time, spread over this long
    keep: float | None = None  # send only this share of the body (see ``cut_close``)
    cut_close: bool = False  # with ``keep``: declare the whole length, then close after the part
    # What the request log should say about this call (never a secret).
    log: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None, **log: Any) -> Response:
        return cls(status, json.dumps(payload).encode("utf-8"), headers=dict(headers or {}), log=log)

    @classmethod
    def dropped(cls, **log: Any) -> Response:
        return cls(0, drop=True, log=log)
