"""The example DAGs, run end to end with real Airflow (sqlite) against the emulator."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "example_dags"


def _dagbag():
    try:  # Airflow 3
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.11
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=str(EXAMPLES))  # examples are off in tests/conftest.py


@pytest.fixture(scope="module")
def dagbag():
    return _dagbag()


def _task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


def _statuses(emu, ids):
    return [emu.report("mpn", rid)["ReportStatus"] for rid in ids]


def _actions(emu, ids):
    """(action, report id) for each pause/resume call the emulator answered, in order."""
    return [
        (r.path.split("/")[-2], r.path.split("/")[-1])
        for r in emu.requests
        if r.method == "PUT" and r.path.split("/")[-1] in ids
    ]


def test_example_dags_load_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {
        "example_pause_reports_for_backfill",
        "example_upstream_sales_load",
        "example_resume_after_upstream_load",
        "example_backfill_and_export",
        "example_use_report_export",
    } <= set(dagbag.dag_ids)


@pytest.fixture
def reports(pcinsights_emulator):
    """Three reports for the run: one somebody paused before it, two active."""
    emu = pcinsights_emulator
    ids = emu.report_ids("mpn")[:3]
    emu.set_report_status("mpn", ids[0], "Paused")
    return ids


@pytest.mark.dag_test
@pytest.mark.parametrize("fail_backfill", [False, True])
def test_backfill_dag_restores_exactly_what_it_paused(dagbag, pcinsights_emulator, reports, fail_backfill):
    emu = pcinsights_emulator
    dag = dagbag.get_dag("example_pause_reports_for_backfill")

    dag_run = dag.test(
        run_conf={"report_ids": reports, "backfill_seconds": 0, "fail_backfill": fail_backfill}
    )

    states = _task_states(dag_run)
    assert states == {
        "pause_reports": "success",
        "backfill": "failed" if fail_backfill else "success",
        "restore_reports": "success",
    }
    assert _statuses(emu, reports) == ["Paused", "Active", "Active"]  # paused before the run: stays paused
    actions = _actions(emu, reports)
    assert sorted(actions[:2]) == sorted(("pause", rid) for rid in reports[1:])  # reports[0]: read only
    assert sorted(actions[2:]) == sorted(("resume", rid) for rid in reports[1:])
    assert str(getattr(dag_run.state, "value", dag_run.state)) == ("failed" if fail_backfill else "success")


@pytest.mark.dag_test
def test_resume_dag_resumes_and_waits_in_deferrable_mode(dagbag, pcinsights_emulator):
    emu = pcinsights_emulator
    ids = emu.report_ids("mpn")[:3]
    for rid in ids:
        emu.set_report_status("mpn", rid, "Paused")
    dag = dagbag.get_dag("example_resume_after_upstream_load")
    assert dag.get_task("wait_until_active").deferrable is True

    dag_run = dag.test(run_conf={"report_ids": ids})

    assert _task_states(dag_run) == {"resume_reports": "success", "wait_until_active": "success"}
    assert _statuses(emu, ids) == ["Active"] * 3


def test_resume_dag_is_scheduled_on_the_upstream_load(dagbag):
    upstream = dagbag.get_dag("example_upstream_sales_load")
    resume = dagbag.get_dag("example_resume_after_upstream_load")
    outlets = upstream.get_task("load_sales").outlets
    assert [a.uri for a in outlets] == ["file:///data/warehouse/sales_daily.csv"]
    timetable = resume.timetable
    scheduled_on = getattr(timetable, "asset_condition", None) or timetable.dataset_condition  # 3.x / 2.11
    assert "file:///data/warehouse/sales_daily.csv" in str(scheduled_on)


# -- the whole loop: pause, backfill, restore, wait for the next export, download it -------------------


@pytest.fixture
def loop(pcinsights_emulator, reports, tmp_path, monkeypatch):
    """The loop's DAGs, parsed with the export going to a temporary directory and fast polls; the
    emulator's runs complete within a few reads of their executions (each read lets a minute pass)."""
    import asset_events

    export = tmp_path / "exports" / "report.csv"
    monkeypatch.setenv("PCINSIGHTS_EXPORT_PATH", str(export))
    monkeypatch.setenv("PCINSIGHTS_POLL_SECONDS", "0.05")
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
    emu = pcinsights_emulator
    emu.runs.pending_seconds = emu.runs.running_seconds = 60
    emu.clock.step_per_read = 60
    bag = _dagbag()
    asset_events.register(
        bag.get_dag("example_backfill_and_export"), bag.get_dag("example_use_report_export")
    )
    asset_events.switch_on("example_use_report_export")
    return bag, export


@pytest.mark.dag_test
def test_the_whole_loop_restores_the_reports_and_hands_the_next_export_on(pcinsights_emulator, reports, loop):
    import asset_events

    emu = pcinsights_emulator
    bag, export = loop
    dag = bag.get_dag("example_backfill_and_export")
    exported = reports[1]  # active before the run; reports[0] was paused before it

    dag_run = dag.test(run_conf={"report_ids": reports, "export_report_id": exported, "backfill_seconds": 0})

    assert set(_task_states(dag_run).values()) == {"success"}, _task_states(dag_run)
    assert _statuses(emu, reports) == ["Paused", "Active", "Active"]
    (completed,) = [
        e for e in emu.executions("mpn", exported) if e["ExecutionStatus"] == "Completed"
    ]  # the run its resume started
    assert export.read_bytes() == emu.report_file("mpn", exported, completed["ExecutionId"]).content
    assert emu.file_requests()
    assert not any(c.authorization for c in emu.file_requests())  # the token never reached the file host
    (event,) = asset_events.events(f"file://{export}", dag.dag_id, dag_run.run_id)
    assert event["ExecutionId"] == completed["ExecutionId"]
    assert asset_events.queued("example_use_report_export") == 1

    downstream = bag.get_dag("example_use_report_export").test()
    assert _task_states(downstream) == {"load_export": "success"}


@pytest.mark.dag_test
def test_the_whole_loop_restores_and_stops_when_the_backfill_fails(pcinsights_emulator, reports, loop):
    emu = pcinsights_emulator
    bag, export = loop
    dag = bag.get_dag("example_backfill_and_export")

    dag_run = dag.test(
        run_conf={"report_ids": reports, "export_report_id": reports[1], "fail_backfill": True}
    )

    states = _task_states(dag_run)
    assert states["restore_reports"] == "success"
    assert states["wait_for_export"] == states["download_export"] == "upstream_failed"
    assert _statuses(emu, reports) == ["Paused", "Active", "Active"]
    assert not export.exists()
    assert emu.file_requests() == []


def test_the_downstream_dag_is_scheduled_on_the_export(dagbag):
    download = dagbag.get_dag("example_backfill_and_export").get_task("download_export")
    (outlet,) = download.outlets
    timetable = dagbag.get_dag("example_use_report_export").timetable
    scheduled_on = getattr(timetable, "asset_condition", None) or timetable.dataset_condition  # 3.x / 2.11
    assert outlet.uri in str(scheduled_on)


def test_the_event_driven_dag_watches_the_report_and_downloads_the_announced_export(monkeypatch):
    """Airflow 3: scheduled on an Asset whose watcher is ReportExportEventTrigger; the run's export is
    the one its asset event names. (Run by the real triggerer in scripts/export_events_e2e.py.)"""
    import runpy

    from airflow_provider_pcinsights.triggers.report import BaseEventTrigger, ReportExportEventTrigger

    if BaseEventTrigger is None:
        pytest.skip("event-driven scheduling needs Airflow 3")
    monkeypatch.setenv("PCINSIGHTS_REPORT_IDS", "r-1,r-2")
    dag = _dagbag().get_dag("example_download_each_export")
    module = runpy.run_path(str(EXAMPLES / "example_download_each_export.py"))

    asset = module["REPORT_EXPORTS"]
    (watcher,) = asset.watchers
    assert isinstance(watcher.trigger, ReportExportEventTrigger)
    assert watcher.trigger.report_id == "r-1"
    assert dag.get_task("download_export").partial_kwargs["report_id"] == "r-1"

    @dataclasses.dataclass
    class Event:
        extra: dict

    def event(execution_id: str):
        return Event(
            extra={"from_trigger": True, "payload": {"ReportId": "r-1", "ExecutionId": execution_id}}
        )

    pick = module["exports_of_this_run"].function
    # Keyed by the asset's name: Airflow 3.0.0's Asset is not hashable (its accessor keys by a unique
    # key of its own); the task reads only the events.
    assert pick(triggering_asset_events={asset.name: [event("e-7")]}) == ["e-7"]
    # Two exports announced before the scheduler made the run are one run: both are downloaded.
    assert pick(triggering_asset_events={asset.name: [event("e-7"), event("e-8")]}) == ["e-7", "e-8"]
