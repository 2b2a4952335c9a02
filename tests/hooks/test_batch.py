"""``hooks.batch``: reading many reports in few calls.

- ``BatchReads``: which way many reports are read, and what it learns, with a scripted service.
- ``get_reports``: many reports in few calls against the emulator, and the fallbacks when batches fail.
"""

from __future__ import annotations

import math
import threading

import pytest

from airflow_provider_pcinsights.emulator import Emulator
from airflow_provider_pcinsights.exceptions import BadRequestError, UnreadableStatusError
from airflow_provider_pcinsights.hooks.answers import Envelope
from airflow_provider_pcinsights.hooks.batch import BATCH_SIZE, BatchIO, BatchReads


class ScriptedService:
    """An account of ``reports`` ids, listed ``page_size`` a page, answering as told."""

    def __init__(
        self,
        reports: int,
        *,
        page_size: int = 100,
        total_count: bool = True,
        hidden_from_listing: frozenset[str] = frozenset(),
        refuse_batches: bool = False,
    ) -> None:
        self.ids = [f"r{n:04d}" for n in range(reports)]
        self.page_size = page_size
        self.total_count = total_count
        self.hidden = hidden_from_listing
        self.refuse_batches = refuse_batches
        self.calls: list[str] = []

    def record(self, rid: str) -> dict:
        return {"ReportId": rid, "ReportStatus": "Active"}

    def read_batch(self, ids: list[str]) -> list[dict]:
        if len(ids) == 1:  # one id's filtered listing, which every program takes
            return self.read_one(ids[0])
        self.calls.append(f"batch:{len(ids)}")
        if self.refuse_batches:
            raise BadRequestError("refused", status_code=400, api_message="Invalid reportId")
        return [self.record(rid) for rid in self.ids if rid.lower() in {i.lower() for i in ids}]

    def read_one(self, rid: str) -> list[dict]:
        self.calls.append(f"one:{rid}")
        return [self.record(known) for known in self.ids if known.lower() == rid.lower()]

    def listing(self):
        listed = [rid for rid in self.ids if rid not in self.hidden]
        for start in range(0, max(len(listed), 1), self.page_size):
            self.calls.append("page")
            page = Envelope(
                records=[self.record(rid) for rid in listed[start : start + self.page_size]],
                total_count=len(listed) if self.total_count else None,
                status_code=None,
                next_link=None,
            )
            yield page, start + self.page_size < len(listed)

    def io(self) -> BatchIO:
        return BatchIO(read_batch=self.read_batch, listing=self.listing)


def _reader(multi_id_filter: bool) -> BatchReads:
    """One call at a time, so the order of the calls can be asserted (see the parallel test below)."""
    return BatchReads(
        multi_id_filter=multi_id_filter, where="cmp v1.1" if multi_id_filter else "mpn v1", concurrency=1
    )


def _read(reader: BatchReads, service: ScriptedService, ids: list[str]) -> dict:
    service.calls.clear()
    return reader.read(ids, service.io())


def test_batches_of_fifty_and_a_lone_last_id_read_on_its_own():
    service = ScriptedService(200)
    reader = _reader(True)

    found = _read(reader, service, service.ids[: 2 * BATCH_SIZE + 1])

    assert len(found) == 101
    assert service.calls == ["batch:50", "batch:50", f"one:{service.ids[100]}"]


def test_a_listing_known_to_be_shorter_than_the_batches_is_preferred_on_cmp_too():
    service = ScriptedService(150)
    reader = _reader(True)
    reader.listing_pages = 2  # learned earlier: the whole account fits in 2 pages

    _read(reader, service, service.ids[:150])

    assert service.calls == ["page", "page"]  # not 3 batches


def test_without_total_count_a_listing_is_cut_once_it_has_cost_as_much_as_the_single_reads_left():
    service = ScriptedService(1000, page_size=10, total_count=False)
    reader = _reader(False)
    wanted = [service.ids[5], service.ids[500], service.ids[990]]

    found = _read(reader, service, wanted)

    assert sorted(found) == sorted(rid.casefold() for rid in wanted)
    # page 1 finds one; 1 page read < 2 left: one more page; 2 pages >= 2 left: the rest singly.
    assert service.calls == ["page", "page", f"one:{wanted[1]}", f"one:{wanted[2]}"]
    assert reader.listing_at_least == 3
    assert reader.choose(3) == "singles"
    assert reader.choose(4) == "listing"


def test_a_complete_listing_teaches_its_length():
    service = ScriptedService(250)
    reader = _reader(False)

    _read(reader, service, [service.ids[n] for n in (0, 100, 200, 210, 220, 230, 240, 249)])

    assert service.calls == ["page", "page", "page"]  # 8 ids on 3 pages: listed to the end
    assert reader.listing_pages == 3
    assert (reader.choose(3), reader.choose(4)) == ("singles", "listing")


def test_a_listing_that_leaves_out_a_report_a_single_read_finds_is_not_trusted_again(caplog):
    service = ScriptedService(50, hidden_from_listing=frozenset({"r0007"}))
    reader = _reader(False)

    found = _read(reader, service, ["r0003", "r0007"])

    assert sorted(found) == ["r0003", "r0007"]
    assert service.calls == ["page", "one:r0007"]
    assert reader.listing_unreliable
    assert "left reports out of its listing" in caplog.text
    _read(reader, service, ["r0001", "r0002", "r0003"])
    assert service.calls == ["one:r0001", "one:r0002", "one:r0003"]


def test_a_refused_batch_sends_the_rest_another_way_and_is_remembered(caplog):
    service = ScriptedService(120, refuse_batches=True)
    reader = _reader(True)

    found = _read(reader, service, service.ids[:60])

    assert len(found) == 60
    assert service.calls[0] == "batch:50"
    assert service.calls[1:] == [f"one:{rid}" for rid in service.ids[:60]]  # no second batch
    assert reader.batch_refused
    assert caplog.text.count("refused several report ids") == 1
    assert reader.choose(60) == "listing"  # from now on, as a service without the filter


@pytest.mark.parametrize("count", [0, 1])
def test_one_id_or_none_is_never_a_batch_or_a_listing(count):
    service = ScriptedService(10)
    reader = _reader(True)
    _read(reader, service, service.ids[:count])
    assert service.calls == [f"one:{rid}" for rid in service.ids[:count]]


def test_batches_and_single_reads_go_several_at_once():
    service = ScriptedService(200)
    four_at_once = threading.Barrier(4, timeout=10)  # broken unless four calls wait here together
    reading = service.read_batch

    def read_batch(ids: list[str]) -> list[dict]:
        four_at_once.wait()
        return reading(ids)

    service.read_batch = read_batch  # type: ignore[method-assign]
    reader = BatchReads(multi_id_filter=True, where="cmp v1.1", concurrency=8)

    found = _read(reader, service, service.ids)

    assert len(found) == 200
    assert sorted(service.calls) == ["batch:50"] * 4


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
