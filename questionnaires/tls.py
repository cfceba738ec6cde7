"""A self-signed TLS certificate for the tablet pages on a lab's Wi-Fi (``tablet serve --https``).

Tablets cannot check a self-signed certificate against a certificate authority, so the
experimenter compares its SHA-256 fingerprint (printed at start) with the one the tablet's
browser shows, once, when pairing. The certificate and key are kept next to the study
database (key file 0600) and reused, so a tablet accepts the certificate only once per
study. Uses the ``cryptography`` package (ECDSA P-256, valid 825 days, the longest span
Apple devices accept).
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

#: Days a generated certificate is valid.
VALID_DAYS = 825


@dataclass(frozen=True)
class Certificate:
    """Paths of a PEM certificate and its private key, and the certificate's SHA-256 fingerprint."""
    cert_path: Path
    key_path: Path
    fingerprint_sha256: str     # upper-case hex pairs joined by ':' (as browsers show it)


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 fingerprint of a PEM certificate (``AB:CD:...``, 32 pairs)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    digest = x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA256())
    return ":".join(f"{b:02X}" for b in digest)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file readable by its owner only (temp file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def ensure_certificate(folder: str | Path, hosts: list[str] | None = None, name: str = "tablet") -> Certificate:
    """The certificate ``folder/NAME-cert.pem`` with key ``NAME-key.pem``; generated when missing or expiring.

    ``hosts``: names and IP addresses the certificate is for (default: this machine's name,
    ``localhost``, 127.0.0.1 and this machine's addresses).
    """
    folder = Path(folder)
    cert_path, key_path = folder / f"{name}-cert.pem", folder / f"{name}-key.pem"
    from cryptography import x509

    if cert_path.is_file() and key_path.is_file():
        pem = cert_path.read_bytes()
        expires = x509.load_pem_x509_certificate(pem).not_valid_after_utc
        if expires > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1):
            return Certificate(cert_path, key_path, fingerprint(pem))
        # expired (or about to): make a new one; tablets accept it once more

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    hosts = hosts or _default_hosts()
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vr-study tablet pages")])
    alt: list[x509.GeneralName] = []
    for h in dict.fromkeys(hosts):
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            alt.append(x509.DNSName(h))
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    _write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    _write_private(cert_path, cert_pem)
    return Certificate(cert_path, key_path, fingerprint(cert_pem))


def _default_hosts() -> list[str]:
    hosts = ["localhost", "127.0.0.1", socket.gethostname()]
    try:
        hosts += [a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    except OSError:
        pass
    return hosts
