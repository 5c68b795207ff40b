"""A throwaway certificate authority for demos and tests of C2PA signing.

C2PA readers refuse a self-signed signer, so a demo needs a small two-level chain: a P-256
root (the trust anchor a reader is given) and a leaf that signs manifests. The leaf's
Organization name is what readers show as the provider. Everything is made fresh in the
directory you name; no private key is ever committed or shipped with the package.

On the command line: ``aigc-mark test-ca DIR``.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from marking.media.atomic import atomic_write, check_output_path

__all__ = ["TestCA", "make_test_ca"]

#: How long the certificates stay valid, and how far back "not before" is set (clock skew).
VALIDITY = dt.timedelta(days=365)
BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class TestCA:
    """Paths of a freshly made test CA: root certificate, signing chain and signing key."""

    __test__ = False  # not a pytest test class, despite the name

    root_cert: Path
    """The root certificate (PEM): give it to a reader as a trust anchor."""
    chain: Path
    """Leaf certificate PEM followed by the root PEM: the signer's certificate chain."""
    key: Path
    """The leaf's private key (PKCS#8 PEM, mode 0600)."""
    root_key: Path
    """The root's private key (PKCS#8 PEM, mode 0600), to issue more test certificates."""


def _write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` atomically; ``mode`` 0o600 for a private key (its temporary file is
    already private, so there is no window with wider modes)."""
    with atomic_write(path, mode=mode) as stream:
        stream.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """A private key as unencrypted PKCS#8 PEM (what the C2PA signer reads)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(organization: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_root(
    organization: str, common_name: str, now: dt.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed P-256 CA certificate (CA:TRUE, keyCertSign, cRLSign, SKI) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(organization, common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def issue_leaf(
    root: x509.Certificate,
    root_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    eku: x509.ObjectIdentifier,
    now: dt.datetime,
    *,
    eku_critical: bool = False,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """An end-entity P-256 certificate signed by ``root`` (CA:FALSE, digitalSignature, ``eku``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=eku_critical)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    return cert, key


def make_test_ca(
    directory: str | os.PathLike[str],
    organization: str = "Example AI Provider",
    common_name: str = "Example AI Provider C2PA Signer (TEST ONLY)",
) -> TestCA:
    """Make a test root and a C2PA signing certificate in ``directory`` (created if missing).

    Files: ``root.pem``, ``root.key``, ``chain.pem`` (leaf + root) and ``signer.key``. The
    leaf carries ``O=organization``, which readers report as the signer.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    root, root_key = make_root(organization, f"{organization} Test Root CA (TEST ONLY)", now)
    leaf, leaf_key = issue_leaf(
        root, root_key, _name(organization, common_name), ExtendedKeyUsageOID.EMAIL_PROTECTION, now
    )
    root_pem = root.public_bytes(serialization.Encoding.PEM)
    ca = TestCA(
        root_cert=out / "root.pem",
        chain=out / "chain.pem",
        key=out / "signer.key",
        root_key=out / "root.key",
    )
    for path in (ca.root_cert, ca.chain, ca.key, ca.root_key):
        check_output_path(path)  # all four are writable, before any is written
    _write(ca.root_cert, root_pem)
    _write(ca.chain, leaf.public_bytes(serialization.Encoding.PEM) + root_pem)
    _write(ca.key, _key_pem(leaf_key), mode=0o600)
    _write(ca.root_key, _key_pem(root_key), mode=0o600)
    return ca
