"""Alembic environment: the URL comes from dnmail's configuration, never from alembic.ini."""

from __future__ import annotations

from alembic import context

from dnmail.db.models import Base

config = context.config
target_metadata = Base.metadata

#: Tables migrations create on PostgreSQL only, outside the models (0002: the map of
#: unit database roles for row-level security); `alembic check` leaves them be.
POSTGRESQL_ONLY_TABLES = frozenset({"unit_roles"})


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    return not (type_ == "table" and reflected and name in POSTGRESQL_ONLY_TABLES)


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from dnmail.db.session import make_engine

        engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
