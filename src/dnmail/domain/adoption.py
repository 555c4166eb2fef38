"""Entries of an existing directory to the staff they belong to (DESIGN §7, issue 11).

The city's directory predates dnmail: `directory adopt` takes its entries over. Each
entry is matched to at most one staff member, by these rules in this order, and the
verdict says which one decided:

* ``hr-id``: the entry's employeeNumber equals a Mã hồ sơ;
* ``email``: the roster's email column equals the entry's mail;
* ``name``: the entry's cn equals exactly one staff member's name (`name_key`: NFC,
  case and spaces ignored) — within the entry's unit when its branch or the unit
  attribute tells it, city-wide otherwise; several of that name are told apart by
  telephone number, then department.

Otherwise the entry is ``ambiguous`` (the candidates are listed), ``no-staff``
(nobody in HR: a leaver, a shared or service mailbox), ``taken`` (the person already
has a mailbox in dnmail, or another entry claims the person more strongly), or
``ignored`` (its address matches a ``directory.ignore`` glob, it is a unit's official
account, or it has no address in the mail domain).

Never a guess: a rule that leaves more than one person, or two entries that claim one
person equally, is a question for IID (`directory link`), not an answer. Pure: plain
data in, verdicts out; the service reads the directory and the database.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from dnmail.domain.phones import BadPhone, parse_phone
from dnmail.domain.states import Labelled
from dnmail.domain.text import fold, name_key
from dnmail.i18n import N_, _


class MatchRule(Labelled):
    """How an entry was matched, or why it was not (the JSON `match` words)."""

    HR_ID = "hr-id"
    EMAIL = "email"
    NAME = "name"
    AMBIGUOUS = "ambiguous"
    NO_STAFF = "no-staff"
    TAKEN = "taken"
    IGNORED = "ignored"

    @property
    def matched(self) -> bool:
        return self in _MATCHED

    @classmethod
    def _labels(cls) -> dict[str, str]:
        return {
            "hr-id": N_("Matched by HR id"),
            "email": N_("Matched by email address"),
            "name": N_("Matched by full name"),
            "ambiguous": N_("Several people match"),
            "no-staff": N_("Not in the HR records"),
            "taken": N_("This person already has a mailbox"),
            "ignored": N_("Ignored"),
        }


_MATCHED = frozenset({MatchRule.HR_ID, MatchRule.EMAIL, MatchRule.NAME})

#: Rules by strength: when two entries claim one person, the stronger rule wins.
_STRENGTH = {MatchRule.HR_ID: 3, MatchRule.EMAIL: 2, MatchRule.NAME: 1}


@dataclass(frozen=True, slots=True)
class FoundEntry:
    """What matching needs of one person entry of the directory, its values as the
    directory holds them (the matcher normalises what it compares)."""

    dn: str
    address: str  # local part in the mail domain, lower case ("" when it has none)
    full_name: str  # cn
    employee_number: str = ""
    mail: str = ""  # its first mail
    phone: str = ""
    department: str = ""  # the `ou` attribute
    unit: str | None = None  # what its branch or unit attribute says (lower case)
    locked: bool = False


@dataclass(frozen=True, slots=True)
class StaffMember:
    """A staff member as matching needs it: the name only as its key (`name_key`, as
    the staff table stores it), so that a city's roster stays small in memory."""

    hr_id: str
    name_key: str
    unit_code: str
    department: str = ""
    phone: str = ""
    email: str = ""  # lower case

    @classmethod
    def named(cls, hr_id: str, full_name: str, unit_code: str, *rest: str) -> StaffMember:
        return cls(hr_id, name_key(full_name), unit_code, *rest)

    def describe(self) -> str:
        if not (self.department or self.phone or self.name_key):
            return f"{self.hr_id} ({self.unit_code})"
        department = self.department or _("no department")
        phone = self.phone or _("no phone")
        return f"{self.hr_id} ({self.unit_code}, {department}, {phone})"


@dataclass(frozen=True)
class Known:
    """What dnmail has recorded already: mailboxes by person, by address, by DN."""

    address_of: Mapping[str, str]  # HR id → address of its mailbox
    owner_of_address: Mapping[str, str]  # address → HR id
    owner_of_dn: Mapping[str, str]  # DN (lower case) → HR id


@dataclass(frozen=True, slots=True)
class Verdict:
    entry: FoundEntry
    match: MatchRule
    hr_id: str | None = None
    candidates: tuple[str, ...] = ()
    detail: str = ""
    #: The entry is a dnmail mailbox already (of `hr_id`): nothing to adopt.
    already: bool = False

    @property
    def adoptable(self) -> bool:
        return self.match in _MATCHED and not self.already

    @property
    def settled(self) -> bool:
        """Adopted before, adoptable now, or ignored: nothing left for IID to decide."""
        return self.already or self.match.matched or self.match is MatchRule.IGNORED


def local_part(value: str, domain: str) -> str:
    """The local part of an address of `domain` (lower case), "" for another domain."""
    local, at, dom = value.strip().lower().rpartition("@")
    if not at:
        return ""
    return local if dom == domain.lower() else ""


def entry_address(uid: str, mails: Iterable[str], domain: str) -> str:
    """The address of an entry, kept exactly as it is (dots, hyphens…): the local part
    of its first `mail` in the domain, else its uid when it has no mail there."""
    for mail in mails:
        local = local_part(mail, domain)
        if local:
            return local
    return uid.strip().lower()


def phone_key(value: str) -> str:
    """A phone number as digits in national form, for comparing ("" when unreadable)."""
    try:
        return parse_phone(value).number
    except BadPhone:
        return ""


class Matcher:
    """Matches entries to staff (see the module docstring). Build it once per run.

    A city's roster is 100,000 people: only those who share their name with someone
    are kept whole (their phone and department break ties); of everyone else an HR id
    and a unit are enough. `shared_names`: the name keys held by more than one person,
    when the caller knows them (a GROUP BY); else they are counted here."""

    def __init__(
        self,
        staff: Iterable[StaffMember],
        known: Known,
        *,
        domain: str,
        ignore: Sequence[str] = (),
        unit_accounts: Mapping[str, str] | None = None,
        shared_names: Collection[str] | None = None,
    ):
        self.domain = domain.lower()
        self.known = known
        self.ignore = tuple(p.strip().lower() for p in ignore if p.strip())
        self.unit_accounts = dict(unit_accounts or {})  # local part → unit code
        if shared_names is None:
            staff = list(staff)
            seen = Counter(p.name_key for p in staff)
            shared_names = {k for k, n in seen.items() if n > 1}
        self.unit_of: dict[str, str] = {}  # HR id → unit
        self.by_email: dict[str, list[str]] = {}  # email → HR ids
        # name key → the HR id of the one person of that name, or everyone of it
        self.by_name: dict[str, str | list[StaffMember]] = {}
        for person in staff:
            self.unit_of[person.hr_id] = person.unit_code
            if person.email:
                self.by_email.setdefault(person.email, []).append(person.hr_id)
            if person.name_key in shared_names:
                named = self.by_name.setdefault(person.name_key, [])
                assert isinstance(named, list)
                named.append(person)
            else:
                self.by_name[person.name_key] = person.hr_id
        self.units = set(self.unit_of.values())
        self._fold: dict[str, str] = {}

    def _named(self, key: str) -> list[StaffMember]:
        """Everyone whose name has this key (whole records: see the class docstring)."""
        found = self.by_name.get(key)
        if found is None:
            return []
        if isinstance(found, str):
            return [StaffMember(found, key, self.unit_of[found])]
        return found

    # -- one entry -------------------------------------------------------------------
    def first_verdict(self, e: FoundEntry) -> Verdict:
        """The verdict of one entry on its own (before entries claiming one person are
        weighed against each other in `classify`)."""
        owner = self.known.owner_of_dn.get(e.dn.lower())
        number = e.employee_number.strip()
        if owner is None and number:
            # Moved outside dnmail since it was recorded: the same address and HR id.
            if self.known.owner_of_address.get(e.address) == number:
                owner = number
        if owner is not None:
            return self._already(e, owner)
        if not e.address:
            return Verdict(
                e, MatchRule.IGNORED, detail=_("no address of {domain}").format(domain=self.domain)
            )
        unit = self.unit_accounts.get(e.address)
        if unit is not None:
            return Verdict(
                e, MatchRule.IGNORED,
                detail=_("the official account of unit {unit}").format(unit=unit),
            )
        pattern = self._ignored_by(e)
        if pattern:
            return Verdict(e, MatchRule.IGNORED, detail=f"directory.ignore: {pattern}")
        if number and number in self.unit_of:
            return Verdict(e, MatchRule.HR_ID, number)
        mail = e.mail.strip().lower()
        if mail and mail in self.by_email:
            ids = self.by_email[mail]
            if len(ids) == 1:
                return Verdict(e, MatchRule.EMAIL, ids[0])
            people = [StaffMember(hr, "", self.unit_of[hr]) for hr in ids]
            return self._ambiguous(
                e, people, _("{n} staff have the email {mail}").format(n=len(ids), mail=mail)
            )
        return self._by_name(e)

    def _ignored_by(self, e: FoundEntry) -> str:
        full = f"{e.address}@{self.domain}"
        for pattern in self.ignore:
            if fnmatch.fnmatchcase(full if "@" in pattern else e.address, pattern):
                return pattern
        return ""

    def _by_name(self, e: FoundEntry) -> Verdict:
        everyone = self._named(name_key(e.full_name)) if e.full_name else []
        if not everyone:
            if e.employee_number:
                detail = _("nobody in HR is named {name!r} (employeeNumber {number} is no HR id)")
            else:
                detail = _("nobody in HR is named {name!r}")
            detail = detail.format(name=e.full_name, number=e.employee_number)
            return Verdict(e, MatchRule.NO_STAFF, detail=detail)
        if e.unit in self.units:
            here = [p for p in everyone if p.unit_code == e.unit]
            if not here:
                return self._ambiguous(
                    e, everyone, _("nobody named {name!r} in unit {unit}; elsewhere").format(
                        name=e.full_name, unit=e.unit)
                )
            where = _("in unit {unit}").format(unit=e.unit)
        else:
            here = everyone
            if e.unit is None:
                where = _("in the city")
            else:
                where = _("in the city (unit {unit} is unknown)").format(unit=e.unit)
        chosen = self._break_tie(e, here)
        if chosen is not None:
            return Verdict(e, MatchRule.NAME, chosen.hr_id)
        return self._ambiguous(
            e,
            here,
            _("{n} staff named {name!r} {where}; phone and department do not tell them apart")
            .format(n=len(here), name=e.full_name, where=where),
        )

    def _break_tie(self, e: FoundEntry, people: list[StaffMember]) -> StaffMember | None:
        """The one person the entry's phone, then its department, leave; else None."""
        left = people
        if len(left) > 1 and e.phone:
            wanted = phone_key(e.phone)
            same = [p for p in left if wanted and phone_key(p.phone) == wanted]
            left = same or left
        if len(left) > 1 and e.department:
            wanted = self._folded(e.department)
            same = [p for p in left if self._folded(p.department) == wanted]
            left = same or left
        return left[0] if len(left) == 1 else None

    def _folded(self, text: str) -> str:
        value = self._fold.get(text)
        if value is None:
            value = self._fold[text] = fold(text)
        return value

    def _ambiguous(self, e: FoundEntry, people: Sequence[StaffMember], why: str) -> Verdict:
        listed = "; ".join(p.describe() for p in people[:10])
        more = _("; and {n} more").format(n=len(people) - 10) if len(people) > 10 else ""
        return Verdict(
            e, MatchRule.AMBIGUOUS, None, tuple(p.hr_id for p in people), f"{why}: {listed}{more}"
        )

    def _already(self, e: FoundEntry, owner: str) -> Verdict:
        """An entry dnmail has recorded as `owner`'s mailbox: the rule that ties them, if
        any (a hand-made link may follow none)."""
        rule = MatchRule.HR_ID
        if e.employee_number.strip() != owner:
            if owner in self.by_email.get(e.mail.strip().lower(), ()):
                rule = MatchRule.EMAIL
            elif any(p.hr_id == owner for p in self._named(name_key(e.full_name))):
                rule = MatchRule.NAME
        return Verdict(
            e, rule, owner, already=True, detail=_("already a dnmail mailbox: nothing to do")
        )

    # -- the whole directory ---------------------------------------------------------
    def classify(self, entries: Iterable[FoundEntry]) -> list[Verdict]:
        """A verdict for every entry, in the order given."""
        verdicts = [self.first_verdict(e) for e in entries]
        # People claimed by several entries, or with a mailbox in dnmail already.
        person = lambda v: v.hr_id  # noqa: E731
        shared = _groups(verdicts, person)
        alone = _first_of(verdicts, person)
        for hr_id, indexes in shared.items():
            self._settle_claims(verdicts, hr_id, indexes)
        for hr_id in self.known.address_of.keys() & alone.keys() - shared.keys():
            self._settle_claims(verdicts, hr_id, [alone[hr_id]])
        # Addresses held by several entries, or by a mailbox in dnmail already.
        address = lambda v: v.entry.address  # noqa: E731
        shared = _groups(verdicts, address)
        alone = _first_of(verdicts, address)
        for a, indexes in shared.items():
            self._settle_address(verdicts, a, indexes)
        for a in self.known.owner_of_address.keys() & alone.keys() - shared.keys():
            self._settle_address(verdicts, a, [alone[a]])
        return verdicts

    def _settle_address(self, verdicts: list[Verdict], address: str, indexes: list[int]) -> None:
        """One address for several entries (or an entry and a dnmail mailbox): the first
        keeps it, the others are taken (the address is unique in dnmail)."""
        live = [i for i in indexes if verdicts[i].adoptable]
        if not live:
            return
        owner = self.known.owner_of_address.get(address)
        for i in live[1:] if owner is None else live:
            v = verdicts[i]
            who = owner or verdicts[live[0]].hr_id
            verdicts[i] = replace(
                v, match=MatchRule.TAKEN,
                detail=_("the address {address} is {who}'s already ({where})").format(
                    address=f"{address}@{self.domain}", who=who,
                    where=_("in dnmail") if owner else verdicts[live[0]].entry.dn),
            )

    def _settle_claims(self, verdicts: list[Verdict], hr_id: str, indexes: list[int]) -> None:
        has = self.known.address_of.get(hr_id)
        if has is not None:
            for i in indexes:
                verdicts[i] = replace(
                    verdicts[i], match=MatchRule.TAKEN,
                    detail=_("{hr_id} already has the mailbox {address} in dnmail (matched by "
                             "{rule})").format(hr_id=hr_id, address=f"{has}@{self.domain}",
                                               rule=verdicts[i].match),
                )
            return
        if len(indexes) == 1:
            return
        best = max(_STRENGTH[verdicts[i].match] for i in indexes)
        top = [i for i in indexes if _STRENGTH[verdicts[i].match] == best]
        if len(top) == 1:
            winner = verdicts[top[0]]
            for i in indexes:
                if i != top[0]:
                    verdicts[i] = replace(
                        verdicts[i], match=MatchRule.TAKEN,
                        detail=_("{hr_id} is matched to {dn} by {rule} (this entry only by "
                                 "{other})").format(hr_id=hr_id, dn=winner.entry.dn,
                                                    rule=winner.match, other=verdicts[i].match),
                    )
            return
        dns = "; ".join(verdicts[i].entry.dn for i in top)
        for i in indexes:
            v = verdicts[i]
            verdicts[i] = replace(
                v, match=MatchRule.AMBIGUOUS if i in top else MatchRule.TAKEN, hr_id=None,
                candidates=(hr_id,),
                detail=_("{n} entries match {hr_id} by {rule}: {dns}; link the right one by "
                         "hand").format(n=len(top), hr_id=hr_id, rule=verdicts[top[0]].match,
                                        dns=dns),
            )


def _first_of(verdicts: list[Verdict], key) -> dict[str, int]:
    """key → the index of the first adoptable verdict with it."""
    first: dict[str, int] = {}
    for i, v in enumerate(verdicts):
        if v.adoptable:
            first.setdefault(key(v), i)
    return first


def _groups(verdicts: list[Verdict], key) -> dict[str, list[int]]:
    """key → the indexes of the adoptable verdicts sharing it, for the keys held by
    more than one. Lists only for those few: a city has 100,000 entries."""
    first: dict[str, int] = {}
    shared: dict[str, list[int]] = {}
    for i, v in enumerate(verdicts):
        if not v.adoptable:
            continue
        k = key(v)
        j = first.setdefault(k, i)
        if j != i:
            shared.setdefault(k, [j]).append(i)
    return shared


def counts(verdicts: Iterable[Verdict]) -> dict[MatchRule, int]:
    """How many entries each rule decided (every rule listed, zeros included)."""
    c = dict.fromkeys(MatchRule, 0)
    for v in verdicts:
        c[v.match] += 1
    return c
