"""A deferrable ReportStatusSensor, run by Airflow's real scheduler and triggerer.

The trigger tests run ``ReportStatusTrigger`` with ``asyncio.run`` and ``dag.test()``
runs it in the test's own process; only the real triggerer hosts it on its own
event loop, with the supervisor's comms behind connection lookups and secret
masking. ``scripts/triggerer_e2e.py`` starts the emulator and the components
(Airflow 3: scheduler with LocalExecutor, dag-processor, triggerer, api-server;
Airflow 2.11: scheduler with SequentialExecutor, triggerer) on sqlite, triggers a
DAG holding one deferrable sensor and checks the run; this test runs it as a
subprocess and fails with its output. The connection is in Airflow's database and,
on Airflow 3, greenback's portal is off, so a synchronous connection lookup on the
triggerer's loop would fail here (verified by hand: it ends in AirflowNotFoundException).

Beside it, a second deferrable sensor with a short timeout and ``soft_fail`` waits on a
report that stays ``Paused``: its trigger ends the wait at the deadline it carries, after
one last read, with a message that says how long it waited, and the task is skipped.

One to two minutes per Airflow line; ``-m "not e2e"`` leaves it out.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "triggerer_e2e.py"
# The script bounds each phase itself (about 55 s on 2 cores); this only catches a hang.
TIMEOUT = 240

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(TIMEOUT + 60)
def test_deferrable_sensor_completes_through_the_real_triggerer():
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
        # SIGTERM lets the script stop the components it started; SIGKILL only if it cannot.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        pytest.fail(f"{SCRIPT.name} did not finish within {TIMEOUT}s:\n{output}")

    assert process.returncode == 0, f"{SCRIPT.name} exited {process.returncode}:\n{output}"
    assert "OK: the sensor deferred" in output, output
