"""Times every garbage collection over 50 ms in any process started with this folder on PYTHONPATH.

How the triggerer's first-poll stall was found (see docs/design.md, "Nothing holds the loop"):

    PYTHONPATH=scripts/loop_diagnostics PYTHONASYNCIODEBUG=1 PCINSIGHTS_GC_LOG=/tmp/gc.log \
        .venv-e2e-3.2/bin/python scripts/triggerer_e2e.py

then compare the times of Airflow's "async thread was blocked" lines in
``.airflow-e2e/af3.2.2/triggerer.log`` with the collections in ``/tmp/gc.log`` (pid, generation,
seconds, and the thread that ran it; ``asyncio_0`` is the runner's executor thread). With
PYTHONASYNCIODEBUG=1, asyncio also logs any callback on the loop that ran over 0.1 s.
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
