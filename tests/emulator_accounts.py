"""An emulator account on cmp v1.1 behind a named connection (importable from any test directory).

cmp v1.1 is the program whose ``reportId`` filter takes 50 ids joined by ';', so the batched
reads, the bulk actions and the shared trigger polls are counted against it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from airflow_provider_pcinsights.emulator import Emulator
from airflow_provider_pcinsights.hooks.entra import forget_all_token_sources


@contextlib.contextmanager
def cmp_account(monkeypatch: pytest.MonkeyPatch, conn_id: str, reports: int) -> Iterator[Emulator]:
    """An emulator seeded with ``reports`` reports, reachable as the connection ``conn_id``."""
    with Emulator(reports=reports) as emulator:
        for name, value in emulator.connection_env(conn_id, program="cmp").items():
            monkeypatch.setenv(name, value)
        yield emulator


@contextlib.contextmanager
def fresh_token_cache() -> Iterator[None]:
    """No token of an earlier test, and none left for the next: sign-ins are counted per test."""
    forget_all_token_sources()
    try:
        yield
    finally:
        forget_all_token_sources()
