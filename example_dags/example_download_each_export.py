"""Event-driven: download each new export of a report as it comes (Airflow 3.0 and later).

The DAG is scheduled on an Asset whose ``AssetWatcher`` runs
``ReportExportEventTrigger`` in the triggerer: each new ``Completed`` execution of
the report is one asset event, and each asset event queues a DAG run. No DAG run, task
or sensor waits between two exports; the triggerer polls (one shared read of every
watched report's record a poll).

``exports_of_this_run`` reads the execution ids from the asset events that started
the run (each event's ``extra["payload"]``: ``ReportId``, ``ExecutionId``,
``ReportGeneratedTime``; never the download link), and ``download_export``, mapped
over them, downloads exactly those exports into ``PCINSIGHTS_EXPORT_DIR`` as
``<ReportId>_<ExecutionId>.csv``. Usually a run has one; Airflow folds the events that
arrive before it creates the run into that run, so after an outage it may have several.

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
        schedule=[REPORT_EXPORTS],  # a run per new export (or per exports announced together)
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        tags=["example", "pcinsights"],
    ):

        @task
        def exports_of_this_run(triggering_asset_events=None) -> list[str]:
            """The execution ids the watcher announced to this run: Airflow makes one
            run of the asset events that arrive before it creates the run (exports announced
            together after a triggerer outage, say), so a run may carry more than one."""
            events = [e for per_asset in triggering_asset_events.values() for e in per_asset]
            return [e.extra["payload"]["ExecutionId"] for e in events]

        # One download per announced export.
        DownloadReportOperator.partial(
            task_id="download_export",
            report_id=REPORT_IDS[0],
            destination=f"{EXPORT_DIR}/",  # a directory: <ReportId>_<ExecutionId>.csv
        ).expand(execution_id=exports_of_this_run())
    # [END howto_asset_watcher_report_exports]
