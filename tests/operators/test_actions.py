"""Long lists: one batched read, one call per report that needs it, a pace that follows the service.

Counted at the emulator, over HTTPS with real MSAL: how many reads and pauses a list
costs, that a pause under the service's rate limit slows down and loses no report, and
that the pause ledger is written once, before the first pause, in a real DAG run.
"""

from __future__ import annotations

import re

import pytest
from emulator_accounts import cmp_account

from airflow_provider_pcinsights import holds
from airflow_provider_pcinsights.emulator import Emulator
from airflow_provider_pcinsights.operators.report import PauseReportOperator, ResumeReportOperator

CONN_ID = "pcinsights_bulk"


@pytest.fixture
def cmp_emu(monkeypatch):
    """An account of 120 reports on cmp v1.1, whose reportId filter takes 50 ids joined by ';'."""
    with cmp_account(monkeypatch, CONN_ID, reports=120) as emulator:
        yield emulator


def _reads(emu: Emulator) -> list:
    return emu.api_requests(method="GET", path_contains="ScheduledReport")


def test_a_list_costs_one_batched_read_and_one_call_per_report_that_needs_it(cmp_emu, logs):
    emu = cmp_emu
    ids = emu.report_ids("cmp")
    already = ids[::6]  # 20 of them paused before the task
    for rid in already:
        emu.set_report_status("cmp", rid, "Paused")

    records = PauseReportOperator(task_id="pause", report_id=ids, conn_id=CONN_ID).execute({})

    assert [r["ReportId"] for r in records] == ids
    assert {emu.report("cmp", rid)["ReportStatus"] for rid in ids} == {"Paused"}
    assert len(_reads(emu)) == 3  # 120 ids, 50 a call
    puts = [r.path.rsplit("/", 1)[-1] for r in emu.api_requests(method="PUT")]
    assert sorted(puts) == sorted(set(ids) - set(already))  # one each, none for those already paused
    unchanged = set(re.findall(r"Paused report (\S+) \([^)]*\): already Paused; nothing changed", logs()))
    assert unchanged == set(already)


def test_on_mpn_the_read_before_is_the_accounts_listing(pcinsights_emulator):
    emu = pcinsights_emulator
    ids = [emu.add_report("mpn", ReportStatus="Paused") for _ in range(8)]

    ResumeReportOperator(task_id="resume", report_id=ids).execute({})

    reads = _reads(emu)
    assert len(reads) == 1  # the whole account on one page: mpn's filter takes one id a call
    assert "reportId" not in reads[0].query
    assert len(emu.api_requests(method="PUT")) == len(ids)


def test_a_long_pause_under_the_services_rate_limit_slows_down_and_loses_no_report(cmp_emu, logs):
    emu = cmp_emu
    ids = emu.report_ids("cmp")[:60]
    emu.faults.rate_limit(rate=60, burst=4)
    # Retry-After says whole seconds; capped short here so the test stays quick.
    fast = {"retries": 8, "backoff_factor": 0.02, "backoff_max": 0.1, "max_retry_after": 0.1}

    records = PauseReportOperator(
        task_id="pause", report_id=ids, conn_id=CONN_ID, max_concurrency=16, hook_params=fast
    ).execute({})

    assert [r["ReportStatus"] for r in records] == ["Paused"] * len(ids)
    refused = [r for r in emu.api_requests() if r.fault and r.fault.startswith("rate_limit")]
    assert refused, "the bucket never ran dry: the test proves nothing"
    assert "The service throttled the pauses: at most 16 at once, down to" in logs()


@pytest.mark.dag_test
def test_the_pause_records_every_hold_before_its_first_call_in_one_write_per_shard(
    pcinsights_emulator, dag_module, monkeypatch
):
    emu = pcinsights_emulator
    before, first, second = emu.report_ids()[:3]
    emu.set_report_status("mpn", before, "Paused")
    for rid in (first, second):
        emu.set_report_status("mpn", rid, "Active")
    writes: list[tuple[str, list[str], int]] = []
    store = holds.Variables.set

    def spy(self, key, value):  # type: ignore[no-untyped-def]
        writes.append((key, sorted(value), len(emu.api_requests(method="PUT"))))
        return store(self, key, value)

    monkeypatch.setattr(holds.Variables, "set", spy)
    module = dag_module("restore_dags")

    module.retried.test(run_conf={"ids": [before, first, second]})

    # The holds, written before any pause: one write per shard they fall in; nothing to trim after.
    # (The restore's own writes come after its resumes: 2 pauses + 2 resumes.)
    pause_writes = [(key, ids, puts) for key, ids, puts in writes if puts < 4]
    shards = {holds.shard_key(first), holds.shard_key(second)}
    assert sorted(key for key, _ids, _puts in pause_writes) == sorted(shards)
    assert sorted(rid for _key, ids, _puts in pause_writes for rid in ids) == sorted([first, second])
    assert {puts for _key, _ids, puts in pause_writes} == {0}
    assert {puts for _key, _ids, puts in writes if puts >= 4} == {4}  # released after the resumes
    assert module.COLLECTED[module.retried.dag_id] == [[first, second]]
    assert [emu.report("mpn", rid)["ReportStatus"] for rid in (before, first, second)] == [
        "Paused",
        "Active",
        "Active",
    ]
