"""Sign-in: one token per process and credential, renewed when it must be, and Entra errors made clear."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_provider_pcinsights.emulator import Emulator
from airflow_provider_pcinsights.exceptions import AuthenticationError, PermissionDeniedError
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


def test_the_token_is_reused_until_near_expiry_then_renewed(monkeypatch, fast_retries):
    """MSAL's cache serves the token until 5 minutes before it expires: here, for 2 seconds."""
    with Emulator(token_lifetime=302) as emulator:
        for name, value in emulator.connection_env("pcinsights_short").items():
            monkeypatch.setenv(name, value)
        hook = PartnerCenterInsightsHook("pcinsights_short", **fast_retries)

        first = hook.get_token()
        assert hook.get_token() == first
        assert emulator.token_requests() == 1

        time.sleep(2.2)  # now less than 5 minutes are left
        renewed = hook.get_token()

        assert renewed != first
        assert emulator.token_requests() == 2
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
