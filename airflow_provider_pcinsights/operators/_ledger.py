"""The pause ledger: the reports a pause task moved from ``Active`` to ``Paused``, where a retry finds them.

XCom cannot carry this from one try of a task to the next: Airflow clears a task
instance's XCom when a new try starts (Airflow 3's task runner deletes the keys
the execution API names; Airflow 2 calls ``clear_xcom_data``). A try that is
killed mid-list pushes nothing at all. So the pause task writes the ids it is
about to pause (those it read as ``Active``) to an Airflow Variable *before* it
sends the first pause, in one write (a write-ahead record; one write per report
would make a long list wait on Airflow's store, an HTTP call each on Airflow 3),
the next try of the same task instance reads it back, and the restore deletes it.
An id recorded whose pause was never sent is harmless: the next try finds it
``Active`` and pauses it, a roll-back or restore finds it ``Active`` and sends
nothing. Variables live in Airflow's own store, reachable from tasks on 2.11
and 3.x, and survive retries, kills and worker restarts.

The Variable's key is a hash of (DAG id, run id, task id, map index), so any
run id fits; its value is JSON naming all four, so a person looking at
Airflow's Variables can tell what it belongs to.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from airflow.providers.common.compat.sdk import AirflowFailException, Variable

KEY_PREFIX = "pcinsights_pause_ledger_"


class PauseLedger:
    """The write-ahead record of one pause task instance; every method is safe from several threads."""

    def __init__(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> None:
        self.dag_id = dag_id
        self.run_id = run_id
        self.task_id = task_id
        self.map_index = map_index
        digest = hashlib.sha256(json.dumps([dag_id, run_id, task_id, map_index]).encode()).hexdigest()
        self.key = f"{KEY_PREFIX}{digest[:40]}"
        self._lock = threading.Lock()
        self._ids: list[str] | None = None  # what this process last read or wrote

    @classmethod
    def of(cls, context: Mapping[str, Any] | None, task_id: str | None = None) -> PauseLedger | None:
        """The ledger of ``task_id`` (default: the running task) in this DAG run; ``None`` outside one."""
        ti = (context or {}).get("ti")
        dag_id, run_id = getattr(ti, "dag_id", None), getattr(ti, "run_id", None)
        if not isinstance(dag_id, str) or not isinstance(run_id, str):
            return None
        own = task_id is None or task_id == getattr(ti, "task_id", None)
        map_index = getattr(ti, "map_index", -1) if own else -1
        return cls(dag_id, run_id, task_id or ti.task_id, map_index if isinstance(map_index, int) else -1)

    def __repr__(self) -> str:
        return f"PauseLedger({self.key}: {self.dag_id}/{self.run_id}/{self.task_id})"

    # -- reading -------------------------------------------------------------------------

    def read(self) -> list[str]:
        """The ids recorded so far (by any try), in the order they were recorded."""
        with self._lock:
            return list(self._load())

    def _load(self) -> list[str]:
        if self._ids is None:
            value = Variable.get(self.key, None, deserialize_json=True)  # default_var on 2, default on 3
            ids = value.get("report_ids") if isinstance(value, dict) else None
            self._ids = [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []
        return self._ids

    # -- writing -------------------------------------------------------------------------

    def add(self, report_ids: Iterable[str]) -> None:
        """Record the ids about to be paused, in one write, before the first pause is sent; if this
        fails, no pause may be sent. Ids recorded already are kept, in their place."""
        with self._lock:
            ids = self._load()
            known = set(ids)
            new = [rid for rid in dict.fromkeys(report_ids) if rid not in known]
            if new:
                self._store([*ids, *new])

    def keep_only(self, report_ids: Iterable[str]) -> None:
        """Forget every id not in ``report_ids``; delete the Variable when none is left."""
        with self._lock:
            wanted = set(report_ids)
            ids = self._load()
            kept = [i for i in ids if i in wanted]
            if kept != ids or not kept:
                self._store(kept)

    def remove(self, report_ids: Iterable[str]) -> None:
        """Forget the ids given back; delete the Variable when none is left."""
        with self._lock:
            gone = set(report_ids)
            ids = self._load()
            kept = [i for i in ids if i not in gone]
            if kept != ids:
                self._store(kept)

    def _store(self, ids: list[str]) -> None:
        if ids:
            value = {
                "dag_id": self.dag_id,
                "run_id": self.run_id,
                "task_id": self.task_id,
                "map_index": self.map_index,
                "report_ids": ids,
            }
            Variable.set(
                self.key,
                value,
                description=(
                    f"Reports that task {self.task_id} of DAG {self.dag_id} paused in run {self.run_id}; "
                    "written by airflow-provider-pcinsights before each pause, deleted once they are resumed"
                ),
                serialize_json=True,
            )
        elif self._ids is None or self._ids:
            try:
                Variable.delete(self.key)
            except Exception:  # nothing to delete is as good as deleted
                if Variable.get(self.key, None) is not None:
                    raise
        self._ids = ids


def will_retry(context: Mapping[str, Any] | None, exc: BaseException) -> bool:
    """Whether Airflow will run this task instance again after ``exc``.

    The rule of both Airflow lines (Airflow 3's execution API, Airflow 2's
    ``is_eligible_to_retry``): a try is retried while ``try_number <= max_tries``,
    unless the error is an ``AirflowFailException``.
    """
    if isinstance(exc, AirflowFailException):
        return False
    ti = (context or {}).get("ti")
    max_tries, try_number = getattr(ti, "max_tries", 0), getattr(ti, "try_number", None)
    if not isinstance(max_tries, int) or not isinstance(try_number, int):
        return False
    return max_tries > 0 and try_number <= max_tries
