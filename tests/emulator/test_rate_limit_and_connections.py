"""The emulator's rate limit (a token bucket), its connection counts, and cmp v1.1 refusing a batch."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from emulator_support.clients import Api, VerifyingSession, values

from airflow_provider_pcinsights.emulator import Emulator
from airflow_provider_pcinsights.emulator.cli import build_parser
from airflow_provider_pcinsights.emulator.ratelimit import TokenBucket, retry_after_seconds

# Slow enough that no token comes back while a test runs: the bucket only empties.
NO_REFILL = 0.001


def _statuses(api: Api, count: int) -> list[int]:
    return [api.get("ScheduledReport").status_code for _ in range(count)]


# -- the token bucket ---------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_refills_at_its_rate_and_a_refusal_takes_no_token() -> None:
    clock = _Clock()
    bucket = TokenBucket(rate=4, burst=2, clock=clock)
    assert [bucket.take() for _ in range(2)] == [None, None]
    assert bucket.take() == pytest.approx(0.25)  # a quarter second until the next token
    assert bucket.take() == pytest.approx(0.25)  # the refusal took none
    clock.now += 0.25
    assert bucket.take() is None
    clock.now += 10  # never more than the burst
    assert [bucket.take() is None for _ in range(3)] == [True, True, False]
    assert bucket.describe() == {"rate": 4.0, "burst": 2, "allowed": 5, "refused": 3}


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert [retry_after_seconds(w) for w in (0.01, 1.0, 1.2, 56.5)] == [1, 1, 2, 57]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": -1}, "rate must be a finite number > 0"),
        ({"rate": "fast"}, "rate must be a finite number > 0"),
        ({"rate": float("inf")}, "rate must be a finite number > 0"),
        ({"rate": 5, "burst": 0}, "burst must be a whole number >= 1"),
        ({"rate": 5, "burst": 2.5}, "burst must be a whole number >= 1"),
    ],
)
def test_bad_rate_limits_are_refused(emu: Emulator, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        emu.faults.rate_limit(**kwargs)


# -- the bucket in front of the API ---------------------------------------------------------------


def test_the_rate_limit_answers_429_once_the_bucket_is_empty_with_and_without_retry_after(
    emu: Emulator, api: Api
) -> None:
    emu.faults.rate_limit(NO_REFILL, burst=2)
    answers = [api.get("ScheduledReport") for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 429, 429]
    assert answers[2].json() == {
        "statusCode": 429,
        "message": "Rate limit is exceeded. Try again in 1000 seconds.",
    }
    # behaviour.retry_after_header "sometimes" (the default): every second 429 has no Retry-After.
    assert [a.headers.get("Retry-After") for a in answers[2:]] == ["1000", None]
    assert [r.fault for r in emu.api_requests()] == [None, None, "rate_limit:1000", "rate_limit:1000"]
    assert emu.faults.rate_limit_state() == {"rate": NO_REFILL, "burst": 2, "allowed": 2, "refused": 2}


def test_queued_faults_and_token_calls_take_no_token_and_clear_lifts_the_limit(
    emu: Emulator, api: Api, session: VerifyingSession
) -> None:
    from emulator_support.clients import app_plus_user_token

    emu.faults.rate_limit(NO_REFILL, burst=1)
    emu.faults.fail(count=1, status=503)
    assert app_plus_user_token(emu, session).status_code == 200  # sign-ins are not limited
    assert _statuses(api, 3) == [503, 200, 429]  # the faulted call never reached the bucket
    emu.faults.clear()
    assert emu.faults.rate_limit_state() is None
    assert _statuses(api, 2) == [200, 200]


def test_the_rate_limit_from_the_admin_endpoint_and_in_the_state(
    with_admin: Emulator, emu: Emulator, api: Api, session: VerifyingSession
) -> None:
    admin = f"{emu.url}/_emulator"
    answer = session.post(f"{admin}/faults", json={"rate_limit": {"rate": NO_REFILL, "burst": 1}})
    assert answer.status_code == 200
    assert _statuses(api, 2) == [200, 429]
    state = session.get(f"{admin}/state").json()
    assert state["faults"]["rate_limit"] == {"rate": NO_REFILL, "burst": 1, "allowed": 1, "refused": 1}
    assert session.post(f"{admin}/faults", json={"rate_limit": None}).status_code == 200
    assert _statuses(api, 2) == [200, 200]
    assert session.post(f"{admin}/faults", json={"rate_limit": {"rate": 0.5, "burst": 0}}).status_code == 400


def test_the_rate_limit_from_the_command_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from emulator_extras import EmulatorProcess

    with EmulatorProcess(
        "--rate-limit", str(NO_REFILL), "--rate-burst", "1", "--retry-after-header", "always"
    ) as emu:
        state = emu.admin_get("state")
        assert state["faults"]["rate_limit"]["burst"] == 1
        connection = emu.connection
        token = _app_plus_user_token(connection)
        url = f"{emu.url}/insights/v1/mpn/ScheduledReport"
        headers = {"Authorization": f"Bearer {token}"}
        answers = [requests.get(url, headers=headers, verify=emu.verify, timeout=10) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 429]
    assert answers[1].headers["Retry-After"] == "1000"


def _app_plus_user_token(connection: dict[str, Any]) -> str:
    extra = connection["extra"]
    answer = requests.post(
        f"{extra['authority_host']}/{extra['tenant_id']}/oauth2/v2.0/token",
        data={
            "grant_type": "refresh_token",
            "client_id": connection["login"],
            "client_secret": connection["password"],
            "refresh_token": extra["refresh_token"],
            "scope": "https://api.partnercenter.microsoft.com/.default",
        },
        verify=extra["verify"],
        timeout=10,
    )
    return json.loads(answer.content.decode("utf-8-sig"))["access_token"]


def test_help_documents_the_rate_limit() -> None:
    text = build_parser().format_help()
    assert "--rate-limit" in text
    assert "--rate-burst" in text


# -- connections ---------------------------------------------------------------------------------


def test_connections_are_counted_and_each_request_names_the_one_it_came_on(emu: Emulator) -> None:
    from emulator_support.clients import app_plus_user_token

    emu.reset()
    first, second = VerifyingSession(emu.ca_path), VerifyingSession(emu.ca_path)
    token = app_plus_user_token(emu, first).json()["access_token"]
    for client in (first, first, second):
        Api(emu, client, token).get("ScheduledReport")
    counts = emu.connections()
    assert counts == {"accepted": 2, "open": 2, "peak_open": 2}  # keep-alive: one connection per session
    on = [r.connection for r in emu.requests]
    assert on[0] == on[1] == on[2] != on[3]  # token call and two reads on the first, one on the second

    first.close()
    second.close()
    emu.reset()
    assert emu.connections()["accepted"] == 0


def test_connection_counts_from_the_admin_endpoint(
    with_admin, emu: Emulator, api: Api, session: VerifyingSession
) -> None:
    api.get("ScheduledReport")
    counts = session.get(f"{emu.url}/_emulator/connections").json()
    assert counts["accepted"] >= 1
    assert counts["open"] >= 1
    assert counts["peak_open"] >= counts["open"]


# -- several report ids in one filter (cmp v1.1) -------------------------------------------------------


def test_cmp_v1_1_refuses_or_misreads_several_ids_as_the_behaviour_says(emu: Emulator, api: Api) -> None:
    first, second = emu.report_ids("cmp")[:2]

    def ask() -> requests.Response:
        return api.get("ScheduledReport", program="cmp", params={"reportId": f"{first};{second}"})

    assert [r["ReportId"] for r in values(ask())] == [first, second]  # "accept", the documented default
    emu.behaviour.multi_report_id = "reject"
    refused = ask()
    assert refused.status_code == 400
    assert "Specify a single report id" in refused.text  # in the envelope's case (cmp: "Message")
    emu.behaviour.multi_report_id = "as_one_id"
    assert ask().status_code == 404  # "first;second" read as one id nobody has
    # One id is always read, whatever the setting.
    assert [
        r["ReportId"] for r in values(api.get("ScheduledReport", program="cmp", params={"reportId": first}))
    ] == [first]
