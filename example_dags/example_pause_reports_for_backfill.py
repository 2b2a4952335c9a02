"""Pause Partner Center report schedules while a backfill rewrites their data.

The pause runs as a *setup* task and the resume as its *teardown*: Airflow runs a
teardown even when the work between them fails, so a failed backfill never leaves
the reports paused. The sensor then waits until Partner Center shows them active.

Which reports: the ``report_ids`` param (trigger the DAG with
``{"report_ids": ["<id>", ...]}``), defaulting to the comma-separated ids in the
``PCINSIGHTS_REPORT_IDS`` environment variable. The connection is
``pcinsights_default``.
"""

from __future__ import annotations

import os
import time

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_pcinsights.operators.report import PauseReportOperator, ResumeReportOperator
from airflow_provider_pcinsights.sensors.report import ReportStatusSensor

DEFAULT_REPORT_IDS = [i.strip() for i in os.environ.get("PCINSIGHTS_REPORT_IDS", "").split(",") if i.strip()]

with DAG(
    dag_id="example_pause_reports_for_backfill",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,  # "{{ params.report_ids }}" renders to a list, not its text
    params={
        "report_ids": Param(DEFAULT_REPORT_IDS, type="array", description="Report ids to pause."),
        "backfill_seconds": Param(3, type="number", minimum=0),
        "fail_backfill": Param(False, type="boolean", description="Make the stand-in backfill fail."),
    },
    tags=["example", "pcinsights"],
) as dag:
    # [START howto_operator_pause_resume_around_backfill]
    pause_reports = PauseReportOperator(
        task_id="pause_reports",
        report_id="{{ params.report_ids }}",
    )

    @task
    def backfill(params: dict | None = None) -> None:
        """Stand-in for the real backfill: rewrite the data the reports export."""
        params = params or {}
        time.sleep(float(params.get("backfill_seconds", 0)))
        if params.get("fail_backfill"):
            raise RuntimeError("the backfill failed (as asked by the fail_backfill param)")

    resume_reports = ResumeReportOperator(
        task_id="resume_reports",
        report_id="{{ params.report_ids }}",
    )

    wait_until_active = ReportStatusSensor(
        task_id="wait_until_active",
        report_id="{{ params.report_ids }}",
        target_status="Active",
        poke_interval=5,
        timeout=600,
    )

    # resume_reports runs even if the backfill fails, because it is the teardown of pause_reports.
    pause_reports >> backfill() >> resume_reports.as_teardown(setups=pause_reports)
    resume_reports >> wait_until_active
    # [END howto_operator_pause_resume_around_backfill]
