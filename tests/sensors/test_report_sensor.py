"""ReportStatusSensor against the emulator: poke, reschedule and deferrable modes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    TaskDeferred,
)

from airflow_provider_pcinsights.exceptions import (
    PartnerCenterInsightsError,
    ReportStatusFailedError,
    ServiceUnavailableError,
    UnreadableStatusError,
)
from airflow_provider_pcinsights.sensors.report import DEFERRAL_GRACE_SECONDS, ReportStatusSensor

NO_RETRIES = {"retries": 0}


@pytest.fixture
def emu(pcinsights_emulator):
    return pcinsights_emulator


def _answered(emu, report_id: str) -> list[str]:
    """The statuses the emulator answered for this report, read after read."""
    return [r.report_status for r in emu.api_requests(method="GET") if r.report_id == report_id]


def _sensor(**kwargs) -> ReportStatusSensor:
    kwargs.setdefault("task_id", "wait")
    kwargs.setdefault("poke_interval", 0.05)
    kwargs.setdefault("timeout", 30)
    kwargs.setdefault("deferrable", False)
    return ReportStatusSensor(**kwargs)


# -- poke mode ----------------------------------------------------------------------------


def test_poke_mode_waits_until_the_report_becomes_active(emu):
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Paused")
    emu.change_status_after_reads("mpn", report_id, "Active", reads=2)

    result = _sensor(report_id=report_id, mode="poke").execute({})

    assert result == {report_id: "Active"}
    assert _answered(emu, report_id) == ["Paused", "Paused", "Active"]  # kept polling, stopped at once


def test_every_report_must_reach_one_of_the_target_statuses(emu):
    ids = emu.report_ids()[:3]
    for rid, status in zip(ids, ["Paused", "Active", "Paused"], strict=True):
        emu.set_report_status("mpn", rid, status)
    sensor = _sensor(report_id=ids, target_status=["paused", "ACTIVE"])
    assert bool(sensor.poke({})) is True

    sensor = _sensor(report_id=ids, target_status="paused")
    assert sensor.poke({}) is False  # ids[1] is Active
    emu.set_report_status("mpn", ids[1], "Paused")
    done = sensor.poke({})
    assert done.xcom_value == dict.fromkeys(ids, "Paused")


def test_a_failure_status_fails_at_once_naming_the_report(emu):
    ids = emu.report_ids()[:2]
    emu.set_report_status("mpn", ids[0], "Paused")
    emu.set_report_status("mpn", ids[1], "Inactive")

    with pytest.raises(ReportStatusFailedError) as caught:
        _sensor(report_id=ids, mode="poke").execute({})

    assert f"{ids[1]} is Inactive" in str(caught.value)
    assert isinstance(caught.value, AirflowFailException)  # Airflow will not retry it
    assert ids[0] not in str(caught.value)
    assert emu.reads("mpn", ids[1]) == 1  # no further polling


def test_custom_failure_statuses(emu):
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Paused")
    with pytest.raises(ReportStatusFailedError, match=f"{report_id} is Paused"):
        _sensor(report_id=report_id, target_status="Active", failure_statuses=["paused"]).poke({})


def test_timeout_is_respected_in_poke_mode(emu):
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Paused")
    with pytest.raises(AirflowSensorTimeout):
        _sensor(report_id=report_id, mode="poke", poke_interval=0.05, timeout=0.3).execute({})


def test_a_short_outage_is_tolerated_and_a_long_one_is_not(emu):
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Active")
    sensor = _sensor(report_id=report_id, hook_params=NO_RETRIES)

    emu.faults.fail(count=2, status=503)
    assert sensor.poke({}) is False
    assert sensor.poke({}) is False
    assert sensor.poke({}).xcom_value == {report_id: "Active"}

    emu.faults.fail(count=3, status=503)
    assert sensor.poke({}) is False
    assert sensor.poke({}) is False
    with pytest.raises(ServiceUnavailableError):
        sensor.poke({})


@pytest.mark.parametrize("status", ["Suspended", None])
def test_a_status_nobody_can_read_fails_the_sensor_instead_of_waiting_forever(emu, status):
    report_id = emu.report_ids()[0]
    record = {"reportId": report_id, **({"reportStatus": status} if status else {})}
    emu.faults.json_body(count=2, body={"value": [record]})

    with pytest.raises(UnreadableStatusError) as caught:
        _sensor(report_id=report_id, mode="poke", hook_params=NO_RETRIES).execute({})
    assert caught.value.report_id == report_id
    with pytest.raises(UnreadableStatusError):  # deferrable: the first look, before deferring
        _sensor(report_id=report_id, deferrable=True, hook_params=NO_RETRIES).execute({})
    assert len(emu.api_requests()) == 2  # no second poke


def test_a_list_of_ids_rendered_as_text_is_read_as_that_list(emu):
    ids = emu.report_ids()[:2]
    text = str(ids)  # what "{{ params.ids }}" renders to without render_template_as_native_obj

    result = _sensor(report_id=text, mode="poke").execute({})

    assert result == dict.fromkeys(ids, "Active")


@pytest.mark.parametrize("report_id", ["", "a/b", ["ok-id", "bad?id"], 7])
def test_a_bad_report_id_is_refused_before_anything_is_sent(emu, report_id):
    with pytest.raises(ValueError, match="report_id"):
        _sensor(report_id=report_id).poke({})
    with pytest.raises(ValueError, match="report_id"):
        _sensor(report_id=report_id, deferrable=True).execute({})
    assert emu.requests == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target_status": "Activ"}, "target_status has unknown report status 'Activ'"),
        ({"failure_statuses": ["Gone"]}, "failure_statuses has unknown report status 'Gone'"),
        ({"target_status": "Paused", "failure_statuses": ["paused"]}, "both a target status"),
        ({"poll_interval": -1}, "poll_interval"),
    ],
)
def test_bad_settings_fail_when_the_dag_is_parsed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _sensor(report_id="a5f7d3b2-1c9e-4c1e-9a43-6d0f4f5d2b10", **kwargs)


def test_report_id_and_conn_id_are_templated():
    assert set(ReportStatusSensor.template_fields) == {"report_id", "conn_id"}


# -- deferrable mode ------------------------------------------------------------------------


def test_deferrable_execute_defers_with_a_serialized_trigger_when_not_done(emu):
    ids = emu.report_ids()[:2]
    for rid in ids:
        emu.set_report_status("mpn", rid, "Paused")
    sensor = _sensor(
        report_id=ids,
        target_status=["active"],
        deferrable=True,
        poll_interval=7,
        timeout=120,
        conn_id="pcinsights_default",
        hook_params=NO_RETRIES,
    )

    with pytest.raises(TaskDeferred) as caught:
        sensor.execute({})

    deferred = caught.value
    assert deferred.method_name == "execute_complete"
    # Airflow's deferral timeout is a backstop, later than the deadline the trigger itself keeps.
    assert deferred.timeout == timedelta(seconds=120 + DEFERRAL_GRACE_SECONDS)
    classpath, kwargs = deferred.trigger.serialize()
    deadline = datetime.fromisoformat(kwargs.pop("deadline"))
    assert deadline - datetime.fromisoformat(kwargs.pop("waiting_since")) == timedelta(seconds=120)
    assert classpath == "airflow_provider_pcinsights.triggers.report.ReportStatusTrigger"
    assert kwargs == {
        "report_ids": ids,
        "target_statuses": ["Active"],
        "failure_statuses": ["Inactive"],
        "conn_id": "pcinsights_default",
        "poll_interval": 7.0,
        "hook_params": NO_RETRIES,
    }


def test_deferrable_execute_returns_at_once_when_already_done(emu):
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Active")
    assert _sensor(report_id=report_id, deferrable=True).execute({}) == {report_id: "Active"}


def test_deferrable_execute_fails_at_once_on_a_failure_status(emu):
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Inactive")
    with pytest.raises(ReportStatusFailedError, match=f"{report_id} is Inactive"):
        _sensor(report_id=report_id, deferrable=True).execute({})


def test_deferrable_defaults_to_the_airflow_setting():
    from airflow.providers.common.compat.sdk import conf

    expected = conf.getboolean("operators", "default_deferrable", fallback=False)
    assert ReportStatusSensor(task_id="wait", report_id="r1").deferrable is expected


def test_execute_complete_reads_the_trigger_event():
    sensor = _sensor(report_id="r1")
    success = {"status": "success", "message": "every report is Active", "statuses": {"r1": "Active"}}
    assert sensor.execute_complete({}, success) == {"r1": "Active"}
    with pytest.raises(ReportStatusFailedError, match="r1 is Inactive"):
        sensor.execute_complete({}, {"status": "failure", "message": "r1 is Inactive", "statuses": {}})
    with pytest.raises(PartnerCenterInsightsError, match="ReportNotFoundError: unknown"):
        sensor.execute_complete({}, {"status": "error", "message": "ReportNotFoundError: unknown"})
    with pytest.raises(AirflowException, match="without an event"):
        sensor.execute_complete({}, None)


# -- in real DAG runs -----------------------------------------------------------------------


def _states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


def _reschedules(dag_run) -> int:
    """Rows Airflow wrote each time the sensor gave its slot back."""
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session

    ti = next(t for t in dag_run.get_task_instances() if t.task_id == "wait")
    with create_session() as session:
        query = session.query(TaskReschedule)
        if hasattr(TaskReschedule, "ti_id"):  # Airflow 3
            query = query.filter(TaskReschedule.ti_id == ti.id)
        else:
            query = query.filter(
                TaskReschedule.dag_id == ti.dag_id,
                TaskReschedule.task_id == ti.task_id,
                TaskReschedule.run_id == ti.run_id,
            )
        return query.count()


def test_reschedule_mode_in_a_dag_run(emu, dag_module):
    module = dag_module("sensor_dags")
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Paused")
    emu.change_status_after_reads("mpn", report_id, "Active", reads=1)

    dag_run = module.reschedule_dag.test(run_conf={"ids": [report_id]})

    assert _states(dag_run) == {"wait": "success", "collect": "success"}
    assert _answered(emu, report_id) == ["Paused", "Active"]  # one try saw Paused, the next Active
    assert _reschedules(dag_run) == 1
    assert module.COLLECTED["reschedule"] == [{report_id: "Active"}]


def test_deferrable_sensor_completes_in_a_dag_run(emu, dag_module, caplog, capsys):
    module = dag_module("sensor_dags")
    ids = emu.report_ids()[:2]
    for rid in ids:
        emu.set_report_status("mpn", rid, "Paused")
    emu.set_report_status("mpn", ids[0], "Active")
    emu.change_status_after_reads("mpn", ids[1], "Active", reads=2)  # the sensor's read, then the trigger's

    dag_run = module.deferrable_dag.test(run_conf={"ids": ids})

    assert "running trigger in line" in caplog.text + capsys.readouterr().out  # it really deferred
    assert _states(dag_run) == {"wait": "success", "collect": "success"}
    assert emu.reads("mpn", ids[1]) == 3  # Paused (the sensor), Paused (the trigger), Active (again)
    assert len(emu.api_requests()) == 3  # both reports in one read each time (mpn: the account's listing)
    assert module.COLLECTED["deferrable"] == [dict.fromkeys(ids, "Active")]
