"""ReportExportEventTrigger: one event per new export, exactly once across restarts, under asyncio.

The triggers run as the triggerer runs them (``run()`` on one event loop, through the
poll hub) against the emulator; the cursor store is one in memory shared by every run
of a test, as Airflow's Variables are shared by every triggerer of a deployment. The
real store (Variables through the triggerer's supervisor) runs in the e2e check.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook
from airflow_provider_pcinsights.triggers import exports
from airflow_provider_pcinsights.triggers.hub import poll_hub
from airflow_provider_pcinsights.triggers.report import BaseEventTrigger, ReportExportEventTrigger

pytestmark = pytest.mark.skipif(BaseEventTrigger is None, reason="event triggers need Airflow 3")
CLASSPATH = "airflow_provider_pcinsights.triggers.report.ReportExportEventTrigger"
NO_RETRIES = {"retries": 0}


@pytest.fixture
def emu(pcinsights_emulator):
    pcinsights_emulator.runs.pending_seconds = 0  # a started run is Completed at its next read
    pcinsights_emulator.runs.running_seconds = 0
    return pcinsights_emulator


@pytest.fixture
def store(monkeypatch):
    memory = exports.MemoryStore()
    monkeypatch.setattr(exports, "store", memory)
    return memory


def _trigger(report_id: str, **kwargs: Any) -> ReportExportEventTrigger:
    kwargs.setdefault("poll_interval", 0.05)
    kwargs.setdefault("hook_params", NO_RETRIES)
    return ReportExportEventTrigger(report_id=report_id, **kwargs)


def _export(report_id: str) -> None:
    """What makes the service export: a paused report resumed through the API starts its next run."""
    hook = PartnerCenterInsightsHook(retries=0)
    hook.pause_report(report_id)
    hook.resume_report(report_id)


def watch(
    triggers: list[ReportExportEventTrigger],
    until: Callable[[list[dict[str, Any]]], bool] = lambda events: True,
    *,
    then_polls: int = 3,
    during: Callable[[], None] | None = None,
    timeout: float = 30.0,
) -> tuple[list[dict[str, Any]], Any]:
    """Run the triggers together until ``until(events)``, and ``then_polls`` shared reads more
    (an event announced twice would come by then); ``during`` runs once their first poll is done."""

    async def main() -> tuple[list[dict[str, Any]], Any]:
        hub = poll_hub()
        events: list[dict[str, Any]] = []

        async def one(trigger: ReportExportEventTrigger) -> None:
            async for event in trigger.run():
                events.append(event.payload)

        tasks = [asyncio.ensure_future(one(t)) for t in triggers]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        async def until_reads(count: int) -> None:
            while hub.stats.reads < count:
                for task in tasks:
                    if task.done():
                        task.result()  # run() must never end: raise what ended it
                assert loop.time() < deadline, f"timed out; events so far: {events}"
                await asyncio.sleep(0.01)

        try:
            await until_reads(1)
            if during is not None:
                await asyncio.to_thread(during)
            while not until(events):
                await until_reads(hub.stats.reads + 1)
            await until_reads(hub.stats.reads + then_polls)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await hub.wait_closed()
        return events, hub.stats

    return asyncio.run(main())


def test_serialize_round_trip_and_an_asset_watcher_takes_it():
    from airflow.sdk import Asset, AssetWatcher

    trigger = ReportExportEventTrigger(report_id="r1", conn_id="pcinsights_other", poll_interval=30)
    classpath, kwargs = trigger.serialize()

    assert classpath == CLASSPATH
    assert kwargs == {
        "report_id": "r1",
        "conn_id": "pcinsights_other",
        "poll_interval": 30.0,
        "hook_params": {},
    }
    assert json.loads(json.dumps(kwargs)) == kwargs
    module_name, class_name = classpath.rsplit(".", 1)
    assert getattr(importlib.import_module(module_name), class_name)(**kwargs).serialize() == (
        classpath,
        kwargs,
    )
    asset = Asset("pcinsights_sales", watchers=[AssetWatcher(name="sales_exports", trigger=trigger)])
    assert asset.watchers[0].trigger is trigger


def test_each_new_export_is_one_event_and_older_ones_none(emu, store):
    report_id = emu.report_ids()[0]  # seeded with two exports: made before the watcher started
    assert len([e for e in emu.executions("mpn", report_id) if e["ExecutionStatus"] == "Completed"]) == 2

    events, _ = watch(
        [_trigger(report_id)], lambda events: len(events) == 2, during=lambda: _twice(report_id)
    )

    completed = [e for e in emu.executions("mpn", report_id) if e["ExecutionStatus"] == "Completed"]
    assert [e["ExecutionId"] for e in events] == [e["ExecutionId"] for e in completed[2:]]
    for event in events:
        assert sorted(event) == ["ExecutionId", "ReportGeneratedTime", "ReportId"]  # never the link
        assert event["ReportId"] == report_id


def _twice(report_id: str) -> None:
    _export(report_id)
    PartnerCenterInsightsHook(retries=0).get_report_executions(report_id)  # the first run completes
    # The service states times to the second: a second resume within the same second would leave the
    # record as the watcher last saw it (see ReadPlan), so the second export starts in the next one.
    time.sleep(1.05 - time.time() % 1)
    _export(report_id)


def test_a_restart_announces_what_came_while_down_and_nothing_twice(emu, store):
    report_id = emu.report_ids()[1]  # never exported yet
    trigger = _trigger(report_id)

    first, _ = watch([trigger], lambda events: len(events) == 1, during=lambda: _export(report_id))
    _export(report_id)  # while no triggerer runs it
    PartnerCenterInsightsHook(retries=0).get_report_executions(report_id)
    again, _ = watch([_trigger(report_id)])  # started afresh from its serialized arguments

    ids = [e["ExecutionId"] for e in emu.executions("mpn", report_id) if e["ExecutionStatus"] == "Completed"]
    assert len(ids) == 2
    assert [e["ExecutionId"] for e in first] == ids[:1]
    assert [e["ExecutionId"] for e in again] == ids[1:]


def test_two_copies_at_once_announce_an_export_once(emu, store):
    """A failover: two triggerers run the same trigger against the same Variables."""
    report_id = emu.report_ids()[2]

    events, _ = watch(
        [_trigger(report_id), _trigger(report_id)],
        lambda events: len(events) >= 1,
        during=lambda: _export(report_id),
    )

    assert len(events) == 1


def test_an_exported_report_is_read_once_a_poll_for_every_watcher(emu, store):
    """Watchers of one connection share one read of their reports a poll; executions are read on the
    first poll and when a report's record says an export may have come, not on every poll."""
    ids = emu.report_ids()
    before = len(emu.api_requests())

    events, stats = watch(
        [_trigger(rid) for rid in ids],
        lambda events: len(events) == 1,
        then_polls=5,
        during=lambda: _export(ids[0]),
    )

    assert [e["ReportId"] for e in events] == [ids[0]]
    calls = [r for r in emu.api_requests()[before:] if r.method == "GET"]
    listings = [r for r in calls if "/execution/" not in r.path and "reportId" not in r.query]
    execution_reads = [r for r in calls if "/execution/" in r.path]
    # One listing a shared read, for every watcher (the last may still be on its way when they stop).
    assert stats.reads - 1 <= len(listings) <= stats.reads
    # The first poll of each (3), then the exported report's from the resume until its export (1 or 2).
    # A 404 (no execution yet) costs one more look-up of the report, so count reports, not calls.
    assert stats.reads >= 6
    per_report = {rid: sum(1 for r in execution_reads if r.path.endswith(rid)) for rid in ids}
    assert per_report[ids[1]] == 1, per_report
    assert per_report[ids[2]] == 1, per_report
    assert per_report[ids[0]] <= 3, per_report


def test_without_a_catch_up_interval_an_export_nothing_explains_costs_no_read(emu, store):
    """Off by default: an export neither the schedule nor a change of the report explains is left to
    the next read they call for (late, never lost), and costs no read of its own."""
    report_id = emu.report_ids()[0]
    before = len(emu.api_requests())
    added: list[str] = []

    def after_the_first_poll() -> None:
        """Once the second poll's read of the record was sent: the first poll's look is over."""
        while True:
            paths = [r.path for r in emu.api_requests()[before:] if r.method == "GET"]
            looked = next((i for i, path in enumerate(paths) if "/execution/" in path), None)
            if looked is not None and any("/execution/" not in path for path in paths[looked + 1 :]):
                break
            time.sleep(0.01)
        added.append(emu.add_execution("mpn", report_id)["ExecutionId"])

    events, stats = watch([_trigger(report_id)], then_polls=6, during=after_the_first_poll)

    assert len(added) == 1
    assert added[0] not in [e["ExecutionId"] for e in events]
    execution_reads = [r for r in emu.api_requests()[before:] if "/execution/" in r.path]
    assert len(execution_reads) == 1  # the first poll's, nothing after it
    assert stats.reads >= 7


def test_a_catch_up_interval_must_be_seconds_above_zero():
    with pytest.raises(ValueError, match="catch_up_interval must be a number of seconds above 0"):
        _trigger("r1", catch_up_interval=0)


def test_a_catch_up_read_finds_an_export_no_record_change_announced(emu, store):
    report_id = emu.report_ids()[0]

    events, _ = watch(
        [_trigger(report_id, catch_up_interval=0.2)],
        lambda events: len(events) == 1,
        during=lambda: emu.add_execution("mpn", report_id),
    )

    assert events[0]["ExecutionId"] == emu.executions("mpn", report_id)[-1]["ExecutionId"]


def test_a_failed_poll_is_logged_and_polled_again(emu, store, logs):
    events, _ = watch([_trigger("not-a-known-report")], then_polls=2)

    assert events == []
    assert logs().count("not-a-known-report is unknown to this account") >= 2
