"""One embedded signature, checked on its own (DESIGN §5), into a SignatureReport:

* intact (the digest of its ByteRange matches) and cryptographically valid;
* chains to a configured trust root, validated at the time of import, never at the
  signing time the signer claims; key usage nonRepudiation or digitalSignature;
* not revoked by the configured CRLs (revocation.py for "soft-fail");
* covers the document: the whole file, or the whole revision it signed with nothing
  after it but metadata, form filling, further signatures or timestamps (pyHanko's
  diff policy: modification level NONE, LTA_UPDATES or FORM_FILLING, DocMDP kept).

Whether its signer may sign for the unit is the file's decision (verify.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dnmail.errors import SignatureProblem
from dnmail.i18n import _
from dnmail.signatures.certs import SignerInfo, as_x509, dn_string, fmt_dt, key_usages
from dnmail.signatures.revocation import soft_fail_revocation
from dnmail.signatures.trust import ValidationSettings

#: Modification levels after the signed revision that leave its content alone.
ACCEPTED_MODIFICATION_LEVELS = ("NONE", "LTA_UPDATES", "FORM_FILLING")
_SIGNING_USAGES = {"digital_signature", "non_repudiation"}


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
    #: The time of its signature timestamp token, when one is embedded and its TSA is
    #: trusted (validated like the signer, at the time of import); and who that TSA is.
    timestamp: datetime | None = None
    timestamp_by: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, *reasons: str) -> SignatureProblem:
        """This signature's problems (or the reasons given) as a SignatureProblem."""
        return SignatureProblem(
            reasons=reasons or self.problems,
            field_name=self.field_name,
            signer=self.signer.subject if self.signer else None,
        )


@dataclass(frozen=True)
class CheckedSignature:
    report: SignatureReport
    is_timestamp: bool
    range_end: int | None  # end of the ByteRange: the signed revision is data[:range_end]
    own_ok: bool  # passes every check but the unit's pins


# --- in words ------------------------------------------------------------------------


def _strip_certvalidator(msg: object) -> str:
    text = str(msg).strip()
    prefix = "The path could not be validated because "
    if text.startswith(prefix):
        text = text[len(prefix) :]
    return text.rstrip(".")


def _validated(now: datetime) -> str:
    return _("(validated at {time})").format(time=fmt_dt(now))


def _expired(exc: Any, cert: Any, now: datetime, claimed: datetime | None) -> str:
    if not exc.is_ee_cert:
        return _("a CA certificate of its chain expired at {time} {validated}").format(
            time=fmt_dt(exc.expired_dt), validated=_validated(now))
    msg = _("certificate expired at {time} {validated}").format(
        time=fmt_dt(exc.expired_dt), validated=_validated(now))
    if claimed is not None and cert.not_valid_before_utc <= claimed <= cert.not_valid_after_utc:
        msg += _("; the signing time it claims ({time}) is the signer's own word and is not "
                 "trusted").format(time=fmt_dt(claimed))
    return msg


def _path_failure(exc: Exception, cert: Any, now: datetime, claimed: datetime | None) -> str:
    """Why certvalidator refused the chain of `cert` at `now`, in words."""
    from pyhanko_certvalidator import errors as cv

    if isinstance(exc, cv.PathBuildingError):
        return _("certificate does not chain to a configured trust root (issued by {issuer})"
                 ).format(issuer=dn_string(cert.issuer))
    if isinstance(exc, cv.ExpiredError):
        return _expired(exc, cert, now, claimed)
    if isinstance(exc, cv.NotYetValidError):
        if exc.is_ee_cert:
            why = _("certificate is not valid before {time} {validated}")
        else:
            why = _("a CA certificate of its chain is not valid before {time} {validated}")
        return why.format(time=fmt_dt(exc.valid_from), validated=_validated(now))
    if isinstance(exc, cv.RevokedError):
        return _("revoked: {reason}").format(reason=_strip_certvalidator(exc))
    if isinstance(exc, cv.StaleRevinfoError):
        return _("the configured CRL is out of date ({reason}); install a current CRL").format(
            reason=_strip_certvalidator(exc))
    if isinstance(exc, cv.InsufficientRevinfoError):
        if exc.is_ee_cert:
            why = _('no configured CRL covers the certificate (revocation = "require"): {reason}')
        else:
            why = _('no configured CRL covers a CA certificate of its chain '
                    '(revocation = "require"): {reason}')
        return why.format(reason=_strip_certvalidator(exc))
    if isinstance(exc, cv.PathValidationError):
        text = _strip_certvalidator(exc)
        if "could not be verified" in text:
            return _("certificate does not chain to a configured trust root ({reason})").format(
                reason=text)
        return _("certificate chain is not valid: {reason}").format(reason=text)
    return _("certificate chain cannot be validated: {reason}").format(reason=exc)


async def explain_untrusted(
    cert: Any,
    other_certs: list[Any],
    settings: ValidationSettings,
    claimed: datetime | None,
    indic: Any,
) -> str:
    """Why the chain of `cert` does not validate at `now`, in words."""
    from pyhanko_certvalidator import CertificateValidator

    x = as_x509(cert)
    vc = settings.context()
    try:
        validator = CertificateValidator(
            cert, intermediate_certs=other_certs, validation_context=vc
        )
        await validator.async_validate_path()
    except Exception as exc:
        return _path_failure(exc, x, settings.now, claimed)
    finally:
        await vc.aclose()
    usages = key_usages(x)
    if usages is not None and not usages & _SIGNING_USAGES:
        return _("certificate key usage allows neither digitalSignature nor nonRepudiation")
    name = getattr(indic, "name", None) or str(indic)
    return _("certificate is not trusted ({reason})").format(reason=name)


def _revoked_by_pyhanko(details: Any) -> str:
    if details is None:
        return _("certificate revoked")
    reason = details.revocation_reason
    why = reason.human_friendly if reason else _("no reason")
    if details.ca_revoked:
        text = _("the certificate of a CA of its chain revoked at {time} ({reason})")
    else:
        text = _("certificate revoked at {time} ({reason})")
    return text.format(time=fmt_dt(details.revocation_date), reason=why)


def _coverage_problem(coverage: str, level: str, docmdp_ok: bool | None) -> str | None:
    if coverage == "ENTIRE_FILE":
        return None
    if coverage != "ENTIRE_REVISION":
        return _("the signature does not cover the whole document it signed (coverage "
                 "{coverage})").format(coverage=coverage)
    if docmdp_ok is not False and level in ACCEPTED_MODIFICATION_LEVELS:
        return None
    if level == "ANNOTATIONS":
        what = _("annotations were added")
    elif level == "OTHER":
        what = _("its content was modified")
    else:
        what = _("modification level {level}").format(level=level)
    return _("the document was changed after signing: a later incremental update alters it "
             "({what}); only metadata, form filling and further signatures may follow a "
             "signature").format(what=what)


# --- the checks ----------------------------------------------------------------------


def _range_end(sig: Any) -> int | None:
    try:
        br = [int(v) for v in sig.byte_range]
    except Exception:
        return None
    return br[2] + br[3] if len(br) == 4 else None


def _signer_of(cert: Callable[[], Any], claimed: datetime | None = None) -> SignerInfo | None:
    """The signer, when its certificate can be got and read (a broken signature's may not)."""
    try:
        return SignerInfo.from_certificate(cert(), claimed)
    except Exception:
        return None


async def _validate(sig: Any, settings: ValidationSettings, is_timestamp: bool) -> Any:
    """pyHanko's status of the signature (or document timestamp), validated at `now`."""
    from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
    from pyhanko.sign.validation.settings import KeyUsageConstraints

    vc = settings.context()
    try:
        if is_timestamp:
            return await async_validate_pdf_timestamp(sig, validation_context=vc)
        usage = KeyUsageConstraints(key_usage=set(_SIGNING_USAGES), match_all_key_usages=False)
        return await async_validate_pdf_signature(
            sig, signer_validation_context=vc, key_usage_settings=usage
        )
    finally:
        await vc.aclose()


def _integrity_problems(status: Any) -> list[str]:
    if not status.intact:
        return [_("the signed bytes were changed after signing (the digest does not match)")]
    if not status.valid:
        return [_("the signature value does not verify with the signer's certificate")]
    return []


async def _trust(
    sig: Any, status: Any, settings: ValidationSettings, claimed: datetime | None
) -> tuple[bool, bool | None, list[str]]:
    """(trusted, revoked, problems) of an intact signature's certificate at `now`."""
    trusted = bool(status.trusted)
    if status.revoked:
        return trusted, True, [_revoked_by_pyhanko(status.revocation_details)]
    if not trusted:
        why = await explain_untrusted(
            status.signing_cert, list(sig.other_embedded_certs), settings, claimed,
            status.trust_problem_indic,
        )
        return False, None, [why]
    if settings.revocation == "require":
        return True, False, []  # certvalidator refused any chain a CRL does not cover
    if not settings.crls:
        return True, None, []
    revoked, reason = await soft_fail_revocation(status, settings)
    if revoked:
        return False, True, [reason or _("certificate revoked")]
    return True, revoked, []


async def check_signature(sig: Any, settings: ValidationSettings) -> CheckedSignature:
    """Every check of DESIGN §5 that one signature passes or fails on its own."""
    field_name = str(getattr(sig, "field_name", "?"))
    is_ts = getattr(sig, "sig_object_type", "/Sig") == "/DocTimeStamp"
    range_end = _range_end(sig)
    try:
        status = await _validate(sig, settings, is_ts)
    except Exception as exc:
        reason = str(exc).strip() or type(exc).__name__
        report = SignatureReport(
            field_name, _signer_of(lambda: sig.signer_cert), False, False, False, None,
            "UNKNOWN", "UNKNOWN", None,
            (_("the signature cannot be validated: {reason}").format(reason=reason),),
        )
        return CheckedSignature(report, is_ts, range_end, False)

    claimed = getattr(status, "timestamp" if is_ts else "signer_reported_dt", None)
    coverage = getattr(status.coverage, "name", None) or "UNKNOWN"
    level = getattr(status.modification_level, "name", None) or "UNKNOWN"
    problems = _integrity_problems(status)
    trusted, revoked = bool(status.trusted), (True if status.revoked else None)
    if not is_ts and not problems:
        # A document timestamp only has to be intact; it is never the signature that counts.
        trusted, revoked, problems = await _trust(sig, status, settings, claimed)
        coverage_problem = _coverage_problem(coverage, level, status.docmdp_ok)
        if coverage_problem:
            problems.append(coverage_problem)
    stamped, tsa = _trusted_timestamp(status)
    report = SignatureReport(
        field_name, _signer_of(lambda: status.signing_cert, claimed), bool(status.intact),
        bool(status.valid), trusted, revoked, coverage, level, status.docmdp_ok, tuple(problems),
        stamped, tsa,
    )
    return CheckedSignature(report, is_ts, range_end, not is_ts and not problems)


def _trusted_timestamp(status: Any) -> tuple[datetime | None, str | None]:
    """(time, TSA subject) of the signature's timestamp token when it is intact, valid
    and from a trusted TSA; (None, None) otherwise — an untrusted token proves nothing."""
    ts = getattr(status, "timestamp_validity", None)
    if ts is None or not (ts.intact and ts.valid and ts.trusted):
        return None, None
    try:
        tsa = dn_string(as_x509(ts.signing_cert).subject)
    except Exception:
        tsa = None
    return ts.timestamp, tsa
