"""DAGs the sensor tests run with ``dag.test()``: status sensors in reschedule and deferrable mode, and an
execution sensor in reschedule mode.

The report ids come from params (overridden with ``run_conf``); a downstream task
records what the sensor pushed to XCom (tasks run in the test's process).
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_pcinsights.sensors.report import ReportExecutionSensor, ReportStatusSensor

COLLECTED: dict[str, list] = {"reschedule": [], "deferrable": [], "executions": []}
_START = pendulum.datetime(2026, 1, 1, tz="UTC")
_PARAMS = {"ids": ["00000000-0000-0000-0000-000000000000"]}


@task
def collect(statuses, mode: str) -> None:
    COLLECTED[mode].append(statuses)


with DAG(
    dag_id="pcinsights_test_sensor_reschedule",
    schedule=None,
    start_date=_START,
    render_template_as_native_obj=True,
    params=_PARAMS,
) as reschedule_dag:
    wait = ReportStatusSensor(
        task_id="wait",
        report_id="{{ params.ids }}",
        target_status="Active",
        mode="reschedule",
        poke_interval=1,
        timeout=60,
        deferrable=False,
    )
    collect(wait.output, "reschedule")


with DAG(
    dag_id="pcinsights_test_sensor_deferrable",
    schedule=None,
    start_date=_START,
    render_template_as_native_obj=True,
    params=_PARAMS,
) as deferrable_dag:
    wait = ReportStatusSensor(
        task_id="wait",
        report_id="{{ params.ids }}",
        target_status="Active",
        deferrable=True,
        poll_interval=0.2,
        timeout=60,
    )
    collect(wait.output, "deferrable")


with DAG(
    dag_id="pcinsights_test_execution_sensor_reschedule",
    schedule=None,
    start_date=_START,
    render_template_as_native_obj=True,
    params=_PARAMS,
    default_args={"retries": 2},  # a failure status must not be retried all the same
) as execution_reschedule_dag:
    wait = ReportExecutionSensor(
        task_id="wait",
        report_id="{{ params.ids }}",
        mode="reschedule",
        poke_interval=1,
        timeout=60,
        deferrable=False,
        hook_params={"retries": 0},
    )
    collect(wait.output, "executions")
