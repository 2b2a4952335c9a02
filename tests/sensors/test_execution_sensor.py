"""ReportExecutionSensor against the emulator: wait for a report's next export."""

from __future__ import annotations

import datetime
from datetime import timedelta

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred

from airflow_provider_pcinsights.exceptions import PartnerCenterInsightsError, ReportStatusFailedError
from airflow_provider_pcinsights.sensors.report import DEFERRAL_GRACE_SECONDS, ReportExecutionSensor

NO_RETRIES = {"retries": 0}


@pytest.fixture
def emu(pcinsights_emulator):
    return pcinsights_emulator


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _sensor(**kwargs) -> ReportExecutionSensor:
    kwargs.setdefault("task_id", "wait_for_export")
    kwargs.setdefault("poke_interval", 0.05)
    kwargs.setdefault("timeout", 30)
    kwargs.setdefault("deferrable", False)
    kwargs.setdefault("hook_params", NO_RETRIES)
    return ReportExecutionSensor(**kwargs)


def test_an_older_export_is_not_enough_and_the_next_one_is_returned(emu):
    report_id = emu.report_ids()[0]  # the seeded report has exports from long ago
    sensor = _sensor(report_id=report_id, completed_after=_now() - timedelta(seconds=1))

    assert sensor.poke({}) is False
    new = emu.add_execution("mpn", report_id)
    done = sensor.poke({})

    assert done.xcom_value["ExecutionId"] == new["ExecutionId"]
    assert "ReportAccessSecureLink" not in done.xcom_value  # a credential: never in XCom
    assert done.xcom_value["ExecutionStatus"].lower() == "completed"


def test_a_list_of_reports_returns_their_executions_in_order(emu):
    ids = emu.report_ids()[:2]
    since = (_now() - timedelta(seconds=1)).isoformat()
    made = {rid: emu.add_execution("mpn", rid)["ExecutionId"] for rid in reversed(ids)}

    records = _sensor(report_id=ids, completed_after=since, mode="poke").execute({})

    assert [r["ExecutionId"] for r in records] == [made[rid] for rid in ids]


@pytest.mark.parametrize("status", ["Paused", "Inactive"])
def test_a_report_that_will_not_run_fails_at_once_without_retries(emu, status):
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, status)

    with pytest.raises(ReportStatusFailedError) as caught:
        _sensor(report_id=report_id, completed_after=_now(), mode="poke").execute({})

    assert isinstance(caught.value, AirflowFailException)
    message = str(caught.value)
    assert f"{report_id} ({status})" in message
    assert f"a {status} report does not run" in message
    assert "no execution after" in message
    assert len(emu.api_requests(path_contains="/execution/")) == 1  # no second poll


def test_completed_after_is_templated_and_a_bad_one_is_refused_before_anything_is_sent(emu):
    assert set(ReportExecutionSensor.template_fields) == {"report_id", "completed_after", "conn_id"}
    with pytest.raises(ValueError, match="completed_after 'yesterday'"):
        _sensor(report_id=emu.report_ids()[0], completed_after="yesterday").poke({})
    with pytest.raises(ValueError, match="no DAG run start to default to"):
        _sensor(report_id=emu.report_ids()[0]).poke({})
    assert emu.requests == []


def test_deferrable_defers_with_a_plain_json_trigger_when_not_done(emu):
    report_id = emu.report_ids()[0]
    sensor = _sensor(
        report_id=report_id,
        completed_after="2026-03-01T07:00:00+01:00",
        deferrable=True,
        poll_interval=9,
        timeout=600,
    )
    emu.add_execution("mpn", report_id, ReportGeneratedTime="2026-03-01T05:59:59Z")  # a second too early

    with pytest.raises(TaskDeferred) as caught:
        sensor.execute({})

    deferred = caught.value
    assert deferred.method_name == "execute_complete"
    # Airflow's deferral timeout is a backstop, later than the deadline the trigger itself keeps.
    assert deferred.timeout == timedelta(seconds=600 + DEFERRAL_GRACE_SECONDS)
    classpath, kwargs = deferred.trigger.serialize()
    deadline = datetime.datetime.fromisoformat(kwargs.pop("deadline"))
    assert deadline - datetime.datetime.fromisoformat(kwargs.pop("waiting_since")) == timedelta(seconds=600)
    assert classpath == "airflow_provider_pcinsights.triggers.report.ReportExecutionTrigger"
    assert kwargs == {
        "report_ids": [report_id],
        "completed_after": "2026-03-01T06:00:00+00:00",
        "conn_id": "pcinsights_default",
        "poll_interval": 9.0,
        "hook_params": NO_RETRIES,
    }


def test_deferrable_returns_at_once_when_the_export_is_already_there(emu):
    report_id = emu.report_ids()[0]
    made = emu.add_execution("mpn", report_id)
    record = _sensor(
        report_id=report_id, completed_after=_now() - timedelta(minutes=1), deferrable=True
    ).execute({})
    assert record["ExecutionId"] == made["ExecutionId"]


def test_execute_complete_reads_the_trigger_event():
    sensor = _sensor(report_id=["r1", "r2"], completed_after="2026-03-01T06:00:00Z")
    executions = {"r2": {"ExecutionId": "e2"}, "r1": {"ExecutionId": "e1"}}
    success = {"status": "success", "message": "done", "executions": executions}
    assert sensor.execute_complete({}, success) == [{"ExecutionId": "e1"}, {"ExecutionId": "e2"}]
    with pytest.raises(ReportStatusFailedError, match=r"r1 \(Paused\)"):
        sensor.execute_complete({}, {"status": "failure", "message": "r1 (Paused) ...", "executions": {}})
    with pytest.raises(PartnerCenterInsightsError, match="Waiting for the report execution failed: boom"):
        sensor.execute_complete({}, {"status": "error", "message": "boom"})


# -- in real DAG runs -----------------------------------------------------------------------


def test_reschedule_mode_waits_for_the_run_started_during_the_dag_run(emu, dag_module):
    from dag_runs import task_states

    module = dag_module("sensor_dags")
    ids = emu.report_ids()[:2]
    runs = [emu.run_report("mpn", rid) for rid in ids]
    emu.runs.pending_seconds, emu.runs.running_seconds = 0, 120
    emu.clock.step_per_read = 60  # Running at the first look, Completed at the second

    dag_run = module.execution_reschedule_dag.test(run_conf={"ids": ids})

    assert task_states(dag_run) == {"wait": "success", "collect": "success"}
    (records,) = module.COLLECTED["executions"]
    assert [r["ExecutionId"] for r in records] == [r["ExecutionId"] for r in runs]
    # completed_after defaulted to the run's start: the long-finished earlier exports of ids[0] did not count


def test_a_report_paused_while_waited_on_fails_the_task_without_retries(emu, dag_module):
    from dag_runs import task_states

    module = dag_module("sensor_dags")
    report_id = emu.report_ids()[1]
    emu.set_report_status("mpn", report_id, "Paused")

    dag_run = module.execution_reschedule_dag.test(run_conf={"ids": [report_id]})

    assert task_states(dag_run)["wait"] == "failed"
    assert next(ti for ti in dag_run.get_task_instances() if ti.task_id == "wait").try_number == 1
    assert len(emu.api_requests(path_contains="/execution/")) == 1
