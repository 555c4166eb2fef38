"""Where things live in the directory (docs/directory-layout.md): the two layouts.

* ``by-unit`` (dnmail's own, the default): a branch per unit under ``people_dn``,
  ``uid=<local>,ou=<unit>,<people_dn>``; a transfer moves the entry (modify DN).
* ``flat`` (how many existing directories look): every mailbox directly under
  ``people_dn``, ``uid=<local>,<people_dn>``; a transfer changes attributes only. The
  unit is recorded in the database, and in the attribute ``unit_attribute`` names
  (e.g. ``departmentNumber``) when one is configured: slapd's access rules for unit
  officers key on it (deploy/slapd, ``access-flat.ldif.in``).

Either way ``unit_attribute``, when set, is written on every entry dnmail creates or
moves and tells the unit of an entry found in the directory; in ``by-unit`` the branch
tells it too. Pure: DNs are built from parts (``dn.rdn``), nothing is sent anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING

from dnmail.directory.dn import join, rdn

if TYPE_CHECKING:
    from dnmail.config import DirectorySettings


class LayoutKind(StrEnum):
    BY_UNIT = "by-unit"
    FLAT = "flat"


def split_dn(dn: str) -> list[tuple[str, str]]:
    """(attribute lower-case, value lower-case) of each RDN of `dn`; [] when it does not
    parse. Multi-valued RDNs keep their first value (enough to compare branches)."""
    if not any(c in dn for c in '\\"+#<>;'):
        # The common DN (no escapes, quotes or multi-valued RDNs): split as it reads.
        # A whole directory's DNs go through here (`directory adopt`, `reconcile`).
        out: list[tuple[str, str]] = []
        for part in dn.lower().split(","):
            attr, eq_, value = part.partition("=")
            if not eq_:
                return []
            out.append((attr.strip(), value.strip()))
        return out
    from ldap3.utils.dn import parse_dn

    try:
        parts = parse_dn(dn)
    except Exception:
        return []
    out = []
    previous = ","
    for attr, value, sep in parts:
        if previous == ",":
            out.append((attr.lower(), value.lower()))
        previous = sep or ","
    return out


class Layout:
    """The DNs of one directory: its branches, the mailboxes' and the officers'."""

    def __init__(
        self,
        base_dn: str,
        *,
        kind: LayoutKind | str = LayoutKind.BY_UNIT,
        people_dn: str = "",
        unit_attribute: str = "",
    ):
        self.base_dn = base_dn
        self.kind = LayoutKind(kind)
        self.people = people_dn or join("ou=people", base_dn)
        self.units = join("ou=units", base_dn)
        self.system = join("ou=system", base_dn)
        self.admins = join("ou=admins", base_dn)
        self.unit_attribute = unit_attribute
        self._people_parts = split_dn(self.people)
        self._people_low = ",".join(f"{a}={v}" for a, v in self._people_parts)

    @classmethod
    def of(cls, settings: DirectorySettings) -> Layout:
        return cls(
            settings.base_dn,
            kind=settings.layout,
            people_dn=settings.people_dn,
            unit_attribute=settings.unit_attribute,
        )

    @property
    def flat(self) -> bool:
        return self.kind is LayoutKind.FLAT

    # -- where entries go ----------------------------------------------------------------
    def unit_branch(self, unit_code: str) -> str:
        """Where the mailboxes of a unit are created: its branch, or people_dn (flat)."""
        if self.flat:
            return self.people
        return join(rdn("ou", unit_code), self.people)

    def branch_to_create(self, unit_code: str) -> tuple[str, str] | None:
        """(DN, ou) of the unit's branch when the layout has one, else None."""
        if self.flat:
            return None
        return self.unit_branch(unit_code), unit_code

    def mailbox_dn(self, unit_code: str, local: str) -> str:
        return join(rdn("uid", local), self.unit_branch(unit_code))

    def unit_account_dn(self, unit_code: str) -> str:
        return join(rdn("uid", unit_code), self.units)

    def unit_values(self, unit_code: str) -> dict[str, str]:
        """The attribute that names the unit on a mailbox entry, when one is configured."""
        return {self.unit_attribute: unit_code} if self.unit_attribute else {}

    # -- where entries are -----------------------------------------------------------------
    def parent_of(self, dn: str) -> list[tuple[str, str]]:
        return split_dn(dn)[1:]

    def in_place(self, dn: str, unit_code: str) -> bool:
        """Whether an entry at `dn` sits where the layout puts a mailbox of this unit."""
        return self.parent_of(dn) == split_dn(self.unit_branch(unit_code))

    def is_mailbox_dn(self, dn: str) -> bool:
        """Whether `dn` is somewhere below people_dn (a person entry, whatever its depth)."""
        parts = split_dn(dn)
        n = len(self._people_parts)
        return len(parts) > n and parts[-n:] == self._people_parts

    def branch_unit(self, dn: str) -> str | None:
        """The unit a by-unit branch tells: the value of the `ou=` RDN right below
        people_dn on the way to `dn` (any depth below it), lower case; None in the flat
        layout, for an entry directly under people_dn or outside it."""
        if self.flat:
            return None
        low = dn.lower()
        if low.endswith("," + self._people_low) and not any(c in low for c in '\\"+ '):
            # The common DN, read as text (a whole directory's DNs come through here).
            rest = low[: -len(self._people_low) - 1]
            if "," not in rest:
                return None
            attr, _, value = rest.rpartition(",")[2].partition("=")
            return value if attr == "ou" else None
        parts = split_dn(dn)
        n = len(self._people_parts)
        if len(parts) < n + 2 or parts[-n:] != self._people_parts:
            return None
        attr, value = parts[-n - 1]
        return value if attr == "ou" else None

    def unit_of(self, dn: str, attrs: Mapping[str, Sequence[str]] | None = None) -> str | None:
        """The unit an entry tells, lower case: its unit attribute when configured and
        present, else (by-unit) its branch; None when neither says."""
        if self.unit_attribute and attrs:
            values = attrs.get(self.unit_attribute.lower(), ())
            if values and values[0].strip():
                return values[0].strip().lower()
        return self.branch_unit(dn)

    def unit_search(self, unit_code: str | None) -> tuple[str, tuple[tuple[str, str], ...]]:
        """(base, equality conditions ANDed) of a search for the person entries of one
        unit (all when None): its branch (by-unit), or people_dn on the unit attribute
        (flat; every entry when no attribute is configured: the caller keeps those of
        the unit)."""
        person = (("objectClass", "inetOrgPerson"),)
        if unit_code is None:
            return self.people, person
        if not self.flat:
            return self.unit_branch(unit_code), person
        if self.unit_attribute:
            return self.people, (*person, (self.unit_attribute, unit_code))
        return self.people, person
