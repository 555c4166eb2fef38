"""The directory attributes an HR record gives a mailbox entry (inetOrgPerson), and
which of them differ from an entry's: used by `provision` (create, adopt, change) and
`reconcile` (attribute drift). Pure: no directory, no database."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from dnmail.domain.addresses import split_name
from dnmail.errors import DnmailError

#: The attributes that follow the HR record; uid and employeeNumber never change.
SYNCED = ("cn", "sn", "givenName", "telephoneNumber", "title", "ou", "mail")
FIXED = ("uid", "employeeNumber")


class Person(Protocol):
    """What the attributes are made from: a Staff row, or a row with Staff's names."""

    @property
    def hr_id(self) -> str: ...
    @property
    def full_name(self) -> str: ...
    @property
    def department(self) -> str: ...
    @property
    def position(self) -> str: ...
    @property
    def phone(self) -> str: ...


def mailbox_attributes(
    person: Person, address: str, domain: str, *, unit_values: Mapping[str, str] | None = None
) -> dict[str, object]:
    """The entry's attributes for `person` with the local part `address`; `unit_values`:
    the attribute naming the unit, when the layout has one (`Layout.unit_values`)."""
    try:
        family_middle, given = split_name(person.full_name)
        sn = family_middle[0] if family_middle else given
    except DnmailError:
        sn, given = person.full_name, person.full_name
    return {
        "uid": address,
        "mail": f"{address}@{domain}",
        "cn": person.full_name,
        "sn": sn,
        "givenName": given,
        "employeeNumber": person.hr_id,
        "telephoneNumber": person.phone or None,
        "title": person.position or None,
        "ou": person.department or None,
        **(unit_values or {}),
    }


def changed_attributes(
    current: Callable[[str], str], wanted: Mapping[str, object]
) -> dict[str, object]:
    """The attributes of `wanted` (the synced ones, and the unit attribute when it has
    one; never uid or employeeNumber) whose value differs from `current(name)` (an
    entry's first value, "" when absent): name → the value to write (None removes)."""
    changes: dict[str, object] = {}
    names = [n for n in SYNCED if n in wanted]
    names += [k for k in wanted if k not in SYNCED and k not in FIXED]
    for name in names:
        want = wanted.get(name)
        if (want or "") != current(name):
            changes[name] = want
    return changes
