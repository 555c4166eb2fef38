"""Mailbox addresses: from Vietnamese full names, from requests, and their allocation.

DESIGN §2 ("Addresses from Vietnamese names"):

* The default pattern is the given name followed by the initials of the family and
  middle names, lowercase ASCII: ``Nguyễn Quang Thanh`` → ``thanhnq``,
  ``Lê Thị Mỹ Hạnh`` → ``hanhltm``, ``Trần Đức`` → ``duct``. A one-word name gives
  the word itself.
* Diacritics are removed (``đ``/``Đ`` → ``d``), spaces, apostrophes and hyphens are
  dropped and only ``[a-z0-9]`` is kept. NFC and NFD input, compatibility forms
  (full-width letters from an IME) and stray, non-breaking or zero-width spaces all
  give the same result.
* A name with letters that have no ASCII form (``李小龍``, ``Иван``, or one Cyrillic
  look-alike inside a Vietnamese name) is refused, never silently shortened.
* Every address — generated or requested — matches ``^[a-z][a-z0-9]{0,63}$``:
  letters and digits only (no dots, hyphens or underscores, the habit of the city's
  existing mailboxes), starting with a letter (an all-digit local part reads as a
  phone number or a numeric uid), at most 64 characters (RFC 5321). Generated bases
  are cut to 59 characters so that a numeric suffix of up to five digits still fits.
* When a base is taken (by a mailbox, active or locked, a unit account or a
  reserved name) the first free of ``base1``, ``base2``, … is used. The allocator is
  pure: callers hand it what is taken (database + directory); it never talks to a
  server.

Everything here is pure and raises only ``InvalidName`` (bad name or requested
address), ``ConfigError`` (bad pattern) or ``Refused`` (no free address left).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache

from dnmail.domain.text import clean_text
from dnmail.errors import ConfigError, InvalidName, Refused
from dnmail.i18n import _

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_PATTERN",
    "DEFAULT_RESERVED",
    "MAX_BASE_LENGTH",
    "MAX_LOCAL_LENGTH",
    "MAX_SUFFIX_DIGITS",
    "PATTERN_TOKENS",
    "address_base",
    "allocate",
    "allocate_many",
    "candidates",
    "check_pattern",
    "fold_word",
    "is_valid_local_part",
    "normalise_reserved",
    "split_name",
    "validate_local_part",
]

DEFAULT_DOMAIN = "danang.gov.vn"
DEFAULT_PATTERN = "{given}{initials}"
MAX_LOCAL_LENGTH = 64  # RFC 5321 §4.5.3.1.1
MAX_SUFFIX_DIGITS = 5  # base1 … base99999
MAX_BASE_LENGTH = MAX_LOCAL_LENGTH - MAX_SUFFIX_DIGITS  # 59

PATTERN_TOKENS: dict[str, str] = {
    "given": "the given name (last word)",
    "initials": "initials of the family and middle names",
    "family": "the family name (first word; empty for a one-word name)",
    "middle": "the middle names, run together",
    "family_initial": "initial of the family name",
    "middle_initials": "initials of the middle names",
    "given_initial": "initial of the given name",
}

# RFC 2142 mailbox names, the names mail and directory software expect to own, and
# the generic Vietnamese office mailboxes an agency keeps for itself. Stored folded
# (no-reply → noreply, mailer-daemon → mailerdaemon), as addresses are compared.
DEFAULT_RESERVED: frozenset[str] = frozenset(
    {
        # RFC 2142
        "info", "marketing", "sales", "support", "abuse", "noc", "security",
        "postmaster", "hostmaster", "usenet", "news", "webmaster", "www", "uucp", "ftp",
        # administrative and system accounts
        "admin", "administrator", "root", "sysadmin", "system", "operator", "daemon",
        "bin", "sys", "sync", "nobody", "guest", "anonymous", "user", "users",
        "test", "tester", "testing", "demo", "example",
        # mail software
        "noreply", "donotreply", "mailerdaemon", "mail", "email", "mailer", "smtp",
        "imap", "pop", "pop3", "mx", "dovecot", "postfix", "vmail", "clamav", "amavis",
        "spamassassin", "spam", "ham", "bounce", "bounces", "dmarc", "dmarcreports",
        "tlsrpt", "listserv", "majordomo", "owner", "autoconfig", "autodiscover",
        "ssladmin", "sslwebmaster", "ldap", "localhost", "help", "helpdesk", "contact",
        "all", "everyone", "staff",
        # generic Vietnamese office mailboxes
        "vanthu", "quantri", "hotro", "lienhe", "thongbao", "banbientap",
    }
)  # fmt: skip

_LOCAL_RE = re.compile(r"[a-z][a-z0-9]*")
_ECHO_LIMIT = 60
# Letters that look like ASCII but have no decomposition: Vietnamese đ/Đ, and the
# Icelandic eth (Ð/ð) and African D (Ɖ/ɖ) that legacy TCVN3/VNI converters put in
# place of Đ.
_EXTRA_FOLD = str.maketrans({"đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "ɖ": "d", "Ɖ": "d"})
# Horizontal whitespace (Zs) and line ends trimmed around a requested address.
_EDGE_SPACES = (
    "\t\n\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u202f\u205f\u3000"
)


# --- helpers -------------------------------------------------------------------------


def _echo(value: str, limit: int = _ECHO_LIMIT) -> str:
    """A name or address as it may appear in a message: quoted, cut to ``limit``
    characters, every control, format (RTL mark, zero-width…) or other unprintable
    character shown as an escape rather than raw."""
    text = str(value)
    cut = len(text) > limit
    text = text[:limit]
    shown = "".join(
        ch
        if ch.isprintable()
        else (f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        for ch in text
    )
    return f'"{shown}…"' if cut else f'"{shown}"'


def _show_char(ch: str) -> str:
    if ch == " ":
        return _("space")
    if ch.isprintable():
        return f"'{ch}'"
    return f"U+{ord(ch):04X}"


def _show_chars(chars: Iterable[str], limit: int = 8) -> str:
    distinct = list(dict.fromkeys(chars))
    shown = ", ".join(_show_char(c) for c in distinct[:limit])
    if len(distinct) > limit:
        shown += ", " + _("… ({n} more)").format(n=len(distinct) - limit)
    return shown


@lru_cache(maxsize=16384)
def fold_word(word: str) -> tuple[str, tuple[str, ...]]:
    """One word folded to ASCII: ``(ascii, unfoldable)``.

    ``ascii`` keeps ``[a-z0-9]`` after compatibility decomposition, removal of
    combining marks and case folding (``Đặng`` → ``dang``, ``H'Hen`` → ``hhen``,
    ``Ｎｇｕｙễｎ`` → ``nguyen``); punctuation, symbols and spaces are dropped.
    ``unfoldable`` lists the letters and digits that have no ASCII form (``李``,
    ``И``, ``ø``): the caller refuses such a word instead of dropping them.
    """
    text = unicodedata.normalize("NFKD", word.translate(_EXTRA_FOLD)).casefold()
    text = unicodedata.normalize("NFKD", text)
    kept: list[str] = []
    bad: list[str] = []
    for ch in text:
        if ("a" <= ch <= "z") or ("0" <= ch <= "9"):
            kept.append(ch)
        elif unicodedata.category(ch)[0] in "LN":
            bad.append(ch)
        # marks (diacritics), punctuation (' - .), symbols, separators: dropped
    return "".join(kept), tuple(bad)


def _name_parts(full_name: object) -> list[tuple[str, str]]:
    """The words of a name that carry letters or digits, as ``(clean word, ascii)``."""
    cleaned = clean_text(full_name)
    if not cleaned:
        raise InvalidName(_("the name is empty: no address can be made from it"))
    parts: list[tuple[str, str]] = []
    bad: list[str] = []
    for word in cleaned.split(" "):
        ascii_word, unfoldable = fold_word(word)
        bad.extend(unfoldable)
        if ascii_word:
            parts.append((word, ascii_word))
    if bad:
        raise InvalidName(
            _("the name {name} has letters with no Latin (ASCII) form ({chars}): no address "
              "can be made from it; give the address explicitly").format(
                name=_echo(cleaned), chars=_show_chars(bad))
        )
    if not parts:
        raise InvalidName(
            _("the name {name} has no letters or digits: no address can be made from it").format(
                name=_echo(cleaned))
        )
    return parts


# --- names → bases -------------------------------------------------------------------


def split_name(full_name: str) -> tuple[list[str], str]:
    """``(family and middle names, given name)`` of a Vietnamese full name.

    Words are returned cleaned (NFC, single-spaced), diacritics kept; words with no
    letters or digits (a stray "-" or ".") are left out. The given name is the last
    word. Raises InvalidName for a name no address can be made from.
    """
    parts = _name_parts(full_name)
    return [word for word, _ in parts[:-1]], parts[-1][0]


def check_pattern(pattern: str) -> tuple[tuple[str, str | None], ...]:
    """Parse an address pattern into ``(folded literal, token or None)`` pieces.

    Raises ConfigError for an unknown token, a format spec or conversion, unbalanced
    braces, a literal with non-Latin letters, or a pattern without any token.
    """
    if not isinstance(pattern, str):
        raise ConfigError(
            _("address pattern must be text, not {type}").format(type=type(pattern).__name__)
        )
    return _parse_pattern(pattern)


@lru_cache(maxsize=64)
def _parse_pattern(pattern: str) -> tuple[tuple[str, str | None], ...]:
    known = ", ".join("{" + t + "}" for t in PATTERN_TOKENS)
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise ConfigError(
            _("address pattern {pattern} is malformed ({error}); tokens: {known}").format(
                pattern=_echo(pattern), error=exc, known=known)
        ) from None
    pieces: list[tuple[str, str | None]] = []
    has_token = False
    for literal, field, spec, conversion in parsed:
        folded, bad = fold_word(literal)
        if bad:
            raise ConfigError(
                _("address pattern {pattern} has letters with no ASCII form ({chars})").format(
                    pattern=_echo(pattern), chars=_show_chars(bad))
            )
        if folded:
            pieces.append((folded, None))
        if field is None:
            continue
        if field not in PATTERN_TOKENS:
            raise ConfigError(
                _("address pattern {pattern} has an unknown token {token}; known tokens: {known}")
                .format(pattern=_echo(pattern), token="{" + _echo(field)[1:-1] + "}", known=known)
            )
        if spec or conversion:
            raise ConfigError(
                _("address pattern {pattern}: token {token} takes no format spec or conversion")
                .format(pattern=_echo(pattern), token="{" + field + "}")
            )
        pieces.append(("", field))
        has_token = True
    if not has_token:
        raise ConfigError(
            _("address pattern {pattern} has no token: everyone would get the same address; "
              "tokens: {known}").format(pattern=_echo(pattern), known=known)
        )
    return tuple(pieces)


def address_base(full_name: str, pattern: str = DEFAULT_PATTERN) -> str:
    """The address a person's name gives, before any numeric suffix.

    ``Nguyễn Quang Thanh`` → ``thanhnq``. The result matches ``^[a-z][a-z0-9]*$`` and
    has at most MAX_BASE_LENGTH (59) characters. Raises InvalidName when the name
    gives nothing usable (or something starting with a digit), ConfigError for a bad
    pattern.
    """
    pieces = check_pattern(pattern)
    folded = [ascii_word for _, ascii_word in _name_parts(full_name)]
    given = folded[-1]
    family = folded[0] if len(folded) > 1 else ""
    middle = folded[1:-1]
    values = {
        "given": given,
        "initials": "".join(p[0] for p in folded[:-1]),
        "family": family,
        "middle": "".join(middle),
        "family_initial": family[:1],
        "middle_initials": "".join(p[0] for p in middle),
        "given_initial": given[:1],
    }
    base = "".join(literal if token is None else values[token] for literal, token in pieces)
    if not base:
        raise InvalidName(
            _("the name {name} gives an empty address with the pattern {pattern}").format(
                name=_echo(clean_text(full_name)), pattern=_echo(pattern))
        )
    if not base[0].isalpha():
        raise InvalidName(
            _("the name {name} gives {base}, which does not start with a letter; give the "
              "address explicitly").format(name=_echo(clean_text(full_name)), base=_echo(base))
        )
    return base[:MAX_BASE_LENGTH]


# --- requested addresses -------------------------------------------------------------


def is_valid_local_part(text: str) -> bool:
    """True for a lowercase local part dnmail accepts: ``^[a-z][a-z0-9]{0,63}$``."""
    return (
        isinstance(text, str)
        and 0 < len(text) <= MAX_LOCAL_LENGTH
        and _LOCAL_RE.fullmatch(text) is not None
    )


def validate_local_part(text: str, *, domain: str = DEFAULT_DOMAIN) -> str:
    """A requested address (slip cell or command line) as a lowercase local part.

    Accepts ``thanhnq`` or ``ThanhNQ@Danang.gov.vn`` (surrounding spaces trimmed, the
    domain compared case-insensitively). Refuses, with an InvalidName that says
    exactly what is wrong and never echoes raw control characters: another domain,
    more than one ``@``, control or invisible characters (NUL, RTL marks, zero-width
    spaces), more than 64 characters, anything outside ``a-z0-9`` (dots, hyphens and
    underscores included: DESIGN §2 keeps only letters and digits), letters with
    diacritics (with a suggestion), and a first character that is not a letter.
    Reserved names are the allocator's business, not checked here.
    """
    if not isinstance(text, str):
        raise InvalidName(
            _("a requested address must be text, not {type}").format(type=type(text).__name__)
        )
    value = unicodedata.normalize("NFC", text.strip(_EDGE_SPACES))
    if not value:
        raise InvalidName(_("the requested address is empty"))
    what = _("requested address {address}").format(address=_echo(value))

    invisible = [ch for ch in value if not ch.isprintable() and ch not in _EDGE_SPACES]
    if invisible:
        raise InvalidName(
            _("{what} contains control or invisible characters ({chars}); type the address "
              "again by hand").format(what=what, chars=_show_chars(invisible))
        )

    local = _before_domain(value, what, domain)
    problems = _local_part_problems(local)
    if problems:
        raise InvalidName(
            _("{what} is refused: {problems}").format(what=what, problems="; ".join(problems))
        )
    result = local.lower()
    assert is_valid_local_part(result), result
    return result


def _before_domain(value: str, what: str, domain: str) -> str:
    """The local part of `value`: all of it, or what comes before `@domain`."""
    if "@" not in value:
        return value
    if value.count("@") > 1:
        raise InvalidName(_("{what} contains more than one '@'").format(what=what))
    local, _at, mail_domain = value.partition("@")
    if not mail_domain:
        raise InvalidName(_("{what} ends with '@' but names no domain").format(what=what))
    if not (mail_domain.isascii() and mail_domain.lower() == domain.lower()):
        raise InvalidName(
            _("{what} is not an address of {domain}").format(what=what, domain=domain)
        )
    if not local:
        raise InvalidName(_("{what} has nothing before '@'").format(what=what))
    return local


def _local_part_problems(local: str) -> list[str]:
    """Every reason `local` cannot be a local part (DESIGN §2: a-z0-9, a letter first,
    at most 64 characters), with a suggestion for letters with diacritics."""
    problems: list[str] = []
    if len(local) > MAX_LOCAL_LENGTH:
        problems.append(_("it is {n} characters long (at most {limit})").format(
            n=len(local), limit=MAX_LOCAL_LENGTH))
    non_ascii = [ch for ch in local if not ch.isascii()]
    foldable = [ch for ch in non_ascii if fold_word(ch)[0] and not fold_word(ch)[1]]
    others = [ch for ch in non_ascii if ch not in foldable]
    ascii_bad = [ch for ch in local if ch.isascii() and not ch.isalnum()]
    if foldable:
        message = _("it has letters with diacritics or non-ASCII forms ({chars})").format(
            chars=_show_chars(foldable))
        suggestion = fold_word(local)[0]
        if not others and not ascii_bad and is_valid_local_part(suggestion):
            message += _("; did you mean '{suggestion}'?").format(suggestion=suggestion)
        problems.append(message)
    if others:
        problems.append(_("it has non-ASCII characters ({chars})").format(
            chars=_show_chars(others)))
    if ascii_bad:
        problems.append(
            _("it contains {chars}: only letters a-z and digits 0-9 are allowed (no dots, "
              "hyphens, underscores or spaces)").format(chars=_show_chars(ascii_bad))
        )
    if local[0].isascii() and local[0].isdigit():
        problems.append(_("it must start with a letter"))
    return problems


# --- allocation ----------------------------------------------------------------------


def normalise_reserved(reserved: Iterable[str]) -> frozenset[str]:
    """Reserved names as addresses compare: ``No-Reply`` → ``noreply``."""
    if reserved is DEFAULT_RESERVED:
        return DEFAULT_RESERVED
    return _normalise_reserved(frozenset(reserved))


@lru_cache(maxsize=16)
def _normalise_reserved(reserved: frozenset[str]) -> frozenset[str]:
    return frozenset(f for f in (fold_word(str(r))[0] for r in reserved) if f)


def _check_base(base: str) -> None:
    if not is_valid_local_part(base):
        raise InvalidName(
            _("address base {base} is not a valid address: letters a-z and digits, starting "
              "with a letter, at most {limit} characters").format(
                base=_echo(base), limit=MAX_LOCAL_LENGTH)
        )


def _candidate(base: str, index: int) -> str:
    if index == 0:
        return base
    suffix = str(index)
    return base[: MAX_LOCAL_LENGTH - len(suffix)] + suffix


def candidates(base: str) -> Iterator[str]:
    """``base``, ``base1``, ``base2``, … — the GAM / Vietnamese-agency suffix habit.

    A base longer than 64 minus the suffix is cut to make room, so every candidate is
    at most 64 characters. Stops when the suffix alone would leave no room for the
    base (never reached in practice).
    """
    _check_base(base)
    index = 0
    while len(str(index)) < MAX_LOCAL_LENGTH:
        yield _candidate(base, index)
        index += 1


def allocate(
    base: str,
    is_taken: Callable[[str], bool],
    *,
    reserved: Iterable[str] = DEFAULT_RESERVED,
    limit: int = 100_000,
) -> str:
    """The first of ``candidates(base)`` that is neither reserved nor taken.

    ``is_taken`` answers for mailboxes (active or locked — an address is never
    reused), unit accounts and anything else the caller knows of. At most ``limit``
    candidates are tried; then Refused.
    """
    _check_base(base)
    reserved_set = normalise_reserved(reserved)
    for index in range(limit):
        candidate = _candidate(base, index)
        if candidate not in reserved_set and not is_taken(candidate):
            return candidate
    raise Refused(_no_free(base, limit))


def _no_free(base: str, limit: int) -> str:
    return _("no free address for {base}: the first {n} candidates are taken").format(
        base=_echo(base), n=limit
    )


def allocate_many(
    bases: Sequence[str],
    taken: set[str],
    *,
    reserved: Iterable[str] = DEFAULT_RESERVED,
    limit: int = 100_000,
) -> list[str]:
    """Addresses for a batch: each base, in order, gets its first free candidate.

    ``taken`` (preloaded by the caller from the database and the directory) is
    updated in place with every address handed out, so two people of one batch never
    share one. A per-base counter remembers where the previous search for the same
    base stopped: 10,000 identical bases cost O(n), not O(n²).
    """
    reserved_set = normalise_reserved(reserved)
    next_index: dict[str, int] = {}
    result: list[str] = []
    for base in bases:
        index = next_index.get(base)
        if index is None:
            _check_base(base)
            index = 0
        while True:
            if index >= limit:
                raise Refused(_no_free(base, limit))
            candidate = _candidate(base, index)
            index += 1
            if candidate not in reserved_set and candidate not in taken:
                break
        next_index[base] = index
        taken.add(candidate)
        result.append(candidate)
    return result


_TRAILING_DIGITS = re.compile(r"\d+$")


def base_of(address: str) -> str:
    """An address without its numeric suffix (thanhnq1 → thanhnq): what
    `mailboxes.base` holds, so that allocation finds every address of a base at once."""
    return _TRAILING_DIGITS.sub("", address) or address
