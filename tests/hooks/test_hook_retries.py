"""Transient failures are retried with bounded backoff; what outlives the retries is a typed error.

Gaps between attempts are measured in the emulator's request log, never with a
stopwatch in the test.
"""

from __future__ import annotations

import pytest

from airflow_provider_pcinsights.emulator import Emulator
from airflow_provider_pcinsights.exceptions import (
    BadRequestError,
    ServiceUnavailableError,
    ThrottledError,
)
from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook


def test_5xx_answers_are_retried_until_success(emu, make_hook):
    hook = make_hook()
    report_id = emu.report_ids("mpn")[0]
    emu.faults.fail(count=2, status=503)

    assert hook.pause_report(report_id)["ReportStatus"] == "Paused"

    assert [r.status for r in emu.api_requests(method="PUT")] == [503, 503, 200]


def test_5xx_beyond_the_retries_is_service_unavailable_with_the_service_message(emu, make_hook):
    hook = make_hook()
    report_id = emu.report_ids("mpn")[0]
    emu.faults.fail(count=3, status=500, message="Internal error, correlation id 1234")

    with pytest.raises(ServiceUnavailableError) as caught:
        hook.get_report(report_id)

    assert caught.value.status_code == 500
    assert "correlation id 1234" in str(caught.value)
    assert "MS-RequestId" in str(caught.value)
    assert len(emu.api_requests()) == 3  # the first try and two retries


def test_429_is_retried_no_sooner_than_retry_after(emu, make_hook):
    hook = make_hook()
    emu.faults.throttle(count=1, retry_after=1)

    assert len(hook.list_reports()) == 3

    throttled, retried = emu.api_requests()
    assert (throttled.status, retried.status) == (429, 200)
    assert retried.monotonic - throttled.monotonic >= 1.0


def test_a_long_retry_after_is_capped(emu, make_hook):
    hook = make_hook(hook_kwargs={"max_retry_after": 0.2})
    emu.faults.throttle(count=1, retry_after=3600)

    assert len(hook.list_reports()) == 3

    throttled, retried = emu.api_requests()
    assert retried.monotonic - throttled.monotonic < 60  # nowhere near the hour asked for


def test_throttling_that_outlives_the_retries_is_throttled_error(emu, make_hook):
    hook = make_hook(hook_kwargs={"max_retry_after": 0.05})
    emu.faults.throttle(count=3, retry_after=2)

    with pytest.raises(ThrottledError) as caught:
        hook.list_reports()

    assert caught.value.status_code == 429
    assert caught.value.retry_after == 2
    assert "Rate limit is exceeded" in str(caught.value)


def test_dropped_connections_are_retried(emu, make_hook):
    hook = make_hook()
    report_id = emu.report_ids("mpn")[0]
    emu.faults.drop(count=2)

    assert hook.resume_report(report_id)["ReportStatus"] == "Active"
    assert [r.status for r in emu.api_requests()] == [None, None, 200]


def test_a_hanging_call_times_out_and_is_retried(emu, make_hook):
    hook = make_hook(timeout=0.5)
    emu.faults.hang(count=1, seconds=5)

    assert len(hook.list_reports()) == 3


def test_a_service_that_keeps_hanging_is_service_unavailable(emu, make_hook):
    hook = make_hook(timeout=0.3, hook_kwargs={"retries": 1})
    hook.get_token()
    emu.faults.hang(count=2, seconds=5)

    with pytest.raises(ServiceUnavailableError, match="did not answer after 1 retries"):
        hook.list_reports()


def test_a_dead_service_fails_after_the_bounded_retries(tmp_path, monkeypatch, fast_retries):
    emulator = Emulator(state_dir=tmp_path).start()  # its CA file outlives stop()
    for name, value in emulator.connection_env("pcinsights_dead").items():
        monkeypatch.setenv(name, value)
    hook = PartnerCenterInsightsHook("pcinsights_dead", **fast_retries)
    report_id = emulator.report_ids("mpn")[0]
    url = emulator.url
    hook.get_token()
    emulator.stop()

    with pytest.raises(ServiceUnavailableError) as caught:
        hook.pause_report(report_id)

    assert f"pause report {report_id}" in str(caught.value)
    assert url in str(caught.value)


def test_client_errors_are_not_retried(emu, make_hook):
    hook = make_hook()
    emu.faults.fail(count=1, status=400, message="The report id is not valid.")

    with pytest.raises(BadRequestError, match="The report id is not valid"):
        hook.list_reports()
    assert len(emu.api_requests()) == 1


def test_sign_in_failures_of_the_token_endpoint_are_retried(emu, make_hook):
    hook = make_hook()
    emu.faults.fail(count=1, status=503, path="/oauth2/v2.0/token")

    assert hook.get_token()
    token_calls = [r for r in emu.requests if r.kind == "token"]
    assert [r.status for r in token_calls] == [503, 200]
    assert emu.token_requests() == 2
