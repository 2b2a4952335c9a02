"""The Airflow side of scenario 5, in a process of its own: DEBUG logging on for every logger from the start.

``python -m reliability_scenarios.secrets_child <workdir>`` reads ``plan.json``
(written by ``secrets_scan``), runs every case against the emulator the parent
holds, and writes what a deployment would keep into ``<workdir>/captured/``:
every log record (unmasked, at DEBUG, from every logger), the exceptions (message,
``repr`` and traceback, causes included), the rows Airflow's database keeps for
each DAG run (XCom values, rendered template fields, task instances with their
trigger events, reschedules, triggers), the ``repr`` of every provider object
and the serialized kwargs of every trigger. Its own stdout and stderr (Airflow's
task logs, printed) are files the parent reads too. The parent does the searching.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import sys
import time
import traceback
import urllib.request
from pathlib import Path
from typing import Any

DAG_ID = "pcinsights_reliability_secrets"
AUTH_TYPES = ("secret", "certificate", "assertion", "refresh_token")


class Capture:
    """Files under ``captured/``, one per kind of thing a deployment keeps."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, kind: str, text: str) -> None:
        with (self.folder / f"{kind}.txt").open("a", encoding="utf-8") as handle:
            handle.write(text.rstrip("\n") + "\n\n")

    def exception(self, where: str, error: BaseException) -> None:
        self.write(
            "exceptions", f"## {where}\n{error}\n{error!r}\n{''.join(traceback.format_exception(error))}"
        )
        for attribute in ("api_message", "failures", "records"):
            value = getattr(error, attribute, None)
            if value:
                self.write("exceptions", f"## {where}: {attribute}\n{value!r}")


def _debug_everywhere(capture: Capture) -> None:
    """Every logger at DEBUG, and every record also written raw (before any masking) to ``log-records``."""

    class Raw(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                text = f"{record.name} {record.levelname} {record.getMessage()}"
            except Exception:  # a record whose arguments do not fit its message: keep both
                text = f"{record.name} {record.levelname} {record.msg!r} {record.args!r}"
            if record.exc_info:
                text += "\n" + "".join(traceback.format_exception(*record.exc_info))
            capture.write("log-records", text)

    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(Raw(level=logging.DEBUG))
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            logger.setLevel(logging.DEBUG)
            logger.disabled = False


def _admin(plan: dict[str, Any], path: str, body: Any = None) -> Any:
    """Steer the parent's emulator through its admin endpoints (loopback, its CA, no proxy)."""
    import ssl

    context = ssl.create_default_context(cafile=plan["ca_path"])
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(
        f"{plan['url']}/_emulator/{path}",
        data=data,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with opener.open(request, timeout=10) as answer:
        return json.loads(answer.read() or b"null")


def _prepare(plan: dict[str, Any], case: dict[str, Any]) -> None:
    """Reports as the case needs them (the waited ones ``Active`` after two reads), then its faults.

    ``reset`` first: the seeded reports again, no status change left queued by an earlier case.
    """
    _admin(plan, "reset")
    for reports in plan["reports"].values():
        program = reports["program"]
        for report_id in reports["ids"]:
            status = case.get("status", "Active")
            _admin(plan, "report-status", {"program": program, "report_id": report_id, "status": status})
        # Poke: read twice before Active; reschedule: once (one reschedule); deferrable: the sensor's own
        # look, then the trigger's first poll. On mpn, whose filter takes one id, the pause reads its list
        # through the account's listing, which reads the waited reports too: one read more each.
        listed_by_the_pause = 1 if program == "mpn" else 0
        for report_id, reads in zip(reports["waited"], (2, 1, 2), strict=True):
            reads += listed_by_the_pause
            status = case.get("status", "Paused")
            _admin(plan, "report-status", {"program": program, "report_id": report_id, "status": status})
            if status == "Paused":
                body = {"program": program, "report_id": report_id, "status": "Active", "reads": reads}
                _admin(plan, "status-after-reads", body)
    # A run started now is Running after one read of its executions and Completed after the next.
    _admin(plan, "runs", {"pending_seconds": 60, "running_seconds": 60})
    _admin(plan, "clock", {"step_per_read": 60})
    if case.get("faults"):
        _admin(plan, "faults", case["faults"])


def _reports(plan: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    """The reports of each auth type; a case about unknown reports names ids no account has."""
    if not case.get("unknown_reports"):
        return plan["reports"]
    unknown = "00000000-0000-4000-8000-00000000dead"
    return {
        auth: {**reports, "ids": [unknown, reports["ids"][1]], "waited": [unknown] * 3}
        for auth, reports in plan["reports"].items()
    }


def _conns(case: dict[str, Any]) -> dict[str, str]:
    suffix = case.get("conn_suffix", "")
    return {auth: f"pcinsights_{auth}{suffix}" for auth in case.get("auth_types", AUTH_TYPES)}


def _run_dag(plan: dict[str, Any], case: dict[str, Any], capture: Capture) -> None:
    from reliability_scenarios.secrets_dag import load_dag

    dag = load_dag(Path(plan["dags_folder"]))
    params = {"conns": _conns(case), "reports": _reports(plan, case), "downloads": plan["downloads"]}
    try:
        dag_run = dag.test(run_conf=params)
    except Exception as error:  # dag.test logs task failures; anything it raises is captured too
        capture.exception(f"{case['name']}: dag.test", error)
        return
    _dump_run(plan, dag_run.run_id, capture, case["name"])
    _record_states(plan, dag_run.run_id, case["name"], Path(plan["states"]))


def _record_states(plan: dict[str, Any], run_id: str, name: str, states: Path) -> None:
    """How each task ended, and how often a sensor gave its slot back: what the parent judges the run by."""
    with sqlite3.connect(plan["database"]) as db:
        ended = dict(
            db.execute("SELECT task_id, state FROM task_instance WHERE run_id = ?", (run_id,)).fetchall()
        )
        columns = {row[1] for row in db.execute("PRAGMA table_info('task_reschedule')")}
        if "run_id" in columns:  # Airflow 2
            query = "SELECT COUNT(*) FROM task_reschedule WHERE run_id = ?"
        else:  # Airflow 3: by task instance
            query = (
                "SELECT COUNT(*) FROM task_reschedule AS r JOIN task_instance AS t ON r.ti_id = t.id "
                "WHERE t.run_id = ?"
            )
        reschedules = db.execute(query, (run_id,)).fetchone()
    with states.open("a") as out:
        out.write(json.dumps({"case": name, "states": ended, "reschedules": reschedules[0]}) + "\n")


def _dump_run(plan: dict[str, Any], run_id: str, capture: Capture, name: str) -> None:
    """Every row Airflow's database keeps for the run: the tables with a run_id, and the triggers."""
    database = plan["database"]
    with sqlite3.connect(database) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [row[1] for row in db.execute(f"PRAGMA table_info('{table}')")]
            if "run_id" in columns:
                rows = db.execute(f"SELECT * FROM '{table}' WHERE run_id = ?", (run_id,)).fetchall()
            elif table == "trigger":
                rows = db.execute("SELECT * FROM 'trigger'").fetchall()
            else:
                continue
            kind = {"xcom": "xcom", "rendered_task_instance_fields": "rendered-fields"}.get(table, "database")
            for row in rows:
                capture.write(kind, f"## {name}: {table}\n{_text(dict(zip(columns, row, strict=False)))}")


def _text(value: Any) -> str:
    def plain(item: Any) -> Any:
        if isinstance(item, bytes):
            return item.decode("utf-8", "replace")
        return item

    return json.dumps({k: plain(v) for k, v in value.items()}, default=str)


def _direct(plan: dict[str, Any], case: dict[str, Any], capture: Capture) -> None:
    """The hook, the sensor's deferral and the trigger, called directly: every object's repr, every
    exception, the trigger's serialized kwargs and its events."""
    from airflow.providers.common.compat.sdk import TaskDeferred

    from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook
    from airflow_provider_pcinsights.operators.report import PauseReportOperator
    from airflow_provider_pcinsights.sensors.report import ReportStatusSensor
    from airflow_provider_pcinsights.triggers.report import ReportStatusTrigger

    for auth, conn_id in _conns(case).items():
        reports = _reports(plan, case)[auth]
        ids, waited = reports["ids"], reports["waited"][0]
        where = f"{case['name']} ({auth})"
        hook = PartnerCenterInsightsHook(conn_id=conn_id, **plan["hook_params"])
        capture.write("reprs", f"## {where}\n{hook!r}")
        for step, call in (
            ("test_connection", hook.test_connection),
            ("get_token", lambda hook=hook: bool(hook.get_token())),
            ("list_reports", hook.list_reports),
            ("get_report", lambda hook=hook, first=ids[0]: hook.get_report(first)),
            ("get_report_executions", lambda hook=hook, first=ids[0]: hook.get_report_executions(first)),
        ):
            try:
                capture.write("results", f"## {where}: {step}\n{call()!r}")
            except Exception as error:
                capture.exception(f"{where}: {step}", error)
        for attribute in ("settings", "_token_source"):
            try:
                capture.write("reprs", f"## {where}: {attribute}\n{getattr(hook, attribute)!r}")
            except Exception as error:
                capture.exception(f"{where}: {attribute}", error)
        hook.close()
        operator = PauseReportOperator(
            task_id="pause", report_id=ids[:1], conn_id=conn_id, hook_params=plan["hook_params"]
        )
        capture.write("reprs", f"## {where}: operator\n{operator!r}")
        try:
            capture.write("results", f"## {where}: pause\n{operator.execute({})!r}")
        except Exception as error:
            capture.exception(f"{where}: pause operator", error)
        sensor = ReportStatusSensor(
            task_id="wait",
            report_id=[waited],
            conn_id=conn_id,
            deferrable=True,
            poll_interval=0.1,
            timeout=20,
            hook_params=plan["hook_params"],
        )
        capture.write("reprs", f"## {where}: sensor\n{sensor!r}")
        trigger = ReportStatusTrigger(
            report_ids=[waited],
            target_statuses=["Active"],
            failure_statuses=["Inactive"],
            conn_id=conn_id,
            poll_interval=0.1,
            hook_params=plan["hook_params"],
        )
        try:
            sensor.execute({})
        except TaskDeferred as deferred:
            trigger = deferred.trigger
            capture.write("reprs", f"## {where}: deferral\n{deferred!r}")
        except Exception as error:
            capture.exception(f"{where}: deferrable sensor", error)
        _direct_exports(plan, where, conn_id, ids[0], capture)
        capture.write("trigger-kwargs", f"## {where}\n{json.dumps(trigger.serialize())}")
        capture.write("reprs", f"## {where}: trigger\n{trigger!r}")

        async def events(trigger: Any = trigger) -> list[Any]:
            return [event async for event in trigger.run()]

        try:
            for event in asyncio.run(asyncio.wait_for(events(), timeout=60)):
                capture.write("trigger-events", f"## {where}\n{event!r}\n{json.dumps(event.payload)}")
                if event.payload.get("status") != "success":
                    try:
                        sensor.execute_complete({}, event.payload)
                    except Exception as error:
                        capture.exception(f"{where}: execute_complete", error)
        except Exception as error:
            capture.exception(f"{where}: trigger", error)


def _direct_exports(plan: dict[str, Any], where: str, conn_id: str, report_id: str, capture: Capture) -> None:
    """The execution sensor's deferral, its trigger's events, and a download: reprs, kwargs, errors."""
    from airflow.providers.common.compat.sdk import TaskDeferred

    from airflow_provider_pcinsights.operators.report import DownloadReportOperator
    from airflow_provider_pcinsights.sensors.report import ReportExecutionSensor
    from airflow_provider_pcinsights.triggers.report import ReportExecutionTrigger

    params = {"conn_id": conn_id, "hook_params": plan["hook_params"]}
    sensor = ReportExecutionSensor(
        task_id="wait_export",
        report_id=report_id,
        completed_after="2000-01-01T00:00:00Z",
        deferrable=True,
        poll_interval=0.1,
        timeout=20,
        **params,
    )
    trigger = ReportExecutionTrigger(
        report_ids=[report_id], completed_after="2000-01-01T00:00:00Z", poll_interval=0.1, **params
    )
    capture.write("reprs", f"## {where}: execution sensor\n{sensor!r}\n{trigger!r}")
    try:
        capture.write("results", f"## {where}: execution sensor\n{sensor.execute({})!r}")
    except TaskDeferred as deferred:
        capture.write("trigger-kwargs", f"## {where}: execution\n{json.dumps(deferred.trigger.serialize())}")
    except Exception as error:
        capture.exception(f"{where}: execution sensor", error)
    capture.write("trigger-kwargs", f"## {where}: execution\n{json.dumps(trigger.serialize())}")

    async def events() -> list[Any]:
        return [event async for event in trigger.run()]

    try:
        for event in asyncio.run(asyncio.wait_for(events(), timeout=60)):
            capture.write("trigger-events", f"## {where}: execution\n{event!r}\n{json.dumps(event.payload)}")
    except Exception as error:
        capture.exception(f"{where}: execution trigger", error)
    download = DownloadReportOperator(
        task_id="download", report_id=report_id, destination=f"{plan['downloads']}/direct/", **params
    )
    capture.write("reprs", f"## {where}: download\n{download!r}")
    try:
        capture.write("results", f"## {where}: download\n{download.execute({})!r}")
    except Exception as error:
        capture.exception(f"{where}: download", error)


def main(workdir: str) -> int:
    folder = Path(workdir)
    plan = json.loads((folder / "plan.json").read_text())
    capture = Capture(folder / "captured")
    import airflow  # noqa: F401  # configures Airflow's logging (at DEBUG: see the parent's environment)

    _debug_everywhere(capture)
    from airflow_provider_pcinsights.hooks.entra import forget_all_token_sources

    for case in plan["cases"]:
        forget_all_token_sources()  # each case signs in afresh, as a new task process would
        print(f"== case {case['name']}\n== at {time.monotonic():.1f}", flush=True)
        try:
            _prepare(plan, case)
            if case["how"] == "dag":
                _run_dag(plan, case, capture)
            else:
                _direct(plan, case, capture)
        except Exception as error:  # the harness's own failure: captured, and said
            capture.exception(f"{case['name']}: harness", error)
            print(f"harness error in {case['name']}: {error!r}", file=sys.stderr, flush=True)
            return 1
        finally:
            _admin(plan, "faults", {"clear": True})
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main(sys.argv[1]))
