"""Fixtures for the hook tests: a fresh emulator per test and hooks pointed at it.

Each hook gets tiny retry settings so that failure paths take milliseconds, and
the process-wide token cache is emptied around every test so no test inherits
another's sign-in.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_pcinsights.emulator import Emulator
from airflow_provider_pcinsights.hooks.entra import forget_all_token_sources
from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

FAST_RETRIES = {"retries": 2, "backoff_factor": 0.01, "backoff_max": 0.05, "max_retry_after": 5.0}


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    forget_all_token_sources()
    yield
    forget_all_token_sources()


@pytest.fixture
def fast_retries() -> dict[str, Any]:
    return dict(FAST_RETRIES)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(reports=3) as emulator:
        yield emulator


@pytest.fixture
def make_hook(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> Callable[..., PartnerCenterInsightsHook]:
    """``make_hook(program=..., auth_type=..., conn_id=..., hook_kwargs=..., **connection_overrides)``.

    The connection goes through an ``AIRFLOW_CONN_*`` variable, as users define it. Without an
    ``auth_type`` it signs in as a real tenant would: App+User on mpn, app-only on cmp.
    """

    def make(
        *,
        program: str = "mpn",
        auth_type: str | None = None,
        conn_id: str = "pcinsights_test",
        hook_kwargs: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> PartnerCenterInsightsHook:
        for name, value in emu.connection_env(
            conn_id, program=program, auth_type=auth_type, **overrides
        ).items():
            monkeypatch.setenv(name, value)
        return PartnerCenterInsightsHook(conn_id=conn_id, **{**FAST_RETRIES, **(hook_kwargs or {})})

    return make


@pytest.fixture
def stranger_pem(tmp_path) -> str:
    """A PEM (key and self-signed certificate) that no app in the emulator's tenant has registered."""
    from airflow_provider_pcinsights.emulator.tls import stranger_pem as unregistered

    pem = tmp_path / "stranger.pem"
    pem.write_bytes(unregistered())
    return str(pem)


@pytest.fixture
def lookups_of_invalid_names(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names under RFC 6761's ``.invalid`` never resolve; answer so here, without asking any DNS server.

    Everything above the resolver (urllib3, requests, MSAL, the hook) runs for real; only the lookup
    of such a name is answered on this machine, as the resolver would (``EAI_NONAME``), and counted.
    """
    real_getaddrinfo = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.rstrip(".").lower().endswith(".invalid"):
            asked.append(name)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked
