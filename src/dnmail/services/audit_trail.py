"""The audit trail as people read it: `audit list` (newest first, filtered, paged) and
`audit verify` (the hash chain walked, and its head compared with an anchor file kept
off the database host). The chain itself is written by `dnmail.services.audit`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dnmail.clock import start_of_day
from dnmail.db.models import AuditEvent, Unit
from dnmail.errors import BadInput
from dnmail.exports.writers import atomic_output
from dnmail.i18n import _
from dnmail.services import audit

if TYPE_CHECKING:
    from dnmail.services.runtime import Runtime


@dataclass(frozen=True)
class AuditEventView:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict
    hash: str


@dataclass(frozen=True)
class AuditPage:
    total: int
    limit: int
    offset: int
    items: list[AuditEventView]
    order: str = "newest first"


def _match(column, value: str):
    """Exact match, or a prefix match when the value ends with `*` (`request:*`)."""
    if value.endswith("*"):
        prefix = value[:-1]
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return column.like(escaped + "%", escape="\\")
    return column == value


def list_audit_events(
    rt: Runtime,
    *,
    since: date | None = None,
    actor: str | None = None,
    target: str | None = None,
    action: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AuditPage:
    """Audit events, newest first, one page at a time. `actor`, `target` and `action`
    match exactly, or by prefix when they end with `*`."""
    conds = []
    if since:
        conds.append(AuditEvent.at >= start_of_day(since))
    if actor:
        conds.append(_match(AuditEvent.actor, actor))
    if target:
        conds.append(_match(AuditEvent.target, target))
    if action:
        conds.append(_match(AuditEvent.action, action))
    q = select(AuditEvent).where(*conds).order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
    with rt.transaction(readonly=True) as s:
        total = s.scalar(select(func.count()).select_from(AuditEvent).where(*conds)) or 0
        items = [
            AuditEventView(e.id, e.at, e.actor, e.action, e.target, _details(e.details), e.hash)
            for e in s.scalars(q)
        ]
    return AuditPage(total, limit, offset, items)


def _details(text: str) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:  # an altered row; `audit verify` names it
        return {"unparsable": text}
    return value if isinstance(value, dict) else {"value": value}


@dataclass(frozen=True)
class Anchor:
    """The chain's head as last seen by `audit verify --anchor FILE`, kept off the database."""

    id: int
    hash: str
    verified_at: str = ""


@dataclass(frozen=True)
class ChainReport:
    checked: int
    head: Anchor | None  # the last event of the chain (None: empty trail)
    broken_at: int | None = None
    problem: str | None = None
    anchor: Anchor | None = None  # the anchor compared against, if any
    keyed_since: int | None = None  # the first event with a MAC (None: the trail is unkeyed)
    last_keyed: int | None = None  # the newest event with a MAC
    macs_checked: bool = False  # this host holds the audit key: every MAC was checked
    officers_unkeyed: int = 0  # officers' events without a MAC (no key on their hosts)

    @property
    def ok(self) -> bool:
        return self.broken_at is None

    @property
    def message(self) -> str:
        if not self.ok:
            return _(
                "audit chain broken at event #{event}: {problem} ({n} event(s) checked)"
            ).format(event=self.broken_at, problem=self.problem, n=self.checked)
        intact = _("audit chain intact: {n} event(s) checked").format(n=self.checked)
        lines = [intact, self._keying()]
        if self.head is not None:
            lines.append(
                _(
                    "head: event #{event}, hash {hash}; keep it outside the database "
                    "(`audit verify --anchor FILE` with FILE on another host or medium, "
                    "or write it down): deleting the newest events is seen only against it"
                ).format(event=self.head.id, hash=self.head.hash)
            )
        return "\n".join(line for line in lines if line)

    def _keying(self) -> str:
        if self.keyed_since is None:
            return (
                _(
                    "the trail is not keyed (no event carries a MAC): whoever can write the "
                    "database could rewrite it undetected; `dnmail init` creates the audit key"
                )
                if self.checked else ""
            )
        parts = []
        if self.keyed_since > 1:
            parts.append(
                _(
                    "events #1–#{last} were written before the audit key and are "
                    "covered by keyed event #{since}"
                ).format(last=self.keyed_since - 1, since=self.keyed_since)
            )
        keyed = _("keyed since event #{since}, last keyed event #{last}").format(
            since=self.keyed_since, last=self.last_keyed
        )
        if self.officers_unkeyed:
            keyed += _(" ({n} unit officers' event(s) without a MAC)").format(
                n=self.officers_unkeyed
            )
        parts.append(keyed)
        if not self.macs_checked:
            parts.append(_("MACs NOT checked: this host has no audit key ([audit] key_file)"))
        return "; ".join(parts)

    def json_extra(self) -> dict[str, object]:
        return {"ok": self.ok}


def read_anchor(path: Path) -> Anchor | None:
    """The anchor file's head, or None when the file does not exist yet."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Anchor(int(data["id"]), str(data["hash"]), str(data.get("verified_at", "")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BadInput(
            _("{path}: not an audit anchor file ({error})").format(
                path=path, error=e.__class__.__name__
            )
        ) from None


def write_anchor(path: Path, anchor: Anchor) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(asdict(anchor), indent=1) + "\n", encoding="utf-8")


def verify_audit_trail(rt: Runtime, *, anchor_file: Path | None = None) -> ChainReport:
    """Walk the whole chain (`audit.verify_chain`) and, given an anchor file saved by an
    earlier run, check that its head is still there: a chain alone cannot show that its
    last events were deleted, the saved head can. An intact chain's head is written
    back to `anchor_file` (created when missing)."""
    anchor = read_anchor(anchor_file) if anchor_file else None
    with rt.transaction(readonly=True) as s:
        report = _verify(s, anchor, rt.now())
    if report.ok and anchor_file and report.head is not None:
        write_anchor(anchor_file, report.head)
    return report


def _verify(session: Session, anchor: Anchor | None, now: datetime) -> ChainReport:
    officers = frozenset(
        a.lower()
        for a in session.scalars(select(Unit.account).where(Unit.account.is_not(None)))
        if a is not None
    )
    walk = audit.verify_chain(session=session, officers=officers)
    last = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    stamp = now.astimezone(UTC).isoformat()
    head = Anchor(last[0], last[1], stamp) if last else None
    report = ChainReport(
        walk.checked, head, anchor=anchor, keyed_since=walk.keyed_since,
        last_keyed=walk.last_keyed, macs_checked=walk.macs_checked,
        officers_unkeyed=walk.officers_unkeyed,
    )
    if walk.broken is not None:
        return replace(report, broken_at=walk.broken.event_id, problem=walk.broken.problem)
    if anchor is None:
        return report
    kept = session.scalar(select(AuditEvent.hash).where(AuditEvent.id == anchor.id))
    when = anchor.verified_at or _("earlier")
    if kept is None:
        return replace(
            report,
            broken_at=anchor.id,
            problem=_(
                "the chain ends at #{head}, but event #{event} was its head when last "
                "verified ({when}): the last event(s) were deleted"
            ).format(head=head.id if head else 0, event=anchor.id, when=when),
        )
    if kept != anchor.hash:
        return replace(
            report,
            broken_at=anchor.id,
            problem=_(
                "its hash differs from the one saved when last verified ({when}): "
                "the chain was rewritten"
            ).format(when=when),
        )
    return report
