"""Certificates for the emulator: its own CA, a server certificate, and a client certificate.

Clients must verify the emulator like any real service (``verify=<ca path>``),
so the chain has to satisfy OpenSSL's strict checks: a CA with critical basic
constraints and key usage, a leaf with SAN ``127.0.0.1``/``localhost``, the
serverAuth EKU and matching key identifiers. The material does not depend on
the port, so it is generated once per process and only written out per
emulator: tests start many emulators and key generation is the slow part.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TlsMaterial:
    """PEM bytes of everything one emulator writes to disk."""

    ca_cert_pem: bytes
    server_cert_pem: bytes
    server_key_pem: bytes
    client_cert_pem: bytes
    client_key_pem: bytes


@dataclass(frozen=True)
class TlsFiles:
    """Where one emulator's certificates live while it runs."""

    ca_path: Path
    server_cert_path: Path
    server_key_path: Path
    client_certificate_path: Path  # private key + certificate, as MSAL wants them


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "airflow-provider-pcinsights emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _validity() -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.timezone.utc)
    return now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _build_ca(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    not_before, not_after = _validity()
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(_name("pcinsights emulator CA"))
        .issuer_name(_name("pcinsights emulator CA"))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    """Signing only; the CA alone may also sign certificates and revocation lists."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _build_server(
    key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    not_before, not_after = _validity()
    public = key.public_key()
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _build_client(key: rsa.RSAPrivateKey) -> x509.Certificate:
    """A self-signed certificate, as one uploads to an Entra app registration."""
    not_before, not_after = _validity()
    return (
        x509.CertificateBuilder()
        .subject_name(_name("pcinsights emulator client"))
        .issuer_name(_name("pcinsights emulator client"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


@functools.lru_cache(maxsize=1)
def tls_material() -> TlsMaterial:
    """Generate the process-wide certificates once (the client key is RSA: MSAL signs with RS256/PS256)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    server_key = ec.generate_private_key(ec.SECP256R1())
    client_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _build_ca(ca_key)
    server = _build_server(server_key, ca, ca_key)
    client = _build_client(client_key)
    pem = serialization.Encoding.PEM
    return TlsMaterial(
        ca_cert_pem=ca.public_bytes(pem),
        server_cert_pem=server.public_bytes(pem),
        server_key_pem=_key_pem(server_key),
        client_cert_pem=client.public_bytes(pem),
        client_key_pem=_key_pem(client_key),
    )


def stranger_pem() -> bytes:
    """A private key and a self-signed certificate that no emulator registered: a wrong certificate, as a
    PEM the ``certificate_path`` of a connection can name."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _key_pem(key) + _build_client(key).public_bytes(serialization.Encoding.PEM)


def write_tls_files(directory: Path, material: TlsMaterial | None = None) -> TlsFiles:
    """Write the certificates where clients in this or another process can read them."""
    material = material or tls_material()
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        ca_path=directory / "ca.pem",
        server_cert_path=directory / "server-cert.pem",
        server_key_path=directory / "server-key.pem",
        client_certificate_path=directory / "client-certificate.pem",
    )
    files.ca_path.write_bytes(material.ca_cert_pem)
    # The chain file carries the leaf then the CA, so clients can build the path.
    files.server_cert_path.write_bytes(material.server_cert_pem + material.ca_cert_pem)
    _write_private(files.server_key_path, material.server_key_pem)
    _write_private(files.client_certificate_path, material.client_key_pem + material.client_cert_pem)
    return files


def _write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)
