"""Scenario 1: transient faults at scale, through the operators in real DAG runs.

The emulator fails 30% of API calls (a seeded mix of 500, 502, 503, 504, 429 with
and without ``Retry-After``, dropped connections, and answers lost after the
change was applied). Phases of pause and resume actions, each a ``dag.test()``
run of list tasks and single-report tasks with Airflow's task retries, take every
report to the phase's target status and back; after each phase every report must
be where the phase was to leave it, and each pause task's ``paused_report_ids``
exactly the reports it was given. Every failed try must be a typed
``PartnerCenterInsightsError``; retries are counted where they happen (urllib3's
retries of each call, Airflow's retries of each task). Then every call fails: each
task must fail within the bound its retry settings give, with one message that
names each of its reports.
"""

from __future__ import annotations

import logging
import math
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reliability_scenarios.harness import Stopwatch, dag_bundles, emulator_with_connection, environment
from reliability_scenarios.outcome import Counts, ScenarioResult
from reliability_scenarios.transient_dag import load, write_dags

CONN_ID = "pcinsights_default"  # the operators' default: the DAG names no connection
RATE = 0.3
TIMEOUT = 5.0  # the connection's timeout, seconds
MIX_RETRY_AFTER = 0.2  # the Retry-After of the emulator's 429s (when it sends one)
# Three retries of a call: at 30% a call still fails now and then (0.3 ** 4), and a task with it, so
# Airflow's task retries are exercised too; five of them make a task that never succeeds unlikely.
HOOK_PARAMS = {"retries": 3, "backoff_factor": 0.05, "backoff_max": 0.5, "max_retry_after": 0.5}
DOOMED_HOOK_PARAMS = {"retries": 2, "backoff_factor": 0.05, "backoff_max": 0.2, "max_retry_after": 0.2}
TASK_RETRIES = 5
MAX_CONCURRENCY = 4


@dataclass(frozen=True)
class Size:
    reports: int
    phases: int
    lists: int
    singles: int
    doomed_reports: int  # in the run where every call fails: one list, and singles

    @property
    def per_list(self) -> int:
        return (self.reports - self.singles) // self.lists


SIZES = {
    "full": Size(reports=100, phases=10, lists=8, singles=20, doomed_reports=10),
    "fast": Size(reports=12, phases=2, lists=2, singles=4, doomed_reports=4),
}


class RetryCounter(logging.Handler):
    """Counts urllib3's retries of a call: each is logged at DEBUG as "Incremented Retry"."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Incremented Retry"):
            self.count += 1

    def __enter__(self) -> RetryCounter:
        logger = logging.getLogger("urllib3.util.retry")
        self._level = logger.level
        logger.setLevel(logging.DEBUG)
        logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logger = logging.getLogger("urllib3.util.retry")
        logger.removeHandler(self)
        logger.setLevel(self._level)


def _call_bound(hook_params: dict[str, Any]) -> float:
    """The longest one hook call may take: each attempt its whole timeout, each retry its longest wait."""
    retries = hook_params["retries"]
    return (retries + 1) * 2 * TIMEOUT + retries * max(
        hook_params["backoff_max"], hook_params["max_retry_after"]
    )


def _task_bound(reports: int, hook_params: dict[str, Any], concurrency: int) -> float:
    """A task reads each report, acts, and reads again when the answer leaves it in doubt: three calls, a
    wave of ``concurrency`` reports at a time, after one sign-in."""
    return (1 + 3 * math.ceil(reports / concurrency)) * _call_bound(hook_params)


def _split(ids: list[str], size: Size) -> tuple[list[list[str]], list[str]]:
    singles, rest = ids[: size.singles], ids[size.singles :]
    lists = [rest[i * size.per_list : (i + 1) * size.per_list] for i in range(size.lists)]
    lists[-1] += rest[size.lists * size.per_list :]
    return lists, singles


def _task_instances(dag_run: Any) -> list[Any]:
    return list(dag_run.get_task_instances())


def run(size: str = "full") -> ScenarioResult:
    clock = Stopwatch()
    dims = SIZES[size]
    result = ScenarioResult(number=1, title="Transient faults at scale", size=size)
    folder = Path(tempfile.mkdtemp(prefix="pcinsights-transient-"))
    connection = {"timeout": str(TIMEOUT)}
    try:
        write_dags(
            folder,
            lists=dims.lists,
            singles=dims.singles,
            hook_params=HOOK_PARAMS,
            doomed_hook_params=DOOMED_HOOK_PARAMS,
            max_concurrency=MAX_CONCURRENCY,
            task_retries=TASK_RETRIES,
            doomed_singles=dims.doomed_reports // 2,
        )
        with (
            emulator_with_connection(CONN_ID, reports=dims.reports, seed=1, connection=connection) as emu,
            environment(**dag_bundles(folder, "pcinsights-reliability-transient")),
            RetryCounter() as http_retries,
        ):
            dags = load(folder)
            ids = emu.report_ids("mpn")
            emu.faults.mix(RATE, retry_after=MIX_RETRY_AFTER)
            phases = _phases(dags, emu, ids, dims, result)
            emu.faults.mix(1.0, retry_after=MIX_RETRY_AFTER)
            doomed = _doomed(dags, emu, ids[: dims.doomed_reports], result)
            emu.faults.clear()
            api_calls = emu.api_requests()
            faulted = [r for r in api_calls if r.fault]
            by_kind: dict[str, int] = {}
            for record in faulted:
                by_kind[record.fault or ""] = by_kind.get(record.fault or "", 0) + 1
            untyped = [t for t in dags.FAILED_TRIES if "PartnerCenterInsightsError" not in t["mro"]]
            for failed in untyped:
                what = f"task {failed['task_id']} try {failed['try_number']} failed with {failed['type']}"
                result.problem(f"{what}, not a PartnerCenterInsightsError: {failed['message'][:200]!r}")
            failed_tries = len(dags.FAILED_TRIES)
            retries = http_retries.count
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    actions = dims.phases * dims.reports
    faults = ", ".join(f"{count} {kind}" for kind, count in sorted(by_kind.items()))
    result.tried = (
        f"{actions:,} pause and resume actions over {dims.reports} reports in {dims.phases} DAG runs "
        f"({dims.lists} list tasks of about {dims.per_list} reports and {dims.singles} single-report "
        f"tasks each, task retries {TASK_RETRIES}), with {RATE:.0%} of {len(api_calls):,} API calls "
        f"failing: {faults}; then every call failing, for {dims.doomed_reports} more actions"
    )
    result.counts = Counts(
        actions=actions + dims.doomed_reports,
        faults_injected=len(faulted),
        retries=retries + phases["task_retries"],
        final_states_correct=phases["correct"],
        final_states_total=actions,
        requests_sent=len(api_calls),
    )
    typed = failed_tries - len(untyped)
    result.notes += [
        f"Retries: {retries:,} retries of a call by the hook (urllib3), and {phases['task_retries']} "
        f"retries of a task by Airflow; {failed_tries} failed tries in all, {typed} of them a typed "
        "PartnerCenterInsightsError. Requests sent: API calls the emulator answered or faulted.",
        f"Every call failing: {doomed['failed']} of {doomed['tasks']} tasks failed, each with one message "
        f"naming each of its reports ({doomed['clear']} did), the longest after {doomed['longest']:.1f} s "
        f"of its bound of {doomed['bound']:.0f} s (retries {DOOMED_HOOK_PARAMS['retries']}, timeout "
        f"{TIMEOUT:g} s, {MAX_CONCURRENCY} reports at a time).",
        "After every pause phase, each pause task's paused_report_ids (what a restore gives back) was "
        "checked to be exactly the reports it was given, whatever its tries did.",
    ]
    if doomed["example"]:
        result.details = ["One such message:", "", "```text", *doomed["example"].splitlines()[:12], "```"]
    result.extra = {"phases": phases, "doomed": doomed, "by_kind": by_kind}
    result.seconds = clock.seconds
    return result


def _phases(dags: Any, emu: Any, ids: list[str], dims: Size, result: ScenarioResult) -> dict[str, int]:
    shuffle = random.Random(7)
    correct = task_retries = 0
    for phase in range(dims.phases):
        pausing = phase % 2 == 0
        target = "Paused" if pausing else "Active"
        order = list(ids)
        shuffle.shuffle(order)
        lists, singles = _split(order, dims)
        dag = dags.pause if pausing else dags.resume
        dag_run = dag.test(run_conf={"lists": lists, "singles": singles})
        instances = _task_instances(dag_run)
        for ti in instances:
            task_retries += max(0, (ti.try_number or 1) - 1)
            if str(getattr(ti.state, "value", ti.state)) != "success":
                result.problem(f"phase {phase + 1} ({target}): task {ti.task_id} ended {ti.state}")
        wrong = {rid: emu.report("mpn", rid)["ReportStatus"] for rid in ids}
        wrong = {rid: status for rid, status in wrong.items() if status != target}
        correct += len(ids) - len(wrong)
        if wrong:
            result.problem(
                f"phase {phase + 1}: {len(wrong)} report(s) not {target}: {sorted(wrong.items())[:5]}"
            )
        _check_paused_ids(dag_run, lists, singles, pausing, result, phase)
    return {"correct": correct, "task_retries": task_retries}


def _check_paused_ids(
    dag_run: Any,
    lists: list[list[str]],
    singles: list[str],
    pausing: bool,
    result: ScenarioResult,
    phase: int,
) -> None:
    """Each pause task's ``paused_report_ids`` (the restore's input) must be exactly the reports it moved
    from Active to Paused: all it was given, whatever its tries did."""
    from airflow_provider_pcinsights.operators.report import PAUSED_REPORT_IDS as key

    if not pausing:
        return
    given = {f"list_{i}": ids for i, ids in enumerate(lists)} | {
        f"single_{i}": [rid] for i, rid in enumerate(singles)
    }
    for ti in _task_instances(dag_run):
        pushed = ti.xcom_pull(task_ids=ti.task_id, key=key)
        if sorted(pushed or []) != sorted(given[ti.task_id]):
            result.problem(
                f"phase {phase + 1}: {ti.task_id} pushed paused_report_ids {pushed}, not {given[ti.task_id]}"
            )


def _doomed(dags: Any, emu: Any, ids: list[str], result: ScenarioResult) -> dict[str, Any]:
    """Every call fails: each task fails within its bound, with one message naming each of its reports."""
    lists, singles = [ids[: len(ids) - len(ids) // 2]], ids[len(ids) - len(ids) // 2 :]
    before = len(dags.FAILED_TRIES)
    dag_run = dags.doomed.test(run_conf={"lists": lists, "singles": singles})
    failures = {t["task_id"]: t for t in dags.FAILED_TRIES[before:]}
    given = {"list_0": lists[0]} | {f"single_{i}": [rid] for i, rid in enumerate(singles)}
    summary: dict[str, Any] = {
        "tasks": 0,
        "failed": 0,
        "clear": 0,
        "longest": 0.0,
        "bound": 0.0,
        "example": "",
    }
    for ti in _task_instances(dag_run):
        summary["tasks"] += 1
        state = str(getattr(ti.state, "value", ti.state))
        reports = given[ti.task_id]
        bound = _task_bound(len(reports), DOOMED_HOOK_PARAMS, MAX_CONCURRENCY)
        summary["bound"] = max(summary["bound"], bound)
        summary["longest"] = max(summary["longest"], ti.duration or 0.0)
        failure = failures.get(ti.task_id)
        if state != "failed" or failure is None:
            result.problem(f"every call failing: task {ti.task_id} ended {state}, not failed")
            continue
        summary["failed"] += 1
        message = failure["message"]
        if (ti.duration or 0.0) > bound:
            result.too_late(
                f"every call failing: {ti.task_id} took {ti.duration:.1f} s, past its bound of {bound:.0f} s"
            )
        if all(rid in message for rid in reports) and "Traceback" not in message:
            summary["clear"] += 1
        else:
            result.problem(
                f"every call failing: {ti.task_id}'s message does not name each report: {message[:300]!r}"
            )
        if ti.task_id == "list_0":
            summary["example"] = message
    return summary
