"""Request slips → requests: `dnmail request import` (DESIGN §1 step 2, §2, §5).

A unit sends its request slip (Phụ lục II) as a PDF signed by its chief of office;
IID may also type one into the Excel template. Each file is taken whole or not at
all, in its own transaction:

1. The sha256 of its bytes: a file imported before is refused with the date and the
   requests of its first import (the unique `slips.sha256` holds that under races).
2. Reading (readers/slip.py), before any transaction opens (SQLite takes its write
   lock at BEGIN, and no lock should wait on a signature check): a signed PDF counts
   only as dnmail.signatures decides, at the time of import; an Excel slip names its
   unit with `--unit`.
3. Rows to staff (domain/matching.py): the unit's staff with the slip's names are
   looked up here and matched by the pure rule; no match, or several, refuses the
   file with the row and the candidates: never a guess.
4. The requests are checked by the rules every request obeys (`check_requests`);
   each reason is given back to its row. Then the Slip, its requests
   (`create_requests` with `slip_id`) and one audit event are stored together.

Every reason a file is refused is collected, not only the first, with its file,
sheet or page, row and column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dnmail.config import Config
from dnmail.db import queries
from dnmail.db.models import Mailbox, Request, Slip, SlipSignature, Staff, Unit
from dnmail.domain.addresses import validate_local_part
from dnmail.domain.matching import (
    ADDRESS_COLUMN,
    NAME_COLUMN,
    Match,
    StaffCandidate,
    match_rows,
    row_name,
    row_problem,
)
from dnmail.domain.results import omitted_if_none
from dnmail.domain.states import RequestKind, SlipOutcome
from dnmail.domain.text import fold, name_key
from dnmail.errors import (
    BadInput,
    InvalidFile,
    InvalidName,
    Problem,
    Refused,
    SignatureInvalid,
)
from dnmail.i18n import _
from dnmail.readers.safety import sha256_file
from dnmail.readers.slip import ReadSlip, may_be_pdf, read_slip
from dnmail.services import audit
from dnmail.services.requests import NewRequest, check_requests, create_requests
from dnmail.services.units import get_unit
from dnmail.signatures.trust import TrustSettings, load_trust

if TYPE_CHECKING:
    from dnmail.domain.slip import SlipContent, SlipRow
    from dnmail.services.runtime import Runtime
    from dnmail.signatures.certs import SignerInfo

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

    def json_extra(self) -> dict[str, object]:
        return {"pin": self.pin}


@dataclass(frozen=True)
class SlipRequest:
    """A request made from one row of a slip (id None in a dry run)."""

    id: int | None
    hr_id: str
    full_name: str
    requested_address: str | None = omitted_if_none()
    row: int = 0
    sheet: str | None = omitted_if_none()
    page: int | None = omitted_if_none()


@dataclass(frozen=True)
class SlipImport:
    """What became of one file."""

    file: str
    status: SlipOutcome
    sha256: str | None = None
    format: str | None = None  # xlsx | pdf
    unit: str | None = None
    kind: RequestKind | None = None
    verdict: str | None = None
    signer: SignerView | None = None
    slip_id: int | None = None
    requests: tuple[SlipRequest, ...] = ()
    problems: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status is not SlipOutcome.REFUSED


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

    def json_extra(self) -> dict[str, object]:
        return {"accepted": len(self.accepted), "refused": len(self.refused)}


class SlipRefused(Exception):
    """Internal: the file is refused for these reasons (turned into a SlipImport)."""

    def __init__(self, problems: Sequence[Problem], warnings: Sequence[Problem] = ()):
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = tuple(problems)
        self.warnings = tuple(warnings)


# --- the unit's staff by name --------------------------------------------------------


def unit_staff_by_name(
    session: Session, unit: str, names: Iterable[str]
) -> dict[str, list[StaffCandidate]]:
    """The unit's staff with these names (name_key), by key: one indexed query per
    IN list (db.queries.MAX_IN names), or a single scan of the unit for a long slip
    (never one per row)."""
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
    query = select(*cols).where(Staff.unit_code == unit).order_by(Staff.hr_id)
    rows: Iterable[Any]
    if len(keys) > NAME_LOOKUP_MAX:
        rows = session.execute(query)
    else:
        rows = queries.rows_where_in(session, query, Staff.name_key, keys)
    wanted = set(keys)
    for hr_id, full_name, key, department, phone, status in rows:
        if key in wanted:
            found.setdefault(key, []).append(
                StaffCandidate(hr_id, full_name, department or "", phone or "", status)
            )
    return found


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
    matches: Sequence[Match],
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
                    row_problem(
                        _("requested address {local}@{domain} is also asked for on {row}").format(
                            local=local, domain=domain, row=row_name(asked[local])
                        ),
                        row,
                        file_name=file_name,
                        column=ADDRESS_COLUMN,
                    )
                )
                continue
            if local is not None:
                asked[local] = row
            planned.append(
                (row, person, NewRequest(person.hr_id, kind, row.requested_address or None))
            )
    else:
        # For a cancel the column names the person's mailbox: it must be theirs, or the
        # slip means someone else. For a change, the person's own mailbox, or the new
        # name the unit asks for (a rename, checked as a create's requested name).
        mailboxes = _mailboxes_of(session, [p.hr_id for _row, p in matches])
        for row, person in matches:
            if row.requested_address:
                local = _requested_local(row.requested_address, domain)
                own = mailboxes.get(person.hr_id)
                if kind == RequestKind.CHANGE and own is not None and local != own:
                    planned.append(
                        (row, person, NewRequest(person.hr_id, kind, row.requested_address))
                    )
                    continue
                if own is not None and local != own:
                    problems.append(
                        row_problem(
                            _(
                                "{name} ({hr_id}): the slip names the mailbox {named!r}, but "
                                "this person's mailbox is {own}@{domain}"
                            ).format(
                                name=person.full_name, hr_id=person.hr_id,
                                named=row.requested_address, own=own, domain=domain,
                            ),
                            row,
                            file_name=file_name,
                            column=ADDRESS_COLUMN,
                        )
                    )
                    continue
            planned.append((row, person, NewRequest(person.hr_id, kind)))

    checked: list[tuple[SlipRow, StaffCandidate, NewRequest]] = []
    for start in range(0, len(planned), CHUNK):
        chunk = planned[start : start + CHUNK]
        ok, reasons = check_requests(
            session=session, config=config, unit=unit, items=[item for *_rp, item in chunk]
        )
        passed = {item.hr_id: item for item, _s in ok}  # the address as a local part
        failed = [entry for entry in chunk if entry[2].hr_id not in passed]
        if len(failed) != len(reasons):  # pragma: no cover - check_requests gives one each
            problems += [Problem(reason, file=file_name) for reason in reasons]
            continue
        for (row, _person, _item), reason in zip(failed, reasons, strict=True):
            column = ADDRESS_COLUMN if _about_address(reason) else NAME_COLUMN
            problems.append(row_problem(reason, row, file_name=file_name, column=column))
        checked += [(row, p, passed[item.hr_id]) for row, p, item in chunk if item.hr_id in passed]
    return checked, problems


def _about_address(reason: str) -> bool:
    """Is this refusal of `check_requests` about the requested address (its column)?
    Read from the message's English id when it carries one, else from its words in
    either language."""
    said = getattr(reason, "msgid", None) or reason
    return "requested address" in said or _("requested address") in reason


def _mailboxes_of(session: Session, hr_ids: Sequence[str]) -> dict[str, str]:
    query = select(Mailbox.staff_hr_id, Mailbox.address)
    return dict(queries.rows_where_in(session, query, Mailbox.staff_hr_id, hr_ids))


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


def _signature_reused(session: Session, read: ReadSlip) -> str | None:
    """Why a signed file whose signatures (by what they signed, or by their value) were
    imported before cannot be imported, whatever bytes were added to it; or None."""
    if not read.identities:
        return None
    signed = [i.signed_digest for i in read.identities]
    values = [i.value_digest for i in read.identities]
    taken = session.execute(
        select(SlipSignature.field_name, Slip)
        .join(Slip, Slip.id == SlipSignature.slip_id)
        .where(SlipSignature.signed_digest.in_(signed) | SlipSignature.value_digest.in_(values))
        .order_by(SlipSignature.id)
        .limit(1)
    ).first()
    if taken is None:
        return None
    field_name, slip = taken
    ids = list(
        session.scalars(select(Request.id).where(Request.slip_id == slip.id).order_by(Request.id))
    )
    return _(
        "its signature {field!r} was already imported on {at} UTC by {by} (file {file!r}, "
        "slip #{slip}, requests {requests}): the same signed slip is never "
        "imported twice, whatever was added to the file after signing; ask the unit for a "
        "new slip"
    ).format(
        field=field_name, at=f"{slip.imported_at:%Y-%m-%d %H:%M}", by=slip.imported_by,
        file=slip.file_name, slip=slip.id, requests=_shown(ids) or _("none"),
    )


def _shown(ids: Sequence[int]) -> str:
    shown = ", ".join(f"#{i}" for i in ids[:IDS_SHOWN])
    if len(ids) > IDS_SHOWN:
        shown += _(" … ({n} in all)").format(n=len(ids))
    return shown


def _already(slip_id: int, at: datetime, by: str, name: str, ids: Sequence[int]) -> str:
    shown = _shown(ids)
    return _(
        "this file was already imported on {at} UTC by {by} "
        "(as {name!r}, slip #{slip}, requests {requests}); "
        "a slip is never imported twice"
    ).format(
        at=f"{at:%Y-%m-%d %H:%M}", by=by, name=name, slip=slip_id, requests=shown or _("none")
    )


def choose_kind(
    content: SlipContent, kind: RequestKind | None, *, signed: bool, file_name: str
) -> RequestKind | None:
    """The kind of the slip's requests. A signed slip's kind is what its chief signed:
    `--kind` may repeat it, never override it (a "Cấp mới" slip imported as --kind
    cancel would lock the mailboxes), nor supply one the slip does not state. For an
    unsigned Excel slip `--kind` stays an override (with a warning). None when neither
    says (the caller refuses)."""
    if not signed:
        return kind or content.kind
    if content.kind is None:
        raise SlipRefused([Problem(
            _(
                "'Nội dung yêu cầu' {content!r} of this signed slip names no single "
                "kind of request (cấp mới / thay đổi / hủy bỏ); --kind cannot supply what the "
                "chief did not sign: ask the unit for a slip that states it"
            ).format(content=content.content[:80]), file=file_name)])
    if kind is not None and kind != content.kind:
        raise SlipRefused([Problem(
            _(
                "the signed slip asks for {label} ({kind}); "
                "--kind {given} may not override what the chief signed"
            ).format(label=content.kind.label_vi, kind=content.kind.value, given=kind.value),
            file=file_name)])
    return content.kind


def _slip_unit(session: Session, read: ReadSlip, warnings: list[Problem]) -> Unit:
    """The unit a slip is imported for (refused when it is none); a warning added when
    the slip's 'Tên cơ quan' names another."""
    content, name = read.content, read.path.name
    try:
        unit = get_unit(read.unit or "", session=session)
    except BadInput as exc:  # NotFound, or a [units.X] code that is no unit code
        raise SlipRefused([Problem(exc.message, file=name)]) from None
    if (
        content.unit_name
        and fold(unit.name) not in fold(content.unit_name)
        and fold(content.unit_name) not in fold(unit.name)
    ):
        warnings.append(
            Problem(
                _(
                    "'Tên cơ quan' on the slip is {named!r}; the slip is imported for "
                    "unit {code} ({name})"
                ).format(named=content.unit_name, code=unit.code, name=unit.name),
                file=name,
            )
        )
    return unit


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
    warnings = [*read.warnings, *content.warnings]
    signer = SignerView.of(read.signer) if read.signer else None

    duplicate = _first_import(session, read.sha256) or _signature_reused(session, read)
    if duplicate:
        raise SlipRefused([Problem(duplicate, file=name)])
    unit = _slip_unit(session, read, warnings)

    chosen = choose_kind(content, kind, signed=bool(read.identities), file_name=name)
    if chosen is None:
        raise SlipRefused(
            [
                Problem(
                    _(
                        "'Nội dung yêu cầu' {content!r} names no single kind of request "
                        "(cấp mới / thay đổi / hủy bỏ): write one on the slip, or give --kind"
                    ).format(content=content.content[:80]),
                    file=name,
                )
            ]
        )
    if kind is not None and content.kind is not None and kind != content.kind:
        # An unsigned Excel slip only (choose_kind refused a signed one).
        warnings.append(
            Problem(
                _("the slip asks for {label} ({kind}); --kind {given} overrides it").format(
                    label=content.kind.label_vi, kind=content.kind.value, given=kind.value
                ),
                file=name,
            )
        )
    limit = config.limits.max_rows
    if len(content.rows) > limit:
        raise SlipRefused(
            [
                Problem(
                    _("the slip has {n:,} rows, more than limits.max_rows ({limit:,})").format(
                        n=len(content.rows), limit=limit
                    ),
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
        status=SlipOutcome.WOULD_ACCEPT,
        sha256=read.sha256,
        format=content.format,
        unit=unit.code,
        kind=chosen,
        verdict=read.verdict,
        signer=signer,
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
        signer_subject=signer.subject if signer else None,
        signer_issuer=signer.issuer if signer else None,
        signer_serial=signer.serial[:80] if signer else None,
        signer_fingerprint=signer.fingerprint if signer else None,
        signed_at=signer.signing_time if signer else None,
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
                    _(
                        "this file was imported at the same moment by another run; a slip is "
                        "never imported twice (see `dnmail queue list`)"
                    ),
                    file=name,
                )
            ]
        ) from None
    session.add_all(
        SlipSignature(
            slip_id=slip.id, unit_code=unit.code, field_name=i.field_name[:255],
            signed_digest=i.signed_digest, value_digest=i.value_digest,
        )
        for i in read.identities
    )
    try:
        session.flush()
    except IntegrityError:  # the same signature imported at this very moment
        raise SlipRefused([Problem(
            _(
                "a file with the same signature was imported at the same moment by another "
                "run; a signed slip is never imported twice"
            ), file=name)]) from None
    created = []
    try:
        for start in range(0, len(planned), CHUNK):
            chunk = planned[start : start + CHUNK]
            views = create_requests(
                session=session,
                config=config,
                unit=unit.code,
                items=[item for *_rp, item in chunk],
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
        session=session,
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
            "signer": signer.subject if signer else None,
            "signer_fingerprint": signer.fingerprint if signer else None,
            "signed_at": read.signed_at.describe() if read.signed_at else None,
            "signatures": [i.signed_digest for i in read.identities],
            "request_ids": [r.id for r in created],
        },
    )
    return replace(base, status=SlipOutcome.ACCEPTED, slip_id=slip.id, requests=tuple(created))


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
    encoding: str | None = None,
) -> SlipImportBatch:
    """Import slip files (.xlsx, signed .pdf), each whole or not at all, each in its
    own transaction. A refused file is reported with every reason and does not stop
    the others. Raises only for the run as a whole: an unknown --unit, a bad
    `[signatures]` configuration (before any file is touched), an unreachable database.
    `encoding` overrides the detection of TCVN3/VNI text in Excel slips.
    """
    paths = [Path(p) for p in paths]
    if unit is not None:
        with rt.transaction(readonly=True) as s:
            unit = get_unit(unit, session=s).code
    trust = load_trust(rt.config) if any(may_be_pdf(p) for p in paths) else None
    seen = _known_slips(rt, paths)
    results: list[SlipImport] = []
    for path in paths:
        result = _import_one(
            rt, path, unit=unit, kind=kind, trust=trust, dry_run=dry_run, seen=seen,
            encoding=encoding,
        )
        results.append(result)
        if progress is not None:
            progress(result)
    return SlipImportBatch(tuple(results), dry_run)


def _known_slips(rt: Runtime, paths: Sequence[Path]) -> _Seen:
    """The files of this run already imported, found in one query before any is read
    again (re-running a folder of slips costs a hash per file, not a verification)."""
    seen = _Seen()
    for path in paths:
        try:
            if path.is_file():
                seen.digests[path] = sha256_file(path)
        except OSError:
            continue  # reported when the file is read
    keys = sorted(set(seen.digests.values()))
    if not keys:
        return seen
    with rt.transaction(readonly=True) as s:
        for (slip,) in queries.rows_where_in(s, select(Slip), Slip.sha256, keys):
            ids = list(
                s.scalars(select(Request.id).where(Request.slip_id == slip.id).order_by(Request.id))
            )
            seen.known[slip.sha256] = _already(
                slip.id, slip.imported_at, slip.imported_by, slip.file_name, ids
            )
    return seen


def _problems_of(exc: InvalidFile | SignatureInvalid, name: str) -> tuple[Problem, ...]:
    """Every reason a file was refused, as problems naming the file."""
    if isinstance(exc, SignatureInvalid):  # one per signature at fault, or about the file
        return tuple(Problem(str(problem), file=name) for problem in exc.problems)
    return tuple(exc.problems or [Problem(exc.message, file=name)])


def _import_one(
    rt: Runtime,
    path: Path,
    *,
    unit: str | None,
    kind: RequestKind | None,
    trust: TrustSettings | None,
    dry_run: bool,
    seen: _Seen,
    encoding: str | None = None,
) -> SlipImport:
    name = path.name
    digest = seen.digests.get(path)
    refused = SlipImport(
        file=str(path), status=SlipOutcome.REFUSED, sha256=digest, unit=unit, kind=kind
    )
    if digest is not None and digest in seen.known:
        return replace(refused, problems=(Problem(seen.known[digest], file=name),))
    now = rt.now()
    try:
        read = read_slip(
            path, config=rt.config, unit=unit, now=now, trust=trust, encoding=encoding
        )
    except (InvalidFile, SignatureInvalid) as exc:
        return replace(refused, problems=_problems_of(exc, name))
    digest = read.sha256
    slip_kind = read.content.kind if read.identities else (kind or read.content.kind)
    refused = replace(
        refused,
        sha256=digest,
        format=read.content.format,
        unit=read.unit,
        kind=slip_kind,
        verdict=read.verdict,
        signer=SignerView.of(read.signer) if read.signer else None,
    )
    try:
        with rt.transaction(readonly=dry_run) as s:
            result = store_slip(
                s, read, config=rt.config, kind=kind, actor=rt.actor, now=now, dry_run=dry_run
            )
    except SlipRefused as exc:
        return replace(
            refused, problems=exc.problems,
            warnings=exc.warnings or (*read.warnings, *read.content.warnings),
        )
    if digest:
        if dry_run:
            why = _(
                "the same file as {path!r}, given earlier in this run "
                "(a slip is never imported twice)"
            ).format(path=str(path))
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
