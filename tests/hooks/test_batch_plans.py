"""``_batch.BatchReads``: which way many reports are read, and what it learns, with a scripted service.

No HTTP here: the service is a list of reports and a count of the calls made, so
every choice can be checked, including answers the emulator does not give
(a listing without ``TotalCount``, one that leaves a report out).
"""

from __future__ import annotations

import threading

import pytest

from airflow_provider_pcinsights.exceptions import BadRequestError
from airflow_provider_pcinsights.hooks.batch import BATCH_SIZE, BatchIO, BatchReads, Page


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
            yield Page(
                records=[self.record(rid) for rid in listed[start : start + self.page_size]],
                total_count=len(listed) if self.total_count else None,
                has_next=start + self.page_size < len(listed),
            )

    def io(self) -> BatchIO:
        return BatchIO(read_batch=self.read_batch, read_one=self.read_one, listing=self.listing)


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
