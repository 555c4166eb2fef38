"""Does a signed PDF slip count? `verify_pdf_slip` decides for the whole file.

A slip counts only when (DESIGN §5):

* the file is a readable PDF with at least one signature, and EVERY embedded
  signature is intact and cryptographically valid; one broken signature refuses it;
* one signature passes every check of checks.py (trust at the time of import,
  revocation, coverage) and its certificate is pinned in `[units.X] signers` of the
  unit: the given one, or, when none is given, the one unit whose pins match.
  Bytes appended after `%%EOF` are no revision and are accepted: the table is read
  from the signed revision only, so they can change nothing.

The verdict carries `signed_revision`: the bytes up to the end of the counting
signature's ByteRange, exactly what the chief of office signed. Read the table from
those (readers/pdf_table.py): a later incremental update that paints over the table
never reaches the reader. A refusal is a SignatureInvalid whose problems are data
(one SignatureProblem per signature at fault, or about the file as a whole).
"""

from __future__ import annotations

import io
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from dnmail.errors import InvalidFile, Problem, SignatureInvalid, SignatureProblem
from dnmail.i18n import _
from dnmail.readers.safety import check_pdf
from dnmail.signatures.certs import SignerInfo
from dnmail.signatures.checks import CheckedSignature, SignatureReport, check_signature
from dnmail.signatures.freshness import (
    SignatureIdentity,
    SigningTime,
    signature_identity,
    signing_time,
)
from dnmail.signatures.pins import SignerPin, parse_unit_pins, units_of
from dnmail.signatures.trust import ValidationSettings


@dataclass(frozen=True)
class PdfSlipVerdict:
    file_name: str
    signatures: tuple[SignatureReport, ...]
    signer: SignerInfo  # the authorised signer whose signature counts
    unit_code: str  # the unit it was accepted for
    signed_revision: bytes  # the bytes covered by that signature
    #: What identifies the slip: every signature of the file (freshness.py).
    identities: tuple[SignatureIdentity, ...] = ()
    #: When the counting signature was made (a trusted timestamp, else claimed).
    signed_at: SigningTime = field(default_factory=lambda: SigningTime(None, "none"))
    #: Form fields were filled in after the counting signature (DocMDP allows it): a
    #: viewer shows content that is not part of the signed revision, and not read.
    filled_after_signing: bool = False


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run, also from inside a running event loop (in a worker thread)."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _quiet_library_logs() -> None:
    """pyHanko logs every refused chain as a WARNING with a traceback; without a handler
    Python would print those on stderr. A NullHandler stops that; records still reach
    the root logger when the CLI configures one (--verbose)."""
    import logging

    for name in ("pyhanko", "pyhanko_certvalidator"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


def _embedded_signatures(data: bytes, file_name: str) -> list[Any]:
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        return list(PdfFileReader(io.BytesIO(data)).embedded_signatures)
    except Exception as exc:
        reason = str(exc).strip() or type(exc).__name__
        raise InvalidFile(
            file_name,
            [Problem(_("not a readable PDF (truncated or damaged): {reason}").format(
                reason=reason), file=file_name)],
        ) from exc


async def _check_all(sigs: list[Any], settings: ValidationSettings) -> list[CheckedSignature]:
    return [await check_signature(sig, settings) for sig in sigs]


def _refuse(
    file_name: str, problems: Sequence[SignatureProblem], reports: Sequence[SignatureReport]
) -> SignatureInvalid:
    hint = _("see docs/signed-slips.md for what each refusal means and how to mend it")
    return SignatureInvalid(file_name, problems, reports=reports, hint=hint)


def _file_problem(reason: str) -> SignatureProblem:
    return SignatureProblem(reasons=(reason,))


def _candidates(checked: Sequence[CheckedSignature]) -> list[CheckedSignature]:
    """The signatures that pass every check but the unit's pins."""
    return [c for c in checked if c.own_ok and not c.is_timestamp]


def _choose_unit(
    file_name: str,
    checked: Sequence[CheckedSignature],
    pins: Mapping[str, Sequence[SignerPin]],
    unit: str | None,
) -> str | None:
    """The unit the slip is for: the given one (it must have signers), or the one unit
    whose pins name a candidate's signer; None when no unit names any."""
    reports = [c.report for c in checked]
    if unit is not None:
        if not pins.get(unit):
            raise _refuse(file_name, [_file_problem(
                _("unit {unit} has no authorised signers in the configuration "
                  "([units.{unit}] signers)").format(unit=unit))], reports)
        return unit
    units = sorted({u for c in _candidates(checked) for u in units_of(c.report.signer, pins)})
    if len(units) > 1:
        problems = [r.problem() for r in reports if r.problems]
        problems.append(_file_problem(
            _("the signers are authorised for several units ({units}); name the unit the slip "
              "is for").format(units=", ".join(units))))
        raise _refuse(file_name, problems, reports)
    return units[0] if units else None


def _not_authorised(
    signer: SignerInfo | None, unit: str | None, pins: Mapping[str, Sequence[SignerPin]]
) -> str:
    who = signer.subject if signer else _("unknown")
    pin = signer.pin if signer else "?"
    if not unit:
        return _("signer {who} is not an authorised signer of any unit (its pin {pin} is in no "
                 "[units.CODE] signers)").format(who=who, pin=pin)
    others = units_of(signer, pins)
    if others:
        extra = _("authorised for: {units}").format(units=", ".join(others))
    else:
        extra = _("not named in any unit's signers; its pin is {pin}").format(pin=pin)
    return _("signer {who} is not an authorised signer of unit {unit} ({extra})").format(
        who=who, unit=unit, extra=extra)


def _apply_pins(
    checked: Sequence[CheckedSignature], pins: Mapping[str, Sequence[SignerPin]], unit: str | None
) -> tuple[list[SignatureReport], list[CheckedSignature]]:
    """(every report, a signer outside the unit's pins now saying so; the signatures
    that count)."""
    unit_pins = pins.get(unit, ()) if unit else ()
    final: list[SignatureReport] = []
    counting: list[CheckedSignature] = []
    for c in checked:
        report = c.report
        if c.own_ok and not c.is_timestamp:
            if report.signer is not None and any(p.matches(report.signer) for p in unit_pins):
                counting.append(c)
            else:
                why = _not_authorised(report.signer, unit, pins)
                report = replace(report, problems=(*report.problems, why))
        final.append(report)
    return final, counting


def verify_pdf_slip(
    data: bytes,
    *,
    file_name: str,
    trust_roots: Sequence[bytes],
    crls: Sequence[bytes] = (),
    revocation: str = "soft-fail",
    now: datetime,
    unit_signers: Mapping[str, Sequence[SignerPin | str]],
    unit: str | None = None,
) -> PdfSlipVerdict:
    """Decide whether a signed PDF slip counts (module docstring); raise when it does not.

    Raises UnsafeFile/InvalidFile (not a PDF, truncated, damaged), SignatureInvalid
    (no signature, or no signature that counts: its problems name every reason), or
    ConfigError (bad trust roots, CRLs or revocation mode). `now` is the time of
    import; a naive datetime is taken as UTC. Pins may be given as config text.
    """
    settings = ValidationSettings.prepare(trust_roots, crls, revocation, now)
    pins = parse_unit_pins(unit_signers)
    check_pdf(data, file_name)
    _quiet_library_logs()
    sigs = _embedded_signatures(data, file_name)
    if not sigs:
        raise _refuse(file_name, [_file_problem(
            _("has no digital signature; the slip must be signed by the unit's chief of office")
        )], ())
    checked: list[CheckedSignature] = _run(_check_all(sigs, settings))

    # 1. every embedded signature must be intact and valid
    broken = [c.report for c in checked if not (c.report.intact and c.report.valid)]
    if broken:
        raise _refuse(file_name, [r.problem() for r in broken], [c.report for c in checked])

    # 2. which unit, and which of its signers' signatures counts
    chosen_unit = _choose_unit(file_name, checked, pins, unit)
    final, counting = _apply_pins(checked, pins, chosen_unit)
    if not counting:
        problems = [r.problem() for r in final if r.problems]
        raise _refuse(file_name, problems or [_file_problem(_("no signature counts"))], final)

    # 3. the latest authorised signature counts: it covers the most
    best = max(counting, key=lambda c: c.range_end or 0)
    end = best.range_end
    if not end or end > len(data):
        raise _refuse(file_name, [best.report.problem(_("its ByteRange is damaged"))], final)
    report = best.report
    assert report.signer is not None and chosen_unit is not None
    return PdfSlipVerdict(
        file_name=file_name,
        signatures=tuple(final),
        signer=report.signer,
        unit_code=chosen_unit,
        signed_revision=bytes(data[:end]),
        identities=_identities(sigs, checked, data),
        signed_at=signing_time(report.signer.signing_time, report.timestamp, report.timestamp_by),
        filled_after_signing=report.modification_level == "FORM_FILLING",
    )


def _identities(
    sigs: Sequence[Any], checked: Sequence[CheckedSignature], data: bytes
) -> tuple[SignatureIdentity, ...]:
    """The identity of every signature of the file (not of document timestamps)."""
    out = []
    for sig, c in zip(sigs, checked, strict=True):
        if c.is_timestamp:
            continue
        value = bytes(sig.signer_info["signature"].native)
        out.append(signature_identity(c.report.field_name, data, sig.byte_range, value))
    return tuple(out)


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
