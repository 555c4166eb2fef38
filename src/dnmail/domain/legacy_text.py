"""Vietnamese typed with the 8-bit encodings of older offices, read back as Unicode.

Rosters and slips from older offices were typed with TCVN3 (ABC: the .VnTime, .VnArial …
fonts) or VNI (VNI-Times …). Those files hold 8-bit bytes that only the font turns into
Vietnamese; an .xlsx stores them as the Windows code page (cp1252) characters of the
bytes, and a .csv read as cp1252 gives the same characters. So "Nguyễn" arrives as
"NguyÔn" (TCVN3) or "Nguyeãn" (VNI). This module works on that text, never on bytes:

- ``to_unicode(text, "tcvn3" | "vni")`` gives Unicode NFC, ``from_unicode`` the inverse
  (tests make legacy text from real names with it);
- ``detect(cells)`` decides for one column whether it is ASCII, Unicode, TCVN3 or VNI,
  or says it cannot tell ("unclear"): it never guesses;
- ``decode_cp1258(data)`` reads Windows-1258 bytes.

Where the tables come from
--------------------------
TCVN3 is the VN3 subset of TCVN 5712:1993 (the national standard "Công nghệ thông tin -
Bộ mã chuẩn 8-bit kí tự Việt dùng trong trao đổi thông tin"): the 67 lower-case letters
with their tones, and only seven capitals of their own (Ă Â Ê Ô Ơ Ư Đ, 0xA1-0xA7). Every
byte below agrees with the VN1 table of the same standard as glibc's iconv implements
it (``iconv -f TCVN5712-1``) on the positions VN3 uses; VN1's extra capitals (in the C0
and 0x80-0x9F ranges and a few upper-half slots) are not part of VN3 and are not mapped.
VNI is the VNI-Windows encoding of the VNI-Times fonts (VNI Software, no national
standard): a base letter followed by one mark character carrying the shape (circumflex,
breve) and/or the tone; ơ ư đ and the i-letters and ỵ are single characters. Capitals use
the upper-case base and the upper-case mark (the mark's byte minus 0x20). The table was
cross-checked against public converters' tables. All bytes of both encodings are in
0xA1-0xFE, where cp1252 and latin-1 agree, so the reading as either gives the same text.

Capital letters in TCVN3
------------------------
TCVN3 has no code for a capital with a tone (Ấ, Ễ …) nor for capital Á À …: offices
typed them with the matching "H" font (.VnTimeH), in which the lower-case bytes draw
capitals. The case of such a letter is not in the text, so ``to_unicode`` restores it
from the letters around it whose case is known (ASCII letters and the seven capitals):

1. a cell whose known-case letters are all capitals, one of them at least inside a word,
   was typed in capitals: every letter is upper case ("NGUYÔN V¡N A" → "NGUYỄN VĂN A";
   but "Lª H¹" → "Lê Hạ", as title case and capitals cannot be told apart there);
2. otherwise a word whose known-case letters (at least two) are all capitals is upper
   case, other letters inside a word are lower case ("NguyÔn" → "Nguyễn", "§ç" → "Đỗ");
3. a word that begins with such a letter is capitalised when it begins the cell or when
   every other word of the cell begins with a capital, as names do ("¸nh" → "Ánh" in
   "NguyÔn ThÞ ¸nh", but "ñy" → "ủy" in "V¨n phßng ñy ban").

``from_unicode(…, "tcvn3")`` writes a capital without a code of its own as the lower-case
byte, as the H font did. So text in title case, in lower case inside words, or in
capitals round-trips; what cannot is the case TCVN3 never recorded: a lone word in
capitals with a single known-case letter ("LÝ", read back "Lý"), or a lower-case word
that starts a cell with a toned vowel ("ánh …", read back "Ánh …").

VNI records every case; a letter takes the case of its base letter.

Windows-1258 CSV
----------------
cp1258 writes some toned letters precomposed and the others as a base letter plus a
COMBINING tone mark (U+0300, U+0301, U+0303, U+0309, U+0323): Python's codec decodes
them faithfully and NFC composes them, so ``decode_cp1258`` is exactly
``data.decode("cp1258")`` followed by NFC, nothing more.

Callers: give ``detect`` and ``to_unicode`` the cells as read, before ``clean_text``:
TCVN3's ư is U+00AD (SOFT HYPHEN, a format character clean_text drops).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

__all__ = [
    "ENCODINGS",
    "Detection",
    "decode_cp1258",
    "detect",
    "from_unicode",
    "is_vietnamese_syllable",
    "to_unicode",
]

LegacyEncoding = Literal["tcvn3", "vni"]
Verdict = Literal["ascii", "unicode", "tcvn3", "vni", "unclear"]
ENCODINGS: tuple[LegacyEncoding, ...] = ("tcvn3", "vni")

# Tones in the order every table below uses: none, huyền, sắc, hỏi, ngã, nặng.
_GRAVE, _ACUTE, _HOOK, _TILDE, _DOT = "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"
_TONES = ("", _GRAVE, _ACUTE, _HOOK, _TILDE, _DOT)
_TONE_MARKS = frozenset(_TONES[1:])


def _with_tone(base: str, tone: str) -> str:
    return unicodedata.normalize("NFC", base + tone)


def _hex(codes: str) -> list[str]:
    return [bytes([int(code, 16)]).decode("latin-1") for code in codes.split()]


# --- TCVN3 (TCVN 5712:1993, VN3) -----------------------------------------------------

# Each lower-case vowel with its six tones (none, huyền, sắc, hỏi, ngã, nặng) → bytes.
_TCVN3_VOWELS: tuple[tuple[str, str], ...] = (
    ("a", "61 B5 B8 B6 B7 B9"),
    ("ă", "A8 BB BE BC BD C6"),
    ("â", "A9 C7 CA C8 C9 CB"),
    ("e", "65 CC D0 CE CF D1"),
    ("ê", "AA D2 D5 D3 D4 D6"),
    ("i", "69 D7 DD D8 DC DE"),
    ("o", "6F DF E3 E1 E2 E4"),
    ("ô", "AB E5 E8 E6 E7 E9"),
    ("ơ", "AC EA ED EB EC EE"),
    ("u", "75 EF F3 F1 F2 F4"),
    ("ư", "AD F5 F8 F6 F7 F9"),
    ("y", "79 FA FD FB FC FE"),
)
# The only capitals VN3 encodes, and đ.
_TCVN3_OTHERS: tuple[tuple[str, str], ...] = (
    ("đ", "AE"), ("Ă", "A1"), ("Â", "A2"), ("Ê", "A3"), ("Ô", "A4"), ("Ơ", "A5"), ("Ư", "A6"),
    ("Đ", "A7"),
)  # fmt: skip


def _tcvn3_tables() -> tuple[dict[str, str], dict[str, str]]:
    decode: dict[str, str] = {}
    for vowel, codes in _TCVN3_VOWELS:
        for tone, code in zip(_TONES, _hex(codes), strict=True):
            if code.isascii():
                continue  # a, e, i, o, u, y are themselves
            decode[code] = _with_tone(vowel, tone)
    for letter, code in _TCVN3_OTHERS:
        decode[_hex(code)[0]] = letter
    encode = {letter: code for code, letter in decode.items()}
    return decode, encode


_TCVN3_DECODE, _TCVN3_ENCODE = _tcvn3_tables()
# Bytes whose letter is a capital; every other mapped byte is a letter of unknown case.
_TCVN3_CAPITALS = frozenset(code for code, letter in _TCVN3_DECODE.items() if letter.isupper())


# --- VNI (VNI-Windows, VNI-Times fonts) ----------------------------------------------

# Mark characters after a base letter, lower-case bytes, in tone order.
_VNI_TONE = _hex("00 F8 F9 FB F5 EF")[1:]  # huyền ø, sắc ù, hỏi û, ngã õ, nặng ï
_VNI_CIRCUMFLEX = _hex("E2 E0 E1 E5 E3 E4")  # â; with huyền à, sắc á, hỏi å, ngã ã, nặng ä
_VNI_BREVE = _hex("EA E8 E9 FA FC EB")  # ê; with huyền è, sắc é, hỏi ú, ngã ü, nặng ë
# Letters written as one character (lower case; capitals are the byte minus 0x20).
_VNI_SINGLES: tuple[tuple[str, str], ...] = (
    ("ơ", "F4"), ("ư", "F6"), ("đ", "F1"), ("í", "ED"), ("ì", "EC"), ("ỉ", "E6"), ("ĩ", "F3"),
    ("ị", "F2"), ("ỵ", "EE"),
)  # fmt: skip


def _vni_tables() -> tuple[dict[str, dict[str, str]], dict[str, str], dict[str, str]]:
    # marks[base][mark] = letter, lower case; base is "a", "e", "o", "u", "y" or the VNI
    # characters of ơ and ư, which take tone marks too.
    marks: dict[str, dict[str, str]] = {}
    singles: dict[str, str] = {}
    encode: dict[str, str] = {}
    for letter, code in _VNI_SINGLES:
        singles[_hex(code)[0]] = letter
        encode[letter] = _hex(code)[0]
    bases = {"a": "a", "e": "e", "o": "o", "u": "u", "y": "y", encode["ơ"]: "ơ", encode["ư"]: "ư"}
    for base, vowel in bases.items():
        table = marks.setdefault(base, {})
        for tone, mark in zip(_TONES[1:], _VNI_TONE, strict=True):
            table[mark] = _with_tone(vowel, tone)
        if vowel in "aeo":
            for tone, mark in zip(_TONES, _VNI_CIRCUMFLEX, strict=True):
                table[mark] = _with_tone(vowel + "\u0302", tone)
        if vowel == "a":
            for tone, mark in zip(_TONES, _VNI_BREVE, strict=True):
                table[mark] = _with_tone(vowel + "\u0306", tone)
    for base, table in marks.items():
        for mark, letter in table.items():
            # ỵ is written as one character, ỳ ý ỷ ỹ as y + mark: keep the one form.
            encode.setdefault(letter, base + mark)
    return marks, singles, encode


_VNI_MARKS, _VNI_SINGLES_DECODE, _VNI_ENCODE = _vni_tables()


def _vni_upper(code: str) -> str:
    """The capital form of a VNI sequence: ASCII letters upper-cased, marks minus 0x20."""
    return "".join(ch.upper() if ch.isascii() else chr(ord(ch) - 0x20) for ch in code)


# --- conversion ----------------------------------------------------------------------


def _check(encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown legacy encoding {encoding!r}: expected one of {ENCODINGS}")


def to_unicode(text: str, encoding: LegacyEncoding) -> str:
    """``text`` typed in TCVN3 or VNI (read as cp1252) as Unicode NFC.

    Characters that are not part of the encoding are kept as they are.
    """
    _check(encoding)
    converted = _tcvn3_to_unicode(text) if encoding == "tcvn3" else _vni_to_unicode(text)
    return unicodedata.normalize("NFC", converted)


def from_unicode(text: str, encoding: LegacyEncoding) -> str:
    """Unicode Vietnamese as an office would have typed it in TCVN3 or VNI (as cp1252).

    Other characters are kept as they are. TCVN3 capitals without a code of their own
    are written with the lower-case byte (the "H" font convention, see the module doc).
    """
    _check(encoding)
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        if encoding == "tcvn3":
            code = _TCVN3_ENCODE.get(ch)
            out.append(code if code is not None else _TCVN3_ENCODE.get(ch.lower(), ch))
        else:
            code = _VNI_ENCODE.get(ch.lower())
            if code is None:
                out.append(ch)
            else:
                out.append(_vni_upper(code) if ch.isupper() else code)
    return "".join(out)


def _vni_to_unicode(text: str) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        lower = ch.lower() if ch.isascii() else _vni_lower(ch)
        marks = _VNI_MARKS.get(lower)
        if marks is not None:
            nxt = text[i + 1] if i + 1 < n else ""
            letter = marks.get(nxt) or marks.get(_vni_lower(nxt))
            if letter is not None:
                out.append(letter.upper() if ch.isupper() else letter)
                i += 2
                continue
        single = _VNI_SINGLES_DECODE.get(lower) if not ch.isascii() else None
        if single is not None:
            out.append(single.upper() if ch.isupper() else single)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _vni_lower(ch: str) -> str:
    """The lower-case byte of a VNI capital mark or letter (0xC0-0xDE → +0x20)."""
    if ch and "\u00c0" <= ch <= "\u00de" and ch != "\u00d7":
        return chr(ord(ch) + 0x20)
    return ch


def _tcvn3_to_unicode(text: str) -> str:
    # letters[i] = (character, case) with case "U", "L", "?" (a TCVN3 letter whose case
    # the text does not record) or None for anything that is not a letter.
    letters = [_tcvn3_letter(ch) for ch in text]
    if all(case != "?" for _, case in letters):
        return "".join(ch for ch, _ in letters)
    return "".join(_tcvn3_cased(letters, _words(letters)))


def _tcvn3_letter(ch: str) -> tuple[str, str | None]:
    """(the character, its case) of one character of TCVN3 text (see _tcvn3_to_unicode)."""
    letter = _TCVN3_DECODE.get(ch)
    if letter is not None:
        return letter, "U" if ch in _TCVN3_CAPITALS else "?"
    if ch.isupper() or ch.islower():
        return ch, "U" if ch.isupper() else "L"
    if ch.isalpha():
        return ch, "-"  # a letter without case
    return ch, None


def _words(letters: list[tuple[str, str | None]]) -> list[list[int]]:
    """The indexes of the letters of each word (runs of letters)."""
    words: list[list[int]] = []
    previous_letter = False
    for index, (_, case) in enumerate(letters):
        if case is None:
            previous_letter = False
            continue
        if not previous_letter:
            words.append([])
        words[-1].append(index)
        previous_letter = True
    return words


def _tcvn3_cased(letters: list[tuple[str, str | None]], words: list[list[int]]) -> list[str]:
    """The characters, the TCVN3 letters of unknown case put in the case the text around
    them shows."""

    def known(indexes: Iterable[int]) -> list[str | None]:
        return [letters[i][1] for i in indexes if letters[i][1] in ("U", "L")]

    # Typed in capitals: every known-case letter is a capital, and at least one of them
    # is not the first letter of its word (else it reads as title case: "Lª H¹").
    everything = known(range(len(letters)))
    inner = known(index for word in words for index in word[1:])
    cell_in_capitals = all(case == "U" for case in everything) and "U" in inner
    initials = [letters[word[0]][1] for word in words]
    out = [ch for ch, _ in letters]
    for number, word in enumerate(words):
        word_known = known(word)
        in_capitals = cell_in_capitals or (
            len(word_known) >= 2 and all(case == "U" for case in word_known)
        )
        others = [case for k, case in enumerate(initials) if k != number and case in ("U", "L")]
        capitalised = number == 0 or all(case == "U" for case in others)
        for position, index in enumerate(word):
            if letters[index][1] != "?":
                continue
            if in_capitals or (position == 0 and capitalised):
                out[index] = out[index].upper()
    return out


def decode_cp1258(data: bytes) -> str:
    """Windows-1258 bytes as NFC text: the codec, then NFC to compose its combining tones.

    Raises UnicodeDecodeError (with the offset of the first bad byte) like ``bytes.decode``.
    """
    return unicodedata.normalize("NFC", data.decode("cp1258"))


# --- Vietnamese syllables ------------------------------------------------------------

_ONSETS = (
    "ngh", "ng", "nh", "ch", "gh", "gi", "kh", "ph", "qu", "th", "tr",
    "b", "c", "d", "đ", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "x", "",
)  # fmt: skip
_LETTERS = frozenset("abcdeghiklmnopqrstuvxyăâđêôơư")
_STOPS = ("c", "ch", "p", "t")


def _rhymes() -> dict[str, frozenset[int]]:
    """Every rhyme (vowels + final) → the positions its tone mark may take.

    Both tone placements in use are accepted: "hòa" and "hoà", "thủy" and "thuỷ".
    """
    rhymes: dict[str, frozenset[int]] = {}
    open_rhymes = {
        (0,): "a e ê i o ô ơ u ư y ai ao au ay âu ây eo êu ia iu oi ôi ơi ua ui ưa ưi ưu",
        (0, 1): "oa oe uy",
        (1,): "uê uơ iêu yêu uôi ươi ươu oai oay oao oeo uây uya uyu",
    }
    for positions, names in open_rhymes.items():
        for rhyme in names.split():
            rhymes[rhyme] = frozenset(positions)
    # vowels → the final consonants they take; the tone sits on the last vowel.
    closed = {
        "a": "c ch m n ng nh p t", "ă": "c m n ng p t", "â": "c m n ng p t",
        "e": "c m n ng p t", "ê": "c ch m n ng nh p t", "i": "ch m n nh p t",
        "o": "c m n ng p t", "oo": "c ng", "ô": "c m n ng p t", "ơ": "m n p t",
        "u": "c m n ng p t", "ư": "c m n ng t", "iê": "c m n ng p t", "yê": "m n ng t",
        "uô": "c m n ng t", "ươ": "c m n ng p t", "oa": "c ch m n ng nh p t",
        "oă": "c m n ng t", "oe": "n t", "uâ": "n ng t", "uê": "ch nh", "uy": "ch n nh p t",
        "uyê": "n t",
    }  # fmt: skip
    for vowels, finals in closed.items():
        for final in finals.split():
            rhymes[vowels + final] = frozenset({len(vowels) - 1})
    rhymes["oong"] = frozenset()  # loanwords (boong, xoong) that take no tone
    return rhymes


_RHYMES = _rhymes()


@lru_cache(maxsize=65536)
def is_vietnamese_syllable(word: str) -> bool:
    """Whether ``word`` (any case, NFC or NFD) is one written Vietnamese syllable:
    an onset, a rhyme and at most one tone mark, on a vowel that may carry it; a rhyme
    closed by c, ch, p or t carries sắc or nặng."""
    split = _base_and_tone(word)
    if split is None:
        return False
    text, tone, tone_at = split
    for onset in _ONSETS:
        if not text.startswith(onset):
            continue
        rhyme = text[len(onset) :]
        if onset == "qu" and rhyme[:1] in ("u", "ư"):
            continue
        if _rhyme_takes(rhyme, tone, tone_at - len(onset)):
            return True
    # "q" stands alone only before the u of its rhyme: quý = q + uy, quốc = q + uôc.
    return text.startswith("qu") and _rhyme_takes(text[1:], tone, tone_at - 1)


def _base_and_tone(word: str) -> tuple[str, str, int] | None:
    """(the word's letters without their tone mark, lower case; the tone mark or "";
    the index of the letter carrying it, -1 without), or None when ``word`` holds a
    character that is no Vietnamese letter or more than one tone mark."""
    base: list[str] = []
    tone, tone_at = "", -1
    for ch in unicodedata.normalize("NFC", word).lower():
        parts = unicodedata.normalize("NFD", ch)
        marks = [m for m in parts if m in _TONE_MARKS]
        if marks:
            if tone or len(marks) > 1:
                return None
            tone, tone_at = marks[0], len(base)
        letter = unicodedata.normalize("NFC", "".join(m for m in parts if m not in _TONE_MARKS))
        if letter not in _LETTERS:
            return None
        base.append(letter)
    return "".join(base), tone, tone_at


def _rhyme_takes(rhyme: str, tone: str, at: int) -> bool:
    """Whether ``rhyme`` is one and may carry ``tone`` on its letter ``at``."""
    positions = _RHYMES.get(rhyme)
    if positions is None:
        return False
    if tone and at not in positions:
        return False
    return not rhyme.endswith(_STOPS) or tone in (_ACUTE, _DOT)


# --- detection -----------------------------------------------------------------------

# Words are split at spaces, digits and ASCII punctuation only: the legacy encodings put
# letters on Latin-1 symbols ("Ph¹m", "V¨n"), which must stay inside their word.
_WORD_BREAK = re.compile(r"[\s\x21-\x2f\x30-\x40\x5b-\x60\x7b-\x7e]+")
#: Fewer cells than this that read better as one legacy encoding is too little evidence.
MIN_LEGACY_CELLS = 3
#: Cells a legacy reading makes worse, tolerated per cell it makes better (1 in 20).
MAX_AGAINST_RATIO = 0.05


# What 8-bit bytes become when read as latin-1 or cp1252: a letter outside this set
# cannot come from TCVN3 or VNI text.
_EIGHT_BIT = frozenset(
    [chr(code) for code in range(0x100)] + list(bytes(range(0x80, 0xA0)).decode("cp1252", "ignore"))
)


def _is_letter(ch: str) -> bool:
    """Letters and combining marks; spaces and symbols (U+2009, U+3000 …) say nothing of
    how the letters were typed."""
    return unicodedata.category(ch)[0] in "LM"


def _invalid_words(text: str) -> int:
    return sum(1 for word in _WORD_BREAK.split(text) if word and not is_vietnamese_syllable(word))


@dataclass(frozen=True)
class Detection:
    """What ``detect`` found in one column.

    ``encoding`` is the verdict. The counts say how each non-empty cell reads: ``ascii``
    (nothing to decide), ``unicode`` (Vietnamese letters no 8-bit text can hold, or text
    that no legacy reading improves), ``tcvn3`` / ``vni`` (more of its words become
    Vietnamese syllables in that reading than as it is, and more than in the other one),
    ``ambiguous`` (both legacy readings improve it equally). ``changed`` is the number of
    cells the conversion changes and ``example`` one of them, (before, after), for the
    verdict or, when unclear, for the stronger legacy reading.
    """

    encoding: Verdict
    cells: int = 0
    ascii: int = 0
    unicode: int = 0
    tcvn3: int = 0
    vni: int = 0
    ambiguous: int = 0
    changed: int = 0
    example: tuple[str, str] | None = None

    @property
    def legacy(self) -> bool:
        return self.encoding in ENCODINGS


def detect(values: Iterable[str]) -> Detection:
    """Decide whether one column's text cells are ASCII, Unicode, TCVN3 or VNI.

    The rule, cell by cell: a cell with a letter no 8-bit text can hold (ễ, ị, ơ …) is
    Unicode; otherwise it is read as it is, as TCVN3 and as VNI, and each reading
    counts its words that are not Vietnamese syllables; a legacy reading wins the cell
    only when it has strictly fewer of them than the text as it is and than the other
    legacy reading. Then for the column, a legacy encoding is chosen only when
    - at least MIN_LEGACY_CELLS cells read better in it,
    - no cell is Unicode beyond 8 bits (a column is in one encoding, not a mixture),
    - the cells against it (read better in the other encoding, or made worse by it) are
      at most MAX_AGAINST_RATIO of the cells for it; "ambiguous" cells, which read better
      in both, count neither way.
    Any legacy evidence short of that is "unclear". Without legacy evidence the column
    is "unicode" if a cell has non-ASCII text and "ascii" otherwise. Plain ASCII and
    Unicode Vietnamese are therefore never converted: every word of real Vietnamese is
    a syllable already, and no legacy reading can do strictly better.
    """
    counts = {"ascii": 0, "unicode": 0, "tcvn3": 0, "vni": 0, "ambiguous": 0}
    worse = {"tcvn3": 0, "vni": 0}
    changed = {"tcvn3": 0, "vni": 0}
    examples: dict[str, tuple[str, str]] = {}
    beyond_eight_bit = 0
    cells = 0
    for value in values:
        if not isinstance(value, str) or not value.strip():
            continue
        cells += 1
        text = unicodedata.normalize("NFC", value)
        if text.isascii():
            counts["ascii"] += 1
            continue
        if any(ch not in _EIGHT_BIT and _is_letter(ch) for ch in text):
            counts["unicode"] += 1
            beyond_eight_bit += 1
            continue
        raw = _invalid_words(text)
        readings = {enc: to_unicode(text, enc) for enc in ENCODINGS}
        scores = {
            enc: (raw if converted == text else _invalid_words(converted))
            for enc, converted in readings.items()
        }
        for enc in ENCODINGS:
            changed[enc] += readings[enc] != text
            worse[enc] += scores[enc] > raw
        better = [enc for enc in ENCODINGS if scores[enc] < raw]
        if not better:
            counts["unicode"] += 1
        elif len(better) == 2 and scores["tcvn3"] == scores["vni"]:
            counts["ambiguous"] += 1
        else:
            winner = min(better, key=lambda enc: scores[enc])
            counts[winner] += 1
            examples.setdefault(winner, (value, readings[winner]))

    best: LegacyEncoding = "tcvn3" if counts["tcvn3"] >= counts["vni"] else "vni"
    other: LegacyEncoding = "vni" if best == "tcvn3" else "tcvn3"
    if counts[best] == 0 and counts["ambiguous"] == 0:
        verdict: Verdict = "unicode" if cells > counts["ascii"] else "ascii"
        return Detection(
            verdict, cells, ascii=counts["ascii"], unicode=counts["unicode"], tcvn3=counts["tcvn3"],
            vni=counts["vni"], ambiguous=counts["ambiguous"],
        )
    against = counts[other] + worse[best]
    clear = (
        counts[best] >= MIN_LEGACY_CELLS
        and beyond_eight_bit == 0
        and against <= MAX_AGAINST_RATIO * counts[best]
    )
    return Detection(
        best if clear else "unclear",
        cells,
        changed=changed[best],
        example=examples.get(best),
        ascii=counts["ascii"], unicode=counts["unicode"], tcvn3=counts["tcvn3"],
        vni=counts["vni"], ambiguous=counts["ambiguous"],
    )
