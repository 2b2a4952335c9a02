"""Every way a sign-in fails ends in two short lines a person can act on, and none is retried forever."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_provider_pcinsights.exceptions import (
    AuthenticationError,
    ServiceUnavailableError,
    ThrottledError,
)

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
