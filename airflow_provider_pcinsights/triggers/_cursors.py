"""Where an export watcher's cursor lives: an Airflow Variable, read and written through the triggerer.

A trigger's arguments are fixed when the DAG is parsed, and the triggerer keeps
nothing of a trigger across a restart, so what a watcher has announced must live
in Airflow's own store. On Airflow 3 a trigger reaches it only through its
supervisor, whose messages include getting and putting a Variable (3.0 onwards);
the Task SDK's ``Variable.get`` / ``Variable.set`` send them. They are blocking
calls, so they run through asgiref's ``sync_to_async``: on 3.0 and 3.1 the comms'
synchronous send hands its message back to the triggerer's loop with
``async_to_sync``, which only works from a thread ``sync_to_async`` made.

Tests swap the store for one in memory (``use_store``); the real one is checked
under Airflow's triggerer by ``scripts/export_events_e2e.py``.
"""

from __future__ import annotations

from typing import Protocol

from airflow_provider_pcinsights._loop_threads import run_blocking

DESCRIPTION = (
    "Written by airflow-provider-pcinsights' ReportExportEventTrigger: the exports it has announced. "
    "Delete it only to start the watcher afresh (exports made before that are then not announced)."
)


class CursorStore(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def put(self, key: str, value: str) -> None: ...


class VariableStore:
    """Airflow Variables, through the Task SDK (the triggerer's supervisor)."""

    async def get(self, key: str) -> str | None:
        return await run_blocking(_get_variable, key)

    async def put(self, key: str, value: str) -> None:
        """Write, then read back: the Task SDK's ``Variable.set`` logs a refused write and returns
        (3.0 to 3.3), and an event must not go out unless its cursor is stored."""
        await run_blocking(_set_variable, key, value)
        if await self.get(key) != value:
            raise RuntimeError(f"Airflow did not store Variable {key}; the export is announced once it does")


class MemoryStore:
    """A store in this process (tests; two triggers given one act as two triggerers sharing a database)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.writes = 0

    async def get(self, key: str) -> str | None:
        return self.values.get(key)

    async def put(self, key: str, value: str) -> None:
        self.writes += 1
        self.values[key] = value


_store: CursorStore = VariableStore()


def cursor_store() -> CursorStore:
    return _store


def use_store(store: CursorStore | None) -> CursorStore:
    """Use ``store`` (``None``: Airflow's Variables again); returns the one it replaced."""
    global _store
    old, _store = _store, store or VariableStore()
    return old


def _get_variable(key: str) -> str | None:
    from airflow.sdk import Variable

    value = Variable.get(key, default=None)
    return None if value is None else str(value)


def _set_variable(key: str, value: str) -> None:
    from airflow.sdk import Variable

    Variable.set(key, value, description=DESCRIPTION)
