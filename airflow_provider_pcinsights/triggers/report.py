"""The deferred waits of the report sensors, run by the triggerer.

The triggerer runs every trigger on one event loop, so nothing here may block
it. Every trigger polls through the poll hub (:mod:`._hub`): the triggers of one
connection (and the same ``hook_params``) in a triggerer share one asynchronous
connection look-up, one hook with one pooled HTTP session (built and closed in a
worker thread), and their polls: reads that fall due together are one batched read
in a worker thread, so 1,000 single-report waits cost a few calls a poll interval,
not 1,000. What is read and what it means is the wait core's
(:mod:`airflow_provider_pcinsights.waiting`), shared with the sensors; each trigger
only names its condition.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_pcinsights.report_ids import normalize_report_ids
from airflow_provider_pcinsights.triggers._hub import poll_hub
from airflow_provider_pcinsights.wait_conditions import ExecutionCondition, StatusCondition
from airflow_provider_pcinsights.waiting import Condition, Wait


class _ReportWaitTrigger(BaseTrigger):
    """Poll a condition of the wait core until it is met or cannot be; yield exactly one event.

    The event is ``{"status": "success" | "failure" | "error", "message": str,
    <value_key>: {report_id: ...}}``. ``run()`` never raises: an unknown report, a
    rejected credential or anything unexpected becomes an ``error`` event. Errors the
    hook already retried (5xx, 429, timeouts) are tolerated for a few polls in a row.
    The trigger keeps no state between runs, so the triggerer may start it again at
    any time.
    """

    value_key: ClassVar[str]

    def __init__(
        self,
        report_ids: list[str],
        conn_id: str = "pcinsights_default",
        poll_interval: float = 60.0,
        hook_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.report_ids = list(report_ids)
        self.conn_id = conn_id
        self.poll_interval = float(poll_interval)
        self.hook_params = dict(hook_params or {})

    # -- what each trigger decides ------------------------------------------------------

    def condition(self) -> Condition:
        """The condition waited for, built from the serialized arguments (may raise ``ValueError``)."""
        raise NotImplementedError

    def condition_kwargs(self) -> dict[str, Any]:
        """The arguments of this trigger beyond the common ones, as plain JSON values."""
        raise NotImplementedError

    # -- serialization ------------------------------------------------------------------

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "report_ids": list(self.report_ids),
                **self.condition_kwargs(),
                "conn_id": self.conn_id,
                "poll_interval": self.poll_interval,
                "hook_params": dict(self.hook_params),
            },
        )

    # -- the wait -----------------------------------------------------------------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        latest: dict[str, Any] = {}
        try:
            payload = await self._wait(latest)
        except Exception as exc:  # never raise: the task must learn why the wait ended
            payload = {"status": "error", "message": f"{type(exc).__name__}: {exc}", self.value_key: latest}
        yield TriggerEvent(payload)

    async def _wait(self, latest: dict[str, Any]) -> dict[str, Any]:
        """Poll until the verdict is final; ``latest`` holds the last verdict's value for error events.

        Everything the wait needs is built here from the serialized arguments, and the reader
        is left (also when the trigger is cancelled) before this returns: a trigger run twice,
        or started again by another triggerer, simply reads again.
        """
        report_ids, _ = normalize_report_ids(self.report_ids)
        condition = self.condition()
        wait = Wait(condition, report_ids, log=self.log)
        async with poll_hub().reader(self.conn_id, self.hook_params) as reader:
            while True:
                verdict = await wait.apoll(lambda ids: condition.aread(reader, ids))
                if verdict is not None:
                    latest.clear()
                    latest.update(verdict.value)
                    if verdict.final:
                        return {
                            "status": verdict.state,
                            "message": verdict.message,
                            self.value_key: verdict.value,
                        }
                    self.log.info("Still %s", verdict.message)
                await reader.sleep(self.poll_interval)


class ReportStatusTrigger(_ReportWaitTrigger):
    """The deferred wait of :class:`~airflow_provider_pcinsights.sensors.report.ReportStatusSensor`.

    Polls until every report is in a target status, or one is in a failure status.
    Its event carries ``statuses``: ``{report_id: status}``.
    """

    value_key = "statuses"

    def __init__(
        self,
        report_ids: list[str],
        target_statuses: list[str],
        failure_statuses: list[str],
        conn_id: str = "pcinsights_default",
        poll_interval: float = 60.0,
        hook_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(report_ids, conn_id, poll_interval, hook_params)
        self.target_statuses = list(target_statuses)
        self.failure_statuses = list(failure_statuses)

    def condition(self) -> Condition:
        return StatusCondition(self.target_statuses, self.failure_statuses)

    def condition_kwargs(self) -> dict[str, Any]:
        return {
            "target_statuses": list(self.target_statuses),
            "failure_statuses": list(self.failure_statuses),
        }


class ReportExecutionTrigger(_ReportWaitTrigger):
    """The deferred wait of :class:`~airflow_provider_pcinsights.sensors.report.ReportExecutionSensor`.

    Polls until every report has a ``Completed`` execution generated at or after
    ``completed_after`` (an ISO 8601 string), or one is ``Paused`` or ``Inactive``.
    Its event carries ``executions``: ``{report_id: latest completed execution record}``.
    """

    value_key = "executions"

    def __init__(
        self,
        report_ids: list[str],
        completed_after: str,
        conn_id: str = "pcinsights_default",
        poll_interval: float = 60.0,
        hook_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(report_ids, conn_id, poll_interval, hook_params)
        self.completed_after = completed_after

    def condition(self) -> Condition:
        return ExecutionCondition(self.completed_after)

    def condition_kwargs(self) -> dict[str, Any]:
        return {"completed_after": self.completed_after}
