"""The fast variants of `make reliability`'s scenarios: the same code as scripts/reliability.py, fewer cases.

The scenarios live in ``scripts/reliability_scenarios`` (``tests/conftest.py`` puts
``scripts/`` on the path, as it is for the script). Each test runs one at its fast size and asserts its
outcomes and counts, never its timings; the full size and the published page are
``make reliability``'s.
"""

from __future__ import annotations


def pytest_configure(config):
    # Scenario 2 starts Airflow's real components, as tests/e2e does: the same marker leaves both out.
    config.addinivalue_line(
        "markers", "e2e: starts real Airflow components (minutes); deselect with -m 'not e2e'"
    )
