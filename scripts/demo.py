"""`make demo`: run the whole-loop example DAG with real Airflow against the local emulator.

It starts the emulator in its own process (one report paused by somebody before
the run; runs that take a few seconds), runs
``airflow dags test example_backfill_and_export`` in a throwaway AIRFLOW_HOME,
and tells from the emulator's request log and Airflow's own records what
happened: each report's status before the run, during the backfill and after
(the one paused before stays paused), and the export that was waited for and
downloaded (its path, size, rows, first lines; fetched without the token). It
exits non-zero when anything failed, so it doubles as an end-to-end check.

Then, on Airflow 3, the event-driven phase (``event_driven_phase``): a DAG scheduled on the
report's exports, under Airflow's real scheduler and triggerer, one run per export.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from emulator_extras import EmulatorProcess, EmulatorProcessError

REPO = Path(__file__).resolve().parents[1]
HOME = REPO / ".airflow-demo"
DAG_ID = "example_backfill_and_export"
TASKS = ("pause_reports", "backfill", "restore_reports", "wait_for_export", "download_export")
REPORTS = 3
BACKFILL_SECONDS = 3
# A resumed report's next run: Pending, then Running, then Completed (real seconds in the demo).
PENDING_SECONDS, RUNNING_SECONDS = 1, 2
EXPORT = HOME / "exports" / "report.csv"


class DemoFailed(Exception):
    """Something a person watching the demo should be told about, then exit 1."""


def say(text: str = "") -> None:
    print(text, flush=True)


def heading(text: str) -> None:
    say()
    say(f"== {text}")


def report_statuses(emulator: EmulatorProcess, program: str) -> dict[str, dict[str, Any]]:
    """Reports as the emulator holds them, by id."""
    answer = emulator.admin_get("reports", program=program)
    records = answer["reports"] if isinstance(answer, dict) else answer
    return {record["ReportId"]: record for record in records}


def run_airflow(env: dict[str, str], log_file: Path, *args: str) -> int:
    with log_file.open("a") as log:
        log.write(f"\n$ airflow {' '.join(args)}\n")
        log.flush()
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=env, stdout=log, stderr=subprocess.STDOUT
        ).returncode


def parse_time(value: Any) -> datetime | None:
    """Airflow's sqlite timestamps and the emulator's log times, as aware UTC datetimes."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def task_runs(database: Path) -> dict[str, dict[str, Any]]:
    """State, start and end of each task of the demo's run, from Airflow's database."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT task_id, state, start_date, end_date FROM task_instance WHERE dag_id = ?", (DAG_ID,)
        ).fetchall()
    return {
        task_id: {"state": state, "start": parse_time(start), "end": parse_time(end)}
        for task_id, state, start, end in rows
    }


def status_changes(log: list[dict[str, Any]], report_ids: list[str]) -> list[dict[str, Any]]:
    """Each pause or resume call on one of the demo's reports, in order, from the request log."""
    changes = []
    for entry in log:
        is_action = entry.get("kind") == "api" and entry.get("method") == "PUT"
        if is_action and entry.get("report_id") in report_ids:
            entry["time"] = parse_time(entry["wall_time"])
            changes.append(entry)
    return changes


def status_at(moment: datetime, before: str, changes: list[dict[str, Any]], report_id: str) -> str:
    status = before
    for entry in changes:
        if entry["report_id"] == report_id and entry["time"] <= moment and entry.get("report_status"):
            status = entry["report_status"]
    return status


def timeline(
    tasks: dict[str, dict[str, Any]],
    changes: list[dict[str, Any]],
    before: dict[str, dict[str, Any]],
    names: dict[str, str],
) -> list[tuple[datetime, str]]:
    """Airflow's task starts and ends, interleaved with what each call did to a report."""
    events: list[tuple[datetime, str]] = []
    for task_id, run in tasks.items():
        if run["start"]:
            events.append((run["start"], f"task {task_id} starts"))
        if run["end"]:
            events.append((run["end"], f"task {task_id} ends: {run['state']}"))
    current = {rid: record["ReportStatus"] for rid, record in before.items()}
    for entry in changes:
        rid = entry["report_id"]
        action = entry["path"].rstrip("/").split("/")[-2]
        new = entry.get("report_status") or current[rid]
        change = f"{names[rid]}: {current[rid]} -> {new}"
        events.append((entry["time"], f"    {action:<6} {change}  (HTTP {entry['status']})"))
        current[rid] = new
    return sorted(events, key=lambda event: event[0])


def main() -> int:
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir(parents=True)
    request_log = HOME / "emulator-requests.jsonl"
    airflow_log = HOME / "airflow.log"
    emulator = EmulatorProcess(
        *("--port", "0", "--reports", str(REPORTS)),
        *("--pending-seconds", str(PENDING_SECONDS), "--running-seconds", str(RUNNING_SECONDS)),
        *("--state-dir", str(HOME / "emulator"), "--request-log", str(request_log)),
        start_timeout=60,
    )
    try:
        emulator.start()
        return show(emulator, request_log, airflow_log) or show_overlapping_runs(emulator, request_log)
    except (DemoFailed, EmulatorProcessError) as failure:
        say(f"\nDEMO FAILED: {failure}")
        return 1
    finally:
        emulator.stop()


def show(emulator: EmulatorProcess, request_log: Path, airflow_log: Path) -> int:
    connection = emulator.connection
    extra = connection.get("extra", {})
    program = extra.get("program", "mpn")
    sign_in = "App+User" if extra.get("auth_type") == "refresh_token" else "app-only"
    heading(f"Partner Center Insights emulator at {emulator.url} (program {program}, {sign_in} sign-in)")

    report_ids = list(report_statuses(emulator, program))[:REPORTS]
    # Somebody paused one report on purpose before the run: the restore must leave it paused.
    emulator.admin_post("report-status", {"program": program, "report_id": report_ids[0], "status": "Paused"})
    exported = report_ids[1]  # the report whose next export the pipeline reads
    before = report_statuses(emulator, program)
    names = {rid: before[rid].get("ReportName", rid) for rid in report_ids}
    heading("Reports before the DAG run")
    width = max(len(n) for n in names.values())
    for rid in report_ids:
        note = "   <- its next export is downloaded" if rid == exported else ""
        say(f"   {names[rid]:<{width}}  {rid}  {before[rid]['ReportStatus']}{note}")

    exit_code, tasks = run_the_dag(emulator, report_ids, exported, airflow_log)
    log = [json.loads(line) for line in request_log.read_text().splitlines()]
    changes = status_changes(log, report_ids)
    heading("Timeline: Airflow's tasks, and each call's effect at the emulator")
    events = timeline(tasks, changes, before, names) + downloads(log, names)
    events.sort(key=lambda event: event[0])
    origin = events[0][0] if events else None
    for moment, text in events:
        say(f"   +{(moment - origin).total_seconds():5.1f}s  {text}")

    problems = show_statuses(emulator, program, report_ids, before, names, tasks, changes)
    problems += show_export(log, names[exported])
    failed_tasks = [t for t in TASKS if tasks.get(t, {}).get("state") != "success"]
    if exit_code != 0 or failed_tasks or problems:
        raise DemoFailed(
            "; ".join(
                [f"airflow dags test exited {exit_code}"] * (exit_code != 0)
                + [
                    f"task {t} ended {tasks.get(t, {}).get('state') or 'without running'}"
                    for t in failed_tasks
                ]
                + problems
            )
            + f" (see {airflow_log})"
        )
    say(
        "\nOK: the reports were paused during the backfill; the ones that were active are active again,"
        " the one paused before the run is still paused, and the next export is in "
        f"{EXPORT.relative_to(REPO)}, fetched without the token."
    )
    return 0


OVERLAP_DAG_ID = "example_pause_reports_for_backfill"
# The first run's backfill outlasts the second run's start-up (about 20 s of `airflow dags test` on
# 2 busy cores), its pause and its backfill: the second run's restore comes first and must leave the
# report Paused; the first run's, the last holder's, resumes it.
OVERLAP_BACKFILL_SECONDS = {"first": 40, "second": 2}


def show_overlapping_runs(emulator: EmulatorProcess, request_log: Path) -> int:
    """Two runs of the backfill example hold one report at once: only the last holder resumes it.

    ``airflow dags test`` ignores pools (a scheduler would run the pauses and restores one at a
    time in the pool ``pcinsights_holds``), so the second run is started once the first has paused.
    """
    program = emulator.connection.get("extra", {}).get("program", "mpn")
    shared = list(report_statuses(emulator, program))[REPORTS - 1]  # Active again after the first part
    emulator.admin_post("report-status", {"program": program, "report_id": shared, "status": "Active"})
    name = report_statuses(emulator, program)[shared].get("ReportName", shared)
    log_file = HOME / "airflow-overlap.log"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        **emulator.env,
    }
    heading(
        f"Two overlapping runs of {OVERLAP_DAG_ID}, both pausing {name}   "
        f"(output: {log_file.relative_to(REPO)})"
    )
    started = datetime.now(timezone.utc)
    processes = {}
    for n, (run, seconds) in enumerate(OVERLAP_BACKFILL_SECONDS.items()):
        conf = json.dumps({"report_ids": [shared], "backfill_seconds": seconds})
        when = f"2026-11-0{n + 1}T00:00:00+00:00"
        with (HOME / f"airflow-overlap-{run}.log").open("w") as out:
            processes[run] = subprocess.Popen(
                [sys.executable, "-m", "airflow", "dags", "test", OVERLAP_DAG_ID, when, "--conf", conf],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        say(f"   {run} run (logical date {when[:10]}): backfill of {seconds} s")
        deadline = time.monotonic() + 120
        while report_statuses(emulator, program)[shared]["ReportStatus"] != "Paused":
            if processes[run].poll() is not None or time.monotonic() > deadline:
                raise DemoFailed(f"the {run} run never paused {name}; see HOME/airflow-overlap-{run}.log")
            time.sleep(0.2)
    codes = {run: process.wait(timeout=300) for run, process in processes.items()}
    with log_file.open("w") as out:
        for run in processes:
            out.write((HOME / f"airflow-overlap-{run}.log").read_text())
    with sqlite3.connect(HOME / "airflow.db") as db:
        rows = db.execute(
            "SELECT run_id, task_id, state, start_date, end_date FROM task_instance "
            "WHERE dag_id = ? ORDER BY start_date",
            (OVERLAP_DAG_ID,),
        ).fetchall()
    runs = {run_id: run for run_id, run in zip(sorted({r[0] for r in rows}), processes, strict=False)}
    events = [
        (parse_time(moment), f"{runs[run_id]} run: task {task_id} {verb}")
        for run_id, task_id, state, start, end in rows
        for moment, verb in ((start, "starts"), (end, f"ends: {state}"))
        if parse_time(moment) and parse_time(moment) >= started
    ]
    log = [json.loads(line) for line in request_log.read_text().splitlines()]
    changes = [c for c in status_changes(log, [shared]) if c["time"] >= started]
    events += [
        (c["time"], f"    {c['path'].rstrip('/').split('/')[-2]:<6} {name} -> {c['report_status']}")
        for c in changes
    ]
    origin = min(moment for moment, _ in events)
    for moment, text in sorted(events, key=lambda event: event[0]):
        say(f"   +{(moment - origin).total_seconds():5.1f}s  {text}")
    resumes = [c["time"] for c in changes if "/resume/" in c["path"]]
    backfill_ends = [parse_time(r[4]) for r in rows if r[1] == "backfill" and parse_time(r[4])]
    problems = [f"airflow dags test ({run} run) exited {code}" for run, code in codes.items() if code]
    if len(resumes) != 1 or len([c for c in changes if "/pause/" in c["path"]]) != 1:
        problems.append(f"{name} was paused and resumed {len(changes)} times in all, not once each")
    elif len(backfill_ends) != 2 or resumes[0] < max(backfill_ends):
        problems.append(f"{name} was resumed before the last backfill ended")
    restores = sorted((parse_time(r[4]), runs[r[0]]) for r in rows if r[1] == "restore_reports" and r[4])
    if len(restores) != 2 or restores[0][1] != "second":
        problems.append("the second run did not end first: the runs did not overlap (a busy machine?)")
    if problems:
        raise DemoFailed("; ".join(problems) + f" (see {log_file})")
    say(
        f"\nOK: {name} was paused once, by the first run, and held by both; the second run's restore left "
        "it Paused (the first run still held it); the first run's restore, the last holder's, resumed it."
    )
    return 0


def run_the_dag(
    emulator: EmulatorProcess, report_ids: list[str], exported: str, airflow_log: Path
) -> tuple[int, dict[str, dict[str, Any]]]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        **emulator.env,  # AIRFLOW_CONN_PCINSIGHTS_DEFAULT, as the emulator printed it
        "PCINSIGHTS_REPORT_IDS": ",".join(report_ids),
        "PCINSIGHTS_EXPORT_PATH": str(EXPORT),
        "PCINSIGHTS_POLL_SECONDS": "1",
    }
    heading(f"Running: airflow dags test {DAG_ID}   (full output: {airflow_log.relative_to(REPO)})")
    started = time.monotonic()
    if run_airflow(env, airflow_log, "db", "migrate") != 0:
        raise DemoFailed(f"airflow db migrate failed; see {airflow_log}")
    conf = {"report_ids": report_ids, "export_report_id": exported, "backfill_seconds": BACKFILL_SECONDS}
    exit_code = run_airflow(env, airflow_log, "dags", "test", DAG_ID, "--conf", json.dumps(conf))
    say(f"   finished in {time.monotonic() - started:.0f}s with exit code {exit_code}")
    tasks = task_runs(HOME / "airflow.db")
    for task_id in TASKS:
        say(f"   {task_id:<18} {tasks.get(task_id, {}).get('state') or 'did not run'}")
    return exit_code, tasks


def show_statuses(
    emulator: EmulatorProcess,
    program: str,
    report_ids: list[str],
    before: dict[str, dict[str, Any]],
    names: dict[str, str],
    tasks: dict[str, dict[str, Any]],
    changes: list[dict[str, Any]],
) -> list[str]:
    """Each report before, during the backfill and after: what the restore gave back."""
    backfill = tasks.get("backfill", {})
    after = report_statuses(emulator, program)
    width = max(len(n) for n in names.values())
    heading("Report statuses: the restore gives back exactly what the pause took")
    say(f"   {'report':<{width}}  {'before':<8}  {'during backfill':<15}  after")
    problems = []
    for rid in report_ids:
        during = "?"
        if backfill.get("start") and backfill.get("end"):
            midpoint = backfill["start"] + (backfill["end"] - backfill["start"]) / 2
            during = status_at(midpoint, before[rid]["ReportStatus"], changes, rid)
        final = after[rid]["ReportStatus"]
        first = before[rid]["ReportStatus"]
        say(f"   {names[rid]:<{width}}  {first:<8}  {during:<15}  {final}")
        if during.lower() != "paused":
            problems.append(f"{names[rid]} was {during} during the backfill, not Paused")
        if final.lower() != first.lower():
            problems.append(f"{names[rid]} is {final} after the run, not {first} as before it")
    return problems


def show_export(log: list[dict[str, Any]], name: str) -> list[str]:
    """The export the DAG waited for and downloaded, checked against the file on disk."""
    heading(f"The next export of {name}, downloaded")
    result = download_result(HOME / "airflow.db")
    if result is None:
        return ["download_export returned nothing"]
    say(f"   execution   {result['ExecutionId']} (generated {result['ReportGeneratedTime']})")
    say(f"   file        {EXPORT.relative_to(REPO)}")
    problems = []
    if not EXPORT.exists():
        return [*problems, f"{EXPORT} was not written"]
    content = EXPORT.read_bytes()
    rows = sum(1 for _ in csv.reader(io.StringIO(content.decode("utf-8")))) - 1
    came = "gzip-compressed" if result.get("compressed") else "uncompressed"
    say(f"   size        {len(content)} bytes, {rows} data rows (it came {came}; no byte-order mark now)")
    say("   first lines")
    for line in content.decode("utf-8").splitlines()[:4]:
        say(f"      {line}")
    fetched = [entry for entry in log if entry.get("kind") == "file"]
    with_token = [entry for entry in fetched if entry.get("authorization")]
    tokens = f"{len(with_token)} with an Authorization header"
    say(f"   fetched     {len(fetched)} time(s) from the file host, {tokens}")
    if len(content) != result["bytes"]:
        problems.append(f"the file has {len(content)} bytes, the task said {result['bytes']}")
    if rows != result["rows"]:
        problems.append(f"the file has {rows} data rows, the task said {result['rows']}")
    if content.startswith(b"\xef\xbb\xbf"):
        problems.append("the file still starts with a byte-order mark")
    if not fetched or with_token:
        problems.append("the bearer token went to the file host" if with_token else "no download happened")
    return problems


def download_result(database: Path) -> dict[str, Any] | None:
    """What download_export returned, from Airflow's XCom table."""
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = 'return_value'",
            (DAG_ID, "download_export"),
        ).fetchone()
    if row is None:
        return None
    value = json.loads(row[0])
    return json.loads(value) if isinstance(value, str) else value


def downloads(log: list[dict[str, Any]], names: dict[str, str]) -> list[tuple[datetime, str]]:
    """Each call to the file host, for the timeline."""
    return [
        (
            parse_time(entry["wall_time"]),
            f"    file   {names.get(entry.get('report_id'), entry.get('report_id'))}: downloaded (HTTP "
            f"{entry['status']}, {'WITH' if entry.get('authorization') else 'no'} Authorization header)",
        )
        for entry in log
        if entry.get("kind") == "file"
    ]


def event_driven_phase() -> int:
    """Airflow 3: the download DAG starts because an export came, not because a sensor waited.

    ``example_download_each_export`` is scheduled on an Asset whose ``AssetWatcher`` runs
    ``ReportExportEventTrigger``; Airflow's scheduler, dag-processor, triggerer and
    api-server run it (``scripts/export_events_e2e.py``, which tells what happens as it
    goes): three exports, the triggerer stopped while the second is made, one DAG run each.
    """
    heading("Event-driven (Airflow 3): each export of a report starts the download DAG once")
    say("   example_download_each_export is scheduled on an Asset watched by ReportExportEventTrigger:")
    say("   no DAG run waits for the export; the triggerer polls, and each new export is one DAG run.")
    import export_events_e2e

    return export_events_e2e.main()


if __name__ == "__main__":
    sys.exit(main() or event_driven_phase())
