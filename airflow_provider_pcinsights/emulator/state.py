"""The emulator's data: report schedules, their executions, queries and datasets, per program.

Seeded data is deterministic (ids are uuid5 of a fixed namespace, the program
and an index; times are fixed), so tests and demos can name reports without
asking for them first. Every read hands out copies: callers can never change
the store behind its lock.
"""

from __future__ import annotations

import copy
import datetime
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runs import RunTimes

PROGRAMS: dict[str, tuple[str, ...]] = {"mpn": ("v1",), "cmp": ("v1", "v1.1")}
STATUSES = ("Active", "Paused", "Inactive")
NAMESPACE = uuid.UUID("6f1c5a2e-8f0b-4c1a-9d5e-2b7c3a9e4d10")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_SEED_EPOCH = datetime.datetime(2025, 1, 6, 8, 0, 0, tzinfo=datetime.timezone.utc)
_REPORT_KINDS = ("Daily usage", "Weekly orders", "Monthly revenue", "Customer licenses")
_INTERVALS = {"Daily usage": 24, "Weekly orders": 168, "Monthly revenue": 720, "Customer licenses": 24}

_SYSTEM_QUERIES: dict[str, list[tuple[str, str, str]]] = {
    # program: [(name, dataset, query text)]
    "mpn": [
        ("Customers", "Customer", "SELECT CustomerTenantId,CustomerName,CustomerMarket FROM Customer"),
        ("Licenses", "License", "SELECT CustomerTenantId,ProductName,LicensesActive FROM License"),
        ("Usage", "Usage", "SELECT CustomerTenantId,ProductName,ActiveUsers FROM Usage TIMESPAN LAST_MONTH"),
    ],
    "cmp": [
        ("ISVOrder", "ISVOrder", "SELECT OrderId,OfferName,OrderStatus FROM ISVOrder TIMESPAN LAST_MONTH"),
        (
            "ISVUsage",
            "ISVUsage",
            "SELECT CustomerId,OfferName,NormalizedUsage FROM ISVUsage TIMESPAN LAST_MONTH",
        ),
        ("ISVCustomer", "ISVCustomer", "SELECT CustomerId,CustomerName,CustomerCountry FROM ISVCustomer"),
    ],
}


def format_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime(TIME_FORMAT)


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def seeded_report_id(program: str, index: int) -> str:
    """The id of the ``index``-th seeded report of ``program`` (0-based), identical in every run."""
    return str(uuid.uuid5(NAMESPACE, f"{program}:report:{index}"))


def system_query_id(program: str, name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{program}:query:{name}"))


@dataclass
class ScheduledStatusChange:
    """Set a report's status once it has been read ``reads`` times (counted in ``counted``)."""

    status: str
    reads: int
    counted: int = 0


class ProgramStore:
    """Reports, executions, queries and datasets of one program (both versions share it)."""

    def __init__(self, program: str, reports: int) -> None:
        self.program = program
        self.reports: dict[str, dict[str, Any]] = {}
        self.executions: dict[str, list[dict[str, Any]]] = {}
        self.queries: dict[str, dict[str, Any]] = {}
        self.datasets: list[dict[str, Any]] = []
        self.reads: dict[str, int] = {}  # report id -> reads answered (see EmulatorState.count_reads)
        self.status_changes: dict[str, deque[ScheduledStatusChange]] = {}  # report id -> queued, in order
        # Runs not completed yet: execution id -> when the run started on the emulated clock, or None
        # while it waits for its schedule (the emulator plays no recurrence: such a run stays Pending).
        self.runs: dict[str, datetime.datetime | None] = {}
        self._seed_queries()
        for index in range(reports):
            self._seed_report(index)

    def _seed_queries(self) -> None:
        for name, dataset, text in _SYSTEM_QUERIES[self.program]:
            query_id = system_query_id(self.program, name)
            self.queries[query_id] = {
                "QueryId": query_id,
                "Name": name,
                "Description": f"System query over the {dataset} dataset",
                "Query": text,
                "Type": "system",
                "User": "",
                "CreatedTime": format_time(_SEED_EPOCH - datetime.timedelta(days=365)),
                "ModifiedTime": None,
            }
            self.datasets.append(
                {
                    "DatasetName": dataset,
                    "SelectableColumns": [
                        c.strip() for c in text.split("SELECT ")[1].split(" FROM")[0].split(",")
                    ],
                    "AvailableMetrics": [],
                    "AvailableDateRanges": ["LAST_MONTH", "LAST_3_MONTHS", "LAST_6_MONTHS", "LAST_1_YEAR"],
                    "MinimumRecurrenceInterval": 4,
                }
            )

    def _seed_report(self, index: int) -> None:
        kind = _REPORT_KINDS[index % len(_REPORT_KINDS)]
        query = list(self.queries.values())[index % len(self.queries)]
        report_id = seeded_report_id(self.program, index)
        created = _SEED_EPOCH + datetime.timedelta(hours=index)
        record = {
            "ReportId": report_id,
            "ReportName": f"{kind} {index + 1}",
            "Description": f"{kind} for finance, schedule {index + 1}",
            "QueryId": query["QueryId"],
            "Query": query["Query"],
            "User": "reports@contoso.example",
            "CreatedTime": format_time(created),
            "ModifiedTime": None,  # never modified since it was created (the service says null)
            "ExecuteNow": False,
            "StartTime": format_time(created + datetime.timedelta(hours=6)),
            "ReportStatus": "Active",
            "RecurrenceInterval": _INTERVALS[kind],
            "RecurrenceCount": 100,
            "CallbackUrl": f"https://contoso.example/hooks/reports/{index + 1}",
            "CallbackMethod": "POST",
            "Format": "CSV",
        }
        if self.program == "cmp":
            record["QueryStartTime"] = None
            record["QueryEndTime"] = None
        self.reports[report_id] = record
        # Every other report has run twice (the latest run's expiry not set: the service may say null);
        # the rest have never completed a run. Every report has its next run pending.
        self.executions[report_id] = []
        runs = 2 if index % 2 == 0 else 0
        for run in range(runs):
            generated = created + datetime.timedelta(hours=6 + 24 * run)
            self._seed_execution(record, run, generated, expires=run < runs - 1)
        self._seed_execution(record, runs, None, status="Pending")

    def _seed_execution(
        self,
        record: dict[str, Any],
        run: int,
        generated: datetime.datetime | None,
        *,
        status: str = "Completed",
        expires: bool = True,
    ) -> dict[str, Any]:
        """A run of ``record``; one that is not ``Completed`` has no file yet: null link and times.

        Where a completed run's file lives (``ReportLocation``, ``ReportAccessSecureLink``) is
        filled in when it is answered, on the emulator's file host (``files.FileHost``).
        """
        execution_id = str(uuid.uuid5(NAMESPACE, f"{self.program}:execution:{record['ReportId']}:{run}"))
        file_made = generated if status == "Completed" else None  # a pending run has no file yet
        execution = {
            "ExecutionId": execution_id,
            "ReportId": record["ReportId"],
            "RecurrenceInterval": record["RecurrenceInterval"],
            "RecurrenceCount": record["RecurrenceCount"],
            "CallbackUrl": record["CallbackUrl"],
            "CallbackMethod": record["CallbackMethod"],
            "Format": record["Format"],
            "ExecutionStatus": status,
            "ReportLocation": None,
            "ReportAccessSecureLink": None,
            "ReportExpiryTime": (
                format_time(file_made + datetime.timedelta(days=60)) if file_made and expires else None
            ),
            "ReportGeneratedTime": format_time(file_made) if file_made else None,
        }
        self.executions[record["ReportId"]].append(execution)
        if status != "Completed":
            self.runs[execution_id] = None
        return execution

    def open_runs(self, report_id: str) -> list[dict[str, Any]]:
        """The report's executions that have not completed, oldest first (the stored records)."""
        return [e for e in self.executions.get(report_id, []) if e["ExecutionId"] in self.runs]


class EmulatorState:
    """Every program's store under one lock; methods return copies."""

    def __init__(self, reports: int = 3) -> None:
        self.lock = threading.RLock()
        self._reports_per_program = reports
        self.programs: dict[str, ProgramStore] = {}
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.programs = {p: ProgramStore(p, self._reports_per_program) for p in PROGRAMS}

    def store(self, program: str) -> ProgramStore:
        if program not in self.programs:
            raise KeyError(f"unknown program {program!r}; known: {', '.join(PROGRAMS)}")
        return self.programs[program]

    # -- reads ------------------------------------------------------------
    def report_ids(self, program: str) -> list[str]:
        with self.lock:
            return list(self.store(program).reports)

    def reports(self, program: str) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self.store(program).reports.values()))

    def report(self, program: str, report_id: str) -> dict[str, Any]:
        with self.lock:
            try:
                return copy.deepcopy(self.store(program).reports[report_id])
            except KeyError:
                raise KeyError(f"no {program} report with id {report_id!r}") from None

    def find_report(self, program: str, report_id: str) -> dict[str, Any] | None:
        with self.lock:
            record = self.store(program).reports.get(report_id)
            return copy.deepcopy(record) if record else None

    # -- writes -----------------------------------------------------------
    def set_report_status(self, program: str, report_id: str, status: str) -> dict[str, Any]:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        with self.lock:
            store = self.store(program)
            if report_id not in store.reports:
                raise KeyError(f"no {program} report with id {report_id!r}")
            record = store.reports[report_id]
            record["ReportStatus"] = status
            record["ModifiedTime"] = format_time(utc_now())
            return copy.deepcopy(record)

    def add_report(self, program: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Store a report with realistic defaults for every field not given."""
        with self.lock:
            store = self.store(program)
            now = utc_now()
            query = next(iter(store.queries.values()))
            report_id = str(fields.get("ReportId") or uuid.uuid4())
            if report_id in store.reports:
                raise ValueError(f"a {program} report with id {report_id!r} already exists")
            record: dict[str, Any] = {
                "ReportId": report_id,
                "ReportName": f"Report {len(store.reports) + 1}",
                "Description": "",
                "QueryId": query["QueryId"],
                "Query": query["Query"],
                "User": "reports@contoso.example",
                "CreatedTime": format_time(now),
                "ModifiedTime": None,
                "ExecuteNow": False,
                "StartTime": format_time(now + datetime.timedelta(hours=5)),
                "ReportStatus": "Active",
                "RecurrenceInterval": 24,
                "RecurrenceCount": 10,
                "CallbackUrl": None,
                "CallbackMethod": None,
                "Format": "CSV",
            }
            if program == "cmp":
                record["QueryStartTime"] = None
                record["QueryEndTime"] = None
            record.update(fields)
            record["ReportId"] = report_id
            if record["ReportStatus"] not in STATUSES:
                raise ValueError(f"ReportStatus must be one of {', '.join(STATUSES)}")
            if record["QueryId"] in store.queries and "Query" not in fields:
                record["Query"] = store.queries[record["QueryId"]]["Query"]
            store.reports[report_id] = record
            store.executions[report_id] = []
            return copy.deepcopy(record)

    def update_report(self, program: str, report_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            record = self.store(program).reports[report_id]
            record.update(fields)
            record["ModifiedTime"] = format_time(utc_now())
            return copy.deepcopy(record)

    def delete_report(self, program: str, report_id: str) -> dict[str, Any]:
        with self.lock:
            store = self.store(program)
            for execution in store.open_runs(report_id):
                store.runs.pop(execution["ExecutionId"], None)
            store.executions.pop(report_id, None)
            store.status_changes.pop(report_id, None)  # nothing left to change
            return store.reports.pop(report_id)

    # -- reads of reports and the status changes they trigger -------------
    def change_status_after_reads(self, program: str, report_id: str, status: str, reads: int = 1) -> None:
        """Queue a change: once the report has been read ``reads`` more times, set its status.

        Changes of one report are applied one after the other, in the order queued: the first
        counts reads from now, each later one from the read that applied the one before it.
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        if isinstance(reads, bool) or not isinstance(reads, int) or reads < 1:
            raise ValueError(f"reads must be a positive integer, got {reads!r}")
        with self.lock:
            store = self.store(program)
            if report_id not in store.reports:
                raise KeyError(f"no {program} report with id {report_id!r}")
            store.status_changes.setdefault(report_id, deque()).append(ScheduledStatusChange(status, reads))

    def count_reads(self, program: str, report_ids: list[str]) -> dict[str, str]:
        """Count one read of each report (an answer that included it) and apply the changes due.

        Call it under ``lock``, right after building the answer, so that the answer shows the
        status before the change and the next read the status after it. Returns the changes
        applied, as report id -> new status.
        """
        applied: dict[str, str] = {}
        with self.lock:
            store = self.store(program)
            for report_id in report_ids:
                store.reads[report_id] = store.reads.get(report_id, 0) + 1
                queue = store.status_changes.get(report_id)
                if not queue:
                    continue
                change = queue[0]
                change.counted += 1
                if change.counted >= change.reads:
                    queue.popleft()
                    if not queue:
                        del store.status_changes[report_id]
                    self.set_report_status(program, report_id, change.status)
                    applied[report_id] = change.status
        return applied

    def reads(self, program: str, report_id: str) -> int:
        """How many answers included this report since the start (or the last reset)."""
        with self.lock:
            store = self.store(program)
            if report_id not in store.reports and report_id not in store.reads:
                raise KeyError(f"no {program} report with id {report_id!r}")
            return store.reads.get(report_id, 0)

    def scheduled_status_changes(self) -> list[dict[str, Any]]:
        """Changes not applied yet, in the order each report will get them."""
        with self.lock:
            return [
                {
                    "program": program,
                    "report_id": report_id,
                    "status": change.status,
                    "reads": change.reads,
                    "reads_left": change.reads - change.counted,
                }
                for program, store in self.programs.items()
                for report_id, queue in store.status_changes.items()
                for change in queue
            ]

    def add_execution(
        self, program: str, report_id: str, now: datetime.datetime | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Record a run of a report (tests use it to make executions appear).

        A ``Completed`` run (the default) generated ``now``, with its file; a ``Pending`` or
        ``Running`` one with null location, link and times, as the service answers them.
        """
        with self.lock:
            store = self.store(program)
            record = store.reports[report_id]
            run = len(store.executions[report_id])
            status = fields.get("ExecutionStatus", "Completed")
            execution = store._seed_execution(record, run, now or utc_now(), status=status)
            execution.update(fields)
            return copy.deepcopy(execution)

    # -- runs on the emulated clock ----------------------------------------
    def start_run(self, program: str, report_id: str, now: datetime.datetime) -> dict[str, Any]:
        """Start the report's next run at ``now`` (a resume, ``ExecuteNow``): ``Pending`` from now on.

        The run waiting for its schedule starts, or a new one if none is waiting; a run that was
        under way starts again.
        """
        with self.lock:
            store = self.store(program)
            record = store.reports[report_id]
            waiting = store.open_runs(report_id)
            if waiting:
                execution = waiting[0]
            else:
                execution = store._seed_execution(
                    record, len(store.executions[report_id]), None, status="Pending"
                )
            execution["ExecutionStatus"] = "Pending"
            store.runs[execution["ExecutionId"]] = now
            return copy.deepcopy(execution)

    def advance_runs(self, program: str, report_id: str, now: datetime.datetime, times: RunTimes) -> None:
        """Bring the report's runs to where they stand at ``now``.

        A started run is ``Pending``, then ``Running``, then ``Completed`` (generated at the
        moment it completed, when the next run is put in line, waiting for its schedule). A
        ``Paused`` report's runs say ``Paused`` and wait: only a resume starts them again.
        """
        with self.lock:
            store = self.store(program)
            record = store.reports.get(report_id)
            if record is None:
                return
            for execution in store.open_runs(report_id):
                execution_id = execution["ExecutionId"]
                started = store.runs[execution_id]
                if record["ReportStatus"] == "Paused":
                    execution["ExecutionStatus"] = "Paused"
                    store.runs[execution_id] = None
                    continue
                if started is None:
                    execution["ExecutionStatus"] = "Pending"
                    continue
                elapsed = (now - started).total_seconds()
                if elapsed < times.pending_seconds:
                    execution["ExecutionStatus"] = "Pending"
                elif elapsed < times.pending_seconds + times.running_seconds:
                    execution["ExecutionStatus"] = "Running"
                else:
                    done = started + datetime.timedelta(seconds=times.pending_seconds + times.running_seconds)
                    execution["ExecutionStatus"] = "Completed"
                    execution["ReportGeneratedTime"] = format_time(done)
                    del store.runs[execution_id]
                    store._seed_execution(record, len(store.executions[report_id]), None, status="Pending")

    def find_execution(self, program: str, report_id: str, execution_id: str) -> dict[str, Any] | None:
        with self.lock:
            for execution in self.store(program).executions.get(report_id, []):
                if execution["ExecutionId"].lower() == execution_id.lower():
                    return copy.deepcopy(execution)
            return None

    def executions(self, program: str, report_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.store(program).executions.get(report_id, []))

    def queries(self, program: str) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self.store(program).queries.values()))

    def datasets(self, program: str) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.store(program).datasets)
