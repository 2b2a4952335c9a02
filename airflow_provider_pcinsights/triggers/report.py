"""The deferred wait of :class:`~airflow_provider_pcinsights.sensors.report.ReportStatusSensor`.

The triggerer runs every trigger on one event loop, so nothing here may block
it: the connection is looked up asynchronously, and the hook's blocking HTTP
calls run in a worker thread. The verdict rules are the sensor's own
(:mod:`airflow_provider_pcinsights.report_status`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_pcinsights.exceptions import ServiceUnavailableError, ThrottledError
from airflow_provider_pcinsights.report_ids import normalize_report_ids
from airflow_provider_pcinsights.report_status import (
    MAX_CONSECUTIVE_TRANSIENT_ERRORS,
    evaluate,
    resolve_wait_statuses,
    status_of,
)

if TYPE_CHECKING:
    from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

_TRANSIENT = (ServiceUnavailableError, ThrottledError)


class ReportStatusTrigger(BaseTrigger):
    """Poll report statuses until every report is in a target status, or one in a failure status.

    Yields exactly one event, ``{"status": "success" | "failure" | "error",
    "message": str, "statuses": {report_id: status}}``, and never raises: an
    unknown report, a rejected credential or anything unexpected becomes an
    ``error`` event. Errors the hook already retried (5xx, 429, timeouts) are
    tolerated for ``MAX_CONSECUTIVE_TRANSIENT_ERRORS`` polls in a row, so a
    short outage does not end a long wait. The trigger keeps no state between
    runs, so the triggerer may start it again at any time.
    """

    def __init__(
        self,
        report_ids: list[str],
        target_statuses: list[str],
        failure_statuses: list[str],
        conn_id: str = "pcinsights_default",
        poll_interval: float = 60.0,
        hook_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.report_ids = list(report_ids)
        self.target_statuses = list(target_statuses)
        self.failure_statuses = list(failure_statuses)
        self.conn_id = conn_id
        self.poll_interval = float(poll_interval)
        self.hook_params = dict(hook_params or {})

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "report_ids": list(self.report_ids),
                "target_statuses": list(self.target_statuses),
                "failure_statuses": list(self.failure_statuses),
                "conn_id": self.conn_id,
                "poll_interval": self.poll_interval,
                "hook_params": dict(self.hook_params),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        statuses: dict[str, str | None] = {}
        try:
            payload = await self._wait(statuses)
        except Exception as exc:  # never raise: the task must learn why the wait ended
            payload = {
                "status": "error",
                "message": f"{type(exc).__name__}: {exc}",
                "statuses": dict(statuses),
            }
        yield TriggerEvent(payload)

    async def _wait(self, statuses: dict[str, str | None]) -> dict[str, Any]:
        """Poll until the verdict is final; ``statuses`` holds the latest answers for error events."""
        report_ids, _ = normalize_report_ids(self.report_ids)
        targets, failures = resolve_wait_statuses(self.target_statuses, self.failure_statuses)
        hook = await self._make_hook()
        try:
            return await self._poll(hook, report_ids, targets, failures, statuses)
        finally:
            close = getattr(hook, "close", None)
            if callable(close):
                await asyncio.to_thread(close)

    async def _poll(
        self,
        hook: PartnerCenterInsightsHook,
        report_ids: list[str],
        targets: tuple[str, ...],
        failures: tuple[str, ...],
        statuses: dict[str, str | None],
    ) -> dict[str, Any]:
        transient_errors = 0
        while True:
            try:
                latest = await asyncio.to_thread(self._read_statuses, hook, report_ids)
            except _TRANSIENT as exc:
                transient_errors += 1
                if transient_errors >= MAX_CONSECUTIVE_TRANSIENT_ERRORS:
                    return {
                        "status": "error",
                        "message": (
                            f"gave up after {transient_errors} failed polls in a row: "
                            f"{type(exc).__name__}: {exc}"
                        ),
                        "statuses": dict(statuses),
                    }
                self.log.warning(
                    "Could not read the reports (%d of %d tolerated in a row): %s",
                    transient_errors,
                    MAX_CONSECUTIVE_TRANSIENT_ERRORS,
                    exc,
                )
            else:
                transient_errors = 0
                statuses.clear()
                statuses.update(latest)
                verdict = evaluate(latest, targets, failures)
                if verdict.state != "waiting":
                    return {"status": verdict.state, "message": verdict.message, "statuses": dict(latest)}
                self.log.info("Still %s", verdict.message)
            await asyncio.sleep(self.poll_interval)

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

    @staticmethod
    def _read_statuses(hook: PartnerCenterInsightsHook, report_ids: list[str]) -> dict[str, str | None]:
        """Blocking: runs in a worker thread."""
        return {rid: status_of(hook.get_report(rid)) for rid in report_ids}
