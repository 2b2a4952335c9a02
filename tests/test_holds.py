"""The hold table on its own (any store: the number of reads and writes it costs, holds of runs
that ended), and the command that lists and releases holds. Holds in real DAG runs are tested in
tests/operators/test_holds_in_dag_runs.py; under Airflow's real scheduler, many runs at once, in
tests/engine/test_holds_engine.py.
"""

from __future__ import annotations

from airflow_provider_pcinsights import holds
from airflow_provider_pcinsights.holds import Holder, HoldTable


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
    assert not table.holders("r2")
    assert caplog.text.count("d/gone/pause is treated as released") == 2


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
