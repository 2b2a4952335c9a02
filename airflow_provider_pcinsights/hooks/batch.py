"""Reading many reports in few calls: which way is cheapest, and what the service taught us. No HTTP.

Three ways to read the status of many reports:

- **batches**: cmp v1.1 takes up to ``BATCH_SIZE`` ids joined by ``;`` in one
  ``reportId`` filter: ``ceil(n / 50)`` calls;
- **listing**: every report of the account, page by page (``nextLink``): as many
  calls as pages, whatever ``n``, the only multi-report read on ``mpn``;
- **singles**: one filtered call per id: ``n`` calls.

``BatchReads`` picks the cheapest it can vouch for, and remembers for the
hook's life what the service showed: a refused batch (a 400, or ids a batch left
out that single reads then found), the number of pages of a complete listing
(or a lower bound, when one was cut off because single reads had become cheaper),
and a listing that left out a report a single read found. Ids that a batch or a
complete listing did not return are read once more on their own before being
called unknown: an unknown id is rare (a typo, a deleted report) and a wrong
"unknown" would end a wait or fail a task.

The I/O is the hook's (``BatchIO``); everything here is thread-safe.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from airflow_provider_pcinsights.exceptions import BadRequestError
from airflow_provider_pcinsights.hooks.answers import Envelope
from airflow_provider_pcinsights.report_ids import listed

log = logging.getLogger(__name__)

# Ids per cmp v1.1 call: the figure, and a URL of about 2 KB with the ';' escaped.
BATCH_SIZE = 50
# Batches (or single reads) of one read sent at once: the read before a bulk action would
# otherwise be its one serial part; 10 reads 500 reports (10 batches) in one round.
READ_CONCURRENCY = 10

Record = dict[str, Any]


def fold(report_id: str) -> str:
    """Report ids compare without regard to case (they are UUIDs, answered in any case)."""
    return report_id.casefold()


@dataclass(frozen=True)
class BatchIO:
    """The hook's calls, each one HTTP request (paging aside).

    :param read_batch: the reports among these ids, in one call (cmp v1.1's ``;``-joined filter); with
        one id, that id's filtered listing, on any program (``[]`` when it matches nothing).
    :param listing: the account's reports, page by page, each with whether another follows (the
        hook's own paging, ``_pages``); the reader may stop early.
    """

    read_batch: Callable[[list[str]], list[Record]]
    listing: Callable[[], Iterator[tuple[Envelope, bool]]]


class BatchReads:
    """The cheapest way to read many reports, learned over the hook's life.

    :param multi_id_filter: whether the service takes several ids in one ``reportId``
        filter (cmp v1.1); a refusal turns it off for good.
    :param where: the program and version, for messages.
    :param concurrency: how many batches (or single reads) are sent at once; a listing's pages
        follow one another (each names the next).
    """

    def __init__(self, *, multi_id_filter: bool, where: str, concurrency: int = READ_CONCURRENCY) -> None:
        self._lock = threading.Lock()
        self.concurrency = concurrency
        self._multi_id_filter = multi_id_filter
        self.where = where
        self.batch_refused = False
        self.listing_pages: int | None = None  # pages of the last complete listing
        self.listing_at_least = 0  # pages a listing cut short was known to have, at least
        self.listing_unreliable = False

    @property
    def batches_allowed(self) -> bool:
        with self._lock:
            return self._multi_id_filter and not self.batch_refused

    # -- choosing -----------------------------------------------------------------------

    def choose(self, count: int) -> str:
        """``batches``, ``listing`` or ``singles`` for ``count`` distinct ids, by the calls each costs."""
        if count <= 1:
            return "singles"
        with self._lock:
            pages = None if self.listing_unreliable else self.listing_pages
            if self._multi_id_filter and not self.batch_refused:
                return "listing" if pages is not None and pages < math.ceil(count / BATCH_SIZE) else "batches"
            if self.listing_unreliable or self.listing_at_least >= count:
                return "singles"
            if pages is not None:
                return "listing" if pages < count else "singles"
            return "listing"  # unknown size: list, and cut over to singles once they are cheaper

    # -- reading ------------------------------------------------------------------------

    def read(self, report_ids: Iterable[str], io: BatchIO) -> dict[str, Record]:
        """The record of every id the account knows, by folded id; unknown ids are absent."""
        given = list(report_ids)
        original = {fold(rid): rid for rid in reversed(given)}  # the first spelling of each id
        wanted = list(dict.fromkeys(fold(rid) for rid in given))
        way = self.choose(len(wanted))
        found: dict[str, Record] = {}
        vouched: set[str] = set()  # ids the way chosen has seen every chance to return
        if way == "batches":
            vouched = self._batches([original[w] for w in wanted], io, found)
        elif way == "listing":
            vouched = self._listing(wanted, io, found)
        # Ids not found yet are read singly: those the way chosen did not vouch for, and those it
        # called unknown, which a single read then confirms (or finds: the way left them out).
        missing = [original[w] for w in wanted if w not in found]
        rescued = [rid for rid in self._singles(missing, io, found) if fold(rid) in vouched]
        if rescued:
            self._distrust(way, rescued)
        return found

    def _singles(self, report_ids: list[str], io: BatchIO, found: dict[str, Record]) -> list[str]:
        """One call per id, several at once; the ids found."""
        answers = self._in_parallel(lambda rid: io.read_batch([rid]), report_ids)
        return [
            rid
            for rid, records in zip(report_ids, answers, strict=True)
            if _take(records, {fold(rid)}, found)
        ]

    def _batches(self, report_ids: list[str], io: BatchIO, found: dict[str, Record]) -> set[str]:
        """Chunks of ``BATCH_SIZE`` ids, several at once; a lone last id is left to a single read."""
        chunks = [report_ids[start : start + BATCH_SIZE] for start in range(0, len(report_ids), BATCH_SIZE)]
        chunks = [chunk for chunk in chunks if len(chunk) > 1]

        def one_batch(chunk: list[str]) -> list[Record] | None:
            if not self.batches_allowed:
                return None  # another chunk was refused meanwhile: not sent, left to single reads
            try:
                return io.read_batch(chunk)
            except BadRequestError as refusal:
                self._refuse(f"it answered HTTP {refusal.status_code}: {refusal.api_message or refusal}")
                return None  # left to single reads

        vouched: set[str] = set()
        for chunk, answer in zip(chunks, self._in_parallel(one_batch, chunks), strict=True):
            if answer is None:
                continue
            folded = {fold(rid) for rid in chunk}
            _take(answer, folded, found)
            vouched.update(folded)
        return vouched

    def _in_parallel(self, function: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        """``function`` over ``items``, up to ``concurrency`` at once; answers in order. The first
        error (in input order) is raised once every call has ended."""
        if len(items) <= 1 or self.concurrency <= 1:
            return [function(item) for item in items]
        # In the triggerer the threads must be ones Airflow's channel can be used from (a new
        # token is masked from them): map_in_threads starts them through sync_to_async there.
        from airflow_provider_pcinsights._loop_threads import map_in_threads

        return map_in_threads(function, items, min(self.concurrency, len(items)), "pcinsights-read")

    def _listing(self, wanted: list[str], io: BatchIO, found: dict[str, Record]) -> set[str]:
        remaining = set(wanted)
        seen = 0
        for pages, (page, has_next) in enumerate(io.listing(), start=1):
            seen += len(page.records)
            remaining -= _take(page.records, remaining, found)
            if not has_next:
                with self._lock:
                    self.listing_pages = pages
                return set(wanted)  # the whole account was listed
            if not remaining:
                self._at_least(pages + 1)
                return set()
            left = _pages_left(page, seen)
            # Pages still to read: TotalCount's word when it has one, else as many again as read so
            # far (so a listing of unknown length costs at most about twice the cheaper way).
            if (pages if left is None else left) >= len(remaining):
                self._at_least(pages + (left or 1))
                return set()  # single reads are now as cheap: the rest goes that way
        return set(wanted)

    # -- learning -----------------------------------------------------------------------------

    def _at_least(self, pages: int) -> None:
        with self._lock:
            self.listing_at_least = max(self.listing_at_least, pages)

    def _refuse(self, why: str) -> None:
        if self._learn("batch_refused"):
            log.warning(
                "Partner Center (%s) refused several report ids in one reportId filter (%s); reading "
                "them another way (a listing, or one call each) from now on",
                self.where,
                why,
            )

    def _distrust(self, way: str, rescued: list[str]) -> None:
        shown = listed(rescued)
        if way == "batches":
            self._refuse(f"it left out reports a single read then found: {shown}")
        elif self._learn("listing_unreliable"):
            log.warning(
                "Partner Center (%s) left reports out of its listing that a single read then found (%s); "
                "reading several reports one call each from now on",
                self.where,
                shown,
            )

    def _learn(self, flag: str) -> bool:
        """Set a flag for the hook's life; whether this was the first time (to warn once)."""
        with self._lock:
            first = not getattr(self, flag)
            setattr(self, flag, True)
        return first


def _take(records: list[Record], wanted: set[str], found: dict[str, Record]) -> set[str]:
    """Keep the records of wanted ids (the first of each); the folded ids taken."""
    taken: set[str] = set()
    for record in records:
        folded = fold(record["ReportId"])
        if folded in wanted and folded not in found:
            found[folded] = record
            taken.add(folded)
    return taken


def _pages_left(page: Envelope, seen: int) -> int | None:
    """Pages still to come, estimated from ``TotalCount`` when it is plausible; ``None`` if unknown."""
    total, size = page.total_count, len(page.records)
    if total is None or size == 0 or total <= seen:
        return None
    return math.ceil((total - seen) / size)
