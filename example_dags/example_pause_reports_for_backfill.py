"""Pause Partner Center report schedules while a backfill rewrites their data, then restore them.

The pause runs as a *setup* task and the restore as its *teardown*: Airflow runs a
teardown even when the work between them fails, so a failed backfill never leaves
the reports paused. The restore gives back exactly what the pause took
(``paused_by``): a report somebody had paused before the run stays paused. If the
pause itself fails on its last try, it resumes what it had paused before failing
(a failed setup gets no teardown); a retried or killed pause still knows what its
earlier tries paused.

It is what a backfill looks like in production: scheduled daily, with ``catchup``
from its start date and up to three runs at once (``max_active_runs=3``). Every
run pauses the same reports, and that is safe: a pause is a *hold*. A report held
by several runs stays paused until the last of them restores it, and only that
restore resumes it (the restores of the others log "stays Paused: still held by
..."). The pause and restore tasks run in the pool ``pcinsights_holds`` of one slot,
which the provider creates when the scheduler starts.

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

DEFAULT_REPORT_IDS = [i.strip() for i in os.environ.get("PCINSIGHTS_REPORT_IDS", "").split(",") if i.strip()]

with DAG(
    dag_id="example_pause_reports_for_backfill",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=True,  # one run per date since start_date: several at once, all pausing the same reports
    max_active_runs=3,
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
        retries=2,  # a retry still knows what an earlier try paused
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
        paused_by="pause_reports",  # gives back this run's holds; resumes what no other run still holds
        retries=2,
    )

    # restore_reports runs even if the backfill fails, because it is the teardown of pause_reports.
    pause_reports >> backfill() >> restore_reports.as_teardown(setups=pause_reports)
    # [END howto_operator_pause_resume_around_backfill]
