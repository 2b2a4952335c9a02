"""A DAG that templates a list of ids WITHOUT ``render_template_as_native_obj``.

Jinja then renders ``{{ params.ids }}`` to the list's text (``"['a', 'b']"``); the
operators and the sensor must read it as the list it is, never send it as one id.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_pcinsights.operators.report import PauseReportOperator
from airflow_provider_pcinsights.sensors.report import ReportStatusSensor

COLLECTED: list = []

with DAG(
    dag_id="pcinsights_test_ids_rendered_as_text",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    params={"ids": ["00000000-0000-0000-0000-000000000000"]},
) as dag:
    pause = PauseReportOperator(task_id="pause", report_id="{{ params.ids }}")
    wait = ReportStatusSensor(
        task_id="wait",
        report_id="{{ params.ids }}",
        target_status="Paused",
        poke_interval=1,
        timeout=60,
        deferrable=False,
    )

    @task
    def collect(paused, statuses) -> None:
        COLLECTED.append((paused, statuses))

    pause >> wait
    collect(pause.output, wait.output)
