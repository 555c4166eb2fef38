"""The configured CRLs asked about every certificate of a validated chain.

pyhanko-certvalidator's "soft-fail" mode skips certificates that declare no CRL
distribution point, even when a configured CRL lists them as revoked, and skips
stale CRLs. Here every configured CRL that covers a certificate is consulted
(certvalidator's `verify_crl`, then a direct look-up that ignores staleness): a
revocation stays true after the CRL's next update, and a stale CRL must not let a
revoked certificate through.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dnmail.i18n import _
from dnmail.signatures.certs import as_x509, dn_key, dn_string, fmt_dt
from dnmail.signatures.trust import ValidationSettings


def _verified_crl_entry(crl_der: bytes, cert: Any, issuer_key: Any) -> Any:
    """The entry of `cert` in this CRL when the CRL is its issuer's and its signature
    verifies; None otherwise."""
    from cryptography import x509

    try:
        crl = x509.load_der_x509_crl(crl_der)
        if dn_key(crl.issuer) != dn_key(cert.issuer):
            return None
        if not crl.is_signature_valid(issuer_key):
            return None
    except (ValueError, TypeError):
        return None
    return crl.get_revoked_certificate_by_serial_number(cert.serial_number)


def _entry_reason(entry: Any) -> str | None:
    """The entry's reason in words; None for removeFromCRL (not a revocation)."""
    from cryptography import x509

    try:
        flag = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return _("no reason given")
    if flag == x509.ReasonFlags.remove_from_crl:
        return None
    return str(flag.name.replace("_", " "))


def listed_in_crl(
    cert: Any, issuer_key_der: bytes, crl_ders: Sequence[bytes], now: datetime
) -> tuple[datetime, str] | None:
    """Is `cert` listed as revoked (on or before `now`) by a configured CRL signed by
    its issuer? (when, reason) or None. Freshness is not asked."""
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    x = as_x509(cert)
    try:
        issuer_key = load_der_public_key(issuer_key_der)
    except ValueError:
        return None
    for der in crl_ders:
        entry = _verified_crl_entry(der, x, issuer_key)
        if entry is None or entry.revocation_date_utc > now:
            continue
        reason = _entry_reason(entry)
        if reason is not None:
            return entry.revocation_date_utc, reason
    return None


async def _revocation_of(
    cert: Any, path: Any, vc: Any, settings: ValidationSettings
) -> tuple[bool, tuple[datetime, str] | None]:
    """(a configured CRL covers it, (when, reason) when revoked)."""
    from pyhanko_certvalidator.errors import RevokedError
    from pyhanko_certvalidator.revinfo.validate_crl import verify_crl

    covered = False
    try:
        await verify_crl(cert, path, vc)
        covered = True
    except RevokedError as exc:
        reason = exc.reason.human_friendly if exc.reason is not None else _("no reason given")
        return True, (exc.revocation_dt, reason)
    except Exception:  # noqa: S110 - no usable CRL: soft-fail, but see below
        pass
    try:
        issuer_key = path.find_issuing_authority(cert).public_key.dump()
    except (LookupError, AttributeError):
        issuer_key = b""
    return covered, listed_in_crl(cert, issuer_key, settings.crls, settings.now)


async def soft_fail_revocation(
    status: Any, settings: ValidationSettings
) -> tuple[bool | None, str | None]:
    """Check each certificate of the validated chain against the configured CRLs.

    Returns (revoked, reason): revoked is None when no CRL covered the signer.
    """
    path = status.validation_path
    ee = status.signing_cert
    # the CA certificates must be known to find each CRL's issuer
    vc = settings.context(other_certs=path.iter_certs(include_root=False))
    ee_covered = False
    try:
        for cert in path.iter_certs(include_root=False):
            is_ee = cert.dump() == ee.dump()
            covered, listed = await _revocation_of(cert, path, vc, settings)
            if is_ee and covered:
                ee_covered = True
            if listed is not None:
                when, reason = fmt_dt(listed[0]), listed[1]
                if is_ee:
                    return True, _("certificate revoked at {time} ({reason})").format(
                        time=when, reason=reason)
                ca = dn_string(as_x509(cert).subject)
                return True, _("CA certificate {ca} of its chain revoked at {time} ({reason})"
                               ).format(ca=ca, time=when, reason=reason)
    finally:
        await vc.aclose()
    return (False if ee_covered else None), None
