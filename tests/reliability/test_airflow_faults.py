"""Scenario 2, fast: a killed worker, a restarted triggerer and a restarted emulator under Airflow's real
scheduler and triggerer (about two minutes per Airflow line; ``-m "not e2e"`` leaves it out)."""

from __future__ import annotations

import pytest
from reliability_scenarios import airflow_faults

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(600)
def test_airflow_faults_leave_every_report_and_every_wait_as_intended():
    result = airflow_faults.run("fast")
    assert set(result.extra) == {"kill", "triggerer", "emulator"}, result.problems
    kill, waits, restart = result.extra["kill"], result.extra["triggerer"], result.extra["emulator"]

    assert kill["killed"]
    assert kill["pause_tries"] == 2  # Airflow retried the killed try...
    assert kill["unchanged_reported"] >= kill["paused_before_kill"] > 0  # ...which said what was done already
    assert kill["run_state"] == "success"

    assert waits["right_verdicts"] == waits["waits"]
    assert waits["errors"] == []

    assert restart["run_state"] == "success"
    assert restart["kept"] == restart["paused_before"] > 0
    assert restart["correct"] == restart["total"]

    assert kill["correct"] == kill["total"]  # the report paused before the run stays paused
    assert result.problems == []
