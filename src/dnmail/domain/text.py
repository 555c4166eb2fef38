"""Text normalisation shared by every reader: names, headers, free text.

Vietnamese text arrives in NFC or NFD, with stray and non-breaking spaces, zero-width
characters and the odd right-to-left mark pasted from a web page. Everything is
brought to NFC with single spaces before it is compared or stored.
"""

from __future__ import annotations

import re
import unicodedata

from dnmail.i18n import _

_SPACES = re.compile(r"\s+")
# Format characters (Cf: zero-width space/joiners, RTL/LTR marks, BOM) and controls
# other than whitespace carry no meaning in a name or header and are dropped.
_DROP_CATEGORIES = {"Cf", "Cc", "Co", "Cs"}


def clean_text(value: object) -> str:
    """NFC, control and format characters dropped, whitespace collapsed, stripped."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", str(value))
    # isprintable() is False for every Cc/Cf/Co/Cs character (and for other spaces than
    # " "): one C-speed check spares the per-character look-up for nearly every name.
    if not text.isprintable() and any(
        unicodedata.category(ch) in _DROP_CATEGORIES and not ch.isspace() for ch in text
    ):
        text = "".join(
            ch for ch in text if ch.isspace() or unicodedata.category(ch) not in _DROP_CATEGORIES
        )
    return _SPACES.sub(" ", text).strip()


def fold(value: object) -> str:
    """A key for loose comparison: no diacritics, đ → d, lowercase, no spaces or punctuation.

    Used for header matching ("Họ và tên", "HO VA TEN", "họ  và\\ntên" all fold to
    "hovaten").
    """
    text = unicodedata.normalize("NFD", clean_text(value).replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def name_key(value: object) -> str:
    """The key full names are matched by (DESIGN §2): NFC, case- and space-insensitive.

    Diacritics are kept: "Lê Thị Hà" and "Lê Thị Hạ" are different people.
    """
    return clean_text(value).casefold().replace(" ", "")


#: Besides letters (any script, with their combining marks), what a person's name may
#: hold: spaces, apostrophes (' ’ ʼ), hyphens (- ‐) and dots. Nothing else: a name
#: reaches the directory (cn, sn, givenName) and every export.
NAME_PUNCTUATION = frozenset(" '\u2019\u02bc-\u2010.")
_MARKS = frozenset(("Mn", "Mc", "Me"))


def person_name_problem(name: str) -> str | None:
    """Why `name` (already cleaned: NFC, single spaces) is not a person's name, or None.

    A name starts with a letter and holds letters (any script, normalised), spaces,
    apostrophes, hyphens and dots only — so `=1+1 Nguyễn`, whatever invisible
    characters came before the `=` (a tab, spaces, U+200B, U+3000, a backspace), is
    refused, and so is any other sign a spreadsheet or a directory could act on.
    """
    if not name:
        return _("the name is empty")
    if name.replace(" ", "").isalpha():  # the common name: letters and spaces only
        return None
    if not name[0].isalpha():
        return _(
            "{name!r} is not a person's name: it starts with {char} (a name starts with a letter)"
        ).format(name=name[:60], char=_shown(name[0]))
    for ch in name:
        if ch.isalpha() or ch in NAME_PUNCTUATION or unicodedata.category(ch) in _MARKS:
            continue
        return _(
            "{name!r} is not a person's name: {char} is not allowed "
            "(only letters, spaces, apostrophes, hyphens and dots)"
        ).format(name=name[:60], char=_shown(ch))
    return None


def _shown(ch: str) -> str:
    return repr(ch) if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}"
