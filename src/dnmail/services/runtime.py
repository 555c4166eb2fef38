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

DEFAULT_ACTOR = "iid-admin"


@dataclass
class Runtime:
    config: Config
    actor: str = DEFAULT_ACTOR
    now: Callable[[], datetime] = clock.now
    _engine: Engine | None = field(default=None, repr=False)
    _directory: Directory | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from dnmail.db.session import make_engine

            self._engine = make_engine(self.config.database.url, echo=self.config.database.echo)
        return self._engine

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

    def session_factory(self):
        from dnmail.db.session import make_sessionmaker

        return make_sessionmaker(self.engine)

    @property
    def directory(self) -> Directory:
        if self._directory is None:
            from dnmail.directory.gateway import Directory

            self._directory = Directory.connect(self.config.directory, self.config.bind_password())
        return self._directory

    def close(self) -> None:
        if self._directory is not None:
            self._directory.close()
            self._directory = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
