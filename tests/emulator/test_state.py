"""Status changes after N reads: the emulator flips a report's status itself, deterministically."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from emulator_support.clients import Api, VerifyingSession, app_plus_user_token, values

from airflow_provider_pcinsights.emulator import Emulator


def _read(api: Api, report_id: str, **kwargs) -> str:  # type: ignore[no-untyped-def]
    """GET the report by id; the status it was answered with."""
    answer = api.get("ScheduledReport", params={"reportId": report_id}, **kwargs)
    assert answer.status_code == 200, answer.text
    return values(answer)[0]["ReportStatus"]


def test_the_nth_read_still_answers_the_old_status_and_the_next_the_new(emu: Emulator, api: Api) -> None:
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Paused")
    emu.change_status_after_reads("mpn", report_id, "Active", reads=2)

    assert [_read(api, report_id) for _ in range(4)] == ["Paused", "Paused", "Active", "Active"]
    assert emu.reads("mpn", report_id) == 4
    assert emu.scheduled_status_changes() == []
    gets = emu.api_requests(method="GET")
    assert [r.report_status for r in gets] == ["Paused", "Paused", "Active", "Active"]  # as answered
    assert [r.status_changes for r in gets] == [None, {report_id: "Active"}, None, None]


def test_reads_default_to_one_and_count_from_when_the_change_is_queued(emu: Emulator, api: Api) -> None:
    report_id = emu.report_ids()[0]
    assert [_read(api, report_id) for _ in range(3)] == ["Active"] * 3
    emu.change_status_after_reads("mpn", report_id, "Paused")
    assert [_read(api, report_id) for _ in range(2)] == ["Active", "Paused"]
    assert emu.reads("mpn", report_id) == 5


def test_changes_of_one_report_apply_in_order_each_counting_from_the_one_before(
    emu: Emulator, api: Api
) -> None:
    report_id, other = emu.report_ids()[:2]
    emu.set_report_status("mpn", report_id, "Paused")
    emu.change_status_after_reads("mpn", report_id, "Active", reads=1)
    emu.change_status_after_reads("mpn", report_id, "Inactive", reads=2)
    emu.change_status_after_reads("mpn", other, "Paused", reads=3)
    assert emu.scheduled_status_changes() == [
        {"program": "mpn", "report_id": report_id, "status": "Active", "reads": 1, "reads_left": 1},
        {"program": "mpn", "report_id": report_id, "status": "Inactive", "reads": 2, "reads_left": 2},
        {"program": "mpn", "report_id": other, "status": "Paused", "reads": 3, "reads_left": 3},
    ]

    assert [_read(api, report_id) for _ in range(5)] == ["Paused", "Active", "Active", "Inactive", "Inactive"]
    # Another report's reads are its own.
    assert emu.scheduled_status_changes() == [
        {"program": "mpn", "report_id": other, "status": "Paused", "reads": 3, "reads_left": 3}
    ]
    assert emu.report("mpn", other)["ReportStatus"] == "Active"


def test_every_answer_that_includes_the_report_is_a_read_and_nothing_else_is(emu: Emulator, api: Api) -> None:
    first, second = emu.report_ids()[:2]
    emu.change_status_after_reads("mpn", second, "Paused", reads=3)

    assert api.get("ScheduledReport").status_code == 200  # the whole list: a read of each
    assert [emu.reads("mpn", rid) for rid in emu.report_ids()] == [1, 1, 1]
    emu.behaviour.page_size = 1
    assert [r["ReportId"] for r in values(api.get("ScheduledReport"))] == [first]  # page 1 only
    name = emu.report("mpn", second)["ReportName"]
    assert values(api.get("ScheduledReport", params={"reportName": name}))[0]["ReportStatus"] == "Active"
    assert emu.reads("mpn", second) == 2

    # Not reads: a 404, a faulted call, an execution query, an action, a call without a token.
    assert api.get("ScheduledReport", params={"reportId": "nope"}).status_code == 404
    emu.faults.fail(count=1, status=503)
    assert api.get("ScheduledReport", params={"reportId": second}).status_code == 503
    api.get(f"ScheduledReport/execution/{second}")
    api.put(f"ScheduledReport/resume/{second}")
    assert (
        api.get("ScheduledReport", params={"reportId": second}, headers={"Authorization": ""}).status_code
        == 401
    )
    assert emu.reads("mpn", second) == 2
    assert emu.report("mpn", second)["ReportStatus"] == "Active"

    assert _read(api, second) == "Active"  # the third read answers, then the change applies
    assert _read(api, second) == "Paused"


def test_cmp_v1_1_naming_a_report_twice_reads_it_once(emu: Emulator, api: Api) -> None:
    report_id = emu.report_ids("cmp")[0]
    emu.change_status_after_reads("cmp", report_id, "Paused", reads=2)
    answer = api.get(
        "ScheduledReport", program="cmp", version="v1.1", params={"reportId": f"{report_id};{report_id}"}
    )
    assert answer.status_code == 200
    assert emu.reads("cmp", report_id) == 1
    assert emu.report("cmp", report_id)["ReportStatus"] == "Active"
    assert emu.reads("mpn", emu.report_ids("mpn")[0]) == 0  # programs count apart


def test_concurrent_reads_see_the_old_status_exactly_n_times() -> None:
    with Emulator(reports=1) as emu:
        report_id = emu.report_ids()[0]
        emu.set_report_status("mpn", report_id, "Paused")
        emu.change_status_after_reads("mpn", report_id, "Active", reads=7)

        def read_five_times(_: int) -> list[str]:
            with VerifyingSession(emu.ca_path) as session:
                api = Api(emu, session, app_plus_user_token(emu, session).json()["access_token"])
                return [_read(api, report_id) for _ in range(5)]

        with ThreadPoolExecutor(max_workers=6) as pool:
            answers = [s for statuses in pool.map(read_five_times, range(6)) for s in statuses]

        assert sorted(answers) == ["Active"] * 23 + ["Paused"] * 7
        assert emu.reads("mpn", report_id) == 30
        changes = [r.status_changes for r in emu.api_requests(method="GET") if r.status_changes]
        assert changes == [{report_id: "Active"}]


def test_bad_changes_are_refused(emu: Emulator) -> None:
    report_id = emu.report_ids()[0]
    with pytest.raises(ValueError, match="status must be one of Active, Paused, Inactive"):
        emu.change_status_after_reads("mpn", report_id, "Sleeping")
    for reads in (0, -1, True, 1.5, "2"):
        with pytest.raises(ValueError, match="reads must be a positive integer"):
            emu.change_status_after_reads("mpn", report_id, "Paused", reads=reads)  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="no mpn report"):
        emu.change_status_after_reads("mpn", "nope", "Paused")
    with pytest.raises(KeyError, match="unknown program"):
        emu.change_status_after_reads("xyz", report_id, "Paused")
    with pytest.raises(KeyError, match="no mpn report"):
        emu.reads("mpn", "nope")
    assert emu.scheduled_status_changes() == []


def test_reset_forgets_reads_and_changes_and_deleting_a_report_drops_its_changes(
    emu: Emulator, api: Api
) -> None:
    first, second = emu.report_ids()[:2]
    emu.change_status_after_reads("mpn", first, "Paused", reads=5)
    _read(api, first)
    emu.reset()
    assert emu.reads("mpn", first) == 0
    assert emu.scheduled_status_changes() == []

    emu.change_status_after_reads("mpn", second, "Paused", reads=5)
    _read(api, second)
    assert api.delete(f"ScheduledReport/{second}").status_code == 200
    assert emu.scheduled_status_changes() == []
    assert emu.reads("mpn", second) == 1  # what happened before it went is still told


def test_admin_schedules_changes_counts_reads_and_shows_them_in_state(
    with_admin, emu: Emulator, api: Api, session: VerifyingSession
) -> None:
    report_id = emu.report_ids()[0]
    admin = f"{emu.url}/_emulator"
    answer = session.post(
        f"{admin}/status-after-reads", json={"report_id": report_id, "status": "Paused", "reads": 2}
    )
    assert answer.status_code == 200
    pending = [{"program": "mpn", "report_id": report_id, "status": "Paused", "reads": 2, "reads_left": 2}]
    assert answer.json() == {"scheduled": pending}
    bad = session.post(
        f"{admin}/status-after-reads", json={"report_id": report_id, "status": "Paused", "reads": 0}
    )
    assert bad.status_code == 400
    assert "reads must be a positive integer" in bad.json()["error"]
    assert (
        session.post(
            f"{admin}/status-after-reads", json={"report_id": "nope", "status": "Paused"}
        ).status_code
        == 400
    )

    emu.faults.throttle_every(4, retry_after=2)
    _read(api, report_id)
    state = session.get(f"{admin}/state").json()
    assert state["scheduled_status_changes"] == [{**pending[0], "reads_left": 1}]
    assert state["faults"]["periodic"] == [{"fault": "throttle:2", "every": 4, "calls": 1}]
    assert session.get(f"{admin}/reads", params={"report_id": report_id}).json() == {"reads": 1}
    assert session.get(f"{admin}/reads", params={"program": "cmp", "report_id": report_id}).status_code == 400

    assert [_read(api, report_id) for _ in range(2)] == ["Active", "Paused"]
    assert session.get(f"{admin}/state").json()["scheduled_status_changes"] == []


def test_periodic_faults_are_listed_in_rank_order(emu: Emulator) -> None:
    emu.faults.hang_every(5, seconds=1)
    emu.faults.drop_every(3)
    emu.faults.throttle_every(2)
    assert [p["fault"] for p in emu.faults.periodic()] == ["throttle:1", "drop", "hang:1:answer"]
    emu.faults.drop_every(0)
    assert [p["every"] for p in emu.faults.periodic()] == [2, 5]
