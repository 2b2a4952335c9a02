"""Resume Partner Center report schedules once the upstream load has refreshed their data.

``example_upstream_sales_load`` stands for the pipeline that feeds the reports; it
updates an Asset (a Dataset on Airflow 2.11). ``example_resume_after_upstream_load``
is scheduled on that Asset, so it runs after every successful load: it resumes the
reports, then waits for them to be active in deferrable mode, which frees the
worker slot while Partner Center catches up.

Which reports: the ``report_ids`` param, defaulting to the comma-separated ids in
the ``PCINSIGHTS_REPORT_IDS`` environment variable.
"""

from __future__ import annotations

import os

import pendulum
from airflow.providers.common.compat.sdk import DAG, Asset, Param, task

from airflow_provider_pcinsights.operators.report import ResumeReportOperator
from airflow_provider_pcinsights.sensors.report import ReportStatusSensor

DEFAULT_REPORT_IDS = [i.strip() for i in os.environ.get("PCINSIGHTS_REPORT_IDS", "").split(",") if i.strip()]

# [START howto_asset_upstream_load]
SALES_LOAD = Asset("file:///data/warehouse/sales_daily.csv")

with DAG(
    dag_id="example_upstream_sales_load",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "pcinsights"],
):

    @task(outlets=[SALES_LOAD])
    def load_sales() -> None:
        """Stand-in for the load that refreshes the data the reports read."""

    load_sales()
# [END howto_asset_upstream_load]

with DAG(
    dag_id="example_resume_after_upstream_load",
    schedule=[SALES_LOAD],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    params={"report_ids": Param(DEFAULT_REPORT_IDS, type="array", description="Report ids to resume.")},
    tags=["example", "pcinsights"],
):
    # [START howto_operator_resume_and_wait_deferrable]
    resume_reports = ResumeReportOperator(
        task_id="resume_reports",
        report_id="{{ params.report_ids }}",
    )

    wait_until_active = ReportStatusSensor(
        task_id="wait_until_active",
        report_id="{{ params.report_ids }}",
        target_status="Active",
        deferrable=True,
        poll_interval=30,
        timeout=60 * 60,
    )

    resume_reports >> wait_until_active
    # [END howto_operator_resume_and_wait_deferrable]
