"""The rules of a wait for a report's next export: which execution counts, and when to give up."""

from __future__ import annotations

import datetime

import pendulum
import pytest

from airflow_provider_pcinsights.exceptions import UnexpectedResponseError, UnreadableStatusError
from airflow_provider_pcinsights.report_executions import (
    evaluate_executions,
    latest_completed,
    parse_completed_after,
)

UTC = datetime.timezone.utc
START = datetime.datetime(2026, 3, 1, 6, 0, 0, 250_000, tzinfo=UTC)


def _execution(generated: str | None, status: str = "Completed", execution_id: str = "e1") -> dict:
    return {"ExecutionId": execution_id, "ExecutionStatus": status, "ReportGeneratedTime": generated}


@pytest.mark.parametrize(
    "given",
    [
        "2026-03-01T06:00:00Z",
        "2026-03-01T06:00:00z",
        "2026-03-01T06:00:00+00:00",
        "2026-03-01T07:00:00+01:00",
        "2026-03-01T06:00:00",  # naive: UTC
        datetime.datetime(2026, 3, 1, 6, 0),
        pendulum.datetime(2026, 3, 1, 1, 0, tz="America/New_York"),
    ],
)
def test_completed_after_takes_datetimes_and_iso_strings_as_utc(given):
    assert parse_completed_after(given) == datetime.datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize("given", ["yesterday", "2026-13-01T00:00:00Z", "", 17, ["2026-03-01"]])
def test_a_completed_after_that_is_no_time_is_refused_naming_it(given):
    with pytest.raises(ValueError, match="completed_after"):
        parse_completed_after(given)


def test_the_latest_completed_execution_is_picked_whatever_else_the_answer_holds():
    executions = [
        _execution("2026-03-01T05:00:00Z", execution_id="old"),
        _execution(None, status="Pending", execution_id="next"),
        _execution("2026-03-01T07:00:00Z", status="completed", execution_id="new"),
    ]
    assert latest_completed(executions, "r1")["ExecutionId"] == "new"
    assert latest_completed([_execution(None, status="Pending")], "r1") is None


def test_a_completed_execution_without_a_time_is_an_error_not_an_endless_wait():
    with pytest.raises(UnexpectedResponseError, match="ReportGeneratedTime is None"):
        latest_completed([_execution(None)], "r1")


def test_an_execution_generated_in_the_second_the_run_started_counts():
    observations = {"r1": {"execution": _execution("2026-03-01T06:00:00Z"), "status": None}}
    state, message, value = evaluate_executions(observations, START)
    assert state == "success"
    assert value == {"r1": observations["r1"]["execution"]}
    assert "r1 execution e1 generated 2026-03-01T06:00:00Z" in message


def test_an_older_execution_means_waiting_while_the_report_is_active():
    observations = {
        "r1": {"execution": _execution("2026-03-01T05:59:59Z"), "status": "Active"},
        "r2": {"execution": None, "status": "active"},
    }
    state, message, _ = evaluate_executions(observations, START)
    assert state == "waiting"
    assert (
        "waiting for 2 of 2 report(s) to complete an execution generated at or after 2026-03-01T06:00:00Z"
        in (message)
    )
    assert "r2 (active) has no completed execution yet" in message


@pytest.mark.parametrize("status", ["Paused", "INACTIVE"])
def test_a_report_that_will_not_run_fails_the_wait_at_once(status):
    observations = {
        "r1": {"execution": _execution("2026-03-01T06:30:00Z"), "status": None},  # done already
        "r2": {"execution": None, "status": status},
    }
    state, message, _ = evaluate_executions(observations, START)
    assert state == "failure"
    assert f"r2 ({status}) has no completed execution yet, and a {status} report does not run" in message
    assert "r1" not in message


def test_a_report_done_before_it_was_paused_still_counts():
    observations = {"r1": {"execution": _execution("2026-03-01T06:30:00Z"), "status": "Paused"}}
    assert evaluate_executions(observations, START)[0] == "success"


@pytest.mark.parametrize("status", [None, "Suspended"])
def test_a_status_nobody_can_read_is_an_error_not_an_endless_wait(status):
    with pytest.raises(UnreadableStatusError, match="report r1 has"):
        evaluate_executions({"r1": {"execution": None, "status": status}}, START)
