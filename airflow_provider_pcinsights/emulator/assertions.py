"""Checks of the client assertions MSAL sends instead of a secret, through PyJWT.

A certificate assertion is a JWT signed with the app's private key (RS256, or
PS256 since MSAL 1.35 when it can compute a SHA-256 thumbprint); Entra checks
the signature with the certificate registered on the app and the ``aud``,
``iss``, ``sub`` and time claims. A federated token (workload identity) is
accepted by its exact value, as Entra accepts a token whose issuer and subject
match a federated credential on the app. PyJWT comes with MSAL (and Airflow), so
the emulator needs nothing more to read and check them.
"""

from __future__ import annotations

import base64
import hmac
import time
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes

CLOCK_SKEW_SECONDS = 300
_MALFORMED = (50027, "JWT token is invalid or malformed.")


class AssertionRejected(Exception):
    """An assertion Entra would refuse; ``code`` is the AADSTS number."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def b64encode(data: bytes) -> str:
    """Unpadded base64url, as JWTs and Entra's ``client_info`` spell bytes."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def check_client_assertion(
    assertion: str,
    *,
    client_id: str,
    certificate: x509.Certificate | None,
    federated_token: str | None,
    audiences: set[str],
) -> None:
    """Raise ``AssertionRejected`` unless Entra would accept ``assertion`` for this app."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.InvalidTokenError:
        raise AssertionRejected(*_MALFORMED) from None
    # Certificate assertions name their key by thumbprint; federated tokens do not.
    if "x5t" in header or "x5t#S256" in header:
        if certificate is None:
            raise AssertionRejected(700027, "No certificate is registered on the application.")
        _check_certificate_assertion(assertion, header, certificate, client_id, audiences)
        return
    if federated_token is None or not hmac.compare_digest(assertion.encode(), federated_token.encode()):
        claims = _unverified_claims(assertion)
        raise AssertionRejected(
            70021,
            "No matching federated identity record found for presented assertion. Assertion Issuer: "
            f"'{claims.get('iss')}'. Assertion Subject: '{claims.get('sub')}'.",
        )


def _check_certificate_assertion(
    assertion: str,
    header: dict[str, Any],
    certificate: x509.Certificate,
    client_id: str,
    audiences: set[str],
) -> None:
    thumbprints = {
        "x5t#S256": b64encode(certificate.fingerprint(hashes.SHA256())),
        "x5t": b64encode(certificate.fingerprint(hashes.SHA1())),
    }
    named = {k: str(header[k]) for k in thumbprints if k in header}
    # RFC 7515 says unpadded base64url; MSAL sends it padded. Entra accepts both.
    if not any(thumbprints[k] == v.rstrip("=") for k, v in named.items()):
        raise AssertionRejected(
            700027,
            "The certificate with identifier used to sign the client assertion is not registered on "
            f"application. [Reason - The key was not found., Thumbprint of key used by client: "
            f"'{next(iter(named.values()), '')}']",
        )
    algorithm = header.get("alg")
    if algorithm not in ("RS256", "PS256"):
        raise AssertionRejected(
            5002738, f"Invalid JWT token. '{algorithm}' is not a supported signature algorithm."
        )
    try:
        claims = jwt.decode(
            assertion,
            certificate.public_key(),  # type: ignore[arg-type]  # an RSA key, as the algorithm says
            algorithms=[algorithm],
            audience=sorted(audiences),
            issuer=client_id,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["exp"]},
        )
    except jwt.InvalidSignatureError:
        raise AssertionRejected(700027, "Client assertion failed signature validation.") from None
    except jwt.MissingRequiredClaimError:
        raise AssertionRejected(700024, "Client assertion contains no expiry (exp) claim.") from None
    except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
        raise AssertionRejected(700024, "Client assertion is not within its valid time range.") from None
    except jwt.InvalidIssuerError:
        raise _wrong_subject() from None
    except jwt.InvalidAudienceError:
        audience = _unverified_claims(assertion).get("aud")
        raise AssertionRejected(
            700212,
            f"No matching federated identity record found for presented assertion audience '{audience}'.",
        ) from None
    except jwt.InvalidTokenError:
        raise AssertionRejected(*_MALFORMED) from None
    if claims.get("sub") != client_id:
        raise _wrong_subject()


def _wrong_subject() -> AssertionRejected:
    return AssertionRejected(
        700023, "Client assertion subject and issuer claims must both be the application's client id."
    )


def _unverified_claims(assertion: str) -> dict[str, Any]:
    """The claims as sent, for quoting them in a refusal (nothing here is trusted)."""
    try:
        return jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return {}


def make_federated_token(*, client_id: str, issuer: str, subject: str, lifetime: int = 24 * 3600) -> str:
    """A JWT shaped like a Kubernetes projected service-account token, signed with a key of the emulator's.

    The emulator accepts it by exact value (see ``check_client_assertion``), so its signature
    is never checked; it only has to look like what a workload identity hands the app.
    """
    now = int(time.time())
    claims = {
        "aud": ["api://AzureADTokenExchange"],
        "iss": issuer,
        "sub": subject,
        "azp": client_id,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
    }
    return jwt.encode(
        claims,
        "emulator-federation-signing-key.0nly-f0r-the-emulat0r",
        algorithm="HS256",
        headers={"kid": "emulator-federation"},
    )
