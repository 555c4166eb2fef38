"""Rows of a slip to the staff they name (DESIGN §2 "From slip rows to staff").

A row matches the staff of the slip's unit by full name (`name_key`: NFC, case and
spaces ignored); the department, then the phone, break ties. No match, or several,
is a problem that names the row and the candidates: never a guess. Pure functions
over plain data: the caller looks up the unit's staff by name and passes them in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from dnmail.domain.slip import COLUMN_LABELS, SlipRow
from dnmail.domain.text import fold, name_key
from dnmail.errors import Problem
from dnmail.i18n import _

#: The slip's columns, as problems name them (Phụ lục II headers).
NAME_COLUMN = COLUMN_LABELS["full_name"]
DEPARTMENT_COLUMN = COLUMN_LABELS["department"]
PHONE_COLUMN = COLUMN_LABELS["phone"]
ADDRESS_COLUMN = COLUMN_LABELS["address"]

@dataclass(frozen=True)
class StaffCandidate:
    """A staff member of the unit whom a row may name."""

    hr_id: str
    full_name: str
    department: str
    phone: str
    hr_status: str

    def describe(self) -> str:
        department = self.department or _("no department")
        phone = self.phone or _("no phone")
        return f"{self.hr_id} ({department}, {phone})"


Match = tuple[SlipRow, StaffCandidate]


def row_name(row: SlipRow) -> str:
    """'page P row R' for a PDF slip, 'row R' for a sheet."""
    if row.page is not None:
        return _("page {page} row {row}").format(page=row.page, row=row.row)
    return _("row {row}").format(row=row.row)


def row_problem(message: str, row: SlipRow, *, file_name: str, column: str | None) -> Problem:
    """A problem at this row (its sheet or page) and column of the slip."""
    return Problem(
        message, file=file_name, sheet=row.sheet, page=row.page, row=row.row, column=column
    )


def _memo(func: Callable[[str], str]) -> Callable[[str], str]:
    cache: dict[str, str] = {}

    def cached(text: str) -> str:
        value = cache.get(text)
        if value is None:
            value = cache[text] = func(text)
        return value

    return cached


def break_tie(
    row: SlipRow, candidates: Sequence[StaffCandidate], fold_: Callable[[str], str] = fold
) -> StaffCandidate | None:
    """The one candidate the row's department, then its phone, leave; None when not one."""
    if len(candidates) == 1:
        return candidates[0]
    left = list(candidates)
    if row.department:
        wanted = fold_(row.department)
        left = [c for c in left if fold_(c.department) == wanted]
    if len(left) > 1 and row.phone:
        left = [c for c in left if c.phone == row.phone]
    return left[0] if len(left) == 1 else None


def _nobody(row: SlipRow, unit: str, file_name: str) -> Problem:
    return row_problem(
        _("nobody named {name!r} among the staff of unit {unit} (check the spelling and the "
          "accents, or import the HR roster first)").format(name=row.full_name, unit=unit),
        row, file_name=file_name, column=NAME_COLUMN,
    )


def _ambiguous(
    row: SlipRow, candidates: Sequence[StaffCandidate], unit: str, file_name: str
) -> Problem:
    listed = "; ".join(c.describe() for c in candidates)
    if row.department and row.phone:
        said = _(
            "the department {department!r} and phone {phone} on the slip do not single out "
            "one of them"
        )
    elif row.department:
        said = _("the department {department!r} on the slip does not single out one of them")
    elif row.phone:
        said = _("the phone {phone} on the slip does not single out one of them")
    else:
        said = _("the slip gives no department or phone")
    said = said.format(department=row.department, phone=row.phone)
    return row_problem(
        _("{n} staff of unit {unit} are named {name!r}: {listed}; {said}. Write the person's "
          "department (and phone) as in the HR record").format(
            n=len(candidates), unit=unit, name=row.full_name, listed=listed, said=said),
        row, file_name=file_name, column=NAME_COLUMN,
    )


def _differences(
    row: SlipRow, person: StaffCandidate, file_name: str, fold_: Callable[[str], str]
) -> list[Problem]:
    """Warnings: the slip's department or phone differs from the HR record."""
    warnings = []
    if row.department and fold_(row.department) != fold_(person.department):
        warnings.append(row_problem(
            _("{name} ({hr_id}): department {department!r} on the slip, {recorded!r} in the "
              "HR record").format(name=person.full_name, hr_id=person.hr_id,
                                  department=row.department,
                                  recorded=person.department or _("none")),
            row, file_name=file_name, column=DEPARTMENT_COLUMN,
        ))
    if row.phone and person.phone and row.phone != person.phone:
        warnings.append(row_problem(
            _("{name} ({hr_id}): phone {phone} on the slip, {recorded} in the HR record").format(
                name=person.full_name, hr_id=person.hr_id, phone=row.phone,
                recorded=person.phone),
            row, file_name=file_name, column=PHONE_COLUMN,
        ))
    return warnings


def match_rows(
    rows: Sequence[SlipRow],
    staff: Mapping[str, Sequence[StaffCandidate]],
    *,
    unit: str,
    file_name: str,
    keys: Sequence[str] | None = None,
) -> tuple[list[Match], list[Problem], list[Problem]]:
    """Each row to exactly one staff member: (matches, problems, warnings).

    `staff`: the unit's staff by name_key. The name decides; among several people of
    that name the department, then the phone, must leave exactly one. A department
    or phone that differs from the HR record of the one person named is only a
    warning (the slip may be out of date). `keys`: the rows' name_key, when the
    caller has them already.
    """
    matches: list[Match] = []
    problems: list[Problem] = []
    warnings: list[Problem] = []
    first_row_of: dict[str, SlipRow] = {}
    fold_ = _memo(fold)  # a slip names a handful of departments, thousands of times
    if keys is None:
        keys = [name_key(r.full_name) for r in rows]
    for row, key in zip(rows, keys, strict=True):
        candidates = staff.get(key, ())
        if not candidates:
            problems.append(_nobody(row, unit, file_name))
            continue
        chosen = break_tie(row, candidates, fold_)
        if chosen is None:
            problems.append(_ambiguous(row, candidates, unit, file_name))
            continue
        earlier = first_row_of.get(chosen.hr_id)
        if earlier is not None:
            problems.append(row_problem(
                _("{name} ({hr_id}) is listed twice: {first} and {second}; keep one row").format(
                    name=chosen.full_name, hr_id=chosen.hr_id, first=row_name(earlier),
                    second=row_name(row)),
                row, file_name=file_name, column=NAME_COLUMN,
            ))
            continue
        first_row_of[chosen.hr_id] = row
        if len(candidates) == 1:
            warnings += _differences(row, chosen, file_name, fold_)
        matches.append((row, chosen))
    return matches, problems, warnings
