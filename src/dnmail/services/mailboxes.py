"""`dnmail mailbox show`: one mailbox, with every address it has had (issue 14 §1).

The address given may be the current one or a former one (an alias since a rename):
both lead to the same mailbox. Read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from dnmail.db.models import FormerAddress, Mailbox, Staff
from dnmail.errors import NotFound
from dnmail.i18n import _
from dnmail.services.accounts import former_owner, local_part
from dnmail.services.operators import other_unit

if TYPE_CHECKING:
    from dnmail.services.runtime import Runtime


@dataclass(frozen=True)
class AddressPeriod:
    address: str  # the whole address, local@domain
    since: datetime
    until: datetime | None  # None: the current address
    current: bool


@dataclass(frozen=True)
class MailboxView:
    address: str  # current, local@domain
    hr_id: str
    full_name: str
    unit: str
    state: str
    dn: str
    aliases: list[str]  # former addresses, still delivered to this mailbox
    history: list[AddressPeriod]  # every address it has had, oldest first
    asked: str | None = None  # the former address it was looked up by, if so


def show_mailbox(rt: Runtime, address: str, *, unit: str | None = None) -> MailboxView:
    """The mailbox holding `address` now or before a rename (NotFound otherwise);
    `unit`: an officer's unit, which may see only its own mailboxes. Looked up by a
    former address, the view says so (`asked`): reading is harmless, and the admin
    learns the current address."""
    domain = rt.config.directory.mail_domain
    local = local_part(address, domain)
    with rt.transaction(readonly=True) as s:
        m = s.scalar(select(Mailbox).where(Mailbox.address == local))
        asked = None
        if m is None:
            m = former_owner(local, session=s)
            asked = f"{local}@{domain}"
        if m is None:
            raise NotFound(
                _("no mailbox has or had {address}").format(address=f"{local}@{domain}")
            )
        if unit is not None and m.unit_code != unit:
            raise other_unit(
                rt.actor, unit, m.unit_code,
                what=_("mailbox {address}").format(address=f"{local}@{domain}"),
            )
        st = s.get(Staff, m.staff_hr_id)
        former = list(
            s.scalars(
                select(FormerAddress)
                .where(FormerAddress.mailbox_id == m.id)
                .order_by(FormerAddress.since, FormerAddress.id)
            )
        )
        history = [
            AddressPeriod(f"{f.address}@{domain}", f.since, f.until, False) for f in former
        ]
        since = former[-1].until if former else m.created_at
        history.append(AddressPeriod(f"{m.address}@{domain}", since, None, True))
        return MailboxView(
            address=f"{m.address}@{domain}",
            hr_id=m.staff_hr_id,
            full_name=st.full_name if st else "",
            unit=m.unit_code,
            state=m.state,
            dn=m.dn,
            aliases=[f"{f.address}@{domain}" for f in former],
            history=history,
            asked=asked,
        )


def aliases_by_mailbox(session, mailbox_ids: list[int], domain: str) -> dict[int, list[str]]:
    """The former addresses (aliases) of these mailboxes, oldest first."""
    from dnmail.db import queries

    out: dict[int, list[str]] = {}
    q = select(FormerAddress.mailbox_id, FormerAddress.address).order_by(FormerAddress.since)
    for mid, addr in queries.rows_where_in(session, q, FormerAddress.mailbox_id, mailbox_ids):
        out.setdefault(mid, []).append(f"{addr}@{domain}")
    return out
