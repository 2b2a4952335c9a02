"""A report's export watcher's rules: which executions are new to its cursor, and when its report's
schedule or record says an export may have come (the triggers' runs are in test_export_event_trigger)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from airflow_provider_pcinsights.triggers import exports


def test_cursor_rules():
    since = datetime.datetime(2026, 3, 1, 6, 0, tzinfo=datetime.timezone.utc)
    cursor = exports.ExportCursor(since)

    def execution(execution_id: str, generated: str, status: str = "Completed") -> dict[str, Any]:
        return {"ExecutionId": execution_id, "ExecutionStatus": status, "ReportGeneratedTime": generated}

    old, same_second, later = (
        execution("a", "2026-03-01T05:59:59Z"),
        execution("b", "2026-03-01T06:00:00Z"),
        execution("c", "2026-03-01T07:00:00Z"),
    )
    found = exports.new_exports(
        [later, old, same_second, execution("d", "2026-03-01T08:00:00Z", "Pending")], cursor
    )
    assert [e["ExecutionId"] for e in found] == ["b", "c"]
    cursor = cursor.advanced(same_second)
    twin = execution("b2", "2026-03-01T06:00:00Z")
    assert [e["ExecutionId"] for e in exports.new_exports([same_second, twin, later], cursor)] == [
        "b2",
        "c",
    ]
    stored = exports.ExportCursor.from_json(cursor.advanced(twin).to_json())
    assert exports.new_exports([same_second, twin, later], stored) == [later]
    assert cursor.merged(stored).last_ids == ["b", "b2"]
    with pytest.raises(ValueError, match="not an export cursor"):
        exports.ExportCursor.from_json('{"last": null}')


def test_the_schedule_says_when_a_run_falls_due():
    record = {"StartTime": "2026-03-01T00:00:00Z", "RecurrenceInterval": 6, "RecurrenceCount": 3}
    at = datetime.datetime.fromisoformat

    assert exports.last_due(record, at("2026-02-28T23:00:00+00:00")) is None
    assert exports.last_due(record, at("2026-03-01T13:00:00+00:00")) == at("2026-03-01T12:00:00+00:00")
    assert exports.last_due(record, at("2026-03-09T00:00:00+00:00")) == at("2026-03-01T12:00:00+00:00")

    plan = exports.ReadPlan("r1", at("2026-03-01T00:30:00+00:00"), catch_up_seconds=10**9)
    assert plan.should_read(record, at("2026-03-01T01:00:00+00:00"))  # the first poll
    plan.looked(at("2026-03-01T01:00:00+00:00"), None)
    assert not plan.should_read(record, at("2026-03-01T05:59:00+00:00"))
    assert plan.should_read(record, at("2026-03-01T06:01:00+00:00"))  # a run fell due at 06:00
    plan.looked(at("2026-03-01T06:01:00+00:00"), None)
    assert plan.should_read(record, at("2026-03-01T06:02:00+00:00"))  # not exported yet: look again
    plan.looked(at("2026-03-01T06:02:00+00:00"), at("2026-03-01T06:01:30+00:00"))
    assert not plan.should_read(record, at("2026-03-01T06:03:00+00:00"))  # exported
    assert not plan.should_read({**record, "ReportStatus": "Paused"}, at("2026-03-01T06:04:00+00:00"))
    assert plan.should_read({**record, "ReportStatus": "Active"}, at("2026-03-01T06:05:00+00:00"))  # resumed


def test_a_change_just_before_the_first_poll_is_looked_at_until_its_export():
    """A resume while the watcher starts: its first poll sees the record already changed."""
    at = datetime.datetime.fromisoformat
    record = {"StartTime": "2026-03-01T00:00:00Z", "RecurrenceInterval": 24, "ReportStatus": "Active"}
    plan = exports.ReadPlan("r1", at("2026-03-02T10:00:00+00:00"), catch_up_seconds=10**9)

    assert plan.should_read(
        {**record, "ModifiedTime": "2026-03-02T10:00:05Z"}, at("2026-03-02T10:00:06+00:00")
    )
    plan.looked(at("2026-03-02T10:00:06+00:00"), at("2026-03-01T00:30:00+00:00"))  # its run not done yet
    assert plan.should_read(
        {**record, "ModifiedTime": "2026-03-02T10:00:05Z"}, at("2026-03-02T10:00:07+00:00")
    )
    plan.looked(at("2026-03-02T10:00:07+00:00"), at("2026-03-02T10:00:07+00:00"))
    assert not plan.should_read(
        {**record, "ModifiedTime": "2026-03-02T10:00:05Z"}, at("2026-03-02T10:00:08+00:00")
    )


def test_a_change_made_while_a_poll_was_on_its_way_is_not_waited_for_after_its_export():
    """The record read at 10:00:00.5 was sent before a resume at 10:00:00.8, and came back at 10:00:01.2:
    the next poll sees the change and reads the export, generated 10:00:00; that is the export the
    change made, so the poll after does not read again (it would, every poll, were the change taken
    to be after the answer came back)."""
    at = datetime.datetime.fromisoformat
    record = {"StartTime": "2026-03-01T00:00:00Z", "RecurrenceInterval": 24, "ReportStatus": "Active"}
    plan = exports.ReadPlan("r1", at("2026-03-02T09:00:00+00:00"), catch_up_seconds=10**9)

    first = at("2026-03-02T10:00:01.200000+00:00")
    assert plan.should_read(record, first, at("2026-03-02T10:00:00.500000+00:00"))
    plan.looked(first, at("2026-03-02T10:00:00+00:00"))  # the resume's export: announced on this poll
    changed = {**record, "ModifiedTime": "2026-03-02T10:00:00Z"}
    assert plan.should_read(changed, at("2026-03-02T10:00:02+00:00"), at("2026-03-02T10:00:01.900000+00:00"))
    plan.looked(at("2026-03-02T10:00:02+00:00"), at("2026-03-02T10:00:00+00:00"))
    assert not plan.should_read(
        changed, at("2026-03-02T10:00:03+00:00"), at("2026-03-02T10:00:02.900000+00:00")
    )
