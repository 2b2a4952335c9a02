"""Scenario 4, fast: every bad answer ends in its typed error, and nothing reaches another host."""

from __future__ import annotations

from reliability_scenarios import bad_answers


def test_every_bad_answer_ends_in_its_typed_error_through_every_entry_point():
    result = bad_answers.run("fast")

    assert result.problems == []
    outcomes = result.extra["outcomes"]
    assert {o.entry for o in outcomes} == {
        "hook: one report",
        "hook: listing",
        "hook: sign-in",
        "pause operator",
        "sensor (poke)",
        "trigger",
    }
    assert [o for o in outcomes if not (o.typed and o.expected)] == []
    assert all(o.secrets_in_message == 0 for o in outcomes)
    assert result.counts.requests_sent == 0  # the other host heard nothing: no token, no secret
    assert result.counts.secrets_found == 0
    assert len({o.shape.name for o in outcomes}) == len(bad_answers.SHAPES)
