"""Signed PDF request slips (Phụ lục II): verify the signature, read the signed table.

A unit sends its slip as a PDF signed digitally by its chief of office. It counts
only when (DESIGN §5), for every embedded signature and for the one that counts:

* the file is a readable PDF with at least one signature, and EVERY embedded
  signature is intact (the digest of its ByteRange matches) and cryptographically
  valid; one broken signature refuses the file;
* the counting signature chains to a configured trust root (never the OS store, no
  network), validated at the time of import (`now`), never at the signing time the
  signer claims; its key usage allows nonRepudiation or digitalSignature;
* it is not revoked by the configured CRLs: `revocation = "soft-fail"` checks every
  certificate of the chain against every configured CRL that covers it, and passes
  a certificate no CRL covers; `"require"` refuses a chain in which any certificate
  below the root has no covering CRL;
* its certificate is pinned (fingerprint, or issuer + serial) in `[units.X] signers`
  of the unit: the given one, or, when none is given, the one unit whose pins match;
* it covers the document: the whole file, or the whole revision it signed with
  nothing after it but metadata, form filling, further signatures or timestamps
  (pyHanko's diff policy: modification level NONE, LTA_UPDATES or FORM_FILLING and
  DocMDP respected). Bytes appended after `%%EOF` are no revision and are accepted:
  the table is read from the signed revision only, so they can change nothing.

The table is then read from `signed_revision` only: the bytes up to the end of the
counting signature's ByteRange, exactly what the chief of office signed. A later
incremental update that paints over the table never reaches the reader.

pyHanko (~0.4 s to import) and pdfplumber are imported inside the functions.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dnmail.domain.phones import BadPhone, parse_phone
from dnmail.domain.slip import SlipContent, SlipRow, kind_from_content
from dnmail.domain.text import clean_text, fold
from dnmail.errors import ConfigError, InvalidFile, Problem, SignatureInvalid, UnsafeFile

REVOCATION_MODES = ("soft-fail", "require")
#: Modification levels after the signed revision that leave its content alone.
ACCEPTED_MODIFICATION_LEVELS = ("NONE", "LTA_UPDATES", "FORM_FILLING")
_HINT = "see docs/signed-slips.md for what each refusal means and how to mend it"


# --- names and certificates ----------------------------------------------------------


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


def _dn_string(name: Any) -> str:
    """RFC 4514 form of a cryptography Name, with readable names for title & co."""
    return name.rfc4514_string({oid: key for key, oid in _name_oids().items()})


def _parse_dn(text: str) -> Any:
    from cryptography import x509

    return x509.Name.from_rfc4514_string(text, _name_oids())


def _norm_value(value: object) -> str:
    return " ".join(unicodedata.normalize("NFC", str(value)).casefold().split())


def _dn_key(name: Any) -> tuple:
    """Order-, case-, space- and normal-form-insensitive key of a DN within each RDN."""
    return tuple(
        tuple(sorted((a.oid.dotted_string, _norm_value(a.value)) for a in rdn))
        for rdn in name.rdns
    )


def _as_x509(cert: Any) -> Any:
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


def _der(cert: Any) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return _as_x509(cert).public_bytes(Encoding.DER)


def fingerprint_of(cert: Any) -> str:
    """SHA-256 of the DER certificate, lowercase hex (`openssl x509 -outform DER | sha256sum`)."""
    return hashlib.sha256(_der(cert)).hexdigest()


_HEX = re.compile(r"[0-9a-f]{64}")


def _normalise_fingerprint(text: str) -> str:
    value = text.strip()
    low = value.lower()
    for prefix in ("sha256:", "sha-256:", "sha256="):
        if low.startswith(prefix):
            value = value[len(prefix):]
            break
    hexdigits = re.sub(r"[\s:]", "", value).lower()
    if not _HEX.fullmatch(hexdigits):
        raise ConfigError(
            f"signer pin {text!r}: a fingerprint is 'sha256:' followed by 64 hex digits "
            "(colons, spaces and case are ignored)"
        )
    return hexdigits


@dataclass(frozen=True)
class SignerPin:
    """One authorised signer of a unit, from config `[units.X] signers = [...]`.

    Two forms (see `parse`):
      "sha256:AB:CD:…"                       SHA-256 of the DER certificate (preferred)
      "issuer=CN=…,O=…,C=VN;serial=0x1F"     issuer DN (RFC 4514) and serial number
    A subject name alone is never a pin: anyone's CA can copy a subject.
    """

    fingerprint: str | None = None  # lowercase hex, normalised
    issuer: str | None = None  # RFC 4514, normalised
    serial: int | None = None

    def __post_init__(self) -> None:
        if self.fingerprint is not None:
            if self.issuer is not None or self.serial is not None:
                raise ConfigError("a signer pin is a fingerprint or issuer + serial, not both")
            object.__setattr__(self, "fingerprint", _normalise_fingerprint(self.fingerprint))
        elif self.issuer is not None and self.serial is not None:
            try:
                name = _parse_dn(self.issuer)
            except ValueError as exc:
                raise ConfigError(f"signer pin issuer {self.issuer!r} is not an RFC 4514 DN: {exc}") from exc
            if not name.rdns:
                raise ConfigError("signer pin issuer is empty")
            if self.serial < 0:
                raise ConfigError("signer pin serial must be positive")
            object.__setattr__(self, "issuer", _dn_string(name))
        else:
            raise ConfigError("a signer pin needs a fingerprint, or an issuer and a serial")

    @classmethod
    def parse(cls, text: str) -> SignerPin:
        """'sha256:<64 hex>' or 'issuer=<RFC 4514 DN>;serial=<decimal or 0x hex>'."""
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"signer pin {text!r} is empty")
        stripped = text.strip()
        if stripped.lower().startswith("issuer="):
            m = re.fullmatch(r"issuer=(?P<dn>.+);\s*serial\s*=\s*(?P<serial>\S+)", stripped,
                             flags=re.IGNORECASE | re.DOTALL)
            if not m:
                raise ConfigError(
                    f"signer pin {text!r}: expected 'issuer=<RFC 4514 DN>;serial=<number>'"
                )
            raw = m.group("serial")
            hexa = raw.lower().startswith("0x") or ":" in raw  # openssl -text prints aa:bb:…
            digits = raw[2:] if raw.lower().startswith("0x") else raw.replace(":", "")
            try:
                serial = int(digits, 16 if hexa else 10)
            except ValueError as exc:
                raise ConfigError(
                    f"signer pin {text!r}: serial {raw!r} is not a decimal number; write a "
                    f"hexadecimal serial (as `openssl x509 -serial` prints it) as 0x{digits}"
                ) from exc
            return cls(issuer=m.group("dn").strip(), serial=serial)
        if not stripped.lower().startswith(("sha256:", "sha-256:", "sha256=")):
            raise ConfigError(
                f"signer pin {text!r}: expected 'sha256:<64 hex digits>' or "
                "'issuer=<RFC 4514 DN>;serial=<number>'"
            )
        return cls(fingerprint=stripped)

    def matches(self, cert: Any) -> bool:
        """Does this pin name `cert` (SignerInfo, DER/PEM bytes, cryptography or asn1crypto cert)?"""
        if isinstance(cert, SignerInfo):
            fp, issuer_text, serial = cert.fingerprint, cert.issuer, cert.serial
            if self.fingerprint is not None:
                return fp == self.fingerprint
            try:
                issuer_key = _dn_key(_parse_dn(issuer_text))
            except ValueError:
                return False
        else:
            x = _as_x509(cert)
            if self.fingerprint is not None:
                return fingerprint_of(x) == self.fingerprint
            issuer_key, serial = _dn_key(x.issuer), x.serial_number
        assert self.issuer is not None
        return serial == self.serial and issuer_key == _dn_key(_parse_dn(self.issuer))

    def __str__(self) -> str:
        if self.fingerprint is not None:
            return "sha256:" + self.fingerprint
        return f"issuer={self.issuer};serial={self.serial:#x}"


# --- verdicts ------------------------------------------------------------------------


@dataclass(frozen=True)
class SignerInfo:
    subject: str  # RFC 4514
    issuer: str  # RFC 4514
    serial: int
    fingerprint: str  # sha256 lowercase hex of DER
    signing_time: datetime | None  # the signer's claimed time: informational only

    @classmethod
    def from_certificate(cls, cert: Any, signing_time: datetime | None = None) -> SignerInfo:
        x = _as_x509(cert)
        return cls(
            subject=_dn_string(x.subject),
            issuer=_dn_string(x.issuer),
            serial=x.serial_number,
            fingerprint=fingerprint_of(x),
            signing_time=signing_time,
        )

    @property
    def pin(self) -> str:
        return "sha256:" + self.fingerprint


@dataclass(frozen=True)
class SignatureReport:
    """One embedded signature, checked on its own (and against the unit's pins)."""

    field_name: str
    signer: SignerInfo | None
    intact: bool
    valid: bool
    trusted: bool
    revoked: bool | None  # None: no configured CRL covered the certificate
    coverage: str  # ENTIRE_FILE | ENTIRE_REVISION | CONTIGUOUS_BLOCK_FROM_START | UNCLEAR | UNKNOWN
    modification_level: str  # NONE | LTA_UPDATES | FORM_FILLING | ANNOTATIONS | OTHER | UNKNOWN
    docmdp_ok: bool | None
    problems: tuple[str, ...]  # human reasons; empty when it counts

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        who = f" by {self.signer.subject}" if self.signer else ""
        return f"signature {self.field_name!r}{who}"


@dataclass(frozen=True)
class PdfSlipVerdict:
    file_name: str
    signatures: tuple[SignatureReport, ...]
    signer: SignerInfo  # the authorised signer whose signature counts
    unit_code: str  # the unit it was accepted for
    signed_revision: bytes  # the bytes covered by that signature


@dataclass
class _Checked:
    report: SignatureReport
    is_timestamp: bool
    range_end: int | None  # end of the ByteRange
    own_ok: bool  # passes every check but the unit's pins


# --- loading trust material ----------------------------------------------------------


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} file {path}: cannot be read ({exc.strerror or exc})") from exc


def _unarmor(data: bytes, path: Path | str, pem_types: tuple[str, ...], what: str) -> list[bytes]:
    from asn1crypto import pem

    if not pem.detect(data):
        return [data]
    try:
        blocks = list(pem.unarmor(data, multiple=True))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{what} file {path}: broken PEM ({exc})") from exc
    ders = [der for kind, _headers, der in blocks if kind in pem_types]
    if not ders:
        kinds = ", ".join(sorted({kind for kind, _h, _d in blocks})) or "nothing"
        raise ConfigError(f"{what} file {path}: no {pem_types[0]} in it (found {kinds})")
    return ders


def _check_cert_der(der: bytes, where: object) -> bytes:
    from cryptography import x509

    try:
        x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise ConfigError(f"{where}: not an X.509 certificate (PEM or DER): {exc}") from exc
    return der


def _check_crl_der(der: bytes, where: object) -> bytes:
    from cryptography import x509

    try:
        x509.load_der_x509_crl(der)
    except ValueError as exc:
        raise ConfigError(f"{where}: not an X.509 CRL (PEM or DER): {exc}") from exc
    return der


def load_certificates(paths: Iterable[str | Path]) -> list[bytes]:
    """Read PEM (one or several certificates) or DER files; DER bytes, in order."""
    out: list[bytes] = []
    for p in paths:
        path = Path(p)
        data = _read(path, "certificate")
        for der in _unarmor(data, path, ("CERTIFICATE",), "certificate"):
            out.append(_check_cert_der(der, f"certificate file {path}"))
    return out


def load_crls(paths: Iterable[str | Path]) -> list[bytes]:
    """Read PEM or DER CRL files; DER bytes, in order."""
    out: list[bytes] = []
    for p in paths:
        path = Path(p)
        data = _read(path, "CRL")
        for der in _unarmor(data, path, ("X509 CRL", "CRL"), "CRL"):
            out.append(_check_crl_der(der, f"CRL file {path}"))
    return out


def _roots_as_asn1(trust_roots: Sequence[bytes]) -> list[Any]:
    from asn1crypto import x509 as asn1_x509

    roots = []
    for i, item in enumerate(trust_roots, start=1):
        for der in _unarmor(bytes(item), f"trust root #{i}", ("CERTIFICATE",), "trust root"):
            _check_cert_der(der, f"trust root #{i}")
            roots.append(asn1_x509.Certificate.load(der))
    if not roots:
        raise ConfigError(
            "no trust roots configured: set [signatures] trust_roots to the CA certificate files"
        )
    return roots


def _crls_as_der(crls: Sequence[bytes]) -> list[bytes]:
    out = []
    for i, item in enumerate(crls, start=1):
        for der in _unarmor(bytes(item), f"CRL #{i}", ("X509 CRL", "CRL"), "CRL"):
            out.append(_check_crl_der(der, f"CRL #{i}"))
    return out


# --- helpers -------------------------------------------------------------------------


def _fmt_dt(dt: datetime | None) -> str:
    if dt is None:
        return "?"
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC)
    if (dt.hour, dt.minute, dt.second) == (0, 0, 0):
        return dt.strftime("%Y-%m-%d")
    return dt.strftime("%Y-%m-%d %H:%M UTC")


def _run(coro: Any) -> Any:
    """asyncio.run, also from inside a running event loop (in a worker thread)."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _strip_certvalidator(msg: str) -> str:
    msg = str(msg).strip()
    prefix = "The path could not be validated because "
    if msg.startswith(prefix):
        msg = msg[len(prefix):]
    return msg.rstrip(".")


def _quiet_library_logs() -> None:
    """pyHanko logs every refused chain as a WARNING with a traceback; without a handler
    Python would print those on stderr. A NullHandler stops that; records still reach
    the root logger when the CLI configures one (--verbose)."""
    import logging

    for name in ("pyhanko", "pyhanko_certvalidator"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


def _sniff_pdf(data: bytes, file_name: str) -> None:
    if not data:
        raise InvalidFile(file_name, [Problem("the file is empty", file=file_name)])
    if b"%PDF-" not in data[:1024]:
        start = data[:8]
        raise UnsafeFile(
            file_name,
            [Problem(f"not a PDF file (it starts with {start!r}, not '%PDF-')", file=file_name)],
        )


# --- signature checks ----------------------------------------------------------------


class _Settings:
    def __init__(self, roots: list[Any], crls: list[bytes], revocation: str, now: datetime):
        self.roots, self.crls, self.revocation, self.now = roots, crls, revocation, now

    def context(self, other_certs: Iterable[Any] = ()) -> Any:
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


def _key_usage_constraints() -> Any:
    from pyhanko.sign.validation.settings import KeyUsageConstraints

    return KeyUsageConstraints(
        key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False
    )


async def _explain_untrusted(cert: Any, other_certs: list[Any], settings: _Settings,
                             claimed: datetime | None, indic: Any) -> str:
    """Why the chain of `cert` does not validate at `now`, in words."""
    from pyhanko_certvalidator import CertificateValidator
    from pyhanko_certvalidator.errors import (
        ExpiredError,
        InsufficientRevinfoError,
        NotYetValidError,
        PathBuildingError,
        PathValidationError,
        RevokedError,
        StaleRevinfoError,
    )

    x = _as_x509(cert)
    issuer = _dn_string(x.issuer)
    vc = settings.context()
    try:
        validator = CertificateValidator(cert, intermediate_certs=other_certs, validation_context=vc)
        await validator.async_validate_path()
    except PathBuildingError:
        return f"certificate does not chain to a configured trust root (issued by {issuer})"
    except ExpiredError as exc:
        if exc.is_ee_cert:
            msg = (f"certificate expired at {_fmt_dt(exc.expired_dt)} "
                   f"(validated at {_fmt_dt(settings.now)})")
            nb, na = x.not_valid_before_utc, x.not_valid_after_utc
            if claimed is not None and nb <= claimed <= na:
                msg += (f"; the signing time it claims ({_fmt_dt(claimed)}) is the signer's own "
                        "word and is not trusted")
            return msg
        return (f"a CA certificate of its chain expired at {_fmt_dt(exc.expired_dt)} "
                f"(validated at {_fmt_dt(settings.now)})")
    except NotYetValidError as exc:
        which = "certificate" if exc.is_ee_cert else "a CA certificate of its chain"
        return (f"{which} is not valid before {_fmt_dt(exc.valid_from)} "
                f"(validated at {_fmt_dt(settings.now)})")
    except RevokedError as exc:
        return f"revoked: {_strip_certvalidator(exc)}"
    except StaleRevinfoError as exc:
        return (f"the configured CRL is out of date ({_strip_certvalidator(exc)}); "
                "install a current CRL")
    except InsufficientRevinfoError as exc:
        which = "the certificate" if exc.is_ee_cert else "a CA certificate of its chain"
        return (f"no configured CRL covers {which} (revocation = \"require\"): "
                f"{_strip_certvalidator(exc)}")
    except PathValidationError as exc:
        text = _strip_certvalidator(exc)
        if "could not be verified" in text:
            return f"certificate does not chain to a configured trust root ({text})"
        return f"certificate chain is not valid: {text}"
    except Exception as exc:
        return f"certificate chain cannot be validated: {exc}"
    finally:
        await vc.aclose()
    usages = _key_usages(x)
    if usages is not None and not usages & {"digital_signature", "non_repudiation"}:
        return "certificate key usage allows neither digitalSignature nor nonRepudiation"
    name = getattr(indic, "name", None) or str(indic)
    return f"certificate is not trusted ({name})"


def _key_usages(x: Any) -> set[str] | None:
    from cryptography import x509

    try:
        ku = x.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    names = set()
    if ku.digital_signature:
        names.add("digital_signature")
    if ku.content_commitment:
        names.add("non_repudiation")
    return names


def _listed_in_crl(cert: Any, issuer_key_der: bytes, crl_ders: Sequence[bytes],
                   now: datetime) -> tuple[datetime, str] | None:
    """Is `cert` listed as revoked (on or before `now`) by a configured CRL signed by its issuer?

    Freshness is not asked: a revocation stays true after the CRL's next update, and
    a stale CRL must not let a revoked certificate through.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    x = _as_x509(cert)
    try:
        issuer_key = load_der_public_key(issuer_key_der)
    except ValueError:
        return None
    for der in crl_ders:
        try:
            crl = x509.load_der_x509_crl(der)
            if _dn_key(crl.issuer) != _dn_key(x.issuer):
                continue
            if not crl.is_signature_valid(issuer_key):  # type: ignore[arg-type]
                continue
        except (ValueError, TypeError):
            continue
        entry = crl.get_revoked_certificate_by_serial_number(x.serial_number)
        if entry is None or entry.revocation_date_utc > now:
            continue
        reason = "no reason given"
        try:
            flag = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
            if flag == x509.ReasonFlags.remove_from_crl:
                continue
            reason = flag.name.replace("_", " ")
        except x509.ExtensionNotFound:
            pass
        return entry.revocation_date_utc, reason
    return None


async def _soft_fail_revocation(status: Any, settings: _Settings) -> tuple[bool | None, str | None]:
    """Check each certificate of the validated chain against the configured CRLs.

    pyhanko-certvalidator's "soft-fail" mode skips certificates that declare no CRL
    distribution point, even when a configured CRL lists them as revoked, and skips
    stale CRLs. Here every configured CRL that covers a certificate is consulted
    (certvalidator's `verify_crl`, then a direct look-up that ignores staleness).
    Returns (revoked, reason): revoked is None when no CRL covered the signer.
    """
    from pyhanko_certvalidator.errors import RevokedError
    from pyhanko_certvalidator.revinfo.validate_crl import verify_crl

    path = status.validation_path
    ee = status.signing_cert
    # the CA certificates must be known to find each CRL's issuer
    vc = settings.context(other_certs=path.iter_certs(include_root=False))
    ee_covered: bool | None = None
    try:
        for cert in path.iter_certs(include_root=False):
            is_ee = cert.dump() == ee.dump()
            listed: tuple[datetime, str] | None = None
            try:
                await verify_crl(cert, path, vc)
                if is_ee:
                    ee_covered = True
            except RevokedError as exc:
                reason = exc.reason.human_friendly if exc.reason is not None else "no reason given"
                listed = (exc.revocation_dt, reason)
            except Exception:  # noqa: S110 - no usable CRL: soft-fail, but see below
                pass
            if listed is None:
                try:
                    issuer_key = path.find_issuing_authority(cert).public_key.dump()
                except (LookupError, AttributeError):
                    issuer_key = b""
                listed = _listed_in_crl(cert, issuer_key, settings.crls, settings.now)
            if listed is not None:
                when, reason = _fmt_dt(listed[0]), listed[1]
                if is_ee:
                    return True, f"certificate revoked at {when} ({reason})"
                ca = _dn_string(_as_x509(cert).subject)
                return True, f"CA certificate {ca} of its chain revoked at {when} ({reason})"
    finally:
        await vc.aclose()
    return (False if ee_covered else None), None


async def _check_signature(sig: Any, settings: _Settings) -> _Checked:
    from pyhanko.sign.validation import (
        async_validate_pdf_signature,
        async_validate_pdf_timestamp,
    )

    field_name = str(getattr(sig, "field_name", "?"))
    is_ts = getattr(sig, "sig_object_type", "/Sig") == "/DocTimeStamp"
    range_end = None
    try:
        br = [int(v) for v in sig.byte_range]
        if len(br) == 4:
            range_end = br[2] + br[3]
    except Exception:
        range_end = None

    vc = settings.context()
    try:
        if is_ts:
            status = await async_validate_pdf_timestamp(sig, validation_context=vc)
        else:
            status = await async_validate_pdf_signature(
                sig, signer_validation_context=vc, key_usage_settings=_key_usage_constraints()
            )
    except Exception as exc:
        signer = None
        try:
            signer = SignerInfo.from_certificate(sig.signer_cert)
        except Exception:
            signer = None
        reason = str(exc).strip() or type(exc).__name__
        report = SignatureReport(field_name, signer, False, False, False, None, "UNKNOWN",
                                 "UNKNOWN", None, (f"the signature cannot be validated: {reason}",))
        return _Checked(report, is_ts, range_end, False)
    finally:
        await vc.aclose()

    claimed = getattr(status, "signer_reported_dt", None)
    if is_ts:
        claimed = getattr(status, "timestamp", None)
    try:
        signer = SignerInfo.from_certificate(status.signing_cert, claimed)
    except Exception:
        signer = None
    coverage = getattr(status.coverage, "name", None) or "UNKNOWN"
    level_obj = status.modification_level
    level = getattr(level_obj, "name", None) or "UNKNOWN"
    docmdp_ok = status.docmdp_ok
    problems: list[str] = []
    if not status.intact:
        problems.append("the signed bytes were changed after signing (the digest does not match)")
    elif not status.valid:
        problems.append("the signature value does not verify with the signer's certificate")
    integrity_ok = not problems
    trusted = bool(status.trusted)
    revoked: bool | None = True if status.revoked else None

    if is_ts:
        # A document timestamp only has to be intact; it is never the signature that counts.
        report = SignatureReport(field_name, signer, status.intact, status.valid, trusted,
                                 revoked, coverage, level, docmdp_ok, tuple(problems))
        return _Checked(report, True, range_end, False)

    if integrity_ok:
        if status.revoked:
            rd = status.revocation_details
            reason = rd.revocation_reason.human_friendly if rd.revocation_reason else "no reason"
            who = "the certificate of a CA of its chain" if rd.ca_revoked else "certificate"
            problems.append(f"{who} revoked at {_fmt_dt(rd.revocation_date)} ({reason})")
        elif not trusted:
            problems.append(await _explain_untrusted(
                status.signing_cert, list(sig.other_embedded_certs), settings, claimed,
                status.trust_problem_indic,
            ))
        elif settings.revocation == "require":
            revoked = False
        elif settings.crls:
            revoked, why = await _soft_fail_revocation(status, settings)
            if revoked:
                trusted = False
                problems.append(why or "certificate revoked")

        if coverage == "ENTIRE_FILE":
            pass
        elif coverage == "ENTIRE_REVISION":
            if docmdp_ok is False or level not in ACCEPTED_MODIFICATION_LEVELS:
                what = {
                    "ANNOTATIONS": "annotations were added",
                    "OTHER": "its content was modified",
                }.get(level, f"modification level {level}")
                problems.append(
                    f"the document was changed after signing: a later incremental update "
                    f"alters it ({what}); only metadata, form filling and further "
                    "signatures may follow a signature"
                )
        else:
            problems.append(
                f"the signature does not cover the whole document it signed (coverage {coverage})"
            )

    report = SignatureReport(field_name, signer, bool(status.intact), bool(status.valid),
                             trusted, revoked, coverage, level, docmdp_ok, tuple(problems))
    return _Checked(report, False, range_end, not problems)


async def _check_all(sigs: list[Any], settings: _Settings) -> list[_Checked]:
    return [await _check_signature(sig, settings) for sig in sigs]


def _refuse(file_name: str, lines: list[str], reports: Sequence[SignatureReport]) -> SignatureInvalid:
    if len(lines) == 1:
        message = f"{file_name}: {lines[0]}"
    else:
        message = f"{file_name}: the signed slip does not count:" + "".join(
            f"\n  - {line}" for line in lines
        )
    exc = SignatureInvalid(message, hint=_HINT)
    exc.file = file_name  # type: ignore[attr-defined]
    exc.reports = tuple(reports)  # type: ignore[attr-defined]
    return exc


def _report_line(report: SignatureReport) -> str:
    return f"{report.describe()}: {'; '.join(report.problems)}"


def verify_pdf_slip(
    data: bytes,
    *,
    file_name: str,
    trust_roots: Sequence[bytes],
    crls: Sequence[bytes] = (),
    revocation: str = "soft-fail",
    now: datetime,
    unit_signers: Mapping[str, Sequence[SignerPin]],
    unit: str | None = None,
) -> PdfSlipVerdict:
    """Decide whether a signed PDF slip counts (module docstring); raise when it does not.

    Raises UnsafeFile/InvalidFile (not a PDF, truncated, damaged), SignatureInvalid
    (no signature, or no signature that counts: the message names every reason), or
    ConfigError (bad trust roots, CRLs or revocation mode). `now` is the time of
    import; a naive datetime is taken as UTC.
    """
    if revocation not in REVOCATION_MODES:
        raise ConfigError(
            f"[signatures] revocation = {revocation!r}: expected one of {', '.join(REVOCATION_MODES)}"
        )
    roots = _roots_as_asn1(trust_roots)
    crl_ders = _crls_as_der(crls)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    unit_signers = {  # pins as text are accepted too
        code: [p if isinstance(p, SignerPin) else SignerPin.parse(p) for p in pins]
        for code, pins in unit_signers.items()
    }
    _sniff_pdf(data, file_name)
    _quiet_library_logs()

    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(io.BytesIO(data))
        sigs = list(reader.embedded_signatures)
    except Exception as exc:
        reason = str(exc).strip() or type(exc).__name__
        raise InvalidFile(
            file_name,
            [Problem(f"not a readable PDF (truncated or damaged): {reason}", file=file_name)],
        ) from exc
    if not sigs:
        raise _refuse(file_name, ["has no digital signature; the slip must be signed by the "
                                  "unit's chief of office"], ())

    settings = _Settings(roots, crl_ders, revocation, now)
    checked: list[_Checked] = _run(_check_all(sigs, settings))

    # 1. every embedded signature must be intact and valid
    broken = [c for c in checked if not (c.report.intact and c.report.valid)]
    if broken:
        raise _refuse(file_name, [_report_line(c.report) for c in broken],
                      [c.report for c in checked])

    # 2. which unit, and which of its signers' signatures counts
    def units_of(info: SignerInfo | None) -> list[str]:
        if info is None:
            return []
        return sorted(code for code, pins in unit_signers.items()
                      if any(p.matches(info) for p in pins))

    candidates = [c for c in checked if c.own_ok and not c.is_timestamp]
    lines: list[str] = []
    if unit is None:
        units = sorted({u for c in candidates for u in units_of(c.report.signer)})
        if len(units) > 1:
            for c in checked:
                if c.report.problems:
                    lines.append(_report_line(c.report))
            lines.append(
                f"the signers are authorised for several units ({', '.join(units)}); "
                "name the unit the slip is for"
            )
            raise _refuse(file_name, lines, [c.report for c in checked])
        chosen_unit = units[0] if units else None
    else:
        chosen_unit = unit
        if not unit_signers.get(unit):
            raise _refuse(file_name, [
                f"unit {unit} has no authorised signers in the configuration "
                f"([units.{unit}] signers)"], [c.report for c in checked])

    final: list[SignatureReport] = []
    counting: list[_Checked] = []
    for c in checked:
        report = c.report
        if c.own_ok and not c.is_timestamp:
            pins = unit_signers.get(chosen_unit, ()) if chosen_unit else ()
            if report.signer is not None and any(p.matches(report.signer) for p in pins):
                counting.append(c)
            else:
                others = units_of(report.signer)
                who = report.signer.subject if report.signer else "unknown"
                if chosen_unit:
                    pin = report.signer.pin if report.signer else "?"
                    extra = (f"authorised for: {', '.join(others)}" if others
                             else f"not named in any unit's signers; its pin is {pin}")
                    why = f"signer {who} is not an authorised signer of unit {chosen_unit} ({extra})"
                else:
                    pin = report.signer.pin if report.signer else "?"
                    why = (f"signer {who} is not an authorised signer of any unit "
                           f"(its pin {pin} is in no [units.CODE] signers)")
                report = replace(report, problems=(*report.problems, why))
        final.append(report)

    if not counting:
        lines = [_report_line(r) for r in final if r.problems]
        raise _refuse(file_name, lines or ["no signature counts"], final)

    best = max(counting, key=lambda c: c.range_end or 0)
    end = best.range_end
    if not end or end > len(data):
        raise _refuse(file_name, [f"{best.report.describe()}: its ByteRange is damaged"], final)
    assert best.report.signer is not None and chosen_unit is not None
    return PdfSlipVerdict(
        file_name=file_name,
        signatures=tuple(final),
        signer=best.report.signer,
        unit_code=chosen_unit,
        signed_revision=bytes(data[:end]),
    )


def extract_signed_revision(data: bytes, field_name: str) -> bytes:
    """The bytes signed by signature `field_name` (up to its ByteRange end), unverified.

    For diagnostics (what did the signer sign?); use verify_pdf_slip to decide anything.
    """
    from pyhanko.pdf_utils.reader import PdfFileReader

    for sig in PdfFileReader(io.BytesIO(data)).embedded_signatures:
        if sig.field_name == field_name:
            br = [int(v) for v in sig.byte_range]
            return bytes(data[: br[2] + br[3]])
    raise KeyError(field_name)


# --- reading the table ---------------------------------------------------------------

_COLUMNS = ("seq", "full_name", "department", "phone", "address")
COLUMN_LABELS = {
    "seq": "STT",
    "full_name": "Họ và tên",
    "department": "Phòng ban/Đơn vị trực thuộc",
    "phone": "Số điện thoại",
    "address": "Tên hộp thư đề nghị tạo mới/thay đổi/hủy bỏ",
}
_HEADER_FIELDS = {
    "tencoquan": "unit_name",
    "hovatennguoiyeucau": "requester_name",
    "chucvu": "requester_position",
    "dienthoailienlac": "requester_phone",
    "noidungyeucau": "content",
}
_DOTS = " .…·_-:"


def _header_column(cell: object) -> str | None:
    key = fold(cell)
    if not key:
        return None
    if key.startswith(("stt", "sothutu")):
        return "seq"
    if key.startswith("hovaten") or key == "hoten":
        return "full_name"
    if key.startswith(("phongban", "donvi")):
        return "department"
    if key.startswith(("sodienthoai", "dienthoai")):
        return "phone"
    if key.startswith(("tenhopthu", "tenhothu", "hopthu", "email", "tenemail")):
        return "address"
    return None


def _match_header(row: Sequence[object]) -> dict[str, int] | None:
    mapping: dict[str, int] = {}
    for i, cell in enumerate(row):
        col = _header_column(cell)
        if col and col not in mapping:
            mapping[col] = i
    if "full_name" in mapping and len(mapping) >= 3:
        return mapping
    return None


def _strip_leader(text: str) -> str:
    return text.strip(_DOTS).strip()


def _text_runs(page: Any) -> list[list[dict]]:
    """Lines of the page as runs of words separated by wide gaps (columns of a layout)."""
    words = page.extract_words(keep_blank_chars=False, use_text_flow=False)
    words.sort(key=lambda w: (round(w["top"]), w["x0"]))
    lines: list[list[dict]] = []
    for w in words:
        if lines and abs(lines[-1][0]["top"] - w["top"]) <= 3:
            lines[-1].append(w)
        else:
            lines.append([w])
    out: list[list[dict]] = []
    for line in lines:
        line.sort(key=lambda w: w["x0"])
        runs: list[dict] = []
        for w in line:
            if runs and w["x0"] - runs[-1]["x1"] <= 12:
                runs[-1]["text"] += " " + w["text"]
                runs[-1]["x1"] = w["x1"]
            else:
                runs.append({"text": w["text"], "x0": w["x0"], "x1": w["x1"],
                             "top": w["top"], "bottom": w["bottom"]})
        out.append(runs)
    return out


def _header_block(lines: list[list[dict]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for li, runs in enumerate(lines):
        for ri, run in enumerate(runs):
            text = clean_text(run["text"])
            if ":" not in text:
                continue
            label, value = text.split(":", 1)
            field = _HEADER_FIELDS.get(fold(label))
            if field is None or field in found:
                continue
            value = _strip_leader(value)
            if not value and ri + 1 < len(runs) and ":" not in runs[ri + 1]["text"]:
                value = _strip_leader(clean_text(runs[ri + 1]["text"]))
            # a value wrapped onto following lines, aligned under the label
            prev_bottom = run["bottom"]
            height = max(run["bottom"] - run["top"], 1)
            for nxt in lines[li + 1 :]:
                first = nxt[0]
                if (abs(first["x0"] - run["x0"]) > 3 or ":" in first["text"]
                        or first["top"] - prev_bottom > height):
                    break
                value = clean_text(f"{value} {_strip_leader(clean_text(first['text']))}")
                prev_bottom = first["bottom"]
            found[field] = value
    return found


def read_pdf_slip(signed_revision: bytes, *, file_name: str) -> SlipContent:
    """Read the Phụ lục II table and header fields from the signed revision's bytes.

    Pass `PdfSlipVerdict.signed_revision`, never the whole file. Rows run from the
    header row (found by its text) to the first empty row, across pages (a repeated
    header on the next page is skipped). Everything comes back NFC.
    """
    import pdfplumber

    _sniff_pdf(signed_revision, file_name)
    problems: list[Problem] = []
    warnings: list[Problem] = []
    rows: list[SlipRow] = []
    fields: dict[str, str] = {}
    try:
        pdf = pdfplumber.open(io.BytesIO(signed_revision))
    except Exception as exc:
        raise InvalidFile(file_name, [Problem(
            f"not a readable PDF: {str(exc).strip() or type(exc).__name__}", file=file_name)]) from exc
    with pdf:
        try:
            pages = list(pdf.pages)
        except Exception as exc:
            raise InvalidFile(file_name, [Problem(
                f"not a readable PDF: {str(exc).strip() or type(exc).__name__}",
                file=file_name)]) from exc
        mapping: dict[str, int] | None = None
        header_page: int | None = None
        n_cols = 0
        finished = False
        prelude: list[list[dict]] = []
        for pno, page in enumerate(pages, start=1):
            try:
                tables = [(t.bbox, t.extract()) for t in page.find_tables()]
            except Exception as exc:
                raise InvalidFile(file_name, [Problem(
                    f"the page cannot be read: {str(exc).strip() or type(exc).__name__}",
                    file=file_name, page=pno)]) from exc
            if mapping is not None and not tables:
                break  # the table ended with the previous page
            table_top: float | None = None
            for t_index, (bbox, table_rows) in enumerate(tables):
                start = 0
                if mapping is None:
                    for i, trow in enumerate(table_rows):
                        found = _match_header(trow)
                        if found:
                            mapping, header_page, n_cols = found, pno, len(trow)
                            start, table_top = i + 1, bbox[1]
                            break
                    else:
                        continue
                elif header_page != pno and t_index == 0 and table_rows \
                        and len(table_rows[0]) == n_cols:
                    # the table goes on from the previous page, maybe under a repeated header
                    start = 1 if _match_header(table_rows[0]) else 0
                else:
                    finished = True  # another table: the slip's table is over
                    break
                body = table_rows[start:]
                for data_row, trow in enumerate(body, start=1):
                    result = _read_row(trow, mapping, file_name, pno, data_row)
                    if result is None:
                        finished = True
                        later = [n for n, r in enumerate(body[data_row:], start=data_row + 1)
                                 if _read_row(r, mapping, file_name, pno, n) is not None]
                        if later:
                            warnings.append(Problem(
                                f"rows after the first empty row are ignored (rows "
                                f"{', '.join(map(str, later))})",
                                file=file_name, page=pno, row=data_row))
                        break
                    row, row_problems, row_warnings = result
                    problems += row_problems
                    warnings += row_warnings
                    if row is not None:
                        rows.append(row)
                if finished:
                    break
            try:
                if mapping is None:
                    prelude.extend(_text_runs(page))
                elif header_page == pno:
                    top = table_top if table_top is not None else page.height
                    if top > 1:
                        prelude.extend(_text_runs(page.crop((0, 0, page.width, top))))
            except Exception as exc:
                raise InvalidFile(file_name, [Problem(
                    f"the page text cannot be read: {str(exc).strip() or type(exc).__name__}",
                    file=file_name, page=pno)]) from exc
            if finished:
                break
        fields = _header_block(prelude)

    if mapping is None:
        where = "its page" if len(pages) == 1 else f"any of its {len(pages)} pages"
        raise InvalidFile(file_name, [Problem(
            "no Phụ lục II table found on " + where + ": expected a ruled table with the header "
            "'STT | Họ và tên | Phòng ban/Đơn vị trực thuộc | Số điện thoại | "
            "Tên hộp thư đề nghị tạo mới/thay đổi/hủy bỏ'",
            file=file_name, page=1 if len(pages) == 1 else None)])
    missing = [COLUMN_LABELS[c] for c in _COLUMNS if c not in mapping and c != "seq"]
    if missing:
        problems.insert(0, Problem(f"the table lacks the column(s) {', '.join(missing)}",
                                   file=file_name, page=header_page))
    if not rows and not problems:
        problems.append(Problem("the table has no rows (the first row under the header is empty)",
                                file=file_name, page=header_page))
    if problems:
        raise InvalidFile(file_name, problems)

    requester_phone = fields.get("requester_phone", "")
    if requester_phone:
        try:
            phone = parse_phone(requester_phone)
            requester_phone = phone.number
        except BadPhone:
            pass
    content = fields.get("content", "")
    return SlipContent(
        file_name=file_name,
        format="pdf",
        unit_name=fields.get("unit_name", ""),
        requester_name=fields.get("requester_name", ""),
        requester_position=fields.get("requester_position", ""),
        requester_phone=requester_phone,
        content=content,
        kind=kind_from_content(content),
        rows=tuple(rows),
        warnings=tuple(warnings),
    )


def _read_row(
    cells: Sequence[object], mapping: Mapping[str, int], file_name: str, page: int, row_no: int
) -> tuple[SlipRow | None, list[Problem], list[Problem]] | None:
    """None at the first empty row (the end of the table)."""

    def cell(col: str) -> str:
        i = mapping.get(col)
        if i is None or i >= len(cells):
            return ""
        return clean_text(cells[i])

    seq = cell("seq")
    name = cell("full_name")
    department = cell("department")
    phone_text = cell("phone")
    address = re.sub(r"\s+", "", cell("address"))
    if not (name or department or phone_text or address):
        return None  # an empty row (perhaps numbered, as in the template) ends the table
    problems: list[Problem] = []
    warnings: list[Problem] = []

    def problem(message: str, col: str) -> Problem:
        return Problem(message, file=file_name, page=page, row=row_no, column=COLUMN_LABELS[col])

    if not name:
        problems.append(problem("the name is empty", "full_name"))
    number, restored = "", False
    try:
        parsed = parse_phone(phone_text)
        number, restored = parsed.number, parsed.restored_zero
        if restored:
            warnings.append(problem(
                f"the phone number {phone_text!r} lost its leading 0; read as {number}", "phone"))
    except BadPhone as exc:
        problems.append(problem(str(exc), "phone"))
    if problems:
        return None, problems, warnings
    row = SlipRow(
        row=row_no,
        seq=seq,
        full_name=name,
        department=department,
        phone=number,
        phone_restored=restored,
        requested_address=address,
        page=page,
    )
    return row, problems, warnings
