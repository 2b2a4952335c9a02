"""``get_reports``: many reports in few calls against the emulator, and the fallbacks when batches fail."""

from __future__ import annotations

import math

import pytest

from airflow_provider_pcinsights.emulator import Emulator
from airflow_provider_pcinsights.exceptions import UnreadableStatusError

UNKNOWN = "00000000-0000-4000-8000-00000000dead"


@pytest.fixture
def emu():
    with Emulator(reports=130) as emulator:
        yield emulator


def _reads(emu: Emulator) -> list[str]:
    """The reportId filter of every GET of reports, in order ("" for an unfiltered listing page)."""
    return [
        r.query.get("reportId", "") for r in emu.api_requests(method="GET", path_contains="ScheduledReport")
    ]


def test_cmp_v1_1_reads_fifty_ids_a_call_keyed_by_the_ids_as_given(emu, make_hook):
    hook = make_hook(program="cmp")
    ids = emu.report_ids("cmp")[:120]
    asked = [rid.upper() if n % 2 else rid for n, rid in enumerate(ids)]  # ids compare without case

    records = hook.get_reports(asked)

    assert list(records) == asked
    assert [records[a]["ReportId"] for a in asked] == ids
    assert sorted(len(q.split(";")) for q in _reads(emu)) == [20, 50, 50]  # sent several at once


def test_an_unknown_id_is_absent_without_an_error_after_one_call_of_its_own(emu, make_hook):
    hook = make_hook(program="cmp")
    ids = [*emu.report_ids("cmp")[:3], UNKNOWN]

    records = hook.get_reports(ids)

    assert [rid for rid in ids if rid not in records] == [UNKNOWN]
    assert _reads(emu) == [";".join(ids), UNKNOWN]  # the batch, then the unknown id alone to be sure


def test_the_same_id_twice_in_two_cases_is_read_once(emu, make_hook):
    hook = make_hook(program="cmp")
    first, second = emu.report_ids("cmp")[:2]

    records = hook.get_reports([first, second, first.upper()])

    assert records[first] is records[first.upper()]
    assert _reads(emu) == [f"{first};{second}"]


def test_mpn_lists_the_account_when_that_is_cheaper_and_reads_singly_when_not(emu, make_hook):
    hook = make_hook(program="mpn")
    ids = emu.report_ids("mpn")
    pages = math.ceil(len(ids) / emu.behaviour.page_size)  # 130 reports, 100 a page: 2

    many = hook.get_reports(ids[50:120])  # on both pages
    assert len(many) == 70
    assert _reads(emu) == [""] * pages  # the account's listing: 2 calls for 70 reports

    emu.request_log.clear()
    few = hook.get_reports(ids[:2])  # fewer ids than the listing has pages: one call each is as cheap
    assert list(few) == ids[:2]
    assert sorted(_reads(emu)) == sorted(ids[:2])


def test_mpn_stops_listing_once_single_reads_are_cheaper(emu, make_hook):
    emu.behaviour.page_size = 10  # 13 pages
    hook = make_hook(program="mpn")
    last = emu.report_ids("mpn")[-3:]  # on the last pages

    records = hook.get_reports(last)

    assert list(records) == last
    calls = _reads(emu)
    assert calls[0] == ""  # a first page, whose TotalCount says many more pages would come
    assert sorted(calls[1:]) == sorted(last)  # so the three are read one by one (several at once)
    emu.request_log.clear()
    hook.get_reports(last)
    assert sorted(_reads(emu)) == sorted(last)  # and the hook remembers the listing is longer than that


@pytest.mark.parametrize("misbehaviour", ["reject", "as_one_id"])
def test_a_refused_batch_falls_back_to_other_reads_and_is_not_tried_again(
    emu, make_hook, misbehaviour, caplog
):
    emu.behaviour.multi_report_id = misbehaviour  # a 400, or the joined ids read as one unknown id
    hook = make_hook(program="cmp")
    ids = emu.report_ids("cmp")[:3]

    assert list(hook.get_reports(ids)) == ids
    assert _reads(emu)[0] == ";".join(ids)
    assert sorted(_reads(emu)[1:]) == sorted(ids)
    assert "refused several report ids in one reportId filter" in caplog.text

    emu.request_log.clear()
    assert list(hook.get_reports(ids)) == ids
    assert ";" not in "".join(_reads(emu))  # remembered for the hook's life: no batch again
    emu.request_log.clear()
    hook.list_reports(report_id=ids)
    assert ";" not in "".join(_reads(emu))


def test_list_reports_with_many_ids_on_cmp_v1_1_sends_fifty_a_call(emu, make_hook):
    hook = make_hook(program="cmp")
    ids = emu.report_ids("cmp")[:101]

    records = hook.list_reports(report_id=ids)

    assert sorted(r["ReportId"] for r in records) == sorted(ids)
    assert sorted(len(q.split(";")) for q in _reads(emu)) == [1, 50, 50]


def test_an_unreadable_status_of_a_report_not_asked_for_does_not_fail_a_listing(emu, make_hook):
    hook = make_hook(program="mpn")
    wanted = emu.report_ids("mpn")[:2]
    page = [
        {"reportId": wanted[0], "reportStatus": "Active"},
        {"reportId": "someone-else", "reportStatus": "Suspended"},
        {"reportId": wanted[1], "reportStatus": "paused"},
    ]
    emu.faults.json_body(count=1, body={"value": page, "totalCount": 3})

    records = hook.get_reports(wanted)

    assert {rid: r["ReportStatus"] for rid, r in records.items()} == {
        wanted[0]: "Active",
        wanted[1]: "paused",
    }
    assert _reads(emu) == [""]


def test_an_unreadable_status_of_a_report_asked_for_is_an_error(emu, make_hook):
    hook = make_hook(program="cmp")
    wanted = emu.report_ids("cmp")[:2]
    body = {"Value": [{"reportId": wanted[0], "reportStatus": "Suspended"}, {"reportId": wanted[1]}]}
    emu.faults.json_body(count=1, body=body)

    with pytest.raises(UnreadableStatusError, match="Suspended"):
        hook.get_reports(wanted)


def test_bad_ids_are_refused_before_anything_is_sent(emu, make_hook):
    hook = make_hook(program="cmp")
    with pytest.raises(ValueError, match="report_id"):
        hook.get_reports([emu.report_ids("cmp")[0], "a/b"])
    assert hook.get_reports([]) == {}
    assert emu.api_requests() == []
