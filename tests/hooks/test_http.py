"""``hooks.http``: sessions, retries and bounded answers, met through the hook.

- Transient failures are retried with bounded backoff; what outlives the retries is a typed error.
- The environment's proxies still apply to API calls, read once per host rather than at every call.
- The hook's retry layer tells an observer of every 429 and backoff; a bulk run adapts to the rate limit.
"""

from __future__ import annotations

import contextlib
import threading

import pytest
from emulator_support.proxy import RefusingProxy

from airflow_provider_pcinsights.emulator import Emulator
from airflow_provider_pcinsights.exceptions import (
    AuthenticationError,
    BadRequestError,
    NetworkSetupError,
    ServiceUnavailableError,
    ThrottledError,
    UnexpectedResponseError,
)
from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook
from airflow_provider_pcinsights.operators.bulk import AdaptiveLimit, run_bulk


def test_5xx_answers_are_retried_until_success_never_at_once(emu, make_hook):
    hook = make_hook()
    report_id = emu.report_ids("mpn")[0]
    emu.faults.fail(count=2, status=503)

    assert hook.pause_report(report_id)["ReportStatus"] == "Paused"

    calls = emu.api_requests(method="PUT")
    assert [r.status for r in calls] == [503, 503, 200]
    # backoff_factor 0.01: the first retry waits 0.01 s, the second 0.02 s (urllib3 alone retries at once)
    assert calls[1].monotonic - calls[0].monotonic >= 0.01


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


def test_a_429_without_retry_after_still_waits_before_its_retry(emu, make_hook):
    hook = make_hook(hook_kwargs={"backoff_factor": 0.3, "backoff_max": 1})
    emu.faults.throttle(count=1, retry_after=None)  # no Retry-After header at all

    assert len(hook.list_reports()) == 3

    throttled, retried = emu.api_requests()
    assert (throttled.status, throttled.fault, retried.status) == (429, "throttle:none", 200)
    assert retried.monotonic - throttled.monotonic >= 0.3  # Microsoft: "avoid retrying immediately"


def test_every_second_429_comes_without_retry_after_and_both_are_waited_for(emu, make_hook):
    hook = make_hook(hook_kwargs={"backoff_factor": 0.2, "backoff_max": 1, "max_retry_after": 0.5})
    emu.faults.throttle(count=2, retry_after=0.5)  # the second without Retry-After (the default habit)

    assert len(hook.list_reports()) == 3

    first, second, answered = emu.api_requests()
    assert [r.status for r in (first, second, answered)] == [429, 429, 200]
    assert second.monotonic - first.monotonic >= 0.5  # as Retry-After asked
    assert answered.monotonic - second.monotonic >= 0.4  # backoff 0.2 * 2 for the second retry


def test_a_host_that_does_not_resolve_fails_at_once_naming_it_and_the_setting(
    emu, make_hook, lookups_of_invalid_names
):
    hook = make_hook(host=f"https://pcinsights.invalid:{emu.port}", hook_kwargs={"retries": 3})
    hook.get_token()  # the sign-in (authority_host) is fine

    with pytest.raises(NetworkSetupError) as caught:
        hook.list_reports()

    message = str(caught.value)
    assert "the host name pcinsights.invalid does not resolve" in message
    assert "check the connection's host setting" in message
    assert lookups_of_invalid_names == ["pcinsights.invalid"]  # asked once: not retried
    assert emu.api_requests() == []


def test_an_authority_host_that_does_not_resolve_fails_the_sign_in_at_once(
    emu, make_hook, lookups_of_invalid_names
):
    hook = make_hook(authority_host="https://login.invalid", hook_kwargs={"retries": 3})

    with pytest.raises(AuthenticationError) as caught:
        hook.get_token()

    assert "login.invalid does not resolve" in str(caught.value)
    assert "authority_host setting" in str(caught.value)
    assert lookups_of_invalid_names == ["login.invalid"]


@pytest.mark.parametrize("how", ["forbid", "close"])
def test_a_proxy_that_refuses_the_api_fails_at_once_naming_the_proxies_setting(emu, make_hook, how):
    # The sign-in (127.0.0.1) is tunnelled; the API (localhost, the same emulator) is refused.
    with RefusingProxy(how=how, allow=[f"127.0.0.1:{emu.port}"]) as proxy:
        hook = make_hook(
            host=f"https://localhost:{emu.port}", proxies={"https": proxy.url}, hook_kwargs={"retries": 3}
        )
        hook.get_token()

        with pytest.raises(NetworkSetupError) as caught:
            hook.list_reports()

        message = str(caught.value)
        assert f"the proxy {proxy.url} refused to connect to localhost" in message
        assert "check the connection's proxies setting" in message
        # Asked once: not retried.
        assert [line.split()[:2] for line in proxy.refused()] == [["CONNECT", f"localhost:{emu.port}"]]
        assert emu.api_requests() == []


def test_a_proxy_that_refuses_the_sign_in_says_so(emu, make_hook):
    with RefusingProxy(how="forbid") as proxy:
        hook = make_hook(proxies={"https": proxy.url}, hook_kwargs={"retries": 3})
        with pytest.raises(AuthenticationError, match=r"proxy .* refused .*proxies setting"):
            hook.get_token()
        assert len(proxy.refused()) == 1
    assert emu.requests == []


def test_tls_verification_failure_is_not_retried_and_names_verify(emu, make_hook):
    hook = make_hook(verify="true", hook_kwargs={"retries": 3})  # the system's CAs do not know the emulator
    with pytest.raises(AuthenticationError, match=r"TLS verification of .* failed .*verify setting"):
        hook.get_token()
    assert emu.requests == []


def test_a_body_trickling_byte_by_byte_cannot_hold_the_call_past_the_timeout(emu, make_hook):
    hook = make_hook(timeout=1)
    hook.get_token()
    emu.faults.trickle(count=1, seconds=120)  # each byte well within the 1 s read timeout

    with pytest.raises(ServiceUnavailableError, match=r"did not arrive in full within 1 s") as caught:
        hook.list_reports()

    assert "bytes came" in str(caught.value)
    assert [r.fault for r in emu.api_requests()] == ["trickle:120"]


def test_a_body_cut_short_is_said_so(emu, make_hook):
    hook = make_hook()
    emu.faults.truncate(count=1, keep=0.5)  # valid HTTP, the JSON cut in the middle
    with pytest.raises(UnexpectedResponseError, match="the answer was cut short"):
        hook.list_reports()

    emu.faults.truncate(count=1, keep=0.5, close=True)  # the connection broke mid-body
    with pytest.raises(ServiceUnavailableError, match="was cut off"):
        hook.list_reports()


def _api_tunnels(proxy: RefusingProxy, port: int) -> int:
    return sum(1 for line in proxy.requests if line.startswith(f"CONNECT 127.0.0.1:{port}"))


def test_https_proxy_from_the_environment_carries_the_api_calls(emu, make_hook, monkeypatch):
    with RefusingProxy(allow=[f"127.0.0.1:{emu.port}"]) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        hook = make_hook()
        hook.get_token()  # the sign-in's own session
        before = _api_tunnels(proxy, emu.port)

        hook.get_report(emu.report_ids()[0])

        assert _api_tunnels(proxy, emu.port) == before + 1  # the API session's tunnel
        assert proxy.refused() == []


def test_no_proxy_from_the_environment_is_honoured(emu, make_hook, monkeypatch):
    with RefusingProxy(how="forbid") as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        hook = make_hook()

        hook.get_report(emu.report_ids()[0])

        assert proxy.requests == []


def test_the_connections_proxies_win_over_the_environments(emu, make_hook, monkeypatch):
    with RefusingProxy(how="forbid") as refusing, RefusingProxy(allow=[f"127.0.0.1:{emu.port}"]) as chosen:
        monkeypatch.setenv("HTTPS_PROXY", refusing.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        hook = make_hook(proxies={"https": chosen.url})
        hook.get_token()
        before = _api_tunnels(chosen, emu.port)

        hook.get_report(emu.report_ids()[0])

        assert _api_tunnels(chosen, emu.port) == before + 1
        assert refusing.requests == []


class Recorder:
    """An observer that writes down what the retry layer told it, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.lock = threading.Lock()

    def throttled(self) -> None:
        with self.lock:
            self.events.append("429")

    @contextlib.contextmanager
    def backing_off(self):  # type: ignore[no-untyped-def]
        with self.lock:
            self.events.append("sleep")
        yield
        with self.lock:
            self.events.append("awake")


def test_a_429_the_hook_retries_still_reaches_the_observer_and_so_does_its_backoff(emu, make_hook):
    hook = make_hook()
    recorder = Recorder()
    hook.add_retry_observer(recorder)
    emu.faults.throttle(count=1, retry_after=0)

    hook.get_report(emu.report_ids()[0])  # succeeds on the retry

    assert recorder.events == ["429", "sleep", "awake"]
    assert [r.status for r in emu.api_requests()] == [429, 200]


def test_the_last_429_of_a_call_that_gives_up_is_heard_too(emu, make_hook):
    hook = make_hook(hook_kwargs={"retries": 0})
    recorder = Recorder()
    hook.add_retry_observer(recorder)
    emu.faults.throttle(count=1, retry_after=0)

    with pytest.raises(ThrottledError):
        hook.get_report(emu.report_ids()[0])

    assert recorder.events == ["429"]


def test_other_failures_and_the_sign_in_are_not_throttling(emu, make_hook):
    hook = make_hook()
    recorder = Recorder()
    hook.add_retry_observer(recorder)
    emu.faults.fail(count=1, status=503)
    emu.faults.throttle(count=1, retry_after=0, path="/oauth2/v2.0/token")

    hook.get_report(emu.report_ids()[0])

    assert recorder.events == ["sleep", "awake"]  # the 503's backoff only; the sign-in's 429 is its own


def test_an_observer_without_the_two_methods_is_refused(make_hook):
    with pytest.raises(TypeError, match="needs a backing_off"):
        make_hook().add_retry_observer(type("Half", (), {"throttled": lambda self: None})())


def test_a_bulk_pause_under_the_rate_limit_slows_down_and_loses_no_report():
    with Emulator(reports=60) as emu, pytest.MonkeyPatch.context() as patch:
        for name, value in emu.connection_env("pcinsights_bulk").items():
            patch.setenv(name, value)
        from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

        # Retry-After says whole seconds; capped short here so the test stays quick.
        hook = PartnerCenterInsightsHook(
            "pcinsights_bulk", retries=8, backoff_factor=0.02, backoff_max=0.1, max_retry_after=0.1
        )
        ids = emu.report_ids()
        limit = AdaptiveLimit(ceiling=16)
        hook.add_retry_observer(limit)
        hook.get_token()
        emu.faults.rate_limit(rate=60, burst=4)

        outcomes = run_bulk(hook.pause_report, ids, limit=limit, again_on=(ThrottledError,))

        assert [o.error for o in outcomes if not o.ok] == []
        assert [o.value["ReportId"] for o in outcomes] == ids
        assert {emu.report("mpn", rid)["ReportStatus"] for rid in ids} == {"Paused"}
        refused = [r for r in emu.api_requests() if r.fault and r.fault.startswith("rate_limit")]
        assert refused, "the bucket never ran dry: the test proves nothing"
        assert limit.decreases >= 1
        assert limit.lowest < 16
