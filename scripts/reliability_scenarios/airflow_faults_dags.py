"""The DAG file scenario 2 writes into the Airflow home it runs: one DAG per fault.

- ``pcinsights_reliability_kill``: pause a list one report at a time (the worker is
  killed part-way), a stand-in backfill, and the restore as the pause's teardown;
- ``pcinsights_reliability_triggerer``: deferrable sensors, one report each (the
  triggerer is stopped and started again while they wait);
- ``pcinsights_reliability_emulator``: pause, backfill, restore, and a deferrable
  wait (the emulator is restarted part-way through the pause).

Report ids come from ``ids.json`` beside the file. The restore is
``ResumeReportOperator(paused_by="pause")``: exactly what the pause paused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FILE_NAME = "pcinsights_reliability_airflow_faults.py"
DAG_IDS = {
    "kill": "pcinsights_reliability_kill",
    "triggerer": "pcinsights_reliability_triggerer",
    "emulator": "pcinsights_reliability_emulator",
}

SOURCE = '''\
"""Written by scripts/reliability_scenarios/airflow_faults_dags.py for `make reliability` (scenario 2)."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_pcinsights.operators.report import PauseReportOperator, ResumeReportOperator
from airflow_provider_pcinsights.sensors.report import ReportStatusSensor

IDS = json.loads((Path(__file__).parent / "ids.json").read_text())
POLL_INTERVAL = {poll_interval}
START = pendulum.datetime(2026, 1, 1, tz="UTC")
# One report at a time, so a pause is slow enough to interrupt; one retry, as a DAG would have.
ONE_AT_A_TIME = {{"max_concurrency": 1, "retries": 1, "retry_delay": timedelta(seconds=1)}}


def restore() -> ResumeReportOperator:
    return ResumeReportOperator(task_id="restore", paused_by="pause")


@task
def backfill(seconds: float) -> None:
    """Stand-in for the real backfill."""
    time.sleep(seconds)


with DAG(dag_id={kill!r}, schedule=None, start_date=START, catchup=False) as kill:
    pause = PauseReportOperator(task_id="pause", report_id=IDS["kill"], **ONE_AT_A_TIME)
    pause >> backfill(1) >> restore().as_teardown(setups=pause)

with DAG(dag_id={triggerer!r}, schedule=None, start_date=START, catchup=False, max_active_tasks=32) as waits:
    for index, report_id in enumerate(IDS["wait"]):
        ReportStatusSensor(
            task_id=f"wait_{{index}}",
            report_id=report_id,
            target_status="Active",
            deferrable=True,
            poll_interval=POLL_INTERVAL,
            timeout=600,
        )

with DAG(dag_id={emulator!r}, schedule=None, start_date=START, catchup=False) as restarted:
    pause = PauseReportOperator(task_id="pause", report_id=IDS["restart"], **ONE_AT_A_TIME)
    resumed = restore()
    pause >> backfill(1) >> resumed.as_teardown(setups=pause)
    resumed >> ReportStatusSensor(
        task_id="wait_active", report_id=IDS["restart"], target_status="Active", deferrable=True,
        poll_interval=1, timeout=300,
    )
'''


def write(folder: Path, ids: dict[str, Any], poll_interval: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ids.json").write_text(json.dumps(ids))
    (folder / FILE_NAME).write_text(SOURCE.format(poll_interval=poll_interval, **DAG_IDS))
