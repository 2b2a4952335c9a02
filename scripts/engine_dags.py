"""DAGs of the engine suite (scripts/holds_engine.py copies this file into its dags folder).

Report ids and the catchup start come from the environment the suite gives every
component; what each run does comes from its conf or its logical date.

- ``engine_catchup``: daily, ``catchup`` over 6 dates, ``max_active_runs=3``; each run
  pauses the same reports (one of them paused by a person), backfills for a length
  that depends on its date, and restores as the pause's teardown.
- ``engine_burst``: triggered 8 times at once; each run pauses the reports its conf
  names, waits its conf's delay, restores.
- ``engine_waits``: 40 deferrable ``ReportStatusSensor`` tasks of 5 reports each (200
  report waits) for the two triggerers.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_pcinsights.operators.report import PauseReportOperator, ResumeReportOperator
from airflow_provider_pcinsights.sensors.report import ReportStatusSensor


def _ids(name: str) -> list[str]:
    return [i for i in os.environ.get(name, "").split(",") if i]


START = datetime.fromisoformat(os.environ.get("ENGINE_CATCHUP_START", "2026-01-01T00:00:00+00:00"))

with DAG(
    dag_id="engine_catchup",
    schedule=timedelta(days=1),
    start_date=START,
    end_date=START + timedelta(days=5),
    catchup=True,
    max_active_runs=3,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=2)},
):
    pause = PauseReportOperator(task_id="pause", report_id=_ids("ENGINE_CATCHUP_IDS"))

    @task
    def backfill(logical_date=None) -> None:  # type: ignore[no-untyped-def]
        """Runs of different dates rewrite data for different lengths of time."""
        time.sleep(2 + 3 * ((logical_date - START).days % 3))

    (
        pause
        >> backfill()
        >> ResumeReportOperator(task_id="restore", paused_by="pause").as_teardown(setups=pause)
    )


with DAG(
    dag_id="engine_burst",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    max_active_runs=16,
    render_template_as_native_obj=True,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=2)},
):
    pause = PauseReportOperator(task_id="pause", report_id="{{ dag_run.conf['ids'] }}")

    @task
    def work(dag_run=None) -> None:  # type: ignore[no-untyped-def]
        time.sleep(float(dag_run.conf["delay"]))

    restore = ResumeReportOperator(task_id="restore", paused_by="pause")
    pause >> work() >> restore.as_teardown(setups=pause)


with DAG(
    dag_id="engine_waits",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    max_active_tasks=64,
):
    ids = _ids("ENGINE_WAIT_IDS")
    ReportStatusSensor.partial(
        task_id="wait", target_status="Active", deferrable=True, poll_interval=2, timeout=600
    ).expand(report_id=[ids[n : n + 5] for n in range(0, len(ids), 5)])
