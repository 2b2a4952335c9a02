"""pytest plugin: fixtures that run the local Partner Center Insights emulator for a test.

Registered as the ``pcinsights`` entry point of ``pytest11``, so it is loaded
in every pytest session where the provider is installed, before any
``conftest.py``. It must therefore import nothing heavy (no Airflow, no
``cryptography``) at module top: the emulator is imported inside the fixtures.

    def test_my_dag(pcinsights_emulator):
        report_id = pcinsights_emulator.report_ids("mpn")[0]
        ...  # AIRFLOW_CONN_PCINSIGHTS_DEFAULT now points at the emulator
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_pcinsights.emulator import Emulator


@pytest.fixture
def pcinsights_emulator_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Emulator]]:
    """Start emulators with custom options; each is stopped when the test ends.

    ``factory(conn_id="pcinsights_default", program="mpn", auth_type=None,
    connection_overrides=None, set_env=True, **emulator_options)`` starts an
    ``Emulator(**emulator_options)`` and, unless ``set_env`` is false, points
    ``AIRFLOW_CONN_<CONN_ID>`` at it for the duration of the test. ``auth_type``
    defaults to what a real tenant uses: ``refresh_token`` (App+User) on ``mpn``,
    ``client_credentials`` on ``cmp``.
    """
    from airflow_provider_pcinsights.emulator import Emulator

    started: list[Emulator] = []

    def start(
        *,
        conn_id: str = "pcinsights_default",
        program: str = "mpn",
        auth_type: str | None = None,
        connection_overrides: dict[str, Any] | None = None,
        set_env: bool = True,
        **options: Any,
    ) -> Emulator:
        emulator = Emulator(**options)
        emulator.start()
        started.append(emulator)
        if set_env:
            env = emulator.connection_env(
                conn_id, program=program, auth_type=auth_type, **(connection_overrides or {})
            )
            for name, value in env.items():
                monkeypatch.setenv(name, value)
        return emulator

    try:
        yield start
    finally:
        for emulator in reversed(started):
            emulator.stop()


@pytest.fixture
def pcinsights_emulator(pcinsights_emulator_factory: Callable[..., Emulator]) -> Emulator:
    """A fresh emulator (3 reports per program); ``pcinsights_default`` points at it.

    The connection uses program ``mpn`` signed in as App+User, as on a real tenant: the
    client secret redeems the emulator's refresh token (which carries a multi-factor claim).
    """
    return pcinsights_emulator_factory()
