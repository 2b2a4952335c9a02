"""A DAG the operator tests run: pause a templated list, resume one, hand both results downstream.

Report ids and the connection id come from params (overridden with ``run_conf``),
so the run also proves that ``report_id`` and ``conn_id`` are templated.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_pcinsights.operators.report import PauseReportOperator, ResumeReportOperator

# What the downstream task received through XCom; the test reads it (tasks run in the test's process).
COLLECTED: list = []

with DAG(
    dag_id="pcinsights_test_pause_and_resume",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    render_template_as_native_obj=True,
    params={"ids": ["00000000-0000-0000-0000-000000000000"], "conn": "pcinsights_default"},
) as dag:
    pause = PauseReportOperator(task_id="pause", report_id="{{ params.ids }}", conn_id="{{ params.conn }}")
    resume_one = ResumeReportOperator(
        task_id="resume_one", report_id="{{ params.ids[0] }}", conn_id="{{ params.conn }}"
    )

    @task
    def collect(paused, resumed) -> None:
        COLLECTED.append((paused, resumed))

    pause >> resume_one
    collect(pause.output, resume_one.output)
