"""``hooks.answers``: the service's answers and pages; pure where it can be, through the hook otherwise.

- ``read_answer``: one HTTP answer in, an envelope or a typed error out. No server needed: it is pure.
- ``follow_pages``: nextLink followed on the API's host only, and every kind of loop refused. Pure, no server.
- Answers that are failures, whatever shape they come in, become typed errors that say why.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_pcinsights.emulator.insights import FORBIDDEN_MESSAGE, NOT_FOUND_MESSAGE
from airflow_provider_pcinsights.exceptions import (
    AuthenticationError,
    BadRequestError,
    PagingLoopError,
    PermissionDeniedError,
    ReportNotFoundError,
    ServiceUnavailableError,
    ThrottledError,
    UnexpectedResponseError,
    UnreadableStatusError,
)
from airflow_provider_pcinsights.hooks.answers import (
    Answer,
    Call,
    Envelope,
    follow_pages,
    read_answer,
    same_page_key,
    wants_new_token,
    with_query,
)
from airflow_provider_pcinsights.hooks.connection import InsightsSettings

BOM = b"\xef\xbb\xbf"
JSON_UTF8 = {"content-type": "application/json; charset=utf-8"}


def _settings(program: str = "cmp", auth_type: str = "client_credentials") -> InsightsSettings:
    """Who asks: the refusals' advice depends on the program and the sign-in."""
    return InsightsSettings(
        client_id="app",
        tenant_id="tenant",
        program=program,
        api_version="v1.1",
        host="https://api.example",
        auth_type=auth_type,
        authority_host="https://login.example",
        scope="https://api.example/.default",
        verify=True,
        proxies=None,
        timeout=30.0,
        client_secret="s3cr3t-value",
    )


CALLER = _settings()
SECRETS = CALLER.secrets
LIST = Call(action="list reports", record="report", nothing_matches_is_empty=True)
GET_ONE = Call(action="read report r1", report_id="r1", record="report")
PAUSE = Call(action="pause report r1", report_id="r1", record="report", records_required=False)


def _answer(status: int = 200, body: Any = None, *, raw: bytes | None = None, **headers: str) -> Answer:
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    return Answer(
        status=status,
        headers={**JSON_UTF8, **{k.replace("_", "-").lower(): v for k, v in headers.items()}},
        body=data,
        url="https://api.example/insights/v1.1/cmp/ScheduledReport?reportId=r1",
        request_id="req-1",
    )


def _report(**fields: Any) -> dict[str, Any]:
    return {"reportId": "r1", "reportName": "Daily", "reportStatus": "Active", **fields}


def test_a_bom_and_a_pascal_envelope_around_camel_records_read_as_documented_names():
    body = BOM + json.dumps(
        {"Value": [_report(format="csv", modifiedTime=None, CallbackMethod="GET")], "TotalCount": 1}
    ).encode("utf-8")

    envelope = read_answer(_answer(raw=body), LIST, CALLER, SECRETS)

    assert envelope.records == [
        {
            "ReportId": "r1",
            "ReportName": "Daily",
            "ReportStatus": "Active",
            "Format": "csv",  # the value as sent
            "ModifiedTime": None,
            "CallbackMethod": "GET",
        }
    ]
    assert envelope.next_link is None


def test_a_declared_charset_other_than_utf8_is_honoured():
    body = json.dumps({"value": [_report(reportName="Überblick")]}, ensure_ascii=False).encode("latin-1")
    answer = Answer(200, {"content-type": "application/json; charset=ISO-8859-1"}, body, "https://a/x", "r")
    assert read_answer(answer, LIST, CALLER, SECRETS).records[0]["ReportName"] == "Überblick"


@pytest.mark.parametrize(
    ("body", "shape"),
    [
        ({"statusCode": 400, "message": "Invalid filter"}, "insights"),
        ({"code": 2000, "description": "Invalid filter", "data": [], "source": "PartnerFD"}, "general"),
        ({"error": {"code": "BadArgument", "message": "Invalid filter"}}, "odata"),
    ],
)
def test_the_service_words_are_read_from_every_error_shape(body, shape):
    with pytest.raises(BadRequestError) as caught:
        read_answer(_answer(400, body), LIST, CALLER, SECRETS)
    assert caught.value.api_message == "Invalid filter"
    assert "service said: Invalid filter" in str(caught.value)
    if shape == "general":
        assert "code 2000" in str(caught.value)


def test_a_404_of_a_listing_is_empty_and_of_one_report_is_not_found_with_the_service_words():
    answer = _answer(404, {"statusCode": 404, "message": "No item found with given filters."})

    assert read_answer(answer, LIST, CALLER, SECRETS).records == []
    with pytest.raises(ReportNotFoundError) as caught:
        read_answer(answer, GET_ONE, CALLER, SECRETS)
    assert caught.value.api_message == "No item found with given filters."
    assert "report r1 is unknown to this account" in str(caught.value)
    assert caught.value.report_id == "r1"


@pytest.mark.parametrize(
    "body",
    [
        {"statusCode": 404, "message": "Resource not found. Check the API version and program in the path."},
        {"Message": "No HTTP resource was found that matches the request URI 'https://api.example/x'."},
    ],
)
def test_a_404_naming_a_missing_route_says_to_check_the_connection_even_for_a_report(body):
    for call in (LIST, GET_ONE):
        with pytest.raises(BadRequestError, match="Check the connection's host, program and api_version"):
            read_answer(_answer(404, body), call, CALLER, SECRETS)


def test_a_404_that_is_not_json_is_a_wrong_url():
    with pytest.raises(UnexpectedResponseError, match=r"not JSON.*api_version") as caught:
        read_answer(
            _answer(404, raw=b"<html>Not Found</html>", content_type="text/html"), LIST, CALLER, SECRETS
        )
    assert caught.value.api_message == "<html>Not Found</html>"


def test_an_error_inside_an_http_200_is_that_error():
    with pytest.raises(ServiceUnavailableError) as caught:
        read_answer(
            _answer(200, {"value": [], "statusCode": 500, "message": "Internal error"}), LIST, CALLER, SECRETS
        )
    assert caught.value.status_code == 500
    assert caught.value.api_message == "Internal error"


def test_a_429_carries_its_retry_after():
    answer = _answer(429, {"statusCode": 429, "message": "Rate limit is exceeded."}, retry_after="7")
    with pytest.raises(ThrottledError) as caught:
        read_answer(answer, LIST, CALLER, SECRETS)
    assert caught.value.retry_after == 7


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (b"", "an empty body"),
        (b'{"value": [{"reportId": "r1", "repo', "cut short"),
        (b"<!DOCTYPE html><title>Sign in</title>", "not JSON"),
        (b'["r1", "r2"]', "JSON array where the Insights envelope"),
        (b"null", "JSON null where the Insights envelope"),
        (b'{"reports": []}', "not the Insights envelope"),
        (b'{"statusCode": 200, "message": "OK"}', "without value, where records were expected"),
        (b'{"value": "r1"}', "not a list of records"),
        (b'{"value": [{"reportName": "no id", "reportStatus": "Active"}]}', "without ReportId"),
        (b'{"value":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    ],
)
def test_anything_but_a_readable_envelope_is_an_unexpected_response(raw, said):
    with pytest.raises(UnexpectedResponseError, match=said) as caught:
        read_answer(_answer(raw=raw), LIST, CALLER, SECRETS)
    assert caught.value.status_code == 200
    assert "MS-RequestId req-1" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"value": [_report(reportStatus="Paused", ReportStatus="Active")]}, "gives ReportStatus twice"),
        ({"value": [_report()], "Value": []}, "the envelope gives value twice"),
    ],
)
def test_one_name_spelt_twice_with_different_values_is_refused_not_guessed(body, said):
    for call in (LIST, GET_ONE, PAUSE):
        with pytest.raises(UnexpectedResponseError, match=said):
            read_answer(_answer(200, body), call, CALLER, SECRETS)
    same = {"value": [_report(ReportStatus="Active")], "Value": [_report(ReportStatus="Active")]}
    assert read_answer(_answer(200, same), LIST, CALLER, SECRETS).records[0]["ReportStatus"] == "Active"


@pytest.mark.parametrize("status_code", [b"1e400", b'"OK"', b"[500]"])
def test_a_status_code_that_is_not_a_whole_number_is_unexpected_rather_than_ignored(status_code):
    """It decides whether an HTTP 200 is a failure; 1e400 (read as infinity) used to be an OverflowError."""
    raw = b'{"value": [], "totalCount": -1e400, "statusCode": ' + status_code + b"}"
    with pytest.raises(UnexpectedResponseError, match="statusCode is not a whole number"):
        read_answer(_answer(raw=raw), LIST, CALLER, SECRETS)
    assert (
        read_answer(_answer(raw=b'{"value": [], "totalCount": -1e400}'), LIST, CALLER, SECRETS).total_count
        is None
    )


@pytest.mark.parametrize(
    ("status", "said"),
    [(None, "without a ReportStatus"), ("Suspended", "'Suspended', which the docs do not name")],
)
def test_a_record_without_a_status_or_with_an_unknown_one_is_unreadable(status, said):
    record = _report(reportStatus=status) if status else {"reportId": "r1"}
    for call in (LIST, GET_ONE, PAUSE):
        with pytest.raises(UnreadableStatusError, match=said) as caught:
            read_answer(_answer(200, {"value": [_report(reportId="r0"), record]}), call, CALLER, SECRETS)
        assert caught.value.report_id == "r1"


def test_statuses_and_executions_are_read_in_any_case_and_pending_nulls_are_fine():
    read_answer(_answer(200, {"value": [_report(reportStatus="PAUSED")]}), LIST, CALLER, SECRETS)
    pending = {
        "executionId": "e1",
        "reportId": "r1",
        "executionStatus": "Pending",
        "reportLocation": None,
        "reportAccessSecureLink": None,
        "reportExpiryTime": None,
        "reportGeneratedTime": None,
    }
    call = Call(action="read the executions of report r1", report_id="r1", record="execution")
    assert (
        read_answer(_answer(200, {"value": [pending]}), call, CALLER, SECRETS).records[0]["ReportLocation"]
        is None
    )
    with pytest.raises(UnreadableStatusError, match="'Failed'"):
        read_answer(
            _answer(200, {"value": [{**pending, "executionStatus": "Failed"}]}), call, CALLER, SECRETS
        )


def test_an_action_answer_may_carry_no_records_at_all():
    assert (
        read_answer(_answer(200, {"statusCode": 200, "message": "Paused"}), PAUSE, CALLER, SECRETS).records
        == []
    )
    assert read_answer(_answer(204), PAUSE, CALLER, SECRETS).records == []


def test_a_401_asking_for_mfa_says_app_plus_user_with_mfa_and_wants_no_new_token():
    body = {
        "code": 10001,
        "description": "Authentication failed. MFA required. (10001)",
        "source": "PartnerFD",
    }
    answer = _answer(401, body)
    mpn_user = _settings("mpn", "refresh_token")

    assert wants_new_token(answer) is False
    assert wants_new_token(_answer(401, {"statusCode": 401, "message": "Token expired"})) is True
    with pytest.raises(AuthenticationError) as caught:
        read_answer(answer, LIST, mpn_user, SECRETS)
    message = str(caught.value)
    assert "requires multi-factor authentication" in message
    assert "App+User" in message
    assert "refresh_token" in message
    assert "client secret" not in message  # not the advice for a wrong secret
    assert caught.value.api_message == "Authentication failed. MFA required. (10001)"


@pytest.mark.parametrize(("status", "error"), [(401, AuthenticationError), (403, PermissionDeniedError)])
def test_a_refusal_of_an_app_only_token_on_mpn_says_mpn_needs_app_plus_user(status, error):
    mpn_app = _settings("mpn")
    with pytest.raises(error, match=r"mpn program .* needs App\+User sign-in"):
        read_answer(
            _answer(status, {"statusCode": status, "message": "Unauthorized"}), LIST, mpn_app, SECRETS
        )
    with pytest.raises(error) as caught:  # the same answer on cmp is the usual advice
        read_answer(_answer(status, {"statusCode": status, "message": "Unauthorized"}), LIST, CALLER, SECRETS)
    assert "mpn program" not in str(caught.value)


def test_credentials_in_the_service_words_are_hidden_wherever_they_are_quoted():
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl"
    echoed = (
        "upstream said no. Authorization: Bearer opaque-token-123; id=" + jwt + " client_secret=s3cr3t-value "
        "refresh_token=0.AXYAabcdefghijklmnopqrstuvwxyz0123456789 and the secret s3cr3t-value again"
    )
    for status, body in ((500, {"statusCode": 500, "message": echoed}), (502, None)):
        answer = _answer(status, body, raw=None if body else echoed.encode(), content_type="text/plain")
        with pytest.raises(ServiceUnavailableError) as caught:
            read_answer(answer, LIST, CALLER, SECRETS)
        for text in (str(caught.value), caught.value.api_message):
            for secret in ("opaque-token-123", jwt, "s3cr3t-value", "0.AXYAabcdefghijklmnop"):
                assert secret not in text
            assert "Bearer ***" in text
            assert "upstream said no" in text  # the rest of the words stay


BASE = "https://api.example/insights/v1/mpn/"
FIRST = "https://api.example/insights/v1/mpn/ScheduledReport"


def _follow(site: dict[str, tuple[list, str | None]], params=None, *, max_pages=10):
    """Every page of a listing from ``site`` (URL as requested -> its records and nextLink)."""

    def read(url: str, query: dict[str, str] | None) -> Envelope:
        records, link = site[with_query(url, query)]
        return Envelope(records=records, next_link=link)

    return list(
        follow_pages(read, FIRST, params, base_url=BASE, action="list", max_pages=max_pages, record="report")
    )


@pytest.mark.parametrize(
    "spelling",
    [
        "https://API.EXAMPLE:443/insights/v1/mpn/scheduledreport?SkipToken=abc&reportName=x",
        "https://api.example/insights/v1/mpn/%53cheduledReport?reportname=x&skipToken=abc",
        "/insights/v1/mpn/ScheduledReport/?skiptoken=abc&REPORTNAME=x",
    ],
)
def test_the_same_page_spelled_differently_is_the_same_page(spelling):
    params = {"reportName": "x", "skipToken": "abc"}
    page = with_query(FIRST, params)
    assert same_page_key(spelling if spelling.startswith("https") else f"https://api.example{spelling}") == (
        same_page_key(page)
    )
    with pytest.raises(PagingLoopError, match="leads back to the same page"):
        _follow({page: ([{"ReportId": "a"}], spelling)}, params)


def test_continuation_tokens_stay_case_sensitive():
    assert same_page_key(f"{FIRST}?skipToken=abc") != same_page_key(f"{FIRST}?skipToken=ABC")


def test_a_later_page_linking_back_to_an_earlier_one_is_a_loop():
    site = {
        FIRST: ([{"ReportId": "a"}], f"{FIRST}?skipToken=2"),
        f"{FIRST}?skipToken=2": (
            [{"ReportId": "b"}],
            "ScheduledReport?skipToken=3",
        ),  # relative to the API root
        f"{FIRST}?skipToken=3": ([{"ReportId": "c"}], FIRST),
    }
    with pytest.raises(PagingLoopError, match="nextLink of page 3 leads back to page 1"):
        _follow(site)


def test_records_repeating_on_a_later_page_are_a_loop():
    site = {
        FIRST: ([{"ReportId": "a"}, {"ReportId": "B"}], "?skipToken=2"),
        f"{FIRST}?skipToken=2": ([{"ReportId": "c"}, {"ReportId": "b"}], None),
    }
    with pytest.raises(PagingLoopError, match="page 2 repeats ReportId b from page 1"):
        _follow(site)


def test_one_id_twice_on_one_page_is_refused_rather_than_listed_twice():
    twice = [{"ReportId": "a", "ReportStatus": "Active"}, {"ReportId": "A", "ReportStatus": "Paused"}]
    with pytest.raises(PagingLoopError, match="page 1 holds ReportId A twice"):
        _follow({FIRST: (twice, None)})


def test_another_host_is_refused_and_the_end_is_none():
    assert [has_next for _, has_next in _follow({FIRST: ([], None)})] == [False]
    assert [has_next for _, has_next in _follow({FIRST: ([], "")})] == [False]
    for elsewhere in ("https://evil.example.invalid/x", "http://api.example/x", "https://api.example:8443/x"):
        with pytest.raises(
            UnexpectedResponseError, match="refusing to send the access token to another host"
        ):
            _follow({FIRST: ([], elsewhere)})


def test_a_runaway_listing_is_refused_after_max_pages():
    site = {
        FIRST: ([{"ReportId": "a"}], "?skipToken=2"),
        f"{FIRST}?skipToken=2": ([{"ReportId": "b"}], "?skipToken=3"),
    }
    with pytest.raises(UnexpectedResponseError, match="after 2 pages"):
        _follow(site, max_pages=2)


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
