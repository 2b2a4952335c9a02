"""DAGs whose waits end without their condition: a timeout (failing, or skipping with ``soft_fail``), in
reschedule and deferrable mode, for both sensors, and a deferred wait on a report deleted mid-wait.

Timeouts are short (Airflow's ``dag.test()`` runs the trigger in line and never
enforces a deferral timeout: the trigger's own deadline ends those waits) and poll
intervals long, so each wait reads at its start and once more at its deadline. Every
DAG retries its tasks: a wait that timed out or lost its report must fail all the same.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_pcinsights.sensors.report import ReportExecutionSensor, ReportStatusSensor

_START = pendulum.datetime(2026, 1, 1, tz="UTC")
_PARAMS = {"ids": ["00000000-0000-0000-0000-000000000000"]}
_DEFAULTS = {"retries": 2, "retry_delay": timedelta(seconds=1)}
NO_RETRIES = {"retries": 0}


def _dag(dag_id: str) -> DAG:
    return DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=_START,
        render_template_as_native_obj=True,
        params=_PARAMS,
        default_args=_DEFAULTS,
    )


with _dag("pcinsights_test_status_deferrable_timeout") as status_deferrable_timeout:
    ReportStatusSensor(
        task_id="wait",
        report_id="{{ params.ids }}",
        deferrable=True,
        poll_interval=3600,
        timeout=2,
        hook_params=NO_RETRIES,
    )

with _dag("pcinsights_test_execution_deferrable_soft_fail") as execution_deferrable_soft_fail:
    ReportExecutionSensor(
        task_id="wait",
        report_id="{{ params.ids }}",
        deferrable=True,
        poll_interval=3600,
        timeout=2,
        soft_fail=True,
        hook_params=NO_RETRIES,
    )

with _dag("pcinsights_test_execution_reschedule_timeout") as execution_reschedule_timeout:
    ReportExecutionSensor(
        task_id="wait",
        report_id="{{ params.ids }}",
        mode="reschedule",
        deferrable=False,
        poke_interval=1,
        timeout=2,
        hook_params=NO_RETRIES,
    )

with _dag("pcinsights_test_status_reschedule_soft_fail") as status_reschedule_soft_fail:
    ReportStatusSensor(
        task_id="wait",
        report_id="{{ params.ids }}",
        mode="reschedule",
        deferrable=False,
        poke_interval=1,
        timeout=2,
        soft_fail=True,
        hook_params=NO_RETRIES,
    )

with _dag("pcinsights_test_status_deferrable_deleted") as status_deferrable_deleted:
    ReportStatusSensor(
        task_id="wait",
        report_id="{{ params.ids }}",
        deferrable=True,
        poll_interval=0.2,
        timeout=120,
        hook_params=NO_RETRIES,
    )
