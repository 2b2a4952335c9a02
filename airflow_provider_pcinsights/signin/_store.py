"""Write a refresh token into a connection stored in Airflow's metadata database.

Used by the sign-in helper (``--update``) and by the hook's opt-in write-back of
rotated tokens. Only where the metadata database is reachable: the CLI side of
either Airflow line, and tasks on Airflow 2 (tasks on Airflow 3 have no
database access and the Task SDK cannot write connections).
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_pcinsights.connection_fields import LEGACY_EXTRA_PREFIX

STORED = "stored"
ABSENT = "absent"  # no such row: the connection comes from the environment or a secrets backend
CHANGED = "changed"  # another process stored a different token since ours was read


def store_refresh_token(conn_id: str, refresh_token: str, *, previous: str | None) -> str:
    """Replace the stored refresh token; with ``previous``, only if the row still holds that one.

    Entra does not revoke a refresh token when it hands out the next, so losing
    the race to another process is harmless: its token is as good as ours.
    """
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == conn_id).with_for_update().one_or_none()
        if conn is None:
            return ABSENT
        extra = dict(conn.extra_dejson)
        current = extra.get("refresh_token") or extra.get(f"{LEGACY_EXTRA_PREFIX}refresh_token")
        if previous is not None and current != previous:
            return CHANGED
        for name in ("refresh_token", "auth_type"):
            extra.pop(f"{LEGACY_EXTRA_PREFIX}{name}", None)
        extra["auth_type"] = "refresh_token"
        extra["refresh_token"] = refresh_token
        conn.extra = json.dumps(extra)
    return STORED


def stored_connection_to_update(conn_id: str) -> Any:
    """The connection row ``--update`` will write, checked writable, before anyone signs in.

    A device-code sign-in costs a person a multi-factor prompt; a token minted for a
    connection that cannot be written would be thrown away. So: the row must exist (not
    only an environment variable or a secrets backend), and the database must take a write
    to it (a no-op ``UPDATE``, rolled back: a read-only database or user refuses it).
    ``LookupError`` says which, and what to do instead; the row comes back detached.
    """
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import update
    from sqlalchemy.exc import SQLAlchemyError

    table = Connection.__table__
    try:
        with create_session() as session:
            conn = session.query(Connection).filter(Connection.conn_id == conn_id).one_or_none()
            if conn is None:
                raise LookupError(
                    f"connection {conn_id!r} is not in Airflow's database (it may come from an environment "
                    "variable or a secrets backend), so --update has nothing to write: create it there "
                    "first (airflow connections add), or run without --update to print the connection"
                )
            session.execute(update(table).where(table.c.conn_id == conn_id).values(conn_id=table.c.conn_id))
            session.expunge(conn)
            session.rollback()
    except SQLAlchemyError as err:
        reason = str(getattr(err, "orig", None) or type(err).__name__).splitlines()[0]
        raise LookupError(
            f"connection {conn_id!r} in Airflow's database cannot be written ({reason}); run where "
            "Airflow's database can be written, or without --update to print the connection"
        ) from None
    return conn
