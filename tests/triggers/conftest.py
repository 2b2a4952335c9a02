"""Trigger tests count sign-ins and sessions per test: none is left from an earlier test."""

from __future__ import annotations

import pytest
from emulator_accounts import fresh_token_cache


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    with fresh_token_cache():
        yield
