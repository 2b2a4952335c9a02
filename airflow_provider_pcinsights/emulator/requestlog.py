"""The record of every call the emulator answered, so tests can assert what was sent.

Nothing secret is ever stored: no header, no body, no token; only where the
call went, who made it, and what it did.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    """One call, as the emulator saw and answered it."""

    seq: int
    kind: str  # "api", "token", "discovery" or "file"
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    status: int | None = None  # None when the connection was dropped without an answer
    monotonic: float = 0.0
    wall_time: float = 0.0
    client_id: str | None = None
    grant_type: str | None = None
    program: str | None = None
    report_id: str | None = None
    # The report's status as the call answered it: after the call for one that changes it (PUT),
    # before any change the call triggered (see ``status_changes``) for a read.
    report_status: str | None = None
    fault: str | None = None
    # Changes queued with ``change_status_after_reads`` that this read triggered, applied right after
    # answering it: report id -> the status set. None when it triggered none.
    status_changes: dict[str, str] | None = None
    # File host calls (kind "file"): the execution whose file was asked for, and whether the request
    # carried an Authorization header (it never should: the link is its own credential).
    execution_id: str | None = None
    authorization: bool | None = None
    # The number of the TLS connection the call came on (1, 2, ... since the emulator started).
    connection: int | None = None

    @property
    def status_code(self) -> int | None:
        """Alias of ``status``, for readers used to ``requests``' naming."""
        return self.status

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """Thread-safe, ordered log; mirrored as JSON lines to ``path`` when it is set, so that
    another process (the project's scripts, with ``--request-log``) can read it as it grows."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self.path: Path | None = None

    def add(self, **fields: Any) -> RequestRecord:
        with self._lock:
            record = RequestRecord(
                seq=len(self._records) + 1, monotonic=time.monotonic(), wall_time=time.time(), **fields
            )
            self._records.append(record)
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record.to_dict(), sort_keys=True) + "\n")
            return record

    def records(self, *, include_discovery: bool = False) -> list[RequestRecord]:
        with self._lock:
            if include_discovery:
                return list(self._records)
            return [r for r in self._records if r.kind != "discovery"]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
