"""End-to-end check: a DAG scheduled on a report's exports, under Airflow 3's real triggerer.

``example_dags/example_download_each_export.py`` (an Asset whose ``AssetWatcher``
runs ``ReportExportEventTrigger``) is parsed by the dag-processor; the triggerer
runs the watcher; each export the emulator makes must start exactly one DAG run,
whose download task fetches exactly that export. Against the emulator (runs take
1 s pending and 1 s running) and Airflow's components on sqlite
(``scripts/airflow_components.py``), in ``.airflow-e2e/export-events/``:

1. the watcher starts: its cursor Variable appears (exports made before it, the
   seeded ones, must start nothing);
2. export 1 (the report paused and resumed, as a person or a restore would: its
   next run starts) -> one DAG run;
3. the triggerer is stopped; export 2 is made while it is down; the triggerer is
   started again -> one DAG run for export 2;
4. export 3 after the restart -> one DAG run;
5. some polls more: still three runs, one per export, each with the export's own
   execution id (in its asset event and its downloaded file), no download link in
   any asset event, no error in the triggerer's log, no secret in any log.

Airflow 3 only (event-driven scheduling). Run it with the Python of the line to
check: ``flock /tmp/pcinsights-heavy.lock .venv-af3/bin/python scripts/export_events_e2e.py``.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
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
    run_check,
    say,
    start_components,
    start_emulator,
    triggerer_running,
    wait_until,
)

REPO = Path(__file__).resolve().parents[1]
HOME = REPO / ".airflow-e2e" / "export-events"
DAG_ID = "example_download_each_export"
DAG_FILE = REPO / "example_dags" / "example_download_each_export.py"
CONN_ID = "pcinsights_default"
PROGRAM = "mpn"
EXPORTS = 3
RUN_SECONDS = 90  # from an export to the end of its DAG run
QUIET_SECONDS = 8  # polls after the last run, in which no further run may start


def completed(emulator: Any, report_id: str) -> list[str]:
    """The report's completed executions, oldest first (reading them moves its runs along)."""
    answer = emulator.admin_get("executions", program=PROGRAM, report_id=report_id)
    records = answer["executions"] if isinstance(answer, dict) else answer
    return [e["ExecutionId"] for e in records if e["ExecutionStatus"] == "Completed"]


def export(emulator: Any, report_id: str) -> str:
    """Make the report export once, as the service does after a resume; the new execution's id."""
    before = completed(emulator, report_id)
    emulator.admin_post("report-status", {"program": PROGRAM, "report_id": report_id, "status": "Paused"})
    time.sleep(1.05)  # times are to the second: the resume must change the record the watcher reads
    emulator.admin_post("report-status", {"program": PROGRAM, "report_id": report_id, "status": "Active"})
    emulator.admin_post("run-report", {"program": PROGRAM, "report_id": report_id})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new = [i for i in completed(emulator, report_id) if i not in before]
        if new:
            return new[0]
        time.sleep(0.5)
    raise ComponentFailure(f"the emulator did not complete a run of {report_id}")


def dag_runs() -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in query(HOME, "SELECT run_id, state FROM dag_run WHERE dag_id = ?", DAG_ID)]


def wait_for_runs(processes: Processes, count: int) -> None:
    def ended() -> bool:
        runs = dag_runs()
        return len(runs) >= count and all(state in ("success", "failed") for _, state in runs)

    wait_until(f"{count} ended DAG run(s) of {DAG_ID}", RUN_SECONDS, processes, ended)


def asset_event_payloads() -> list[dict[str, Any]]:
    rows = query(HOME, "SELECT extra FROM asset_event ORDER BY id")
    return [json.loads(r[0]).get("payload", {}) for r in rows if r[0]]


def run(processes: Processes, timings: dict[str, float]) -> list[str]:
    begin = time.monotonic()
    emulator = start_emulator(processes, "--port", "0", "--pending-seconds", "1", "--running-seconds", "1")
    connection = emulator.connection
    report_id = emulator.admin_get("reports", program=PROGRAM)
    report_id = (report_id["reports"] if isinstance(report_id, dict) else report_id)[0]["ReportId"]
    seeded = completed(emulator, report_id)
    say(f"   emulator at {emulator.url}; watching report {report_id} ({len(seeded)} exports made before)")

    (HOME / "dags").mkdir(exist_ok=True)
    shutil.copy(DAG_FILE, HOME / "dags" / DAG_FILE.name)
    env = airflow_env(
        HOME,
        PCINSIGHTS_REPORT_IDS=report_id,
        PCINSIGHTS_POLL_SECONDS="1",
        PCINSIGHTS_EXPORT_DIR=str(HOME / "exports"),
        # 3.0's api-server with the newest PyJWT answers 500 for a token without an issuer.
        AIRFLOW__API_AUTH__JWT_ISSUER="pcinsights-e2e",
    )
    airflow(env, "db", "migrate")
    airflow(
        env,
        *("connections", "add", CONN_ID, "--conn-json", json.dumps(connection)),
        shown=f"connections add {CONN_ID} --conn-json <the emulator's connection>",
    )
    names = start_components(processes, env, [DAG_ID])
    say(f"   started airflow {', '.join(names)} (Airflow {AIRFLOW_VERSION})")
    wait_until(
        "the watcher's cursor Variable",
        STARTUP_SECONDS_WATCHER,
        processes,
        lambda: query(HOME, "SELECT 1 FROM variable WHERE key LIKE 'pcinsights_export_cursor_%'"),
    )
    timings["up, watcher started"] = time.monotonic() - begin

    made: list[str] = []
    made.append(export(emulator, report_id))
    wait_for_runs(processes, 1)
    say(f"   export 1 ({made[-1]}): DAG runs {dag_runs()}")

    stopped = time.time()
    processes.stop("triggerer")
    made.append(export(emulator, report_id))
    say(f"   triggerer stopped; export 2 ({made[-1]}) made while it was down")
    processes.start_airflow("triggerer", env)
    wait_until("the triggerer back", 60, processes, lambda: triggerer_running(HOME, since=stopped))
    wait_for_runs(processes, 2)
    say(f"   triggerer started again: DAG runs {dag_runs()}")

    made.append(export(emulator, report_id))
    wait_for_runs(processes, 3)
    say(f"   export 3 ({made[-1]}): DAG runs {dag_runs()}")
    time.sleep(QUIET_SECONDS)
    timings["exports"] = time.monotonic() - begin - timings["up, watcher started"]

    problems: list[str] = []
    runs = dag_runs()
    if len(runs) != EXPORTS:
        problems.append(f"{len(runs)} DAG runs for {EXPORTS} exports: {runs}")
    failed = [run_id for run_id, state in runs if state != "success"]
    if failed:
        problems.append(f"runs that did not succeed: {failed}")
    payloads = asset_event_payloads()
    announced = [p.get("ExecutionId") for p in payloads]
    say(f"   asset events: {announced}")
    if announced != made:
        problems.append(f"asset events announced {announced}, the exports were {made}")
    leaked = [p for p in payloads if set(p) - {"ReportId", "ExecutionId", "ReportGeneratedTime"}]
    if leaked or "sig=" in json.dumps(payloads):
        problems.append(f"asset events carry more than the export's ids: {leaked}")
    files = sorted(p.name for p in (HOME / "exports").glob("*"))
    expected = sorted(f"{report_id}_{execution_id}.csv" for execution_id in made)
    if files != expected:
        problems.append(f"downloaded files {files}, expected {expected}")
    for path in [HOME / "triggerer.log", HOME / "scheduler.log"]:
        # Airflow 3.0 and 3.1 log a read of a Variable that does not exist as an error (the watcher's
        # first start reads its cursor before writing it), 3.0 the restart's SIGTERM: only those.
        found = [line for line in error_lines(path) if not _first_cursor_read(line)]
        if found:
            problems.append(f"errors in {path.name}:\n      " + "\n      ".join(found[:10]))
    secrets = [connection.get("password") or "", connection.get("extra", {}).get("refresh_token") or ""]
    for secret in filter(None, secrets):
        leaks = [
            str(p.relative_to(HOME))
            for p in HOME.rglob("*.log")
            if p.name != "emulator.log" and secret in p.read_text(errors="replace")
        ]
        if leaks:
            problems.append(f"a secret of the connection appears in {', '.join(leaks)}")
    return problems


STARTUP_SECONDS_WATCHER = 90


def _first_cursor_read(line: str) -> bool:
    """Error lines Airflow writes that are no fault: 3.0/3.1 reading a cursor not yet written, and
    3.0 noting the SIGTERM this check sends the triggerer to restart it."""
    return ("Variable not found" in line and "pcinsights_export_cursor_" in line) or (
        "Process terminated by signal" in line and "SIGTERM" in line
    )


def main() -> int:
    if AIRFLOW_MAJOR < 3:
        say(f"SKIPPED: event-driven scheduling needs Airflow 3 (this is {AIRFLOW_VERSION})")
        return 0
    timings: dict[str, float] = {}
    return run_check(
        HOME,
        f"A DAG scheduled on a report's exports, Airflow {AIRFLOW_VERSION}'s real triggerer",
        lambda processes: run(processes, timings),
        ok=f"{EXPORTS} exports, a triggerer restart between two of them: {EXPORTS} DAG runs, "
        "one per export, each downloading its own.",
        figures=timings,
        logs=("triggerer", "scheduler"),
    )


if __name__ == "__main__":
    sys.exit(main())
