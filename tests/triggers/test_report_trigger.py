"""ReportStatusTrigger: serialization, and run() under asyncio against the emulator."""

from __future__ import annotations

import asyncio
import importlib
import json

import pytest
from trigger_runs import all_events, run_to_end

from airflow_provider_pcinsights.triggers.report import ReportStatusTrigger

NO_RETRIES = {"retries": 0}
CLASSPATH = "airflow_provider_pcinsights.triggers.report.ReportStatusTrigger"


@pytest.fixture
def emu(pcinsights_emulator):
    return pcinsights_emulator


def _trigger(report_ids, **kwargs) -> ReportStatusTrigger:
    kwargs.setdefault("target_statuses", ["Active"])
    kwargs.setdefault("failure_statuses", ["Inactive"])
    kwargs.setdefault("conn_id", "pcinsights_default")
    kwargs.setdefault("poll_interval", 0.05)
    kwargs.setdefault("hook_params", NO_RETRIES)
    return ReportStatusTrigger(report_ids=list(report_ids), **kwargs)


# -- serialization -----------------------------------------------------------------------


def test_serialize_round_trip_with_plain_json_values():
    trigger = ReportStatusTrigger(
        report_ids=["r1", "r2"],
        target_statuses=["Paused", "Active"],
        failure_statuses=[],
        conn_id="pcinsights_other",
        poll_interval=12,
        hook_params={"retries": 2, "backoff_factor": 0.5},
    )

    classpath, kwargs = trigger.serialize()

    assert classpath == CLASSPATH
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert kwargs == {
        "report_ids": ["r1", "r2"],
        "target_statuses": ["Paused", "Active"],
        "failure_statuses": [],
        "conn_id": "pcinsights_other",
        "poll_interval": 12.0,
        "hook_params": {"retries": 2, "backoff_factor": 0.5},
    }
    module_name, class_name = classpath.rsplit(".", 1)
    again = getattr(importlib.import_module(module_name), class_name)(**kwargs)
    assert again.serialize() == (classpath, kwargs)


# -- run() ----------------------------------------------------------------------------------


def test_succeeds_once_every_report_reaches_a_target_status(emu):
    ids = emu.report_ids()[:2]
    emu.set_report_status("mpn", ids[0], "Active")
    emu.set_report_status("mpn", ids[1], "Paused")
    emu.change_status_after_reads("mpn", ids[1], "Active", reads=2)

    payload = run_to_end(_trigger(ids))

    assert payload["status"] == "success"
    assert payload["statuses"] == dict.fromkeys(ids, "Active")
    assert (
        emu.reads("mpn", ids[1]) == 3
    )  # Paused, Paused, Active: kept polling until the change, then stopped
    assert len(emu.api_requests()) == 3  # one read of both reports a poll (mpn: the account's listing)


def test_a_failure_status_ends_the_wait_with_a_failure_event(emu):
    ids = emu.report_ids()[:2]
    emu.set_report_status("mpn", ids[0], "Paused")
    emu.set_report_status("mpn", ids[1], "Inactive")

    payload = run_to_end(_trigger(ids))

    assert payload["status"] == "failure"
    assert f"{ids[1]} is Inactive" in payload["message"]
    assert payload["statuses"] == {ids[0]: "Paused", ids[1]: "Inactive"}


def test_an_unknown_report_ends_the_wait_with_a_not_found_event(emu):
    unknown = "00000000-0000-0000-0000-00000000dead"
    payload = run_to_end(_trigger([emu.report_ids()[0], unknown]))
    assert payload["status"] == "not_found"  # the sensor fails without a retry: none can bring it back
    assert "unknown" in payload["message"]
    assert unknown in payload["message"]


@pytest.mark.parametrize("status", ["Suspended", None])
def test_a_status_nobody_can_read_ends_the_wait_with_an_error_event_not_an_endless_wait(emu, status):
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Paused")
    emu.change_status_after_reads("mpn", report_id, "Active", reads=2)  # it would become Active later
    record = {"reportId": report_id, **({"reportStatus": status} if status else {})}
    emu.faults.json_body(count=1, body={"value": [record]})

    payload = run_to_end(_trigger([report_id]))

    assert payload["status"] == "error"
    assert "UnreadableStatusError" in payload["message"]
    assert report_id in payload["message"]
    assert len(emu.api_requests()) == 1  # ended at the first unreadable answer


def test_rejected_credentials_end_the_wait_with_an_error_event_without_the_secret(emu, monkeypatch):
    wrong_secret = "not-the-secret-0123456789"
    for name, value in emu.connection_env("pcinsights_wrong", password=wrong_secret).items():
        monkeypatch.setenv(name, value)

    payload = run_to_end(_trigger(emu.report_ids()[:1], conn_id="pcinsights_wrong"))

    assert payload["status"] == "error"
    assert "AuthenticationError" in payload["message"]
    assert wrong_secret not in json.dumps(payload)
    assert emu.client_secret not in json.dumps(payload)


def test_an_unknown_connection_ends_the_wait_with_an_error_event(emu):
    payload = run_to_end(_trigger(emu.report_ids()[:1], conn_id="pcinsights_nowhere"))
    assert payload["status"] == "error"
    assert "pcinsights_nowhere" in payload["message"]
    assert emu.requests == []


def test_bad_ids_or_statuses_end_with_an_error_event_before_anything_is_sent(emu):
    assert "report_id" in run_to_end(_trigger(["a/b"]))["message"]
    assert "target_status" in run_to_end(_trigger(["r1"], target_statuses=["Activ"]))["message"]
    assert emu.requests == []


def test_a_short_outage_is_tolerated(emu):
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Active")
    emu.faults.fail(count=2, status=503)

    payload = run_to_end(_trigger([report_id]))

    assert payload["status"] == "success"
    assert [r.status for r in emu.api_requests()] == [503, 503, 200]


def test_a_lasting_outage_ends_the_wait_with_an_error_event(emu):
    report_id = emu.report_ids()[0]
    emu.faults.fail(count=3, status=503)

    payload = run_to_end(_trigger([report_id]))

    assert payload["status"] == "error"
    assert "gave up after 3 failed polls in a row" in payload["message"]
    assert "ServiceUnavailableError" in payload["message"]


def test_the_same_trigger_can_run_twice(emu):
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Active")
    trigger = _trigger([report_id])

    first = run_to_end(trigger)
    second = run_to_end(trigger)

    assert first == second
    assert first["status"] == "success"


def test_polling_never_blocks_the_event_loop(emu):
    """A coroutine keeps ticking while the trigger polls a slow service: HTTP runs off the loop."""
    ids = emu.report_ids()[:2]
    for rid in ids:
        emu.set_report_status("mpn", rid, "Active")
    emu.faults.latency = 0.5  # every API call takes at least this long

    async def scenario():
        done = asyncio.Event()
        ticks = 0

        async def ticker():
            nonlocal ticks
            while not done.is_set():
                await asyncio.sleep(0.01)
                ticks += 1

        async def wait():
            events = await all_events(_trigger(ids))
            done.set()
            return events

        events, _ = await asyncio.gather(wait(), ticker())
        return events, ticks

    events, ticks = asyncio.run(scenario())

    assert events[0].payload["status"] == "success"
    assert len(emu.api_requests()) == 1  # both reports in one read
    # A slow call gives the ticker dozens of turns if the loop is free; a blocking call would let it
    # tick only before and after it (a handful of times at most).
    assert ticks >= 20, f"the event loop ticked only {ticks} times while the trigger polled"


def test_no_synchronous_connection_lookup_happens_on_the_event_loop(emu, monkeypatch):
    """A synchronous connection lookup on the event loop would stall every trigger of the triggerer.

    Some Airflow 3 triggerers refuse it outright ("You cannot use AsyncToSync in the same
    thread as an async event loop"); 3.3 lets it through greenback unless that is switched
    off (scripts/triggerer_e2e.py runs the real triggerer that way). The refusal is the one
    thing the emulator cannot produce, so it is reproduced here: the lookup raises whenever
    it is called from a thread running an event loop.
    """
    from airflow.providers.common.compat.sdk import BaseHook

    real_lookup = BaseHook.get_connection.__func__
    refused: list[str] = []

    def lookup_refused_on_the_loop(cls, conn_id):
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a worker thread: allowed
            return real_lookup(cls, conn_id)
        refused.append(conn_id)
        raise RuntimeError("You cannot use AsyncToSync in the same thread as an async event loop")

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(lookup_refused_on_the_loop))
    report_id = emu.report_ids()[0]

    payload = run_to_end(_trigger([report_id]))

    assert payload["status"] == "success", payload["message"]
    assert refused == []
