"""DAGs the restore tests run: pause as setup, a backfill that can fail, restore as teardown.

``pcinsights_test_restore`` retries the pause and the restore once;
``pcinsights_test_restore_last_try`` gives the pause a single try. Each calls the
emulator with no retries of its own (``hook_params``), so one injected fault
fails one call, and one report at a time, so the order of calls is fixed. A last
task records what the pause pushed (tasks run in the test's process).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG, get_current_context, task

from airflow_provider_pcinsights.operators.report import PauseReportOperator, ResumeReportOperator

COLLECTED: dict[str, list] = {}
NO_RETRIES = {"retries": 0}


def restore_dag(dag_id: str, *, pause_retries: int, restore_retries: int) -> DAG:
    COLLECTED[dag_id] = []
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        render_template_as_native_obj=True,
        params={"ids": ["00000000-0000-0000-0000-000000000000"], "fail_backfill": False, "only": None},
        default_args={"retry_delay": timedelta(0)},
    ) as dag:
        pause = PauseReportOperator(
            task_id="pause_reports",
            report_id="{{ params.ids }}",
            retries=pause_retries,
            max_concurrency=1,
            hook_params=NO_RETRIES,
        )

        @task
        def backfill(params: dict | None = None) -> None:
            if (params or {}).get("fail_backfill"):
                raise RuntimeError("the backfill failed")

        restore = ResumeReportOperator(
            task_id="restore_reports",
            paused_by="pause_reports",
            report_id="{{ params.only }}",  # None: all it paused
            retries=restore_retries,
            max_concurrency=1,
            hook_params=NO_RETRIES,
        )

        @task(trigger_rule="all_done")
        def collect() -> None:
            ti = get_current_context()["ti"]
            COLLECTED[dag_id].append(ti.xcom_pull(task_ids="pause_reports", key="paused_report_ids"))

        pause >> backfill() >> restore.as_teardown(setups=pause)
        restore >> collect()
    return dag


retried = restore_dag("pcinsights_test_restore", pause_retries=1, restore_retries=1)
last_try = restore_dag("pcinsights_test_restore_last_try", pause_retries=0, restore_retries=0)
