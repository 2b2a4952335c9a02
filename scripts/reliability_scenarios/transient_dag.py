"""The DAGs scenario 1 runs: one phase of pause (or resume) actions, in list tasks and single-report tasks.

Report ids come from params (``lists``: one list per list task; ``singles``: one id
per single task). Tasks retry as Airflow retries them; every try that fails
records its exception in ``FAILED_TRIES`` (the tasks run in the caller's process
under ``dag.test()``), so the scenario can tell a typed error from anything else.
The ``doomed`` DAG pauses one list and some single reports with no task retries
and fewer hook retries, for the run where every call fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reliability_scenarios.harness import load_module

FILE_NAME = "pcinsights_reliability_transient.py"

SOURCE = '''\
"""Written by scripts/reliability_scenarios/transient_dag.py for `make reliability` (scenario 1)."""

from __future__ import annotations

import time
from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_pcinsights.operators.report import PauseReportOperator, ResumeReportOperator

LISTS = {lists}
SINGLES = {singles}
DOOMED_SINGLES = {doomed_singles}
HOOK_PARAMS = {hook_params!r}
DOOMED_HOOK_PARAMS = {doomed_hook_params!r}
MAX_CONCURRENCY = {max_concurrency}
FAILED_TRIES: list[dict] = []


def record(context) -> None:
    """Every failed try: its task, try number, exception and how long it ran."""
    ti = context["ti"]
    error = context.get("exception")
    FAILED_TRIES.append(
        {{
            "task_id": ti.task_id,
            "try_number": ti.try_number,
            "type": type(error).__name__,
            "mro": [cls.__name__ for cls in type(error).__mro__],
            "message": str(error),
            "ended": time.time(),
        }}
    )


def phase(dag_id: str, operator: type, retries: int, hook_params: dict, lists: int, singles: int) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        render_template_as_native_obj=True,
        params={{"lists": [[]] * lists, "singles": [""] * singles}},
        max_active_tasks=1,
        default_args={{
            "retries": retries,
            "retry_delay": timedelta(seconds=0),
            "on_retry_callback": record,
            "on_failure_callback": record,
        }},
    ) as dag:
        for index in range(lists):
            operator(
                task_id=f"list_{{index}}",
                report_id="{{{{ params.lists[%d] }}}}" % index,
                max_concurrency=MAX_CONCURRENCY,
                hook_params=hook_params,
            )
        for index in range(singles):
            operator(
                task_id=f"single_{{index}}",
                report_id="{{{{ params.singles[%d] }}}}" % index,
                hook_params=hook_params,
            )
    return dag


RETRIES = {task_retries}
pause = phase("pcinsights_reliability_pause", PauseReportOperator, RETRIES, HOOK_PARAMS, LISTS, SINGLES)
resume = phase("pcinsights_reliability_resume", ResumeReportOperator, RETRIES, HOOK_PARAMS, LISTS, SINGLES)
doomed = phase("pcinsights_reliability_doomed", PauseReportOperator, 0, DOOMED_HOOK_PARAMS, 1, DOOMED_SINGLES)
'''


def write_dags(
    folder: Path,
    *,
    lists: int,
    singles: int,
    hook_params: dict[str, Any],
    doomed_hook_params: dict[str, Any],
    max_concurrency: int,
    task_retries: int,
    doomed_singles: int,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAME
    path.write_text(
        SOURCE.format(
            lists=lists,
            singles=singles,
            hook_params=json.loads(json.dumps(hook_params)),
            doomed_hook_params=json.loads(json.dumps(doomed_hook_params)),
            max_concurrency=max_concurrency,
            task_retries=task_retries,
            doomed_singles=doomed_singles,
        )
    )
    return path


def load(folder: Path) -> Any:
    """The module of the written file: its ``pause``, ``resume`` and ``doomed`` DAGs and ``FAILED_TRIES``."""
    return load_module(folder / FILE_NAME, "pcinsights_reliability_transient_dags")
