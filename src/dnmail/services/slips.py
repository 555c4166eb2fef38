"""Request slips → requests: `dnmail request import` (DESIGN §1 step 2, §2, §5).

A unit sends its request slip (Phụ lục II) as a PDF signed by its chief of office;
IID may also type one into the Excel template. Each file is taken whole or not at
all, in its own transaction:

1. The sha256 of its bytes: a file imported before is refused with the date and the
   requests of its first import (the unique `slips.sha256` holds that under races).
2. Reading, before any transaction opens (SQLite takes its write lock at BEGIN, and
   no lock should wait on a signature check):
   - a signed PDF counts only as `verify_pdf_slip` decides, at the time of import,
     with the configured trust roots, CRLs and the units' signer pins; the table is
     then read from the signed revision alone;
   - an Excel slip carries no signature: it is an IID-side convenience, its unit is
     the one named with `--unit`, its verdict "unsigned-xlsx".
3. Rows to staff (DESIGN §2 "From slip rows to staff"): a row matches the staff of
   the slip's unit by full name (`name_key`: NFC, case and spaces ignored); the
   department, then the phone, break ties. No match, or several, refuses the file
   with the row and the candidates: never a guess.
4. The requests are checked by the rules every request obeys (`check_requests`);
   each reason is given back to its row. Then the Slip, its requests
   (`create_requests` with `slip_id`) and one audit event are stored together.

Every reason a file is refused is collected, not only the first, with its file,
sheet or page, row and column.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dnmail.config import Config
from dnmail.db.models import Mailbox, Request, Slip, Staff, Unit
from dnmail.domain.addresses import validate_local_part
from dnmail.domain.states import RequestKind
from dnmail.domain.text import fold, name_key
from dnmail.errors import (
    BadInput,
    ConfigError,
    InvalidFile,
    InvalidName,
    Problem,
    Refused,
    SignatureInvalid,
)
from dnmail.services import audit
from dnmail.services.requests import NewRequest, check_requests, create_requests
from dnmail.services.units import get_unit

if TYPE_CHECKING:
    from dnmail.domain.slip import SlipContent, SlipRow
    from dnmail.services.runtime import Runtime
    from dnmail.slips.pdf import SignerInfo, SignerPin

ACCEPTED = "accepted"
REFUSED = "refused"
WOULD_ACCEPT = "would-accept"

#: Slip.verdict values.
VERDICT_UNSIGNED_XLSX = "unsigned-xlsx"  # an Excel slip: no signature to check
VERDICT_SIGNED = "signed"  # a configured CRL covers the signer and does not list it
VERDICT_SIGNED_NO_CRL = "signed-no-crl"  # valid and trusted; no configured CRL covers it

NAME_COLUMN = "Họ và tên"
DEPARTMENT_COLUMN = "Phòng ban/Đơn vị trực thuộc"
PHONE_COLUMN = "Số điện thoại"
ADDRESS_COLUMN = "Tên hộp thư đề nghị tạo mới/thay đổi/hủy bỏ"

#: Requests checked and created per call: bounds the IN lists of check_requests
#: (SQLite allows 32,766 parameters, PostgreSQL 65,535) for a slip of any size.
CHUNK = 5000
#: Up to this many distinct names, the unit's staff are looked up by name (index
#: (unit_code, name_key)); above it one scan of the unit is cheaper.
NAME_LOOKUP_MAX = 2000
#: Request ids listed in the refusal of a file imported before.
IDS_SHOWN = 20


# --- results -------------------------------------------------------------------------


@dataclass(frozen=True)
class SignerView:
    """The signer whose signature counts (PDF slips only)."""

    subject: str
    issuer: str
    serial: str  # hexadecimal, "0x…" (the form of an issuer+serial pin)
    fingerprint: str  # sha256 of the DER certificate, lowercase hex
    signing_time: datetime | None  # claimed by the signer: informational, never trusted

    @classmethod
    def of(cls, info: SignerInfo) -> SignerView:
        return cls(
            info.subject, info.issuer, f"{info.serial:#x}", info.fingerprint, info.signing_time
        )

    @property
    def pin(self) -> str:
        return "sha256:" + self.fingerprint

    def to_dict(self) -> dict:
        return {**self.__dict__, "pin": self.pin}


@dataclass(frozen=True)
class SlipRequest:
    """A request made from one row of a slip (id None in a dry run)."""

    id: int | None
    hr_id: str
    full_name: str
    requested_address: str | None
    row: int
    sheet: str | None = None
    page: int | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None or k == "id"}


@dataclass(frozen=True)
class SlipImport:
    """What became of one file."""

    file: str
    status: str  # accepted | refused | would-accept
    sha256: str | None = None
    format: str | None = None  # xlsx | pdf
    unit: str | None = None
    kind: str | None = None
    verdict: str | None = None
    signer: SignerView | None = None
    slip_id: int | None = None
    requests: tuple[SlipRequest, ...] = ()
    problems: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status != REFUSED

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "sha256": self.sha256,
            "status": self.status,
            "format": self.format,
            "unit": self.unit,
            "kind": self.kind,
            "verdict": self.verdict,
            "signer": self.signer.to_dict() if self.signer else None,
            "slip_id": self.slip_id,
            "requests": [r.to_dict() for r in self.requests],
            "problems": [p.as_dict() for p in self.problems],
            "warnings": [w.as_dict() for w in self.warnings],
        }


@dataclass(frozen=True)
class SlipImportBatch:
    files: tuple[SlipImport, ...]
    dry_run: bool = False

    @property
    def accepted(self) -> list[SlipImport]:
        return [f for f in self.files if f.ok]

    @property
    def refused(self) -> list[SlipImport]:
        return [f for f in self.files if not f.ok]

    @property
    def exit_code(self) -> int:
        """0 every file imported, 3 some refused and some imported, 2 none imported
        (DESIGN §4: a batch with some items failed; bad input)."""
        from dnmail.errors import ExitCode

        if not self.refused:
            return ExitCode.OK
        return ExitCode.PARTIAL if self.accepted else ExitCode.BAD_INPUT

    def to_dict(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "accepted": len(self.accepted),
            "refused": len(self.refused),
            "files": [f.to_dict() for f in self.files],
        }


class SlipRefused(Exception):
    """Internal: the file is refused for these reasons (turned into a SlipImport)."""

    def __init__(self, problems: Sequence[Problem], warnings: Sequence[Problem] = ()):
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = tuple(problems)
        self.warnings = tuple(warnings)


# --- trust material ------------------------------------------------------------------


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
    from dnmail.slips.pdf import SignerPin, load_certificates, load_crls

    sig = config.signatures
    if not sig.trust_roots:
        raise ConfigError(
            "[signatures] trust_roots is empty: a signed slip cannot be checked without the "
            "root certificates of the CA that issues the units' signing certificates "
            "(see docs/signed-slips.md)"
        )
    roots = load_certificates(config.resolve_path(p) for p in sig.trust_roots)
    crls = load_crls(config.resolve_path(p) for p in sig.crls)
    pins: dict[str, tuple[SignerPin, ...]] = {}
    for code, unit in config.units.items():
        try:
            pins[code] = tuple(SignerPin.parse(p) for p in unit.signers)
        except ConfigError as exc:
            raise ConfigError(f"[units.{code}] signers: {exc.message}") from None
    return TrustSettings(tuple(roots), tuple(crls), sig.revocation, pins)


# --- reading a file (no database) ----------------------------------------------------


@dataclass(frozen=True)
class ReadSlip:
    """A slip read and, for a PDF, verified: what the database steps need."""

    path: Path
    sha256: str
    content: SlipContent
    unit: str | None
    verdict: str
    signer: SignerView | None = None


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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


def read_slip(
    path: Path,
    *,
    config: Config,
    unit: str | None,
    now: datetime,
    trust: TrustSettings | None,
) -> ReadSlip:
    """Read (and for a PDF, verify) one slip file; SlipRefused with every reason.

    `now` is the time of import: a signature is validated then, never at the signing
    time the signer claims.
    """
    name = path.name
    limit = config.limits.max_uncompressed_mb * 1024 * 1024
    try:
        if path.is_dir():
            raise SlipRefused([Problem("is a directory, not a slip file", file=name)])
        fmt = slip_format(path)
    except OSError as exc:
        raise SlipRefused(
            [Problem(f"cannot read the file: {exc.strerror or exc}", file=name)]
        ) from None
    if fmt is None:
        raise SlipRefused(
            [Problem("a slip must be an Excel workbook (.xlsx) or a signed PDF (.pdf)", file=name)]
        )
    try:
        if fmt == "xlsx":
            return _read_excel(path, unit=unit, max_uncompressed=limit)
        return _read_pdf(path, unit=unit, now=now, trust=trust, max_bytes=limit)
    except SignatureInvalid as exc:
        raise SlipRefused(_signature_problems(name, exc)) from None
    except InvalidFile as exc:
        raise SlipRefused(exc.problems or [Problem(exc.message, file=name)]) from None
    except OSError as exc:
        raise SlipRefused(
            [Problem(f"cannot read the file: {exc.strerror or exc}", file=name)]
        ) from None


def _read_excel(path: Path, *, unit: str | None, max_uncompressed: int) -> ReadSlip:
    from dnmail.readers.excel_slip import read_excel_slip

    if unit is None:
        raise SlipRefused(
            [
                Problem(
                    "an Excel slip carries no signature, so it names no unit: give the unit with "
                    "--unit CODE",
                    file=path.name,
                )
            ]
        )
    digest = sha256_of(path)
    content = read_excel_slip(path, max_uncompressed=max_uncompressed)
    return ReadSlip(path, digest, content, unit, VERDICT_UNSIGNED_XLSX)


def _read_pdf(
    path: Path, *, unit: str | None, now: datetime, trust: TrustSettings | None, max_bytes: int
) -> ReadSlip:
    from dnmail.slips.pdf import read_pdf_slip, verify_pdf_slip

    if trust is None:  # pragma: no cover - import_slips loads it whenever a PDF may come
        raise ConfigError("signature settings were not loaded")
    name = path.name
    size = path.stat().st_size
    if size > max_bytes:
        raise SlipRefused(
            [
                Problem(
                    f"the PDF is {size / 1024**2:,.0f} MiB, more than limits.max_uncompressed_mb "
                    f"({max_bytes // 1024**2} MiB); a slip is a few pages",
                    file=name,
                )
            ]
        )
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
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
    counting = [
        r
        for r in verdict.signatures
        if r.ok and r.signer and r.signer.fingerprint == verdict.signer.fingerprint
    ]
    checked = any(r.revoked is False for r in counting)
    return ReadSlip(
        path,
        digest,
        content,
        verdict.unit_code,
        VERDICT_SIGNED if checked else VERDICT_SIGNED_NO_CRL,
        SignerView.of(verdict.signer),
    )


def _signature_problems(name: str, exc: SignatureInvalid) -> list[Problem]:
    """One Problem per reason of a SignatureInvalid ("FILE: reason" or a list)."""
    text = exc.message
    if text.startswith(f"{name}: "):
        text = text[len(name) + 2 :]
    lines = [line[4:] for line in text.splitlines()[1:] if line.startswith("  - ")]
    if not lines:
        lines = [text]
    return [Problem(line, file=name) for line in lines]


# --- rows to staff -------------------------------------------------------------------


@dataclass(frozen=True)
class StaffCandidate:
    hr_id: str
    full_name: str
    department: str
    phone: str
    hr_status: str

    def describe(self) -> str:
        return f"{self.hr_id} ({self.department or 'no department'}, {self.phone or 'no phone'})"


def unit_staff_by_name(
    session: Session, unit: str, names: Iterable[str]
) -> dict[str, list[StaffCandidate]]:
    """The unit's staff with these names (name_key), by key: one indexed query per
    900 names, or a single scan of the unit for a long slip (never one per row)."""
    keys = sorted(set(names))
    cols = (
        Staff.hr_id,
        Staff.full_name,
        Staff.name_key,
        Staff.department,
        Staff.phone,
        Staff.hr_status,
    )
    found: dict[str, list[StaffCandidate]] = {}
    if len(keys) > NAME_LOOKUP_MAX:
        queries = [select(*cols).where(Staff.unit_code == unit)]
    else:
        queries = [
            select(*cols).where(Staff.unit_code == unit, Staff.name_key.in_(keys[i : i + 900]))
            for i in range(0, len(keys), 900)
        ]
    wanted = set(keys)
    for query in queries:
        for hr_id, full_name, key, department, phone, status in session.execute(
            query.order_by(Staff.hr_id)
        ):
            if key in wanted:
                found.setdefault(key, []).append(
                    StaffCandidate(hr_id, full_name, department or "", phone or "", status)
                )
    return found


def _at(row: SlipRow, file_name: str, column: str | None) -> dict:
    return {
        "file": file_name,
        "sheet": row.sheet,
        "page": row.page,
        "row": row.row,
        "column": column,
    }


def match_rows(
    rows: Sequence[SlipRow],
    staff: Mapping[str, Sequence[StaffCandidate]],
    *,
    unit: str,
    file_name: str,
    keys: Sequence[str] | None = None,
) -> tuple[list[tuple[SlipRow, StaffCandidate]], list[Problem], list[Problem]]:
    """Each row to exactly one staff member: (matches, problems, warnings).

    The name decides; among several people of that name the department, then the
    phone, must leave exactly one. A department or phone that differs from the HR
    record of the one person named is only a warning (the slip may be out of date).
    `keys`: the rows' name_key, when the caller has them already.
    """
    matches: list[tuple[SlipRow, StaffCandidate]] = []
    problems: list[Problem] = []
    warnings: list[Problem] = []
    first_row_of: dict[str, SlipRow] = {}
    fold_ = _memo(fold)  # a slip names a handful of departments, thousands of times
    if keys is None:
        keys = [name_key(r.full_name) for r in rows]
    for row, key in zip(rows, keys, strict=True):
        candidates = list(staff.get(key, ()))
        if not candidates:
            problems.append(
                Problem(
                    f"nobody named {row.full_name!r} among the staff of unit {unit} (check the "
                    "spelling and the accents, or import the HR roster first)",
                    **_at(row, file_name, NAME_COLUMN),
                )
            )
            continue
        chosen = _break_tie(row, candidates, fold_)
        if chosen is None:
            listed = "; ".join(c.describe() for c in candidates)
            given = []
            if row.department:
                given.append(f"department {row.department!r}")
            if row.phone:
                given.append(f"phone {row.phone}")
            said = (
                (
                    f"the {' and '.join(given)} on the slip do{'es' if len(given) == 1 else ''}"
                    " not single out one of them"
                )
                if given
                else "the slip gives no department or phone"
            )
            problems.append(
                Problem(
                    f"{len(candidates)} staff of unit {unit} are named {row.full_name!r}: {listed}; "
                    f"{said}. Write the person's department (and phone) as in the HR record",
                    **_at(row, file_name, NAME_COLUMN),
                )
            )
            continue
        earlier = first_row_of.get(chosen.hr_id)
        if earlier is not None:
            problems.append(
                Problem(
                    f"{chosen.full_name} ({chosen.hr_id}) is listed twice: "
                    f"{_row_name(earlier)} and {_row_name(row)}; keep one row",
                    **_at(row, file_name, NAME_COLUMN),
                )
            )
            continue
        first_row_of[chosen.hr_id] = row
        if len(candidates) == 1:
            if row.department and fold_(row.department) != fold_(chosen.department):
                warnings.append(
                    Problem(
                        f"{chosen.full_name} ({chosen.hr_id}): department {row.department!r} on "
                        f"the slip, {chosen.department or 'none'!r} in the HR record",
                        **_at(row, file_name, DEPARTMENT_COLUMN),
                    )
                )
            if row.phone and chosen.phone and row.phone != chosen.phone:
                warnings.append(
                    Problem(
                        f"{chosen.full_name} ({chosen.hr_id}): phone {row.phone} on the slip, "
                        f"{chosen.phone} in the HR record",
                        **_at(row, file_name, PHONE_COLUMN),
                    )
                )
        matches.append((row, chosen))
    return matches, problems, warnings


def _break_tie(
    row: SlipRow, candidates: list[StaffCandidate], fold_: Callable[[str], str] = fold
) -> StaffCandidate | None:
    if len(candidates) == 1:
        return candidates[0]
    if row.department:
        wanted = fold_(row.department)
        candidates = [c for c in candidates if fold_(c.department) == wanted]
    if len(candidates) > 1 and row.phone:
        candidates = [c for c in candidates if c.phone == row.phone]
    return candidates[0] if len(candidates) == 1 else None


def _memo(func: Callable[[str], str]) -> Callable[[str], str]:
    cache: dict[str, str] = {}

    def cached(text: str) -> str:
        value = cache.get(text)
        if value is None:
            value = cache[text] = func(text)
        return value

    return cached


def _row_name(row: SlipRow) -> str:
    return f"page {row.page} row {row.row}" if row.page is not None else f"row {row.row}"


# --- the requests --------------------------------------------------------------------


def _requested_local(text: str, domain: str) -> str | None:
    """The requested address as a local part, or None when it is not valid (the
    request check then says why)."""
    try:
        return validate_local_part(text, domain=domain)
    except InvalidName:
        return None


def plan_requests(
    session: Session,
    *,
    config: Config,
    unit: Unit,
    kind: RequestKind,
    matches: Sequence[tuple[SlipRow, StaffCandidate]],
    file_name: str,
) -> tuple[list[tuple[SlipRow, StaffCandidate, NewRequest]], list[Problem]]:
    """The request each matched row asks for, checked by the rules of every request
    (check_requests); its reasons are given back to their rows."""
    domain = config.directory.mail_domain
    planned: list[tuple[SlipRow, StaffCandidate, NewRequest]] = []
    problems: list[Problem] = []
    if kind == RequestKind.CREATE:
        # The same requested address on two rows: the second is refused here, since
        # check_requests sees one chunk at a time.
        asked: dict[str, SlipRow] = {}
        for row, person in matches:
            local = (
                _requested_local(row.requested_address, domain) if row.requested_address else None
            )
            if local is not None and local in asked:
                problems.append(
                    Problem(
                        f"requested address {local}@{domain} is also asked for on "
                        f"{_row_name(asked[local])}",
                        **_at(row, file_name, ADDRESS_COLUMN),
                    )
                )
                continue
            if local is not None:
                asked[local] = row
            planned.append(
                (row, person, NewRequest(person.hr_id, kind, row.requested_address or None))
            )
    else:
        # For a change or a cancel the column names the person's mailbox: it must be
        # theirs, or the slip means someone else.
        mailboxes = _mailboxes_of(session, [p.hr_id for _, p in matches])
        for row, person in matches:
            if row.requested_address:
                local = _requested_local(row.requested_address, domain)
                own = mailboxes.get(person.hr_id)
                if own is not None and local != own:
                    problems.append(
                        Problem(
                            f"{person.full_name} ({person.hr_id}): the slip names the mailbox "
                            f"{row.requested_address!r}, but this person's mailbox is "
                            f"{own}@{domain}",
                            **_at(row, file_name, ADDRESS_COLUMN),
                        )
                    )
                    continue
            planned.append((row, person, NewRequest(person.hr_id, kind)))

    checked: list[tuple[SlipRow, StaffCandidate, NewRequest]] = []
    for start in range(0, len(planned), CHUNK):
        chunk = planned[start : start + CHUNK]
        ok, reasons = check_requests(
            session, config=config, unit=unit, items=[item for _, _, item in chunk]
        )
        passed = {item.hr_id: item for item, _s in ok}  # the address as a local part
        failed = [entry for entry in chunk if entry[2].hr_id not in passed]
        if len(failed) != len(reasons):  # pragma: no cover - check_requests gives one each
            problems += [Problem(reason, file=file_name) for reason in reasons]
            continue
        for (row, _person, _item), reason in zip(failed, reasons, strict=True):
            column = ADDRESS_COLUMN if "requested address" in reason else NAME_COLUMN
            problems.append(Problem(reason, **_at(row, file_name, column)))
        checked += [(row, p, passed[item.hr_id]) for row, p, item in chunk if item.hr_id in passed]
    return checked, problems


def _mailboxes_of(session: Session, hr_ids: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in range(0, len(hr_ids), 900):
        query = select(Mailbox.staff_hr_id, Mailbox.address).where(
            Mailbox.staff_hr_id.in_(hr_ids[i : i + 900])
        )
        out.update((hr_id, address) for hr_id, address in session.execute(query))
    return out


# --- one file ------------------------------------------------------------------------


@dataclass
class _Seen:
    """The sha256 of each file of the run, and why each already known one is refused:
    imported before (the database), or given earlier in this run."""

    digests: dict[Path, str] = field(default_factory=dict)
    known: dict[str, str] = field(default_factory=dict)


def _first_import(session: Session, digest: str) -> str | None:
    """Why a file with this sha256 cannot be imported again, or None."""
    slip = session.scalar(select(Slip).where(Slip.sha256 == digest))
    if slip is None:
        return None
    ids = list(
        session.scalars(select(Request.id).where(Request.slip_id == slip.id).order_by(Request.id))
    )
    return _already(slip.id, slip.imported_at, slip.imported_by, slip.file_name, ids)


def _already(slip_id: int, at: datetime, by: str, name: str, ids: Sequence[int]) -> str:
    shown = ", ".join(f"#{i}" for i in ids[:IDS_SHOWN])
    if len(ids) > IDS_SHOWN:
        shown += f" … ({len(ids)} in all)"
    return (
        f"this file was already imported on {at:%Y-%m-%d %H:%M} UTC by {by} "
        f"(as {name!r}, slip #{slip_id}, requests {shown or 'none'}); "
        "a slip is never imported twice"
    )


def store_slip(
    session: Session,
    read: ReadSlip,
    *,
    config: Config,
    kind: RequestKind | None,
    actor: str,
    now: datetime,
    dry_run: bool = False,
) -> SlipImport:
    """Turn a read slip into requests inside the caller's transaction.

    Raises SlipRefused with every reason (the caller rolls back); stores nothing in a
    dry run.
    """
    content = read.content
    name = read.path.name
    warnings = list(content.warnings)

    duplicate = _first_import(session, read.sha256)
    if duplicate:
        raise SlipRefused([Problem(duplicate, file=name)])
    try:
        unit = get_unit(session, read.unit or "")
    except BadInput as exc:  # NotFound, or a [units.X] code that is no unit code
        raise SlipRefused([Problem(exc.message, file=name)]) from None
    if (
        content.unit_name
        and fold(unit.name) not in fold(content.unit_name)
        and fold(content.unit_name) not in fold(unit.name)
    ):
        warnings.append(
            Problem(
                f"'Tên cơ quan' on the slip is {content.unit_name!r}; the slip is imported for "
                f"unit {unit.code} ({unit.name})",
                file=name,
            )
        )

    chosen = kind or content.kind
    if chosen is None:
        raise SlipRefused(
            [
                Problem(
                    f"'Nội dung yêu cầu' {content.content[:80]!r} names no single kind of request "
                    "(cấp mới / thay đổi / hủy bỏ): write one on the slip, or give --kind",
                    file=name,
                )
            ]
        )
    if kind is not None and content.kind is not None and kind != content.kind:
        warnings.append(
            Problem(
                f"the slip asks for {content.kind.label_vi} ({content.kind.value}); "
                f"--kind {kind.value} overrides it",
                file=name,
            )
        )
    limit = config.limits.max_rows
    if len(content.rows) > limit:
        raise SlipRefused(
            [
                Problem(
                    f"the slip has {len(content.rows):,} rows, more than limits.max_rows ({limit:,})",
                    file=name,
                )
            ]
        )

    keys = [name_key(r.full_name) for r in content.rows]
    staff = unit_staff_by_name(session, unit.code, keys)
    matches, problems, match_warnings = match_rows(
        content.rows, staff, unit=unit.code, file_name=name, keys=keys
    )
    warnings += match_warnings
    planned, check_problems = plan_requests(
        session, config=config, unit=unit, kind=chosen, matches=matches, file_name=name
    )
    problems += check_problems
    if problems:
        raise SlipRefused(sorted(problems, key=_problem_order), warnings)

    base = SlipImport(
        file=str(read.path),
        status=WOULD_ACCEPT,
        sha256=read.sha256,
        format=content.format,
        unit=unit.code,
        kind=chosen.value,
        verdict=read.verdict,
        signer=read.signer,
        warnings=tuple(warnings),
    )
    if dry_run:
        return replace(
            base,
            requests=tuple(
                SlipRequest(
                    None, p.hr_id, p.full_name, item.requested_address, row.row, row.sheet, row.page
                )
                for row, p, item in planned
            ),
        )

    slip = Slip(
        sha256=read.sha256,
        file_name=name[:512],
        format=content.format,
        unit_code=unit.code,
        verdict=read.verdict,
        signer_subject=read.signer.subject if read.signer else None,
        signer_issuer=read.signer.issuer if read.signer else None,
        signer_serial=read.signer.serial[:80] if read.signer else None,
        signer_fingerprint=read.signer.fingerprint if read.signer else None,
        signed_at=read.signer.signing_time if read.signer else None,
        requester_name=content.requester_name[:255],
        requester_position=content.requester_position[:255],
        requester_phone=content.requester_phone[:32],
        content=content.content,
        imported_at=now,
        imported_by=actor,
    )
    session.add(slip)
    try:
        session.flush()
    except IntegrityError:  # imported at this very moment by another run
        raise SlipRefused(
            [
                Problem(
                    "this file was imported at the same moment by another run; a slip is never "
                    "imported twice (see `dnmail queue list`)",
                    file=name,
                )
            ]
        ) from None
    created = []
    try:
        for start in range(0, len(planned), CHUNK):
            chunk = planned[start : start + CHUNK]
            views = create_requests(
                session,
                config=config,
                unit=unit.code,
                items=[item for _, _, item in chunk],
                actor=actor,
                now=now,
                slip_id=slip.id,
            )
            created += [
                SlipRequest(
                    v.id, v.hr_id, v.full_name, v.requested_address, row.row, row.sheet, row.page
                )
                for v, (row, _p, _i) in zip(views, chunk, strict=True)
            ]
    except Refused as exc:  # the queue changed since the check (another admin, cron)
        raise SlipRefused([Problem(exc.message, file=name)]) from None
    audit.record(
        session,
        actor=actor,
        action="slip.import",
        target=f"slip:{slip.id}",
        at=now,
        details={
            "file": name,
            "sha256": read.sha256,
            "format": content.format,
            "unit": unit.code,
            "kind": chosen.value,
            "verdict": read.verdict,
            "signer": read.signer.subject if read.signer else None,
            "signer_fingerprint": read.signer.fingerprint if read.signer else None,
            "request_ids": [r.id for r in created],
        },
    )
    return replace(base, status=ACCEPTED, slip_id=slip.id, requests=tuple(created))


def _problem_order(p: Problem) -> tuple:
    return (p.sheet or "", p.page or 0, p.row or 0, p.column or "")


# --- a batch of files ----------------------------------------------------------------


def import_slips(
    rt: Runtime,
    paths: Iterable[Path],
    *,
    unit: str | None = None,
    kind: RequestKind | None = None,
    dry_run: bool = False,
    progress: Callable[[SlipImport], None] | None = None,
) -> SlipImportBatch:
    """Import slip files (.xlsx, signed .pdf), each whole or not at all, each in its
    own transaction. A refused file is reported with every reason and does not stop
    the others. Raises only for the run as a whole: an unknown --unit, a bad
    `[signatures]` configuration (before any file is touched), an unreachable database.
    """
    paths = [Path(p) for p in paths]
    if unit is not None:
        with rt.session(readonly=True) as s:
            unit = get_unit(s, unit).code
    trust = load_trust(rt.config) if any(_may_be_pdf(p) for p in paths) else None
    seen = _known_slips(rt, paths)
    results: list[SlipImport] = []
    for path in paths:
        result = _import_one(
            rt, path, unit=unit, kind=kind, trust=trust, dry_run=dry_run, seen=seen
        )
        results.append(result)
        if progress is not None:
            progress(result)
    return SlipImportBatch(tuple(results), dry_run)


def _may_be_pdf(path: Path) -> bool:
    return path.suffix.lower() not in (".xlsx", ".xls")


def _known_slips(rt: Runtime, paths: Sequence[Path]) -> _Seen:
    """The files of this run already imported, found in one query before any is read
    again (re-running a folder of slips costs a hash per file, not a verification)."""
    seen = _Seen()
    for path in paths:
        try:
            if path.is_file():
                seen.digests[path] = sha256_of(path)
        except OSError:
            continue  # reported when the file is read
    keys = sorted(set(seen.digests.values()))
    if not keys:
        return seen
    with rt.session(readonly=True) as s:
        for i in range(0, len(keys), 900):
            for slip in s.scalars(select(Slip).where(Slip.sha256.in_(keys[i : i + 900]))):
                ids = list(
                    s.scalars(
                        select(Request.id).where(Request.slip_id == slip.id).order_by(Request.id)
                    )
                )
                seen.known[slip.sha256] = _already(
                    slip.id, slip.imported_at, slip.imported_by, slip.file_name, ids
                )
    return seen


def _import_one(
    rt: Runtime,
    path: Path,
    *,
    unit: str | None,
    kind: RequestKind | None,
    trust: TrustSettings | None,
    dry_run: bool,
    seen: _Seen,
) -> SlipImport:
    name = path.name
    digest = seen.digests.get(path)
    refused = SlipImport(
        file=str(path), status=REFUSED, sha256=digest, unit=unit, kind=kind.value if kind else None
    )
    if digest is not None and digest in seen.known:
        return replace(refused, problems=(Problem(seen.known[digest], file=name),))
    now = rt.now()
    try:
        read = read_slip(path, config=rt.config, unit=unit, now=now, trust=trust)
    except SlipRefused as exc:
        return replace(refused, problems=exc.problems)
    digest = read.sha256
    slip_kind = kind or read.content.kind
    refused = replace(
        refused,
        sha256=digest,
        format=read.content.format,
        unit=read.unit,
        kind=slip_kind.value if slip_kind else None,
        verdict=read.verdict,
        signer=read.signer,
    )
    try:
        with rt.session(readonly=dry_run) as s:
            result = store_slip(
                s, read, config=rt.config, kind=kind, actor=rt.actor, now=now, dry_run=dry_run
            )
    except SlipRefused as exc:
        return replace(
            refused, problems=exc.problems, warnings=exc.warnings or read.content.warnings
        )
    if digest:
        if dry_run:
            why = (
                f"the same file as {str(path)!r}, given earlier in this run "
                "(a slip is never imported twice)"
            )
        else:
            why = _already(
                result.slip_id or 0,
                now,
                rt.actor,
                name,
                [r.id for r in result.requests if r.id is not None],
            )
        seen.known[digest] = why
    return result
