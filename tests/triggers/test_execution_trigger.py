"""ReportExecutionTrigger: serialization, and run() under asyncio against the emulator."""

from __future__ import annotations

import datetime
import importlib
import json

import pytest
from trigger_runs import run_to_end

from airflow_provider_pcinsights.triggers.report import ReportExecutionTrigger

NO_RETRIES = {"retries": 0}
CLASSPATH = "airflow_provider_pcinsights.triggers.report.ReportExecutionTrigger"


@pytest.fixture
def emu(pcinsights_emulator):
    return pcinsights_emulator


def _trigger(report_ids, completed_after=None, **kwargs) -> ReportExecutionTrigger:
    if completed_after is None:
        completed_after = (
            datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
        ).isoformat()
    kwargs.setdefault("poll_interval", 0.05)
    kwargs.setdefault("hook_params", NO_RETRIES)
    return ReportExecutionTrigger(report_ids=list(report_ids), completed_after=completed_after, **kwargs)


def test_serialize_round_trip_with_plain_json_values():
    trigger = ReportExecutionTrigger(
        report_ids=["r1"],
        completed_after="2026-03-01T06:00:00+00:00",
        conn_id="pcinsights_other",
        poll_interval=30,
        hook_params={"retries": 2},
    )

    classpath, kwargs = trigger.serialize()

    assert classpath == CLASSPATH
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert kwargs == {
        "report_ids": ["r1"],
        "completed_after": "2026-03-01T06:00:00+00:00",
        "conn_id": "pcinsights_other",
        "poll_interval": 30.0,
        "hook_params": {"retries": 2},
    }
    module_name, class_name = classpath.rsplit(".", 1)
    again = getattr(importlib.import_module(module_name), class_name)(**kwargs)
    assert again.serialize() == (classpath, kwargs)


def test_an_export_after_completed_after_ends_the_wait_with_its_record(emu):
    ids = emu.report_ids()[:2]
    made = {rid: emu.add_execution("mpn", rid) for rid in ids}

    payload = run_to_end(_trigger(ids))

    assert payload["status"] == "success"
    assert {rid: rec["ExecutionId"] for rid, rec in payload["executions"].items()} == {
        rid: rec["ExecutionId"] for rid, rec in made.items()
    }
    assert json.loads(json.dumps(payload)) == payload


def test_a_paused_report_ends_the_wait_with_a_failure_event(emu):
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Paused")

    payload = run_to_end(_trigger([report_id]))

    assert payload["status"] == "failure"
    assert f"{report_id} (Paused)" in payload["message"]


def test_an_unknown_report_or_a_bad_time_ends_the_wait_with_a_not_found_or_an_error_event(emu):
    unknown = "00000000-0000-0000-0000-00000000dead"
    payload = run_to_end(_trigger([unknown]))
    assert payload["status"] == "not_found"  # the sensor fails without a retry: none can bring it back
    assert unknown in payload["message"]

    payload = run_to_end(_trigger(["r1"], completed_after="not a time"))
    assert payload["status"] == "error"
    assert "completed_after 'not a time'" in payload["message"]


def test_the_same_trigger_can_run_twice(emu):
    report_id = emu.report_ids()[0]
    emu.add_execution("mpn", report_id)
    trigger = _trigger([report_id])

    first, second = run_to_end(trigger), run_to_end(trigger)

    # The same verdict about the same execution. Not the whole record: the service's answers may
    # differ between reads in what is not about the execution itself.
    assert first["status"] == second["status"] == "success"
    # The download link is a credential: the event (stored in Airflow's database) never holds it.
    assert all("ReportAccessSecureLink" not in record for record in first["executions"].values())
    assert first["message"] == second["message"]
    assert _stable(first["executions"]) == _stable(second["executions"])


def _stable(executions: dict) -> dict:
    """What a read of an execution always answers the same: its id and when it was generated."""
    return {
        rid: (record["ExecutionId"], record["ReportGeneratedTime"], record["ExecutionStatus"])
        for rid, record in executions.items()
    }


def test_the_trigger_keeps_polling_through_pending_and_running(emu):
    report_id = emu.report_ids()[1]
    run = emu.run_report("mpn", report_id)
    emu.runs.pending_seconds = emu.runs.running_seconds = 60
    emu.clock.step_per_read = 45  # polls see Pending, Running, Running, Completed

    payload = run_to_end(_trigger([report_id]))

    assert payload["status"] == "success"
    assert payload["executions"][report_id]["ExecutionId"] == run["ExecutionId"]
    assert len(emu.api_requests(path_contains="/execution/")) == 4


def test_a_report_paused_while_waited_on_ends_the_wait_with_a_failure(emu):
    report_id = emu.report_ids()[1]
    emu.run_report("mpn", report_id)
    emu.change_status_after_reads("mpn", report_id, "Paused", reads=1)  # paused after the first poll

    payload = run_to_end(_trigger([report_id]))

    assert payload["status"] == "failure"
    assert f"{report_id} (Paused)" in payload["message"]
