"""What a watcher of a report's exports decides (which executions are new, when to look), and where
it keeps what it announced.

Rules behind :class:`~airflow_provider_pcinsights.triggers.report.ReportExportEventTrigger`.

**Which executions are new.** A watcher keeps a cursor (:class:`ExportCursor`)
where it survives a restart (see the trigger): ``since``, when the watcher first
started (nothing generated before it is announced), and the last announced
export (its generation time, to the second, and the ids generated in that very
second). An execution is new when it is ``Completed``, generated at or after
``since``, and after the cursor: later than its second, or in that second under an
id not yet announced. New ones are announced oldest first, each moving the cursor.

**When to read executions.** A report's executions cannot be read in batches (one
call per report), but its record can (the poll hub reads every watched report of a
connection in one call, the same read the status waits make). The service makes
an export when a run falls due on the report's schedule (``StartTime`` plus a
multiple of ``RecurrenceInterval`` hours, ``RecurrenceCount`` times), or when the
report is changed (created with ``ExecuteNow``, resumed, modified: its
``ReportStatus`` or ``ModifiedTime`` moves). So a watcher reads the executions
only when the record says one may have come (:class:`ReadPlan`):

- on its first poll (after a start or a restart: whatever completed meanwhile), and
  on, if the record changed or a run fell due after the last export it announced;
- from the moment a run fell due, or the record changed, until an export generated
  after that moment is seen (a run takes a while; it is read every poll until then);
- and, only if the watcher asks for it (``catch_up_interval``), once every that many
  seconds in any case, at a moment of its own. Without it, a run the record and the
  schedule do not explain is announced at the next read they do explain (the next
  scheduled run or change of the report): late, never lost. Off by default, so that
  watching a report costs no more calls than waiting on its status.

Reading is the only thing this saves: what is announced always comes from the
executions compared with the cursor, so a look skipped can delay an export, never
lose or repeat one.

**Where the cursor lives.** A trigger's arguments are fixed when the DAG is parsed,
and the triggerer keeps nothing of a trigger across a restart, so the cursor lives
in Airflow's own store: a Variable (:class:`CursorStore`). On Airflow 3 a trigger
reaches it only through its supervisor, whose messages include getting and putting
a Variable; the Task SDK's ``Variable.get`` / ``Variable.set`` send them. They are
blocking calls, so they run through ``run_blocking`` (asgiref's ``sync_to_async``).
Tests swap the store (the module's ``store``) for a :class:`MemoryStore`; the real one is checked
under Airflow's triggerer by ``scripts/export_events_e2e.py``.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pendulum

from airflow_provider_pcinsights._loop_threads import run_blocking
from airflow_provider_pcinsights.waiting import (
    format_time,
    is_any,
    same_status,
    service_time,
    to_service_second,
)

# What an event carries of an execution: never its link (a credential) or location.
PAYLOAD_FIELDS = ("ReportId", "ExecutionId", "ReportGeneratedTime")
# Record fields whose change may mean a run was started or rescheduled.
_RECORD_FIELDS = ("ReportStatus", "ModifiedTime", "StartTime", "RecurrenceInterval", "RecurrenceCount")
# Statuses in which a report runs nothing: no need to look while it stays so.
_IDLE_STATUSES = ("Paused",)


@dataclass
class ExportCursor:
    """Where a watcher stands: announced nothing generated before ``since``, nor at or before ``last``."""

    since: datetime.datetime
    last: datetime.datetime | None = None
    last_ids: list[str] = field(default_factory=list)  # announced ids generated in ``last``'s second

    def is_new(self, execution: Mapping[str, Any]) -> bool:
        generated = _generated(execution)
        if generated is None or generated < self.since:
            return False
        if self.last is None or generated > self.last:
            return True
        return generated == self.last and _folded(execution) not in {i.casefold() for i in self.last_ids}

    def advanced(self, execution: Mapping[str, Any]) -> ExportCursor:
        """The cursor once ``execution`` (new) is announced."""
        generated = _generated(execution)
        assert generated is not None
        ids = list(self.last_ids) if generated == self.last else []
        return ExportCursor(self.since, generated, [*ids, str(execution.get("ExecutionId"))])

    def merged(self, other: ExportCursor) -> ExportCursor:
        """What either cursor has announced (another run of the same trigger may have moved on)."""
        last = max((c.last for c in (self, other) if c.last is not None), default=None)
        ids = [i for c in (self, other) if c.last == last for i in c.last_ids]
        return ExportCursor(other.since, last, list(dict.fromkeys(ids)))

    def to_json(self) -> str:
        return json.dumps(
            {
                "since": format_time(self.since),
                "last": format_time(self.last) if self.last else None,
                "last_ids": self.last_ids,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ExportCursor:
        """A stored cursor; ``ValueError`` if it is not one (the trigger then says so and starts afresh)."""
        try:
            data = json.loads(text)
            since = service_time(data["since"])
            last = service_time(data["last"]) if data.get("last") else None
            ids = [str(i) for i in data.get("last_ids") or []]
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            raise ValueError(f"not an export cursor: {exc}") from None
        if since is None:
            raise ValueError("not an export cursor: no 'since' time")
        return cls(since, last, ids)


def new_exports(executions: Iterable[Mapping[str, Any]], cursor: ExportCursor) -> list[dict[str, Any]]:
    """The ``Completed`` executions not announced yet, oldest first (one per id)."""
    found: dict[str, dict[str, Any]] = {}
    for execution in executions:
        if same_status(execution.get("ExecutionStatus"), "Completed") and cursor.is_new(execution):
            found.setdefault(_folded(execution), dict(execution))
    return sorted(found.values(), key=lambda e: (_generated(e), _folded(e)))


def payload(execution: Mapping[str, Any], report_id: str) -> dict[str, Any]:
    """An event's payload (an asset event's ``extra``): which export, never its link."""
    out = {name: execution.get(name) for name in PAYLOAD_FIELDS}
    out["ReportId"] = out["ReportId"] or report_id
    return out


def cursor_key(classpath: str, kwargs: Mapping[str, Any]) -> str:
    """The Variable that holds a watcher's cursor: one per trigger as Airflow tells triggers apart
    (class and arguments), stable across processes (Python's ``hash`` is not)."""
    text = json.dumps([classpath, dict(kwargs)], sort_keys=True, default=str)
    return f"pcinsights_export_cursor_{hashlib.sha256(text.encode()).hexdigest()[:24]}"


def last_due(record: Mapping[str, Any], now: datetime.datetime) -> datetime.datetime | None:
    """The latest moment at or before ``now`` a run of the report fell due on its schedule, if any."""
    start = service_time(record.get("StartTime"))
    try:
        hours = float(record.get("RecurrenceInterval") or 0)
        count = int(record.get("RecurrenceCount") or 0)
    except (TypeError, ValueError):
        return None
    if start is None or now < start:
        return None
    if hours <= 0:
        return start
    runs = int((now - start).total_seconds() // (hours * 3600))
    if count > 0:
        runs = min(runs, count - 1)
    return start + datetime.timedelta(hours=hours * runs)


class ReadPlan:
    """When a watcher reads its report's executions (see the module's notes). One per trigger run."""

    def __init__(
        self,
        report_id: str,
        watermark: datetime.datetime | None = None,
        catch_up_seconds: float | None = None,
    ) -> None:
        self.catch_up_seconds = catch_up_seconds  # None: no read the record does not call for
        # Each watcher's catch-up read falls at a moment of its own, so 1,000 do not read together.
        self._phase = (zlib.crc32(report_id.casefold().encode()) % 1000) / 1000 * (catch_up_seconds or 0)
        self._seen: tuple[Any, ...] | None = None  # the record's telling fields at the last poll
        self._seen_at: datetime.datetime | None = None  # when the record was last read
        self._looked_at: datetime.datetime | None = None  # when the executions were last read
        self.expecting: datetime.datetime | None = None  # an export generated at or after this may come
        self.watermark = watermark  # the cursor's last export (or its start): what came before is known

    def should_read(
        self, record: Mapping[str, Any], now: datetime.datetime, read_at: datetime.datetime | None = None
    ) -> bool:
        """Whether this poll reads the executions, given the report's record just read.

        ``read_at``: a moment the record is no older than (when its read was sent; ``now`` if not
        given). A change the next record shows happened after it, so its export is generated at or
        after it: a later moment (such as ``now``, once the answer came back) could miss a change
        made while the answer was on its way, and wait for an export that has already come.
        """
        seen = tuple(str(record.get(name)) for name in _RECORD_FIELDS)
        seen_before, self._seen_at = self._seen_at, read_at or now
        if self._looked_at is None:
            # The first poll reads anyway; a change or a due run since the cursor's watermark (a resume
            # just before a start, a run due while the triggerer was down) may still be exporting.
            self._seen = seen
            for moment in (service_time(record.get("ModifiedTime")), last_due(record, now)):
                if moment is not None and self.watermark is not None and moment >= self.watermark:
                    self._expect(moment)
            return True
        if seen != self._seen:  # changed since the poll before: a run it started began after that
            self._seen = seen
            self._expect(seen_before or now)
        due = last_due(record, now)
        if due is not None and due > self._looked_at:
            self._expect(due)
        if is_any(record.get("ReportStatus"), _IDLE_STATUSES):
            return False
        if self.expecting is not None:
            return True
        if self.catch_up_seconds is None:
            return False
        # Due from the first moment after the last look that is ``phase`` past a multiple of the period.
        period = self.catch_up_seconds
        last = self._looked_at.timestamp() - self._phase
        return now.timestamp() >= (last // period + 1) * period + self._phase

    def looked(self, now: datetime.datetime, newest: datetime.datetime | None) -> None:
        """The executions were read at ``now``; ``newest``: the latest completed generation time seen."""
        self._looked_at = now
        if self.expecting is not None and newest is not None and newest >= to_service_second(self.expecting):
            self.expecting = None

    def _expect(self, moment: datetime.datetime) -> None:
        if self.expecting is None or moment < self.expecting:
            self.expecting = moment


def newest_generated(executions: Iterable[Mapping[str, Any]]) -> datetime.datetime | None:
    completed = (e for e in executions if same_status(e.get("ExecutionStatus"), "Completed"))
    return max((t for e in completed if (t := _generated(e)) is not None), default=None)


def _generated(execution: Mapping[str, Any]) -> datetime.datetime | None:
    moment = service_time(execution.get("ReportGeneratedTime"))
    return to_service_second(moment) if moment else None


def _folded(execution: Mapping[str, Any]) -> str:
    return str(execution.get("ExecutionId")).casefold()


# -- where the cursor lives ------------------------------------------------------------------

DESCRIPTION = (
    "Written by airflow-provider-pcinsights' ReportExportEventTrigger: the exports it has announced. "
    "Delete it only to start the watcher afresh (exports made before that are then not announced)."
)


class CursorStore:
    """Where watchers keep their cursors: Airflow Variables, through the Task SDK (the triggerer's
    supervisor). ``get`` and ``put`` are the storage; the rest is what a watcher does with it."""

    async def get(self, key: str) -> str | None:
        return await run_blocking(_get_variable, key)

    async def put(self, key: str, value: str) -> None:
        """Write, then read back: the Task SDK's ``Variable.set`` logs a refused write and returns
        (3.0 to 3.3), and an event must not go out unless its cursor is stored."""
        await run_blocking(_set_variable, key, value)
        if await self.get(key) != value:
            raise RuntimeError(f"Airflow did not store Variable {key}; the export is announced once it does")

    async def load(self, key: str) -> ExportCursor | None:
        text = await self.get(key)
        return None if text is None else ExportCursor.from_json(text)

    async def start(self, key: str, log: Any, retry_seconds: float) -> ExportCursor:
        """The stored cursor, or a new one written now: this moment is when the watcher first started.
        Tried until it succeeds: without the cursor nothing can be announced exactly once."""
        while True:
            try:
                cursor = await self.load(key)
                if cursor is None:
                    cursor = ExportCursor(since=to_service_second(pendulum.now("UTC")))
                    await self.put(key, cursor.to_json())
                    log.info(
                        "Watching for exports generated from %s on (cursor in Variable %s)", cursor.since, key
                    )
                return cursor
            except Exception as exc:
                log.error("Could not read or write Variable %s, trying again: %s", key, exc)
                await asyncio.sleep(retry_seconds)

    async def claim(
        self, key: str, cursor: ExportCursor, execution: Mapping[str, Any]
    ) -> tuple[ExportCursor, bool]:
        """Record ``execution`` as announced, unless another run of this trigger already did.

        The stored cursor is read again first: a copy of this trigger in another triggerer
        (a failover) that announced it has moved it. The new cursor is written before the
        event is yielded: a crash after the write loses that one event rather than repeating it.
        """
        stored = await self.load(key)
        if stored is not None:
            cursor = cursor.merged(stored)
        if not cursor.is_new(execution):
            return cursor, False
        advanced = cursor.advanced(execution)
        await self.put(key, advanced.to_json())
        return advanced, True


class MemoryStore(CursorStore):
    """A store in this process (tests; two triggers given one act as two triggerers sharing a database)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        return self.values.get(key)

    async def put(self, key: str, value: str) -> None:
        self.values[key] = value


# Where the watchers keep their cursors; tests and the benchmark put a MemoryStore here.
store: CursorStore = CursorStore()


def _get_variable(key: str) -> str | None:
    from airflow.sdk import Variable

    value = Variable.get(key, default=None)
    return None if value is None else str(value)


def _set_variable(key: str, value: str) -> None:
    from airflow.sdk import Variable

    Variable.set(key, value, description=DESCRIPTION)
