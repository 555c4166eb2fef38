"""One request slip file read, with no database: its format sniffed, a signed PDF
verified at the time of import, its content read.

- a signed PDF counts only as `verify_pdf_slip` decides, with the configured trust
  roots, CRLs and the units' signer pins; the table is then read from the signed
  revision alone;
- an Excel slip carries no signature: it is an IID-side convenience, its unit is the
  one named with `--unit`, its verdict "unsigned-xlsx".

Both are read in a child process bounded by `[limits]` (readers/sandbox.py): a file
whose reading needs more memory or time than that is refused, naming the limit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from dnmail.errors import ConfigError, InvalidFile, Problem
from dnmail.i18n import _
from dnmail.readers.safety import sha256_file
from dnmail.readers.sandbox import Limits, run_bounded

if TYPE_CHECKING:
    from dnmail.config import Config
    from dnmail.domain.slip import SlipContent
    from dnmail.signatures.certs import SignerInfo
    from dnmail.signatures.freshness import SignatureIdentity, SigningTime
    from dnmail.signatures.trust import TrustSettings
    from dnmail.signatures.verify import PdfSlipVerdict

#: Slip.verdict values.
VERDICT_UNSIGNED_XLSX = "unsigned-xlsx"  # an Excel slip: no signature to check
VERDICT_SIGNED = "signed"  # a configured CRL covers the signer and does not list it
VERDICT_SIGNED_NO_CRL = "signed-no-crl"  # valid and trusted; no configured CRL covers it


@dataclass(frozen=True)
class ReadSlip:
    """A slip read and, for a PDF, verified: what the database steps need."""

    path: Path
    sha256: str
    content: SlipContent
    unit: str | None
    verdict: str
    signer: SignerInfo | None = None  # the signer whose signature counts (PDF slips)
    #: What identifies a signed slip whatever was appended: each signature's signed
    #: byte ranges and value (signatures/freshness.py). Empty for an Excel slip.
    identities: tuple[SignatureIdentity, ...] = ()
    signed_at: SigningTime | None = None  # when the counting signature was made
    warnings: tuple[Problem, ...] = ()  # about the file, beside the content's own


def _refused(name: str, message: str) -> InvalidFile:
    return InvalidFile(name, [Problem(message, file=name)])


def slip_format(path: Path) -> str | None:
    """'pdf' or 'xlsx' by the name, else by the first bytes; None when neither."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return "pdf"
    if suffix in (".xlsx", ".xls"):
        return "xlsx"  # the Excel reader refuses .xls with the way to mend it
    with path.open("rb") as handle:
        head = handle.read(1024)
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith(b"PK"):
        return "xlsx"
    return None


def may_be_pdf(path: Path) -> bool:
    """Could this file need the signature settings (anything not named as Excel)?"""
    return path.suffix.lower() not in (".xlsx", ".xls")


def read_slip(
    path: Path,
    *,
    config: Config,
    unit: str | None,
    now: datetime,
    trust: TrustSettings | None,
    encoding: str | None = None,
) -> ReadSlip:
    """Read (and for a PDF, verify) one slip file. `encoding`: the --encoding override
    of an Excel slip's TCVN3/VNI detection (readers/legacy.py).

    Raises InvalidFile (UnsafeFile) or SignatureInvalid, each with every problem
    found. `now` is the time of import: a signature is validated then, never at the
    signing time the signer claims.
    """
    name = path.name
    limit = config.limits.max_uncompressed_mb * 1024 * 1024
    bounds = Limits.of(config.limits)
    try:
        if path.is_dir():
            raise _refused(name, _("is a directory, not a slip file"))
        fmt = slip_format(path)
        if fmt is None:
            raise _refused(
                name, _("a slip must be an Excel workbook (.xlsx) or a signed PDF (.pdf)")
            )
        if fmt == "xlsx":
            return _read_excel(path, unit=unit, max_uncompressed=limit, bounds=bounds,
                               encoding=encoding)
        return _read_pdf(path, unit=unit, now=now, trust=trust, max_bytes=limit, bounds=bounds,
                         max_age_days=config.signatures.max_age_days)
    except OSError as exc:
        raise _refused(
            name, _("cannot read the file: {error}").format(error=exc.strerror or exc)
        ) from None


def _read_excel(path: Path, *, unit: str | None, max_uncompressed: int,
                bounds: Limits, encoding: str | None = None) -> ReadSlip:
    from dnmail.readers.excel_slip import read_excel_slip

    if unit is None:
        raise _refused(
            path.name,
            _("an Excel slip carries no signature, so it names no unit: give the unit with "
              "--unit CODE"),
        )
    digest = sha256_file(path)
    _load_before_fork("xlsx")
    content = run_bounded(read_excel_slip, (path,),
                          {"max_uncompressed": max_uncompressed, "encoding": encoding},
                          file_name=path.name, limits=bounds)
    return ReadSlip(path, digest, content, unit, VERDICT_UNSIGNED_XLSX)


def _read_pdf(
    path: Path, *, unit: str | None, now: datetime, trust: TrustSettings | None, max_bytes: int,
    bounds: Limits, max_age_days: int,
) -> ReadSlip:
    if trust is None:  # pragma: no cover - import_slips loads it whenever a PDF may come
        raise ConfigError(_("signature settings were not loaded"))
    name = path.name
    size = path.stat().st_size
    if size > max_bytes:
        raise _refused(
            name,
            _("the PDF is {size} MiB, more than limits.max_uncompressed_mb ({limit} MiB); "
              "a slip is a few pages").format(
                size=f"{size / 1024**2:,.0f}", limit=max_bytes // 1024**2),
        )
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()  # the bytes verified, not a second read
    _load_before_fork("pdf")
    verdict, content = run_bounded(_verify_and_read, (data, name, trust, now, unit),
                                   file_name=name, limits=bounds)
    counting = [
        r
        for r in verdict.signatures
        if r.ok and r.signer and r.signer.fingerprint == verdict.signer.fingerprint
    ]
    checked = any(r.revoked is False for r in counting)
    _refuse_stale(name, verdict, now, max_age_days)
    warnings: tuple[Problem, ...] = ()
    if verdict.filled_after_signing:
        warnings = (Problem(
            _("form fields were filled in after the slip was signed (the signature allows it): "
              "what a viewer shows there is not part of the signed slip and was not imported"),
            file=name),)
    return ReadSlip(
        path,
        digest,
        content,
        verdict.unit_code,
        VERDICT_SIGNED if checked else VERDICT_SIGNED_NO_CRL,
        verdict.signer,
        verdict.identities,
        verdict.signed_at,
        warnings,
    )


def _refuse_stale(name: str, verdict: PdfSlipVerdict, now: datetime, max_age_days: int) -> None:
    """A slip is not used forever (issue 12 §2): SignatureInvalid when the counting
    signature is older than `[signatures] max_age_days` (signatures/freshness.py)."""
    from dnmail.errors import SignatureInvalid, SignatureProblem
    from dnmail.signatures.freshness import age_problem

    why = age_problem(verdict.signed_at, now, max_age_days)
    if why is None:
        return
    counting = next((r for r in verdict.signatures
                     if r.ok and r.signer and r.signer.fingerprint == verdict.signer.fingerprint),
                    None)
    raise SignatureInvalid(name, [SignatureProblem(
        (why,), field_name=counting.field_name if counting else None,
        signer=verdict.signer.subject)],
        hint=_("a signed slip counts for signatures.max_age_days after it was signed"))


def _verify_and_read(data: bytes, name: str, trust: TrustSettings, now: datetime,
                     unit: str | None) -> tuple[PdfSlipVerdict, SlipContent]:
    """In the bounded child: verify the signatures, then read the signed revision."""
    from dataclasses import replace

    from dnmail.readers.pdf_table import read_pdf_slip
    from dnmail.signatures.verify import verify_pdf_slip

    verdict = verify_pdf_slip(
        data,
        file_name=name,
        trust_roots=trust.trust_roots,
        crls=trust.crls,
        revocation=trust.revocation,
        now=now,
        unit_signers=trust.unit_signers,
        unit=unit,
    )
    content = read_pdf_slip(verdict.signed_revision, file_name=name)
    return replace(verdict, signed_revision=b""), content  # no need to send it back


#: What the bounded child needs to read each kind of slip. Imported once in the parent,
#: before the first fork, every child inherits it: imported in each child instead, the
#: libraries cost more than the reading (0.47 s a PDF slip instead of 0.15 s, measured
#: with bench/bench_slips.py), for every file of a batch.
_READER_MODULES = {
    "pdf": ("dnmail.readers.pdf_table", "dnmail.readers.pdf_visibility",
            "dnmail.signatures.verify", "pdfplumber", "pyhanko.sign.validation",
            "pyhanko_certvalidator"),
    "xlsx": ("dnmail.readers.excel_slip", "openpyxl"),
}


def _load_before_fork(kind: str) -> None:
    import importlib

    for module in _READER_MODULES[kind]:
        importlib.import_module(module)
