"""DNs built from parts, never by string concatenation of raw values (RFC 4514), and
filter values escaped (RFC 4515). Nothing from a file or a name reaches LDAP otherwise.
"""

from __future__ import annotations

from dnmail.errors import InvalidName
from dnmail.i18n import N_, _, later

_DN_SPECIAL = set(',+"\\<>;=')


def check_value(value: str, *, what: str = N_("value")) -> str:
    """Refuse values no directory string may hold (NUL and other C0 controls)."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise InvalidName(
            _("{what} contains a control character (e.g. a NUL byte)").format(what=later(what))
        )
    return value


def escape_rdn_value(value: str) -> str:
    """Escape an attribute value for use inside an RDN (RFC 4514 §2.4)."""
    check_value(value, what=N_("DN value"))
    if value == "":
        raise InvalidName(_("empty DN value"))
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
