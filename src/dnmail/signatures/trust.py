"""The trust material: root certificates and CRLs read from files, the units' signer
pins, and the validation context pyHanko checks a signature with.

Always explicit trust roots (never the OS store), never the network: CRLs are
offline files, and `revocation` says what a certificate no CRL covers means
("soft-fail": it passes; "require": it is refused).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnmail.errors import ConfigError
from dnmail.i18n import _
from dnmail.signatures.pins import SignerPin

if TYPE_CHECKING:
    from dnmail.config import Config

REVOCATION_MODES = ("soft-fail", "require")
_PEM_TYPES = {"certificate": ("CERTIFICATE",), "CRL": ("X509 CRL", "CRL")}


# --- files ---------------------------------------------------------------------------


def _noun(kind: str) -> str:
    """'certificate', 'CRL' or 'trust root' in the interface's language."""
    if kind == "certificate":
        return _("certificate")
    if kind == "trust root":
        return _("trust root")
    return kind  # CRL


def _file(kind: str, path: Path | str) -> str:
    return _("{what} file {path}").format(what=_noun(kind), path=path)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(_("{file}: cannot be read ({error})").format(
            file=_file(what, path), error=exc.strerror or exc)) from exc


def _unarmor(data: bytes, path: Path | str, pem_types: tuple[str, ...], what: str) -> list[bytes]:
    """The DER blocks of the wanted PEM types, or the bytes themselves when not PEM."""
    from asn1crypto import pem

    if not pem.detect(data):
        return [data]
    try:
        blocks = list(pem.unarmor(data, multiple=True))
    except (ValueError, TypeError) as exc:
        raise ConfigError(_("{file}: broken PEM ({error})").format(
            file=_file(what, path), error=exc)) from exc
    ders = [der for kind, _headers, der in blocks if kind in pem_types]
    if not ders:
        kinds = ", ".join(sorted({kind for kind, _h, _d in blocks})) or _("nothing")
        raise ConfigError(_("{file}: no {type} in it (found {kinds})").format(
            file=_file(what, path), type=pem_types[0], kinds=kinds))
    return ders


def _check_der(der: bytes, where: object, kind: str) -> bytes:
    """The DER bytes, once cryptography reads them as a certificate or a CRL (`kind`)."""
    from cryptography import x509

    load = x509.load_der_x509_crl if kind == "CRL" else x509.load_der_x509_certificate
    try:
        load(der)
    except ValueError as exc:
        raise ConfigError(_("{where}: not an X.509 {kind} (PEM or DER): {error}").format(
            where=where, kind=_noun(kind), error=exc)) from exc
    return der


def _load_files(paths: Iterable[str | Path], kind: str) -> list[bytes]:
    out: list[bytes] = []
    for p in paths:
        path = Path(p)
        for der in _unarmor(_read(path, kind), path, _PEM_TYPES[kind], kind):
            out.append(_check_der(der, _file(kind, path), kind))
    return out


def load_certificates(paths: Iterable[str | Path]) -> list[bytes]:
    """Read PEM (one or several certificates) or DER files; DER bytes, in order."""
    return _load_files(paths, "certificate")


def load_crls(paths: Iterable[str | Path]) -> list[bytes]:
    """Read PEM or DER CRL files; DER bytes, in order."""
    return _load_files(paths, "CRL")


def _ders(items: Sequence[bytes], kind: str, label: str) -> list[bytes]:
    """PEM or DER bytes given in code (not files), each checked; DER bytes, in order."""
    out: list[bytes] = []
    for i, item in enumerate(items, start=1):
        where = f"{_noun(label)} #{i}"
        for der in _unarmor(bytes(item), where, _PEM_TYPES[kind], label):
            out.append(_check_der(der, where, kind))
    return out


# --- the configuration ---------------------------------------------------------------


@dataclass(frozen=True)
class TrustSettings:
    """`[signatures]` and `[units.X] signers`, loaded once per run."""

    trust_roots: tuple[bytes, ...]
    crls: tuple[bytes, ...]
    revocation: str
    unit_signers: Mapping[str, tuple[SignerPin, ...]]


def load_trust(config: Config) -> TrustSettings:
    """Read the trust roots and CRLs (paths relative to the config file) and parse the
    units' signer pins; ConfigError names the key or the file at fault."""
    sig = config.signatures
    if not sig.trust_roots:
        raise ConfigError(
            _("[signatures] trust_roots is empty: a signed slip cannot be checked without the "
              "root certificates of the CA that issues the units' signing certificates "
              "(see docs/signed-slips.md)")
        )
    roots = load_certificates(config.resolve_path(p) for p in sig.trust_roots)
    crls = load_crls(config.resolve_path(p) for p in sig.crls)
    pins: dict[str, tuple[SignerPin, ...]] = {}
    for code, unit in config.units.items():
        try:
            pins[code] = tuple(SignerPin.parse(p) for p in unit.signers)
        except ConfigError as exc:
            raise ConfigError(_("[units.{code}] signers: {error}").format(
                code=code, error=exc.message)) from None
    return TrustSettings(tuple(roots), tuple(crls), sig.revocation, pins)


# --- what a signature is checked with ------------------------------------------------


def _roots_as_asn1(trust_roots: Sequence[bytes]) -> list[Any]:
    from asn1crypto import x509 as asn1_x509

    ders = _ders(trust_roots, "certificate", "trust root")
    roots = [asn1_x509.Certificate.load(der) for der in ders]
    if not roots:
        raise ConfigError(
            _("no trust roots configured: set [signatures] trust_roots to the CA certificate "
              "files")
        )
    return roots


@dataclass(frozen=True)
class ValidationSettings:
    """Roots, CRLs, revocation mode and the moment of validation, ready for pyHanko."""

    roots: tuple[Any, ...]  # asn1crypto certificates
    crls: tuple[bytes, ...]  # DER
    revocation: str
    now: datetime  # the time of import, aware

    @classmethod
    def prepare(
        cls, trust_roots: Sequence[bytes], crls: Sequence[bytes], revocation: str, now: datetime
    ) -> ValidationSettings:
        """Check and convert (PEM or DER bytes; a naive `now` is UTC); ConfigError when bad."""
        if revocation not in REVOCATION_MODES:
            raise ConfigError(
                _("[signatures] revocation = {value!r}: expected one of {modes}").format(
                    value=revocation, modes=", ".join(REVOCATION_MODES))
            )
        roots = _roots_as_asn1(trust_roots)
        crl_ders = _ders(crls, "CRL", "CRL")
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return cls(tuple(roots), tuple(crl_ders), revocation, now)

    def context(self, other_certs: Iterable[Any] = ()) -> Any:
        """A fresh pyhanko-certvalidator ValidationContext (close it with `aclose`)."""
        from pyhanko_certvalidator import ValidationContext

        return ValidationContext(
            trust_roots=list(self.roots),
            other_certs=list(other_certs),
            crls=list(self.crls),
            revocation_mode=self.revocation,
            allow_fetching=False,
            moment=self.now,  # the time of import: never the signer's claimed time
            best_signature_time=self.now,
        )
