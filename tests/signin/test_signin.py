"""The sign-in helper, end to end against the emulator: real MSAL, real HTTPS, a person approving in Python.

The helper runs in a thread (or, once, as its own process); the test plays the
person at the browser: it waits for the user code the helper asked for, then
approves, declines or lets it expire, as the emulator's Entra answers the polls.
"""

from __future__ import annotations

import io
import json
import logging
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from airflow_provider_pcinsights.emulator import Emulator
from airflow_provider_pcinsights.hooks.entra import forget_all_token_sources
from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook
from airflow_provider_pcinsights.signin import main

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    # Polls every second (Entra says five), so a test waits one or two seconds, not ten.
    with Emulator(reports=2, device_code_interval=1) as emulator:
        yield emulator
    forget_all_token_sources()


@dataclass
class HelperRun:
    argv: list[str]
    stdout: io.StringIO = field(default_factory=io.StringIO)
    stderr: io.StringIO = field(default_factory=io.StringIO)
    code: int | None = None

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.code = main(self.argv, stdout=self.stdout, stderr=self.stderr)

    def result(self, timeout: float = 30) -> int:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the helper did not finish"
        return self.code


def args_for(emu: Emulator, *extra: str) -> list[str]:
    return [
        "--tenant-id",
        emu.tenant_id,
        "--client-id",
        emu.client_id,
        "--authority-host",
        emu.url,
        "--verify",
        emu.ca_path,
        "--host",
        emu.url,
        *extra,
    ]


@pytest.fixture
def with_secret(emu, monkeypatch):
    monkeypatch.setenv("PCINSIGHTS_CLIENT_SECRET", emu.client_secret)


def printed_connection(stdout: str, conn_id: str) -> dict:
    line = next(line for line in stdout.splitlines() if line.startswith("export "))
    name, _, value = shlex.split(line.removeprefix("export "))[0].partition("=")
    assert name == f"AIRFLOW_CONN_{conn_id.upper()}"
    return json.loads(value)


def device_polls(emu: Emulator) -> list[int | None]:
    return [r.status for r in emu.requests if r.kind == "token" and r.grant_type == DEVICE_CODE_GRANT]


def test_approved_sign_in_prints_a_connection_that_works(emu, with_secret, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    run = HelperRun(args_for(emu, "--conn-id", "pcinsights_minted"))
    user_code = emu.wait_for_device_code()
    emu.device_codes.wait_for_polls(user_code, 1)  # the person is still reading the code
    emu.approve_device_code(user_code)

    assert run.result() == 0, run.stderr.getvalue()
    err, out = run.stderr.getvalue(), run.stdout.getvalue()
    assert user_code in err
    assert f"{emu.url}/devicelogin" in err
    conn = printed_connection(out, "pcinsights_minted")
    refresh_token = conn["extra"]["refresh_token"]
    assert conn["extra"]["auth_type"] == "refresh_token"
    assert conn["extra"]["program"] == "mpn"
    assert conn["password"] == emu.client_secret
    add = next(line for line in out.splitlines() if line.startswith("airflow connections add"))
    assert json.loads(shlex.split(add)[-1]) == conn
    # Secrets reach standard output only: not the messages, not a log.
    for secret in (refresh_token, emu.client_secret):
        assert secret not in err
        assert secret not in caplog.text
    # The poll before the approval waited; the one after it got the tokens.
    assert device_polls(emu)[0] == 400
    assert device_polls(emu)[-1] == 200

    # The minted token is what an mpn connection needs: the hook redeems it with the client secret.
    monkeypatch.setenv("AIRFLOW_CONN_PCINSIGHTS_MINTED", json.dumps(conn))
    hook = PartnerCenterInsightsHook("pcinsights_minted", retries=0)
    assert len(hook.list_reports()) == 2
    assert emu.token_requests(grant_type="refresh_token") == 1


def test_slow_down_is_honoured_and_the_sign_in_still_succeeds(emu, with_secret):
    run = HelperRun(args_for(emu, "--format", "env"))
    user_code = emu.wait_for_device_code()
    emu.device_codes.wait_for_polls(user_code, 1)
    emu.device_codes.slow_down(count=1)
    emu.approve_device_code(user_code)

    assert run.result() == 0, run.stderr.getvalue()
    # Pending, then slow down (the client then waits 5 s longer), then the tokens.
    assert device_polls(emu) == [400, 400, 200]
    assert run.stdout.getvalue().startswith("export AIRFLOW_CONN_PCINSIGHTS_DEFAULT=")
    assert "airflow connections add" not in run.stdout.getvalue()


@pytest.mark.parametrize(
    ("person", "cause"),
    [
        ("decline_device_code", "the sign-in was declined in the browser"),
        ("expire_device_code", "the code expired before the sign-in was approved"),
    ],
)
def test_a_declined_or_expired_code_mints_nothing_and_says_what_to_do(emu, with_secret, person, cause):
    run = HelperRun(args_for(emu))
    getattr(emu, person)(emu.wait_for_device_code())

    assert run.result() == 1
    assert run.stdout.getvalue() == ""
    lines = run.stderr.getvalue().strip().splitlines()
    assert cause in lines[-2]
    assert lines[-1].startswith("Fix: run the command again")


def test_nobody_approving_in_time_gives_up(emu, with_secret):
    run = HelperRun(args_for(emu, "--timeout", "1.5"))
    emu.wait_for_device_code()

    assert run.result() == 1
    assert "nobody approved the sign-in in time" in run.stderr.getvalue()


def test_a_wrong_secret_fails_at_once_with_its_fix(emu, monkeypatch):
    monkeypatch.setenv("PCINSIGHTS_CLIENT_SECRET", "wrong-secret-value")
    run = HelperRun(args_for(emu))

    assert run.result() == 1
    err = run.stderr.getvalue()
    assert "client secret is wrong (AADSTS7000215)" in err
    assert "Fix: put the secret's Value" in err
    assert "wrong-secret-value" not in err
    assert len(device_polls(emu)) == 1


def test_an_unknown_tenant_fails_before_any_code_is_shown(emu, with_secret):
    argv = args_for(emu)
    argv[argv.index(emu.tenant_id)] = "11111111-0000-4000-8000-000000000000"
    run = HelperRun(argv)

    assert run.result() == 1
    assert "was not found" in run.stderr.getvalue()
    assert emu.device_codes.pending() == []


def test_no_secret_anywhere_is_a_usage_error(emu, monkeypatch):
    monkeypatch.delenv("PCINSIGHTS_CLIENT_SECRET", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    run = HelperRun(args_for(emu))
    assert run.result() == 2
    assert "PCINSIGHTS_CLIENT_SECRET" in run.stderr.getvalue()


def test_the_existing_connection_supplies_the_credential_and_keeps_its_fields(emu, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_PCINSIGHTS_CERT",
        emu.connection_json(certificate_path=emu.certificate_path, timeout=45),
    )
    run = HelperRun(["--conn-id", "pcinsights_cert"])
    emu.approve_device_code(emu.wait_for_device_code())

    assert run.result() == 0, run.stderr.getvalue()
    conn = printed_connection(run.stdout.getvalue(), "pcinsights_cert")
    assert conn["extra"]["certificate_path"] == emu.certificate_path
    assert conn["extra"]["timeout"] == 45
    assert "password" not in conn
    assert conn["extra"]["auth_type"] == "refresh_token"


@pytest.fixture
def stored_connection(emu, db_connection):
    """A connection in Airflow's metadata database, as `airflow connections add` leaves it."""
    return db_connection("pcinsights_stored", emu.connection())


def test_update_writes_the_token_into_the_stored_connection(emu, stored_connection):
    from airflow.models.connection import Connection

    run = HelperRun(["--conn-id", stored_connection, "--update"])
    emu.approve_device_code(emu.wait_for_device_code())

    assert run.result() == 0, run.stderr.getvalue()
    assert run.stdout.getvalue() == ""
    stored = Connection.get_connection_from_secrets(stored_connection)
    assert stored.extra_dejson["auth_type"] == "refresh_token"
    assert stored.extra_dejson["refresh_token"] not in run.stderr.getvalue()
    hook = PartnerCenterInsightsHook(connection=stored, retries=0)
    assert len(hook.list_reports()) == 2
    assert emu.token_requests(grant_type="refresh_token") == 1


def test_update_refuses_a_connection_not_in_the_database_before_anyone_signs_in(emu, monkeypatch):
    """A person's MFA sign-in is never thrown away: the row --update writes is checked first."""
    monkeypatch.setenv("AIRFLOW_CONN_PCINSIGHTS_ENV", emu.connection_json())
    run = HelperRun(["--conn-id", "pcinsights_env", "--update"])

    assert run.result() == 2
    assert "is not in Airflow's database" in run.stderr.getvalue()
    assert "run without --update" in run.stderr.getvalue()
    assert run.stdout.getvalue() == ""
    assert [r for r in emu.requests if r.kind == "devicecode"] == []  # no code was ever shown
    assert emu.device_codes.pending() == []


def test_update_warns_that_an_environment_variable_shadows_the_stored_connection(
    emu, stored_connection, monkeypatch
):
    """Airflow reads AIRFLOW_CONN_<ID> before its database: the helper says so, and signs in with
    the stored copy's credential, the one the new token will sit beside."""
    from airflow.models.connection import Connection

    shadow = {**emu.connection(), "password": "not-the-secret-in-the-database"}
    monkeypatch.setenv(f"AIRFLOW_CONN_{stored_connection.upper()}", json.dumps(shadow))
    run = HelperRun(["--conn-id", stored_connection, "--update"])
    user_code = emu.wait_for_device_code()
    warning = run.stderr.getvalue()  # printed before the code: while it can still be fixed
    assert f"the environment variable AIRFLOW_CONN_{stored_connection.upper()} is set" in warning
    emu.approve_device_code(user_code)

    assert run.result() == 0, run.stderr.getvalue()
    monkeypatch.delenv(f"AIRFLOW_CONN_{stored_connection.upper()}")
    stored = Connection.get_connection_from_secrets(stored_connection)
    assert stored.extra_dejson["auth_type"] == "refresh_token"
    assert stored.password == emu.client_secret  # the database's copy, untouched but for the token
    assert "not-the-secret-in-the-database" not in run.stderr.getvalue()


def test_update_without_a_shadowing_variable_warns_nothing(emu, stored_connection):
    run = HelperRun(["--conn-id", stored_connection, "--update"])
    emu.approve_device_code(emu.wait_for_device_code())
    assert run.result() == 0, run.stderr.getvalue()
    assert "warning" not in run.stderr.getvalue()


@pytest.mark.timeout(90)
def test_python_dash_m_signin_runs_as_its_own_process(emu, monkeypatch):
    env = {**__import__("os").environ, "PCINSIGHTS_CLIENT_SECRET": emu.client_secret}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_pcinsights.signin",
            *args_for(emu, "--conn-id", "pcinsights_cli"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        shown = process.stderr.readline()  # what the person reads: the URL and the code
        user_code = emu.wait_for_device_code(timeout=30)
        assert user_code in shown
        emu.approve_device_code(user_code)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    # Standard output is the connection and nothing else (Airflow's own log lines go to stderr).
    assert [line.split()[0] for line in out.splitlines()] == ["export", "airflow"]
    conn = printed_connection(out, "pcinsights_cli")
    assert conn["extra"]["refresh_token"] not in shown + err
    monkeypatch.setenv("AIRFLOW_CONN_PCINSIGHTS_CLI", json.dumps(conn))
    assert PartnerCenterInsightsHook("pcinsights_cli", retries=0).test_connection()[0] is True


def test_update_refuses_before_the_sign_in_when_the_database_takes_no_write(emu, stored_connection):
    """The row is there but the database refuses a write (here another writer holds it, as a
    read-only replica or user would refuse it): nobody is asked to sign in for nothing."""
    import sqlite3

    from airflow.configuration import conf

    url = conf.get("database", "sql_alchemy_conn")
    if not url.startswith("sqlite:///"):
        pytest.skip("holds the write lock of a sqlite database")
    blocker = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=1, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the database for the whole run
    try:
        run = HelperRun(["--conn-id", stored_connection, "--update"])
        code = run.result(timeout=90)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    said = run.stderr.getvalue()
    assert code == 2, said
    assert f"connection {stored_connection!r} in Airflow's database cannot be written" in said
    assert [r for r in emu.requests if r.kind == "devicecode"] == []
