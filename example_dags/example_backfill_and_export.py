"""The whole loop: pause around a backfill, give back what was paused, then hand the next export on.

1. ``pause_reports`` (a setup) pauses the reports while ``backfill`` rewrites the
   data behind them; ``restore_reports`` (its teardown) resumes exactly the ones it
   paused, even if the backfill fails. A report somebody had paused before the run
   stays paused.
2. ``wait_for_export`` waits, deferred in the triggerer, until the report the
   pipeline reads has completed an export generated after the DAG run started
   (a resumed report runs again); it fails at once if that report is paused.
3. ``download_export`` downloads that export, gunzipped and without its byte-order
   mark, to ``PCINSIGHTS_EXPORT_PATH``, and updates the Asset of that file, on which
   ``example_use_report_export`` is scheduled.

Which reports: the ``report_ids`` param and ``export_report_id`` (one of them),
defaulting to the comma-separated ids in ``PCINSIGHTS_REPORT_IDS`` and the first of
them. The connection is ``pcinsights_default``.
"""

from __future__ import annotations

import os
import time

import pendulum
from airflow.providers.common.compat.sdk import DAG, Asset, Param, task

from airflow_provider_pcinsights.operators.report import (
    DownloadReportOperator,
    PauseReportOperator,
    ResumeReportOperator,
)
from airflow_provider_pcinsights.sensors.report import ReportExecutionSensor

DEFAULT_REPORT_IDS = [i.strip() for i in os.environ.get("PCINSIGHTS_REPORT_IDS", "").split(",") if i.strip()]
EXPORT_PATH = os.environ.get("PCINSIGHTS_EXPORT_PATH", "/tmp/pcinsights/exports/report.csv")
# The service exports every few hours; poll every five minutes (the demo and the tests poll faster).
POLL_SECONDS = float(os.environ.get("PCINSIGHTS_POLL_SECONDS", "300"))

# [START howto_asset_report_export]
REPORT_EXPORT = Asset(f"file://{EXPORT_PATH}")
# [END howto_asset_report_export]

with DAG(
    dag_id="example_backfill_and_export",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    params={
        "report_ids": Param(DEFAULT_REPORT_IDS, type="array", description="Reports to pause."),
        "export_report_id": Param(
            DEFAULT_REPORT_IDS[0] if DEFAULT_REPORT_IDS else "",
            type="string",
            description="The report whose next export the pipeline reads.",
        ),
        "backfill_seconds": Param(3, type="number", minimum=0),
        "fail_backfill": Param(False, type="boolean", description="Make the stand-in backfill fail."),
    },
    tags=["example", "pcinsights"],
):
    # [START howto_backfill_restore_wait_download]
    pause_reports = PauseReportOperator(
        task_id="pause_reports",
        report_id="{{ params.report_ids }}",
        retries=2,
    )

    @task
    def backfill(params: dict | None = None) -> None:
        """Stand-in for the real backfill: rewrite the data the reports export."""
        params = params or {}
        time.sleep(float(params.get("backfill_seconds", 0)))
        if params.get("fail_backfill"):
            raise RuntimeError("the backfill failed (as asked by the fail_backfill param)")

    restore_reports = ResumeReportOperator(
        task_id="restore_reports",
        paused_by="pause_reports",
        retries=2,
    )

    wait_for_export = ReportExecutionSensor(
        task_id="wait_for_export",
        report_id="{{ params.export_report_id }}",  # completed after the DAG run started (the default)
        deferrable=True,
        poll_interval=POLL_SECONDS,
        timeout=12 * 60 * 60,
    )

    download_export = DownloadReportOperator(
        task_id="download_export",
        report_id="{{ params.export_report_id }}",
        execution_id="{{ ti.xcom_pull(task_ids='wait_for_export')['ExecutionId'] }}",
        destination=EXPORT_PATH,
        outlets=[REPORT_EXPORT],  # DAGs scheduled on this Asset run once the file is written
    )

    backfilled = backfill()
    pause_reports >> backfilled >> restore_reports.as_teardown(setups=pause_reports)
    [backfilled, restore_reports] >> wait_for_export >> download_export
    # [END howto_backfill_restore_wait_download]


# [START howto_asset_scheduled_on_report_export]
with DAG(
    dag_id="example_use_report_export",
    schedule=[REPORT_EXPORT],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "pcinsights"],
):

    @task
    def load_export() -> int:
        """Stand-in for the load that reads the export: here, count its lines."""
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        lines = 0
        with ObjectStoragePath(EXPORT_PATH).open("rb") as export:
            while chunk := export.read(1024 * 1024):
                lines += chunk.count(b"\n")
        return lines

    load_export()
# [END howto_asset_scheduled_on_report_export]
