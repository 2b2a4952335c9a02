"""Scenario 1, fast: 30% of API calls failing, and then all of them, through the operators in DAG runs."""

from __future__ import annotations

import pytest
from reliability_scenarios import transient_faults


@pytest.mark.dag_test
def test_every_action_ends_in_its_intended_state_and_every_failure_is_typed_and_bounded():
    result = transient_faults.run("fast")

    assert result.problems == []
    assert result.counts.final_states_correct == result.counts.final_states_total == 24
    assert result.counts.faults_injected > 0
    assert result.counts.retries > 0
    kinds = result.extra["by_kind"]
    assert any(kind.startswith("fail:") for kind in kinds)
    assert "lose_answer" in kinds or "drop" in kinds
    doomed = result.extra["doomed"]
    assert doomed["failed"] == doomed["tasks"] == doomed["clear"] > 0
