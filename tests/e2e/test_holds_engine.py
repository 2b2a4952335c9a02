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

import pytest

pytest.importorskip("psycopg2", reason="the engine suite runs in .venv-engine (make test-engine)")
pytest.importorskip("asyncpg", reason="the engine suite runs in .venv-engine (make test-engine)")

TIMEOUT = 900

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(TIMEOUT + 90)
def test_holds_hold_under_the_real_scheduler_on_postgresql_with_two_triggerers(run_script):
    print(run_script("holds_engine.py", timeout=TIMEOUT, expect="OK: every scenario held", grace=60))
