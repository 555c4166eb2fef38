"""Certificates and their names: DER/PEM parsing, RFC 4514 names compared loosely,
SHA-256 fingerprints, key usages, and the signer of a signature (SignerInfo).

Whatever form a certificate comes in (DER or PEM bytes, asn1crypto from pyHanko,
cryptography) it is turned into a cryptography certificate here, in one place.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def _name_oids() -> dict[str, Any]:
    from cryptography.x509.oid import NameOID

    return {
        "title": NameOID.TITLE,
        "serialNumber": NameOID.SERIAL_NUMBER,
        "emailAddress": NameOID.EMAIL_ADDRESS,
        "givenName": NameOID.GIVEN_NAME,
        "SN": NameOID.SURNAME,
        "UID": NameOID.USER_ID,
    }


def dn_string(name: Any) -> str:
    """RFC 4514 form of a cryptography Name, with readable names for title & co."""
    text: str = name.rfc4514_string({oid: key for key, oid in _name_oids().items()})
    return text


def parse_dn(text: str) -> Any:
    """A cryptography Name from its RFC 4514 form; ValueError when it is none."""
    from cryptography import x509

    return x509.Name.from_rfc4514_string(text, _name_oids())


def _norm_value(value: object) -> str:
    return " ".join(unicodedata.normalize("NFC", str(value)).casefold().split())


def dn_key(name: Any) -> tuple[tuple[tuple[str, str], ...], ...]:
    """Order-, case-, space- and normal-form-insensitive key of a DN within each RDN."""
    return tuple(
        tuple(sorted((a.oid.dotted_string, _norm_value(a.value)) for a in rdn))
        for rdn in name.rdns
    )


def as_x509(cert: Any) -> Any:
    """cryptography Certificate from DER/PEM bytes, an asn1crypto or a cryptography cert."""
    from cryptography import x509

    if isinstance(cert, x509.Certificate):
        return cert
    if isinstance(cert, (bytes, bytearray)):
        data = bytes(cert)
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    if hasattr(cert, "dump"):  # asn1crypto
        return x509.load_der_x509_certificate(cert.dump())
    raise TypeError(f"not a certificate: {type(cert).__name__}")


def fingerprint_of(cert: Any) -> str:
    """SHA-256 of the DER certificate, lowercase hex (`openssl x509 -outform DER | sha256sum`)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    return hashlib.sha256(as_x509(cert).public_bytes(Encoding.DER)).hexdigest()


def key_usages(cert: Any) -> set[str] | None:
    """'digital_signature' and 'non_repudiation' as the certificate allows them; None
    when it has no key usage extension (any use allowed)."""
    from cryptography import x509

    try:
        ku = as_x509(cert).extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    names = set()
    if ku.digital_signature:
        names.add("digital_signature")
    if ku.content_commitment:
        names.add("non_repudiation")
    return names


def fmt_dt(dt: datetime | None) -> str:
    """A certificate's or CRL's time as messages show it: a date, or date and UTC time."""
    if dt is None:
        return "?"
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC)
    if (dt.hour, dt.minute, dt.second) == (0, 0, 0):
        return dt.strftime("%Y-%m-%d")
    return dt.strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class SignerInfo:
    """Who signed: the certificate's names, serial and fingerprint."""

    subject: str  # RFC 4514
    issuer: str  # RFC 4514
    serial: int
    fingerprint: str  # sha256 lowercase hex of DER
    signing_time: datetime | None  # the signer's claimed time: informational only

    @classmethod
    def from_certificate(cls, cert: Any, signing_time: datetime | None = None) -> SignerInfo:
        x = as_x509(cert)
        return cls(
            subject=dn_string(x.subject),
            issuer=dn_string(x.issuer),
            serial=x.serial_number,
            fingerprint=fingerprint_of(x),
            signing_time=signing_time,
        )

    @property
    def pin(self) -> str:
        """The pin naming this certificate in `[units.X] signers`."""
        return "sha256:" + self.fingerprint
