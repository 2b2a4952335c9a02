"""Answers that are failures, whatever shape they come in, become typed errors that say why."""

from __future__ import annotations

import pytest

from airflow_provider_pcinsights.emulator.insights import FORBIDDEN_MESSAGE, NOT_FOUND_MESSAGE
from airflow_provider_pcinsights.exceptions import (
    BadRequestError,
    PagingLoopError,
    PermissionDeniedError,
    ReportNotFoundError,
    ServiceUnavailableError,
    UnexpectedResponseError,
    UnreadableStatusError,
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


# -- the service's own words, always --------------------------------------------------------


def test_an_unknown_report_carries_the_service_404_text_beside_the_explanation(emu, make_hook):
    hook = make_hook()
    unknown = "00000000-0000-4000-8000-000000000404"

    for call in (hook.get_report, hook.pause_report, hook.resume_report, hook.get_report_executions):
        with pytest.raises(ReportNotFoundError) as caught:
            call(unknown)
        assert caught.value.api_message == NOT_FOUND_MESSAGE
        assert caught.value.api_message in str(caught.value)
        assert f"report {unknown} is unknown to this account" in str(caught.value)


def test_the_general_error_shape_is_read_for_its_description_and_code(emu, make_hook):
    hook = make_hook(program="cmp", login=emu.unauthorized_client_id, password=emu.unauthorized_client_secret)

    with pytest.raises(PermissionDeniedError) as caught:
        hook.list_reports()

    assert caught.value.api_message == FORBIDDEN_MESSAGE  # from {"code", "description", "data", "source"}
    assert "code 403" in str(caught.value)
    assert "Manager role" in str(caught.value)  # the provider's explanation, beside the service's words


@pytest.mark.parametrize("shape", ["insights", "general"])
def test_any_error_in_either_shape_keeps_the_service_words(emu, make_hook, shape):
    emu.behaviour.error_shape = shape
    hook = make_hook()
    emu.faults.fail(count=1, status=400, message="StartTime should be at least 4 hours later.")

    with pytest.raises(BadRequestError) as caught:
        hook.list_reports()

    assert caught.value.api_message == "StartTime should be at least 4 hours later."


# -- bad answers, all of them ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (["r1", "r2"], "JSON array where the Insights envelope"),
        ("ok", "JSON string where the Insights envelope"),
        (None, "JSON null where the Insights envelope"),
        ({"statusCode": 200, "message": "OK"}, "without value, where records were expected"),
        ({"value": [{"reportName": "x", "reportStatus": "Active"}]}, "without ReportId"),
    ],
)
def test_answers_that_are_not_a_readable_envelope_are_typed_errors_for_lists_and_single_records(
    emu, make_hook, body, said
):
    hook = make_hook()
    report_id = emu.report_ids("mpn")[0]
    for call in (hook.list_reports, lambda: hook.get_report(report_id)):
        emu.faults.json_body(count=1, body=body)
        with pytest.raises(UnexpectedResponseError, match=said):
            call()


@pytest.mark.parametrize(("status", "said"), [(None, "without a ReportStatus"), ("Suspended", "'Suspended'")])
def test_a_record_without_a_readable_status_is_an_error_for_lists_single_records_and_actions(
    emu, make_hook, status, said
):
    hook = make_hook()
    report_id = emu.report_ids("mpn")[0]
    record = {"reportId": report_id, "reportName": "Daily usage 1"}
    if status:
        record["reportStatus"] = status
    for call in (hook.list_reports, lambda: hook.get_report(report_id), lambda: hook.pause_report(report_id)):
        emu.faults.json_body(count=1, body={"value": [record], "totalCount": 1})
        with pytest.raises(UnreadableStatusError, match=said) as caught:
            call()
        assert caught.value.report_id == report_id


def test_a_body_cut_short_by_a_proxy_is_an_unexpected_response(emu, make_hook):
    hook = make_hook()
    emu.faults.truncate(count=1, keep=0.7)
    with pytest.raises(UnexpectedResponseError, match="cut short"):
        hook.get_report(emu.report_ids("mpn")[0])


# -- paging that loops, in every way ---------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "said"),
    [
        ("respell", "leads back to the same page"),  # the last page, under another spelling
        ("back", "leads back to page 1"),  # the last page links to the first
        ("overlap", "repeats ReportId"),  # every page starts with the last record of the one before
    ],
)
def test_paging_that_loops_fails_loudly_rather_than_return_duplicates_or_a_partial_listing(
    emu, make_hook, style, said
):
    for index in range(4):
        emu.add_report("mpn", ReportName=f"extra {index}")
    emu.behaviour.page_size = 3
    emu.behaviour.next_link = style
    hook = make_hook()

    with pytest.raises(PagingLoopError, match=said):
        hook.list_reports()

    pages = emu.api_requests(method="GET")
    assert len(pages) == (2 if style == "overlap" else 3)  # stopped as soon as the loop showed
