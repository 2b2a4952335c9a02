"""Times every garbage collection over 50 ms in any process started with this folder on PYTHONPATH.

How the triggerer's first-poll stall was found (see docs/design.md, "Nothing holds the loop"):

    PYTHONPATH=scripts/loop_diagnostics PYTHONASYNCIODEBUG=1 PCINSIGHTS_GC_LOG=/tmp/gc.log \
        .venv-e2e-3.2/bin/python scripts/triggerer_e2e.py

then compare the times of Airflow's "async thread was blocked" lines in
``.airflow-e2e/af3.2.2/triggerer.log`` with the collections in ``/tmp/gc.log`` (pid, generation,
seconds, and the thread that ran it; ``asyncio_0`` is the runner's executor thread). With
PYTHONASYNCIODEBUG=1, asyncio also logs any callback on the loop that ran over 0.1 s. With
PCINSIGHTS_STALL_DUMP=/tmp/stall.log, each triggerer process (supervisor and runner) also writes
every thread's stack whenever it could not run Python for 0.12 s (see _heartbeat).
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time

_LOG = os.environ.get("PCINSIGHTS_GC_LOG", "gc.log")
_started: dict[int, float] = {}


def _timed(phase: str, info: dict) -> None:
    key = threading.get_ident()
    if phase == "start":
        _started[key] = time.perf_counter()
        return
    took = time.perf_counter() - _started.pop(key, time.perf_counter())
    if took > 0.05:
        with open(_LOG, "a") as log:
            log.write(
                f"{time.strftime('%H:%M:%S')} pid={os.getpid()} {' '.join(sys.argv[1:3])[:60]} "
                f"gen={info['generation']} collected={info['collected']} {took:.3f}s "
                f"thread={threading.current_thread().name}\n"
            )


gc.callbacks.append(_timed)


# PCINSIGHTS_STALL_DUMP=<file>: in triggerer processes, a Python thread re-arms faulthandler every 20 ms.
# faulthandler's own thread needs no GIL: when nothing could re-arm it for 0.12 s (a C call holding the
# GIL, or the process waiting for a core), it writes every thread's stack to the file, so the thread
# that held the GIL is named.
_STALLS = os.environ.get("PCINSIGHTS_STALL_DUMP")


_arming = threading.Lock()


def _heartbeat() -> None:
    import faulthandler

    out = open(_STALLS, "a")  # noqa: SIM115 - open for the life of the process
    last = time.monotonic()
    while True:
        with _arming:
            faulthandler.dump_traceback_later(0.12, repeat=False, file=out, exit=False)
        time.sleep(0.02)
        now = time.monotonic()
        if now - last > 0.12:  # after a dump: when it ended and how long, to match the watchdog's line
            out.write(f"== pid={os.getpid()} stall of {now - last:.3f}s ended {time.strftime('%H:%M:%S')}\n")
            out.flush()
        last = now


def _before_fork() -> None:
    """faulthandler's timer thread does not survive a fork, and re-arming it in the child would wait
    forever on that thread: stop it here, and start both heartbeats afresh after the fork."""
    import faulthandler

    _arming.acquire()
    faulthandler.cancel_dump_traceback_later()


def _in_child() -> None:
    global _arming
    _arming = threading.Lock()
    _start_heartbeat()


def _start_heartbeat() -> None:
    threading.Thread(target=_heartbeat, name="stall-heartbeat", daemon=True).start()


if _STALLS and "triggerer" in sys.argv:
    _start_heartbeat()
    os.register_at_fork(before=_before_fork, after_in_parent=_arming.release, after_in_child=_in_child)
