"""End-to-end tests: real Airflow components in processes of their own, started by a script.

Each test runs one script of ``scripts/`` (``triggerer_e2e.py``, ``export_events_e2e.py``,
``holds_engine.py``) and fails with its output. The lean e2e lines run with
``--confcutdir=tests/e2e``, so this file stands alone: nothing from ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "e2e: starts real Airflow components (a minute or more); deselect with -m 'not e2e'",
    )


def _run_script(name: str, *, timeout: float, expect: str, grace: float = 45) -> str:
    """Run ``scripts/<name>`` in a session of its own; its output, once it exited 0 having printed
    ``expect``. Otherwise the test fails with that output.

    The scripts stop the components they started: on a time-out SIGTERM lets the script do that
    within ``grace`` seconds, and SIGKILL ends it only if it cannot.
    """
    process = subprocess.Popen(
        [sys.executable, str(SCRIPTS / name)],
        cwd=SCRIPTS.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        pytest.fail(f"{name} did not finish within {timeout}s:\n{output}")
    assert process.returncode == 0, f"{name} exited {process.returncode}:\n{output}"
    assert expect in output, output
    return output


@pytest.fixture
def run_script() -> Callable[..., str]:
    """``run_script(name, timeout=..., expect=..., grace=45)``: see ``_run_script``."""
    return _run_script
