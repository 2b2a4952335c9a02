"""The hook's retry layer tells an observer of every 429 and backoff; a bulk run adapts to the rate limit."""

from __future__ import annotations

import contextlib
import threading

import pytest

from airflow_provider_pcinsights.emulator import Emulator
from airflow_provider_pcinsights.exceptions import ThrottledError
from airflow_provider_pcinsights.operators.bulk import AdaptiveLimit, run_bulk


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
