"""Wait until scheduled reports reach a status.

The sensor only asks for statuses and judges them (with the shared rules of
:mod:`airflow_provider_pcinsights.report_status`, which the trigger uses too);
the hook, imported when a task runs, owns every HTTP call.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_pcinsights.exceptions import (
    PartnerCenterInsightsError,
    ReportStatusFailedError,
    ServiceUnavailableError,
    ThrottledError,
)
from airflow_provider_pcinsights.report_ids import normalize_report_ids
from airflow_provider_pcinsights.report_status import (
    MAX_CONSECUTIVE_TRANSIENT_ERRORS,
    WaitVerdict,
    evaluate,
    resolve_wait_statuses,
    status_of,
)

if TYPE_CHECKING:
    from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

    try:
        from airflow.sdk.definitions.context import Context
    except ImportError:  # Airflow 2
        from airflow.utils.context import Context

_TRANSIENT = (ServiceUnavailableError, ThrottledError)


class ReportStatusSensor(BaseSensorOperator):
    """Succeed when every report is in a target status; fail at once on a failure status.

    Works in ``poke``, ``reschedule`` and deferrable mode; every mode returns
    (and pushes to XCom) the same ``{report_id: status}`` mapping.

    A report in a failure status fails the task with ``ReportStatusFailedError`` (an
    ``AirflowFailException``),
    without retries: the status will not change by asking again (``Inactive``
    means the recurrences are used up), so retrying would only hide the cause.
    Errors the hook already retried (5xx, 429, timeouts) are tolerated for
    ``MAX_CONSECUTIVE_TRANSIENT_ERRORS`` pokes in a row within one process
    (each reschedule starts afresh); ``timeout`` bounds the wait in every mode.

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

    template_fields: Sequence[str] = ("report_id", "conn_id")
    ui_color = "#e8f0d9"

    def __init__(
        self,
        *,
        report_id: str | list[str],
        target_status: str | Sequence[str] = "Active",
        failure_statuses: Sequence[str] | None = None,
        conn_id: str = "pcinsights_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | timedelta | None = None,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.report_id = report_id
        self.conn_id = conn_id
        # Statuses are not templated, so a typo fails when the DAG is parsed, not hours later.
        self.target_statuses, self.failure_statuses = resolve_wait_statuses(target_status, failure_statuses)
        self.deferrable = deferrable
        if poll_interval is None:
            poll_interval = self.poke_interval
        if isinstance(poll_interval, timedelta):
            poll_interval = poll_interval.total_seconds()
        if (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, (int, float))
            or poll_interval < 0
        ):
            raise ValueError(f"poll_interval must be a non-negative number of seconds, got {poll_interval!r}")
        self.poll_interval = float(poll_interval)
        self.hook_params = dict(hook_params or {})
        self._transient_errors = 0

    # -- poke and reschedule ------------------------------------------------------

    def poke(self, context: Context) -> PokeReturnValue | bool:
        report_ids = self._report_ids()
        try:
            verdict = self._look(report_ids)
        except _TRANSIENT as exc:
            self._transient_errors += 1
            if self._transient_errors >= MAX_CONSECUTIVE_TRANSIENT_ERRORS:
                raise
            self.log.warning(
                "Could not read the reports (%d of %d tolerated in a row): %s",
                self._transient_errors,
                MAX_CONSECUTIVE_TRANSIENT_ERRORS,
                exc,
            )
            return False
        self._transient_errors = 0
        return self._judge(verdict)

    def _judge(self, verdict: WaitVerdict) -> PokeReturnValue | bool:
        if verdict.is_failure:
            raise ReportStatusFailedError(verdict.message)
        if verdict.done:
            self.log.info("Done: %s", verdict.message)
            return PokeReturnValue(is_done=True, xcom_value=verdict.statuses)
        self.log.info("Still %s", verdict.message)
        return False

    # -- deferrable -------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        report_ids = self._report_ids()
        outcome = self._judge(self._look(report_ids))
        if outcome:
            return outcome.xcom_value  # already there: no need to occupy the triggerer

        from airflow_provider_pcinsights.triggers.report import ReportStatusTrigger

        self.defer(
            trigger=ReportStatusTrigger(
                report_ids=report_ids,
                target_statuses=list(self.target_statuses),
                failure_statuses=list(self.failure_statuses),
                conn_id=self.conn_id,
                poll_interval=self.poll_interval,
                hook_params=self.hook_params,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: its single event says how the wait ended."""
        if not event:
            raise AirflowException("The report status trigger ended without an event")
        status = event.get("status")
        message = event.get("message") or "no message"
        if status == "success":
            self.log.info("Done: %s", message)
            return dict(event.get("statuses") or {})
        if status == "failure":
            raise ReportStatusFailedError(message)
        raise PartnerCenterInsightsError(f"Waiting for the report status failed: {message}")

    # -- shared -----------------------------------------------------------------------

    def _report_ids(self) -> list[str]:
        report_ids, _ = normalize_report_ids(self.report_id)
        if not isinstance(self.conn_id, str) or not self.conn_id.strip():
            raise ValueError(f"conn_id must be a non-empty string, got {self.conn_id!r}")
        return report_ids

    def _make_hook(self) -> PartnerCenterInsightsHook:
        # Imported here so DAG files that name the sensor never load requests or msal.
        from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

        return PartnerCenterInsightsHook(conn_id=self.conn_id, **self.hook_params)

    def _look(self, report_ids: list[str]) -> WaitVerdict:
        hook = self._make_hook()
        try:
            statuses = {rid: status_of(hook.get_report(rid)) for rid in report_ids}
        finally:
            close = getattr(hook, "close", None)
            if callable(close):
                close()
        return evaluate(statuses, self.target_statuses, self.failure_statuses)
