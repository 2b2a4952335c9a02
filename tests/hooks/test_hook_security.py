"""Secrets stay secret; TLS settings hold even against the environment."""

from __future__ import annotations

import logging

import pytest
import requests

from airflow_provider_pcinsights.emulator.behaviour import FOREIGN_HOST
from airflow_provider_pcinsights.exceptions import (
    AuthenticationError,
    PartnerCenterInsightsError,
    UnexpectedResponseError,
)
from airflow_provider_pcinsights.hooks import insights as insights_module


def _everything_secret(emu, hook) -> list[str]:
    return [emu.client_secret, emu.refresh_token, hook.get_token()]


def test_no_secret_reaches_the_logs_errors_or_reprs(emu, make_hook, caplog):
    caplog.set_level(logging.DEBUG)
    hook = make_hook(auth_type="refresh_token")
    report_id = emu.report_ids("mpn")[0]
    hook.pause_report(report_id)
    emu.revoke_tokens()  # a 401 and a second sign-in, both logged
    hook.resume_report(report_id)
    emu.faults.fail(count=1, status=400)
    errors = []
    with pytest.raises(PartnerCenterInsightsError) as caught:
        hook.get_report(report_id)
    errors.append(str(caught.value))
    secrets = _everything_secret(emu, hook)
    reprs = [repr(hook), repr(hook.settings), repr(hook._token_source)]

    for secret in secrets:
        assert secret not in caplog.text
        assert all(secret not in text for text in errors + reprs)
    assert "Signed in to Microsoft Entra ID" in caplog.text  # the log was really captured


def test_a_failed_sign_in_says_nothing_secret(emu, make_hook, caplog):
    caplog.set_level(logging.DEBUG)
    hook = make_hook(auth_type="refresh_token", password="a-wrong-but-secret-value")
    with pytest.raises(AuthenticationError) as caught:
        hook.get_token()
    for secret in ("a-wrong-but-secret-value", emu.refresh_token):
        assert secret not in str(caught.value)
        assert secret not in caplog.text


def test_secrets_and_tokens_are_registered_for_masking(emu, make_hook, monkeypatch):
    registered: list[str] = []
    real_mask_secret = insights_module.mask_secret

    def spy(secret, *args, **kwargs):
        registered.append(secret)
        return real_mask_secret(secret, *args, **kwargs)

    monkeypatch.setattr(insights_module, "mask_secret", spy)
    hook = make_hook(auth_type="refresh_token")
    token = hook.get_token()

    assert emu.client_secret in registered
    assert emu.refresh_token in registered
    assert token in registered
    # The refresh token Entra handed back is registered too, whatever it is.
    assert len(registered) >= 4


def test_verify_is_honoured_even_when_requests_ca_bundle_points_elsewhere(emu, make_hook, monkeypatch):
    unrelated_ca = requests.certs.where()  # a real CA bundle that does not know the emulator
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", unrelated_ca)
    monkeypatch.setenv("CURL_CA_BUNDLE", unrelated_ca)
    hook = make_hook(auth_type="refresh_token")  # verify = the emulator's CA

    assert len(hook.list_reports()) == 3  # sign-in through MSAL and the API call both verified


def test_default_trust_refuses_the_emulator_certificate_clearly(emu, make_hook):
    hook = make_hook(verify="true")

    with pytest.raises(PartnerCenterInsightsError, match="verify"):
        hook.get_token()
    assert emu.token_requests() == 0


def test_the_token_is_not_sent_to_another_host(emu, make_hook):
    hook = make_hook()
    stolen: list[str] = []

    class OtherHost(requests.adapters.BaseAdapter):
        """Stands in for the foreign host, so even a regression sends nothing off this machine."""

        def send(self, request, **kwargs):
            stolen.append(request.headers.get("Authorization", ""))
            raise AssertionError("the hook must not call another host")

        def close(self):
            pass

    hook._session("api").mount(FOREIGN_HOST, OtherHost())
    emu.behaviour.page_size = 2
    emu.behaviour.next_link = "foreign"  # the second page is announced on another host

    with pytest.raises(
        UnexpectedResponseError, match="refusing to send the access token to another host"
    ) as caught:
        hook.list_reports()

    assert FOREIGN_HOST in str(caught.value)
    assert stolen == []
    assert [r.query for r in emu.api_requests()] == [{}]  # only the first page was asked for


def test_service_text_that_echoes_the_request_is_quoted_without_any_credential(emu, make_hook, caplog):
    caplog.set_level(logging.DEBUG)
    hook = make_hook(auth_type="refresh_token")
    token = hook.get_token()
    emu.faults.echo(count=3, status=502)  # a proxy quoting the request back: Authorization: Bearer ...

    with pytest.raises(PartnerCenterInsightsError) as caught:
        hook.list_reports()

    message, said = str(caught.value), caught.value.api_message or ""
    assert "Request as received" in said  # quoted...
    assert "authorization: Bearer ***" in said  # ...but redacted
    for secret in (token, emu.client_secret, emu.refresh_token):
        assert secret not in message
        assert secret not in said
        assert secret not in caplog.text

    emu.faults.echo(count=3, status=502)
    ok, said = hook.test_connection()  # never raises, and never quotes a credential either
    assert not ok
    assert "Bearer ***" in said
    assert token not in said


@pytest.mark.parametrize("auth_type", ["refresh_token", "client_credentials"])
def test_msal_debug_records_of_an_answer_echoing_the_form_say_nothing_secret(
    emu, make_hook, caplog, auth_type
):
    """A 400 reaches MSAL, which logs the whole answer at DEBUG (msal.token_cache): it used to quote the
    client secret and the refresh token that the echo carried, before any handler could mask them."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="msal")
    hook = make_hook(auth_type=auth_type, program="cmp" if auth_type == "client_credentials" else "mpn")
    emu.faults.echo(count=3, status=400, path="/oauth2/v2.0/token")

    with pytest.raises(PartnerCenterInsightsError):
        hook.get_token()

    msal_records = [r for r in caplog.records if r.name.startswith("msal")]
    assert any("Request as received" in r.getMessage() for r in msal_records)  # MSAL did log the echo
    for secret in (emu.client_secret, emu.refresh_token):
        assert all(secret not in r.getMessage() for r in caplog.records)
    assert any("client_secret=***" in r.getMessage() for r in msal_records)


def test_a_sign_in_answer_that_echoes_the_form_says_nothing_secret(emu, make_hook, caplog):
    caplog.set_level(logging.DEBUG)
    hook = make_hook(auth_type="refresh_token")
    emu.faults.echo(count=3, status=500, path="/oauth2/v2.0/token")  # client_secret=...&refresh_token=...

    with pytest.raises(PartnerCenterInsightsError) as caught:
        hook.get_token()

    for secret in (emu.client_secret, emu.refresh_token):
        assert secret not in str(caught.value)
        assert secret not in (caught.value.api_message or "")
        assert secret not in caplog.text


@pytest.mark.parametrize("status", [307, 302])
def test_a_redirect_is_not_followed_to_another_host_nor_within_the_api(emu, make_hook, status):
    """requests would follow it, dropping the token for another host but reading that host's answer as the
    service's. Another emulator, on ``localhost``, stands for the other host."""
    from airflow_provider_pcinsights.emulator import Emulator

    hook = make_hook()
    with Emulator(reports=1) as elsewhere:
        other = elsewhere.url.replace("127.0.0.1", "localhost")
        for target in (other, emu.url):
            emu.faults.redirect(count=1, status=status, location=f"{target}/insights/v1/mpn/ScheduledReport")
            with pytest.raises(
                UnexpectedResponseError, match=rf"HTTP {status} with a redirect to "
            ) as caught:
                hook.list_reports()
            assert f"a redirect to {target}, which is not followed" in str(caught.value)
        assert elsewhere.all_requests == []
    assert [r.fault for r in emu.api_requests()] == [f"redirect:{status}"] * 2  # and nothing more
