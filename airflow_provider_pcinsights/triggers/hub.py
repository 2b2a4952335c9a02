"""One poll hub per triggerer process: triggers of one connection share a look-up, a session and their polls.

A triggerer runs every deferred wait of the deployment on one event loop. A
trigger that builds its own hook builds its own HTTP session, and a thousand of
them (a triggerer restart starts them all at once) make a thousand connection
look-ups, a thousand TLS connections and a thousand calls a poll, and stall the
loop while they are built. Through the hub, the triggers of one connection (and
the same hook parameters) in one process share:

- one connection look-up, made in a worker thread (``get_connection`` through
  ``sync_to_async``), and made again after
  ``CONNECTION_TTL`` seconds or an authentication failure, so a rotated secret is
  picked up;
- one hook, built in a worker thread, with one pooled HTTP session, closed when
  the last trigger leaves;
- their polls: reads that arrive within ``GATHER_SECONDS`` of each other are one
  ``hook.get_reports`` call (50 ids a call on cmp v1.1, the account's listing on
  mpn), in a worker thread, and every trigger gets its own reports back.

Every worker thread is started through ``sync_to_async``
(:mod:`airflow_provider_pcinsights._loop_threads`), never ``asyncio.to_thread``: on
Airflow 3.0 and 3.1 what the hook sends to Airflow from a thread (``mask_secret``)
only reaches the triggerer's loop safely from such a thread. ``sleep``
  wakes triggers of the same poll interval at the same instants, so triggers
  started at different times still poll together.

The hub keeps no state a trigger would need back: no answer outlives the read
that fetched it, and a trigger that is run twice, cancelled or restarted simply
reads again. It is a cache of connections and sessions, not a source of truth.

Usage, inside a trigger's ``run()``::

    async with poll_hub().reader(conn_id, hook_params) as reader:
        while True:
            records = await reader.read(report_ids)  # {report_id: record}; unknown ids absent
            ...                                      # judge; return or yield
            await reader.sleep(poll_interval)
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import json
import logging
import math
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_pcinsights._loop_threads import run_blocking
from airflow_provider_pcinsights.exceptions import (
    AuthenticationError,
    PermissionDeniedError,
    UnreadableStatusError,
)
from airflow_provider_pcinsights.report_ids import validate_report_id

if TYPE_CHECKING:
    from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

log = logging.getLogger(__name__)

# How long a read waits for others to join its call: the triggers woken at one tick, or started
# together, arrive within it.
GATHER_SECONDS = 0.1
# Readers that keep arriving (1,000 triggers started one a turn of the loop) are gathered until none
# came for GATHER_SECONDS, but no longer than this.
GATHER_MAX_SECONDS = 1.0
# How long a looked-up connection is trusted before it is looked up again.
CONNECTION_TTL = 300.0

_HUBS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PollHub] = weakref.WeakKeyDictionary()


def poll_hub() -> PollHub:
    """The hub of the running event loop (the triggerer has one), made on first use."""
    return _HUBS.setdefault(asyncio.get_running_loop(), PollHub())


async def lookup_connection(conn_id: str) -> Any:
    """Look a connection up without blocking the loop, on Airflow 2 and 3.

    ``BaseHook.get_connection`` in a worker thread started by ``sync_to_async``, as Airflow's
    triggerer asks of SDK calls (on 3.0 and 3.1 it reaches the supervisor through
    ``async_to_sync``, which only finds the triggerer's loop from such a thread). One path on
    every line: the first look-up also imports, in that thread, the task SDK's modules that an
    ``aget_connection`` on the loop would import (and, without bytecode files, compile) there.
    A look-up is made once per ``CONNECTION_TTL`` per connection, so the thread costs nothing.
    """
    from airflow.providers.common.compat.sdk import BaseHook

    return await run_blocking(BaseHook.get_connection, conn_id)


def next_tick(last_read_at: float | None, now: float, interval: float) -> float:
    """The first multiple of ``interval`` at least half an interval after the last read (``now`` if
    there was none), and after ``now``: the same for every reader that read together."""
    since = now if last_read_at is None else last_read_at
    tick = math.ceil((since + interval / 2) / interval) * interval
    while tick <= now:
        tick += interval
    return tick


@dataclass
class HubStats:
    """What the hub did, for tests, logs and the benchmark."""

    lookups: int = 0
    hooks_built: int = 0
    hooks_closed: int = 0
    reads: int = 0  # batched reads (calls of hook.get_reports) begun
    requests: int = 0  # reads asked for by readers
    joined: int = 0  # reads answered by a read already in flight
    calls: int = 0  # reader.call()s made (identical ones at once are one)


class PollHub:
    """Shared connections, hooks and polls of one event loop, by connection and hook parameters."""

    def __init__(self) -> None:
        self.stats = HubStats()
        self._shared: dict[str, _Shared] = {}
        self._closing: set[asyncio.Future[Any]] = set()

    def reader(self, conn_id: str, hook_params: dict[str, Any] | None = None) -> Reader:
        """A reader for one trigger: ``async with`` it for as long as the trigger waits."""
        return Reader(self, conn_id, dict(hook_params or {}))

    @property
    def readers(self) -> int:
        return sum(len(shared.readers) for shared in self._shared.values())

    async def wait_closed(self) -> None:
        """Until every session given up has been closed (tests, and a clean shutdown)."""
        while self._closing:
            await asyncio.gather(*list(self._closing), return_exceptions=True)


class Reader:
    """One trigger's way to the hub. Enter it (``async with``) for the life of the wait."""

    account = ""  # the program, for messages: the shared hook is not at hand

    def __init__(self, hub: PollHub, conn_id: str, hook_params: dict[str, Any]) -> None:
        self.hub = hub
        self.conn_id = conn_id
        self.hook_params = hook_params
        self._shared: _Shared | None = None
        self._last_read_at: float | None = None  # when the read that served this reader last was gathered
        self.interval: float | None = None  # its poll interval, once it has slept
        self.ids: list[str] = []  # the ids it read last

    async def __aenter__(self) -> Reader:
        key = json.dumps([self.conn_id, self.hook_params], sort_keys=True, default=str)
        shared = self.hub._shared.get(key)
        if shared is None:
            shared = self.hub._shared[key] = _Shared(self.hub, key, self.conn_id, self.hook_params)
        shared.readers.add(self)
        self._shared = shared
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        shared, self._shared = self._shared, None
        if shared is not None:
            shared.readers.discard(self)
            if not shared.readers:  # the last one out: the session closes once its calls have ended
                del self.hub._shared[shared.key]
                shared.retire()

    async def read(self, report_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The records of these reports, keyed by the ids as given; ids the account does not know
        are absent. Read together with the other readers' ids; raises what the read raised (a
        ``ValueError`` for a bad id before anything is sent, and only to this reader). Readers of
        the same report get the same record: read it, do not change it."""
        ids = [validate_report_id(rid) for rid in report_ids]
        shared = self._shared
        assert shared is not None, "enter the reader first"
        if not ids:
            return {}
        self.ids = ids
        self.hub.stats.requests += 1
        if shared.inflight is not None and shared.inflight.covers(ids):
            # A poll that fell due while a read covering it is under way: that read's answer.
            self.hub.stats.joined += 1
            return await shared.inflight.answer(self, ids)
        if shared.gathering is None:
            shared.gathering = _Read()
        read = shared.gathering
        read.readers.append(self)
        read.add(ids)
        if shared.flusher is None or shared.flusher.done():
            shared.flusher = asyncio.ensure_future(shared.flush())
        return await read.answer(self, ids)

    def read_at(self) -> datetime.datetime | None:
        """When the read that answered this reader last was gathered, before it was sent (UTC): the
        records it gave are no older than that. A read in flight may answer a reader that asked
        after it was sent, so the moment the reader asked is no such bound."""
        if self._last_read_at is None:
            return None
        ago = asyncio.get_running_loop().time() - self._last_read_at
        return datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=ago)

    async def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(hook, *args)`` in a worker thread with the shared hook (a read that cannot be
        batched, such as a report's executions): shares the look-up and the session; the same call
        (function and arguments, which must be hashable) asked for while one is in flight waits for
        that one's answer."""
        shared = self._shared
        assert shared is not None, "enter the reader first"
        key = (function, *args)
        running = shared.calls.get(key)
        if running is None:
            self.hub.stats.calls += 1
            running = shared.calls[key] = asyncio.ensure_future(shared.with_hook(function, *args))
            running.add_done_callback(lambda _: shared.calls.pop(key, None))
        await asyncio.wait([running])  # a reader cancelled here leaves the call to the others
        error = running.exception()
        if error is not None:
            raise _own_copy(error)
        return running.result()

    async def sleep(self, interval: float) -> None:
        """Sleep until the next shared tick of this interval at least half an interval after the last read.

        Ticks are multiples of ``interval`` on the loop's clock, the same for every reader,
        so readers of one interval wake together and their reads are one call; the time
        between two polls stays ``interval`` on average (half to one and a half of it). The
        tick is counted from when the last read was gathered, which the readers it served
        share, so readers it served that wake at different moments still poll together.
        """
        if not interval > 0:
            await asyncio.sleep(0)
            return
        self.interval = interval
        now = asyncio.get_running_loop().time()
        await asyncio.sleep(next_tick(self._last_read_at, now, interval) - now)


@dataclass
class _Lease:
    """A hook, what it was built from, and how many calls are using it; closed once it is no longer
    the shared one (an edited connection, or every reader gone) and unused."""

    hook: PartnerCenterInsightsHook
    fingerprint: str
    users: int = 0


class _Read:
    """One batched read: the ids it asks for and its answer, shared by every reader it serves (those
    that gathered for it, and those whose ids it covers that fall due while it is under way)."""

    def __init__(self) -> None:
        self.readers: list[Reader] = []  # the readers that gathered for it
        self.ids: dict[str, str] = {}  # folded id -> the id as first given
        self.gathered_at: float | None = None  # loop time it was gathered, just before it was sent
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.records: dict[str, dict[str, Any]] = {}  # by folded id
        self.error: BaseException | None = None
        self.bad: dict[str, BaseException] = {}  # one report's error (unreadable): only its readers'

    def covers(self, ids: list[str]) -> bool:
        return not self.done.done() and {rid.casefold() for rid in ids} <= self.ids.keys()

    def add(self, ids: Iterable[str]) -> None:
        for rid in ids:
            self.ids.setdefault(rid.casefold(), rid)

    def settle(
        self, records: dict[str, dict[str, Any]] | None = None, error: BaseException | None = None
    ) -> None:
        """Answer every reader of this read, once (a later answer is ignored)."""
        if not self.done.done():
            self.records, self.error = records or {}, error
            self.done.set_result(None)

    async def answer(self, reader: Reader, ids: list[str]) -> dict[str, dict[str, Any]]:
        await asyncio.shield(self.done)  # a reader cancelled here leaves the read to the others
        reader._last_read_at = self.gathered_at
        for rid in ids:
            if rid.casefold() in self.bad:
                raise _own_copy(self.bad[rid.casefold()])
        if self.error is not None:
            raise _own_copy(self.error)
        return {rid: self.records[rid.casefold()] for rid in ids if rid.casefold() in self.records}


class _Shared:
    """What the readers of one connection and hook parameters share."""

    def __init__(self, hub: PollHub, key: str, conn_id: str, hook_params: dict[str, Any]) -> None:
        self.hub = hub
        self.key = key
        self.conn_id = conn_id
        self.hook_params = hook_params
        self.readers: set[Reader] = set()
        self.stale = False  # an authentication failure: look the connection up again
        self._lease: _Lease | None = None
        self._checked_at = -math.inf
        self._lookup_lock = asyncio.Lock()
        self.flusher: asyncio.Task[None] | None = None
        self._retired = False
        self.gathering: _Read | None = None  # the read being gathered
        self.inflight: _Read | None = None  # the read under way (one at a time)
        self.calls: dict[tuple[Any, ...], asyncio.Future[Any]] = {}  # reader.call()s under way

    # -- reading ------------------------------------------------------------------------

    async def flush(self) -> None:
        """Gather the next read, send it, answer its readers; again while another is gathering."""
        loop = asyncio.get_running_loop()
        try:
            while self.gathering is not None:
                # Wait for the readers due together: until none came for GATHER_SECONDS (at most
                # GATHER_MAX_SECONDS), so a crowd that takes a while to arrive is still one read.
                deadline = loop.time() + GATHER_MAX_SECONDS
                count = -1
                while count != len(self.gathering.readers) and loop.time() < deadline:
                    count = len(self.gathering.readers)
                    await asyncio.sleep(GATHER_SECONDS)
                read, self.gathering = self.gathering, None
                read.gathered_at = loop.time()
                self.inflight = read
                await self._serve(read)  # answers every reader, or raises (below)
                self.inflight = None
        except BaseException as exc:  # a bug here must not leave a reader waiting for ever
            # Every reader of the read under way and of the next one gets the error (its own copy;
            # a RuntimeError for a BaseException, which not every reader catches). A cancelled
            # flusher is a loop shutting down: its readers are cancelled with it, not failed.
            failure = exc
            if not isinstance(exc, Exception):
                failure = RuntimeError(
                    f"the poll hub's read of {self.conn_id} ended: {type(exc).__name__}: {exc}"
                )
            for unanswered in (self.inflight, self.gathering):
                if unanswered is not None and isinstance(exc, asyncio.CancelledError):
                    unanswered.done.cancel()
                elif unanswered is not None:
                    unanswered.settle(error=failure)
            self.inflight = self.gathering = None
            if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
                raise
            log.error("The poll hub failed to serve a read of %s", self.conn_id, exc_info=exc)

    async def _serve(self, read: _Read) -> None:
        # With the ids of the readers that poll on the same interval as this read's but did not make it
        # into it (they fell due together, and are on their way): a reader that arrives while it is
        # under way is answered by it instead of by a second read.
        intervals = {reader.interval for reader in read.readers}
        for reader in self.readers:
            if reader.interval in intervals:
                read.add(reader.ids)
        try:
            while read.ids:
                self.hub.stats.reads += 1
                try:
                    records = await self.with_hook(
                        lambda hook, ids: hook.get_reports(ids), list(read.ids.values())
                    )
                except UnreadableStatusError as exc:
                    # One report nobody can read: its readers' error, not everyone's. The others
                    # are read again without it.
                    bad = (exc.report_id or "").casefold()
                    if bad not in read.ids:
                        raise
                    read.bad[bad] = exc
                    del read.ids[bad]
                    continue
                read.settle({rid.casefold(): record for rid, record in records.items()})
                return
            read.settle({})  # every id was one nobody can read
        except Exception as exc:
            read.settle(error=exc)

    async def with_hook(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(hook, *args)`` in a worker thread with the shared hook (batched reads and calls
        alike); a rejected credential makes the next use look the connection up again."""
        lease = await self.lease()
        try:
            return await run_blocking(function, lease.hook, *args)
        except (AuthenticationError, PermissionDeniedError):
            self.stale = True
            raise
        finally:
            self.release(lease)

    # -- the hook -----------------------------------------------------------------------

    async def lease(self) -> _Lease:
        """The shared hook, looked up and built off the loop when missing or due a fresh look-up."""
        loop = asyncio.get_running_loop()
        async with self._lookup_lock:
            if self._retired:
                raise RuntimeError(f"every reader of connection {self.conn_id} has left")
            due = self.stale or loop.time() - self._checked_at > CONNECTION_TTL
            if self._lease is None or due:
                self.hub.stats.lookups += 1
                connection = await lookup_connection(self.conn_id)
                fingerprint = _fingerprint(connection)
                self._checked_at = loop.time()
                self.stale = False
                if self._lease is None or fingerprint != self._lease.fingerprint:
                    hook = await run_blocking(self._build_hook, connection)
                    self.hub.stats.hooks_built += 1
                    old, self._lease = self._lease, _Lease(hook, fingerprint)
                    self._close(old)  # an edited connection: a new hook
            lease = self._lease
            assert lease is not None
            lease.users += 1
            if self._retired:  # every reader left while the hook was being built: this call is its last
                self._lease = None
            return lease

    def release(self, lease: _Lease) -> None:
        """One call done with the hook; the last one out of a hook given up closes it."""
        lease.users -= 1
        self._close(lease)

    def _close(self, lease: _Lease | None) -> None:
        """Close a hook given up (no longer the shared one) once no call uses it: its session, in a
        worker thread (never on the loop); nobody awaits that but ``wait_closed``."""
        if lease is None or lease is self._lease or lease.users:
            return

        async def close() -> None:
            try:
                await run_blocking(lease.hook.close)
            except Exception as exc:  # nobody awaits this: say it, and let the session go
                log.warning("Could not close the session of %s: %s", self.conn_id, exc)
            finally:
                self.hub.stats.hooks_closed += 1

        closing = asyncio.ensure_future(close())
        self.hub._closing.add(closing)
        closing.add_done_callback(self.hub._closing.discard)

    def _build_hook(self, connection: Any) -> PartnerCenterInsightsHook:
        from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

        return PartnerCenterInsightsHook(conn_id=self.conn_id, connection=connection, **self.hook_params)

    def retire(self) -> None:
        """The last reader left: close the session once the calls under way have ended."""
        self._retired = True
        old, self._lease = self._lease, None
        self._close(old)


def _fingerprint(connection: Any) -> str:
    """What a hook is built from; a change (a rotated secret, another host) means a new hook."""
    fields = ("conn_type", "host", "login", "password", "schema", "port", "extra")
    return json.dumps([str(getattr(connection, name, None)) for name in fields])


def _own_copy(error: BaseException) -> BaseException:
    """The same error for one more reader: raising one instance in many tasks would chain their
    tracebacks onto it, a thousand deep."""
    try:
        duplicate = copy.copy(error)
    except Exception:
        return error
    duplicate.__traceback__ = None
    return duplicate
