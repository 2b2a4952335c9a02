"""Small helpers for tests that run DAGs with dag.test() (importable from any test directory)."""

from __future__ import annotations

import contextlib
import inspect
from datetime import datetime
from typing import Any


def task_states(dag_run: Any) -> dict[str, str]:
    """Each task's state by task id, as plain strings on both Airflow lines."""
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


def on_date(dag: Any, when: datetime) -> dict[str, datetime]:
    """dag.test() keywords that give the run the same run id every time: the logical date, and on
    Airflow 3 the run-after time too (its run ids are made from that)."""
    parameters = inspect.signature(dag.test).parameters
    if "logical_date" in parameters:
        return {"logical_date": when, "run_after": when}
    # Airflow 2.11's dag.test() deletes an earlier run of that date through the ORM, whose foreign
    # keys include the FAB user table: map it first, as the CLI and the webserver do.
    with contextlib.suppress(ImportError):
        import airflow.providers.fab.auth_manager.models  # noqa: F401
    return {"execution_date": when}
