"""A trigger that fails, fails alone (issue 13, point 3).

An error raised anywhere in the provider's trigger code, even a ``BaseException`` that is not an
``Exception`` (what a bug may raise), ends that trigger with an ``error`` event carrying it
(the sensor then fails the task with its message); nothing reaches the triggerer's loop, the
other triggers of the same poll hub end too instead of waiting for ever, and the hub serves the
next trigger as if nothing had happened.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from trigger_runs import all_events

from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook
from airflow_provider_pcinsights.triggers import hub
from airflow_provider_pcinsights.triggers.hub import poll_hub
from airflow_provider_pcinsights.triggers.report import ReportStatusTrigger
from airflow_provider_pcinsights.waiting import StatusCondition


class Bug(BaseException):
    """What a bug might raise: not an ``Exception``, so ``except Exception`` lets it through."""


def _raiser(stage: str, *, coroutine: bool = False) -> Any:
    def raise_bug(*args: Any, **kwargs: Any) -> Any:
        raise Bug(f"injected in the {stage}")

    async def araise_bug(*args: Any, **kwargs: Any) -> Any:
        raise Bug(f"injected in the {stage}")

    return araise_bug if coroutine else raise_bug


# Each stage of a wait, and where a failure is injected in it.
STAGES = {
    "condition": (StatusCondition, "__init__", False),
    "look-up": (hub, "lookup_connection", True),
    "hook build": (hub._Shared, "_build_hook", False),
    "read": (PartnerCenterInsightsHook, "get_reports", False),
    "judging": (StatusCondition, "judge", False),
    "flusher": (hub._Shared, "_serve", True),  # a bug in the hub's own loop, shared by every reader
}


@pytest.fixture
def emu(pcinsights_emulator):
    return pcinsights_emulator


def _trigger(report_id: str) -> ReportStatusTrigger:
    return ReportStatusTrigger(
        [report_id], ["Active"], ["Inactive"], poll_interval=0.05, hook_params={"retries": 0}
    )


async def _run_with_loop_errors(*triggers: ReportStatusTrigger) -> tuple[list[list[Any]], list[dict]]:
    """Every trigger's events, and what reached the loop's exception handler meanwhile."""
    loop = asyncio.get_running_loop()
    reached_the_loop: list[dict] = []
    loop.set_exception_handler(lambda _, context: reached_the_loop.append(context))
    events = await asyncio.gather(*(all_events(t) for t in triggers), return_exceptions=True)
    await poll_hub().wait_closed()
    gc.collect()  # "Task exception was never retrieved" is reported when the task is collected
    await asyncio.sleep(0)
    return list(events), reached_the_loop


@pytest.mark.timeout(60)  # a hang guard: the old hub left readers waiting for ever
@pytest.mark.parametrize("stage", list(STAGES))
def test_a_failure_at_any_stage_ends_each_trigger_with_an_error_event_alone(emu, monkeypatch, stage):
    first, second = emu.report_ids()[:2]
    owner, name, coroutine = STAGES[stage]

    async def scenario():  # type: ignore[no-untyped-def]
        with monkeypatch.context() as patch:
            patch.setattr(owner, name, _raiser(stage, coroutine=coroutine))
            failed = await _run_with_loop_errors(_trigger(first), _trigger(second))
        # The hub is left as it should be: the next trigger of the same connection is served.
        after = await all_events(_trigger(first))
        return failed, after, poll_hub().readers

    (events, reached_the_loop), after, readers_left = asyncio.run(scenario())

    for run in events:
        assert not isinstance(run, BaseException), run  # run() itself never raised
        assert [event.payload["status"] for event in run] == ["error"]
        message = run[0].payload["message"]
        assert message.endswith(f"Bug: injected in the {stage}"), message
    assert reached_the_loop == []
    assert [event.payload["status"] for event in after] == ["success"]
    assert readers_left == 0


def test_an_error_whose_message_cannot_be_made_still_ends_the_trigger_with_an_event(emu, monkeypatch):
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no message")

    def judge(self, observations):  # type: ignore[no-untyped-def]
        raise Unprintable

    monkeypatch.setattr(StatusCondition, "judge", judge)

    (run,), _ = asyncio.run(_run_with_loop_errors(_trigger(emu.report_ids()[0])))

    assert [event.payload["status"] for event in run] == ["error"]
    assert run[0].payload["message"].startswith("Unprintable")


def test_a_cancelled_trigger_is_cancelled_not_turned_into_an_event(emu):
    async def scenario():  # type: ignore[no-untyped-def]
        trigger = ReportStatusTrigger(
            [emu.report_ids()[0]], ["Paused"], ["Inactive"], poll_interval=0.05, hook_params={"retries": 0}
        )
        task = asyncio.ensure_future(all_events(trigger))
        while poll_hub().readers == 0:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await poll_hub().wait_closed()
        return poll_hub().readers

    assert asyncio.run(scenario()) == 0
