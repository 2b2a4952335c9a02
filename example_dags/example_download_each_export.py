"""Event-driven: download each new export of a report as it comes (Airflow 3.0 and later).

The DAG is scheduled on an Asset whose ``AssetWatcher`` runs
``ReportExportEventTrigger`` in the triggerer: each new ``Completed`` execution of
the report is one asset event, and each asset event one DAG run. No DAG run, task
or sensor waits between two exports; the triggerer polls (one shared read of every
watched report's record a poll).

``export_of_this_run`` reads the execution id from the asset event that started the
run (its ``extra["payload"]``: ``ReportId``, ``ExecutionId``, ``ReportGeneratedTime``;
never the download link), and ``download_export`` downloads exactly that export
into ``PCINSIGHTS_EXPORT_DIR`` as ``<ReportId>_<ExecutionId>.csv``.

Which report: the first of the comma-separated ids in ``PCINSIGHTS_REPORT_IDS``
(read when the DAG is parsed: a watcher's arguments are fixed then). The connection
is ``pcinsights_default``. On Airflow 2 there is no event-driven scheduling, so this
file defines no DAG there; wait for the export with ``ReportExecutionSensor`` instead
(``example_backfill_and_export``).
"""

from __future__ import annotations

import os

import pendulum
from airflow.providers.common.compat.sdk import DAG, Asset, task

from airflow_provider_pcinsights.operators.report import DownloadReportOperator
from airflow_provider_pcinsights.triggers.report import ReportExportEventTrigger

try:
    from airflow.sdk import AssetWatcher
except ImportError:  # Airflow 2
    AssetWatcher = None

REPORT_IDS = [i.strip() for i in os.environ.get("PCINSIGHTS_REPORT_IDS", "").split(",") if i.strip()]
EXPORT_DIR = os.environ.get("PCINSIGHTS_EXPORT_DIR", "/tmp/pcinsights/exports/each")
# The service exports every few hours; look every five minutes (the demo and the tests look faster).
POLL_SECONDS = float(os.environ.get("PCINSIGHTS_POLL_SECONDS", "300"))

if AssetWatcher is not None and REPORT_IDS:
    # [START howto_asset_watcher_report_exports]
    REPORT_EXPORTS = Asset(
        "pcinsights_report_exports",
        watchers=[
            AssetWatcher(
                name="report_exports",
                trigger=ReportExportEventTrigger(report_id=REPORT_IDS[0], poll_interval=POLL_SECONDS),
            )
        ],
    )

    with DAG(
        dag_id="example_download_each_export",
        schedule=[REPORT_EXPORTS],  # one run per new export of the report
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        tags=["example", "pcinsights"],
    ):

        @task
        def export_of_this_run(triggering_asset_events=None) -> str:
            """The execution id the watcher announced: the asset event that started this run."""
            (event,) = [e for events in triggering_asset_events.values() for e in events]
            return event.extra["payload"]["ExecutionId"]

        DownloadReportOperator(
            task_id="download_export",
            report_id=REPORT_IDS[0],
            execution_id=export_of_this_run(),
            destination=f"{EXPORT_DIR}/",  # a directory: <ReportId>_<ExecutionId>.csv
        )
    # [END howto_asset_watcher_report_exports]
