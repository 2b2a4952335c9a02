"""Checks of the client assertions MSAL sends instead of a secret.

A certificate assertion is a JWT signed with the app's private key (RS256, or
PS256 since MSAL 1.35 when it can compute a SHA-256 thumbprint); Entra checks
the signature with the certificate registered on the app and the ``aud``,
``iss``, ``sub`` and time claims. Verified here with ``cryptography`` alone.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CLOCK_SKEW_SECONDS = 300


class AssertionRejected(Exception):
    """An assertion Entra would refuse; ``code`` is the AADSTS number."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass(frozen=True)
class JwtParts:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def parse_jwt(token: str) -> JwtParts:
    parts = token.split(".")
    if len(parts) != 3:
        raise AssertionRejected(50027, "JWT token is invalid or malformed.")
    try:
        header = json.loads(_b64decode(parts[0]))
        claims = json.loads(_b64decode(parts[1]))
        signature = _b64decode(parts[2])
    except (ValueError, binascii.Error) as error:
        raise AssertionRejected(50027, "JWT token is invalid or malformed.") from error
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise AssertionRejected(50027, "JWT token is invalid or malformed.")
    return JwtParts(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def is_certificate_assertion(parts: JwtParts) -> bool:
    """Certificate assertions name their key by thumbprint; federated tokens do not."""
    return "x5t" in parts.header or "x5t#S256" in parts.header


def verify_certificate_assertion(
    parts: JwtParts, certificate: x509.Certificate, *, client_id: str, audiences: set[str]
) -> None:
    """Raise ``AssertionRejected`` unless the assertion is one Entra would accept for this app."""
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise AssertionRejected(700027, "The registered certificate is not an RSA certificate.")
    thumbprints = {
        "x5t#S256": b64encode(certificate.fingerprint(hashes.SHA256())),
        "x5t": b64encode(certificate.fingerprint(hashes.SHA1())),
    }
    named = {k: str(parts.header[k]) for k in thumbprints if k in parts.header}
    # RFC 7515 says unpadded base64url; MSAL sends it padded. Entra accepts both.
    if not any(thumbprints[k] == v.rstrip("=") for k, v in named.items()):
        raise AssertionRejected(
            700027,
            "The certificate with identifier used to sign the client assertion is not registered on "
            f"application. [Reason - The key was not found., Thumbprint of key used by client: "
            f"'{next(iter(named.values()), '')}']",
        )
    algorithm = parts.header.get("alg")
    if algorithm == "RS256":
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
    elif algorithm == "PS256":
        pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
    else:
        raise AssertionRejected(
            5002738, f"Invalid JWT token. '{algorithm}' is not a supported signature algorithm."
        )
    try:
        public_key.verify(parts.signature, parts.signing_input, pad, hashes.SHA256())
    except InvalidSignature:
        raise AssertionRejected(700027, "Client assertion failed signature validation.") from None
    claims = parts.claims
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise AssertionRejected(
            700023, "Client assertion subject and issuer claims must both be the application's client id."
        )
    if claims.get("aud") not in audiences:
        raise AssertionRejected(
            700212,
            "No matching federated identity record found for presented assertion audience "
            f"'{claims.get('aud')}'.",
        )
    check_times(claims)


def check_times(claims: dict[str, Any]) -> None:
    now = time.time()
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, (int, float)):
        raise AssertionRejected(700024, "Client assertion contains no expiry (exp) claim.")
    if now > exp + CLOCK_SKEW_SECONDS or (isinstance(nbf, (int, float)) and now < nbf - CLOCK_SKEW_SECONDS):
        raise AssertionRejected(700024, "Client assertion is not within its valid time range.")


def make_federated_token(*, client_id: str, issuer: str, subject: str, lifetime: int = 24 * 3600) -> str:
    """An unsigned-looking JWT shaped like a Kubernetes projected service-account token.

    The emulator accepts it by exact value, as Entra accepts a token whose
    issuer and subject match a federated credential on the app.
    """
    now = int(time.time())
    header = {"alg": "RS256", "kid": "emulator-federation", "typ": "JWT"}
    claims = {
        "aud": ["api://AzureADTokenExchange"],
        "iss": issuer,
        "sub": subject,
        "azp": client_id,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
    }
    segments = [b64encode(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)]
    return ".".join([*segments, b64encode(b"emulator-federation-signature")])
