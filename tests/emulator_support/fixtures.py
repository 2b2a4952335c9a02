"""Fixtures for the emulator's tests: clients that trust its CA. Each conftest that imports them
defines ``emu``, the emulator they talk to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_pcinsights.emulator import Emulator
from emulator_support.clients import Api, VerifyingSession, app_plus_user_token


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
