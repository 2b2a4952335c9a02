"""The deferred waits of the report sensors, run by the triggerer.

The triggerer runs every trigger on one event loop, so nothing here may block
it. Every trigger polls through the poll hub (:mod:`.hub`): the triggers of one
connection (and the same ``hook_params``) in a triggerer share one asynchronous
connection look-up, one hook with one pooled HTTP session (built and closed in a
worker thread), and their polls: reads that fall due together are one batched read
in a worker thread, so 1,000 single-report waits cost a few calls a poll interval,
not 1,000. What is read and what it means is the wait core's
(:mod:`airflow_provider_pcinsights.waiting`), shared with the sensors; each trigger
only names its condition.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

import pendulum
from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from airflow_provider_pcinsights.waiting import Condition

try:  # Airflow 3.0 and later: what an AssetWatcher accepts
    from airflow.triggers.base import BaseEventTrigger
except ImportError:  # Airflow 2: no event-driven scheduling
    BaseEventTrigger = None  # type: ignore[assignment,misc]

# What a wait runs on. The triggerer imports this module on its event loop (the class named by
# the trigger's classpath), and, without bytecode files, an import compiles: these are imported in
# a worker thread until they are loaded, never on the loop (see _off_loop_imports).
_WAIT_MODULES = (
    "airflow_provider_pcinsights._loop_threads",
    "airflow_provider_pcinsights.triggers.hub",
    "airflow_provider_pcinsights.waiting",
    "airflow_provider_pcinsights.triggers.exports",
)
# Not the trigger's to turn into an event: its cancellation, the process ending, the generator closing.
_NOT_OURS = (asyncio.CancelledError, KeyboardInterrupt, SystemExit, GeneratorExit)

NEEDS_AIRFLOW_3 = (
    "ReportExportEventTrigger schedules DAGs on a report's exports through an AssetWatcher, which needs "
    "Airflow 3.0 or later (event-driven scheduling); this is Airflow {version}. On Airflow 2 wait for "
    "the export in a DAG instead: ReportExecutionSensor, then DownloadReportOperator"
)


class _ReportWaitTrigger(BaseTrigger):
    """Poll a condition of the wait core until it is met or cannot be; yield exactly one event.

    The event is ``{"status": "success" | "failure" | "timeout" | "not_found" | "error",
    "message": str, <value_key>: {report_id: ...}}``. ``run()`` never raises: a rejected
    credential or anything unexpected becomes an ``error`` event; a report the service no
    longer knows (deleted while waited on) a ``not_found`` one, since asking again cannot
    bring it back. Errors the hook already retried (5xx, 429, timeouts) are tolerated for
    a few polls in a row.

    With a ``deadline`` (an absolute ISO 8601 time: the sensor's ``timeout`` from when
    its wait began), the trigger ends the wait itself: it reads one last time at the
    deadline and, if the condition is still not met, yields a ``timeout`` event that
    says how long it waited and what it last saw. Airflow's own deferral timeout cannot
    make that last read (it fails the task without running the trigger again), and
    ``dag.test()`` does not enforce it at all; the sensor sets it a little later, as a
    backstop for a triggerer that was down at the deadline.

    The trigger keeps no state between runs and sends nothing but reads, so the
    triggerer may start it again at any time, and two copies of it running at once
    (a failover) come to the same verdict.
    """

    # Set by each trigger: the key of its event that carries the wait's value (also on an error,
    # before there is a condition), and its condition class in the wait core (imported off the loop).
    value_key: ClassVar[str]
    condition_class: ClassVar[str]

    def __init__(
        self,
        report_ids: list[str],
        condition_kwargs: dict[str, Any],
        conn_id: str = "pcinsights_default",
        poll_interval: float = 60.0,
        hook_params: dict[str, Any] | None = None,
        deadline: str | None = None,
        waiting_since: str | None = None,
    ) -> None:
        super().__init__()
        self.report_ids = list(report_ids)
        self.condition_kwargs = condition_kwargs
        self.conn_id = conn_id
        self.poll_interval = float(poll_interval)
        self.hook_params = dict(hook_params or {})
        self.deadline = deadline or None
        self.waiting_since = waiting_since or None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs = {"report_ids": list(self.report_ids), **self.condition_kwargs}
        return _serialized(self, kwargs, deadline=self.deadline, waiting_since=self.waiting_since)

    # -- the wait -----------------------------------------------------------------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        latest: dict[str, Any] = {}
        try:
            status, message = await self._wait(latest)
        except _NOT_OURS:
            raise
        except BaseException as exc:  # never raise: the task must learn why the wait ended, and
            # nothing of ours may reach the triggerer's loop (a BaseException from a bug neither)
            status, message = "error", _describe(exc)
            if not isinstance(exc, Exception) or not _expected(exc):
                self.log.error("The wait ended on an unexpected error: %s", message, exc_info=exc)
        yield TriggerEvent({"status": status, "message": message, self.value_key: latest})

    async def _wait(self, latest: dict[str, Any]) -> tuple[str, str]:
        """Poll until the verdict is final: the event's status and message. ``latest`` holds the last
        verdict's value, which every event carries (a success's value, or what was last seen).

        Everything the wait needs is built here from the serialized arguments, and the reader
        is left (also when the trigger is cancelled) before this returns: a trigger run twice,
        or started again by another triggerer, simply reads again.
        """
        await _off_loop_imports()
        from airflow_provider_pcinsights import waiting
        from airflow_provider_pcinsights.exceptions import ReportNotFoundError
        from airflow_provider_pcinsights.report_ids import normalize_report_ids
        from airflow_provider_pcinsights.triggers.hub import poll_hub

        report_ids, _ = normalize_report_ids(self.report_ids)
        condition: Condition = getattr(waiting, self.condition_class)(**self.condition_kwargs)
        deadline = waiting.parse_completed_after(self.deadline, "deadline") if self.deadline else None
        since = waiting.parse_completed_after(self.waiting_since or pendulum.now("UTC"), "waiting_since")
        wait = waiting.Wait(condition, report_ids, log=self.log)
        async with poll_hub().reader(self.conn_id, self.hook_params) as reader:
            while True:
                try:
                    verdict = await wait.poll(reader)
                except ReportNotFoundError as exc:  # deleted while waited on: no poll can bring it back
                    return "not_found", str(exc)
                if verdict is not None:
                    latest.clear()
                    latest.update(verdict.value)
                    if verdict.state != "waiting":
                        return verdict.state, verdict.message
                    self.log.info("Still %s", verdict.message)
                now = pendulum.now("UTC")
                if deadline is not None and now >= deadline:  # that was the last read
                    waited = (now - since).total_seconds()
                    return "timeout", waiting.timed_out_message(
                        waited, wait.last_verdict, condition.waiting_for
                    )
                # Until the next poll: the shared tick of the poll hub, or the deadline if that comes
                # first (a tick may come up to half an interval late; the last read is at the deadline).
                left = None if deadline is None else (deadline - now).total_seconds()
                if left is not None and left < 1.5 * self.poll_interval:
                    await asyncio.sleep(max(0.0, left))
                else:
                    await reader.sleep(self.poll_interval)


class ReportStatusTrigger(_ReportWaitTrigger):
    """The deferred wait of :class:`~airflow_provider_pcinsights.sensors.report.ReportStatusSensor`.

    Polls until every report is in a target status, or one is in a failure status.
    Its event carries ``statuses``: ``{report_id: status}``.
    """

    value_key = "statuses"
    condition_class = "StatusCondition"

    def __init__(
        self, report_ids: list[str], target_statuses: list[str], failure_statuses: list[str], **kwargs: Any
    ) -> None:
        conditions = {"target_statuses": list(target_statuses), "failure_statuses": list(failure_statuses)}
        super().__init__(report_ids, conditions, **kwargs)


class ReportExecutionTrigger(_ReportWaitTrigger):
    """The deferred wait of :class:`~airflow_provider_pcinsights.sensors.report.ReportExecutionSensor`.

    Polls until every report has a ``Completed`` execution generated at or after
    ``completed_after`` (an ISO 8601 string), or one is ``Paused`` or ``Inactive``.
    Its event carries ``executions``: ``{report_id: latest completed execution record}``.
    """

    value_key = "executions"
    condition_class = "ExecutionCondition"

    def __init__(self, report_ids: list[str], completed_after: str, **kwargs: Any) -> None:
        super().__init__(report_ids, {"completed_after": completed_after}, **kwargs)


class ReportExportEventTrigger(BaseEventTrigger or BaseTrigger):  # type: ignore[misc]
    """An event trigger for an ``AssetWatcher``: one event per new ``Completed`` export of a report.

    A DAG scheduled on the Asset then runs once for each export::

        Asset("partner_center_sales", watchers=[AssetWatcher(
            name="sales_exports", trigger=ReportExportEventTrigger(report_id="...", conn_id="..."))])

    Each event's payload (the asset event's ``extra["payload"]``) is ``ReportId``,
    ``ExecutionId`` and ``ReportGeneratedTime``; never the download link.

    Exactly once per export: the watcher's cursor (when it first started, and what it
    announced last) is an Airflow Variable written before each event, so a restart,
    or another triggerer taking over, goes on from there: exports made before the
    watcher first started are not announced, one made while the triggerer was down is
    announced when it is back, none twice. The watchers of one connection poll
    through the poll hub: one read of every watched report's record a poll (shared
    with the status waits), and each report's executions only when its record or
    schedule says an export may have come (:mod:`~airflow_provider_pcinsights.triggers.exports`).
    ``run()`` never ends and never raises: a failed poll is logged and polled again.

    :param catch_up_interval: seconds; if given, the watcher also reads its report's executions
        this often whatever the record says, so an export that neither the schedule nor a change
        of the report explains is announced within that time instead of at the next read they
        call for. Off by default: each such read is one more call per report.

    Airflow 3.0 and later; on Airflow 2 it imports, and creating it says that it needs Airflow 3.
    """

    def __init__(
        self,
        report_id: str,
        conn_id: str = "pcinsights_default",
        poll_interval: float = 60.0,
        hook_params: dict[str, Any] | None = None,
        catch_up_interval: float | None = None,
    ) -> None:
        _require_airflow_3()
        super().__init__()
        self.report_id = report_id
        self.conn_id = conn_id
        self.poll_interval = float(poll_interval)
        self.hook_params = dict(hook_params or {})
        self.catch_up_interval = None if catch_up_interval is None else float(catch_up_interval)
        if self.catch_up_interval is not None and not self.catch_up_interval > 0:
            raise ValueError(
                f"catch_up_interval must be a number of seconds above 0, not {catch_up_interval!r}"
            )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return _serialized(self, {"report_id": self.report_id}, catch_up_interval=self.catch_up_interval)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        _require_airflow_3()
        await _off_loop_imports()
        from airflow_provider_pcinsights.exceptions import ReportNotFoundError
        from airflow_provider_pcinsights.report_ids import validate_report_id
        from airflow_provider_pcinsights.triggers import exports
        from airflow_provider_pcinsights.triggers.exports import (
            ReadPlan,
            cursor_key,
            new_exports,
            newest_generated,
            payload,
        )
        from airflow_provider_pcinsights.triggers.hub import poll_hub
        from airflow_provider_pcinsights.waiting import TRANSIENT_ERRORS

        report_id = validate_report_id(self.report_id)
        store = exports.store
        key = cursor_key(*self.serialize())
        cursor = await store.start(key, self.log, self.poll_interval)
        plan = ReadPlan(
            report_id, watermark=cursor.last or cursor.since, catch_up_seconds=self.catch_up_interval
        )
        async with poll_hub().reader(self.conn_id, self.hook_params) as reader:
            while True:
                try:
                    record = (await reader.read([report_id])).get(report_id)
                    if record is None:
                        raise ReportNotFoundError.unknown(report_id)
                    now = pendulum.now("UTC")
                    if plan.should_read(record, now, reader.read_at()):
                        executions = await reader.call(_completed_executions, report_id)
                        plan.looked(now, newest_generated(executions))
                        for execution in new_exports(executions, cursor):
                            cursor, announce = await store.claim(key, cursor, execution)
                            if announce:
                                self.log.info(
                                    "Report %s exported execution %s, generated %s",
                                    report_id,
                                    execution.get("ExecutionId"),
                                    execution.get("ReportGeneratedTime"),
                                )
                                yield TriggerEvent(payload(execution, report_id))
                except TRANSIENT_ERRORS as exc:
                    self.log.warning("Could not poll report %s, polling again: %s", report_id, exc)
                except Exception as exc:  # an event trigger that ends stops the watch: log, keep polling
                    self.log.error("Could not poll report %s: %s: %s", report_id, type(exc).__name__, exc)
                await reader.sleep(self.poll_interval)


def _serialized(trigger: Any, kwargs: dict[str, Any], **when_set: Any) -> tuple[str, dict[str, Any]]:
    """A trigger's classpath and kwargs, with its connection's. The ``when_set`` ones are left out
    when unset, so a trigger that does not use them serializes as it did before they existed (an
    export watcher's cursor Variable is named after its kwargs, and must stay the one it had)."""
    connection = {"conn_id": trigger.conn_id, "poll_interval": trigger.poll_interval}
    optional = {name: value for name, value in when_set.items() if value}
    return (
        f"{type(trigger).__module__}.{type(trigger).__qualname__}",
        {**kwargs, **connection, "hook_params": dict(trigger.hook_params), **optional},
    )


def _completed_executions(hook: Any, report_id: str) -> list[dict[str, Any]]:
    """Blocking: every ``Completed`` execution of the report (not only the latest: two may have come)."""
    return hook.get_report_executions(report_id, execution_status="Completed", get_latest_execution=False)


def _require_airflow_3() -> None:
    if BaseEventTrigger is None:
        from airflow import __version__

        raise RuntimeError(NEEDS_AIRFLOW_3.format(version=__version__))


async def _off_loop_imports() -> None:
    """Import what the waits run on in a worker thread until it is loaded.

    A plain executor thread: importing sends nothing to Airflow. Triggers that start while the
    first import runs import in threads of their own too, so they wait on Python's import lock
    in those threads, never on the loop; once loaded, each import is a look-up in ``sys.modules``.
    """
    if not all(name in sys.modules for name in _WAIT_MODULES):
        await asyncio.get_running_loop().run_in_executor(None, _import_all)


def _import_all() -> None:
    """Import the wait modules, after moving the heap that exists now out of the collector's way.

    The first import in a triggerer's runner allocates enough objects to set off a full garbage
    collection, which would run in this thread over the whole heap with the GIL held: it stopped
    the loop for 0.15-0.35 s in every run on a 2-core machine (a gc callback named this thread),
    and Airflow's watchdog logged "async thread was blocked". ``gc.freeze()`` puts what is alive
    now (Airflow's modules and the triggerer's long-lived state) in the permanent generation,
    as Airflow's own dag-processor and LocalExecutor do, so later collections scan only what is
    new. It runs once per process, before the first wait module loads.
    """
    gc.freeze()
    for name in _WAIT_MODULES:
        importlib.import_module(name)


def _describe(error: BaseException) -> str:
    """``Type: message`` of an error, even one whose message cannot be made."""
    try:
        return f"{type(error).__name__}: {error}"
    except Exception:
        return f"{type(error).__name__} (its message could not be read)"


def _expected(error: Exception) -> bool:
    """An error the provider raises on purpose (the service's answer, a bad argument): its message says
    it all. Anything else is a bug or an environment problem and is logged with its traceback."""
    from airflow_provider_pcinsights.exceptions import PartnerCenterInsightsError

    return isinstance(error, (PartnerCenterInsightsError, ValueError))
