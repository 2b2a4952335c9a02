"""A DAG scheduled on a report's exports, under Airflow 3's real triggerer, a restart included.

``scripts/export_events_e2e.py`` starts the emulator and Airflow's components, lets
the example DAG's ``AssetWatcher`` run ``ReportExportEventTrigger`` in the triggerer,
makes three exports (the second while the triggerer is down) and counts one DAG run
per export, each downloading its own. This test runs it and fails with its output.
About two minutes; Airflow 3 only; ``-m "not e2e"`` leaves it out.
"""

from __future__ import annotations

import pytest

from airflow_provider_pcinsights.triggers.report import BaseEventTrigger

TIMEOUT = 420

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(BaseEventTrigger is None, reason="event-driven scheduling needs Airflow 3"),
]


@pytest.mark.timeout(TIMEOUT + 60)
def test_one_dag_run_per_export_across_a_triggerer_restart(run_script):
    run_script("export_events_e2e.py", timeout=TIMEOUT, expect="OK: 3 exports")
