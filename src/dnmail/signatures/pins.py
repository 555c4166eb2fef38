"""Who may sign a unit's slips: `[units.X] signers`, one SignerPin each.

A subject name alone is never a pin: anyone's CA can copy a subject. A pin names one
certificate, by the SHA-256 of its DER form or by its issuer and serial number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dnmail.errors import ConfigError
from dnmail.i18n import _
from dnmail.signatures.certs import SignerInfo, as_x509, dn_key, dn_string, fingerprint_of, parse_dn

_HEX = re.compile(r"[0-9a-f]{64}")
_FINGERPRINT_PREFIXES = ("sha256:", "sha-256:", "sha256=")
_ISSUER_SERIAL = re.compile(
    r"issuer=(?P<dn>.+);\s*serial\s*=\s*(?P<serial>\S+)", flags=re.IGNORECASE | re.DOTALL
)


def _normalise_fingerprint(text: str) -> str:
    value = text.strip()
    low = value.lower()
    for prefix in _FINGERPRINT_PREFIXES:
        if low.startswith(prefix):
            value = value[len(prefix) :]
            break
    hexdigits = re.sub(r"[\s:]", "", value).lower()
    if not _HEX.fullmatch(hexdigits):
        raise ConfigError(
            _("signer pin {pin!r}: a fingerprint is 'sha256:' followed by 64 hex digits "
              "(colons, spaces and case are ignored)").format(pin=text)
        )
    return hexdigits


def _normalise_issuer(issuer: str) -> str:
    try:
        name = parse_dn(issuer)
    except ValueError as exc:
        raise ConfigError(
            _("signer pin issuer {issuer!r} is not an RFC 4514 DN: {error}").format(
                issuer=issuer, error=exc)
        ) from exc
    if not name.rdns:
        raise ConfigError(_("signer pin issuer is empty"))
    return dn_string(name)


def _parse_serial(text: str, raw: str) -> int:
    """Decimal, 0x-prefixed hexadecimal, or hexadecimal bytes with colons (openssl -text)."""
    hexa = raw.lower().startswith("0x") or ":" in raw
    digits = raw[2:] if raw.lower().startswith("0x") else raw.replace(":", "")
    try:
        return int(digits, 16 if hexa else 10)
    except ValueError as exc:
        raise ConfigError(
            _("signer pin {pin!r}: serial {serial!r} is not a decimal number; write a "
              "hexadecimal serial (as `openssl x509 -serial` prints it) as 0x{digits}").format(
                pin=text, serial=raw, digits=digits)
        ) from exc


@dataclass(frozen=True)
class SignerPin:
    """One authorised signer of a unit, from config `[units.X] signers = [...]`.

    Two forms (see `parse`):
      "sha256:AB:CD:…"                       SHA-256 of the DER certificate (preferred)
      "issuer=CN=…,O=…,C=VN;serial=0x1F"     issuer DN (RFC 4514) and serial number
    """

    fingerprint: str | None = None  # lowercase hex, normalised
    issuer: str | None = None  # RFC 4514, normalised
    serial: int | None = None

    def __post_init__(self) -> None:
        if self.fingerprint is not None:
            if self.issuer is not None or self.serial is not None:
                raise ConfigError(_("a signer pin is a fingerprint or issuer + serial, not both"))
            object.__setattr__(self, "fingerprint", _normalise_fingerprint(self.fingerprint))
        elif self.issuer is not None and self.serial is not None:
            issuer = _normalise_issuer(self.issuer)
            if self.serial < 0:
                raise ConfigError(_("signer pin serial must be positive"))
            object.__setattr__(self, "issuer", issuer)
        else:
            raise ConfigError(_("a signer pin needs a fingerprint, or an issuer and a serial"))

    @classmethod
    def parse(cls, text: str) -> SignerPin:
        """'sha256:<64 hex>' or 'issuer=<RFC 4514 DN>;serial=<decimal or 0x hex>'."""
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(_("signer pin {pin!r} is empty").format(pin=text))
        stripped = text.strip()
        if stripped.lower().startswith("issuer="):
            m = _ISSUER_SERIAL.fullmatch(stripped)
            if not m:
                raise ConfigError(
                    _("signer pin {pin!r}: expected 'issuer=<RFC 4514 DN>;serial=<number>'")
                    .format(pin=text)
                )
            serial = _parse_serial(text, m.group("serial"))
            return cls(issuer=m.group("dn").strip(), serial=serial)
        if not stripped.lower().startswith(_FINGERPRINT_PREFIXES):
            raise ConfigError(
                _("signer pin {pin!r}: expected 'sha256:<64 hex digits>' or "
                  "'issuer=<RFC 4514 DN>;serial=<number>'").format(pin=text)
            )
        return cls(fingerprint=stripped)

    def matches(self, cert: Any) -> bool:
        """Does this pin name `cert`? A SignerInfo, DER/PEM bytes, a cryptography or an
        asn1crypto certificate."""
        if isinstance(cert, SignerInfo):
            if self.fingerprint is not None:
                return cert.fingerprint == self.fingerprint
            try:
                issuer_key = dn_key(parse_dn(cert.issuer))
            except ValueError:
                return False
            serial = cert.serial
        else:
            x = as_x509(cert)
            if self.fingerprint is not None:
                return fingerprint_of(x) == self.fingerprint
            issuer_key, serial = dn_key(x.issuer), x.serial_number
        assert self.issuer is not None
        return serial == self.serial and issuer_key == dn_key(parse_dn(self.issuer))

    def __str__(self) -> str:
        if self.fingerprint is not None:
            return "sha256:" + self.fingerprint
        return f"issuer={self.issuer};serial={self.serial:#x}"


def parse_unit_pins(
    unit_signers: Mapping[str, Sequence[SignerPin | str]],
) -> dict[str, list[SignerPin]]:
    """Each unit's pins, SignerPin objects or their config text."""
    return {
        code: [p if isinstance(p, SignerPin) else SignerPin.parse(p) for p in pins]
        for code, pins in unit_signers.items()
    }


def units_of(signer: SignerInfo | None, unit_pins: Mapping[str, Sequence[SignerPin]]) -> list[str]:
    """The units whose pins name this signer, sorted."""
    if signer is None:
        return []
    return sorted(code for code, pins in unit_pins.items() if any(p.matches(signer) for p in pins))
