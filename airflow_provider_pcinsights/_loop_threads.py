"""Blocking work for the triggerer's event loop, in the threads Airflow expects: ``sync_to_async``.

Inside a triggerer, provider code talks to Airflow through the runner's channel to its
supervisor (``SUPERVISOR_COMMS``): ``mask_secret`` does, for one, and the hook calls it when
it reads a connection's secrets and when it gets a new token. On Airflow 3.0 and 3.1 the
channel's synchronous ``send`` is ``asgiref.sync.async_to_sync(asend)``: from a thread that
``sync_to_async`` started, asgiref hands ``asend`` to the triggerer's own loop, which owns the
channel's lock and reader; from any other thread (``asyncio.to_thread``, a plain thread
pool) it runs ``asend`` on a new loop in yet another thread, the channel is read from two
loops at once, and the runner dies with "Response read out of order!". Airflow's own
triggerer says SDK code in a trigger must be wrapped in ``sync_to_async`` (``init_comms``), so
every blocking call the provider makes from the loop goes through :func:`run_blocking`,
and a blocking call that fans out to threads of its own goes through :func:`map_in_threads`,
which, when it runs under :func:`run_blocking`, starts its threads through ``sync_to_async``
too. Airflow 3.2 and later bridge a send from any thread, and Airflow 2 has no channel: the
same calls are merely unnecessary there, never wrong.

asgiref comes with Airflow on every supported line (Airflow 2 and the task SDK require it).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import sync_to_async

T = TypeVar("T")
R = TypeVar("R")

# The loop that waits for a call made through run_blocking, set in the call's context: its
# thread was started by sync_to_async (contextvars follow the call into the thread; a thread it
# starts itself does not inherit them, nor asgiref's thread-local).
_WAITING_LOOP: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "pcinsights_waiting_loop", default=None
)


async def run_blocking(function: Callable[..., R], *args: Any) -> R:
    """``function(*args)`` in a worker thread, awaited without blocking the loop.

    ``sync_to_async(thread_sensitive=False)``: the calls of many triggers run side by side (a
    thread-sensitive call would queue every trigger's reads behind one thread), and asgiref
    records the waiting loop in the worker, so that Airflow's ``async_to_sync`` from there
    (``mask_secret``, a connection look-up) runs on the triggerer's own loop.
    """
    loop = asyncio.get_running_loop()
    return await sync_to_async(_under_loop, thread_sensitive=False)(loop, function, *args)


def _under_loop(loop: asyncio.AbstractEventLoop, function: Callable[..., R], *args: Any) -> R:
    token = _WAITING_LOOP.set(loop)
    try:
        return function(*args)
    finally:
        _WAITING_LOOP.reset(token)


def map_in_threads(
    function: Callable[[T], R], items: list[T], workers: int, thread_name_prefix: str
) -> list[R]:
    """``function`` over ``items`` in up to ``workers`` threads; the answers in order. The first
    error (in input order) is raised once every call has ended.

    Under :func:`run_blocking` (the triggerer) the threads are started through
    ``sync_to_async`` on the waiting loop, so that what they send to Airflow reaches the
    triggerer's loop too; elsewhere (a task, a sensor) they are a plain thread pool.
    """
    loop = _WAITING_LOOP.get()
    if loop is not None:
        # Not asgiref's async_to_sync: when the loop is ending (asyncio.run cancels every task it
        # has), a task it scheduled can be cancelled before its first step, and then nothing ever
        # answers the waiting thread, nor the loop's executor shutdown that waits for the thread
        # (a bench's asyncio.run hung so under load). run_coroutine_threadsafe hands the
        # cancellation on: the call raises CancelledError instead.
        fan_out = _amap(function, items, workers, thread_name_prefix)
        return asyncio.run_coroutine_threadsafe(fan_out, loop).result()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=thread_name_prefix) as pool:
        futures = [pool.submit(function, item) for item in items]
    return [future.result() for future in futures]


async def _amap(function: Callable[[T], R], items: list[T], workers: int, thread_name_prefix: str) -> list[R]:
    call = sync_to_async(function, thread_sensitive=False, executor=_pool(thread_name_prefix))
    limit = asyncio.Semaphore(workers)

    async def one(item: T) -> R:
        async with limit:
            return await call(item)

    answers: list[R] = []
    for outcome in await asyncio.gather(*(one(item) for item in items), return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome
        answers.append(outcome)
    return answers


# Threads for map_in_threads under the loop, kept for the process: a pool per call would start its
# threads on the loop (ThreadPoolExecutor.submit waits for a new thread to start), some 10 ms a
# thread on a busy machine, every poll. Not the loop's default executor either: the caller holds
# one of its threads while it waits for these, and a few such callers would starve it. The calls
# run here never fan out again, so a bounded pool cannot deadlock.
# functools.cache: two first calls at once may each make one; the spare serves its one call and goes.
_POOL_THREADS = 32


@functools.cache
def _pool(thread_name_prefix: str) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_POOL_THREADS, thread_name_prefix=thread_name_prefix)
