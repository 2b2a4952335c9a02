"""Fixtures for the tests of ``scripts/emulator_extras``: an emulator with the admin endpoints."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emulator_extras import admin
from emulator_support.fixtures import api, session, token  # noqa: F401  (fixtures)

from airflow_provider_pcinsights.emulator import Emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with admin.attach(Emulator(reports=3)) as emulator:
        yield emulator
