"""``AdaptiveLimit`` (halve on 429, grow back slowly) and ``run_bulk`` (every item one outcome, in order)."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from airflow_provider_pcinsights.operators.bulk import DEFAULT_CEILING, GROWTH_ROUNDS, AdaptiveLimit, run_bulk

# -- the limit -----------------------------------------------------------------------------------


def test_a_429_halves_the_limit_down_to_the_floor_and_successes_grow_it_back_slowly():
    limit = AdaptiveLimit(ceiling=10)
    steps = []
    for _ in range(5):
        limit.throttled()  # outside any slot: every signal counts
        steps.append(limit.limit)
    assert steps == [5, 3, 2, 1, 1]  # halved, rounded up; never below the floor
    assert limit.decreases == 4

    grown = []
    for _ in range(GROWTH_ROUNDS * (1 + 2 + 3)):  # one step per GROWTH_ROUNDS x limit successes
        limit.succeeded()
        grown.append(limit.limit)
    assert grown[GROWTH_ROUNDS - 2 : GROWTH_ROUNDS] == [1, 2]
    assert grown[GROWTH_ROUNDS * 3 - 2 : GROWTH_ROUNDS * 3] == [2, 3]
    assert grown[-2:] == [3, 4]
    for _ in range(1000):
        limit.succeeded()
    assert limit.limit == 10  # never above the ceiling


def test_429s_of_calls_sent_before_a_halving_do_not_halve_it_again():
    limit = AdaptiveLimit(ceiling=16)
    both_in = threading.Barrier(2)
    first_done = threading.Event()

    def call(first: bool) -> None:
        with limit.slot():
            both_in.wait()
            if first:
                limit.throttled()
                first_done.set()
            else:
                first_done.wait()
                limit.throttled()  # sent under the old limit: the same round

    threads = [threading.Thread(target=call, args=(first,)) for first in (True, False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert limit.limit == 8
    assert limit.decreases == 1

    with limit.slot():  # sent after the halving: its 429 counts
        limit.throttled()
    assert limit.limit == 4


def test_only_successes_at_the_limit_grow_it():
    limit = AdaptiveLimit(ceiling=4)
    limit.throttled()
    limit.throttled()  # down to 1
    with limit.slot() as slot:
        slot.counts = False  # the caller's call failed
    with pytest.raises(RuntimeError), limit.slot():
        raise RuntimeError("the call blew up")
    with limit.slot():
        limit.throttled()
    assert limit.increases == 0
    for _ in range(GROWTH_ROUNDS):
        with limit.slot():  # one at a time against a limit of 1: all of it taken
            pass
    assert limit.limit == 2
    for _ in range(GROWTH_ROUNDS * 10):
        with limit.slot():  # one at a time against a limit of 2: half of it idle
            pass
    assert limit.limit == 2


def test_backing_off_gives_the_slot_back_while_the_transport_sleeps():
    limit = AdaptiveLimit(ceiling=4)
    with limit.slot():
        assert limit.in_flight == 1
        with limit.backing_off():
            assert limit.in_flight == 0
        assert limit.in_flight == 1
    assert limit.in_flight == 0
    with limit.backing_off():  # outside a slot: nothing to give back
        assert limit.in_flight == 0


# -- the runner ------------------------------------------------------------------------------------


class Concurrency:
    """Counts how many calls run at once."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.lock = threading.Lock()

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


def test_every_item_gets_one_outcome_in_input_order_errors_included():
    def work(item: int) -> int:
        if item % 7 == 3:
            raise ValueError(f"item {item} is bad")
        if item == 11:
            raise SystemExit("even this is an outcome")
        return item * item

    outcomes = run_bulk(work, list(range(40)), limit=AdaptiveLimit(ceiling=5))

    assert [o.item for o in outcomes] == list(range(40))
    assert [o.index for o in outcomes] == list(range(40))
    assert [o.value for o in outcomes if o.ok] == [i * i for i in range(40) if i % 7 != 3 and i != 11]
    errors = {o.index: type(o.error) for o in outcomes if not o.ok}
    assert errors == {
        3: ValueError,
        10: ValueError,
        11: SystemExit,
        17: ValueError,
        24: ValueError,
        31: ValueError,
        38: ValueError,
    }


def test_no_more_run_at_once_than_the_limit_allows_and_it_follows_the_429s():
    limit = AdaptiveLimit(ceiling=6)
    running = Concurrency()

    def work(item: int) -> None:
        with running:
            time.sleep(0.002)
            if item == 20:
                limit.throttled()

    run_bulk(work, list(range(60)), limit=limit)

    assert running.peak <= 6
    assert limit.peak_in_flight <= 6
    assert limit.decreases == 1
    assert limit.lowest == 3


def test_the_default_limit_has_the_default_ceiling():
    running = Concurrency()

    def work(item: int) -> None:
        with running:
            time.sleep(0.01)

    run_bulk(work, list(range(DEFAULT_CEILING * 3)))
    assert running.peak <= DEFAULT_CEILING


def test_an_interrupted_run_starts_nothing_more_waits_for_what_runs_and_says_so():
    main = threading.main_thread().ident
    release = threading.Event()
    started: list[int] = []
    finished: list[int] = []
    both_running = threading.Barrier(3)

    def on_sigint(signum, frame):  # type: ignore[no-untyped-def]
        release.set()
        raise KeyboardInterrupt

    def work(item: int) -> int:
        started.append(item)
        if item < 2:
            both_running.wait()
            release.wait(10)
        else:
            time.sleep(0.05)
        finished.append(item)
        return item

    def interrupt() -> None:
        both_running.wait()
        signal.pthread_kill(main, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        threading.Thread(target=interrupt, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            run_bulk(
                work,
                list(range(50)),
                limit=AdaptiveLimit(ceiling=2),
            )
    finally:
        signal.signal(signal.SIGINT, previous)

    assert sorted(finished) == sorted(started)  # everything started ran to its end before the raise
    assert len(started) < 50


class Refused(Exception):
    """Stands for ThrottledError: the call was refused, nothing was done."""


def test_items_refused_are_tried_again_last_up_to_max_attempts_and_reported_once():
    tries: dict[int, int] = {}
    order: list[int] = []
    lock = threading.Lock()

    def work(item: int) -> int:
        with lock:
            tries[item] = tries.get(item, 0) + 1
            order.append(item)
        if item == 2 and tries[item] == 1:
            raise Refused("throttled once")
        if item == 4:
            raise Refused("throttled for good")
        if item == 5:
            raise ValueError("not a refusal: never tried again")
        return item

    outcomes = run_bulk(
        work,
        list(range(8)),
        limit=AdaptiveLimit(ceiling=1),
        again_on=(Refused,),
        max_attempts=3,
    )

    assert [o.item for o in outcomes] == list(range(8))
    assert (outcomes[2].ok, outcomes[2].attempts) == (True, 2)
    assert (type(outcomes[4].error), outcomes[4].attempts) == (Refused, 3)
    assert (type(outcomes[5].error), outcomes[5].attempts) == (ValueError, 1)
    assert order == [0, 1, 2, 3, 4, 5, 6, 7, 2, 4, 4]  # tried again after the others


def test_the_items_are_found_while_the_workers_start_and_a_worker_that_cannot_start_loses_no_item(
    monkeypatch,
):
    """The read before a bulk action does not wait for the workers' start; if the machine refuses
    threads past the third, the three started take every item."""
    found = threading.Event()
    real_start = threading.Thread.start
    workers = []
    found_before_the_first_worker = []

    def start(thread: threading.Thread) -> None:
        if thread.name.startswith("pcinsights-bulk-") and thread.name != "pcinsights-bulk-start":
            if not workers:  # before the fix the items were found only once every worker had started
                found_before_the_first_worker.append(found.wait(timeout=5))
            if len(workers) == 3:
                raise RuntimeError("can't start new thread")
            workers.append(thread.name)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)

    def find() -> list[int]:
        found.set()
        return list(range(20))

    outcomes = run_bulk(lambda item: item * 2, find, limit=AdaptiveLimit(ceiling=5), most_items=20)

    assert found_before_the_first_worker == [True]
    assert len(workers) == 3
    assert [o.value for o in outcomes] == [item * 2 for item in range(20)]


def test_when_no_worker_can_start_every_item_ends_not_attempted_with_the_reason(monkeypatch):
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        if thread.name.startswith("pcinsights-bulk-") and thread.name != "pcinsights-bulk-start":
            raise RuntimeError("can't start new thread")
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    outcomes = run_bulk(lambda item: item, [1, 2])
    assert [type(o.error).__name__ for o in outcomes] == ["NotAttempted", "NotAttempted"]
    assert "can't start new thread" in str(outcomes[0].error)
