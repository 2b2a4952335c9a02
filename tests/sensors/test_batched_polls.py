"""One poke over many reports reads their statuses in a call per 50 ids, not a call each.

Against the emulator on cmp v1.1 (whose reportId filter takes 50 ids joined by ';'),
calls counted at the emulator.
"""

from __future__ import annotations

import datetime

import pytest
from emulator_accounts import cmp_account

from airflow_provider_pcinsights.emulator import Emulator
from airflow_provider_pcinsights.exceptions import ReportNotFoundError
from airflow_provider_pcinsights.sensors.report import ReportExecutionSensor, ReportStatusSensor

CONN_ID = "pcinsights_batched"


@pytest.fixture
def emu(monkeypatch):
    with cmp_account(monkeypatch, CONN_ID, reports=200) as emulator:
        yield emulator


def _status_reads(emu: Emulator) -> list:
    return [r for r in emu.api_requests(method="GET") if r.path.endswith("/ScheduledReport")]


def _has_completed(emu: Emulator, report_id: str) -> bool:
    return any(e["ExecutionStatus"] == "Completed" for e in emu.executions("cmp", report_id))


def test_one_poke_over_200_reports_costs_four_calls(emu):
    ids = emu.report_ids("cmp")
    emu.set_report_status("cmp", ids[-1], "Paused")
    sensor = ReportStatusSensor(task_id="wait", report_id=ids, conn_id=CONN_ID, target_status="Active")

    assert sensor.poke({}) is False  # one of them is Paused
    assert len(emu.api_requests()) == 4  # 200 ids, 50 a call
    emu.set_report_status("cmp", ids[-1], "Active")
    done = sensor.poke({})

    assert done.xcom_value == dict.fromkeys(ids, "Active")
    assert len(emu.api_requests()) == 8


def test_an_unknown_report_among_many_fails_the_poke_naming_it(emu):
    ids = emu.report_ids("cmp")[:60]
    unknown = "00000000-0000-4000-8000-00000000dead"
    sensor = ReportStatusSensor(task_id="wait", report_id=[*ids, unknown], conn_id=CONN_ID)

    with pytest.raises(ReportNotFoundError, match=f"report {unknown} is unknown to this account"):
        sensor.poke({})
    # Two batches, then the id they left out read on its own before it is called unknown.
    assert len(_status_reads(emu)) == 3


def test_the_execution_sensor_reads_the_statuses_of_the_reports_still_waiting_in_one_call(emu):
    # Reports with an export already (for one without, the hook reads the report to tell "no execution
    # yet" from "no such report").
    ids = [rid for rid in emu.report_ids("cmp") if _has_completed(emu, rid)][:30]
    since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
    for rid in ids[:10]:
        emu.add_execution("cmp", rid)  # these are done; the other 20 are still waiting
    sensor = ReportExecutionSensor(task_id="wait", report_id=ids, conn_id=CONN_ID, completed_after=since)

    assert sensor.poke({}) is False

    assert len(emu.api_requests(path_contains="/execution/")) == 30  # executions cannot be batched
    (status_read,) = _status_reads(emu)  # the 20 still waiting, in one call
    assert sorted(status_read.query["reportId"].split(";")) == sorted(ids[10:])
