"""The wait triggers end right: at their deadline after one last read, the same way when two copies
run at once (a triggerer failover), and releasing their share of the poll hub when cancelled.

Against the emulator, through the poll hub, with real requests and MSAL.
"""

from __future__ import annotations

import asyncio
import datetime
import importlib
import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from trigger_runs import all_events, run_to_end

from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook
from airflow_provider_pcinsights.triggers.hub import poll_hub
from airflow_provider_pcinsights.triggers.report import ReportExecutionTrigger, ReportStatusTrigger

NO_RETRIES = {"retries": 0}
HOUR = 3600.0  # a poll interval no test sleeps through: only the deadline makes the last read
IN_WORDS = re.compile(
    r"Timed out after waiting (\d+ (day|hour|minute|second)s?( \d+ \w+)?|less than a second)\b"
)


@pytest.fixture
def emu(pcinsights_emulator):
    return pcinsights_emulator


def _in(seconds: float) -> str:
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)).isoformat()


def _status_trigger(report_ids, **kwargs) -> ReportStatusTrigger:
    kwargs.setdefault("poll_interval", HOUR)
    return ReportStatusTrigger(
        report_ids=list(report_ids),
        target_statuses=["Active"],
        failure_statuses=["Inactive"],
        hook_params=NO_RETRIES,
        **kwargs,
    )


def test_the_deadline_and_the_wait_s_start_serialize_as_absolute_times():
    trigger = _status_trigger(
        ["r1"], deadline="2026-03-01T06:10:00+00:00", waiting_since="2026-03-01T06:00:00+00:00"
    )

    classpath, kwargs = trigger.serialize()

    assert json.loads(json.dumps(kwargs)) == kwargs
    assert kwargs["deadline"] == "2026-03-01T06:10:00+00:00"
    assert kwargs["waiting_since"] == "2026-03-01T06:00:00+00:00"
    module_name, class_name = classpath.rsplit(".", 1)
    assert getattr(importlib.import_module(module_name), class_name)(**kwargs).serialize() == (
        classpath,
        kwargs,
    )


def test_a_wait_met_at_its_last_read_succeeds(emu):
    """The first read must come before the deadline: signed in beforehand (the token is the
    process's), and 15 s ahead. With a cold sign-in and 5 s, a loaded machine read first after the
    deadline, and that read was the last one."""
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Paused")
    emu.change_status_after_reads("mpn", report_id, "Active", reads=1)  # Active from the second read on
    PartnerCenterInsightsHook(**NO_RETRIES).get_token()

    payload = run_to_end(_status_trigger([report_id], deadline=_in(15)))

    assert payload["status"] == "success"  # Airflow's deferral timeout would have failed it unread
    assert payload["statuses"] == {report_id: "Active"}
    assert emu.reads("mpn", report_id) == 2  # the first read, and the last, at the deadline


def test_a_wait_not_met_at_its_deadline_says_how_long_it_waited_and_what_it_saw(emu):
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Paused")
    since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)

    payload = run_to_end(
        _status_trigger([report_id], deadline=_in(-1), waiting_since=since.isoformat())  # already due
    )

    assert payload["status"] == "timeout"
    assert "Timed out after waiting 10 minutes" in payload["message"]
    assert f"{report_id} is Paused" in payload["message"]
    assert payload["statuses"] == {report_id: "Paused"}  # the statuses last seen
    assert emu.reads("mpn", report_id) == 1  # one last read, even with the deadline already past


def test_an_execution_wait_ends_at_its_deadline_too(emu):
    report_id = emu.report_ids()[0]  # Active; its exports are long done
    trigger = ReportExecutionTrigger(
        report_ids=[report_id],
        completed_after="2099-01-01T00:00:00Z",
        poll_interval=HOUR,
        hook_params=NO_RETRIES,
        deadline=_in(1),
    )

    payload = run_to_end(trigger)

    assert payload["status"] == "timeout"
    assert IN_WORDS.search(payload["message"]), payload["message"]
    assert report_id in payload["message"]


@pytest.mark.parametrize("triggerers", [1, 2])
def test_two_copies_running_at_once_reach_the_same_verdict_and_write_nothing(emu, triggerers):
    ids = emu.report_ids()[:2]
    emu.set_report_status("mpn", ids[0], "Active")
    emu.set_report_status("mpn", ids[1], "Paused")
    emu.change_status_after_reads("mpn", ids[1], "Active", reads=2)
    kwargs = _status_trigger(ids, poll_interval=0.05, deadline=_in(60)).serialize()[1]

    async def on_one_loop():  # type: ignore[no-untyped-def]
        # One triggerer that runs the same serialized trigger twice (its hub shares their reads).
        return await asyncio.gather(
            all_events(ReportStatusTrigger(**kwargs)), all_events(ReportStatusTrigger(**kwargs))
        )

    if triggerers == 1:
        first, second = asyncio.run(on_one_loop())
    else:  # two triggerers, each with its own event loop, hub, session and reads
        with ThreadPoolExecutor(2) as pool:
            first, second = pool.map(
                lambda _: asyncio.run(all_events(ReportStatusTrigger(**kwargs))), range(2)
            )

    assert len(first) == len(second) == 1
    assert first[0].payload == second[0].payload
    assert first[0].payload["status"] == "success"
    assert {r.method for r in emu.api_requests()} == {"GET"}  # reads only: nothing sent twice


def test_a_cancelled_deferred_wait_releases_its_share_of_the_poll_hub(emu):
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Paused")

    async def cancel_mid_wait():  # type: ignore[no-untyped-def]
        hub = poll_hub()
        task = asyncio.ensure_future(all_events(_status_trigger([report_id], poll_interval=0.05)))
        while emu.reads("mpn", report_id) < 2:  # waiting, between polls or in one
            await asyncio.sleep(0.02)
        assert hub.readers == 1
        task.cancel()  # as the triggerer does when the task is cleared, or its trigger reassigned
        await asyncio.gather(task, return_exceptions=True)
        readers_left = hub.readers
        await hub.wait_closed()
        return task, readers_left, hub.stats

    task, readers_left, stats = asyncio.run(cancel_mid_wait())

    assert task.cancelled()
    assert readers_left == 0
    assert stats.hooks_built == stats.hooks_closed == 1  # its session closed
