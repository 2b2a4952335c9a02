"""Deferrable sensors, run by Airflow's real scheduler and triggerer, across a triggerer restart.

The trigger tests run the triggers with ``asyncio.run`` and ``dag.test()`` runs them
in the test's own process; only the real triggerer hosts them in its runner process,
whose one channel to its supervisor carries connection look-ups and secret masking
(on Airflow 3.0 and 3.1 a call on it from the wrong thread killed the runner:
"Response read out of order!"). ``scripts/triggerer_e2e.py`` starts the emulator and
the components (Airflow 3: scheduler with LocalExecutor, dag-processor, triggerer,
api-server; Airflow 2.11: scheduler with SequentialExecutor, triggerer) on sqlite,
triggers a DAG holding a deferrable ``ReportStatusSensor`` and a deferrable
``ReportExecutionSensor``, stops the triggerer while both wait and starts a new one,
then lets the waits come true; it fails on a wrong end, or on a traceback, a runner
crash or the triggerer's blocked-loop warning in any Airflow log. Beside them, a third
deferrable sensor with a short timeout and ``soft_fail`` waits on a report that stays
``Paused``: its trigger ends the wait at the deadline it carries, after one last read,
with a message that says how long it waited, and the task is skipped. This test runs
the script as a subprocess and fails with its output.

`make test` runs it on the newest patch of every Airflow minor: in the whole suite on
2.11 and the newest 3.x, alone (``pytest -m e2e``) on 3.0, 3.1 and 3.2. About a minute
and a half per line; ``-m "not e2e"`` leaves it out.
"""

from __future__ import annotations

import pytest

# The script bounds each phase itself (about 80 s on 2 cores); this only catches a hang.
TIMEOUT = 420

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(TIMEOUT + 60)
def test_deferrable_sensors_complete_through_the_real_triggerer_restarted_mid_wait(run_script):
    run_script("triggerer_e2e.py", timeout=TIMEOUT, expect="OK: both sensors deferred")
