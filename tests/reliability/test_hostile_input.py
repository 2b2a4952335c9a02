"""Scenario 3, fast: every kind of bad input is refused naming the field and the problem, nothing sent."""

from __future__ import annotations

from reliability_scenarios import hostile_input


def test_every_kind_of_bad_input_is_refused_before_anything_is_sent():
    result = hostile_input.run("fast")

    assert result.problems == []
    assert result.counts.inputs_total >= 60
    assert result.counts.inputs_refused == result.counts.inputs_total
    assert result.counts.requests_sent == 0  # not a sign-in, not a discovery, not an API call
    groups = {verdict.kind.group for verdict in result.extra["verdicts"]}
    assert groups == {"report id", "list", "status", "setting", "connection", "hook argument"}
