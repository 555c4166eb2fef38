"""`dnmail db grant`: a unit's own PostgreSQL role, held to its unit by row-level
security (migration 0002, docs/security.md).

The role gets the least a unit officer's commands need — read its unit's staff,
mailboxes, requests and slips and every unit's name, queue and withdraw requests,
import slips, append to the audit trail — and the map `unit_roles` says which unit it
acts for. The policies narrow each privilege to the unit's rows; a role that would
bypass them (a superuser, BYPASSRLS, the tables' owner) is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text

from dnmail.errors import BadInput, NotFound, Refused
from dnmail.i18n import _
from dnmail.services import audit
from dnmail.services.runtime import Runtime
from dnmail.services.units import get_unit

_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

#: What a unit role may do at all; row-level security then keeps it to its unit.
#: `{role}` is the quoted role name.
GRANTS = (
    "GRANT SELECT ON units TO {role}",
    "GRANT SELECT ON unit_roles TO {role}",
    "GRANT SELECT ON staff, mailboxes, former_addresses TO {role}",
    "GRANT SELECT, INSERT ON requests, slips, slip_signatures TO {role}",
    # withdraw: these columns only, and only to 'withdrawn' (policy requests_unit_withdraw)
    "GRANT UPDATE (state, handled_by, handled_at, updated_at) ON requests TO {role}",
    # the audit chain: append, and read the head (id and hash) to link to it
    "GRANT SELECT (id, hash), INSERT ON audit_events TO {role}",
)
SEQUENCES = (("requests", "id"), ("slips", "id"), ("slip_signatures", "id"))


@dataclass(frozen=True)
class GrantResult:
    role: str
    unit: str
    role_created: bool
    mapped: bool  # False: the role was already this unit's (grants re-applied)
    grants: tuple[str, ...]


def check_role_name(role: str) -> str:
    if not _ROLE.match(role):
        raise BadInput(
            _(
                "role name {role!r:.70} is not valid: use 1–63 lower-case letters, digits and "
                "underscores, starting with a letter or underscore (e.g. dnmail_snv)"
            ).format(role=role)
        )
    return role


def grant_unit_role(rt: Runtime, unit: str, *, role: str, create: bool = False) -> GrantResult:
    """Give `role` a unit officer's privileges on the shared database, for `unit` only.

    Idempotent for the same unit; a role already acting for another unit is refused.
    With `create`, a missing role is created (LOGIN, no password: set one with psql's
    \\password, or use client certificates).
    """
    role = check_role_name(role)
    if rt.db.dialect != "postgresql":
        raise BadInput(
            _(
                "dnmail db grant is for PostgreSQL: on SQLite there are no database roles, the "
                "database file's permissions are the boundary (docs/security.md)"
            )
        )
    if not rt.db.has_table("unit_roles"):
        raise Refused(
            _("the database has no unit_roles table yet: run `dnmail init` first")
        )
    q = rt.engine.dialect.identifier_preparer.quote(role)
    with rt.transaction() as s:
        u = get_unit(unit, session=s)
        found = s.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": role}
        ).first()
        created = False
        if found is None:
            if not create:
                raise NotFound(
                    _(
                        "database role {role} does not exist: create it "
                        "(CREATE ROLE {quoted} LOGIN) or pass --create-role"
                    ).format(role=role, quoted=q)
                )
            s.execute(text(f"CREATE ROLE {q} LOGIN"))
            created = True
        elif found.rolsuper or found.rolbypassrls:
            raise Refused(
                _(
                    "database role {role} is a superuser or has BYPASSRLS: row-level security "
                    "would not hold it to one unit"
                ).format(role=role)
            )
        owner = s.scalar(
            text("SELECT tableowner FROM pg_tables WHERE tablename = 'requests' "
                 "AND schemaname = current_schema()")
        )
        if owner == role:
            raise Refused(
                _(
                    "database role {role} owns dnmail's tables (IID's service role): the owner "
                    "is not subject to row-level security"
                ).format(role=role)
            )
        current = s.scalar(
            text("SELECT unit_code FROM unit_roles WHERE role_name = :r"), {"r": role}
        )
        if current is not None and current != u.code:
            raise Refused(
                _("database role {role} already acts for unit {unit}").format(
                    role=role, unit=current
                )
            )
        grants = [g.format(role=q) for g in GRANTS]
        for table, column in SEQUENCES:
            seq = s.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table, "c": column})
            if seq:
                grants.append(f"GRANT USAGE ON SEQUENCE {seq} TO {q}")
        for statement in grants:
            s.execute(text(statement))
        if current is None:
            s.execute(
                text("INSERT INTO unit_roles (role_name, unit_code) VALUES (:r, :u)"),
                {"r": role, "u": u.code},
            )
            audit.record(
                session=s, actor=rt.actor, action="db.grant", target=f"unit:{u.code}", at=rt.now(),
                details={"role": role, "role_created": created},
            )
        return GrantResult(role, u.code, created, current is None, tuple(grants))
