"""Real MSAL signs in to the emulator with every credential the provider supports, and gets Entra's errors."""

from __future__ import annotations

import time
from pathlib import Path

import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from emulator_support.clients import VerifyingSession, client_credentials_token, msal_app
from msal.oauth2cli.assertion import JwtAssertionCreator

from airflow_provider_pcinsights.emulator import Emulator

_MSAL = tuple(int(part) for part in msal.__version__.split(".")[:2])
# The floor run installs an older MSAL; these tests use what MSAL added later.
needs_msal_sha256_assertions = pytest.mark.skipif(
    _MSAL < (1, 30), reason="JwtAssertionCreator takes sha256_thumbprint from MSAL 1.30"
)
needs_msal_ps256 = pytest.mark.skipif(
    _MSAL < (1, 35), reason="MSAL computes the SHA-256 thumbprint and signs with PS256 from 1.35"
)


def _pem(emu: Emulator) -> str:
    return Path(emu.certificate_path).read_text()


def _api_status(emu: Emulator, session: VerifyingSession, access_token: str) -> int:
    """The status of one cmp call: app-only tokens are for cmp (mpn refuses them, as the service does)."""
    answer = session.get(
        f"{emu.api_url('cmp')}/ScheduledReport", headers={"Authorization": f"Bearer {access_token}"}
    )
    return answer.status_code


def test_client_secret_sign_in_gives_an_entra_shaped_token(emu: Emulator, session: VerifyingSession) -> None:
    result = msal_app(emu, emu.client_secret).acquire_token_for_client([emu.scope])
    assert result["token_type"] == "Bearer"
    assert result["expires_in"] == 3599
    assert result["ext_expires_in"] == 3599
    assert _api_status(emu, session, result["access_token"]) == 200
    assert emu.token_requests("client_credentials") == 1


def test_token_lifetime_is_configurable(session: VerifyingSession) -> None:
    with Emulator(reports=0, token_lifetime=120) as emu:
        result = msal_app(emu, emu.client_secret).acquire_token_for_client([emu.scope])
    assert result["expires_in"] == 120


@needs_msal_ps256
def test_certificate_sign_in_with_ps256(emu: Emulator, session: VerifyingSession) -> None:
    """With the public certificate MSAL computes a SHA-256 thumbprint and signs with PS256."""
    pem = _pem(emu)
    result = msal_app(emu, {"private_key": pem, "public_certificate": pem}).acquire_token_for_client(
        [emu.scope]
    )
    assert "access_token" in result, result
    assert _api_status(emu, session, result["access_token"]) == 200


def test_certificate_sign_in_with_rs256_and_a_sha1_thumbprint(emu: Emulator) -> None:
    pem = _pem(emu)
    thumbprint = x509.load_pem_x509_certificate(pem.encode()).fingerprint(hashes.SHA1()).hex()
    result = msal_app(emu, {"private_key": pem, "thumbprint": thumbprint}).acquire_token_for_client(
        [emu.scope]
    )
    assert "access_token" in result, result


def test_federated_assertion_sign_in(emu: Emulator, session: VerifyingSession) -> None:
    assertion = Path(emu.client_assertion_file).read_text()
    result = msal_app(emu, {"client_assertion": lambda: assertion}).acquire_token_for_client([emu.scope])
    assert "access_token" in result, result
    assert _api_status(emu, session, result["access_token"]) == 200


def test_refresh_token_sign_in_returns_a_new_refresh_token(emu: Emulator, session: VerifyingSession) -> None:
    app = msal_app(emu, emu.client_secret)
    result = app.acquire_token_by_refresh_token(emu.refresh_token, [emu.scope])
    assert "access_token" in result, result
    assert result["refresh_token"] not in ("", emu.refresh_token)
    assert _api_status(emu, session, result["access_token"]) == 200
    # The new refresh token can be redeemed too, as Entra's rotating refresh tokens can.
    again = app.acquire_token_by_refresh_token(result["refresh_token"], [emu.scope])
    assert "access_token" in again, again
    assert emu.token_requests("refresh_token") == 2


def _error(result: dict) -> tuple[str, int, str]:
    return result["error"], result["error_codes"][0], result["error_description"]


def test_wrong_secret_is_aadsts7000215(emu: Emulator) -> None:
    result = msal_app(emu, "not-the-secret").acquire_token_for_client([emu.scope])
    error, code, description = _error(result)
    assert (error, code) == ("invalid_client", 7000215)
    assert description.startswith("AADSTS7000215: Invalid client secret provided.")
    assert {"trace_id", "correlation_id", "timestamp"} <= set(result)


def test_unknown_client_is_aadsts700016(emu: Emulator) -> None:
    result = msal_app(
        emu, emu.client_secret, client_id="11111111-2222-3333-4444-555555555555"
    ).acquire_token_for_client([emu.scope])
    error, code, description = _error(result)
    assert (error, code) == ("unauthorized_client", 700016)
    assert "11111111-2222-3333-4444-555555555555" in description


def test_wrong_tenant_fails_discovery_with_aadsts90002(emu: Emulator, session: VerifyingSession) -> None:
    """As with Entra, MSAL already fails when it reads the unknown tenant's OpenID configuration."""
    with pytest.raises(ValueError, match="Unable to get authority configuration") as raised:
        msal.ConfidentialClientApplication(
            emu.client_id,
            client_credential=emu.client_secret,
            authority=f"{emu.url}/not-my-tenant",
            instance_discovery=False,
            http_client=session,
        )
    # MSAL keeps Entra's answer as the context of its own error.
    assert "AADSTS90002" in str(raised.value.__context__)
    answer = session.post(
        f"{emu.url}/not-my-tenant/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
        },
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_tenant"
    assert answer.json()["error_codes"] == [90002]


def test_unknown_refresh_token_is_invalid_grant(emu: Emulator) -> None:
    result = msal_app(emu, emu.client_secret).acquire_token_by_refresh_token("0.not-a-token", [emu.scope])
    assert _error(result)[:2] == ("invalid_grant", 70000)


def test_expired_refresh_token_is_aadsts700082(emu: Emulator) -> None:
    emu.expire_refresh_tokens()
    result = msal_app(emu, emu.client_secret).acquire_token_by_refresh_token(emu.refresh_token, [emu.scope])
    error, code, description = _error(result)
    assert (error, code) == ("invalid_grant", 700082)
    assert "expired" in description


def test_expire_one_refresh_token_leaves_the_others_valid(emu: Emulator) -> None:
    app = msal_app(emu, emu.client_secret)
    newer = app.acquire_token_by_refresh_token(emu.refresh_token, [emu.scope])["refresh_token"]

    emu.expire_refresh_token(emu.refresh_token)

    error, code, _ = _error(app.acquire_token_by_refresh_token(emu.refresh_token, [emu.scope]))
    assert (error, code) == ("invalid_grant", 700082)
    assert "access_token" in app.acquire_token_by_refresh_token(newer, [emu.scope])
    with pytest.raises(KeyError, match="no such refresh token"):
        emu.expire_refresh_token("0.never-issued")


def test_refresh_token_needs_the_client_credential_too(emu: Emulator) -> None:
    result = msal_app(emu, "wrong-secret").acquire_token_by_refresh_token(emu.refresh_token, [emu.scope])
    assert _error(result)[:2] == ("invalid_client", 7000215)


def test_certificate_not_registered_is_refused(emu: Emulator) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_pem = other_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    thumbprint = "00" * 20
    result = msal_app(emu, {"private_key": other_pem, "thumbprint": thumbprint}).acquire_token_for_client(
        [emu.scope]
    )
    assert _error(result)[:2] == ("invalid_client", 700027)


def _assertion(emu: Emulator, key_pem: str, *, audience: str | None = None, **claims: object) -> str:
    certificate = x509.load_pem_x509_certificate(Path(emu.certificate_path).read_bytes())
    creator = JwtAssertionCreator(
        key_pem, algorithm="PS256", sha256_thumbprint=certificate.fingerprint(hashes.SHA256()).hex()
    )
    return creator.create_normal_assertion(
        audience=audience or f"{emu.authority}/oauth2/v2.0/token", issuer=emu.client_id, **claims
    ).decode()


def _post_assertion(emu: Emulator, session: VerifyingSession, assertion: str) -> dict:
    return session.post(
        f"{emu.authority}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": emu.client_id,
            "scope": emu.scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    ).json()


@needs_msal_sha256_assertions
def test_assertion_signed_by_another_key_fails_signature_validation(
    emu: Emulator, session: VerifyingSession
) -> None:
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    result = _post_assertion(emu, session, _assertion(emu, impostor.decode()))
    assert result["error_codes"] == [700027]
    assert "signature validation" in result["error_description"]


@needs_msal_sha256_assertions
def test_expired_assertion_is_refused(emu: Emulator, session: VerifyingSession) -> None:
    key = Path(emu.certificate_path).read_text()
    result = _post_assertion(emu, session, _assertion(emu, key, expires_at=int(time.time()) - 3600))
    assert result["error_codes"] == [700024]


@needs_msal_sha256_assertions
def test_assertion_for_another_audience_is_refused(emu: Emulator, session: VerifyingSession) -> None:
    key = Path(emu.certificate_path).read_text()
    result = _post_assertion(emu, session, _assertion(emu, key, audience="https://elsewhere.example/token"))
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [700212]


def test_unknown_federated_token_is_refused(emu: Emulator) -> None:
    forged = Path(emu.client_assertion_file).read_text()[:-4] + "AAAA"
    result = msal_app(emu, {"client_assertion": lambda: forged}).acquire_token_for_client([emu.scope])
    error, code, _ = _error(result)
    assert (error, code) == ("invalid_client", 70021)


def test_scope_without_default_suffix_is_invalid_scope(emu: Emulator, session: VerifyingSession) -> None:
    answer = client_credentials_token(emu, session, scope="https://api.partnercenter.microsoft.com")
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_scope"


def test_token_for_another_resource_is_refused_by_the_api(emu: Emulator, session: VerifyingSession) -> None:
    answer = client_credentials_token(emu, session, scope="https://graph.microsoft.com/.default")
    assert _api_status(emu, session, answer.json()["access_token"]) == 401


def test_client_without_partner_center_role_gets_403(emu: Emulator, session: VerifyingSession) -> None:
    result = msal_app(
        emu, emu.unauthorized_client_secret, client_id=emu.unauthorized_client_id
    ).acquire_token_for_client([emu.scope])
    answer = session.get(
        f"{emu.api_url('cmp')}/ScheduledReport", headers={"Authorization": f"Bearer {result['access_token']}"}
    )
    assert answer.status_code == 403
    assert answer.json()["code"] == 403  # Partner Center's general error shape, from its front door
    assert "Manager" in answer.json()["description"]


@pytest.mark.parametrize("spoil", ["revoke_tokens", "expire_tokens"])
def test_revoked_or_expired_tokens_answer_401(emu: Emulator, session: VerifyingSession, spoil: str) -> None:
    access_token = msal_app(emu, emu.client_secret).acquire_token_for_client([emu.scope])["access_token"]
    getattr(emu, spoil)()
    answer = session.get(
        f"{emu.api_url('cmp')}/ScheduledReport", headers={"Authorization": f"Bearer {access_token}"}
    )
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    fresh = client_credentials_token(emu, session).json()["access_token"]
    assert _api_status(emu, session, fresh) == 200


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-issued-here", "Basic abc"])
def test_missing_or_unknown_bearer_token_answers_401(
    emu: Emulator, session: VerifyingSession, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    answer = session.get(f"{emu.api_url()}/ScheduledReport", headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {
        "code": 401,
        "description": "Authentication failed. The bearer token is missing, invalid or expired.",
        "data": [],
        "source": "PartnerFD",
    }


def test_the_token_endpoint_answers_json_behind_a_byte_order_mark(
    emu: Emulator, session: VerifyingSession
) -> None:
    answer = client_credentials_token(emu, session)
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    assert answer.raw_body.startswith(b"\xef\xbb\xbf{")  # type: ignore[attr-defined]
    emu.behaviour.bom = "off"
    assert client_credentials_token(emu, session).raw_body.startswith(b"{")  # type: ignore[attr-defined]


def _app_plus_user(emu: Emulator, refresh_token: str) -> dict:
    return msal_app(emu, emu.client_secret).acquire_token_by_refresh_token(refresh_token, [emu.scope])


def test_a_refresh_token_carries_its_multi_factor_claim_to_every_token_it_buys(
    emu: Emulator, session: VerifyingSession
) -> None:
    with_mfa = _app_plus_user(emu, emu.refresh_token)
    without_mfa = _app_plus_user(emu, emu.new_refresh_token(mfa=False))
    assert "access_token" in without_mfa, without_mfa

    for program in ("mpn", "cmp"):
        url = f"{emu.api_url(program)}/ScheduledReport"
        assert session.get(url, headers={"Authorization": f"Bearer {with_mfa['access_token']}"}).ok
        refused = session.get(url, headers={"Authorization": f"Bearer {without_mfa['access_token']}"})
        assert refused.status_code == 401
        assert refused.json()["description"] == "Authentication failed. MFA required. (10001)"
        assert refused.json()["code"] == 10001
    # The refresh token Entra hands back keeps the claim of the one redeemed: still no MFA.
    again = _app_plus_user(emu, without_mfa["refresh_token"])
    refused = session.get(
        f"{emu.api_url()}/ScheduledReport", headers={"Authorization": f"Bearer {again['access_token']}"}
    )
    assert refused.status_code == 401


@pytest.mark.parametrize(("choice", "status"), [("401", 401), ("403", 403), ("allow", 200)])
def test_app_only_tokens_are_refused_on_mpn_unless_allowed(
    emu: Emulator, session: VerifyingSession, choice: str, status: int
) -> None:
    if choice != "401":
        emu.behaviour.app_only_on_mpn = choice
    app_only = client_credentials_token(emu, session).json()["access_token"]
    headers = {"Authorization": f"Bearer {app_only}"}

    answer = session.get(f"{emu.api_url('mpn')}/ScheduledReport", headers=headers)

    assert answer.status_code == status
    if status != 200:
        assert "App+User" in answer.json()["description"]
    assert session.get(f"{emu.api_url('cmp')}/ScheduledReport", headers=headers).status_code == 200
