"""Fixtures for the emulator's own tests: a running emulator and clients that trust its CA."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emulator_clients import Api, VerifyingSession, app_plus_user_token

from airflow_provider_pcinsights.emulator import Emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(reports=3) as emulator:
        yield emulator


@pytest.fixture
def session(emu: Emulator) -> Iterator[VerifyingSession]:
    with VerifyingSession(emu.ca_path) as client:
        yield client


@pytest.fixture
def token(emu: Emulator, session: VerifyingSession) -> str:
    """An App+User token: the emulator refuses app-only tokens on mpn, as the service does."""
    answer = app_plus_user_token(emu, session)
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


@pytest.fixture
def api(emu: Emulator, session: VerifyingSession, token: str) -> Api:
    return Api(emu, session, token)
