"""DNs built from parts, never by string concatenation of raw values (RFC 4514), and
filter values escaped (RFC 4515). Nothing from a file or a name reaches LDAP otherwise.
"""

from __future__ import annotations

from dnmail.errors import InvalidName

_DN_SPECIAL = set(',+"\\<>;=')


def check_value(value: str, *, what: str = "value") -> str:
    """Refuse values no directory string may hold (NUL and other C0 controls)."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise InvalidName(f"{what} contains a control character (e.g. a NUL byte)")
    return value


def escape_rdn_value(value: str) -> str:
    """Escape an attribute value for use inside an RDN (RFC 4514 §2.4)."""
    check_value(value, what="DN value")
    if value == "":
        raise InvalidName("empty DN value")
    out = []
    for i, ch in enumerate(value):
        if ch in _DN_SPECIAL or (ch == "#" and i == 0) or (ch == " " and i in (0, len(value) - 1)):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def rdn(attr: str, value: str) -> str:
    return f"{attr}={escape_rdn_value(value)}"


def join(*parts: str) -> str:
    """Join already-escaped RDNs/DNs."""
    return ",".join(p for p in parts if p)


def escape_filter_value(value: str) -> str:
    """Escape a value for a search filter (RFC 4515 §3): * ( ) \\ and NUL."""
    out = []
    for ch in value:
        if ch in "*()\\" or ch == "\x00":
            out.append(f"\\{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def eq(attr: str, value: str) -> str:
    return f"({attr}={escape_filter_value(value)})"


def any_of(attr: str, values) -> str:
    values = list(values)
    if len(values) == 1:
        return eq(attr, values[0])
    return "(|" + "".join(eq(attr, v) for v in values) + ")"


def prefix(attr: str, value: str) -> str:
    return f"({attr}={escape_filter_value(value)}*)"


class Layout:
    """Where things live in the directory (docs/directory-layout.md)."""

    def __init__(self, base_dn: str):
        self.base_dn = base_dn
        self.people = join("ou=people", base_dn)
        self.units = join("ou=units", base_dn)
        self.system = join("ou=system", base_dn)
        self.admins = join("ou=admins", base_dn)

    def unit_branch(self, unit_code: str) -> str:
        return join(rdn("ou", unit_code), self.people)

    def mailbox_dn(self, unit_code: str, local: str) -> str:
        return join(rdn("uid", local), self.unit_branch(unit_code))

    def unit_account_dn(self, unit_code: str) -> str:
        return join(rdn("uid", unit_code), self.units)

    def unit_of(self, dn: str) -> str | None:
        """The unit code of a mailbox DN under ou=people, or None."""
        from ldap3.utils.dn import parse_dn

        try:
            parts = parse_dn(dn)
        except Exception:
            return None
        people = parse_dn(self.people)
        if len(parts) != len(people) + 2:
            return None
        if [(a.lower(), v.lower()) for a, v, _ in parts[2:]] != [
            (a.lower(), v.lower()) for a, v, _ in people
        ]:
            return None
        attr, value, _ = parts[1]
        return value if attr.lower() == "ou" else None
