"""End-to-end tests: real Airflow components in processes of their own."""

from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "e2e: starts real Airflow components (about a minute); deselect with -m 'not e2e'",
    )
