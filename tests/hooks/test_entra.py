"""``hooks.entra``: Entra sign-in, what its refusals mean, and rotated refresh tokens.

- Sign-in: one token per process and credential, renewed when it must be, and Entra errors made clear.
- Every way a sign-in fails ends in two short lines a person can act on, and none is retried forever.
- Rotated refresh tokens: kept in memory, and written back to Airflow's database when asked and safe.
"""

from __future__ import annotations

import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

import pytest

from airflow_provider_pcinsights.exceptions import (
    AuthenticationError,
    PermissionDeniedError,
    ServiceUnavailableError,
    ThrottledError,
)
from airflow_provider_pcinsights.hooks import connection as _connection
from airflow_provider_pcinsights.hooks.entra import forget_all_token_sources
from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook


def test_one_token_is_shared_by_every_hook_with_the_same_credential(emu, make_hook):
    first = make_hook(conn_id="pcinsights_a")
    second = make_hook(conn_id="pcinsights_b")  # another connection, same app and secret
    third = PartnerCenterInsightsHook("pcinsights_a", retries=0)

    for hook in (first, second, third, first):
        hook.list_reports()

    assert first.get_token() == second.get_token() == third.get_token()
    assert emu.token_requests() == 1
    assert len(emu.api_requests()) == 4


def test_threads_sharing_one_hook_sign_in_once(emu, make_hook):
    hook = make_hook()
    ids = emu.report_ids("mpn")

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(lambda i: hook.get_report(ids[i % 3])["ReportStatus"], range(12)))

    assert statuses == ["Active"] * 12
    assert emu.token_requests() == 1


def test_a_different_credential_signs_in_on_its_own(emu, make_hook):
    make_hook(conn_id="pcinsights_secret").list_reports()
    make_hook(conn_id="pcinsights_cert", certificate_path=emu.certificate_path).list_reports()

    assert emu.token_requests() == 2


def test_a_rejected_token_is_renewed_and_the_call_retried_once(emu, make_hook):
    hook = make_hook()
    report_id = emu.report_ids("mpn")[0]
    hook.get_report(report_id)
    old_token = hook.get_token()
    emu.revoke_tokens()

    assert hook.pause_report(report_id)["ReportStatus"] == "Paused"

    assert [r.status for r in emu.api_requests(method="PUT")] == [401, 200]
    assert emu.token_requests() == 2
    assert hook.get_token() != old_token


def test_a_second_401_is_an_authentication_error_naming_what_to_check(emu, make_hook):
    hook = make_hook(auth_type="refresh_token")
    emu.faults.fail(count=2, status=401)

    with pytest.raises(AuthenticationError) as caught:
        hook.list_reports()

    message = str(caught.value)
    assert caught.value.status_code == 401
    assert emu.tenant_id in message
    assert emu.client_id in message
    assert "secret" in message
    assert "refresh token" in message
    assert emu.token_requests() == 2


def test_the_token_is_reused_until_near_expiry_then_renewed(emu, make_hook, monkeypatch):
    """MSAL's cache serves the token until 5 minutes before it expires, then signs in again.

    The emulator's tokens last an hour. MSAL's clock (``msal.application.time``) is moved 56 minutes on
    rather than the test waiting: a token that lived a few seconds, waited out with ``sleep``, was renewed
    before the second look-up on a loaded machine."""
    import msal.application

    hook = make_hook()
    first = hook.get_token()
    assert hook.get_token() == first
    assert emu.token_requests() == 1

    class _FourMinutesLeft:
        def __getattr__(self, name: str) -> object:
            return getattr(time, name)

        @staticmethod
        def time() -> float:
            return time.time() + 56 * 60

    monkeypatch.setattr(msal.application, "time", _FourMinutesLeft())
    renewed = hook.get_token()

    assert renewed != first
    assert emu.token_requests() == 2
    assert len(hook.list_reports()) == 3


def test_app_plus_user_signs_in_once_for_every_hook_and_thread(emu, make_hook):
    """MSAL's cache serves the App+User token too: one refresh-token redemption per process."""
    first = make_hook(auth_type="refresh_token", conn_id="pcinsights_user_a")
    second = make_hook(auth_type="refresh_token", conn_id="pcinsights_user_b")
    ids = emu.report_ids("mpn")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda i: (first, second)[i % 2].get_report(ids[i % 3]), range(8)))

    assert emu.token_requests() == 1
    assert emu.token_requests(grant_type="refresh_token") == 1
    assert first.get_token() == second.get_token()


def test_app_plus_user_keeps_the_newest_refresh_token(emu, make_hook):
    hook = make_hook(auth_type="refresh_token")
    hook.list_reports()
    # The connection's refresh token now expires; the one Entra handed back still works.
    emu.expire_refresh_token(emu.refresh_token)
    emu.revoke_tokens()

    assert len(hook.list_reports()) == 3
    assert emu.token_requests(grant_type="refresh_token") == 2


def test_an_expired_refresh_token_is_an_authentication_error(emu, make_hook):
    emu.expire_refresh_tokens()
    hook = make_hook(auth_type="refresh_token")

    with pytest.raises(AuthenticationError, match=r"AADSTS\d+") as caught:
        hook.list_reports()

    assert "refresh token" in str(caught.value)
    assert emu.api_requests() == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"password": "wrong-secret-value"},
        {"login": "00000000-0000-4000-8000-0000000000aa"},
        {"tenant_id": "11111111-0000-4000-8000-000000000000"},
    ],
    ids=["wrong secret", "unknown client", "unknown tenant"],
)
def test_entra_refusals_are_authentication_errors_with_the_aadsts_code(emu, make_hook, overrides):
    hook = make_hook(**overrides)

    with pytest.raises(AuthenticationError, match=r"AADSTS\d+") as caught:
        hook.get_token()

    assert "wrong-secret-value" not in str(caught.value)
    assert emu.client_secret not in str(caught.value)
    assert emu.api_requests() == []


def test_a_certificate_the_tenant_does_not_know_is_refused(emu, make_hook, stranger_pem):
    hook = make_hook(certificate_path=stranger_pem)

    with pytest.raises(AuthenticationError, match=r"AADSTS\d+.*certificate|certificate.*AADSTS\d+"):
        hook.get_token()


def test_a_pem_without_a_private_key_is_refused_before_sign_in(emu, make_hook, tmp_path):
    pem = tmp_path / "cert-only.pem"
    with open(emu.ca_path) as ca:
        pem.write_text(ca.read())  # a certificate alone
    hook = make_hook(certificate_path=str(pem))

    with pytest.raises(ValueError, match=r"certificate_path.*no private key"):
        hook.get_token()
    assert emu.token_requests() == 0


@pytest.mark.parametrize("program", ["mpn", "cmp"])
def test_a_missing_partner_center_role_is_permission_denied_naming_the_role(emu, make_hook, program):
    # On mpn the app signs in as App+User: a refresh token of a user signed in through that app.
    refresh_token = emu.tokens.issue_refresh_token(emu.unauthorized_client_id)
    hook = make_hook(
        program=program,
        login=emu.unauthorized_client_id,
        password=emu.unauthorized_client_secret,
        **({"refresh_token": refresh_token} if program == "mpn" else {}),
    )

    with pytest.raises(PermissionDeniedError) as caught:
        hook.list_reports()

    expected_role = {"cmp": "Manager role", "mpn": "Executive Report Viewer role"}[program]
    assert expected_role in str(caught.value)
    assert caught.value.status_code == 403


def test_a_refresh_token_without_mfa_is_told_to_sign_in_with_mfa_not_to_check_the_secret(emu, make_hook):
    hook = make_hook(program="mpn", refresh_token=emu.new_refresh_token(mfa=False))

    with pytest.raises(AuthenticationError) as caught:
        hook.list_reports()

    message = str(caught.value)
    assert caught.value.status_code == 401
    assert caught.value.api_message == "Authentication failed. MFA required. (10001)"
    assert "requires multi-factor authentication" in message
    assert "App+User token from a sign-in that passed MFA" in message
    assert "refresh_token" in message
    assert "client secret" not in message
    assert len(emu.api_requests()) == 1  # a fresh token would lack MFA too: not asked again
    assert emu.token_requests() == 1


@pytest.mark.parametrize(("refusal", "error"), [("401", AuthenticationError), ("403", PermissionDeniedError)])
def test_an_app_only_token_on_mpn_is_told_that_mpn_needs_app_plus_user(emu, make_hook, refusal, error):
    emu.behaviour.app_only_on_mpn = refusal
    hook = make_hook(program="mpn", auth_type="client_credentials")

    with pytest.raises(error) as caught:
        hook.list_reports()

    message = str(caught.value)
    assert "The mpn program (Partner Center insights) needs App+User sign-in" in message
    assert "auth_type to refresh_token" in message
    assert "App+User" in (caught.value.api_message or "")  # the service's words too


def test_app_only_on_mpn_works_where_the_service_allows_it(emu, make_hook):
    emu.behaviour.app_only_on_mpn = "allow"
    assert len(make_hook(program="mpn", auth_type="client_credentials").list_reports()) == 3


TOKEN_PATH = "/oauth2/v2.0/token"


def assert_cause_and_fix(message: str, *, cause: str, fix: str) -> None:
    """Line one says what went wrong, line two how to fix it; the correlation id at most once."""
    lines = message.splitlines()
    assert len(lines) == 2, message
    assert re.search(cause, lines[0]), lines[0]
    assert lines[1].startswith("Fix: ")
    assert re.search(fix, lines[1]), lines[1]
    assert message.count("orrelation") <= 1, message
    assert "Trace ID" not in message


def sign_in_error(make_hook, **overrides) -> AuthenticationError:
    hook = make_hook(**overrides)
    with pytest.raises(AuthenticationError) as caught:
        hook.get_token()
    return caught.value


def test_wrong_secret(emu, make_hook):
    error = sign_in_error(make_hook, password="wrong-secret-value")
    assert_cause_and_fix(
        str(error), cause=r"client secret is wrong \(AADSTS7000215\)", fix="Value, not its Secret ID"
    )
    assert re.search(r"Correlation id: [0-9a-f-]{36}\.$", str(error))
    assert "wrong-secret-value" not in str(error)
    assert "wrong-secret-value" not in (error.api_message or "")


def test_unknown_client(emu, make_hook):
    error = sign_in_error(make_hook, login="00000000-0000-4000-8000-0000000000aa")
    assert_cause_and_fix(
        str(error),
        cause=r"no app with client id 00000000-0000-4000-8000-0000000000aa .*\(AADSTS700016\)",
        fix="Application \\(client\\) ID",
    )


def test_unknown_tenant(emu, make_hook):
    error = sign_in_error(make_hook, tenant_id="11111111-0000-4000-8000-000000000000")
    assert_cause_and_fix(
        str(error), cause=r"tenant 11111111-0000-4000-8000-000000000000 was not found", fix="tenant_id"
    )
    assert "AADSTS90002" in str(error)


def test_a_certificate_the_app_does_not_know(emu, make_hook, stranger_pem):
    error = sign_in_error(make_hook, certificate_path=stranger_pem)
    assert_cause_and_fix(str(error), cause="certificate", fix="upload the certificate")


def test_a_federated_token_the_app_does_not_trust(emu, make_hook, tmp_path):
    forged = tmp_path / "token.jwt"
    original = Path(emu.client_assertion_file).read_text()
    forged.write_text(original[:-4] + "AAAA")
    error = sign_in_error(make_hook, client_assertion_file=str(forged))
    assert_cause_and_fix(str(error), cause="federated token", fix="federated credential")


@pytest.mark.parametrize(
    ("spoil", "cause", "code"),
    [
        ("expire_refresh_tokens", "has expired \\(90 days without use\\)", "AADSTS700082"),
        ("revoke_refresh_tokens", "was revoked", "AADSTS50173"),
    ],
)
def test_a_dead_refresh_token_says_how_to_mint_a_new_one(emu, make_hook, spoil, cause, code):
    getattr(emu, spoil)()
    error = sign_in_error(make_hook, auth_type="refresh_token", conn_id="pcinsights_user")
    assert_cause_and_fix(
        str(error),
        cause=cause,
        fix=re.escape("python -m airflow_provider_pcinsights.signin --conn-id pcinsights_user --update"),
    )
    assert code in str(error)
    assert emu.refresh_token not in str(error)
    assert emu.api_requests() == []


def test_an_unknown_refresh_token_is_invalid_grant_with_the_same_fix(emu, make_hook):
    error = sign_in_error(make_hook, auth_type="refresh_token", refresh_token="0.not-one-entra-issued")
    assert_cause_and_fix(str(error), cause="refresh token is not valid", fix="signin")
    assert "0.not-one-entra-issued" not in str(error)


def test_a_token_endpoint_that_keeps_failing_is_given_up_after_the_retries(emu, make_hook):
    emu.faults.fail(count=50, status=503, path=TOKEN_PATH)
    hook = make_hook()  # 2 retries
    with pytest.raises(ServiceUnavailableError) as caught:
        hook.get_token()
    assert_cause_and_fix(str(caught.value), cause="answered HTTP 503 after 2 retries", fix="retry later")
    assert emu.token_requests() == 3


def test_a_throttled_token_endpoint_is_given_up_after_the_retries(emu, make_hook):
    emu.faults.throttle(count=50, retry_after=0, path=TOKEN_PATH)
    hook = make_hook()
    with pytest.raises(ThrottledError) as caught:
        hook.get_token()
    assert caught.value.status_code == 429
    assert_cause_and_fix(str(caught.value), cause="throttled", fix="fewer sign-ins at once")
    assert emu.token_requests() == 3


def test_a_transient_token_endpoint_failure_is_retried(emu, make_hook):
    emu.faults.fail(count=1, status=503, path=TOKEN_PATH)
    assert make_hook().get_token()
    assert emu.token_requests() == 2


def test_a_sign_in_page_instead_of_entra_names_the_authority_host(emu, make_hook):
    emu.faults.html(count=1, status=200, path=TOKEN_PATH)
    error = sign_in_error(make_hook)
    assert_cause_and_fix(str(error), cause="not Entra's", fix="authority_host")


@pytest.mark.parametrize(
    "body",
    [b"[]", b'"token"', b"[" * 100_000 + b"]" * 100_000],
    ids=["an array", "a string", "nested 100,000 deep"],
)
def test_json_that_is_not_an_oauth_object_names_the_authority_host(emu, make_hook, body):
    """MSAL reads the token answer with ``.get``: an array used to end in AttributeError, deep nesting
    in RecursionError."""
    emu.faults.raw_body(count=1, body=body, path=TOKEN_PATH)
    error = sign_in_error(make_hook)
    assert_cause_and_fix(str(error), cause="not Entra's", fix="authority_host")


def test_a_redirect_from_the_token_endpoint_is_not_followed_with_the_secret(emu, make_hook):
    """On a 307 requests posts the form again to wherever Location says: the client secret and the
    refresh token would go to that host. Another emulator, on ``localhost``, stands for it."""
    from airflow_provider_pcinsights.emulator import Emulator

    with Emulator(reports=0) as elsewhere:
        target = f"{elsewhere.url.replace('127.0.0.1', 'localhost')}/{emu.tenant_id}{TOKEN_PATH}"
        emu.faults.redirect(count=3, location=target, path=TOKEN_PATH)
        error = sign_in_error(make_hook, auth_type="refresh_token")
        assert elsewhere.all_requests == []
    assert_cause_and_fix(
        str(error),
        cause=r"HTTP 307, a redirect to https://localhost:\d+, which is not followed",
        fix="authority_host",
    )
    assert emu.token_requests() == 1  # not retried either


AIRFLOW_MAJOR = int(version("apache-airflow").split(".")[0])
CONN_ID = "pcinsights_rotating"


@pytest.fixture(autouse=True)
def _fresh_warnings():
    _connection.warn_once.cache_clear()


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
