"""The fast variants of `make reliability`'s scenarios: the same code as scripts/reliability.py, fewer cases.

The scenarios live in ``scripts/reliability_scenarios`` (``scripts/`` goes on the path
here, as it is for the script). Each test runs one at its fast size and asserts its
outcomes and counts, never its timings; the full size and the published page are
``make reliability``'s.
"""

from __future__ import annotations

import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))


def pytest_configure(config):
    # Scenario 2 starts Airflow's real components, as tests/e2e does: the same marker leaves both out.
    config.addinivalue_line(
        "markers", "e2e: starts real Airflow components (minutes); deselect with -m 'not e2e'"
    )
