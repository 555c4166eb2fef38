"""What a command runs with: the configuration, the operator, the clock, and lazily
opened connections to the database and the directory.

The CLI builds one Runtime per invocation and hands it to one service. Every public
service takes the Runtime first and owns its transaction (`rt.transaction()`); the
building blocks several services compose inside one transaction take `session`
keyword-only instead, and never commit (services/__init__.py).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from dnmail import clock
from dnmail.config import Config
from dnmail.errors import NotInitialised

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from dnmail.db.session import Database
    from dnmail.directory.gateway import Directory
    from dnmail.services.operators import Operator, Right

DEFAULT_ACTOR = "iid-admin"
T = TypeVar("T")


@dataclass
class Runtime:
    config: Config
    actor: str = DEFAULT_ACTOR
    now: Callable[[], datetime] = clock.now
    #: Set by `identify()` (the CLI does it for every command): a unit officer's
    #: directory work then binds as the officer, so slapd's ACLs hold it to its unit.
    operator: Operator | None = None
    _db: Database | None = field(default=None, repr=False)
    _directory: Directory | None = field(default=None, repr=False)
    #: False once a query found no dnmail tables (before `dnmail init`).
    _initialised: bool | None = field(default=None, repr=False)

    # -- the database ---------------------------------------------------------------
    @property
    def db(self) -> Database:
        if self._db is None:
            from dnmail.db.session import Database
            from dnmail.services.audit import session_info

            self._db = Database(
                self.config.database.url,
                echo=self.config.database.echo,
                session_info=session_info(self.config),
            )
        return self._db

    @property
    def engine(self) -> Engine:
        return self.db.engine

    def transaction(
        self, *, readonly: bool = False, dry_run: bool = False
    ) -> AbstractContextManager[Session]:
        """One unit of work (`Database.transaction`): commits at the end of the block,
        rolls back on any error, and always for a dry run."""
        return self.db.transaction(readonly=readonly, dry_run=dry_run)

    def retrying(self, work: Callable[[], T]) -> T:
        """Run `work` again after a conflict with a concurrent run (`Database.retrying`)."""
        return self.db.retrying(work)

    # -- the operator ---------------------------------------------------------------
    def identify(self) -> Operator:
        """Who `actor` is: a unit officer (its account is a unit's official account)
        or a configured IID administrator; PermissionDenied for anyone else."""
        if self.operator is None:
            from dnmail.services.operators import identify

            o = self.config.operator
            self.operator = identify(
                self.actor,
                admins=o.admins,
                unit_accounts=self._unit_accounts(),
                mail_domain=self.config.directory.mail_domain,
            )
            self.actor = self.operator.account
        return self.operator

    def authorize(self, right: Right, *, unit: str | None = None) -> str | None:
        """The CLI's one check per command (services/operators.py): returns the unit
        the command is limited to (an officer's own; for IID, `unit` as given).

        Before `dnmail init` only `init` itself may run: every other command says so
        (exit 2) before it touches anything."""
        from dnmail.services.operators import Right, authorize

        limited = authorize(self.identify(), right, unit=unit)
        if right is not Right.INIT and self._initialised is False:
            raise NotInitialised(self._database_name())
        return limited

    def _unit_accounts(self) -> dict[str, str]:
        from dnmail.db.queries import unit_accounts

        try:
            with self.transaction(readonly=True) as s:
                accounts = unit_accounts(s)
        except NotInitialised:
            self._initialised = False
            return {}
        self._initialised = True
        return accounts

    def _database_name(self) -> str:
        from dnmail.db.session import redact_url

        return redact_url(self.config.database.url)

    # -- the directory --------------------------------------------------------------
    @property
    def directory(self) -> Directory:
        """The directory, bound as the service identity — or, for a unit officer, as the
        unit's own account `uid=<code>,ou=units,<base>` with the officer's password."""
        if self._directory is None:
            from dnmail.directory.gateway import Directory

            settings = self.config.directory
            op = self.operator
            if op is not None and op.is_officer and op.unit:
                from dnmail.directory.layout import Layout

                bind_dn = Layout.of(settings).unit_account_dn(op.unit)
                password = self.config.operator_password(op.account, bind_dn)
                self._directory = Directory.connect(settings, password, bind_dn=bind_dn)
            else:
                self._directory = Directory.connect(settings, self.config.bind_password())
        return self._directory

    def close(self) -> None:
        if self._directory is not None:
            self._directory.close()
            self._directory = None
        if self._db is not None:
            self._db.close()
