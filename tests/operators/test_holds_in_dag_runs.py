"""Pauses are holds: a report shared by several pauses is resumed once, by the last holder to give it back.

Real DAG runs against the emulator: the two-chain DAG of issue 14 and a hold whose DAG run is
gone. The hold table on its own is tested in tests/test_holds.py.
"""

from __future__ import annotations

import pytest
from dag_runs import task_states

from airflow_provider_pcinsights import holds
from airflow_provider_pcinsights.holds import Holder, HoldTable


@pytest.fixture
def emu(pcinsights_emulator):
    return pcinsights_emulator


@pytest.fixture
def reports(emu):
    """(shared by both chains, chain a only, chain b only, paused by a person before the run)."""
    shared, only_a, only_b = emu.report_ids()[:3]
    person = emu.add_report("mpn")
    for rid in (shared, only_a, only_b):
        emu.set_report_status("mpn", rid, "Active")
    emu.set_report_status("mpn", person, "Paused")
    return shared, only_a, only_b, person


def _puts(emu, action: str, rid: str) -> int:
    return len(emu.api_requests(method="PUT", path_contains=f"/{action}/{rid}"))


def test_two_chains_in_one_run_resume_the_shared_report_only_after_the_last_backfill(
    emu, reports, dag_module
):
    shared, only_a, only_b, person = reports
    module = dag_module("hold_dags")

    dag_run = module.two_chains.test(run_conf={"a": [shared, only_a, person], "b": [shared, only_b, person]})

    assert set(task_states(dag_run).values()) == {"success"}
    paused = {shared: "Paused", only_a: "Paused", only_b: "Paused", person: "Paused"}
    assert module.SEEN["backfill_a"] == paused
    assert module.SEEN["backfill_b"] == {**paused, only_a: "Active"}  # restore_a kept the shared one
    final = {rid: emu.report("mpn", rid)["ReportStatus"] for rid in reports}
    assert final == {shared: "Active", only_a: "Active", only_b: "Active", person: "Paused"}
    assert [(_puts(emu, "pause", rid), _puts(emu, "resume", rid)) for rid in reports] == [
        (1, 1),  # the shared report: paused once, resumed once
        (1, 1),
        (1, 1),
        (0, 0),  # the person's pause is never touched
    ]
    by_id = {chain: {r["ReportId"]: r for r in module.RETURNED[chain]} for chain in "ab"}
    assert by_id["a"][shared]["resumed"] is False
    assert by_id["a"][shared]["held_by"] == [
        {"dag_id": "pcinsights_test_two_chains", "run_id": dag_run.run_id, "task_id": "pause_b"}
    ]
    assert by_id["a"][only_a]["resumed"] is True
    assert {rid: r["resumed"] for rid, r in by_id["b"].items()} == {shared: True, only_b: True}
    assert HoldTable(holds.Variables(model=True)).load().holds == {}


def test_a_hold_whose_dag_run_is_gone_is_released_by_the_next_run_touching_the_report(
    emu, reports, dag_module, logs
):
    shared, only_a, only_b, _person = reports
    emu.set_report_status("mpn", shared, "Paused")  # paused by a run that is no more
    table = HoldTable(holds.Variables(model=True)).load()
    table.add(shared, Holder("pcinsights_deleted_dag", "manual__gone", "pause"))
    table.save()
    module = dag_module("hold_dags")

    dag_run = module.two_chains.test(run_conf={"a": [shared, only_a], "b": [only_b]})

    assert set(task_states(dag_run).values()) == {"success"}
    assert module.SEEN["backfill_a"][shared] == "Paused"
    assert emu.report("mpn", shared)["ReportStatus"] == "Active"  # the gone run held it no more
    assert "pcinsights_deleted_dag/manual__gone/pause is treated as released" in logs()
    assert HoldTable(holds.Variables(model=True)).load().holds == {}
