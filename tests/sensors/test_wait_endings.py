"""How the sensors' waits end when their condition is not met: a timeout, a skip, a report gone.

In every mode a ``timeout`` ends with one last read and a message that says how long
the wait lasted, in words, and what that read saw (no epoch, no bare seconds);
``soft_fail`` skips instead; a report the service no longer knows fails the task
without retries. Against the emulator, with real requests and MSAL; the DAG runs use
``dag.test()`` (its retries are real: every DAG here has two).
"""

from __future__ import annotations

import re
import threading
import time

import pytest
from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)
from dag_runs import task_states

from airflow_provider_pcinsights.exceptions import ReportNotFoundError
from airflow_provider_pcinsights.sensors.report import (
    ReportExecutionSensor,
    ReportNotFoundWhileWaitingError,
    ReportStatusSensor,
)

NO_RETRIES = {"retries": 0}
# "after waiting 2 seconds", "after waiting 1 minute 5 seconds": words, never a time stamp nor "2.0123 s".
IN_WORDS = re.compile(
    r"Timed out after waiting (\d+ (day|hour|minute|second)s?( \d+ \w+)?|less than a second)\b"
)


@pytest.fixture
def emu(pcinsights_emulator):
    return pcinsights_emulator


def _wait_ti(dag_run):
    return next(ti for ti in dag_run.get_task_instances() if ti.task_id == "wait")


def _timed_out_line(text: str) -> str:
    """The timeout message as the task log has it (the log also holds Airflow's own lines)."""
    found = [line for line in text.splitlines() if "Timed out after waiting" in line]
    assert found, text[-3000:]
    return found[-1]


# -- poke mode (direct calls: the loop is Airflow's BaseSensorOperator.execute) -------------------


def test_poke_mode_times_out_saying_how_long_in_words_and_what_it_last_saw(emu):
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Paused")
    sensor = ReportStatusSensor(
        task_id="wait", report_id=report_id, mode="poke", poke_interval=0.2, timeout=1, hook_params=NO_RETRIES
    )

    with pytest.raises(AirflowSensorTimeout) as caught:
        sensor.execute({})

    message = str(caught.value)
    assert IN_WORDS.search(message), message
    assert f"{report_id} is Paused" in message  # what the last read saw
    assert "run duration of" not in message


def test_poke_mode_with_soft_fail_skips_with_the_same_message(emu):
    report_id = emu.report_ids()[0]  # Active, its exports long done: none comes after now
    sensor = ReportExecutionSensor(
        task_id="wait",
        report_id=report_id,
        completed_after="2099-01-01T00:00:00Z",
        mode="poke",
        poke_interval=0.2,
        timeout=1,
        soft_fail=True,
        hook_params=NO_RETRIES,
    )

    with pytest.raises(AirflowSkipException) as caught:
        sensor.execute({})

    assert IN_WORDS.search(str(caught.value)), str(caught.value)
    assert "has no completed execution" in str(caught.value) or "was generated" in str(caught.value)


def test_a_report_deleted_between_two_pokes_fails_without_a_retry(emu):
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Paused")
    sensor = ReportStatusSensor(
        task_id="wait", report_id=report_id, poke_interval=0.05, hook_params=NO_RETRIES
    )
    assert sensor.poke({}) is False
    emu.state.delete_report("mpn", report_id)

    with pytest.raises(ReportNotFoundWhileWaitingError) as caught:
        sensor.poke({})

    assert isinstance(caught.value, AirflowFailException)  # Airflow does not retry it
    assert isinstance(caught.value, ReportNotFoundError)  # and code catching the old type still does
    assert report_id in str(caught.value)


# -- deferrable mode: the trigger keeps the deadline ------------------------------------------------


def test_execute_complete_of_a_timeout_event_fails_or_skips_with_its_message():
    event = {"status": "timeout", "message": "Timed out after waiting 10 minutes ...; r1 is Paused"}
    with pytest.raises(AirflowSensorTimeout, match="after waiting 10 minutes"):
        ReportStatusSensor(task_id="wait", report_id="r1").execute_complete({}, event)
    with pytest.raises(AirflowSkipException, match="after waiting 10 minutes"):
        ReportStatusSensor(task_id="wait", report_id="r1", soft_fail=True).execute_complete({}, event)
    with pytest.raises(ReportNotFoundWhileWaitingError, match="r1 is unknown"):
        ReportStatusSensor(task_id="wait", report_id="r1").execute_complete(
            {}, {"status": "not_found", "message": "report r1 is unknown to this account"}
        )


@pytest.mark.parametrize("error", ["Trigger timeout", "Trigger/execution timeout"])  # Airflow 3, Airflow 2
def test_airflow_s_own_deferral_timeout_still_gets_one_last_read_in_the_worker(emu, error):
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Active")  # it came while the triggerer was down
    sensor = ReportStatusSensor(task_id="wait", report_id=report_id, deferrable=True, hook_params=NO_RETRIES)

    assert sensor.resume_execution("__fail__", {"error": error}, {}) == {report_id: "Active"}

    emu.set_report_status("mpn", report_id, "Paused")
    with pytest.raises(AirflowSensorTimeout) as caught:
        sensor.resume_execution("__fail__", {"error": error}, {})
    assert IN_WORDS.search(str(caught.value)), str(caught.value)
    assert f"{report_id} is Paused" in str(caught.value)


@pytest.mark.dag_test
def test_a_deferred_status_wait_times_out_at_its_deadline_after_one_last_read(emu, dag_module, logs):
    module = dag_module("wait_ending_dags")
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Paused")

    dag_run = module.status_deferrable_timeout.test(run_conf={"ids": [report_id]})

    assert task_states(dag_run) == {"wait": "failed"}
    assert _wait_ti(dag_run).try_number == 1  # a timeout is not retried
    line = _timed_out_line(logs())
    assert IN_WORDS.search(line), line
    assert f"{report_id} is Paused" in line
    # The sensor's read before deferring, the trigger's first, and its last at the deadline (its poll
    # interval is an hour: without the deadline it would have slept through it).
    assert emu.reads("mpn", report_id) >= 2  # the trigger read at its deadline at the latest


@pytest.mark.dag_test
def test_a_deferred_execution_wait_with_soft_fail_is_skipped_at_its_deadline(emu, dag_module, logs):
    module = dag_module("wait_ending_dags")
    report_id = emu.report_ids()[0]  # Active; its exports are older than the DAG run

    dag_run = module.execution_deferrable_soft_fail.test(run_conf={"ids": [report_id]})

    assert task_states(dag_run) == {"wait": "skipped"}
    assert IN_WORDS.search(_timed_out_line(logs()))


@pytest.mark.dag_test
def test_a_rescheduled_execution_wait_times_out_saying_so(emu, dag_module, logs):
    module = dag_module("wait_ending_dags")
    report_id = emu.report_ids()[0]

    dag_run = module.execution_reschedule_timeout.test(run_conf={"ids": [report_id]})

    assert task_states(dag_run) == {"wait": "failed"}
    assert _wait_ti(dag_run).try_number == 1
    line = _timed_out_line(logs())
    assert IN_WORDS.search(line), line
    assert report_id in line
    assert "run duration of" not in line


@pytest.mark.dag_test
def test_a_rescheduled_status_wait_with_soft_fail_is_skipped(emu, dag_module, logs):
    module = dag_module("wait_ending_dags")
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Paused")

    dag_run = module.status_reschedule_soft_fail.test(run_conf={"ids": [report_id]})

    assert task_states(dag_run) == {"wait": "skipped"}
    assert f"{report_id} is Paused" in _timed_out_line(logs())


@pytest.mark.dag_test
def test_a_report_deleted_during_a_deferred_wait_fails_the_task_without_retries(emu, dag_module, logs):
    module = dag_module("wait_ending_dags")
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Paused")
    stop = threading.Event()

    def delete_once_the_trigger_has_read() -> None:
        while not stop.is_set() and emu.reads("mpn", report_id) < 2:  # the sensor's read, the trigger's
            time.sleep(0.05)
        if not stop.is_set():
            emu.state.delete_report("mpn", report_id)

    deleter = threading.Thread(target=delete_once_the_trigger_has_read, daemon=True)
    deleter.start()
    try:
        dag_run = module.status_deferrable_deleted.test(run_conf={"ids": [report_id]})
    finally:
        stop.set()
        deleter.join()

    assert task_states(dag_run) == {"wait": "failed"}
    assert _wait_ti(dag_run).try_number == 1  # no retry loop: no retry can bring the report back
    assert "ReportNotFoundWhileWaitingError" in logs()
