"""Scenario 2: Airflow's own faults, under its real scheduler and triggerer (as ``scripts/triggerer_e2e.py``).

The emulator runs in a process of its own (with ``--state-file``), Airflow's
components in theirs (``airflow_components``), and three DAG runs each meet one
fault:

a. the worker process of a list pause is killed (SIGKILL) part-way: Airflow's task
   retry finishes the list, reporting the reports the killed try paused as
   unchanged, and the restore gives back exactly what was paused (a report paused
   before the run stays paused);
b. the triggerer is stopped and started again while deferrable sensors wait: each
   wait still ends with the right verdict (``Active``: success; ``Inactive``:
   failure), and every trigger polls again within one interval of the new
   triggerer running;
c. the emulator is restarted (its state kept) part-way through the pause of a DAG
   run: the run still succeeds and every report ends as it began.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_components import (
    AIRFLOW_MAJOR,
    AIRFLOW_VERSION,
    ComponentFailure,
    Processes,
    airflow,
    airflow_env,
    error_lines,
    free_port,
    migrate_database,
    query,
    restart_emulator,
    start_components,
    start_emulator,
    triggerer_running,
    wait_until,
)

from reliability_scenarios.airflow_faults_dags import DAG_IDS, write
from reliability_scenarios.harness import Stopwatch
from reliability_scenarios.outcome import Counts, ScenarioResult

REPO = Path(__file__).resolve().parents[2]
PROGRAM = "mpn"
RUN_SECONDS = 240  # from a trigger to the end of its run
UNCHANGED = "already Paused; nothing changed"


@dataclass(frozen=True)
class Size:
    kill_reports: int  # paused one at a time; the worker is killed after a third of them
    waits: int  # deferred sensors while the triggerer restarts (the last one's report turns Inactive)
    restart_reports: int  # paused one at a time; the emulator restarts after half of them
    latency: float  # seconds the emulator adds to each API call, so a pause is slow enough to interrupt
    poll_interval: float  # of the deferred sensors
    down: float  # seconds the triggerer stays stopped


SIZES = {
    "full": Size(kill_reports=30, waits=12, restart_reports=20, latency=0.15, poll_interval=3.0, down=6.0),
    "fast": Size(kill_reports=6, waits=3, restart_reports=4, latency=0.3, poll_interval=2.0, down=3.0),
}
# A poll may come this much later than one interval: the triggerer loads its triggers each heartbeat.
POLL_SLACK = 1.5


class Run:
    """One DAG run triggered with the CLI and watched in Airflow's database."""

    def __init__(self, env: dict[str, str], processes: Processes, key: str) -> None:
        self.env, self.processes, self.dag_id, self.run_id = (
            env,
            processes,
            DAG_IDS[key],
            f"reliability_{key}",
        )

    def trigger(self) -> Run:
        airflow(self.env, "dags", "trigger", self.dag_id, "--run-id", self.run_id)
        return self

    def tasks(self) -> dict[str, tuple[str | None, int, int | None]]:
        """task id -> (state, try number, pid)."""
        rows = query(
            self.processes.home,
            "SELECT task_id, state, try_number, pid FROM task_instance WHERE dag_id = ? AND run_id = ?",
            self.dag_id,
            self.run_id,
        )
        return {task: (state, tries or 0, pid) for task, state, tries, pid in rows}

    def state(self) -> str | None:
        rows = query(
            self.processes.home,
            "SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?",
            self.dag_id,
            self.run_id,
        )
        return rows[0][0] if rows else None

    def wait_end(self) -> str:
        def ended() -> str | None:
            state = self.state()
            return state if state in ("success", "failed") else None

        return wait_until(f"run {self.run_id} to end", RUN_SECONDS, self.processes, ended)

    def logs(self, task_id: str) -> list[Path]:
        """The task's log files, one per try, in order."""
        home = self.processes.home
        folder = home / "logs" / f"dag_id={self.dag_id}" / f"run_id={self.run_id}" / f"task_id={task_id}"
        return sorted(folder.glob("attempt=*.log"))

    def log_text(self, task_id: str, attempt: int | None = None) -> str:
        """What the task logged: one try, or all of them."""
        paths = [p for p in self.logs(task_id) if attempt is None or p.name == f"attempt={attempt}.log"]
        return "\n".join(path.read_text(errors="replace") for path in paths)


class RequestLog:
    """The emulator's request log (JSON lines), read as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        lines = self.path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def applied(self, action: str, ids: list[str]) -> set[str]:
        """The reports among ``ids`` that a ``pause`` or ``resume`` call was answered for."""
        return {r["report_id"] for r in self.puts(action, ids) if r.get("status") == 200}

    def wait_applied(self, processes: Processes, action: str, ids: list[str], count: int) -> set[str]:
        """Wait until ``count`` of ``ids`` were answered ``action``; those reports."""
        wait_until(
            f"{count} {action}s of {len(ids)} reports",
            RUN_SECONDS,
            processes,
            lambda: len(self.applied(action, ids)) >= count,
        )
        return self.applied(action, ids)

    def puts(self, action: str, ids: list[str]) -> list[dict[str, Any]]:
        wanted = set(ids)
        return [
            r
            for r in self.records()
            if r.get("method") == "PUT"
            and f"/{action}/" in r.get("path", "")
            and r.get("report_id") in wanted
        ]

    def reads(self, report_id: str) -> list[float]:
        """When each answered read of the report happened (wall time): a read of that one report, or of the
        program's listing, which answers every report (sensors and triggers read through batched reads, and
        the triggerer's waits on one connection share each listing read)."""
        return [
            r["wall_time"]
            for r in self.records()
            if r.get("method") == "GET"
            and r.get("kind") == "api"
            and r.get("status") == 200
            and (r.get("report_id") == report_id or _is_listing(r))
        ]


def _is_listing(record: dict[str, Any]) -> bool:
    return record.get("report_id") is None and record.get("path", "").rstrip("/").endswith("/ScheduledReport")


def _status(processes: Processes, ids: list[str]) -> dict[str, str]:
    assert processes.emulator is not None
    records = processes.emulator.admin_get("reports", program=PROGRAM)
    return {r["ReportId"]: r["ReportStatus"] for r in records if r["ReportId"] in set(ids)}


def _set(processes: Processes, report_id: str, status: str) -> None:
    assert processes.emulator is not None
    processes.emulator.admin_post(
        "report-status", {"program": PROGRAM, "report_id": report_id, "status": status}
    )


def _ours(pid: int, processes: Processes) -> bool:
    """Whether ``pid`` runs in the session of a component this scenario started (never kill anything else)."""
    try:
        return os.getsid(pid) in {process.pid for process in processes.started.values()}
    except ProcessLookupError:
        return False


# ---------------------------------------------------------------------------------- a. kill the worker


def _kill_part(
    env: dict[str, str], processes: Processes, log: RequestLog, ids: list[str], size: Size
) -> dict[str, Any]:
    pre_paused, pausing = ids[0], ids[1:]
    for report_id in ids:
        _set(processes, report_id, "Active")
    _set(processes, pre_paused, "Paused")  # paused on purpose before the run: the restore must leave it
    processes.emulator.admin_post("faults", {"latency": size.latency})
    run = Run(env, processes, "kill").trigger()
    log.wait_applied(processes, "pause", pausing, max(1, len(pausing) // 3))
    state, _, pid = run.tasks().get("pause", (None, 0, None))
    killed = bool(pid and _ours(pid, processes))
    if killed:
        os.kill(pid, signal.SIGKILL)
    killed_at = time.time()
    paused_before = {r["report_id"] for r in log.puts("pause", pausing) if r["wall_time"] <= killed_at}
    run_state = run.wait_end()
    processes.emulator.admin_post("faults", {"clear": True})
    tasks = run.tasks()
    retry_log = run.log_text("pause", attempt=2)
    unchanged = sum(
        1
        for line in retry_log.splitlines()
        if UNCHANGED in line and any(report_id in line for report_id in paused_before)
    )
    final = _status(processes, ids)
    expected = {report_id: "Active" for report_id in pausing} | {pre_paused: "Paused"}
    return {
        "killed": killed,
        "pid": pid,
        "state_at_kill": state,
        "paused_before_kill": len(paused_before),
        "run_state": run_state,
        "pause_tries": tasks.get("pause", (None, 0, None))[1],
        "pause_state": tasks.get("pause", (None, 0, None))[0],
        "unchanged_reported": unchanged,
        "correct": sum(final.get(rid) == status for rid, status in expected.items()),
        "total": len(expected),
        "wrong": {rid: final.get(rid) for rid, status in expected.items() if final.get(rid) != status},
        "actions": len(pausing) + len(ids),
    }


# ---------------------------------------------------------------------------------- b. restart the triggerer


def _triggerer_part(
    env: dict[str, str], processes: Processes, log: RequestLog, ids: list[str], size: Size
) -> dict[str, Any]:
    for report_id in ids:
        _set(processes, report_id, "Paused")
    verdicts = {report_id: "success" for report_id in ids[:-1]} | {ids[-1]: "failed"}
    run = Run(env, processes, "triggerer").trigger()
    # Every sensor deferred, and every trigger polled at least once (a read after the sensor's own).
    wait_until(
        "every sensor to defer and its trigger to poll",
        RUN_SECONDS,
        processes,
        lambda: (
            all(len(log.reads(report_id)) >= 2 for report_id in ids)
            and all(state == "deferred" for state, _, _ in run.tasks().values())
        ),
    )
    triggerer_log = processes.home / "triggerer.log"
    processes.stop("triggerer")
    stopped_at = time.time()
    time.sleep(size.down)
    log_offset = triggerer_log.stat().st_size if triggerer_log.exists() else 0
    processes.start_airflow("triggerer", env)
    wait_until(
        "the new triggerer", 120, processes, lambda: triggerer_running(processes.home, since=stopped_at + 0.5)
    )
    back_at = time.time()
    # Every trigger polls again; once each has, the reports reach their end statuses.
    wait_until(
        "every trigger to poll after the restart",
        RUN_SECONDS,
        processes,
        lambda: all(any(t > back_at for t in log.reads(report_id)) for report_id in ids),
    )
    for report_id, verdict in verdicts.items():
        _set(processes, report_id, "Active" if verdict == "success" else "Inactive")
    run_state = run.wait_end()
    tasks = run.tasks()
    first_polls, gaps = [], []
    for report_id in ids:
        after = [t for t in log.reads(report_id) if t > back_at]
        first_polls.append(after[0] - back_at)
        gaps += [later - earlier for earlier, later in itertools.pairwise(after)]
    new_errors = []
    if triggerer_log.exists():
        with triggerer_log.open(errors="replace") as handle:
            handle.seek(log_offset)
            tail = handle.read()
        new_errors = [
            line
            for line in tail.splitlines()
            if line in set(error_lines(triggerer_log)) or "Traceback" in line
        ]
    right = sum(
        1
        for index, report_id in enumerate(ids)
        if str(tasks.get(f"wait_{index}", (None,))[0]) == verdicts[report_id]
    )
    return {
        "run_state": run_state,
        "right_verdicts": right,
        "waits": len(ids),
        "down_seconds": back_at - stopped_at,
        "longest_first_poll": max(first_polls) if first_polls else None,
        "longest_gap": max(gaps) if gaps else 0.0,
        "errors": new_errors[:5],
        "states": {task: state for task, (state, _, _) in tasks.items()},
    }


# ---------------------------------------------------------------------------------- c. restart the emulator


def _emulator_part(
    env: dict[str, str], processes: Processes, log: RequestLog, ids: list[str], size: Size
) -> dict[str, Any]:
    for report_id in ids:
        _set(processes, report_id, "Active")
    processes.emulator.admin_post("faults", {"latency": size.latency})
    run = Run(env, processes, "emulator").trigger()
    paused_before = log.wait_applied(processes, "pause", ids, max(1, len(ids) // 2))
    started = time.monotonic()
    restart_emulator(processes, down=size.down)
    restart_seconds = time.monotonic() - started
    kept = _status(processes, list(paused_before))
    run_state = run.wait_end()
    tasks = run.tasks()
    final = _status(processes, ids)
    retried = sum(line.count("Retrying (") for line in run.log_text("pause").splitlines())
    return {
        "run_state": run_state,
        "restart_seconds": restart_seconds,
        "kept": sum(status == "Paused" for status in kept.values()),
        "paused_before": len(paused_before),
        "correct": sum(final.get(rid) == "Active" for rid in ids),
        "total": len(ids),
        "http_retries": retried,
        "pause_tries": tasks.get("pause", (None, 0, None))[1],
        "states": {task: state for task, (state, _, _) in tasks.items()},
    }


# ---------------------------------------------------------------------------------- the scenario


def run(size: str = "full") -> ScenarioResult:
    clock = Stopwatch()
    dims = SIZES[size]
    result = ScenarioResult(number=2, title="Airflow's own faults, with real components", size=size)
    home = REPO / ".airflow-reliability" / f"scenario-2-af{AIRFLOW_MAJOR}"
    shutil.rmtree(home, ignore_errors=True)
    (home / "dags").mkdir(parents=True)
    processes = Processes(home)
    total = 1 + dims.kill_reports + dims.waits + dims.restart_reports
    parts: dict[str, dict[str, Any]] = {}
    try:
        emulator = start_emulator(
            processes,
            *("--port", str(free_port()), "--reports", str(total)),
            *("--state-file", str(home / "emulator-state.pickle")),
        )
        ids = [r["ReportId"] for r in emulator.admin_get("reports", program=PROGRAM)]
        groups = {
            "kill": ids[: 1 + dims.kill_reports],
            "wait": ids[1 + dims.kill_reports : 1 + dims.kill_reports + dims.waits],
            "restart": ids[1 + dims.kill_reports + dims.waits : total],
        }
        write(home / "dags", groups, dims.poll_interval)
        env = airflow_env(home, AIRFLOW_CONN_PCINSIGHTS_DEFAULT=json.dumps(emulator.connection))
        _database_from_template(home, env)
        start_components(processes, env, list(DAG_IDS.values()))
        log = RequestLog(home / "emulator-requests.jsonl")
        parts["kill"] = _kill_part(env, processes, log, groups["kill"], dims)
        parts["triggerer"] = _triggerer_part(env, processes, log, groups["wait"], dims)
        parts["emulator"] = _emulator_part(env, processes, log, groups["restart"], dims)
        faulted = sum(1 for record in log.records() if record.get("fault"))
    except ComponentFailure as failure:
        result.problem(f"the run could not finish: {failure}")
        faulted = 0
    finally:
        processes.stop_all()
    _judge(result, parts, dims)
    kill, trig, emu = parts.get("kill", {}), parts.get("triggerer", {}), parts.get("emulator", {})
    executor = "LocalExecutor" if AIRFLOW_MAJOR >= 3 else "SequentialExecutor"
    result.tried = (
        f"Airflow {AIRFLOW_VERSION}'s scheduler ({executor}) and triggerer on sqlite: (a) the worker of a "
        f"pause of {dims.kill_reports} reports (and one paused before the run) SIGKILLed after "
        f"{kill.get('paused_before_kill', '?')} pauses; (b) the triggerer stopped for "
        f"{trig.get('down_seconds', 0):.0f} s while {dims.waits} deferrable sensors waited (poll interval "
        f"{dims.poll_interval:g} s); (c) the emulator restarted, state kept, after "
        f"{emu.get('paused_before', '?')} of {dims.restart_reports} pauses"
    )
    result.counts = Counts(
        actions=kill.get("actions", 0) + 2 * dims.restart_reports + dims.waits,
        faults_injected=3 + faulted,
        retries=(max(0, kill.get("pause_tries", 1) - 1) + emu.get("http_retries", 0)),
        final_states_correct=kill.get("correct", 0) + trig.get("right_verdicts", 0) + emu.get("correct", 0),
        final_states_total=(1 + dims.kill_reports) + dims.waits + dims.restart_reports,
    )
    result.notes += _notes(parts, dims)
    result.extra = parts
    result.seconds = clock.seconds
    return result


def _database_from_template(home: Path, env: dict[str, str]) -> None:
    """A migrated database, copied from one migrated once per Airflow version (a migration takes ~15 s)."""
    template = REPO / ".airflow-reliability" / f"template-af{AIRFLOW_VERSION}"
    migrate_database(
        template,
        {
            **env,
            "AIRFLOW_HOME": str(template),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{template / 'airflow.db'}",
        },
    )
    shutil.copy(template / "airflow.db", home / "airflow.db")


def _judge(result: ScenarioResult, parts: dict[str, dict[str, Any]], dims: Size) -> None:
    kill = parts.get("kill")
    if kill:
        if not kill["killed"]:
            result.problem(f"(a) the pause's worker could not be found to kill (pid {kill['pid']})")
        if kill["run_state"] != "success":
            result.problem(f"(a) the run ended {kill['run_state']}")
        if kill["pause_tries"] < 2:
            result.problem(
                f"(a) the pause ran {kill['pause_tries']} time(s): Airflow did not retry the killed try"
            )
        if kill["unchanged_reported"] < kill["paused_before_kill"]:
            said = f"{kill['unchanged_reported']} of the {kill['paused_before_kill']}"
            result.problem(f"(a) the retry reported {said} reports the killed try paused as unchanged")
        if kill["wrong"]:
            result.problem(f"(a) the restore did not give back exactly what was paused: {kill['wrong']}")
    trig = parts.get("triggerer")
    if trig:
        if trig["right_verdicts"] != trig["waits"]:
            result.problem(
                f"(b) {trig['waits'] - trig['right_verdicts']} wait(s) ended wrong: {trig['states']}"
            )
        bound = dims.poll_interval + POLL_SLACK
        if trig["longest_first_poll"] is None or trig["longest_first_poll"] > bound:
            late = trig["longest_first_poll"]
            result.too_late(
                f"(b) a trigger first polled {late} s after the triggerer was back (bound {bound:g} s)"
            )
        if trig["longest_gap"] > bound:
            result.too_late(
                f"(b) polls {trig['longest_gap']:.1f} s apart after the restart (bound {bound:g} s)"
            )
        if trig["errors"]:
            result.problem(f"(b) the new triggerer logged errors: {trig['errors']}")
    emu = parts.get("emulator")
    if emu:
        if emu["run_state"] != "success":
            result.problem(f"(c) the run ended {emu['run_state']}: {emu['states']}")
        if emu["kept"] != emu["paused_before"]:
            result.problem(f"(c) {emu['paused_before'] - emu['kept']} pause(s) were lost with the restart")
        if emu["correct"] != emu["total"]:
            result.problem(f"(c) {emu['total'] - emu['correct']} report(s) did not end Active")


def _notes(parts: dict[str, dict[str, Any]], dims: Size) -> list[str]:
    notes = [
        'The restore is ResumeReportOperator(paused_by="pause"), the pause\'s teardown: it resumes exactly '
        "what the pause (all its tries) paused."
    ]
    kill, trig, emu = parts.get("kill"), parts.get("triggerer"), parts.get("emulator")
    if kill:
        notes.append(
            f"(a) Killed the pause's task process (pid {kill['pid']}, state {kill['state_at_kill']}) after "
            f"{kill['paused_before_kill']} pauses; the pause ran {kill['pause_tries']} tries, the retry "
            f"reported {kill['unchanged_reported']} reports unchanged; the run ended {kill['run_state']}; "
            f"{kill['correct']} of {kill['total']} reports ended as they began."
        )
    if trig:
        notes.append(
            f"(b) {trig['right_verdicts']} of {trig['waits']} waits ended with the right verdict; the "
            f"triggerer was away {trig['down_seconds']:.1f} s; once back, every trigger polled within "
            f"{trig['longest_first_poll']:.1f} s and no two polls were more than "
            f"{trig['longest_gap']:.1f} s apart (poll interval {dims.poll_interval:g} s)."
        )
    if emu:
        notes.append(
            f"(c) The emulator was away {emu['restart_seconds']:.1f} s (stopped, down, started again), and "
            f"came back with the {emu['kept']} pauses made before; the pause's calls were retried "
            f"{emu['http_retries']} times; the run ended {emu['run_state']}; {emu['correct']} of "
            f"{emu['total']} reports ended Active."
        )
    notes.append(
        "Faults injected: the kill, the triggerer stop, the emulator restart, and the calls the emulator "
        "faulted. Final states correct: reports that ended as they began ((a), (c)) and waits with the "
        "right verdict ((b))."
    )
    return notes
