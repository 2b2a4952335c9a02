"""End-to-end check: deferrable sensors wait in Airflow's real triggerer, across a triggerer restart.

``dag.test()`` and the trigger tests run the triggers in the test's own process.
This script runs them the way a deployment does: the emulator in its own process,
then Airflow's own components against a throwaway sqlite database in
``.airflow-e2e/af<version>/``:

- Airflow 3: ``scheduler`` (LocalExecutor), ``dag-processor``, ``triggerer`` and
  ``api-server`` (the task runner and the triggerer's supervisor talk to it);
- Airflow 2.11: ``scheduler`` (SequentialExecutor, the only one sqlite allows; a
  deferred task gives its slot back, so one slot is enough) and ``triggerer``.

Only a real triggerer hosts the triggers in its runner process, which talks to its
supervisor over one channel (connection look-ups, secret masking): on Airflow 3.0
and 3.1 a call on that channel from the wrong thread mixes up the replies and
kills the runner, and with it every deferred task of the deployment. The
connection lives in Airflow's database (``airflow connections add``), so the
triggerer looks it up through its supervisor as in a deployment; on Airflow 3 the
triggerer runs with ``AIRFLOW_DISABLE_GREENBACK_PORTAL=true``, so a synchronous SDK
call on its event loop fails instead of being quietly served (and blocking the loop).

A tiny DAG (written into that folder) holds a deferrable ``ReportStatusSensor`` on
two ``Paused`` reports and a deferrable ``ReportExecutionSensor`` on an ``Active``
report with no execution since the run started. The script triggers it and

1. waits until both tasks are ``deferred`` and both triggers have polled in the
   triggerer (each task's trigger log holds the trigger's own "Still waiting" line);
2. stops the triggerer (SIGTERM to the ``airflow triggerer`` process, as an
   operator or a process manager stops it) while the tasks stay deferred, starts a
   new one, and waits until it polls both triggers again;
3. only then makes the waits come true (the reports ``Active``, the third one run
   to a completed execution), and waits for the run to end.

Beside them, a third deferrable sensor waits on a fourth report that stays ``Paused``,
with a poll interval of an hour, a timeout of a few seconds and ``soft_fail``: the
trigger itself ends that wait at its deadline (Airflow's deferral timeout comes
minutes later), after one last read, with a ``timeout`` event that says how long it
waited; the task is skipped (wherever the restart falls).

It then checks that the run and both tasks succeeded, each through ``deferred``;
that the restarted triggerer ran each trigger to a ``success`` event; that no
Airflow log (components, tasks, triggers, CLI) holds a traceback, "Response read
out of order", "Trigger runner process has died" or the watchdog's "Triggerer's
async thread was blocked" (the same words on 2.11 to 3.3, whatever the time it
names), and that neither the
triggerer nor a trigger logged an error; and that no Airflow log holds the client
secret, the refresh token or a download link (Airflow logs every trigger event, and
on 3.0 a worker's messages, XCom included, at debug level).

It starts everything itself and always stops it (also on Ctrl-C or SIGTERM),
prints a short verdict and exits non-zero on failure. Run it with the Python of
the Airflow line to check: ``.venv-af3/bin/python scripts/triggerer_e2e.py``.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from airflow_components import (
    AIRFLOW_VERSION,
    Processes,
    airflow,
    airflow_env,
    error_lines,
    query,
    run_check,
    say,
    start_components,
    start_emulator,
    triggerer_running,
    wait_until,
)

REPO = Path(__file__).resolve().parents[1]
HOME = REPO / ".airflow-e2e" / f"af{AIRFLOW_VERSION}"
DAG_ID = "pcinsights_triggerer_e2e"
STATUS_TASK = "wait_until_active"
EXECUTION_TASK = "wait_for_an_export"
TASKS = (STATUS_TASK, EXECUTION_TASK)
TIMEOUT_TASK = "wait_past_its_deadline"
TIMEOUT_VAR = "PCINSIGHTS_E2E_TIMEOUT_ID"
TIMEOUT_SECONDS = 8
RUN_ID = "triggerer_e2e"
CONN_ID = "pcinsights_default"
STATUS_VAR = "PCINSIGHTS_E2E_STATUS_IDS"
EXECUTION_VAR = "PCINSIGHTS_E2E_EXECUTION_ID"
PROGRAM = "mpn"
REPORTS = 4  # two for the status sensor, one for the execution sensor, one that stays Paused

# Each phase is bounded on its own, generously for a loaded 2-core machine (Airflow 2.11 runs the two
# tasks one after the other, a fresh `airflow tasks run` each).
DEFER_SECONDS = 120  # from `airflow dags trigger` to both triggers polling in the triggerer
RESTART_SECONDS = 90  # from the stop to the new triggerer polling both triggers
END_SECONDS = 90  # from the waits coming true to the end of the run

# What no Airflow log may hold, whatever its level: the 3.0/3.1 runner crash, any traceback, and the
# watchdog that sees a trigger hold the event loop (its words are the same on 2.11 to 3.3).
FORBIDDEN = re.compile(
    r"Response read out of order|Trigger runner process has died|Traceback"
    r"|Triggerer's async thread was blocked"
)


def forbidden_lines(text: str) -> list[str]:
    """The lines no Airflow log may hold."""
    return [line.strip()[:300] for line in text.splitlines() if FORBIDDEN.search(line)]


DAG_FILE = '''\
"""Written by scripts/triggerer_e2e.py: two deferrable sensors, report ids from the environment."""

from __future__ import annotations

import os
from datetime import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

from airflow_provider_pcinsights.sensors.report import ReportExecutionSensor, ReportStatusSensor

with DAG(dag_id="{dag_id}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    ReportStatusSensor(
        task_id="{status_task}",
        report_id=os.environ.get("{status_var}", "").split(","),
        target_status="Active",
        deferrable=True,
        poll_interval=1,
        timeout=300,
    )
    ReportExecutionSensor(
        task_id="{execution_task}",
        report_id=os.environ.get("{execution_var}", ""),
        deferrable=True,
        poll_interval=1,
        timeout=300,
    )
    ReportStatusSensor(
        task_id="{timeout_task}",
        report_id=os.environ.get("{timeout_var}", ""),
        target_status="Active",
        deferrable=True,
        poll_interval=3600,
        timeout={timeout_seconds},
        soft_fail=True,
    )
'''


def trigger_logs(task_id: str) -> list[Path]:
    """The task's trigger logs, one per triggerer job that ran its trigger, oldest job first."""
    folder = HOME / "logs" / f"dag_id={DAG_ID}" / f"run_id={RUN_ID}" / f"task_id={task_id}"
    return sorted(folder.glob("*.log.trigger.*.log"), key=lambda path: int(path.name.split(".")[-2]))


def polled(task_id: str, triggerer_runs: int) -> bool:
    """The ``triggerer_runs``-th triggerer (1: the first) logged the task's trigger still waiting."""
    logs = trigger_logs(task_id)
    return len(logs) >= triggerer_runs and "Still waiting" in logs[-1].read_text(errors="replace")


def task_states() -> dict[str, str]:
    rows = query(
        HOME, "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?", DAG_ID, RUN_ID
    )
    return {task_id: str(state) for task_id, state in rows}


def run(processes: Processes, timings: dict[str, float]) -> list[str]:
    """Everything up to the verdict; returns the problems found (empty: it worked)."""
    begin = time.monotonic()
    # A run started now completes at once (no pending or running time): the export comes when asked for.
    emulator = start_emulator(
        processes,
        "--port",
        "0",
        "--reports",
        str(REPORTS),
        "--pending-seconds",
        "0",
        "--running-seconds",
        "0",
    )
    connection = emulator.connection
    answer = emulator.admin_get("reports", program=PROGRAM)
    records = answer["reports"] if isinstance(answer, dict) else answer
    report_ids = [record["ReportId"] for record in records[:REPORTS]]
    status_ids, execution_id, stays_paused = report_ids[:2], report_ids[2], report_ids[3]
    for report_id in [*status_ids, stays_paused]:
        emulator.admin_post("report-status", {"program": PROGRAM, "report_id": report_id, "status": "Paused"})
    emulator.admin_post("report-status", {"program": PROGRAM, "report_id": execution_id, "status": "Active"})
    say(f"   emulator at {emulator.url}; reports {', '.join(status_ids)} Paused, {execution_id} Active")

    (HOME / "dags").mkdir(exist_ok=True)
    (HOME / "dags" / "e2e_dag.py").write_text(
        DAG_FILE.format(
            dag_id=DAG_ID,
            status_task=STATUS_TASK,
            execution_task=EXECUTION_TASK,
            status_var=STATUS_VAR,
            execution_var=EXECUTION_VAR,
            timeout_task=TIMEOUT_TASK,
            timeout_var=TIMEOUT_VAR,
            timeout_seconds=TIMEOUT_SECONDS,
        )
    )
    env = airflow_env(
        HOME,
        **{STATUS_VAR: ",".join(status_ids), EXECUTION_VAR: execution_id, TIMEOUT_VAR: stays_paused},
    )
    airflow(env, "db", "migrate")
    # In Airflow's database, not an AIRFLOW_CONN_ variable: the environment is the first secrets
    # backend everywhere, so a variable would spare the triggerer the lookup through its
    # supervisor that a deployment's connection takes.
    airflow(
        env,
        *("connections", "add", CONN_ID, "--conn-json", json.dumps(connection)),
        shown=f"connections add {CONN_ID} --conn-json <the emulator's connection>",
    )
    timings["emulator + db migrate + connection"] = time.monotonic() - begin

    names = start_components(processes, env, [DAG_ID])
    executor = env["AIRFLOW__CORE__EXECUTOR"]
    say(f"   started airflow {', '.join(names)} (Airflow {AIRFLOW_VERSION}, {executor})")
    timings["components up"] = time.monotonic() - begin

    # 1. Both sensors look once, defer, and their triggers poll in the triggerer.
    phase = time.monotonic()
    airflow(env, "dags", "trigger", DAG_ID, "--run-id", RUN_ID)
    seen: dict[str, list[str]] = {task_id: [] for task_id in TASKS}

    def states() -> dict[str, str]:
        now = task_states()
        for task_id, state in now.items():
            if task_id in seen and (not seen[task_id] or seen[task_id][-1] != state):
                seen[task_id].append(state)
        return now

    wait_until(
        "both sensors to defer and their triggers to poll in the triggerer",
        DEFER_SECONDS,
        processes,
        lambda: all(states().get(t) == "deferred" and polled(t, 1) for t in TASKS),
    )
    timings["defer"] = time.monotonic() - phase
    say(f"   triggered {RUN_ID}: both sensors deferred, both triggers polled in the triggerer")

    # 2. The triggerer goes away while the tasks stay deferred; a new one picks them up.
    phase = time.monotonic()
    code = processes.stop("triggerer", leader_only=True)
    stopped_at = time.time()
    left = states()
    if any(left.get(t) != "deferred" for t in TASKS):
        return [f"with the triggerer stopped (exit {code}) the tasks are {left}, not all deferred"]
    processes.start_airflow("triggerer", env)
    wait_until(
        "the new triggerer",
        RESTART_SECONDS,
        processes,
        lambda: triggerer_running(HOME, since=stopped_at + 0.5),
    )
    wait_until(
        "the new triggerer to poll both triggers",
        RESTART_SECONDS,
        processes,
        lambda: all(polled(t, 2) for t in TASKS),
    )
    timings["triggerer restart"] = time.monotonic() - phase
    say(f"   triggerer stopped (exit {code}) and started again: it polls both triggers")

    # 3. The waits come true; the new triggerer's events resume the tasks.
    phase = time.monotonic()
    for report_id in status_ids:
        emulator.admin_post("report-status", {"program": PROGRAM, "report_id": report_id, "status": "Active"})
    emulator.admin_post("run-report", {"program": PROGRAM, "report_id": execution_id})

    def run_ended() -> str | None:
        states()
        found = query(HOME, "SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", DAG_ID, RUN_ID)
        return found[0][0] if found and found[0][0] in ("success", "failed") else None

    run_state = wait_until(f"run {RUN_ID} to end", END_SECONDS, processes, run_ended)
    states()  # the final states, if the run ended between two looks
    timings["resume"] = time.monotonic() - phase
    for task_id in TASKS:
        say(f"   {task_id}: {' -> '.join(seen[task_id])}")

    # Logs are read before anything is stopped: the final shutdown's noise is not the triggers'.
    problems: list[str] = []
    if run_state != "success":
        problems.append(f"the run ended {run_state}")
    for task_id in TASKS:
        if not seen[task_id] or seen[task_id][-1] != "success":
            problems.append(f"{task_id} ended {seen[task_id][-1] if seen[task_id] else 'without running'}")
        logs = trigger_logs(task_id)
        last = logs[-1].read_text(errors="replace") if logs else ""
        for line in [line for line in last.splitlines() if re.search(r"fired", line, re.IGNORECASE)][:1]:
            say(f"   {task_id} trigger event: {line.strip()[:200]}")
        if not re.search(r"fired.*'status': 'success'", last):
            problems.append(f"the restarted triggerer's log for {task_id} shows no success event")
    problems += timed_out_wait(emulator, stays_paused)
    problems += log_problems(
        {
            "the client secret": connection.get("password") or "",
            "the refresh token": connection.get("extra", {}).get("refresh_token") or "",
        },
        # A ReportAccessSecureLink: a signed URL on the file host (ReportLocation, unsigned, may appear).
        link=re.compile(re.escape(emulator.admin_get("state")["file_url"]) + r"[^\s'\"]*[?&]sig="),
    )
    return problems


def timed_out_wait(emulator: Any, report_id: str) -> list[str]:
    """The third sensor: its trigger ended the wait at the deadline, read last, said so; the task skipped."""
    problems: list[str] = []
    state = task_states().get(TIMEOUT_TASK)
    if state != "skipped":
        problems.append(f"{TIMEOUT_TASK} ended {state}, not skipped (soft_fail at its deadline)")
    text = "\n".join(path.read_text(errors="replace") for path in trigger_logs(TIMEOUT_TASK))
    if not re.search(r"fired.*'status': 'timeout'", text):
        problems.append(f"the trigger log of {TIMEOUT_TASK} shows no timeout event")
    elif (
        not re.search(r"Timed out after waiting \d+ seconds?\b", text) or f"{report_id} is Paused" not in text
    ):
        problems.append(
            f"the timeout event of {TIMEOUT_TASK} does not say how long it waited and what it saw"
        )
    else:
        said = re.search(r"Timed out after waiting [^;]*;[^'\"]*", text)
        say(f"   {TIMEOUT_TASK}: {state}; its trigger said: {said.group(0)[:220] if said else '?'}")
    # The task's look before deferring, then the trigger's reads: at least the one at the deadline.
    reads = emulator.admin_get("reads", program=PROGRAM, report_id=report_id)["reads"]
    if reads < 2:
        problems.append(f"report {report_id} was read {reads} times: the trigger made no last read")
    return problems


def airflow_logs() -> list[Path]:
    """Every log Airflow wrote: components, CLI, tasks, triggers, the dag-processor's (the emulator's
    own are not Airflow's; they print the connection, secrets included, by design)."""
    return sorted(path for path in HOME.rglob("*.log") if not path.name.startswith("emulator"))


def log_problems(secrets: dict[str, str], link: re.Pattern[str]) -> list[str]:
    problems = []
    for path in airflow_logs():
        text = path.read_text(errors="replace")
        name = str(path.relative_to(HOME))
        forbidden = forbidden_lines(text)
        if forbidden:
            problems.append(f"{name} holds:\n      " + "\n      ".join(forbidden[:10]))
        if path.name == "triggerer.log" or ".log.trigger." in path.name:
            errors = [line for line in error_lines(path) if line not in forbidden]
            if errors:
                problems.append(f"errors in {name}:\n      " + "\n      ".join(errors[:10]))
        leaked = [what for what, secret in secrets.items() if secret and secret in text]
        leaked += ["a download link"] if link.search(text) else []
        if leaked:
            problems.append(f"{name} holds {', '.join(leaked)}")
    return problems


def main() -> int:
    timings: dict[str, float] = {}
    return run_check(
        HOME,
        f"Deferrable status and execution sensors in Airflow {AIRFLOW_VERSION}'s real triggerer, "
        f"restarted mid-wait ({HOME.relative_to(REPO)})",
        lambda processes: run(processes, timings),
        ok="both sensors deferred, the triggerer was restarted mid-wait, the new one ran both "
        "triggers to success events, the wait past its deadline was ended by its trigger and "
        "skipped, and no Airflow log holds a crash, a traceback, a blocked loop, a secret or a link.",
        figures=timings,
        show_failure=show_failing_logs,
    )


def show_failing_logs() -> None:
    """The lines of each Airflow log that say what went wrong (the triggerer's always)."""
    for path in airflow_logs():
        found = [line.strip()[:300] for line in path.read_text(errors="replace").splitlines()]
        found = [line for line in found if FORBIDDEN.search(line) or line in error_lines(path)]
        if found and (path.name == "triggerer.log" or FORBIDDEN.search("\n".join(found))):
            say(f"   {path.relative_to(HOME)}:\n      " + "\n      ".join(found[-12:]))


if __name__ == "__main__":
    sys.exit(main())
