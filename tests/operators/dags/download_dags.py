"""DAGs the download tests run: wait for a report's next export and download it, or download the latest.

The file lands where ``PCINSIGHTS_TEST_EXPORT`` says (a path the test sets before
loading this module); it is also the URI of the Asset the download updates, on
which ``pcinsights_test_use_export`` is scheduled. A last task records what the
download returned (tasks run in the test's process).
"""

from __future__ import annotations

import os

import pendulum
from airflow.providers.common.compat.sdk import DAG, Asset, task

from airflow_provider_pcinsights.operators.report import DownloadReportOperator
from airflow_provider_pcinsights.sensors.report import ReportExecutionSensor

EXPORT_PATH = os.environ.get("PCINSIGHTS_TEST_EXPORT", "/tmp/pcinsights-test/export.csv")
EXPORT = Asset(f"file://{EXPORT_PATH}")
COLLECTED: list = []
_START = pendulum.datetime(2026, 1, 1, tz="UTC")
_PARAMS = {"report_id": "00000000-0000-0000-0000-000000000000", "execution_id": None}


@task
def collect(result) -> None:
    COLLECTED.append(result)


with DAG(
    dag_id="pcinsights_test_wait_and_download",
    schedule=None,
    start_date=_START,
    render_template_as_native_obj=True,
    params=_PARAMS,
) as wait_and_download:
    wait = ReportExecutionSensor(
        task_id="wait_for_export",
        report_id="{{ params.report_id }}",
        deferrable=True,
        poll_interval=0.05,
        timeout=60,
        hook_params={"retries": 0},
    )
    download = DownloadReportOperator(
        task_id="download",
        report_id="{{ params.report_id }}",
        execution_id="{{ ti.xcom_pull(task_ids='wait_for_export')['ExecutionId'] }}",
        destination=EXPORT_PATH,
        outlets=[EXPORT],
    )
    wait >> download
    collect(download.output)


with DAG(
    dag_id="pcinsights_test_download",
    schedule=None,
    start_date=_START,
    render_template_as_native_obj=True,
    params=_PARAMS,
) as download_latest:
    download = DownloadReportOperator(
        task_id="download",
        report_id="{{ params.report_id }}",
        execution_id="{{ params.execution_id }}",
        destination=f"file://{EXPORT_PATH}",
        outlets=[EXPORT],
    )
    collect(download.output)


# Unpaused from its creation: on Airflow 3 dag.test() writes this DAG to the database only
# when it parses the bundle, after the test has switched it on, and a paused DAG queues nothing.
with DAG(
    dag_id="pcinsights_test_use_export",
    schedule=[EXPORT],
    start_date=_START,
    is_paused_upon_creation=False,
) as use_export:

    @task
    def read_export() -> None:
        """Stand-in for what a downstream DAG does with the file."""

    read_export()
