"""The DAG scenario 5 runs: for each auth type a task group with every operator and the sensor in each mode.

Each group pauses a list, resumes one report (both templated), and waits in poke,
reschedule and deferrable mode for reports the emulator turns ``Active`` after
two reads (one for the rescheduling sensor), so each sensor really pokes again,
reschedules or defers; then waits in each mode for the export the resume started
(the emulator's clock moves with each read of executions; the deferrable wait
goes first, so it defers) and downloads it. Waits are bounded by a few seconds: on a failure path a
sensor in reschedule mode, which starts its count of tolerated errors afresh at
each reschedule, ends by its timeout. Every task
after the pause runs whatever happened before it (``all_done``), so a failure
path goes through every task. Connection ids and report ids come from params.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reliability_scenarios.harness import load_module

DAG_ID = "pcinsights_reliability_secrets"
FILE_NAME = "pcinsights_reliability_secrets.py"

SOURCE = '''\
"""Written by scripts/reliability_scenarios/secrets_dag.py for the secrets scan of `make reliability`."""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, TaskGroup

from airflow_provider_pcinsights.operators.report import (
    DownloadReportOperator,
    PauseReportOperator,
    ResumeReportOperator,
)
from airflow_provider_pcinsights.sensors.report import ReportExecutionSensor, ReportStatusSensor

AUTH_TYPES = {auth_types!r}
HOOK_PARAMS = {hook_params!r}

with DAG(
    dag_id={dag_id!r},
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    render_template_as_native_obj=True,
    params={params!r},
    default_args={{"retries": 0}},
) as dag:
    for auth in AUTH_TYPES:
        with TaskGroup(auth):
            conn = "{{{{ params.conns.%s }}}}" % auth
            reports = "params.reports.%s" % auth
            common = {{"conn_id": conn, "hook_params": HOOK_PARAMS}}
            pause = PauseReportOperator(task_id="pause", report_id="{{{{ %s.ids }}}}" % reports, **common)
            resume = ResumeReportOperator(
                task_id="resume", report_id="{{{{ %s.ids[0] }}}}" % reports, trigger_rule="all_done", **common
            )
            waited = "{{{{ %s.waited[%d] }}}}"
            waits = [
                ReportStatusSensor(
                    task_id="wait_poke", report_id=waited % (reports, 0), mode="poke", poke_interval=0.2,
                    timeout=8, deferrable=False, trigger_rule="all_done", **common
                ),
                ReportStatusSensor(
                    task_id="wait_reschedule", report_id=waited % (reports, 1), mode="reschedule",
                    poke_interval=1, timeout=5, deferrable=False, trigger_rule="all_done", **common
                ),
                ReportStatusSensor(
                    task_id="wait_deferred", report_id=waited % (reports, 2), deferrable=True,
                    poll_interval=0.2, timeout=8, trigger_rule="all_done", **common
                ),
            ]
            # The resume starts the report's next run, which completes as the sensors read it.
            exported = "{{{{ %s.ids[0] }}}}" % reports
            exports = [
                ReportExecutionSensor(
                    task_id="wait_export_poke", report_id=exported, mode="poke", poke_interval=0.2,
                    timeout=8, deferrable=False, **common
                ),
                ReportExecutionSensor(
                    task_id="wait_export_reschedule", report_id=exported, mode="reschedule", poke_interval=1,
                    timeout=5, deferrable=False, **common
                ),
                ReportExecutionSensor(
                    task_id="wait_export_deferred", report_id=exported, deferrable=True, poll_interval=0.2,
                    timeout=8, **common
                ),
            ]
            download = DownloadReportOperator(
                task_id="download", report_id=exported, destination="{{{{ params.downloads }}}}/%s/" % auth,
                **common
            )
            pause >> resume >> waits
            # dag.test() runs one task at a time: the deferrable wait goes first, while the run is not done.
            resume >> exports[2] >> exports[:2]
            exports[0] >> download
'''


def write_dag(
    folder: Path, auth_types: list[str], hook_params: dict[str, Any], params: dict[str, Any]
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAME
    path.write_text(
        SOURCE.format(
            auth_types=list(auth_types),
            hook_params=json.loads(json.dumps(hook_params)),
            dag_id=DAG_ID,
            params=json.loads(json.dumps(params)),
        )
    )
    return path


def load_dag(folder: Path) -> Any:
    """The DAG object from the written file."""
    return load_module(folder / FILE_NAME, "pcinsights_reliability_secrets_dag").dag
