"""One error hierarchy with one exit code per error (DESIGN §4).

Exit codes, for cron:
  0 all done; 1 a failure that changed nothing; 2 bad usage or bad input;
  3 a batch that finished with some items failed; 4 the database or the directory
  could not be reached.

Every message is meant for the operator: it says what is wrong and, where it can,
where (file, sheet, row, column, server). No message ever carries a password.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dnmail.domain.results import omitted_if_none
from dnmail.i18n import _, ngettext


class ExitCode:
    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    PARTIAL = 3
    UNAVAILABLE = 4


class DnmailError(Exception):
    """Base of every error dnmail raises on purpose."""

    exit_code = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


# --- bad usage or bad input (exit 2) -------------------------------------------------


class BadInput(DnmailError):
    exit_code = ExitCode.BAD_INPUT


class ConfigError(BadInput):
    """The configuration file is missing, unreadable or has a bad key."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an input file, with where it is."""

    message: str
    file: str | None = omitted_if_none()
    sheet: str | None = omitted_if_none()
    page: int | None = omitted_if_none()
    row: int | None = omitted_if_none()
    column: str | None = omitted_if_none()

    def where(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.sheet:
            parts.append(_("sheet {sheet!r}").format(sheet=self.sheet))
        if self.page is not None:
            parts.append(_("page {page}").format(page=self.page))
        if self.row is not None:
            parts.append(_("row {row}").format(row=self.row))
        if self.column:
            parts.append(_("column {column!r}").format(column=self.column))
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message


class InvalidFile(BadInput):
    """An input file (roster, slip) is refused; carries every problem found."""

    def __init__(
        self, file: str, problems: list[Problem] | None = None, message: str | None = None
    ):
        self.file = file
        self.problems = list(problems or [])
        if message is None:
            if len(self.problems) == 1:
                message = str(self.problems[0])
            else:
                n = len(self.problems)
                message = ngettext("{file}: {n} problem", "{file}: {n} problems", n).format(
                    file=file, n=n
                )
                shown = self.problems[:20]
                message += "".join(f"\n  - {p}" for p in shown)
                if n > len(shown):
                    more = n - len(shown)
                    message += "\n  " + ngettext("… and {n} more", "… and {n} more", more).format(
                        n=more
                    )
        super().__init__(message)


class UnsafeFile(InvalidFile):
    """A file refused before parsing: zip bomb, XML with a DOCTYPE, not the format it claims."""


class InvalidName(BadInput):
    """A name or requested address that cannot become a mailbox address."""


class NotFound(BadInput):
    """A unit, staff member, request or mailbox named on the command line does not exist."""


class NotInitialised(BadInput):
    """The database has no dnmail schema yet: `dnmail init` comes first."""

    def __init__(self, database: str):
        self.database = database
        super().__init__(
            _("the database {database} has no dnmail tables yet: run `dnmail init` first").format(
                database=database
            ),
            hint=_("`dnmail init` creates the schema and the directory's branches"),
        )


# --- a failure that changed nothing (exit 1) ----------------------------------------


class Refused(DnmailError):
    """The operation is not allowed in the current state (e.g. a second pending request)."""


class PermissionDenied(Refused):
    """The operator lacks the right for this action."""


class SafetyBrake(Refused):
    """A batch would lock or cancel too many mailboxes at once; nothing was changed."""


class Conflict(Refused):
    """Another run wrote the same rows at the same moment (a unique key taken, or a
    deadlock PostgreSQL broke by failing this transaction). Nothing of this unit of work
    was kept; running it again is safe (`Database.retrying` does so where it may)."""


@dataclass(frozen=True)
class SignatureProblem:
    """Why a signed file does not count: about one embedded signature (its form field
    and its signer), or, with no field name, about the file as a whole."""

    reasons: tuple[str, ...]
    field_name: str | None = None  # the signature's form field, e.g. 'Sig1'
    signer: str | None = None  # the signer's subject (RFC 4514), when its certificate was read

    def __str__(self) -> str:
        reasons = "; ".join(self.reasons)
        if self.field_name is None:
            return reasons
        if self.signer:
            return _("signature {field!r} by {signer}: {reasons}").format(
                field=self.field_name, signer=self.signer, reasons=reasons
            )
        return _("signature {field!r}: {reasons}").format(field=self.field_name, reasons=reasons)


class SignatureInvalid(BadInput):
    """A signed PDF slip whose signature does not count (DESIGN §5).

    `problems` says why, one SignatureProblem per signature at fault or about the file
    as a whole; the message is made from them. `reports` holds the check of every
    embedded signature (dnmail.signatures.checks.SignatureReport), for diagnostics.
    """

    def __init__(
        self,
        file: str,
        problems: Sequence[SignatureProblem],
        *,
        reports: Sequence[object] = (),
        hint: str | None = None,
    ):
        self.file = file
        self.problems = tuple(problems)
        self.reports = tuple(reports)
        if len(self.problems) == 1:
            message = f"{file}: {self.problems[0]}"
        else:
            message = _("{file}: the signed slip does not count:").format(file=file) + "".join(
                f"\n  - {problem}" for problem in self.problems
            )
        super().__init__(message, hint=hint)


# --- directory and database ---------------------------------------------------------


class Unavailable(DnmailError):
    exit_code = ExitCode.UNAVAILABLE


class DirectoryUnavailable(Unavailable):
    """The LDAP server could not be reached or refused our bind."""


class DatabaseUnavailable(Unavailable):
    """The SQL database could not be reached."""


class DirectoryError(DnmailError):
    """The directory answered an operation with an error."""


class EntryExists(DirectoryError):
    pass


class NoSuchEntry(DirectoryError):
    pass


class InsufficientAccess(DirectoryError, PermissionDenied):
    pass


class AuditChainBroken(DnmailError):
    exit_code = ExitCode.PARTIAL


class NotRecorded(DnmailError):
    """A change was made (a password set) but the database could not record it: the
    password is shown or in its handout, never lost (exit 3: done in part)."""

    exit_code = ExitCode.PARTIAL
