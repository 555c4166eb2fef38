"""Text normalisation shared by every reader: names, headers, free text.

Vietnamese text arrives in NFC or NFD, with stray and non-breaking spaces, zero-width
characters and the odd right-to-left mark pasted from a web page. Everything is
brought to NFC with single spaces before it is compared or stored.
"""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
# Format characters (Cf: zero-width space/joiners, RTL/LTR marks, BOM) and controls
# other than whitespace carry no meaning in a name or header and are dropped.
_DROP_CATEGORIES = {"Cf", "Cc", "Co", "Cs"}


def clean_text(value: object) -> str:
    """NFC, control and format characters dropped, whitespace collapsed, stripped."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", str(value))
    if any(unicodedata.category(ch) in _DROP_CATEGORIES and not ch.isspace() for ch in text):
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
