"""Each injected fault reaches the client as the failure it stands for, and only where aimed."""

from __future__ import annotations

import threading

import pytest
import requests
import urllib3
from emulator_support.clients import (
    BOM,
    Api,
    VerifyingSession,
    app_plus_user_token,
    client_credentials_token,
    values,
)

from airflow_provider_pcinsights.emulator import Emulator


def _statuses(api: Api, count: int) -> list[int]:
    return [api.get("ScheduledReport").status_code for _ in range(count)]


def _outcome(api: Api) -> int | str:
    """The status of one call, or ``"dropped"`` when the connection closed without an answer."""
    try:
        return api.get("ScheduledReport").status_code
    except requests.exceptions.ConnectionError:
        return "dropped"


def test_fail_answers_the_status_for_the_next_calls_only(emu: Emulator, api: Api) -> None:
    emu.faults.fail(count=2, status=503)
    answers = [api.get("ScheduledReport") for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].json()["statusCode"] == 503


def test_fail_with_a_path_filter_spares_other_calls(emu: Emulator, api: Api) -> None:
    report_id = emu.report_ids("mpn")[0]
    emu.faults.fail(count=1, status=500, path="/pause/")
    assert api.get("ScheduledReport").status_code == 200
    assert api.put(f"ScheduledReport/pause/{report_id}").status_code == 500
    assert api.put(f"ScheduledReport/pause/{report_id}").status_code == 200


def test_a_faulted_call_changes_nothing(emu: Emulator, api: Api) -> None:
    report_id = emu.report_ids("mpn")[0]
    emu.faults.fail(count=1, status=500)
    assert api.put(f"ScheduledReport/pause/{report_id}").status_code == 500
    assert emu.report("mpn", report_id)["ReportStatus"] == "Active"


def test_throttle_sends_retry_after_and_the_partner_center_message(emu: Emulator, api: Api) -> None:
    emu.faults.throttle(count=1, retry_after=7)
    answer = api.get("ScheduledReport")
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"
    assert answer.json() == {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 7 seconds."}
    assert api.get("ScheduledReport").status_code == 200


def test_throttle_every_nth_call(emu: Emulator, api: Api) -> None:
    emu.faults.throttle_every(3, retry_after=0)
    assert _statuses(api, 6) == [200, 200, 429, 200, 200, 429]


def test_drop_every_nth_call_closes_the_connection(emu: Emulator, api: Api) -> None:
    emu.faults.drop_every(2)
    assert [_outcome(api) for _ in range(4)] == [200, "dropped", 200, "dropped"]
    assert [(r.status, r.fault) for r in emu.api_requests()] == [
        (200, None),
        (None, "drop"),
        (200, None),
        (None, "drop"),
    ]


def test_hang_every_nth_call_holds_it_then_answers(emu: Emulator, api: Api) -> None:
    emu.faults.hang_every(3, seconds=0)
    assert _statuses(api, 6) == [200] * 6
    assert [r.fault for r in emu.api_requests()] == [None, None, "hang:0:answer"] * 2


def test_hang_every_can_close_after_holding(emu: Emulator, api: Api) -> None:
    emu.faults.hang_every(1, seconds=0, then="close")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get("ScheduledReport")
    assert [(r.status, r.fault) for r in emu.api_requests()] == [(None, "hang:0:close")]


def test_periodic_faults_count_api_calls_each_and_rank_throttle_drop_hang(
    emu: Emulator, session: VerifyingSession, api: Api
) -> None:
    emu.faults.throttle_every(2, retry_after=0)
    emu.faults.drop_every(3)
    emu.faults.hang_every(5, seconds=0)
    emu.faults.fail(count=1, status=500)  # a queued fault wins, and its call still counts
    for _ in range(10):
        _outcome(api)
        assert client_credentials_token(emu, session).status_code == 200  # never counted, never faulted
    assert [r.fault for r in emu.api_requests()] == [
        "fail:500",  # 1
        "throttle:0",  # 2
        "drop",  # 3
        "throttle:0",  # 4
        "hang:0:answer",  # 5
        "throttle:0",  # 6: throttle and drop fall together; throttle wins
        None,  # 7
        "throttle:0",  # 8
        "drop",  # 9
        "throttle:0",  # 10: throttle and hang; throttle wins
    ]


def test_setting_a_periodic_fault_again_restarts_its_count_and_zero_turns_it_off(
    emu: Emulator, api: Api
) -> None:
    emu.faults.throttle_every(2, retry_after=0)
    assert _statuses(api, 1) == [200]
    emu.faults.throttle_every(2, retry_after=0)
    assert _statuses(api, 2) == [200, 429]
    emu.faults.throttle_every(0)
    assert _statuses(api, 4) == [200] * 4


def test_periodic_faults_from_the_admin_endpoint(
    with_admin, emu: Emulator, session: VerifyingSession, api: Api
) -> None:
    answer = session.post(
        f"{emu.url}/_emulator/faults",
        json={"drop_every": 2, "hang_every": {"every": 3, "seconds": 0}, "throttle_every": {"every": 4}},
    )
    assert answer.status_code == 200, answer.text
    assert [_outcome(api) for _ in range(4)] == [200, "dropped", 200, 429]
    assert [r.fault for r in emu.api_requests()] == [None, "drop", "hang:0:answer", "throttle:1"]
    refused = session.post(f"{emu.url}/_emulator/faults", json={"hang_every": {"every": 1, "seconds": -1}})
    assert refused.status_code == 400
    assert "seconds must be a finite number of seconds >= 0" in refused.json()["error"]
    assert session.post(f"{emu.url}/_emulator/faults", json={"clear": True}).status_code == 200
    assert _statuses(api, 4) == [200] * 4


def test_drop_closes_the_connection_without_an_answer(emu: Emulator, api: Api) -> None:
    emu.faults.drop(count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get("ScheduledReport")
    assert api.get("ScheduledReport").status_code == 200
    assert [r.status for r in emu.requests if r.kind == "api"] == [None, 200]


def test_hang_times_the_client_out_without_blocking_others(emu: Emulator, api: Api) -> None:
    emu.faults.hang(count=1, seconds=30, path="/pause/")
    report_id = emu.report_ids("mpn")[0]
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.put(f"ScheduledReport/pause/{report_id}", timeout=0.5)
    # The hung call is still held by the server; others are answered meanwhile.
    assert api.get("ScheduledReport").status_code == 200


def test_hang_then_close(emu: Emulator, api: Api) -> None:
    emu.faults.hang(count=1, seconds=0, then="close")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get("ScheduledReport")


def test_stop_does_not_wait_for_a_hanging_call() -> None:
    emu = Emulator(reports=1).start()
    session = VerifyingSession(emu.ca_path)
    api = Api(emu, session, app_plus_user_token(emu, session).json()["access_token"])
    emu.faults.hang(count=1, seconds=600)
    outcome: list[BaseException | int] = []

    def call() -> None:
        try:
            outcome.append(api.get("ScheduledReport", timeout=60).status_code)
        except requests.RequestException as error:
            outcome.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    held = threading.Event()
    while not held.wait(0.01) and caller.is_alive():
        if not emu.faults.pending():  # the server has taken the hang: the call is being held
            held.set()
    stopper = threading.Thread(target=emu.stop)
    stopper.start()
    stopper.join(timeout=30)
    caller.join(timeout=30)
    assert not stopper.is_alive(), "stop() waited for the hanging call"
    assert not caller.is_alive()
    assert isinstance(outcome[0], requests.exceptions.ConnectionError)


def test_latency_slows_api_calls_past_a_short_client_timeout(emu: Emulator, api: Api) -> None:
    emu.faults.latency = 2
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.get("ScheduledReport", timeout=0.3)
    emu.faults.latency = 0
    assert api.get("ScheduledReport").status_code == 200


def test_error_rate_is_reproducible_with_a_seed() -> None:
    def run(seed: int) -> list[int]:
        with Emulator(reports=1, seed=seed) as emu, VerifyingSession(emu.ca_path) as session:
            api = Api(emu, session, app_plus_user_token(emu, session).json()["access_token"])
            emu.faults.error_rate = 0.5
            return _statuses(api, 20)

    first = run(seed=7)
    assert first == run(seed=7)
    assert set(first) == {200, 503}


@pytest.mark.parametrize(("rate", "expected"), [(0.0, {200}), (1.0, {503})])
def test_error_rate_bounds(emu: Emulator, api: Api, rate: float, expected: set[int]) -> None:
    emu.faults.error_rate = rate
    assert set(_statuses(api, 5)) == expected


def test_error_in_body_is_http_200_with_a_failing_envelope(emu: Emulator, api: Api) -> None:
    emu.faults.error_in_body(count=1, status=500)
    answer = api.get("ScheduledReport")
    assert answer.status_code == 200
    assert answer.json()["statusCode"] == 500
    assert answer.json()["message"]
    assert values(answer) == []


def test_html_error_page(emu: Emulator, api: Api) -> None:
    emu.faults.html(count=1, status=502)
    answer = api.get("ScheduledReport")
    assert answer.status_code == 502
    assert answer.headers["Content-Type"].startswith("text/html")
    assert answer.text.startswith("<!DOCTYPE html>")


def test_html_page_with_a_success_status_is_a_long_sign_in_page(emu: Emulator, api: Api) -> None:
    emu.faults.html(count=1, status=200)
    answer = api.get("ScheduledReport")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "<title>Sign in to your account</title>" in answer.text
    assert len(answer.text) > 1000  # as long as real pages, so a client quoting one must cut it short
    assert api.get("ScheduledReport").headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("body", [{"reports": ["a", "b"]}, ["a", "b"], "text", 42, None])
def test_json_body_answers_any_json_value(emu: Emulator, api: Api, body: object) -> None:
    emu.faults.json_body(count=1, body=body)
    answer = api.get("ScheduledReport")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json() == body
    assert "value" in api.get("ScheduledReport").json()  # the next call is the service again
    assert [r.fault for r in emu.api_requests()] == ["json_body:200", None]


def test_json_body_with_a_status_path_and_count(emu: Emulator, api: Api) -> None:
    report_id = emu.report_ids("mpn")[0]
    kept = {"error": {"code": "Gone"}}
    emu.faults.json_body(count=2, status=502, body=kept, path="/pause/")
    kept["error"]["code"] = "changed after queueing"  # the fault keeps its own copy
    assert api.get("ScheduledReport").status_code == 200
    answers = [api.put(f"ScheduledReport/pause/{report_id}") for _ in range(3)]
    assert [a.status_code for a in answers] == [502, 502, 200]
    assert answers[0].json() == {"error": {"code": "Gone"}}
    assert emu.report("mpn", report_id)["ReportStatus"] == "Paused"  # only the third call reached it


def test_a_faulted_token_call_is_logged_as_a_token_call(emu: Emulator, session: VerifyingSession) -> None:
    emu.faults.fail(count=1, status=503, path="/oauth2/v2.0/token")
    assert client_credentials_token(emu, session).status_code == 503
    assert client_credentials_token(emu, session).status_code == 200
    faulted, answered = emu.requests
    assert (faulted.kind, faulted.status, faulted.fault, faulted.program) == ("token", 503, "fail:503", None)
    assert (faulted.grant_type, faulted.client_id) == ("client_credentials", emu.client_id)
    assert answered.kind == "token"
    assert emu.token_requests() == 2
    assert emu.token_requests("client_credentials") == 2
    assert emu.api_requests() == []


def test_faults_spare_the_token_endpoint_unless_aimed_at_it(emu: Emulator, session: VerifyingSession) -> None:
    emu.faults.fail(count=1, status=503)
    assert client_credentials_token(emu, session).status_code == 200
    emu.faults.clear()
    emu.faults.fail(count=1, status=503, path="/oauth2/v2.0/token")
    assert client_credentials_token(emu, session).status_code == 503
    assert client_credentials_token(emu, session).status_code == 200


def test_clear_forgets_every_fault(emu: Emulator, api: Api) -> None:
    emu.faults.fail(count=5)
    emu.faults.throttle_every(1)
    emu.faults.drop_every(1)
    emu.faults.hang_every(1, seconds=0)
    emu.faults.latency = 1
    emu.faults.error_rate = 1
    emu.faults.mix(1)
    emu.faults.clear()
    assert _statuses(api, 2) == [200, 200]
    assert emu.faults.pending() == []
    assert emu.faults.random() == {"error_rate": 0.0, "mix": {"rate": 0.0, "kinds": []}}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda f: f.fail(count=0), "count must be a positive integer"),
        (lambda f: f.fail(status=200), "fail status must be an HTTP error"),
        (lambda f: f.hang(then="later"), "then must be 'answer' or 'close'"),
        (lambda f: setattr(f, "error_rate", 2), "error_rate must be between 0 and 1"),
        (lambda f: f.configure({"explode": {}}), "unknown fault settings: explode"),
        (lambda f: f.html(status=99), "html status must be an HTTP status"),
        (lambda f: f.json_body(status=700), "json_body status must be an HTTP status"),
        (lambda f: f.json_body(body={1, 2}), "json_body body must be a JSON value"),
        (lambda f: f.json_body(count=0), "count must be a positive integer"),
        (lambda f: f.drop_every(-1), "drop_every must be a non-negative integer"),
        (lambda f: f.drop_every(1.5), "drop_every must be a non-negative integer"),
        (lambda f: f.hang_every(True), "hang_every must be a non-negative integer"),
        (lambda f: f.hang_every(2, seconds=-1), "seconds must be a finite number of seconds >= 0"),
        (lambda f: f.hang_every(2, seconds=float("inf")), "seconds must be a finite number"),
        (lambda f: f.hang_every(2, then="later"), "then must be 'answer' or 'close'"),
        (lambda f: f.throttle_every(2, retry_after="soon"), "retry_after must be a finite number"),
        (lambda f: f.configure({"drop_every": "2"}), "drop_every must be a non-negative integer"),
        (lambda f: f.configure({"hang_evry": 2}), "unknown fault settings: hang_evry"),
        (lambda f: f.truncate(keep=1), "keep must be a share of the body"),
        (lambda f: f.truncate(keep=-0.1), "keep must be a share of the body"),
        (lambda f: f.trickle(seconds=-1), "seconds must be a finite number"),
        (lambda f: f.echo(status=99), "echo status must be an HTTP status"),
        (lambda f: f.throttle(retry_after="soon"), "retry_after must be a finite number"),
        (lambda f: f.redirect(location="https://x", status=200), "redirect status must be a 3xx"),
        (lambda f: f.redirect(location=""), "redirect needs a location"),
        (lambda f: f.raw_body(body=42), "raw_body body must be text or bytes"),
        (lambda f: f.mix(1.5), "mix rate must be between 0 and 1"),
        (lambda f: f.mix(0.3, kinds=["fail:200"]), "unknown mix kind 'fail:200'"),
        (lambda f: f.mix(0.3, kinds=[]), "mix kinds must be a non-empty list"),
        (lambda f: f.configure({"mix": 0.3}), "mix takes an object"),
    ],
)
def test_bad_fault_settings_are_refused(emu: Emulator, call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        call(emu.faults)


def test_every_second_429_leaves_retry_after_out_unless_told_otherwise(emu: Emulator, api: Api) -> None:
    emu.faults.throttle(count=4, retry_after=3)
    headers = [api.get("ScheduledReport").headers.get("Retry-After") for _ in range(4)]
    assert headers == ["3", None, "3", None]  # retry_after_header "sometimes", the default

    emu.behaviour.retry_after_header = "always"
    emu.faults.throttle(count=2, retry_after=3)
    assert [api.get("ScheduledReport").headers.get("Retry-After") for _ in range(2)] == ["3", "3"]
    emu.behaviour.retry_after_header = "never"
    emu.faults.throttle(count=1, retry_after=3)
    assert "Retry-After" not in api.get("ScheduledReport").headers


def test_throttle_without_retry_after_never_sends_the_header(emu: Emulator, api: Api) -> None:
    emu.behaviour.retry_after_header = "always"
    emu.faults.throttle(count=1, retry_after=None)
    answer = api.get("ScheduledReport")
    assert answer.status_code == 429
    assert "Retry-After" not in answer.headers
    assert answer.json()["message"].startswith("Rate limit is exceeded.")
    assert emu.api_requests()[0].fault == "throttle:none"


def test_trickle_sends_the_whole_answer_one_byte_at_a_time(emu: Emulator, api: Api) -> None:
    emu.faults.trickle(count=1, seconds=0.3)
    answer = api.get("ScheduledReport", stream=True)
    first = answer.raw.read(1)
    assert len(first) == 1
    body = first + answer.raw.read()
    assert body.startswith(BOM)
    assert len(values(api.get("ScheduledReport"))) == 3
    assert [r.fault for r in emu.api_requests()] == ["trickle:0.3", None]


def test_truncate_cuts_the_body_or_the_connection(emu: Emulator, api: Api) -> None:
    whole = api.get("ScheduledReport").raw_body  # type: ignore[attr-defined]
    emu.faults.truncate(count=1, keep=0.5)
    cut = api.get("ScheduledReport")
    assert cut.status_code == 200
    assert cut.raw_body == whole[: len(whole) // 2]  # type: ignore[attr-defined]
    assert int(cut.headers["Content-Length"]) == len(whole) // 2

    emu.faults.truncate(count=1, keep=0.5, close=True)
    if urllib3.__version__.startswith("1."):  # 1.26 hands back what came before the close
        short = api.get("ScheduledReport")
        assert short.raw_body == whole[: len(whole) // 2]  # type: ignore[attr-defined]
        assert int(short.headers["Content-Length"]) == len(whole)  # announced whole, cut by the close
    else:  # 2.x holds the body to its Content-Length
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            api.get("ScheduledReport")
    assert [r.fault for r in emu.api_requests()] == [None, "truncate:0.5:cut", "truncate:0.5:close"]


def test_echo_quotes_the_request_back_headers_and_all(emu: Emulator, api: Api) -> None:
    emu.faults.echo(count=1, status=502)
    answer = api.get("ScheduledReport", params={"reportName": "x"})
    assert answer.status_code == 502
    said = answer.json()["message"]
    assert "GET /insights/v1/mpn/ScheduledReport?reportName=x" in said
    assert f"authorization: Bearer {api.token}" in said  # what a client must never repeat as is


def test_redirect_answers_a_3xx_with_its_location_and_serves_nothing(emu: Emulator, api: Api) -> None:
    report_id = emu.report_ids("mpn")[0]
    emu.faults.redirect(location="https://localhost:1/elsewhere", status=308)
    answer = api.put(f"ScheduledReport/pause/{report_id}", allow_redirects=False)
    assert (answer.status_code, answer.headers["Location"]) == (308, "https://localhost:1/elsewhere")
    assert emu.report("mpn", report_id)["ReportStatus"] == "Active"
    assert emu.api_requests()[-1].fault == "redirect:308"


def test_raw_body_answers_exactly_those_bytes(emu: Emulator, api: Api) -> None:
    emu.faults.raw_body(body=b"[[[\xff", status=200, content_type="application/json; charset=utf-8")
    answer = api.get("ScheduledReport")
    assert answer.raw_body == b"[[[\xff"  # no byte-order mark added, nothing re-encoded
    emu.faults.raw_body(body="plain text", status=502, content_type="text/plain")
    answer = api.get("ScheduledReport")
    assert (answer.status_code, answer.text, answer.headers["Content-Type"]) == (
        502,
        "plain text",
        "text/plain",
    )


def test_lose_answer_applies_the_change_then_closes_without_answering(emu: Emulator, api: Api) -> None:
    report_id = emu.report_ids("mpn")[0]
    emu.faults.lose_answer(count=1, path="/pause/")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.put(f"ScheduledReport/pause/{report_id}")
    assert emu.report("mpn", report_id)["ReportStatus"] == "Paused"
    lost = emu.api_requests(method="PUT")[-1]
    assert (lost.status, lost.fault, lost.report_status) == (None, "lose_answer", "Paused")


def test_mix_faults_a_seeded_share_of_api_calls_with_every_kind_asked_for() -> None:
    def outcomes(seed: int) -> list[str | None]:
        with Emulator(reports=1, seed=seed) as emu, VerifyingSession(emu.ca_path) as session:
            api = Api(emu, session, app_plus_user_token(emu, session).json()["access_token"])
            emu.faults.mix(0.5, kinds=["fail:502", "throttle:none", "drop", "lose_answer"])
            for _ in range(80):
                _outcome(api)
            assert emu.token_requests() == 1  # the token endpoint is never faulted by a mix
            return [r.fault for r in emu.api_requests()]

    first = outcomes(seed=7)
    assert first == outcomes(seed=7)
    assert 20 <= sum(f is not None for f in first) <= 60
    assert {f for f in first if f} == {"fail:502", "throttle:none", "drop", "lose_answer"}
