"""What one run of `provision` handles and returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Row

from dnmail.db.models import Mailbox
from dnmail.directory.gateway import Entry
from dnmail.domain.results import secret
from dnmail.domain.states import ItemOutcome, RequestKind


@dataclass(frozen=True)
class ItemResult:
    request_id: int
    kind: RequestKind
    unit: str
    hr_id: str
    full_name: str
    state: ItemOutcome
    address: str | None = None
    dn: str | None = None
    detail: str = ""  # what was done (created, adopted, moved, locked…) or why it failed
    password: str | None = secret()  # shown once, never stored
    handed_out: bool = False  # the password is in a handout file (shown only if one was not)


@dataclass(frozen=True)
class ProvisionSummary:
    items: list[ItemResult]
    handouts: list[Path]
    dry_run: bool = False
    #: Why some passwords could not be written to their handout (they are in `items`).
    handout_problem: str | None = None

    @property
    def done(self) -> list[ItemResult]:
        return [i for i in self.items if i.state is ItemOutcome.DONE]

    @property
    def failed(self) -> list[ItemResult]:
        return [i for i in self.items if i.state is ItemOutcome.FAILED]

    def json_extra(self) -> dict[str, object]:
        return {"done": len(self.done), "failed": len(self.failed)}


@dataclass(slots=True)
class NewMailbox:
    """A mailbox being created: its row is inserted in bulk (`ledger.insert_reserved`),
    so a plain record is enough (an ORM instance per account costs more than the add)."""

    address: str
    base: str
    staff_hr_id: str
    unit_code: str
    dn: str
    state: str
    created_at: datetime
    updated_at: datetime
    id: int | None = None


@dataclass
class Work:
    """One claimed request on its way through a chunk, and what became of it."""

    req: Row  # a requests row (claimed)
    staff: Row  # a staff row
    mailbox: Mailbox | NewMailbox | None
    result: ItemResult | None = None
    password: str | None = None
    new_mailbox: bool = False
    adopted: Entry | None = None

    @property
    def kind(self) -> RequestKind:
        return RequestKind(self.req.kind)

    def fail(self, reason: str) -> None:
        """The request fails (it stays open, retried by a later run)."""
        self.result = ItemResult(
            self.req.id, self.kind, self.req.unit_code, self.staff.hr_id, self.staff.full_name,
            ItemOutcome.FAILED, self.mailbox.address if self.mailbox else None, None, reason,
        )

    def succeed(self, detail: str, *, dry_run: bool, password: str | None = None) -> None:
        """The request is carried out (or would be, in a dry run)."""
        m = self.mailbox
        self.password = password
        self.result = ItemResult(
            self.req.id, self.kind, self.req.unit_code, self.staff.hr_id, self.staff.full_name,
            ItemOutcome.WOULD_DO if dry_run else ItemOutcome.DONE,
            m.address if m else None, m.dn if m else None, detail, password,
        )
