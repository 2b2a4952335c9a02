"""Pauses are holds: a report shared by several pauses is resumed once, by the last holder to give it back.

The hold table on its own (any store: the number of reads and writes it costs),
then real DAG runs against the emulator: the two-chain DAG of issue 14, a hold
whose DAG run is gone, and the command that lists and releases holds.
The same protocol under Airflow's real scheduler, many runs at once, is in
tests/e2e/test_holds_engine.py.
"""

from __future__ import annotations

import pytest
from dag_runs import task_states

from airflow_provider_pcinsights import holds
from airflow_provider_pcinsights.holds import Holder, HoldTable
from airflow_provider_pcinsights.plugin import listener


class DictStore:
    def __init__(self) -> None:
        self.values: dict = {}

    def get(self, key):  # type: ignore[no-untyped-def]
        return self.values.get(key)

    def set(self, key, value) -> None:  # type: ignore[no-untyped-def]
        self.values[key] = value


def test_holding_500_reports_for_20_runs_costs_a_constant_number_of_reads_and_writes():
    store = DictStore()
    ids = [f"r{n:04d}" for n in range(500)]
    runs = [Holder("backfill", f"run_{n}", "pause") for n in range(20)]
    for run in runs:
        table = HoldTable(store).load()
        for rid in ids:
            table.add(rid, run)
        table.save()
        assert (table.reads, table.writes) == (holds.SHARDS, holds.SHARDS)
    table = HoldTable(store).load()
    assert [len(table.holders(rid)) for rid in ids] == [20] * 500
    for run in runs[:-1]:
        for rid in ids:
            table.remove(rid, run)
    table.save()
    again = HoldTable(store).load()
    assert {rid: again.holders(rid) for rid in ids} == {rid: [runs[-1]] for rid in ids}
    assert again.held_by(runs[-1]) == again.held_by(Holder("backfill", "run_19", "pause", try_number=3))


def test_holds_of_runs_that_ended_are_dropped_and_the_log_says_so(caplog):
    table = HoldTable(DictStore())
    me, gone, live = (Holder("d", run, "pause") for run in ("mine", "gone", "live"))
    for h in (gone, live, me):
        table.add("r1", h)
    table.add("r2", gone)
    table.drop_dead(["r1", "r2"], lambda h: h.run_id == "live", holds.log, keep=me)
    assert table.holders("r1") == [live, me]
    assert not table.is_held("r2")
    assert caplog.text.count("d/gone/pause is treated as released") == 2


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


def test_holds_command_lists_and_releases_a_hold(capsys):
    table = HoldTable(holds.Variables(model=True)).load()
    for run in ("manual__one", "manual__two"):
        table.add("rep-cli", Holder("pcinsights_cli_dag", run, "pause"))
    table.save()

    assert holds.main(["list"]) == 0
    listed = capsys.readouterr().out
    assert "rep-cli\theld by pcinsights_cli_dag/manual__one/pause" in listed
    assert "rep-cli\theld by pcinsights_cli_dag/manual__two/pause" in listed

    assert holds.main(["release", "rep-cli", "--run-id", "manual__one"]) == 0
    assert "still held by: pcinsights_cli_dag/manual__two/pause" in capsys.readouterr().out
    assert holds.main(["release", "rep-cli"]) == 0
    assert "no hold left" in capsys.readouterr().out
    assert HoldTable(holds.Variables(model=True)).load().holders("rep-cli") == []


def test_a_starting_scheduler_creates_the_pool_of_one_slot_and_the_hold_variables():
    """The provider's listener, as Airflow calls it when a job (scheduler, triggerer, dag-processor)
    starts."""
    from airflow.models.pool import Pool
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(Pool).filter(Pool.pool == holds.POOL).delete()
        session.query(Variable).filter(Variable.key == holds.SHARD_KEYS[0]).delete()
    listener.on_starting(type("TaskRunnerMarker", (), {})())  # not a job: no database there
    assert Pool.get_pool(holds.POOL) is None

    listener.on_starting(type("SchedulerJob", (type("Job", (), {}),), {})())

    assert Pool.get_pool(holds.POOL).slots == 1
    assert Variable.get(holds.SHARD_KEYS[0], deserialize_json=True) == {}
    assert holds.ensure_store() == []  # a second component finds everything there
