"""The provider never breaks the triggerer's own channel to its supervisor (issue 13, point 1).

On Airflow 3.0 and 3.1 the trigger runner's channel (``TriggerCommsDecoder``) holds an
``asyncio.Lock`` and a stream reader of the triggerer's loop, and its synchronous ``send`` is
``async_to_sync(self.asend)``. ``mask_secret`` calls that ``send``. From a thread started by
``sync_to_async`` asgiref runs ``asend`` on the triggerer's loop; from any other thread
(``asyncio.to_thread``, a plain thread pool) on a new loop in another thread, and the real
runner then reads its replies out of order and dies ("Response read out of order! Got
frame.id=28, expect_id=30"). The channel below behaves like that one: every ``send`` is
recorded with the loop it reached, and one that reaches another loop fails as Airflow's would.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from emulator_accounts import cmp_account
from trigger_runs import all_events

from airflow_provider_pcinsights.triggers.hub import poll_hub
from airflow_provider_pcinsights.triggers.report import ReportExecutionTrigger, ReportStatusTrigger

task_runner = pytest.importorskip(
    "airflow.sdk.execution_time.task_runner", reason="Airflow 2 has no supervisor channel in the triggerer"
)

CONN_ID = "pcinsights_channel"
FAST = {"retries": 1, "backoff_factor": 0.01, "backoff_max": 0.05, "max_retry_after": 0.1}


class TriggerRunnerChannel:
    """A stand-in for Airflow 3.0/3.1's ``TriggerCommsDecoder``: made on the triggerer's loop,
    ``send`` is ``async_to_sync(asend)``, and ``asend`` only works on the loop that owns it."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._lock = asyncio.Lock()
        self.sends: list[tuple[str, str]] = []  # (message type, thread that sent it)
        self.foreign: list[tuple[str, str]] = []

    def send(self, msg: Any) -> Any:
        from asgiref.sync import async_to_sync

        return async_to_sync(self._asend_from)(msg, threading.current_thread().name)

    async def asend(self, msg: Any) -> Any:
        return await self._asend_from(msg, threading.current_thread().name)

    async def _asend_from(self, msg: Any, sender: str) -> Any:
        sent = (type(msg).__name__, sender)
        if asyncio.get_running_loop() is not self.loop:
            # The real channel would now read its replies from two loops at once.
            self.foreign.append(sent)
            raise RuntimeError("Response read out of order! (sent from a loop that is not the triggerer's)")
        async with self._lock:
            self.sends.append(sent)
            await asyncio.sleep(0)  # the reply is read from the loop's stream
            return None


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, msg: Any) -> None:
        self.sent.append(msg)


@pytest.fixture(autouse=True, scope="module")
def _mask_secret_uses_the_channel():
    """Airflow 3.0.0's ``mask_secret`` masks in the process only (3.0.6 tells the supervisor too):
    there the hub sends nothing through the channel, and these tests would prove nothing."""
    from airflow.providers.common.compat.sdk import mask_secret

    recorder = _Recorder()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(task_runner, "SUPERVISOR_COMMS", recorder, raising=False)
        mask_secret("a-probe-that-is-long-enough")
    if not recorder.sent:
        pytest.skip("this Airflow's mask_secret does not send to the supervisor")


@pytest.fixture
def emu(monkeypatch):
    # 60 reports: a read of all of them is two batches of cmp v1.1, sent at once from two
    # threads, and the first of them signs in (a new token is masked from that thread).
    with cmp_account(monkeypatch, CONN_ID, reports=60) as emulator:
        yield emulator


async def _with_channel(monkeypatch: pytest.MonkeyPatch, scenario: Any) -> tuple[Any, TriggerRunnerChannel]:
    channel = TriggerRunnerChannel()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", channel, raising=False)
    try:
        result = await scenario()
        await poll_hub().wait_closed()
    finally:
        monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", None, raising=False)
    return result, channel


def _masked(channel: TriggerRunnerChannel) -> int:
    return sum(1 for kind, _ in channel.sends if kind == "MaskSecret")


def test_the_hub_sends_to_airflow_only_through_the_triggerers_loop(emu, monkeypatch):
    ids = emu.report_ids("cmp")
    assert len(ids) == 60

    async def scenario():
        async with poll_hub().reader(CONN_ID, FAST) as reader:
            records = await reader.read(ids)  # look-up, hook, sign-in, two batches at once
            executions = await reader.call(
                lambda hook, rid: hook.get_report_executions(rid), ids[0]
            )  # a call that cannot be batched
        return records, executions

    (records, executions), channel = asyncio.run(_with_channel(monkeypatch, scenario))

    assert sorted(records) == sorted(ids)
    assert isinstance(executions, list)
    assert channel.foreign == []
    # The client secret (when the hook reads the connection) and the new token were masked,
    # through the channel, on the triggerer's loop.
    assert _masked(channel) >= 2
    # The sign-in happened in one of the threads of the batched read: the path a plain thread
    # pool would break.
    assert any(sender.startswith("pcinsights-read") for _, sender in channel.sends), channel.sends


def test_both_triggers_run_to_their_event_without_touching_the_channel_from_another_loop(emu, monkeypatch):
    paused, *active = emu.report_ids("cmp")
    emu.set_report_status("cmp", paused, "Paused")  # no execution will come: its wait ends at once

    async def scenario():
        status = ReportStatusTrigger(
            active, ["Active"], ["Inactive"], conn_id=CONN_ID, poll_interval=0.05, hook_params=FAST
        )
        execution = ReportExecutionTrigger(
            [paused], "2099-01-01T00:00:00Z", conn_id=CONN_ID, poll_interval=0.05, hook_params=FAST
        )
        return await asyncio.gather(all_events(status), all_events(execution))

    (status_events, execution_events), channel = asyncio.run(_with_channel(monkeypatch, scenario))

    assert [e.payload["status"] for e in status_events] == ["success"]
    assert [e.payload["status"] for e in execution_events] == ["failure"]
    assert f"{paused} (Paused)" in execution_events[0].payload["message"]
    assert channel.foreign == []
    assert _masked(channel) >= 2
