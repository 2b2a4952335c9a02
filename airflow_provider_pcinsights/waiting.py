"""The one wait core behind every sensor and trigger of the provider.

A wait is a *condition* (what to read about each report, and what the answers
mean) polled until it is met or can never be. A condition reads through a
*reader*: ``read(ids)`` (a batched read of records) and ``call(function, *args)``
(``function(hook, *args)``). The triggers pass the poll hub's reader, which shares
one session and one batched read among every trigger of a connection; the sensors
pass a :class:`HookReader` over a hook of their own, whose reads block and never
suspend, so ``run_now`` runs the same coroutine to its end without an event loop.
Both go through the same :class:`Verdict` and the same tolerance of short outages,
so a sensor gives the same answer in every mode.

The rules are pure functions of what was read. The service documents statuses in
PascalCase but its samples use other casings, so every comparison ignores case.
Its times are read, compared and written with pendulum; it states them to the
second (``yyyy-MM-ddTHH:mm:ssZ``), so ``completed_after`` is compared to the second
too: a file generated in the very second the DAG run started belongs to it.
"""

from __future__ import annotations

import datetime
import itertools
import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import pendulum

from airflow_provider_pcinsights.exceptions import (
    ReportNotFoundError,
    ServiceUnavailableError,
    ThrottledError,
    UnexpectedResponseError,
    UnreadableStatusError,
    with_message,
)

if TYPE_CHECKING:
    from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook
    from airflow_provider_pcinsights.triggers import hub

    # What a condition reads through: the poll hub's reader (triggers) or a HookReader (sensors).
    Reader: TypeAlias = "hub.Reader | HookReader"

T = TypeVar("T")

KNOWN_STATUSES: tuple[str, ...] = ("Paused", "Active", "Inactive")
# Execution statuses the docs name; no ``Failed`` is documented.
EXECUTION_STATUSES: tuple[str, ...] = ("Pending", "Running", "Paused", "Completed")
DEFAULT_FAILURE_STATUSES: tuple[str, ...] = ("Inactive",)
# Statuses in which a report produces no execution: waiting for one could only time out.
NOT_RUNNING_STATUSES: tuple[str, ...] = ("Paused", "Inactive")

# Errors the hook has already retried (5xx, dropped connections, timeouts, 429)
# are tolerated this many polls in a row before a wait gives up: a short outage
# should not end an hours-long wait, a lasting one should not hide behind it.
MAX_CONSECUTIVE_TRANSIENT_ERRORS = 3
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (ServiceUnavailableError, ThrottledError)

# The execution's pre-signed file URL: a credential for that file until it expires. A wait's
# verdict goes into trigger events (stored in Airflow's database) and XCom, so it never carries
# it; DownloadReportOperator reads the execution again by id for a link of its own.
LINK_FIELD = "ReportAccessSecureLink"

_BY_FOLDED = {status.casefold(): status for status in KNOWN_STATUSES}


# -- statuses ---------------------------------------------------------------------------------


def canonical_status(value: Any, *, argument: str = "status") -> str:
    """Return the documented spelling of a status given in any case, or raise ``ValueError``."""
    if not isinstance(value, str) or value.strip().casefold() not in _BY_FOLDED:
        raise ValueError(
            f"{argument} has unknown report status {value!r}; use one of {', '.join(KNOWN_STATUSES)}"
        )
    return _BY_FOLDED[value.strip().casefold()]


def normalize_statuses(value: Any, *, argument: str, allow_empty: bool = False) -> tuple[str, ...]:
    """Turn one status or a list of them into documented spellings, without duplicates, in order."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable) or isinstance(items, Mapping):
        raise ValueError(
            f"{argument} must be one of {', '.join(KNOWN_STATUSES)} or a list of them, got {value!r}"
        )
    statuses = tuple(dict.fromkeys(canonical_status(item, argument=argument) for item in items))
    if not statuses and not allow_empty:
        raise ValueError(f"{argument} is empty; give at least one of {', '.join(KNOWN_STATUSES)}")
    return statuses


def resolve_wait_statuses(target_status: Any, failure_statuses: Any = None) -> tuple[tuple[str, ...], ...]:
    """Validate what a wait looks for: ``(targets, failures)``.

    ``failure_statuses=None`` means ``Inactive`` unless ``Inactive`` is itself a
    target. A status cannot be both: the wait would have no single meaning.
    """
    targets = normalize_statuses(target_status, argument="target_status")
    if failure_statuses is None:
        return targets, tuple(s for s in DEFAULT_FAILURE_STATUSES if s not in targets)
    failures = normalize_statuses(failure_statuses, argument="failure_statuses", allow_empty=True)
    overlap = [s for s in failures if s in targets]
    if overlap:
        raise ValueError(
            f"{', '.join(overlap)} is both a target status and a failure status; "
            "remove it from one of target_status and failure_statuses"
        )
    return targets, failures


def same_status(left: Any, right: Any) -> bool:
    """Compare two statuses the way the service means them: without regard to case."""
    if not isinstance(left, str) or not isinstance(right, str):
        return False
    return left.strip().casefold() == right.strip().casefold()


def is_any(status: Any, candidates: Iterable[str]) -> bool:
    return any(same_status(status, candidate) for candidate in candidates)


def status_of(record: Mapping[str, Any]) -> str | None:
    """The record's ``ReportStatus``, or ``None`` when the service left it out."""
    status = record.get("ReportStatus")
    return status if isinstance(status, str) else None


def refuse_unreadable(statuses: Mapping[str, Any], why: str) -> None:
    """Raise ``UnreadableStatusError`` naming every report whose status is missing or undocumented.

    Nobody can say whether such a report will ever reach a target, so a wait must not go on.
    """
    unreadable = {rid: s for rid, s in statuses.items() if not is_any(s, KNOWN_STATUSES)}
    if unreadable:
        raise UnreadableStatusError(
            f"{why}: "
            + ", ".join(
                f"report {rid} has {'no status' if s is None else f'status {s!r}'}"
                for rid, s in unreadable.items()
            )
            + f"; the docs name {', '.join(KNOWN_STATUSES)}",
            report_id=next(iter(unreadable)),
        )


# -- the service's times ----------------------------------------------------------------------


def parse_completed_after(value: Any, argument: str = "completed_after") -> pendulum.DateTime:
    """A datetime or date (naive means UTC) or an ISO 8601 string, as a UTC time.

    Raises ``ValueError`` naming ``argument`` for anything else.
    """
    moment = value
    if isinstance(value, str):
        try:  # the service and ISO 8601 allow a lower-case "z"; pendulum does not
            moment = pendulum.parse(value.strip().upper(), tz="UTC", exact=True)
        except ValueError:
            moment = None
        if not isinstance(moment, datetime.date):  # nothing, a time of day, or a duration
            raise ValueError(
                f"{argument} {value!r} is not an ISO 8601 date and time "
                "(such as '2026-03-01T06:00:00Z'); give a datetime or an ISO string"
            )
    if isinstance(moment, datetime.datetime):
        return pendulum.instance(moment, tz="UTC").in_timezone("UTC")
    if isinstance(moment, datetime.date):
        return pendulum.datetime(moment.year, moment.month, moment.day)
    raise ValueError(
        f"{argument} must be a datetime or an ISO 8601 string, got {type(value).__name__}: {value!r}"
    )


def service_time(value: Any) -> pendulum.DateTime | None:
    """A time as the service writes it (``2026-03-01T06:00:00Z``, with or without fractions), or ``None``."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_completed_after(value)
    except ValueError:
        return None


def to_service_second(moment: datetime.datetime) -> pendulum.DateTime:
    """``moment`` in UTC without its fraction of a second: the precision of the service's times."""
    return pendulum.instance(moment, tz="UTC").in_timezone("UTC").start_of("second")


def format_time(moment: datetime.datetime) -> str:
    """A time as the service writes it: ``2026-03-01T06:00:00Z``."""
    return to_service_second(moment).to_iso8601_string()


# -- executions -------------------------------------------------------------------------------


def latest_completed(executions: Iterable[Mapping[str, Any]], report_id: str) -> dict[str, Any] | None:
    """The ``Completed`` execution generated last, or ``None``.

    Asked for the latest completed execution, the service should answer one; any
    other execution in the answer is ignored. A completed execution without a
    readable ``ReportGeneratedTime`` cannot be placed in time, so it is an error,
    not a reason to wait forever.
    """
    best: tuple[datetime.datetime, dict[str, Any]] | None = None
    for execution in executions:
        if not same_status(execution.get("ExecutionStatus"), "Completed"):
            continue
        generated = service_time(execution.get("ReportGeneratedTime"))
        if generated is None:
            raise UnexpectedResponseError(
                f"Execution {execution.get('ExecutionId')} of report {report_id} is Completed but its "
                f"ReportGeneratedTime is {execution.get('ReportGeneratedTime')!r}, not a time; cannot tell "
                "whether it is the export being waited for",
                report_id=report_id,
            )
        if best is None or generated > best[0]:
            best = (generated, dict(execution))
    return best[1] if best else None


def without_link(execution: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The execution record without its download link (``None`` stays ``None``)."""
    if execution is None:
        return None
    return {key: value for key, value in execution.items() if key != LINK_FIELD}


# -- verdicts and conditions ------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """Where a wait stands after one look at every report.

    ``value`` is what the wait hands back (the sensor's XCom) on success, and the
    latest observations otherwise, so an error event can still say what was seen.
    """

    state: str  # "success", "failure" or "waiting"
    message: str
    value: dict[str, Any]


def _describe(statuses: Mapping[str, str | None]) -> str:
    return ", ".join(f"{rid} is {status or 'without a status'}" for rid, status in statuses.items())


class HookReader:
    """A reader over a hook of the caller's (a sensor's worker): each read blocks, never suspends."""

    def __init__(self, hook: PartnerCenterInsightsHook) -> None:
        self.hook = hook
        self.account = hook.account  # the program, for messages

    async def read(self, report_ids: list[str]) -> dict[str, dict[str, Any]]:
        return self.hook.get_reports(report_ids)

    async def call(self, function: Callable[..., Any], *args: Any) -> Any:
        return function(self.hook, *args)


def run_now(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (one that reads through a :class:`HookReader`) to its
    end, in the calling thread: a sensor's poll needs no event loop, and may run where one runs."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("run_now: the coroutine suspended; it must only await a HookReader")


class StatusCondition:
    """Every report in one of ``target_statuses``; any in one of ``failure_statuses`` ends the wait.

    Statuses are read in one batched read for every report of a poll (``get_reports``: 50 ids
    a call on cmp v1.1, the account's listing on mpn), never one call each.
    """

    # The key of the trigger event that carries the wait's value, and what is waited for (messages).
    value_key = "statuses"
    waiting_for = "report status"

    def __init__(self, target_statuses: Any, failure_statuses: Any = None) -> None:
        self.targets, self.failures = resolve_wait_statuses(target_statuses, failure_statuses)

    @staticmethod
    async def read(reader: Reader, report_ids: list[str]) -> dict[str, Any]:
        """Each report's status from one batched read; an id it left out is unknown to the account,
        as ``get_report`` would say."""
        records = await reader.read(report_ids)
        for rid in report_ids:
            if rid not in records:
                raise ReportNotFoundError.unknown(rid, reader.account)
        return {rid: status_of(records[rid]) for rid in report_ids}

    def trigger_kwargs(self) -> dict[str, Any]:
        return {"target_statuses": list(self.targets), "failure_statuses": list(self.failures)}

    def judge(self, observations: dict[str, Any]) -> Verdict:
        """A failure status anywhere ends the wait at once, even if other reports are not there
        yet: waiting longer cannot change the outcome. A documented status that is neither a
        target nor a failure means "not yet". A missing or undocumented status raises
        ``UnreadableStatusError``: waiting on it could never end."""
        statuses = dict(observations)
        refuse_unreadable(statuses, "Cannot tell where the wait stands")
        targets = " or ".join(self.targets)
        failed = {rid: s for rid, s in statuses.items() if is_any(s, self.failures)}
        if failed:
            return Verdict(
                "failure",
                f"{_describe(failed)}, a failure status (waiting for {targets}); "
                "it will not reach the target status without being modified",
                statuses,
            )
        waiting = {rid: s for rid, s in statuses.items() if not is_any(s, self.targets)}
        if waiting:
            return Verdict(
                "waiting",
                f"waiting for {len(waiting)} of {len(statuses)} report(s) to be {targets}: "
                f"{_describe(waiting)}",
                statuses,
            )
        return Verdict("success", f"every report is {targets}: {_describe(statuses)}", statuses)


def _latest_executions(hook: PartnerCenterInsightsHook, report_ids: tuple[str, ...]) -> dict[str, Any]:
    """Blocking: each report's latest ``Completed`` execution, ``None`` where none has run yet."""
    return {
        rid: latest_completed(
            hook.get_report_executions(rid, execution_status="Completed", get_latest_execution=True), rid
        )
        for rid in report_ids
    }


class ExecutionCondition:
    """Every report has a ``Completed`` execution generated at or after ``completed_after``.

    Per report and poll: one read of its latest completed execution (executions cannot
    be read in batches); then, only for the reports whose execution is not new enough,
    one batched read of their statuses, since a ``Paused`` or ``Inactive`` report will
    not run and ends the wait at once instead of at its timeout.
    """

    value_key = "executions"
    waiting_for = "report execution"

    def __init__(self, completed_after: datetime.datetime | str) -> None:
        self.completed_after = parse_completed_after(completed_after)
        self.since = to_service_second(self.completed_after)

    async def read(self, reader: Reader, report_ids: list[str]) -> dict[str, Any]:
        """Each report id to ``{"execution": latest completed or None, "status": None if not read}``."""
        executions = await reader.call(_latest_executions, tuple(report_ids))
        waiting = [rid for rid, execution in executions.items() if not self.is_new(execution)]
        statuses = await StatusCondition.read(reader, waiting) if waiting else {}
        return {rid: {"execution": ex, "status": statuses.get(rid)} for rid, ex in executions.items()}

    def trigger_kwargs(self) -> dict[str, Any]:
        return {"completed_after": self.completed_after.isoformat()}

    def is_new(self, execution: Mapping[str, Any] | None) -> bool:
        generated = service_time((execution or {}).get("ReportGeneratedTime"))
        return generated is not None and generated >= self.since

    def judge(self, observations: dict[str, Any]) -> Verdict:
        """A report with a completed execution since ``completed_after`` is done, whatever its
        status now. Otherwise a ``Paused`` or ``Inactive`` report ends the wait at once. The
        value maps each id to its latest completed execution (or ``None``), without its link."""
        since = format_time(self.since)
        value = {rid: without_link(obs.get("execution")) for rid, obs in observations.items()}
        pending = {rid: obs for rid, obs in observations.items() if not self.is_new(obs.get("execution"))}
        refuse_unreadable(
            {rid: obs.get("status") for rid, obs in pending.items()},
            "Cannot tell whether an execution will come",
        )
        stopped = {rid: o for rid, o in pending.items() if is_any(o.get("status"), NOT_RUNNING_STATUSES)}
        if stopped:
            reasons = "; ".join(
                f"{_describe_execution(rid, obs)}, and a {obs['status']} report does not run"
                for rid, obs in stopped.items()
            )
            return Verdict(
                "failure",
                f"no execution after {since} will come: {reasons}. Resume the report "
                "(an Inactive one must be modified first) and wait again",
                value,
            )
        if pending:
            return Verdict(
                "waiting",
                f"waiting for {len(pending)} of {len(observations)} report(s) to complete an execution "
                f"generated at or after {since}: "
                + "; ".join(_describe_execution(rid, obs) for rid, obs in pending.items()),
                value,
            )
        done = ", ".join(
            f"{rid} execution {rec.get('ExecutionId')} generated {rec.get('ReportGeneratedTime')}"
            for rid, rec in value.items()
            if rec is not None
        )
        return Verdict("success", f"every report completed an execution at or after {since}: {done}", value)


# What a wait waits for: how to read each report (``read``), what the answers mean (``judge``, pure),
# built from plain JSON values (``trigger_kwargs``), so a trigger can carry it to the triggerer.
Condition: TypeAlias = "StatusCondition | ExecutionCondition"


def _describe_execution(report_id: str, observation: Mapping[str, Any]) -> str:
    execution = observation.get("execution")
    status = observation.get("status") or "of unknown status"
    if execution is None:
        return f"{report_id} ({status}) has no completed execution yet"
    return (
        f"{report_id} ({status}): its latest completed execution {execution.get('ExecutionId')} "
        f"was generated {execution.get('ReportGeneratedTime')}"
    )


# -- the wait ---------------------------------------------------------------------------------


class Wait:
    """One wait in progress: read, judge, and count transient failures in a row.

    :param condition: what to wait for.
    :param report_ids: the reports, already validated.
    :param log: where tolerated failures are logged (the task's or the trigger's logger).
    """

    def __init__(self, condition: Condition, report_ids: list[str], *, log: logging.Logger | Any) -> None:
        self.condition = condition
        self.report_ids = list(report_ids)
        self.log = log
        self.transient_errors = 0
        self.last_verdict: Verdict | None = None

    async def poll(self, reader: Reader) -> Verdict | None:
        """Read and judge once; ``None`` when a transient failure was tolerated."""
        try:
            observations = await self.condition.read(reader, self.report_ids)
        except TRANSIENT_ERRORS as exc:
            self.transient_errors += 1
            if self.transient_errors >= MAX_CONSECUTIVE_TRANSIENT_ERRORS:
                raise with_message(
                    exc, f"gave up after {self.transient_errors} failed polls in a row: {exc}"
                ) from exc
            self.log.warning(
                "Could not read the reports (%d of %d tolerated in a row): %s",
                self.transient_errors,
                MAX_CONSECUTIVE_TRANSIENT_ERRORS,
                exc,
            )
            return None
        self.transient_errors = 0
        self.last_verdict = self.condition.judge(observations)
        return self.last_verdict


# -- how a wait that ran out of time says so -------------------------------------------------

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def in_words(seconds: float) -> str:
    """A length of time as a person says it: ``10 minutes``, ``1 hour 5 minutes``, ``45 seconds``.

    Two units at most, rounded to the smaller one (a wait of 10 minutes and 0.4 seconds is
    "10 minutes"): the message is for a person reading a task log, not a stopwatch.
    """
    total = max(0, round(seconds))
    for (name, size), (smaller, small) in itertools.pairwise([*_UNITS, ("second", 1)]):
        if total >= size:
            total = round(total / small) * small  # 1 hour 4 minutes 50 seconds is "1 hour 5 minutes"
            count, rest = divmod(total, size)
            words = _plural(count, name)
            return f"{words} {_plural(rest // small, smaller)}" if rest else words
    return "less than a second"


def _plural(count: int, name: str) -> str:
    return f"{count} {name}{'s' * (count != 1)}"


def timed_out_message(waited: float, last: Verdict | None, waiting_for: str) -> str:
    """What a wait that reached its ``timeout`` says: how long it waited, in words, and what it last saw."""
    seen = last.message if last is not None else f"no read of the {waiting_for} succeeded"
    return f"Timed out after waiting {in_words(waited)} (the sensor's timeout) after one last read; {seen}"
