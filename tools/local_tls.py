"""A self-signed TLS certificate for servers on loopback (Azurite over HTTPS), so local runs and
tests use `https://` the way Azure does and clients still verify what they connect to.

No certificate authority: the certificate is its own trust anchor. A client trusts it by
loading the certificate itself as a CA file (`SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, or
`SSLContext.load_verify_locations`); `bundle` writes one that also keeps the public CAs.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# What a client on this machine connects to: the address Azurite listens on and its name.
LOOPBACK_IP = "127.0.0.1"
LOOPBACK_NAME = "localhost"
# Long enough for any run, short enough that a leaked file is soon worthless.
VALIDITY = datetime.timedelta(days=7)
# A client's clock may be a little behind the one that made the certificate.
CLOCK_SKEW = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class Certificate:
    """PEM files: the certificate (also the file clients trust) and its unencrypted key."""

    cert: Path
    key: Path


def self_signed(directory: Path) -> Certificate:
    """Write cert.pem and key.pem for 127.0.0.1 and localhost into `directory`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scim-connector local TLS")])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + VALIDITY)
        # Hostname checks read the SAN only: both the address and the name a client may use.
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address(LOOPBACK_IP)), x509.DNSName(LOOPBACK_NAME)]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_encipherment=False, content_commitment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False,
            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    made = Certificate(cert=directory / "cert.pem", key=directory / "key.pem")
    made.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    made.key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    made.key.chmod(0o600)
    return made


def bundle(certificate: Certificate, public_cas: Path | None, target: Path) -> Path:
    """A CA file trusting `certificate` and, when given, the public CAs in `public_cas`: set as
    SSL_CERT_FILE for a whole process, it must not make every other HTTPS server untrusted."""
    parts = [certificate.cert.read_text()]
    if public_cas is not None:
        parts.append(public_cas.read_text())
    target.write_text("\n".join(parts))
    return target
