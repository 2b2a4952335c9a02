"""Rotated refresh tokens: kept in memory, and written back to Airflow's database when asked and safe."""

from __future__ import annotations

import logging
from importlib.metadata import version

import pytest

from airflow_provider_pcinsights.hooks import connection as _connection
from airflow_provider_pcinsights.hooks.entra import forget_all_token_sources
from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

AIRFLOW_MAJOR = int(version("apache-airflow").split(".")[0])
CONN_ID = "pcinsights_rotating"


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch):
    monkeypatch.setattr(_connection, "_WARNED", set())


@pytest.fixture
def stored(emu, db_connection):
    """An App+User connection stored in Airflow's metadata database."""
    db_connection(CONN_ID, emu.connection(auth_type="refresh_token"))


def stored_refresh_token() -> str:
    from airflow.models.connection import Connection

    return Connection.get_connection_from_secrets(CONN_ID).extra_dejson["refresh_token"]


def db_hook(**kwargs) -> PartnerCenterInsightsHook:
    from airflow.models.connection import Connection

    return PartnerCenterInsightsHook(
        CONN_ID, connection=Connection.get_connection_from_secrets(CONN_ID), retries=0, **kwargs
    )


def test_by_default_the_stored_token_is_left_alone(emu, stored):
    db_hook().list_reports()
    assert stored_refresh_token() == emu.refresh_token


@pytest.mark.skipif(AIRFLOW_MAJOR >= 3, reason="Airflow 2 tasks may write connections")
def test_on_airflow_2_the_rotated_token_is_stored_and_outlives_the_old_one(emu, stored):
    db_hook(store_rotated_refresh_token=True).list_reports()
    newest = stored_refresh_token()
    assert newest != emu.refresh_token

    # A new process, long after: the token it read is dead, the stored one works.
    emu.expire_refresh_token(emu.refresh_token)
    forget_all_token_sources()
    emu.revoke_tokens()
    assert len(db_hook(store_rotated_refresh_token=True).list_reports()) == 3
    assert stored_refresh_token() not in (newest, emu.refresh_token)


@pytest.mark.skipif(AIRFLOW_MAJOR >= 3, reason="Airflow 2 tasks may write connections")
def test_a_token_another_process_stored_meanwhile_is_not_overwritten(emu, stored):
    from airflow_provider_pcinsights.signin._store import store_refresh_token

    hook = db_hook(store_rotated_refresh_token=True)  # this process has read the connection
    assert store_refresh_token(CONN_ID, "0.stored-by-another-process", previous=None) == "stored"
    hook.list_reports()
    assert stored_refresh_token() == "0.stored-by-another-process"


@pytest.mark.skipif(AIRFLOW_MAJOR < 3, reason="Airflow 3 tasks cannot write connections")
def test_on_airflow_3_the_option_warns_once_and_changes_nothing(emu, stored, caplog):
    with caplog.at_level(logging.WARNING, logger=_connection.__name__):
        db_hook(store_rotated_refresh_token=True).list_reports()
        db_hook(store_rotated_refresh_token=True).list_reports()
    warnings = [r.getMessage() for r in caplog.records if r.name == _connection.__name__]
    assert len(warnings) == 1
    assert "Airflow 3 tasks cannot write connections" in warnings[0]
    assert f"--conn-id {CONN_ID} --update" in warnings[0]
    assert stored_refresh_token() == emu.refresh_token


def test_a_connection_from_the_environment_keeps_the_newest_token_in_memory(emu, make_hook, caplog):
    hook = make_hook(
        auth_type="refresh_token", conn_id="pcinsights_env", hook_kwargs={"store_rotated_refresh_token": True}
    )
    with caplog.at_level(logging.WARNING, logger=_connection.__name__):
        hook.list_reports()
    emu.expire_refresh_token(emu.refresh_token)
    emu.revoke_tokens()
    assert len(hook.list_reports()) == 3
    messages = " ".join(r.getMessage() for r in caplog.records if r.name == _connection.__name__)
    assert ("not in Airflow's database" in messages) or AIRFLOW_MAJOR >= 3
    for record in caplog.records:
        assert emu.refresh_token not in record.getMessage()
