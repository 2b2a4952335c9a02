"""The poll hub never reads a connection twice at once for the same readers: a poll that falls due
while a read covering it is on the wire gets that read's answer, and the same unbatchable call asked
twice at once is made once. Counted at the emulator, whose every call is slowed down here."""

from __future__ import annotations

import asyncio

import pytest
from emulator_accounts import cmp_account

from airflow_provider_pcinsights.triggers.hub import poll_hub

CONN_ID = "pcinsights_hub"
FAST = {"retries": 0}
SLOW = 0.6  # seconds the emulator takes for each API call: longer than the hub's gathering window


@pytest.fixture
def emu(monkeypatch):
    with cmp_account(monkeypatch, CONN_ID, reports=20) as emulator:
        yield emulator


def _gets(emu) -> int:
    return len(emu.api_requests(method="GET"))


def test_a_poll_due_while_a_read_is_on_the_wire_gets_that_reads_answer(emu):
    first, second = emu.report_ids("cmp")[:2]
    emu.set_report_status("cmp", second, "Paused")

    async def scenario():
        hub = poll_hub()
        async with hub.reader(CONN_ID, FAST) as early, hub.reader(CONN_ID, FAST) as late:
            await asyncio.gather(early.read([first]), late.read([second]))  # both known to the hub
            await asyncio.gather(early.sleep(0.2), late.sleep(0.2))  # the same interval: due together
            emu.faults.latency = SLOW
            before = _gets(emu)
            reading = asyncio.ensure_future(early.read([first]))
            while hub.stats.reads < 2:  # the early one's read is gathered and on its way
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            late_records = await late.read([second])  # falls due while that read is in flight
            early_records = await reading
            calls = _gets(emu) - before
        await hub.wait_closed()
        return hub, early_records, late_records, calls

    hub, early_records, late_records, calls = asyncio.run(scenario())

    assert early_records[first]["ReportStatus"] == "Active"
    assert late_records[second]["ReportStatus"] == "Paused"
    assert calls == 1  # one read (cmp v1.1: both ids in one call), not a second one after it
    assert (hub.stats.reads, hub.stats.joined) == (2, 1)


def test_the_same_call_asked_twice_at_once_is_made_once(emu):
    report_id = emu.report_ids("cmp")[0]

    def executions(hook, rid):
        return hook.get_report_executions(rid, execution_status="Completed", get_latest_execution=False)

    async def scenario():
        hub = poll_hub()
        async with hub.reader(CONN_ID, FAST) as one, hub.reader(CONN_ID, FAST) as two:
            await one.read([report_id])  # signed in and looked up before counting
            emu.faults.latency = SLOW
            before = _gets(emu)
            answers = await asyncio.gather(one.call(executions, report_id), two.call(executions, report_id))
            calls = _gets(emu) - before
        await hub.wait_closed()
        return hub, answers, calls

    hub, (first, second), calls = asyncio.run(scenario())

    assert [e["ExecutionId"] for e in first] == [e["ExecutionId"] for e in second]
    assert first
    assert calls == 1
    assert hub.stats.calls == 1
