"""Vietnamese phone numbers as they come out of spreadsheets.

A mobile number typed into Excel as a number loses its leading 0 (0905123456 becomes
905123456, sometimes 905123456.0): it is restored and the caller warns. Numbers are
stored as digits only, with the national leading 0 (+84 / 84 prefixes folded).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from dnmail.i18n import _

_SEPARATORS = re.compile(r"[\s.\-()/]+")
#: No Vietnamese number has 13 digits, with or without its country code.
_TOO_BIG = 10**12


@dataclass(frozen=True)
class Phone:
    number: str  # digits, national form ("0905123456"), or "" when empty
    restored_zero: bool = False  # the leading 0 was missing and has been put back


class BadPhone(ValueError):
    pass


def parse_phone(value: object) -> Phone:
    """Read a phone cell (str, int or float) as a Vietnamese number.

    Raises BadPhone with a human reason for anything that is not a plausible number.
    """
    text, shown = _cell_text(value)
    if text == "":
        return Phone("")
    text = _SEPARATORS.sub("", text)
    if text.startswith("+84"):
        text = "0" + text[3:]
    elif text.startswith("0084"):
        text = "0" + text[4:]
    if not text.isdigit() or not text.isascii():
        raise BadPhone(_("{value!r} is not a phone number").format(value=shown))
    restored = False
    if text.startswith("84") and len(text) == 11:
        text = "0" + text[2:]
    elif not text.startswith("0") and len(text) in (9, 10):
        # 9 digits: a mobile (9xx…/3xx…/7xx…/8xx…/5xx…) or a landline (236…) that lost its 0;
        # 10 digits without 0: an 11-digit landline (0236 xxx xxxx) that lost its 0.
        text = "0" + text
        restored = True
    if not 10 <= len(text) <= 11:
        raise BadPhone(
            _("{value!r} has {n} digits; a Vietnamese number has 10 or 11").format(
                value=shown, n=len(text)
            )
        )
    if not text.startswith("0"):
        raise BadPhone(
            _("{value!r} is not a Vietnamese number (0…, +84… or 84…)").format(value=shown)
        )
    return Phone(text, restored)


def _cell_text(value: object) -> tuple[str, str]:
    """The cell as text ("" when empty) and as messages show it; a number cell must be
    a whole, non-negative number with no more digits than a phone number has."""
    if value is None:
        return "", ""
    if isinstance(value, bool):
        raise BadPhone(_("not a phone number"))
    if isinstance(value, float):
        # A number cell: NaN, infinities, fractions and negative numbers are no phone
        # number; neither is anything with more digits than a number can have.
        if not math.isfinite(value) or value < 0 or not value.is_integer() or value >= _TOO_BIG:
            raise BadPhone(_("not a phone number"))
        value = int(value)
    if isinstance(value, int) and not 0 <= value < _TOO_BIG:
        raise BadPhone(_("not a phone number"))
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():  # a number that went through float
        text = text[:-2]
    return text, str(value)[:40]
