"""``read_answer``: one HTTP answer in, an envelope or a typed error out. No server needed: it is pure.

The same shapes are played by the emulator and tested end to end in the other hook
tests; here every branch is pinned down with the bytes the service is known to send.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_pcinsights.exceptions import (
    AuthenticationError,
    BadRequestError,
    PermissionDeniedError,
    ReportNotFoundError,
    ServiceUnavailableError,
    ThrottledError,
    UnexpectedResponseError,
    UnreadableStatusError,
)
from airflow_provider_pcinsights.hooks.answers import Answer, Call, Caller, read_answer, wants_new_token

BOM = b"\xef\xbb\xbf"
JSON_UTF8 = {"content-type": "application/json; charset=utf-8"}
CALLER = Caller(
    program="cmp",
    auth_type="client_credentials",
    client_id="app",
    tenant_id="tenant",
    secrets=("s3cr3t-value",),
)
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

    envelope = read_answer(_answer(raw=body), LIST, CALLER)

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
    assert read_answer(answer, LIST, CALLER).records[0]["ReportName"] == "Überblick"


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
        read_answer(_answer(400, body), LIST, CALLER)
    assert caught.value.api_message == "Invalid filter"
    assert "service said: Invalid filter" in str(caught.value)
    if shape == "general":
        assert "code 2000" in str(caught.value)


def test_a_404_of_a_listing_is_empty_and_of_one_report_is_not_found_with_the_service_words():
    answer = _answer(404, {"statusCode": 404, "message": "No item found with given filters."})

    assert read_answer(answer, LIST, CALLER).records == []
    with pytest.raises(ReportNotFoundError) as caught:
        read_answer(answer, GET_ONE, CALLER)
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
            read_answer(_answer(404, body), call, CALLER)


def test_a_404_that_is_not_json_is_a_wrong_url():
    with pytest.raises(UnexpectedResponseError, match=r"not JSON.*api_version") as caught:
        read_answer(_answer(404, raw=b"<html>Not Found</html>", content_type="text/html"), LIST, CALLER)
    assert caught.value.api_message == "<html>Not Found</html>"


def test_an_error_inside_an_http_200_is_that_error():
    with pytest.raises(ServiceUnavailableError) as caught:
        read_answer(_answer(200, {"value": [], "statusCode": 500, "message": "Internal error"}), LIST, CALLER)
    assert caught.value.status_code == 500
    assert caught.value.api_message == "Internal error"


def test_a_429_carries_its_retry_after():
    answer = _answer(429, {"statusCode": 429, "message": "Rate limit is exceeded."}, retry_after="7")
    with pytest.raises(ThrottledError) as caught:
        read_answer(answer, LIST, CALLER)
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
        read_answer(_answer(raw=raw), LIST, CALLER)
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
            read_answer(_answer(200, body), call, CALLER)
    same = {"value": [_report(ReportStatus="Active")], "Value": [_report(ReportStatus="Active")]}
    assert read_answer(_answer(200, same), LIST, CALLER).records[0]["ReportStatus"] == "Active"


@pytest.mark.parametrize("status_code", [b"1e400", b'"OK"', b"[500]"])
def test_a_status_code_that_is_not_a_whole_number_is_unexpected_rather_than_ignored(status_code):
    """It decides whether an HTTP 200 is a failure; 1e400 (read as infinity) used to be an OverflowError."""
    raw = b'{"value": [], "totalCount": -1e400, "statusCode": ' + status_code + b"}"
    with pytest.raises(UnexpectedResponseError, match="statusCode is not a whole number"):
        read_answer(_answer(raw=raw), LIST, CALLER)
    assert read_answer(_answer(raw=b'{"value": [], "totalCount": -1e400}'), LIST, CALLER).total_count is None


@pytest.mark.parametrize(
    ("status", "said"),
    [(None, "without a ReportStatus"), ("Suspended", "'Suspended', which the docs do not name")],
)
def test_a_record_without_a_status_or_with_an_unknown_one_is_unreadable(status, said):
    record = _report(reportStatus=status) if status else {"reportId": "r1"}
    for call in (LIST, GET_ONE, PAUSE):
        with pytest.raises(UnreadableStatusError, match=said) as caught:
            read_answer(_answer(200, {"value": [_report(reportId="r0"), record]}), call, CALLER)
        assert caught.value.report_id == "r1"


def test_statuses_and_executions_are_read_in_any_case_and_pending_nulls_are_fine():
    read_answer(_answer(200, {"value": [_report(reportStatus="PAUSED")]}), LIST, CALLER)
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
    assert read_answer(_answer(200, {"value": [pending]}), call, CALLER).records[0]["ReportLocation"] is None
    with pytest.raises(UnreadableStatusError, match="'Failed'"):
        read_answer(_answer(200, {"value": [{**pending, "executionStatus": "Failed"}]}), call, CALLER)


def test_an_action_answer_may_carry_no_records_at_all():
    assert read_answer(_answer(200, {"statusCode": 200, "message": "Paused"}), PAUSE, CALLER).records == []
    assert read_answer(_answer(204), PAUSE, CALLER).records == []


def test_a_401_asking_for_mfa_says_app_plus_user_with_mfa_and_wants_no_new_token():
    body = {
        "code": 10001,
        "description": "Authentication failed. MFA required. (10001)",
        "source": "PartnerFD",
    }
    answer = _answer(401, body)
    mpn_user = Caller(program="mpn", auth_type="refresh_token", client_id="app", tenant_id="t")

    assert wants_new_token(answer) is False
    assert wants_new_token(_answer(401, {"statusCode": 401, "message": "Token expired"})) is True
    with pytest.raises(AuthenticationError) as caught:
        read_answer(answer, LIST, mpn_user)
    message = str(caught.value)
    assert "requires multi-factor authentication" in message
    assert "App+User" in message
    assert "refresh_token" in message
    assert "client secret" not in message  # not the advice for a wrong secret
    assert caught.value.api_message == "Authentication failed. MFA required. (10001)"


@pytest.mark.parametrize(("status", "error"), [(401, AuthenticationError), (403, PermissionDeniedError)])
def test_a_refusal_of_an_app_only_token_on_mpn_says_mpn_needs_app_plus_user(status, error):
    mpn_app = Caller(program="mpn", auth_type="client_credentials", client_id="app", tenant_id="t")
    with pytest.raises(error, match=r"mpn program .* needs App\+User sign-in"):
        read_answer(_answer(status, {"statusCode": status, "message": "Unauthorized"}), LIST, mpn_app)
    with pytest.raises(error) as caught:  # the same answer on cmp is the usual advice
        read_answer(_answer(status, {"statusCode": status, "message": "Unauthorized"}), LIST, CALLER)
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
            read_answer(answer, LIST, CALLER)
        for text in (str(caught.value), caught.value.api_message):
            for secret in ("opaque-token-123", jwt, "s3cr3t-value", "0.AXYAabcdefghijklmnop"):
                assert secret not in text
            assert "Bearer ***" in text
            assert "upstream said no" in text  # the rest of the words stay
