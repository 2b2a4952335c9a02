"""Holds under Airflow as production runs it: scripts/holds_engine.py, run by ``make test-engine``.

The script starts a throwaway PostgreSQL cluster, the emulator, Airflow 3's
api-server, dag-processor, scheduler (LocalExecutor, parallelism 4) and two
triggerers, runs the three scenarios of issue 14 (a catchup backfill over 6 dates
with 3 runs at once, 8 runs at once with random delays, 200 deferred report waits
with a triggerer restarted mid-wait), judges them from the emulator's timeline and
Airflow's task instance times, and stops everything. Its environment is the only
one with PostgreSQL's drivers; elsewhere the module is skipped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("psycopg2", reason="the engine suite runs in .venv-engine (make test-engine)")
pytest.importorskip("asyncpg", reason="the engine suite runs in .venv-engine (make test-engine)")

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "holds_engine.py"
TIMEOUT = 900

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(TIMEOUT + 90)
def test_holds_hold_under_the_real_scheduler_on_postgresql_with_two_triggerers():
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)  # the script stops what it started
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        pytest.fail(f"{SCRIPT.name} did not finish within {TIMEOUT}s:\n{output}")
    print(output)
    assert process.returncode == 0, output
    assert "OK: every scenario held" in output
