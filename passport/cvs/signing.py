"""Sealing CV PDFs: a PAdES baseline (B-B) signature with the service's seal certificate,
so any PDF reader shows the document intact and from us.

Production sets ``PASSPORT_PDF_SEAL_KEY`` and ``PASSPORT_PDF_SEAL_CERT`` (PEM, or ``@path``;
the certificate chain of an electronic seal from a trust service). Development and tests
generate a self-signed seal once in the instance directory.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import logging
import os
import warnings
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from passport.config import Settings

with warnings.catch_warnings():
    # pyHanko (0.38) still imports cryptography's DSA key types, deprecated since
    # cryptography 51; we never make or read DSA keys. Its business, not a warning for
    # every command that loads the CV service.
    warnings.filterwarnings("ignore", "DSA is deprecated", CryptographyDeprecationWarning)
    from pyhanko.keys import load_certs_from_pemder_data, load_private_key_from_pemder_data
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

log = logging.getLogger(__name__)
SEAL_NAME = "Passeport de compétences"


def self_signed_seal(common_name: str) -> tuple[bytes, bytes]:
    """A fresh EC P-256 key and a self-signed seal certificate for it (PEM): development,
    tests, and trying the service out."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, SEAL_NAME),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def _development_seal(instance_dir: Path) -> tuple[bytes, bytes]:
    key_path, cert_path = instance_dir / "dev-pdf-seal-key.pem", instance_dir / "dev-pdf-seal.pem"
    if key_path.exists() and cert_path.exists():
        return key_path.read_bytes(), cert_path.read_bytes()
    key_pem, cert_pem = self_signed_seal(f"{SEAL_NAME} (développement)")
    instance_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_pem)
    cert_path.write_bytes(cert_pem)
    log.warning("generated a development PDF seal in %s (never in production)", cert_path)
    return key_pem, cert_pem


class Sealer:
    """Signs PDFs with the configured (or development) seal."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @functools.cached_property
    def certificate_pem(self) -> bytes:
        """The seal's certificate chain (PEM), first the seal itself."""
        return self._material[1]

    @functools.cached_property
    def _material(self) -> tuple[bytes, bytes]:
        key, cert = self._settings.pdf_seal_key_pem, self._settings.pdf_seal_cert_pem
        if key and cert:
            return key.encode(), cert.encode()
        return _development_seal(self._settings.instance_dir.resolve())

    @functools.cached_property
    def _signer(self) -> signers.SimpleSigner:
        key_pem, chain_pem = self._material
        certs = list(load_certs_from_pemder_data(chain_pem))
        return signers.SimpleSigner(
            signing_cert=certs[0], signing_key=load_private_key_from_pemder_data(key_pem, None),
            cert_registry=SimpleCertificateStore.from_certs(certs))

    def seal(self, pdf: bytes, *, reason: str, location: str = "France") -> bytes:
        """The PDF with a PAdES B-B signature appended (an incremental update)."""
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        meta = signers.PdfSignatureMetadata(
            field_name="PasseportSeal", md_algorithm="sha256", reason=reason,
            location=location, name=SEAL_NAME, subfilter=fields.SigSeedSubFilter.PADES)
        out = signers.sign_pdf(writer, meta, signer=self._signer)
        return out.getvalue()
