"""End-to-end check: a deferrable ``ReportStatusSensor`` waits in Airflow's real triggerer.

``dag.test()`` and the trigger tests run ``ReportStatusTrigger`` in the test's own
process. This script runs it the way a deployment does: the emulator in its own
process, then Airflow's own components against a throwaway sqlite database in
``.airflow-e2e/af<major>/``:

- Airflow 3: ``scheduler`` (LocalExecutor), ``dag-processor``, ``triggerer`` and
  ``api-server`` (the task runner and the triggerer's supervisor talk to it);
- Airflow 2.11: ``scheduler`` (SequentialExecutor, the only one sqlite allows; a
  deferred task gives its slot back, so one slot is enough) and ``triggerer``.

The connection lives in Airflow's database (``airflow connections add``), so the
triggerer looks it up through its supervisor as in a deployment; on Airflow 3
the triggerer runs with ``AIRFLOW_DISABLE_GREENBACK_PORTAL=true``, so a
synchronous SDK call on its event loop (``BaseHook.get_connection`` in
``run()``) fails instead of being quietly served (and blocking the loop).

A tiny DAG (written into that folder) holds one deferrable sensor on two reports.
They start ``Paused`` and the emulator turns them ``Active`` after their second
read: the sensor's own first look sees ``Paused`` and defers, the trigger's first
poll sees ``Paused``, its second ``Active``. The script triggers the DAG with the
CLI and watches Airflow's database until the run ends, then checks that

- the task went through ``deferred`` and the run succeeded;
- the triggerer ran our trigger (its log for the task holds the trigger's own
  "Still waiting" line and a ``success`` event);
- neither the triggerer nor the trigger logged an error (no AsyncToSync /
  event-loop refusal, no traceback);
- each report was read exactly as often as expected (one read by the task, two
  by the trigger: the task resumed without polling again);
- the client secret appears in no Airflow log.

Beside it, a second deferrable sensor waits on a third report that stays ``Paused``,
with a poll interval of an hour, a timeout of a few seconds and ``soft_fail``: the
trigger itself ends that wait at its deadline (Airflow's deferral timeout comes
minutes later), after one last read, with a ``timeout`` event that says how long it
waited; the task is skipped.

It starts everything itself and always stops it (also on Ctrl-C or SIGTERM),
prints a short verdict and exits non-zero on failure. Run it with the Python of
the Airflow line to check: ``.venv-af3/bin/python scripts/triggerer_e2e.py``.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import sys
import time
import traceback
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
    query,
    start_components,
    start_emulator,
    wait_until,
)

REPO = Path(__file__).resolve().parents[1]
HOME = REPO / ".airflow-e2e" / f"af{AIRFLOW_MAJOR}"
DAG_ID = "pcinsights_triggerer_e2e"
TASK_ID = "wait_until_active"
RUN_ID = "triggerer_e2e"
CONN_ID = "pcinsights_default"
IDS_VAR = "PCINSIGHTS_E2E_REPORT_IDS"
TIMEOUT_TASK_ID = "wait_past_its_deadline"
TIMEOUT_ID_VAR = "PCINSIGHTS_E2E_TIMEOUT_REPORT_ID"
TIMEOUT_SECONDS = 8
PROGRAM = "mpn"
REPORTS = 2  # waited for until Active; one more stays Paused for the wait that times out
# The task reads each report once before deferring; the trigger reads it twice.
READS_BEFORE_ACTIVE = 2
EXPECTED_READS = 3

RUN_SECONDS = 120  # from `airflow dags trigger` to the end of the run (two tasks: 70 s on Airflow 2.11)

DAG_FILE = '''\
"""Written by scripts/triggerer_e2e.py: one deferrable sensor, report ids from the environment."""

from __future__ import annotations

import os
from datetime import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

from airflow_provider_pcinsights.sensors.report import ReportStatusSensor

with DAG(dag_id="{dag_id}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    ReportStatusSensor(
        task_id="{task_id}",
        report_id=os.environ.get("{ids_var}", "").split(","),
        target_status="Active",
        deferrable=True,
        poll_interval=1,
        timeout=120,
    )
    ReportStatusSensor(
        task_id="{timeout_task_id}",
        report_id=os.environ.get("{timeout_id_var}", ""),
        target_status="Active",
        deferrable=True,
        poll_interval=3600,
        timeout={timeout_seconds},
        soft_fail=True,
    )
'''


class Interrupted(BaseException):
    """SIGTERM: unwind through the ``finally`` blocks that stop everything."""


def say(text: str = "") -> None:
    print(text, flush=True)


def trigger_logs(task_id: str = TASK_ID) -> list[Path]:
    folder = HOME / "logs" / f"dag_id={DAG_ID}" / f"run_id={RUN_ID}" / f"task_id={task_id}"
    return sorted(folder.glob("*.log.trigger.*.log"))


def run(processes: Processes, timings: dict[str, float]) -> list[str]:
    """Everything up to the verdict; returns the problems found (empty: it worked)."""
    begin = time.monotonic()
    emulator = start_emulator(processes, "--port", "0", "--reports", str(REPORTS + 1))
    connection = emulator.connection
    answer = emulator.admin_get("reports", program=PROGRAM)
    records = answer["reports"] if isinstance(answer, dict) else answer
    report_ids = [record["ReportId"] for record in records[:REPORTS]]
    stays_paused = records[REPORTS]["ReportId"]
    emulator.admin_post("report-status", {"program": PROGRAM, "report_id": stays_paused, "status": "Paused"})
    for report_id in report_ids:
        emulator.admin_post("report-status", {"program": PROGRAM, "report_id": report_id, "status": "Paused"})
        emulator.admin_post(
            "status-after-reads",
            {"program": PROGRAM, "report_id": report_id, "status": "Active", "reads": READS_BEFORE_ACTIVE},
        )
    say(
        f"   emulator at {emulator.url}; reports {', '.join(report_ids)} Paused, Active after "
        f"{READS_BEFORE_ACTIVE} reads"
    )

    (HOME / "dags").mkdir(exist_ok=True)
    (HOME / "dags" / "e2e_dag.py").write_text(
        DAG_FILE.format(
            dag_id=DAG_ID,
            task_id=TASK_ID,
            ids_var=IDS_VAR,
            timeout_task_id=TIMEOUT_TASK_ID,
            timeout_id_var=TIMEOUT_ID_VAR,
            timeout_seconds=TIMEOUT_SECONDS,
        )
    )
    env = airflow_env(HOME, **{IDS_VAR: ",".join(report_ids), TIMEOUT_ID_VAR: stays_paused})
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

    triggered = time.monotonic()
    airflow(env, "dags", "trigger", DAG_ID, "--run-id", RUN_ID)
    say(f"   triggered {DAG_ID} run {RUN_ID}")

    states: list[str] = []

    def run_ended() -> str | None:
        rows = query(
            HOME,
            "SELECT state FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = ?",
            DAG_ID,
            RUN_ID,
            TASK_ID,
        )
        if rows and (not states or states[-1] != rows[0][0]):
            states.append(rows[0][0])
        run_state = query(HOME, "SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", DAG_ID, RUN_ID)
        if run_state and run_state[0][0] in ("success", "failed"):
            return run_state[0][0]
        return None

    run_state = wait_until(f"run {RUN_ID} to end", RUN_SECONDS, processes, run_ended)
    run_ended()  # the task's final state, if the run ended between two looks
    timings["run"] = time.monotonic() - triggered
    say(
        f"   run {run_state} after {timings['run']:.0f}s; "
        f"task states seen: {' -> '.join(str(s) for s in states)}"
    )

    # Logs are read before anything is stopped: shutdown noise is not the trigger's.
    problems: list[str] = []
    if run_state != "success":
        problems.append(f"the run ended {run_state}")
    if not states or states[-1] != "success":
        problems.append(f"the task ended {states[-1] if states else 'without running'}")
    if "deferred" not in states:
        problems.append("the task was never seen deferred")

    logs = trigger_logs()
    trigger_text = "\n".join(path.read_text(errors="replace") for path in logs)
    if not logs:
        problems.append("the triggerer wrote no log for the task: the trigger did not run there")
    else:
        say(f"   trigger log: {logs[0].relative_to(REPO)}")
        fired = [line for line in trigger_text.splitlines() if re.search(r"fired", line, re.IGNORECASE)]
        for line in fired[:3]:
            say(f"   trigger event: {line.strip()[:240]}")
        if "Still waiting for" not in trigger_text:
            problems.append("the trigger log lacks the trigger's own 'Still waiting' line")
        if not re.search(r"fired.*'status': 'success'", trigger_text):
            problems.append("the trigger log shows no success event")
    blocked = [line for line in trigger_text.splitlines() if "async thread was blocked" in line]
    blocked += [
        line
        for line in (HOME / "triggerer.log").read_text(errors="replace").splitlines()
        if "async thread was blocked" in line
    ]
    if blocked:  # reported, not failed: on a busy 2-core machine the watchdog also sees CPU contention
        say(
            f"   note: the triggerer watchdog saw its loop blocked {len(blocked)} time(s): {blocked[0][:200]}"
        )
    for path in [HOME / "triggerer.log", *logs]:
        found = error_lines(path)
        if found:
            problems.append(f"errors in {path.name}:\n      " + "\n      ".join(found[:10]))

    for report_id in report_ids:
        reads = emulator.admin_get("reads", program=PROGRAM, report_id=report_id)["reads"]
        if reads != EXPECTED_READS:
            problems.append(f"report {report_id} was read {reads} times, expected {EXPECTED_READS}")
    problems += timed_out_wait(emulator, stays_paused)
    pending = emulator.admin_get("state").get("scheduled_status_changes")
    if pending:
        problems.append(f"status changes never applied: {pending}")

    # mpn signs in as App+User: the client secret redeems the connection's refresh token.
    secrets = {
        "the client secret": connection.get("password") or "",
        "the refresh token": connection.get("extra", {}).get("refresh_token") or "",
    }
    for what, secret in secrets.items():
        leaks = [
            str(path.relative_to(HOME))
            for path in HOME.rglob("*.log")
            # The emulator's own log prints the connection, secrets included, by design.
            if path.name != "emulator.log" and secret and secret in path.read_text(errors="replace")
        ]
        if leaks:
            problems.append(f"{what} appears in {', '.join(leaks)}")
    return problems


def timed_out_wait(emulator: Any, report_id: str) -> list[str]:
    """The second sensor: its trigger ended the wait at the deadline, read last, said so; the task skipped."""
    problems: list[str] = []
    rows = query(
        HOME,
        "SELECT state FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = ?",
        DAG_ID,
        RUN_ID,
        TIMEOUT_TASK_ID,
    )
    state = rows[0][0] if rows else None
    if state != "skipped":
        problems.append(f"{TIMEOUT_TASK_ID} ended {state}, not skipped (soft_fail at its deadline)")
    text = "\n".join(path.read_text(errors="replace") for path in trigger_logs(TIMEOUT_TASK_ID))
    if not re.search(r"fired.*'status': 'timeout'", text):
        problems.append(f"the trigger log of {TIMEOUT_TASK_ID} shows no timeout event")
    elif (
        not re.search(r"Timed out after waiting \d+ seconds?\b", text) or f"{report_id} is Paused" not in text
    ):
        problems.append(
            f"the timeout event of {TIMEOUT_TASK_ID} does not say how long it waited and what it saw"
        )
    else:
        said = re.search(r"Timed out after waiting [^;]*;[^'\"]*", text)
        say(f"   {TIMEOUT_TASK_ID}: {state}; its trigger said: {said.group(0)[:220] if said else '?'}")
    # The task's look before deferring, then the trigger's reads: at least the one at the deadline.
    reads = emulator.admin_get("reads", program=PROGRAM, report_id=report_id)["reads"]
    if reads < 2:
        problems.append(f"report {report_id} was read {reads} times: the trigger made no last read")
    return problems


def main() -> int:
    def interrupted(signum: int, frame: Any) -> None:
        raise Interrupted(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir(parents=True)
    say(
        f"== Deferrable ReportStatusSensor in Airflow {AIRFLOW_VERSION}'s real triggerer "
        f"({HOME.relative_to(REPO)})"
    )
    processes = Processes(HOME)
    timings: dict[str, float] = {}
    started = time.monotonic()
    verdict = 1
    try:
        problems = run(processes, timings)
        if problems:
            say("\nFAILED:\n - " + "\n - ".join(problems))
        else:
            say(
                "\nOK: the sensor deferred, the triggerer ran ReportStatusTrigger to a success event "
                "without an event-loop error, and the task resumed and succeeded; the wait past its "
                "deadline was ended by its trigger after one last read, saying how long it waited, "
                "and skipped."
            )
            verdict = 0
    except ComponentFailure as failure:
        say(f"\nFAILED: {failure}")
        for name in ("triggerer", "scheduler"):
            found = error_lines(HOME / f"{name}.log")
            if found:
                say(f"   {name}.log errors:\n      " + "\n      ".join(found[-10:]))
    except Exception:
        say("\nFAILED: the check itself broke:\n" + traceback.format_exc())
    except (KeyboardInterrupt, Interrupted) as stop:
        say(f"\nINTERRUPTED ({str(stop) or 'Ctrl-C'})")
        verdict = 130
    finally:
        # A second Ctrl-C or SIGTERM must not cut the clean-up short (it is bounded anyway).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stopping = time.monotonic()
        processes.stop_all()
        timings["stop"] = time.monotonic() - stopping
        timings["total"] = time.monotonic() - started
        say("   timings: " + ", ".join(f"{name} {seconds:.0f}s" for name, seconds in timings.items()))
        say(f"   logs: {HOME.relative_to(REPO)}/")
    return verdict


if __name__ == "__main__":
    sys.exit(main())
