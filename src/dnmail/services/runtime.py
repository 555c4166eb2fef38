"""What a command runs with: the configuration, the operator, the clock, and lazily
opened connections to the database and the directory.

The CLI builds one Runtime per invocation; services receive a session (the caller owns
the transaction) and, when they need it, the directory gateway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from dnmail import clock
from dnmail.config import Config

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from dnmail.directory.gateway import Directory
    from dnmail.services.operators import Operator, Right

DEFAULT_ACTOR = "iid-admin"


@dataclass
class Runtime:
    config: Config
    actor: str = DEFAULT_ACTOR
    now: Callable[[], datetime] = clock.now
    #: Set by `identify()` (the CLI does it for every command): a unit officer's
    #: directory work then binds as the officer, so slapd's ACLs hold it to its unit.
    operator: Operator | None = None
    _engine: Engine | None = field(default=None, repr=False)
    _directory: Directory | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from dnmail.db.session import make_engine, sqlite_path

            path = sqlite_path(self.config.database.url)
            if path is not None:
                from dnmail.config import check_database_file

                check_database_file(path)
            self._engine = make_engine(self.config.database.url, echo=self.config.database.echo)
        return self._engine

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
        the command is limited to (an officer's own; for IID, `unit` as given)."""
        from dnmail.services.operators import authorize

        return authorize(self.identify(), right, unit=unit)

    def _unit_accounts(self) -> dict[str, str]:
        from sqlalchemy import inspect, select

        from dnmail.db.models import Unit
        from dnmail.db.session import translate_db_errors

        with translate_db_errors(self.config.database.url):
            if not inspect(self.engine).has_table(Unit.__tablename__):
                return {}  # before `dnmail init`: nobody is a unit officer yet
        with self.session(readonly=True) as s:
            return {a.lower(): c for c, a in s.execute(select(Unit.code, Unit.account)) if a}

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on any error.

        `readonly` units of work (lists, exports) take no write lock on SQLite.
        """
        from sqlalchemy.orm import Session

        from dnmail.db.session import translate_db_errors

        bind = self.engine.execution_options(dnmail_readonly=True) if readonly else self.engine
        with translate_db_errors(self.config.database.url):
            with Session(bind, expire_on_commit=False) as s, s.begin():
                yield s

    @property
    def directory(self) -> Directory:
        """The directory, bound as the service identity — or, for a unit officer, as the
        unit's own account `uid=<code>,ou=units,<base>` with the officer's password."""
        if self._directory is None:
            from dnmail.directory.gateway import Directory

            settings = self.config.directory
            op = self.operator
            if op is not None and op.is_officer and op.unit:
                from dnmail.directory.dn import Layout

                bind_dn = Layout(settings.base_dn).unit_account_dn(op.unit)
                password = self.config.operator_password(op.account, bind_dn)
                self._directory = Directory.connect(settings, password, bind_dn=bind_dn)
            else:
                self._directory = Directory.connect(settings, self.config.bind_password())
        return self._directory

    def close(self) -> None:
        if self._directory is not None:
            self._directory.close()
            self._directory = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
