"""The poll hub: many waits on one event loop share a look-up, a session and their polls.

Driven directly with asyncio against the emulator, as the triggers drive it. Calls and
connections are counted at the emulator.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from emulator_accounts import cmp_account

from airflow_provider_pcinsights.emulator import Emulator
from airflow_provider_pcinsights.exceptions import ReportNotFoundError, UnreadableStatusError
from airflow_provider_pcinsights.hooks.batch import READ_CONCURRENCY
from airflow_provider_pcinsights.triggers.hub import PollHub, next_tick, poll_hub

CONN_ID = "pcinsights_hub"
FAST = {"retries": 1, "backoff_factor": 0.01, "backoff_max": 0.05, "max_retry_after": 0.1}


@pytest.fixture
def emu(monkeypatch):
    with cmp_account(monkeypatch, CONN_ID, reports=20) as emulator:
        yield emulator


def _reads(emu: Emulator) -> list:
    return emu.api_requests(method="GET", path_contains="ScheduledReport")


def _run(scenario):  # type: ignore[no-untyped-def]
    return asyncio.run(scenario())


async def _wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Until ``condition()`` holds (the emulator sees a closed connection a moment after the client)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition never came true")
        await asyncio.sleep(0.02)


def test_a_thousand_waits_share_one_lookup_one_session_and_a_few_calls_a_poll(monkeypatch):
    rounds = 3
    with Emulator(reports=1000) as emu:
        for name, value in emu.connection_env(CONN_ID, program="cmp").items():
            monkeypatch.setenv(name, value)
        ids = emu.report_ids("cmp")
        seen: dict[str, list[str]] = {rid: [] for rid in ids}

        async def wait(hub: PollHub, report_id: str) -> None:
            async with hub.reader(CONN_ID, FAST) as reader:
                for poll in range(rounds):
                    records = await reader.read([report_id])
                    seen[report_id].append(records[report_id]["ReportId"])
                    if poll < rounds - 1:
                        await reader.sleep(0.5)

        async def scenario() -> PollHub:
            hub = poll_hub()
            await asyncio.gather(*(wait(hub, rid) for rid in ids))  # a triggerer restart: all at once
            await hub.wait_closed()
            return hub

        emu.reset()
        hub = _run(scenario)

        assert seen == {rid: [rid] * rounds for rid in ids}  # each wait got its own report, every poll
        assert (hub.stats.lookups, hub.stats.hooks_built, hub.stats.hooks_closed) == (1, 1, 1)
        assert hub.stats.requests == 1000 * rounds
        # Every poll of every wait in one read a round (20 calls: 1,000 ids, 50 a call); a loaded machine
        # may split one, never beyond the bound of 40 calls a poll interval.
        assert hub.stats.reads <= rounds + 1
        assert len(_reads(emu)) <= 40 * rounds
        api_connections = {r.connection for r in emu.api_requests()}
        assert len(api_connections) <= READ_CONCURRENCY  # one pooled session, a few batches at once
        assert emu.connections()["peak_open"] <= 16


def test_each_reader_gets_its_own_reports_and_status_changes_as_they_happen(emu):
    ids = emu.report_ids("cmp")[:6]
    emu.set_report_status("cmp", ids[0], "Paused")
    emu.change_status_after_reads("cmp", ids[0], "Active", reads=1)

    async def scenario():
        hub = poll_hub()

        async def reader_of(group: list[str]) -> list[dict]:
            async with hub.reader(CONN_ID, FAST) as reader:
                first = await reader.read(group)
                await reader.sleep(0.2)
                return [first, await reader.read([rid.upper() for rid in group])]

        answers = await asyncio.gather(reader_of(ids[:2]), reader_of(ids[2:4]), reader_of(ids[3:]))
        await hub.wait_closed()
        return answers

    (a, b, c) = _run(scenario)
    assert list(a[0]) == ids[:2]
    assert list(b[0]) == ids[2:4]
    assert list(c[0]) == ids[3:]  # ids[3] belongs to two readers: each gets it
    assert a[0][ids[0]]["ReportStatus"] == "Paused"
    assert list(a[1]) == [ids[0].upper(), ids[1].upper()]  # keyed by the ids as given
    assert a[1][ids[0].upper()]["ReportStatus"] == "Active"
    assert len(_reads(emu)) == 2  # one call a round for all three readers


def test_an_unknown_report_is_absent_and_a_bad_id_fails_only_its_reader(emu):
    known = emu.report_ids("cmp")[0]
    unknown = "00000000-0000-4000-8000-00000000dead"

    async def scenario():
        hub = poll_hub()

        async def read(ids):  # type: ignore[no-untyped-def]
            async with hub.reader(CONN_ID, FAST) as reader:
                return await reader.read(ids)

        results = await asyncio.gather(read([known, unknown]), read(["a/b"]), return_exceptions=True)
        await hub.wait_closed()
        return results

    good, bad = _run(scenario)
    assert list(good) == [known]
    assert isinstance(bad, ValueError)
    assert "a/b" not in "".join(r.query.get("reportId", "") for r in _reads(emu))


def test_a_report_nobody_can_read_fails_its_reader_only(emu):
    ids = emu.report_ids("cmp")[:3]
    weird = {"Value": [{"reportId": ids[0], "reportStatus": "Suspended"}]}
    emu.faults.json_body(count=1, body=weird)

    async def scenario():
        hub = poll_hub()

        async def read(group):  # type: ignore[no-untyped-def]
            async with hub.reader(CONN_ID, FAST) as reader:
                return await reader.read(group)

        results = await asyncio.gather(read([ids[0]]), read(ids[1:]), return_exceptions=True)
        await hub.wait_closed()
        return results

    first, others = _run(scenario)
    assert isinstance(first, UnreadableStatusError)
    assert list(others) == ids[1:]


def test_a_failed_read_reaches_every_reader_waiting_for_it_each_with_its_own_error(emu):
    emu.faults.fail(count=10, status=503)

    async def scenario():
        hub = poll_hub()

        async def read(rid):  # type: ignore[no-untyped-def]
            async with hub.reader(CONN_ID, FAST) as reader:
                return await reader.read([rid])

        results = await asyncio.gather(
            *(read(rid) for rid in emu.report_ids("cmp")[:5]), return_exceptions=True
        )
        await hub.wait_closed()
        return results

    errors = _run(scenario)
    assert {type(e).__name__ for e in errors} == {"ServiceUnavailableError"}
    assert len({id(e) for e in errors}) == 5  # not one instance raised in five tasks


def test_a_cancelled_reader_leaves_cleanly_and_the_last_one_out_closes_the_session(emu):
    ids = emu.report_ids("cmp")[:4]
    emu.faults.latency = 0.3  # so the readers are cancelled while their read is on the wire

    async def scenario():
        hub = poll_hub()
        started = asyncio.Event()

        async def wait(rid):  # type: ignore[no-untyped-def]
            async with hub.reader(CONN_ID, FAST) as reader:
                started.set()
                while True:
                    await reader.read([rid])
                    await reader.sleep(0.1)

        tasks = [asyncio.ensure_future(wait(rid)) for rid in ids]
        await started.wait()
        await _wait_for(lambda: len(_reads(emu)) >= 1 or emu.connections()["open"] >= 2)
        await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        readers_left = hub.readers
        await hub.wait_closed()
        await _wait_for(lambda: emu.connections()["open"] <= 1)  # only the sign-in's session stays
        return hub, readers_left, tasks

    hub, readers_left, tasks = _run(scenario)
    assert readers_left == 0
    assert all(task.cancelled() for task in tasks)
    assert (hub.stats.hooks_built, hub.stats.hooks_closed) == (1, 1)


def test_the_same_wait_run_twice_is_served_twice_and_one_leaving_does_not_end_the_other(emu):
    rid = emu.report_ids("cmp")[0]

    async def scenario():
        hub = poll_hub()
        first_left = asyncio.Event()

        async def once():  # type: ignore[no-untyped-def]
            async with hub.reader(CONN_ID, FAST) as reader:
                answer = await reader.read([rid])
            first_left.set()
            return answer

        async def twice():  # type: ignore[no-untyped-def]
            async with hub.reader(CONN_ID, FAST) as reader:
                answer = await reader.read([rid])
                await first_left.wait()
                return answer, await reader.read([rid])

        results = await asyncio.gather(once(), twice())
        await hub.wait_closed()
        return hub, results

    hub, (one, (two, again)) = _run(scenario)
    # The same report, as it stands, each time (its id and status, not the whole record).
    assert [(r[rid]["ReportId"], r[rid]["ReportStatus"]) for r in (one, two, again)] == [(rid, "Active")] * 3
    assert hub.stats.hooks_built == 1


def test_readers_of_other_connections_or_hook_params_do_not_share(emu, monkeypatch):
    for name, value in emu.connection_env("pcinsights_other", program="cmp").items():
        monkeypatch.setenv(name, value)
    rid = emu.report_ids("cmp")[0]

    async def scenario():
        hub = poll_hub()

        async def read(conn_id, params):  # type: ignore[no-untyped-def]
            async with hub.reader(conn_id, params) as reader:
                return await reader.read([rid])

        await asyncio.gather(
            read(CONN_ID, FAST),
            read(CONN_ID, dict(FAST)),
            read("pcinsights_other", FAST),
            read(CONN_ID, {"retries": 0}),
        )
        await hub.wait_closed()
        return hub

    hub = _run(scenario)
    assert (hub.stats.lookups, hub.stats.hooks_built, hub.stats.hooks_closed) == (3, 3, 3)


def test_an_unknown_connection_fails_each_reader_and_sends_nothing(emu):
    async def scenario():
        hub = poll_hub()

        async def read():  # type: ignore[no-untyped-def]
            async with hub.reader("pcinsights_nowhere", FAST) as reader:
                return await reader.read([emu.report_ids("cmp")[0]])

        return await asyncio.gather(read(), read(), return_exceptions=True)

    errors = _run(scenario)
    assert all("pcinsights_nowhere" in str(error) for error in errors)
    assert emu.requests == []


def test_the_connection_is_looked_up_again_after_its_time_and_a_changed_one_gets_a_new_session(
    emu, monkeypatch
):
    rid = emu.report_ids("cmp")[0]
    monkeypatch.setattr("airflow_provider_pcinsights.triggers.hub.CONNECTION_TTL", 0)  # before every read

    async def scenario():
        hub = PollHub()

        async with hub.reader(CONN_ID, FAST) as reader:
            await reader.read([rid])
            await reader.read([rid])
            unchanged = (hub.stats.lookups, hub.stats.hooks_built)
            for name, value in emu.connection_env(CONN_ID, program="cmp", timeout=17).items():
                monkeypatch.setenv(name, value)  # the connection was edited meanwhile
            await reader.read([rid])
            changed = (hub.stats.lookups, hub.stats.hooks_built)
        await hub.wait_closed()
        return unchanged, changed, hub.stats.hooks_closed

    unchanged, changed, closed = _run(scenario)
    assert unchanged == (2, 1)  # looked up twice, the same hook kept
    assert changed == (3, 2)  # a new hook for the new settings
    assert closed == 2  # the old one closed once replaced, the new one when the reader left


def test_no_synchronous_connection_lookup_happens_on_the_event_loop(emu, monkeypatch):
    """As in the trigger's own test: the lookup raises when called from a thread running an event loop."""
    from airflow.providers.common.compat.sdk import BaseHook

    real_lookup = BaseHook.get_connection.__func__
    refused: list[str] = []

    def lookup_refused_on_the_loop(cls, conn_id):  # type: ignore[no-untyped-def]
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return real_lookup(cls, conn_id)
        refused.append(conn_id)
        raise RuntimeError("You cannot use AsyncToSync in the same thread as an async event loop")

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(lookup_refused_on_the_loop))

    async def scenario():
        async with poll_hub().reader(CONN_ID, FAST) as reader:
            return await reader.read(emu.report_ids("cmp")[:1])

    assert len(_run(scenario)) == 1
    assert refused == []


def test_a_call_that_cannot_be_batched_shares_the_hook(emu):
    rid = emu.report_ids("cmp")[0]

    async def scenario():
        hub = poll_hub()
        async with hub.reader(CONN_ID, FAST) as reader:
            executions = await reader.call(lambda hook, report_id: hook.get_report_executions(report_id), rid)
            records = await reader.read([rid])
        await hub.wait_closed()
        return hub, executions, records

    hub, executions, records = _run(scenario)
    assert [e["ReportId"] for e in executions] == [rid]
    assert list(records) == [rid]
    assert hub.stats.hooks_built == 1

    async def unknown():  # type: ignore[no-untyped-def]
        async with poll_hub().reader(CONN_ID, FAST) as reader:
            await reader.call(lambda hook: hook.get_report("00000000-0000-4000-8000-00000000dead"))

    with pytest.raises(ReportNotFoundError):
        _run(unknown)


def test_readers_served_by_one_read_sleep_to_the_same_tick_however_late_each_got_its_answer():
    read_at = 100.74  # its answers handed out on both sides of 100.75, half an interval before 101.0
    woke = {next_tick(read_at, now, 0.5) for now in (100.745, 100.75, 100.76, 100.9)}
    assert woke == {101.0}  # counted from "now", some would wake at 101.0 and the rest at 101.5
    assert next_tick(None, 100.1, 0.5) == 100.5  # no read yet: from now
    assert next_tick(90.0, 100.1, 0.5) == 100.5  # a read long ago: the next tick to come
    assert next_tick(100.0, 100.0, 4) == 104  # half an interval at least after the read
