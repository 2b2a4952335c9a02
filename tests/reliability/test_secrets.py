"""Scenario 5, fast: with DEBUG logging everywhere, no secret in anything a deployment keeps."""

from __future__ import annotations

import pytest
from reliability_scenarios import secrets_scan


@pytest.mark.dag_test
@pytest.mark.timeout(600)
def test_no_secret_is_found_in_anything_captured():
    result = secrets_scan.run("fast")

    assert result.problems == []
    assert result.counts.secrets_found == 0
    assert result.extra["canaries"] == 1  # the search does find a secret where one is printed on purpose
    assert result.counts.final_states_correct == result.counts.final_states_total > 0
    searched = result.extra["searched"]
    assert searched.by_kind.keys() >= {
        "captured log-records",
        "captured exceptions",
        "captured xcom",
        "captured rendered-fields",
        "captured reprs",
        "captured trigger-kwargs",
        "the child's stdout",
    }
