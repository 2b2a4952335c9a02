"""Fixtures for the emulator's own tests: a running emulator and clients that trust its CA."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emulator_support.fixtures import api, session, token  # noqa: F401  (fixtures)

from airflow_provider_pcinsights.emulator import Emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(reports=3) as emulator:
        yield emulator


@pytest.fixture
def with_admin(emu: Emulator) -> Emulator:
    """``emu`` with the admin endpoints of ``scripts/emulator_extras`` (for the tests that reach it
    as another process would, through ``/_emulator/``)."""
    from emulator_extras import admin

    return admin.attach(emu)
