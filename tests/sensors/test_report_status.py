"""The shared wait rules: statuses compared without regard to case; failure before waiting before success."""

from __future__ import annotations

import pytest

from airflow_provider_pcinsights.exceptions import UnreadableStatusError
from airflow_provider_pcinsights.report_status import (
    canonical_status,
    evaluate,
    resolve_wait_statuses,
    same_status,
)


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
    assert verdict.failed == {"b": "INACTIVE"}
    assert "b is INACTIVE" in verdict.message


def test_the_wait_goes_on_while_any_report_is_elsewhere():
    verdict = evaluate({"a": "active", "b": "Inactive", "c": "Paused"}, ["Active"], [])
    assert verdict.state == "waiting"
    assert verdict.waiting == {"b": "Inactive", "c": "Paused"}
    assert "waiting for 2 of 3 report(s) to be Active" in verdict.message


@pytest.mark.parametrize("unreadable", [None, "Suspended", "", 3])
def test_a_status_nobody_can_read_ends_the_wait_with_an_error_not_forever(unreadable):
    with pytest.raises(UnreadableStatusError) as caught:
        evaluate({"a": "Paused", "b": unreadable}, ["Active"], ["Inactive"])
    assert "report b has" in str(caught.value)
    assert "a has" not in str(caught.value)
    assert caught.value.report_id == "b"


def test_the_wait_succeeds_when_every_report_is_in_one_of_the_targets():
    verdict = evaluate({"a": "paused", "b": "Active"}, ["Paused", "Active"], [])
    assert verdict.done
    assert verdict.statuses == {"a": "paused", "b": "Active"}
