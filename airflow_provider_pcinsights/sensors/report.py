"""Wait until scheduled reports reach a status, or complete their next export.

Both sensors only say what to wait for; the reading, the verdict and the
tolerance of short outages are the wait core's
(:mod:`airflow_provider_pcinsights.waiting`), which the triggers use too, so
poke, reschedule and deferrable mode give the same answer. The hook, imported
when a task runs, owns every HTTP call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

import pendulum
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_pcinsights.exceptions import (
    PartnerCenterInsightsError,
    ReportNotFoundError,
    ReportStatusFailedError,
)
from airflow_provider_pcinsights.report_ids import normalize_report_ids
from airflow_provider_pcinsights.waiting import (
    Condition,
    ExecutionCondition,
    HookReader,
    StatusCondition,
    Wait,
    run_now,
    timed_out_message,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.triggers.base import BaseTrigger


class ReportNotFoundWhileWaitingError(ReportNotFoundError, AirflowFailException):
    """A report waited on is unknown to the service (HTTP 404, or left out of its listing): deleted
    while waited on, or never there. It is an ``AirflowFailException`` too: no retry can bring the
    report back, so the task fails at once instead of retrying into the same answer."""


# How much later than the sensor's timeout Airflow's own deferral timeout falls: the trigger ends
# the wait at the deadline itself, with one last read; Airflow's is only the backstop for a
# triggerer that was down then (and the worker makes the last read in that case).
DEFERRAL_GRACE_SECONDS = 300.0

# Airflow's own timeout message gives the run duration in seconds (both lines word it so).
_RUN_DURATION = re.compile(r"run duration of ([0-9.]+) seconds")


def _gone(message: str) -> str:
    return f"{message} (gone while waited on, or never there; waiting longer cannot bring it back)"


class _ReportWaitSensor(BaseSensorOperator):
    """Poke, reschedule or defer on a condition of the wait core; each concrete sensor names it.

    A failure verdict raises ``ReportStatusFailedError`` (an ``AirflowFailException``:
    asking again cannot change it), and so does a report the service no longer knows
    (``ReportNotFoundWhileWaitingError``). Errors the hook already retried (5xx, 429,
    timeouts) are tolerated for a few pokes in a row within one process (each
    reschedule starts afresh).

    ``timeout`` ends the wait the same way in every mode: after one last read, with
    ``AirflowSensorTimeout`` (or a skip with ``soft_fail``) whose message says how long
    the wait lasted, in words, and what the last read saw. In poke and reschedule mode
    that read is the poke after which Airflow finds the time up; in deferrable mode the
    trigger knows the deadline and makes it.
    """

    template_fields: Sequence[str] = ("report_id", "conn_id")
    ui_color = "#e8f0d9"

    # Set by each sensor: what it waits for, and the name of its trigger in triggers.report.
    condition_class: ClassVar[type[Condition]]
    trigger_class: ClassVar[str]

    def __init__(
        self,
        *,
        report_id: str | list[str],
        conn_id: str = "pcinsights_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | timedelta | None = None,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.report_id = report_id
        self.conn_id = conn_id
        self.deferrable = deferrable
        interval = self.poke_interval if poll_interval is None else poll_interval
        if isinstance(interval, timedelta):
            interval = interval.total_seconds()
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval < 0:
            raise ValueError(f"poll_interval must be a non-negative number of seconds, got {interval!r}")
        self.poll_interval = float(interval)
        self.hook_params = dict(hook_params or {})
        self._wait: Wait | None = None

    # -- what each sensor decides -----------------------------------------------------

    @property
    def waiting_for(self) -> str:
        return self.condition_class.waiting_for

    def _condition(self, context: Context) -> Condition:
        raise NotImplementedError

    def _result(self, value: dict[str, Any]) -> Any:
        """What the task returns (and pushes to XCom) once the wait succeeded."""
        return value

    # -- poke and reschedule ------------------------------------------------------------

    def poke(self, context: Context) -> PokeReturnValue | bool:
        # One wait per process, so transient failures are counted across pokes.
        if self._wait is None:
            self._wait = self._new_wait(context)
        return self._look(self._wait) or False

    def _new_wait(self, context: Context) -> Wait:
        return Wait(self._condition(context), normalize_report_ids(self.report_id)[0], log=self.log)

    def _look(self, wait: Wait) -> PokeReturnValue | None:
        """Poll once with a hook of this task's; the wait's value once met, ``None`` while not yet.

        A failure verdict raises, and so does a report the service no longer knows.
        """
        # Imported here so DAG files that name the sensor never load requests or msal.
        from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

        hook = PartnerCenterInsightsHook(conn_id=self.conn_id, **self.hook_params)
        try:
            verdict = run_now(wait.poll(HookReader(hook)))
        except ReportNotFoundError as exc:
            raise ReportNotFoundWhileWaitingError(
                _gone(str(exc)),
                status_code=exc.status_code,
                api_message=exc.api_message,
                report_id=exc.report_id,
            ) from exc
        finally:
            hook.close()
        if verdict is not None and verdict.state != "waiting":
            value = self._ended(verdict.state, verdict.message, verdict.value)
            return PokeReturnValue(is_done=True, xcom_value=value)
        if verdict is not None:
            self.log.info("Still %s", verdict.message)
        return None

    def _ended(self, status: Any, message: str, value: dict[str, Any]) -> Any:
        """The task's result for a wait that ended in success, or the error it ended in: the same
        for a verdict read in the worker and for the trigger's event."""
        if status == "success":
            self.log.info("Done: %s", message)
            return self._result(dict(value))
        if status == "failure":
            raise ReportStatusFailedError(message)
        if status == "timeout":
            self._time_out(message)
        if status == "not_found":
            raise ReportNotFoundWhileWaitingError(_gone(message))
        raise PartnerCenterInsightsError(f"Waiting for the {self.waiting_for} failed: {message}")

    # -- deferrable ---------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            try:
                return super().execute(context)
            except (AirflowSensorTimeout, AirflowSkipException) as exc:
                # Airflow's measure of how long the wait lasted, and the last poke's verdict (that
                # poke was the last read). A skip that does not say it is not the timeout's.
                found = _RUN_DURATION.search(str(exc))
                if found is None and isinstance(exc, AirflowSkipException):
                    raise
                last = self._wait.last_verdict if self._wait is not None else None
                waited = float(found.group(1)) if found else float(self.timeout)
                self._time_out(timed_out_message(waited, last, self.waiting_for), exc)
        wait = self._new_wait(context)
        outcome = self._look(wait)
        if outcome is not None:
            return outcome.xcom_value  # already there: no need to occupy the triggerer
        from airflow_provider_pcinsights.triggers import report as triggers

        since = pendulum.now("UTC")
        trigger: BaseTrigger = getattr(triggers, self.trigger_class)(
            report_ids=wait.report_ids,
            **wait.condition.trigger_kwargs(),
            conn_id=self.conn_id,
            poll_interval=self.poll_interval,
            hook_params=self.hook_params,
            deadline=since.add(seconds=self.timeout).isoformat(),
            waiting_since=since.isoformat(),
        )
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + DEFERRAL_GRACE_SECONDS),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: its single event says how the wait ended."""
        if not event:
            raise AirflowException(f"The {self.waiting_for} trigger ended without an event")
        value = event.get(self.condition_class.value_key) or {}
        message = event.get("message") or "no message"
        return self._ended(event.get("status"), message, value)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Airflow's deferral timeout (the backstop, past the trigger's deadline) gets one last read here.

        Airflow fails a deferred task whose trigger outlived its timeout without running the
        trigger again; a triggerer that was down at the deadline leaves it to that. The worker
        then reads once more itself, so an export that came in the meantime is not lost.
        """
        error = str((next_kwargs or {}).get("error", ""))
        if next_method != "__fail__" or "timeout" not in error.lower():
            return super().resume_execution(next_method, next_kwargs, context)
        wait = self._new_wait(context)
        outcome = self._look(wait)
        if outcome is not None:
            return outcome.xcom_value
        self._time_out(
            timed_out_message(self.timeout + DEFERRAL_GRACE_SECONDS, wait.last_verdict, self.waiting_for)
        )

    def _time_out(self, message: str, cause: BaseException | None = None) -> NoReturn:
        """End a wait that ran out of time, the same way in every mode (a skip with ``soft_fail``)."""
        self.log.error("%s", message)
        if self.soft_fail:
            raise AirflowSkipException(message) from cause
        raise AirflowSensorTimeout(message) from cause


class ReportStatusSensor(_ReportWaitSensor):
    """Succeed when every report is in a target status; fail at once on a failure status.

    Works in ``poke``, ``reschedule`` and deferrable mode; every mode returns
    (and pushes to XCom) the same ``{report_id: status}`` mapping.

    A report in a failure status fails the task with ``ReportStatusFailedError`` (an
    ``AirflowFailException``), without retries: the status will not change by asking
    again (``Inactive`` means the recurrences are used up), so retrying would only hide
    the cause.

    :param report_id: one report id or a list (templated).
    :param target_status: one status or a list: ``Paused``, ``Active``, ``Inactive`` (any case).
    :param failure_statuses: statuses that fail at once; default ``Inactive``
        unless it is a target.
    :param conn_id: the ``pcinsights`` connection (templated).
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poll_interval: seconds between polls in deferrable mode; defaults to ``poke_interval``.
    :param hook_params: keyword arguments for the hook, such as ``retries`` (plain JSON values:
        the trigger carries them to the triggerer).
    """

    condition_class = StatusCondition
    trigger_class = "ReportStatusTrigger"

    def __init__(
        self,
        *,
        report_id: str | list[str],
        target_status: str | Sequence[str] = "Active",
        failure_statuses: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(report_id=report_id, **kwargs)
        # Statuses are not templated, so a typo fails when the DAG is parsed, not hours later.
        self._status_condition = StatusCondition(target_status, failure_statuses)

    def _condition(self, context: Context) -> Condition:
        return self._status_condition


class ReportExecutionSensor(_ReportWaitSensor):
    """Wait until each report has completed an execution (an export) since ``completed_after``.

    Returns (and pushes to XCom) the execution record, or a list of them, in order,
    for a list of ids, without its ``ReportAccessSecureLink``: the link is a credential
    for the file, and XCom and trigger events are stored in Airflow's database. Give the
    ``ExecutionId`` to :class:`~airflow_provider_pcinsights.operators.report.DownloadReportOperator`,
    which reads the execution again for a link of its own.

    An execution counts when it is ``Completed`` and its ``ReportGeneratedTime`` is at or
    after ``completed_after`` (to the second, the service's precision).

    A report that is ``Paused`` or ``Inactive`` while waited on will not run, so the
    task fails at once with ``ReportStatusFailedError`` (an ``AirflowFailException``:
    not retried), saying so, rather than at its timeout.

    :param report_id: one report id or a list (templated).
    :param completed_after: a datetime (naive is UTC) or an ISO 8601 string (templated);
        default: when the DAG run started.
    :param conn_id: the ``pcinsights`` connection (templated).
    :param poll_interval: seconds between polls in deferrable mode; defaults to ``poke_interval``.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param hook_params: keyword arguments for the hook (plain JSON values).
    """

    template_fields: Sequence[str] = ("report_id", "completed_after", "conn_id")
    condition_class = ExecutionCondition
    trigger_class = "ReportExecutionTrigger"

    def __init__(
        self,
        *,
        report_id: str | list[str],
        completed_after: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(report_id=report_id, **kwargs)
        self.completed_after = completed_after

    def _condition(self, context: Context) -> Condition:
        if self.completed_after is not None and self.completed_after != "":
            return ExecutionCondition(self.completed_after)
        dag_run = context.get("dag_run") if context else None
        started = getattr(dag_run, "start_date", None)
        if started is None:
            raise ValueError(
                "completed_after is not set and there is no DAG run start to default to; "
                "give completed_after (a datetime or an ISO 8601 string)"
            )
        return ExecutionCondition(started)

    def _result(self, value: dict[str, Any]) -> Any:
        report_ids, single = normalize_report_ids(self.report_id)
        records = [value.get(rid) for rid in report_ids]
        return records[0] if single else records
