"""Restore exactly what a pause took, whatever fails: real DAG runs against the emulator.

The DAGs pause three reports as a setup, one of which somebody had paused before
the run; a backfill runs; ``ResumeReportOperator(paused_by=...)`` restores as the
teardown. Each test makes one thing fail (the pause part-way, on a retried or on
its last try, the backfill, the restore part-way, a kill mid-list) and checks what
a partner would see afterwards: every report Active before the run is Active
again, the one that was Paused stays Paused, and nothing is left in the ledger.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from dag_runs import on_date, task_states

from airflow_provider_pcinsights.holds import Holder, HoldTable, Variables
from airflow_provider_pcinsights.operators.report import PauseReportOperator, ResumeReportOperator

DAGS = Path(__file__).parent / "dags"


@pytest.fixture
def emu(pcinsights_emulator):
    return pcinsights_emulator


@pytest.fixture
def reports(emu):
    """(paused before the run, active, active): the run is given all three."""
    before, first, second = emu.report_ids()[:3]
    emu.set_report_status("mpn", before, "Paused")
    for rid in (first, second):
        emu.set_report_status("mpn", rid, "Active")
    return before, first, second


@pytest.fixture
def restore_dags(dag_module):
    return dag_module("restore_dags")


def _try_number(dag_run, task_id: str) -> int:
    return next(ti.try_number for ti in dag_run.get_task_instances() if ti.task_id == task_id)


def _statuses(emu, ids) -> list[str]:
    return [emu.report("mpn", rid)["ReportStatus"] for rid in ids]


def _calls(emu, action: str) -> list[str]:
    return [r.path.rsplit("/", 1)[-1] for r in emu.api_requests(method="PUT", path_contains=f"/{action}/")]


def _ledger(dag_id: str, run_id: str, task_id: str = "pause_reports") -> list[str] | None:
    """The ids that task instance holds (what its restore still owes), straight from Airflow's Variables."""
    held = HoldTable(Variables(model=True)).load().held_by(Holder(dag_id, run_id, task_id))
    return sorted(held) or None


# -- the usual run, and a failed backfill ---------------------------------------------------


@pytest.mark.parametrize("fail_backfill", [False, True])
def test_the_teardown_restores_exactly_what_the_pause_took(emu, reports, restore_dags, fail_backfill):
    _before, first, second = reports
    dag = restore_dags.retried

    dag_run = dag.test(run_conf={"ids": list(reports), "fail_backfill": fail_backfill})

    states = task_states(dag_run)
    assert states["pause_reports"] == "success"
    assert states["backfill"] == ("failed" if fail_backfill else "success")
    assert states["restore_reports"] == "success"
    assert _statuses(emu, reports) == ["Paused", "Active", "Active"]  # the one paused before stays so
    assert restore_dags.COLLECTED[dag.dag_id] == [[first, second]]
    assert _calls(emu, "resume") == [first, second]  # never the report paused before the run
    puts = [r.path.split("/")[-2] for r in emu.api_requests(method="PUT")]
    assert puts == ["pause"] * 2 + ["resume"] * 2  # everything paused while the backfill ran
    assert _calls(emu, "pause") == [first, second]  # the one already paused was read, not sent anything
    assert _ledger(dag.dag_id, dag_run.run_id) is None  # the restore cleared it


def test_a_run_that_paused_nothing_resumes_nothing_and_succeeds(emu, reports, restore_dags):
    dag_run = restore_dags.retried.test(run_conf={"ids": [reports[0]]})

    assert set(task_states(dag_run).values()) == {"success"}
    assert _calls(emu, "resume") == []
    assert restore_dags.COLLECTED["pcinsights_test_restore"] == [[]]
    assert _statuses(emu, reports[:1]) == ["Paused"]


def test_given_report_ids_too_only_those_paused_by_the_task_are_resumed(emu, reports, restore_dags):
    before, first, second = reports

    dag_run = restore_dags.retried.test(run_conf={"ids": list(reports), "only": [before, second]})

    assert task_states(dag_run)["restore_reports"] == "success"
    assert _calls(emu, "resume") == [second]
    assert _statuses(emu, reports) == ["Paused", "Paused", "Active"]  # first was not asked for
    assert _ledger("pcinsights_test_restore", dag_run.run_id) == [first]  # still owed


# -- the pause fails part-way -----------------------------------------------------------------


def test_a_pause_failing_part_way_is_retried_and_the_retry_counts_what_the_first_try_paused(
    emu, reports, restore_dags
):
    _before, first, second = reports
    emu.faults.fail(count=1, status=503, path=f"/pause/{second}")  # first try: first paused, second fails

    dag_run = restore_dags.retried.test(run_conf={"ids": list(reports)})

    assert task_states(dag_run)["pause_reports"] == "success"
    assert _try_number(dag_run, "pause_reports") == 2
    assert restore_dags.COLLECTED["pcinsights_test_restore"] == [[first, second]]  # first from the try before
    assert _statuses(emu, reports) == ["Paused", "Active", "Active"]
    assert _calls(emu, "resume") == [first, second]


def test_a_pause_failing_part_way_on_its_last_try_rolls_back_what_it_paused(emu, reports, restore_dags, logs):
    _before, first, second = reports
    emu.faults.fail(count=1, status=503, path=f"/pause/{second}")
    dag = restore_dags.last_try

    dag_run = dag.test(run_conf={"ids": list(reports)})

    states = task_states(dag_run)
    assert states["pause_reports"] == "failed"
    assert states["restore_reports"] != "success"  # a failed setup gets no teardown
    assert _statuses(emu, reports) == ["Paused", "Active", "Active"]  # rolled back by the pause itself
    # second's failed pause might have been applied, so the roll-back reads it too: still Active, so
    # nothing is sent; the report paused before the run is never touched.
    assert _calls(emu, "resume") == [first]
    assert restore_dags.COLLECTED[dag.dag_id] == [[]]  # nothing left to restore
    assert _ledger(dag.dag_id, dag_run.run_id) is None
    text = logs()
    assert f"Rolled back (Active again): {first}" in text
    assert "PauseRolledBackError" in text


def test_a_roll_back_that_cannot_resume_a_report_names_it_and_leaves_it_owed(
    emu, reports, restore_dags, logs
):
    _before, first, second = reports
    emu.faults.fail(count=1, status=503, path=f"/pause/{second}")
    emu.faults.fail(count=1, status=503, path=f"/resume/{first}")
    dag = restore_dags.last_try

    dag_run = dag.test(run_conf={"ids": list(reports)})

    assert task_states(dag_run)["pause_reports"] == "failed"
    assert _statuses(emu, reports) == ["Paused", "Paused", "Active"]
    assert restore_dags.COLLECTED[dag.dag_id] == [[first]]  # what a later restore must give back
    assert _ledger(dag.dag_id, dag_run.run_id) == [first]
    text = logs()
    assert "Rolled back (Active again): none" in text
    assert "Could not roll back (may still be Paused; resume them by hand):" in text
    assert f"- {first}: resume of report {first} may or may not have been applied" in text


# -- the restore fails part-way -------------------------------------------------------------------


def test_a_restore_failing_part_way_is_retried_until_every_report_is_back(emu, reports, restore_dags):
    _before, first, _second = reports
    emu.faults.fail(count=1, status=503, path=f"/resume/{first}")

    dag_run = restore_dags.retried.test(run_conf={"ids": list(reports)})

    assert task_states(dag_run)["restore_reports"] == "success"
    assert _try_number(dag_run, "restore_reports") == 2
    assert _statuses(emu, reports) == ["Paused", "Active", "Active"]
    assert _ledger("pcinsights_test_restore", dag_run.run_id) is None


# -- a pause killed mid-list, then retried ----------------------------------------------------------

_RUN_IN_A_CHILD = """
import datetime, importlib.util, inspect, json, sys
spec = importlib.util.spec_from_file_location("pcinsights_killed_pause", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
sys.path.insert(0, sys.argv[4])
from dag_runs import on_date
when = datetime.datetime.fromisoformat(sys.argv[2])
module.retried.test(run_conf=json.loads(sys.argv[3]), **on_date(module.retried, when))
"""


def _wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_a_pause_killed_mid_list_is_retried_and_the_retry_knows_what_the_killed_try_paused(
    emu, reports, restore_dags, tmp_path
):
    """The killed try runs in a child process, SIGKILLed between two pauses: no except, no finally,
    no XCom, as when a worker is lost. The next try is a dag.test() of the same DAG run id, which
    Airflow starts afresh, with no XCom of the killed try: only the ledger tells it what was paused."""
    _before, first, second = reports
    dag = restore_dags.retried
    emu.faults.hang(count=1, seconds=60, path=f"/pause/{second}", then="close")  # stuck before second
    when = datetime.now(timezone.utc).replace(microsecond=0)
    run_id = f"manual__{when.isoformat()}"
    conf = {"ids": list(reports)}
    log_path = tmp_path / "child.log"
    dag_file, helpers = str(DAGS / "restore_dags.py"), str(Path(__file__).parents[1])
    with log_path.open("w") as child_log:
        child = subprocess.Popen(
            [sys.executable, "-c", _RUN_IN_A_CHILD, dag_file, when.isoformat(), json.dumps(conf), helpers],
            env=os.environ.copy(),
            stdout=child_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:

            def caught_mid_list() -> bool:
                if child.poll() is not None:
                    raise AssertionError(f"the child ended early: {log_path.read_text()[-3000:]}")
                paused_first = emu.report("mpn", first)["ReportStatus"] == "Paused"
                return paused_first and _ledger(dag.dag_id, run_id) == sorted([first, second])

            _wait_until(caught_mid_list, timeout=90, what="the pause to be half-way through its list")
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert _statuses(emu, reports) == ["Paused", "Paused", "Active"]  # first paused, second not yet

    dag_run = dag.test(run_conf=conf, **on_date(dag, when))

    assert dag_run.run_id == run_id
    assert set(task_states(dag_run).values()) == {"success"}
    assert restore_dags.COLLECTED[dag.dag_id] == [[first, second]]  # first: paused by the killed try
    assert _statuses(emu, reports) == ["Paused", "Active", "Active"]
    assert _calls(emu, "resume") == [first, second]
    assert _ledger(dag.dag_id, run_id) is None


# -- checks before anything is sent -------------------------------------------------------------------


def test_resume_needs_report_id_or_paused_by_in_a_dag_run(emu):
    with pytest.raises(ValueError, match="report_id is required unless paused_by"):
        ResumeReportOperator(task_id="resume").execute({})
    with pytest.raises(ValueError, match="there is no DAG run here"):
        ResumeReportOperator(task_id="resume", paused_by="pause_reports").execute({})
    assert emu.requests == []


def test_paused_by_must_name_a_task_of_the_dag(emu):
    from airflow.providers.common.compat.sdk import DAG

    with DAG(dag_id="pcinsights_test_paused_by_typo", schedule=None) as dag:
        PauseReportOperator(task_id="pause_reports", report_id="r1")
        restore = ResumeReportOperator(task_id="restore", paused_by="pause_report")
    with pytest.raises(ValueError, match="paused_by 'pause_report' is not a task of DAG"):
        restore.execute({"ti": None})
    assert dag.has_task("pause_reports")
    assert emu.requests == []
