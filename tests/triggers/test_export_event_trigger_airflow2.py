"""On Airflow 2 the event trigger imports (DAG files shared between lines parse their imports), and
using it says that event-driven scheduling needs Airflow 3."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_pcinsights.triggers import report
from airflow_provider_pcinsights.triggers.report import BaseEventTrigger, ReportExportEventTrigger

pytestmark = pytest.mark.skipif(BaseEventTrigger is not None, reason="Airflow 3 has event triggers")


def test_creating_it_says_it_needs_airflow_3():
    with pytest.raises(RuntimeError, match=r"needs Airflow 3\.0 or later .*this is Airflow 2\."):
        ReportExportEventTrigger(report_id="r1")


def test_running_it_says_so_too():
    trigger = object.__new__(ReportExportEventTrigger)  # as if restored without its __init__

    async def first_event():
        return await trigger.run().__anext__()

    with pytest.raises(RuntimeError, match="event-driven scheduling"):
        asyncio.run(first_event())
    assert "ReportExecutionSensor" in report.NEEDS_AIRFLOW_3
