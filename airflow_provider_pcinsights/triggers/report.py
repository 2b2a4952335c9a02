"""The deferred waits of the report sensors, run by the triggerer.

The triggerer runs every trigger on one event loop, so nothing here may block
it: the connection is looked up asynchronously, the hook is built and every
blocking HTTP call runs in a worker thread. What is read and what it means is
the wait core's (:mod:`airflow_provider_pcinsights.waiting`), shared with the
sensors; each trigger only names its condition.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_pcinsights.report_ids import normalize_report_ids
from airflow_provider_pcinsights.wait_conditions import ExecutionCondition, StatusCondition
from airflow_provider_pcinsights.waiting import Condition, Wait

if TYPE_CHECKING:
    from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook


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

    def read(self, hook: PartnerCenterInsightsHook, report_ids: list[str]) -> dict[str, Any]:
        """Blocking, in a worker thread: read every report once. The one step to replace for
        another way of reading (for example batched across triggers)."""
        return self._condition.read(hook, report_ids)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        latest: dict[str, Any] = {}
        try:
            payload = await self._wait(latest)
        except Exception as exc:  # never raise: the task must learn why the wait ended
            payload = {"status": "error", "message": f"{type(exc).__name__}: {exc}", self.value_key: latest}
        yield TriggerEvent(payload)

    async def _wait(self, latest: dict[str, Any]) -> dict[str, Any]:
        """Poll until the verdict is final; ``latest`` holds the last verdict's value for error events."""
        report_ids, _ = normalize_report_ids(self.report_ids)
        self._condition = self.condition()
        wait = Wait(self._condition, report_ids, read=self.read, log=self.log)
        hook = await self._make_hook()
        try:
            while True:
                verdict = await wait.apoll(hook)
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
                await asyncio.sleep(self.poll_interval)
        finally:
            close = getattr(hook, "close", None)
            if callable(close):
                await asyncio.to_thread(close)

    async def _make_hook(self) -> PartnerCenterInsightsHook:
        connection = await self._get_connection()
        # Building the hook imports requests and msal: keep that off the loop too.
        return await asyncio.to_thread(self._build_hook, connection)

    async def _get_connection(self) -> Any:
        """Look the connection up without blocking the loop, on Airflow 2 and 3.

        Airflow 3's task SDK offers ``aget_connection``; its synchronous lookup
        refuses to run inside an event loop. Airflow 2 only has the synchronous
        one, which is safe in a worker thread.
        """
        from airflow.providers.common.compat.sdk import BaseHook

        aget_connection = getattr(BaseHook, "aget_connection", None)
        if aget_connection is not None:
            return await aget_connection(self.conn_id)
        from asgiref.sync import sync_to_async

        return await sync_to_async(BaseHook.get_connection)(self.conn_id)

    def _build_hook(self, connection: Any) -> PartnerCenterInsightsHook:
        from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

        return PartnerCenterInsightsHook(conn_id=self.conn_id, connection=connection, **self.hook_params)


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
