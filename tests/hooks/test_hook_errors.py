"""Answers that are failures, whatever shape they come in, become typed errors that say why."""

from __future__ import annotations

import pytest

from airflow_provider_pcinsights.exceptions import (
    BadRequestError,
    PagingLoopError,
    PermissionDeniedError,
    ReportNotFoundError,
    ServiceUnavailableError,
    UnexpectedResponseError,
)


def test_404_names_the_report(emu, make_hook):
    hook = make_hook()
    missing = "00000000-0000-4000-8000-00000000dead"
    with pytest.raises(ReportNotFoundError, match=f"report {missing} is unknown to this account") as caught:
        hook.resume_report(missing)
    assert caught.value.report_id == missing
    assert caught.value.status_code == 404


def test_400_carries_the_service_message(emu, make_hook):
    hook = make_hook()
    report_id = emu.report_ids("mpn")[0]
    emu.faults.fail(count=1, status=400, message="RecurrenceInterval must be between 4 and 2160")

    with pytest.raises(BadRequestError) as caught:
        hook.pause_report(report_id)

    assert caught.value.api_message == "RecurrenceInterval must be between 4 and 2160"
    assert "HTTP 400" in str(caught.value)
    assert report_id in str(caught.value)
    assert "MS-RequestId" in str(caught.value)


def test_409_is_a_bad_request(emu, make_hook):
    hook = make_hook()
    emu.faults.fail(count=1, status=409, message="Conflict")
    with pytest.raises(BadRequestError, match="Conflict"):
        hook.list_reports()


def test_403_names_the_missing_role(emu, make_hook):
    hook = make_hook(program="cmp")
    emu.faults.fail(count=1, status=403)
    with pytest.raises(PermissionDeniedError, match="Manager role"):
        hook.list_reports()


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, BadRequestError), (403, PermissionDeniedError), (500, ServiceUnavailableError)],
)
def test_http_200_whose_body_reports_an_error_is_that_error(emu, make_hook, status, error):
    hook = make_hook()
    emu.faults.error_in_body(count=1, status=status, message="the body says no")

    with pytest.raises(error, match="the body says no") as caught:
        hook.list_reports()

    assert caught.value.status_code == status


def test_an_html_error_page_is_reported_with_an_excerpt(emu, make_hook):
    hook = make_hook()
    emu.faults.html(count=3, status=502)

    with pytest.raises(ServiceUnavailableError, match="HTTP 502") as caught:
        hook.list_reports()

    assert "<html" in str(caught.value).lower()
    assert len(str(caught.value)) < 600


def test_an_html_page_with_a_success_status_is_an_unexpected_response(emu, make_hook):
    hook = make_hook()
    emu.faults.html(count=1, status=200)  # a sign-in page, longer than any message should quote

    with pytest.raises(UnexpectedResponseError, match=r"HTTP 200.*not JSON") as caught:
        hook.list_reports()
    assert "<html" in str(caught.value).lower()
    assert len(str(caught.value)) < 600
    assert len(emu.api_requests()) == 1  # not retried: a page is an answer, not an outage


def test_json_that_is_not_the_envelope_is_an_unexpected_response(emu, make_hook):
    hook = make_hook()
    emu.faults.json_body(count=1, status=200, body={"reports": ["a", "b"]})

    with pytest.raises(UnexpectedResponseError, match="not the Insights envelope") as caught:
        hook.list_reports()
    assert caught.value.status_code == 200


def test_a_404_page_from_a_wrong_base_url_says_to_check_the_connection(emu, make_hook):
    hook = make_hook(api_version="v9")

    with pytest.raises(BadRequestError, match="api_version") as caught:
        hook.list_reports()
    assert caught.value.status_code == 404
    assert "Check the API version and program in the path" in str(caught.value)


def test_keys_are_normalized_even_with_stray_whitespace(emu, make_hook):
    hook = make_hook()
    emu.behaviour.key_case = "pascal"
    emu.behaviour.key_spacing = "stray_space"  # records carry " RecurrenceCount", as a Microsoft sample

    records = hook.list_reports()

    assert len(records) == 3
    assert all({"ReportId", "RecurrenceCount", "ReportStatus"} <= r.keys() for r in records)
    assert not any(key != key.strip() for r in records for key in r)
    expected = {r["ReportId"]: r["RecurrenceCount"] for r in emu.reports("mpn")}
    assert {r["ReportId"]: r["RecurrenceCount"] for r in records} == expected


def test_a_next_link_that_repeats_fails_the_listing_loudly(emu, make_hook):
    hook = make_hook()
    emu.behaviour.next_link = "repeat"  # every page's nextLink points back at that same page

    with pytest.raises(PagingLoopError, match="leads back to the same page"):
        hook.list_reports()

    assert len(emu.api_requests()) == 1  # the loop is seen before it is followed
