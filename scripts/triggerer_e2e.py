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

It starts everything itself and always stops it (also on Ctrl-C or SIGTERM),
prints a short verdict and exits non-zero on failure. Run it with the Python of
the Airflow line to check: ``.venv-af3/bin/python scripts/triggerer_e2e.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import requests

from airflow_provider_pcinsights.emulator import EmulatorProcess, EmulatorProcessError

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_VERSION = version("apache-airflow")
AIRFLOW_MAJOR = int(AIRFLOW_VERSION.split(".")[0])
HOME = REPO / ".airflow-e2e" / f"af{AIRFLOW_MAJOR}"
DAG_ID = "pcinsights_triggerer_e2e"
TASK_ID = "wait_until_active"
RUN_ID = "triggerer_e2e"
CONN_ID = "pcinsights_default"
IDS_VAR = "PCINSIGHTS_E2E_REPORT_IDS"
PROGRAM = "mpn"
REPORTS = 2
# The task reads each report once before deferring; the trigger reads it twice.
READS_BEFORE_ACTIVE = 2
EXPECTED_READS = 3

STARTUP_SECONDS = 60  # components up and the DAG parsed
RUN_SECONDS = 90  # from `airflow dags trigger` to the end of the run
STOP_SECONDS = 20  # SIGTERM, then SIGKILL

# Lines that mean the trigger (or the triggerer hosting it) went wrong.
ERROR_PATTERNS = re.compile(
    r"AsyncToSync|async event loop|Sync SDK methods|SynchronousOnlyOperation|Traceback"
    r"|\"level\":\s*\"(error|critical)\"|\[(error|critical)\s*\]| ERROR - | CRITICAL - ",
    re.IGNORECASE,
)

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
'''


class E2EFailed(Exception):
    """What went wrong, for the verdict line."""


class Interrupted(BaseException):
    """SIGTERM: unwind through the ``finally`` blocks that stop everything."""


def say(text: str = "") -> None:
    print(text, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Processes:
    """Everything this script started, each in a session of its own, so its whole tree can be stopped."""

    started: dict[str, subprocess.Popen[Any]] = field(default_factory=dict)
    emulator: EmulatorProcess | None = None

    def start(self, name: str, command: list[str], env: dict[str, str], log: Path, **kwargs: Any) -> None:
        handle = log.open("w")
        try:
            self.started[name] = subprocess.Popen(
                command,
                env=env,
                stdout=kwargs.pop("stdout", handle),
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **kwargs,
            )
        finally:
            handle.close()

    def check_alive(self) -> None:
        running = dict(self.started)
        if self.emulator is not None and self.emulator.process is not None:
            running = {"emulator": self.emulator.process, **running}
        for name, process in running.items():
            if process.poll() is not None:
                raise E2EFailed(f"{name} exited early with code {process.returncode} (see {HOME / name}.log)")

    def stop_all(self) -> None:
        """SIGTERM each process group, give them STOP_SECONDS together, then SIGKILL what is left."""
        for process in self.started.values():
            self._signal(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        try:
            if self.emulator is not None:
                self.emulator.stop()  # SIGTERM, up to STOP_SECONDS (it takes well under one), SIGKILL
        finally:
            self._stop_started(deadline)

    def _stop_started(self, deadline: float) -> None:
        for process in self.started.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for process in self.started.values():
            # The group too: a leader that has exited may leave workers behind.
            self._signal(process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self.started.clear()

    @staticmethod
    def _signal(process: subprocess.Popen[Any], sig: signal.Signals) -> None:
        # Each was started with start_new_session, so its pid is its process group id.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)


def start_emulator(processes: Processes) -> EmulatorProcess:
    """Start the emulator (its output in emulator.log); ``processes`` stops it with the rest."""
    processes.emulator = EmulatorProcess(
        *("--port", "0", "--reports", str(REPORTS)),
        *("--state-dir", str(HOME / "emulator"), "--request-log", str(HOME / "emulator-requests.jsonl")),
        log_file=HOME / "emulator.log",
        start_timeout=30,
        stop_timeout=STOP_SECONDS,
        start_new_session=True,
    )
    try:
        return processes.emulator.start()
    except EmulatorProcessError as error:
        raise E2EFailed(str(error)) from None


def airflow_env(report_ids: list[str]) -> dict[str, str]:
    """A clean Airflow configuration: nothing inherited from the caller's AIRFLOW_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(HOME),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(HOME / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # Ports of our own, so two runs (or an Airflow already on this machine) do not collide.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            IDS_VAR: ",".join(report_ids),
            "PYTHONUNBUFFERED": "1",
            # Airflow 2's executors run tasks as a bare `airflow tasks run ...`: it must be this one.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        }
    )
    if AIRFLOW_MAJOR >= 3:
        api_port = free_port()
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "2",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(api_port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
                # Every component signs or checks the execution API's tokens: one secret for all.
                "AIRFLOW__API_AUTH__JWT_SECRET": "pcinsights-e2e-jwt-secret-for-a-throwaway-airflow",
                "AIRFLOW__API__SECRET_KEY": "pcinsights-e2e-secret-key",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                # Strict: without it the triggerer serves a synchronous SDK call (get_connection,
                # mask_secret's comms) made on its event loop through a greenback portal, so a
                # trigger that blocked the loop that way would still pass. With it, such a call
                # raises "Sync SDK methods ... cannot be called from a trigger's async def run()";
                # calls from worker threads (asyncio.to_thread) work either way.
                "AIRFLOW_DISABLE_GREENBACK_PORTAL": "true",
            }
        )
    else:
        env["AIRFLOW__CORE__EXECUTOR"] = "SequentialExecutor"
        env["AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL"] = "5"
    return env


def airflow(env: dict[str, str], *args: str, shown: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run an Airflow command; ``shown`` stands for the arguments in logs and messages."""
    log = HOME / "airflow-cli.log"
    shown = shown or " ".join(args)
    with log.open("a") as out:
        out.write(f"\n$ airflow {shown}\n")
        out.flush()
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
        )
    if result.returncode != 0:
        raise E2EFailed(f"airflow {shown} exited {result.returncode} (see {log})")
    return result


def query(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read Airflow's sqlite database (read-only; the components keep writing)."""
    database = HOME / "airflow.db"
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)) as db:
            return db.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # locked for a moment, or the table is not there yet
        return []


def wait_until(what: str, seconds: float, processes: Processes, check: Any) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        processes.check_alive()
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise E2EFailed(f"timed out after {seconds:.0f}s waiting for {what}")


def api_server_ready(env: dict[str, str]) -> bool:
    url = f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}/api/v2/monitor/health"
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def trigger_logs() -> list[Path]:
    folder = HOME / "logs" / f"dag_id={DAG_ID}" / f"run_id={RUN_ID}" / f"task_id={TASK_ID}"
    return sorted(folder.glob("*.log.trigger.*.log"))


def error_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [
        line.strip()[:300]
        for line in path.read_text(errors="replace").splitlines()
        if ERROR_PATTERNS.search(line)
    ]


def run(processes: Processes, timings: dict[str, float]) -> list[str]:
    """Everything up to the verdict; returns the problems found (empty: it worked)."""
    begin = time.monotonic()
    emulator = start_emulator(processes)
    connection = emulator.connection
    answer = emulator.admin_get("reports", program=PROGRAM)
    records = answer["reports"] if isinstance(answer, dict) else answer
    report_ids = [record["ReportId"] for record in records[:REPORTS]]
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
        DAG_FILE.format(dag_id=DAG_ID, task_id=TASK_ID, ids_var=IDS_VAR)
    )
    env = airflow_env(report_ids)
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

    components = ["scheduler", "triggerer"]
    if AIRFLOW_MAJOR >= 3:
        components += ["dag-processor", "api-server"]
    for name in components:
        processes.start(name, [sys.executable, "-m", "airflow", name], env, HOME / f"{name}.log")
    say(
        f"   started airflow {', '.join(components)} "
        f"(Airflow {AIRFLOW_VERSION}, {env['AIRFLOW__CORE__EXECUTOR']})"
    )

    wait_until(
        "the DAG to be parsed",
        STARTUP_SECONDS,
        processes,
        lambda: query("SELECT 1 FROM dag WHERE dag_id = ?", DAG_ID),
    )
    wait_until(
        "a running triggerer",
        STARTUP_SECONDS,
        processes,
        lambda: query("SELECT 1 FROM job WHERE job_type = 'TriggererJob' AND state = 'running'"),
    )
    if AIRFLOW_MAJOR >= 3:
        wait_until("the api-server", STARTUP_SECONDS, processes, lambda: api_server_ready(env))
    timings["components up"] = time.monotonic() - begin

    triggered = time.monotonic()
    airflow(env, "dags", "trigger", DAG_ID, "--run-id", RUN_ID)
    say(f"   triggered {DAG_ID} run {RUN_ID}")

    states: list[str] = []

    def run_ended() -> str | None:
        rows = query("SELECT state FROM task_instance WHERE dag_id = ? AND run_id = ?", DAG_ID, RUN_ID)
        if rows and (not states or states[-1] != rows[0][0]):
            states.append(rows[0][0])
        run_state = query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", DAG_ID, RUN_ID)
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
    processes = Processes()
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
                "without an event-loop error, and the task resumed and succeeded."
            )
            verdict = 0
    except E2EFailed as failure:
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
