"""The two things the provider's sensors and triggers wait for, as conditions of the wait core.

Each condition says what to read about a report and what the answers mean (with
the pure rules of :mod:`~airflow_provider_pcinsights.report_status` and
:mod:`~airflow_provider_pcinsights.report_executions`). It reads either through a
hook (the sensors; blocking) or through a reader of the poll hub (the triggers, on
the triggerer's event loop). Statuses are read in one batched read for every
report of a poll (``get_reports``: 50 ids a call on cmp v1.1, the account's listing
on mpn), never one call each. Both conditions are built from plain JSON values, so
a trigger can carry them to the triggerer.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_pcinsights.exceptions import ReportNotFoundError
from airflow_provider_pcinsights.report_executions import (
    evaluate_executions,
    is_after,
    latest_completed,
    parse_completed_after,
)
from airflow_provider_pcinsights.report_status import evaluate, resolve_wait_statuses, status_of
from airflow_provider_pcinsights.waiting import Condition, Verdict

if TYPE_CHECKING:
    from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook
    from airflow_provider_pcinsights.triggers._hub import Reader


def statuses_of(
    records: Mapping[str, dict[str, Any]], report_ids: list[str], where: str = ""
) -> dict[str, str | None]:
    """Each report's status from a batched read; an id it left out is unknown to the account, as
    ``get_report`` would say (``where``: the program, for the message)."""
    statuses: dict[str, str | None] = {}
    for rid in report_ids:
        record = records.get(rid)
        if record is None:
            raise ReportNotFoundError.unknown(rid, where)
        statuses[rid] = status_of(record)
    return statuses


class StatusCondition(Condition):
    """Every report in one of ``targets``; any in one of ``failures`` ends the wait."""

    def __init__(self, targets: Sequence[str] | str, failures: Sequence[str] | None) -> None:
        self.targets, self.failures = resolve_wait_statuses(targets, failures)

    def read(self, hook: PartnerCenterInsightsHook, report_ids: list[str]) -> dict[str, Any]:
        return statuses_of(hook.get_reports(report_ids), report_ids, hook.account)

    async def aread(self, reader: Reader, report_ids: list[str]) -> dict[str, Any]:
        return statuses_of(await reader.read(report_ids), report_ids)

    def judge(self, observations: dict[str, Any]) -> Verdict:
        verdict = evaluate(observations, self.targets, self.failures)
        return Verdict(verdict.state, verdict.message, dict(verdict.statuses))


class ExecutionCondition(Condition):
    """Every report has a ``Completed`` execution generated at or after ``completed_after``.

    Per report and poll: one read of its latest completed execution (executions cannot
    be read in batches); then, only for the reports whose execution is not new enough,
    one batched read of their statuses, since a ``Paused`` or ``Inactive`` report ends
    the wait (no execution will come).
    """

    def __init__(self, completed_after: datetime.datetime | str) -> None:
        self.completed_after = parse_completed_after(completed_after)

    def read(self, hook: PartnerCenterInsightsHook, report_ids: list[str]) -> dict[str, Any]:
        executions = self.latest_executions(hook, report_ids)
        waiting = self._not_new_enough(executions)
        statuses = statuses_of(hook.get_reports(waiting), waiting, hook.account) if waiting else {}
        return self._observations(executions, statuses)

    async def aread(self, reader: Reader, report_ids: list[str]) -> dict[str, Any]:
        executions = await reader.call(self.latest_executions, report_ids)
        waiting = self._not_new_enough(executions)
        statuses = statuses_of(await reader.read(waiting), waiting) if waiting else {}
        return self._observations(executions, statuses)

    def latest_executions(
        self, hook: PartnerCenterInsightsHook, report_ids: list[str]
    ) -> dict[str, dict[str, Any] | None]:
        """Blocking: each report's latest ``Completed`` execution, ``None`` where none has run yet."""
        return {
            rid: latest_completed(
                hook.get_report_executions(rid, execution_status="Completed", get_latest_execution=True),
                rid,
            )
            for rid in report_ids
        }

    def _not_new_enough(self, executions: dict[str, dict[str, Any] | None]) -> list[str]:
        return [rid for rid, execution in executions.items() if not is_after(execution, self.completed_after)]

    @staticmethod
    def _observations(
        executions: dict[str, dict[str, Any] | None], statuses: dict[str, str | None]
    ) -> dict[str, Any]:
        return {
            rid: {"execution": execution, "status": statuses.get(rid)}
            for rid, execution in executions.items()
        }

    def judge(self, observations: dict[str, Any]) -> Verdict:
        state, message, value = evaluate_executions(observations, self.completed_after)
        return Verdict(state, message, value)
