"""Opt-in: store each refresh token Entra rotates back into the connection it came from.

Only where that is safe: a connection row in Airflow's metadata database, written
by a task of Airflow 2 (whose tasks reach the database), replacing exactly the
token this process read (another process may have stored a newer one; Entra
does not revoke a token when it hands out the next, so either is fine). Airflow
3's tasks cannot write connections at all, and a connection from an
environment variable or a secrets backend is not the provider's to change: in
those cases the newest token stays in memory, as without the option, and the
sign-in helper renews the stored one.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

log = logging.getLogger(__name__)

_WARNED: set[tuple[str, str]] = set()
_WARNED_LOCK = threading.Lock()


def airflow_tasks_can_write_connections() -> bool:
    return int(version("apache-airflow").split(".")[0]) < 3


def warn_once(conn_id: str, reason: str, message: str, *args: object) -> None:
    with _WARNED_LOCK:
        if (conn_id, reason) in _WARNED:
            return
        _WARNED.add((conn_id, reason))
    log.warning(message, *args)


@dataclass(frozen=True)
class StoreRotatedRefreshToken:
    """A token source listener; equal for one connection, so many hooks register it once."""

    conn_id: str
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def __call__(self, new: str, previous: str | None) -> None:
        from airflow_provider_pcinsights.signin._store import ABSENT, CHANGED, store_refresh_token

        with self._lock:
            outcome = store_refresh_token(self.conn_id, new, previous=previous)
        if outcome == ABSENT:
            warn_once(
                self.conn_id,
                "absent",
                "Connection %r is not in Airflow's database (an environment variable or a secrets backend "
                "holds it), so the rotated refresh token cannot be stored there; it is kept in memory. "
                "Renew the stored one before 90 days pass without use: "
                "python -m airflow_provider_pcinsights.signin --conn-id %s",
                self.conn_id,
                self.conn_id,
            )
        elif outcome == CHANGED:
            log.info("Connection %r already holds a newer refresh token; left as it is", self.conn_id)
        else:
            log.info("Stored the rotated refresh token in connection %r", self.conn_id)


def register_write_back(source: Any, conn_id: str) -> None:
    """Store the tokens ``source`` rotates into ``conn_id``, where this Airflow line allows it."""
    if not airflow_tasks_can_write_connections():
        warn_once(
            conn_id,
            "airflow3",
            "store_rotated_refresh_token is ignored for connection %r: Airflow 3 tasks cannot write "
            "connections. The newest refresh token is kept in memory; renew the stored one with "
            "python -m airflow_provider_pcinsights.signin --conn-id %s --update where Airflow's "
            "database is reachable",
            conn_id,
            conn_id,
        )
        return
    source.on_refresh_token(StoreRotatedRefreshToken(conn_id))
