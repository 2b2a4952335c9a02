"""The wait core's rules: statuses compared without regard to case; failure before waiting before
success; which execution counts for a wait for a report's next export, and when to give up."""

from __future__ import annotations

import datetime

import pendulum
import pytest

from airflow_provider_pcinsights.exceptions import UnexpectedResponseError, UnreadableStatusError
from airflow_provider_pcinsights.waiting import (
    ExecutionCondition,
    StatusCondition,
    canonical_status,
    latest_completed,
    parse_completed_after,
    resolve_wait_statuses,
    same_status,
)

UTC = datetime.timezone.utc
START = datetime.datetime(2026, 3, 1, 6, 0, 0, 250_000, tzinfo=UTC)


def evaluate(statuses, targets, failures):
    return StatusCondition(targets, failures).judge(statuses)


def evaluate_executions(observations, completed_after):
    verdict = ExecutionCondition(completed_after).judge(observations)
    return verdict.state, verdict.message, verdict.value


@pytest.mark.parametrize(
    ("given", "expected"), [("active", "Active"), ("PAUSED", "Paused"), (" Inactive ", "Inactive")]
)
def test_statuses_are_read_in_any_case(given, expected):
    assert canonical_status(given) == expected


@pytest.mark.parametrize("given", ["Activ", "Deleted", "", None, 1])
def test_an_unknown_status_is_refused_naming_it_and_the_known_ones(given):
    with pytest.raises(ValueError, match="target_status") as caught:
        resolve_wait_statuses(given)
    assert repr(given) in str(caught.value)
    assert "Paused, Active, Inactive" in str(caught.value)


def test_inactive_fails_the_wait_by_default_unless_it_is_a_target():
    assert resolve_wait_statuses("Active") == (("Active",), ("Inactive",))
    assert resolve_wait_statuses(["paused", "inactive"]) == (("Paused", "Inactive"), ())
    assert resolve_wait_statuses("Active", ["paused"]) == (("Active",), ("Paused",))
    assert resolve_wait_statuses("Active", []) == (("Active",), ())


def test_a_status_cannot_be_both_target_and_failure():
    with pytest.raises(ValueError, match="both a target status and a failure status"):
        resolve_wait_statuses("Paused", ["PAUSED"])


def test_an_empty_target_list_is_refused():
    with pytest.raises(ValueError, match="target_status is empty"):
        resolve_wait_statuses([])


def test_same_status_ignores_case_and_never_matches_a_missing_status():
    assert same_status("ACTIVE", "active")
    assert not same_status(None, "Active")
    assert not same_status("Paused", "Active")


def test_a_failure_status_ends_the_wait_even_if_others_are_still_waiting():
    verdict = evaluate({"a": "Paused", "b": "INACTIVE", "c": "Active"}, ["Active"], ["Inactive"])
    assert verdict.state == "failure"
    assert verdict.message.startswith("b is INACTIVE, a failure status")
    assert verdict.value == {"a": "Paused", "b": "INACTIVE", "c": "Active"}


def test_the_wait_goes_on_while_any_report_is_elsewhere():
    verdict = evaluate({"a": "active", "b": "Inactive", "c": "Paused"}, ["Active"], [])
    assert verdict.state == "waiting"
    assert verdict.message == "waiting for 2 of 3 report(s) to be Active: b is Inactive, c is Paused"


@pytest.mark.parametrize("unreadable", [None, "Suspended", "", 3])
def test_a_status_nobody_can_read_ends_the_wait_with_an_error_not_forever(unreadable):
    with pytest.raises(UnreadableStatusError) as caught:
        evaluate({"a": "Paused", "b": unreadable}, ["Active"], ["Inactive"])
    assert "report b has" in str(caught.value)
    assert "a has" not in str(caught.value)
    assert caught.value.report_id == "b"


def test_the_wait_succeeds_when_every_report_is_in_one_of_the_targets():
    verdict = evaluate({"a": "paused", "b": "Active"}, ["Paused", "Active"], [])
    assert verdict.state == "success"
    assert verdict.value == {"a": "paused", "b": "Active"}


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
