"""The two things the provider's sensors and triggers wait for, as conditions of the wait core.

Each condition says what to read about a report (through the hook; blocking)
and what the answers mean (with the pure rules of
:mod:`~airflow_provider_pcinsights.report_status` and
:mod:`~airflow_provider_pcinsights.report_executions`). Both are built from plain
JSON values, so a trigger can carry them to the triggerer.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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


class StatusCondition(Condition):
    """Every report in one of ``targets``; any in one of ``failures`` ends the wait."""

    def __init__(self, targets: Sequence[str] | str, failures: Sequence[str] | None) -> None:
        self.targets, self.failures = resolve_wait_statuses(targets, failures)

    def read(self, hook: PartnerCenterInsightsHook, report_ids: list[str]) -> dict[str, Any]:
        return {rid: status_of(hook.get_report(rid)) for rid in report_ids}

    def judge(self, observations: dict[str, Any]) -> Verdict:
        verdict = evaluate(observations, self.targets, self.failures)
        return Verdict(verdict.state, verdict.message, dict(verdict.statuses))


class ExecutionCondition(Condition):
    """Every report has a ``Completed`` execution generated at or after ``completed_after``.

    Per report and poll: one read of its latest completed execution, and, only
    when that is not new enough, one read of the report, whose ``Paused`` or
    ``Inactive`` status ends the wait (no execution will come).
    """

    def __init__(self, completed_after: datetime.datetime | str) -> None:
        self.completed_after = parse_completed_after(completed_after)

    def read(self, hook: PartnerCenterInsightsHook, report_ids: list[str]) -> dict[str, Any]:
        observations: dict[str, Any] = {}
        for rid in report_ids:
            executions = hook.get_report_executions(
                rid, execution_status="Completed", get_latest_execution=True
            )
            execution = latest_completed(executions, rid)
            status = None if is_after(execution, self.completed_after) else status_of(hook.get_report(rid))
            observations[rid] = {"execution": execution, "status": status}
        return observations

    def judge(self, observations: dict[str, Any]) -> Verdict:
        state, message, value = evaluate_executions(observations, self.completed_after)
        return Verdict(state, message, value)
