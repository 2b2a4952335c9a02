"""Holds: who keeps which report paused, shared by every DAG run and every DAG (docs/design.md, "Holds").

A pause task takes a *hold* on each report it pauses, or finds paused under
another hold; a restore releases its pause's holds and resumes a report only
when no live hold on it remains. A report with an entry in the table was
``Active`` before its first hold; a ``Paused`` report without one was paused by
a person, and no task holds or resumes it.

The table lives in ``SHARDS`` Airflow Variables (``pcinsights_holds_0`` ...),
each report in the one its id hashes to, reached through the Task SDK on
Airflow 3 and the Variable model on 2.11: a task reads every shard once and
writes those it changed, a constant number of calls whatever the number of
reports. A Variable write replaces the whole value and has no compare-and-set,
so every task that reads and writes the table runs in the pool ``POOL`` of one
slot (the operators' default pool): the scheduler never runs two of them at once.
The pool and the shards are created when an Airflow component starts with this
provider installed (the listener of :mod:`airflow_provider_pcinsights.plugin`), or by ``python -m
airflow_provider_pcinsights.holds setup``; a shard is never deleted, so a task
never asks for a Variable that is not there (Airflow 3.0 and 3.1 log that at
error level).

``python -m airflow_provider_pcinsights.holds list`` shows every hold;
``release REPORT_ID [--run-id RUN] [--resume]`` releases holds by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

POOL = "pcinsights_holds"
SHARDS = 8
KEY_PREFIX = "pcinsights_holds_"
POOL_DESCRIPTION = (
    "airflow-provider-pcinsights: one slot, so that pause and restore tasks update the hold table "
    "(Variables pcinsights_holds_*) one at a time"
)
SHARD_DESCRIPTION = (
    "airflow-provider-pcinsights holds: report id -> the tasks (DAG, run, task) that keep it Paused. "
    "See and release them with: python -m airflow_provider_pcinsights.holds list|release"
)
LIVE_RUN_STATES = frozenset({"queued", "running"})

log = logging.getLogger(__name__)


def shard_key(report_id: str) -> str:
    digest = hashlib.sha256(report_id.casefold().encode()).digest()
    return f"{KEY_PREFIX}{digest[0] % SHARDS}"


SHARD_KEYS = [f"{KEY_PREFIX}{n}" for n in range(SHARDS)]


@dataclass(frozen=True)
class Holder:
    """A pause task instance holding reports; ``try_number`` says which try took the hold.

    Two holders are equal when they are the same task instance, whatever the try: a retry holds
    what its earlier tries took.
    """

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    try_number: int | None = field(default=None, compare=False)

    @classmethod
    def of(cls, context: Mapping[str, Any] | None, task_id: str | None = None) -> Holder | None:
        """The running task (or ``task_id`` in the same DAG run); ``None`` outside a DAG run."""
        ti: Any = (context or {}).get("ti")
        dag_id, run_id = getattr(ti, "dag_id", None), getattr(ti, "run_id", None)
        if not isinstance(dag_id, str) or not isinstance(run_id, str):
            return None
        if task_id is not None and task_id != ti.task_id:
            return cls(dag_id, run_id, task_id)
        map_index, try_number = getattr(ti, "map_index", -1), getattr(ti, "try_number", None)
        return cls(
            dag_id,
            run_id,
            ti.task_id,
            map_index if isinstance(map_index, int) else -1,
            try_number if isinstance(try_number, int) else None,
        )

    @classmethod
    def load(cls, value: Any) -> Holder | None:
        try:
            return cls(
                str(value["dag_id"]),
                str(value["run_id"]),
                str(value["task_id"]),
                int(value.get("map_index", -1)),
                value.get("try_number"),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            return None

    def __str__(self) -> str:
        index = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}/{self.run_id}/{self.task_id}{index}"


class Variables:
    """Where the hold table lives: Airflow's Variables as a task reaches them (the Task SDK on
    Airflow 3, the model on 2.11), or with ``model`` through Airflow's models, for the command
    line, which has the database."""

    def __init__(self, model: bool = False) -> None:
        from airflow.models.variable import Variable as Model
        from airflow.providers.common.compat.sdk import Variable

        self.variable: Any = Model if model else Variable  # one class on 2.11

    def get(self, key: str) -> Any:
        return self.variable.get(key, None, deserialize_json=True)  # default_var on 2, default on 3

    def set(self, key: str, value: Any) -> None:
        self.variable.set(key, value, description=SHARD_DESCRIPTION, serialize_json=True)


class HoldTable:
    """The hold table as one task sees it: read whole, changed in memory, the changed shards written."""

    def __init__(self, store: Any = None) -> None:
        self.store = store or Variables()
        self.holds: dict[str, list[Holder]] = {}
        self._dirty: set[str] = set()
        self.reads = self.writes = 0

    def load(self) -> HoldTable:
        self.holds.clear()
        self._dirty.clear()
        for key in SHARD_KEYS:
            value = self.store.get(key)
            self.reads += 1
            for rid, holders in (value if isinstance(value, dict) else {}).items():
                loaded = [h for h in map(Holder.load, holders if isinstance(holders, list) else []) if h]
                if loaded:
                    self.holds[rid] = loaded
        return self

    def save(self) -> None:
        """One write per shard changed since the load (a Variable write replaces the whole value)."""
        for key in sorted(self._dirty):
            shard = {rid: [asdict(h) for h in hs] for rid, hs in self.holds.items() if shard_key(rid) == key}
            self.store.set(key, shard)
            self.writes += 1
        self._dirty.clear()

    def holders(self, report_id: str) -> list[Holder]:
        return list(self.holds.get(report_id, []))

    def held_by(self, holder: Holder) -> list[str]:
        """The reports this task instance holds (from any of its tries), in the order it took them."""
        return [rid for rid, hs in self.holds.items() if holder in hs]

    def add(self, report_id: str, holder: Holder) -> None:
        held = self.holds.setdefault(report_id, [])
        if holder not in held:
            held.append(holder)
            self._dirty.add(shard_key(report_id))

    def remove(self, report_id: str, holder: Holder) -> None:
        """Release this task instance's hold (any try) on the report."""
        self.release(report_id, holder.__eq__)

    def release(self, report_id: str, which: Callable[[Holder], bool]) -> list[Holder]:
        """Release the holds on the report that ``which`` picks; those released."""
        held = self.holds.get(report_id, [])
        gone = [h for h in held if which(h)]
        if gone:
            kept = [h for h in held if h not in gone]
            if kept:
                self.holds[report_id] = kept
            else:
                del self.holds[report_id]
            self._dirty.add(shard_key(report_id))
        return gone

    def drop_dead(
        self,
        report_ids: Iterable[str],
        is_live: Callable[[Holder], bool],
        log: Any,
        keep: Holder,
    ) -> None:
        """Treat as released the holds of runs that have ended (or are gone), saying so in the log.

        One question per DAG run, and none about ``keep``'s own run (it is running: it asks).
        """
        live = {(keep.dag_id, keep.run_id): True}

        def dead(holder: Holder) -> bool:
            run = (holder.dag_id, holder.run_id)
            if run not in live:
                live[run] = is_live(holder)
            return not live[run]

        for rid in report_ids:
            for h in self.release(rid, dead):
                log.warning(
                    "Report %s: the hold of %s is treated as released: its DAG run is no longer running",
                    rid,
                    h,
                )


def run_is_live(context: Mapping[str, Any] | None, log: Any = log) -> Callable[[Holder], bool]:
    """A function telling whether a holder's DAG run is still queued or running.

    On Airflow 3 the task asks through the Task SDK (``get_dagrun_state``); on 2.11
    it reads the DagRun model. A run that is gone is not live; a state that cannot
    be learned for another reason counts as live: a doubt never resumes a report.
    """
    ti = (context or {}).get("ti")
    ask = getattr(ti, "get_dagrun_state", None)

    def is_live(holder: Holder) -> bool:
        try:
            if callable(ask):
                state = ask(holder.dag_id, holder.run_id)
            else:
                from airflow.models.dagrun import DagRun

                runs = DagRun.find(dag_id=holder.dag_id, run_id=holder.run_id)
                state = runs[0].state if runs else None
        except Exception as exc:
            if _status_code(exc) == 404:  # no such run (deleted, or never was)
                return False
            log.warning(
                "Could not learn the state of DAG run %s/%s (%s): its hold stays",
                holder.dag_id,
                holder.run_id,
                exc,
            )
            return True
        state = getattr(state, "value", state)
        return state is not None and str(state).casefold() in LIVE_RUN_STATES

    return is_live


def _status_code(exc: BaseException) -> int | None:
    """The HTTP status behind an execution API error: in the task process (``AirflowRuntimeError``,
    its detail) or in-process as ``dag.test()`` runs it (``ServerResponseError``, its response)."""
    code = getattr(getattr(exc, "response", None), "status_code", None)
    if code is None:
        detail = getattr(getattr(exc, "error", None), "detail", None)
        code = detail.get("status_code") if isinstance(detail, dict) else None
    return code if isinstance(code, int) else None


def ensure_store() -> list[str]:
    """Create the pool (one slot) and the empty shards where missing; returns what it created.

    Needs Airflow's database (a scheduler, triggerer or dag-processor, or the command line).
    """
    from airflow.models.pool import Pool
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    created: list[str] = []
    with create_session() as session:
        if session.scalar(select(Pool).where(Pool.pool == POOL)) is None:
            session.add(Pool(pool=POOL, slots=1, description=POOL_DESCRIPTION, include_deferred=False))
            created.append(f"pool {POOL}")
        existing = set(session.scalars(select(Variable.key).where(Variable.key.in_(SHARD_KEYS))))
        for key in SHARD_KEYS:
            if key not in existing:
                session.add(Variable(key=key, val="{}", description=SHARD_DESCRIPTION))
                created.append(f"variable {key}")
    return created


# -- the command line -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_pcinsights.holds",
        description="See and release the holds that keep Partner Center reports paused.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every current hold, with its DAG run's state")
    sub.add_parser("setup", help="create the pool and the hold Variables if missing")
    release = sub.add_parser("release", help="release holds on a report (all, or those of one DAG run)")
    release.add_argument("report_id")
    release.add_argument("--dag-id")
    release.add_argument("--run-id")
    release.add_argument("--resume", metavar="CONN_ID", help="resume the report if no hold remains")
    args = parser.parse_args(argv)
    if args.command == "setup":
        print("\n".join(f"created {c}" for c in ensure_store()) or "nothing to create")
        return 0
    table = HoldTable(Variables(model=True)).load()
    if args.command == "list":
        is_live = run_is_live(None)
        for rid, holders in sorted(table.holds.items()):
            for h in holders:
                print(
                    f"{rid}\theld by {h}\t({'live' if is_live(h) else 'run ended: released at next touch'})"
                )
        if not table.holds:
            print("no holds")
        return 0
    rid = args.report_id
    gone = table.release(rid, lambda h: args.dag_id in (None, h.dag_id) and args.run_id in (None, h.run_id))
    table.save()
    left = table.holders(rid)
    print(f"released {len(gone)} hold(s) on {rid}: {', '.join(map(str, gone)) or 'none matched'}")
    if left:
        print(f"still held by: {', '.join(map(str, left))}")
    elif args.resume:
        from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

        record = PartnerCenterInsightsHook(conn_id=args.resume).resume_report(rid)
        print(f"no hold left: resumed, status {record.get('ReportStatus')}")
    else:
        print("no hold left; the report stays as it is (give --resume CONN_ID to resume it)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
