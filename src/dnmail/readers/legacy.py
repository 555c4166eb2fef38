"""Columns typed in TCVN3 or VNI, found and converted while a roster or slip is read
(issue 13 §2). The tables and the per-column judgement are in domain/legacy_text.py;
this module applies them to the rows of a file:

- `legacy_header`: a header row typed in a legacy encoding ("Hä vµ tªn"), read as
  Unicode so that the columns are found by their names;
- `convert_columns`: per column of the table, `detect()` decides; a TCVN3 or VNI
  column is converted to Unicode NFC with one warning (file, column, how many cells,
  one example before → after); unclear evidence refuses the file naming the column
  and the `--encoding` override. Never a silent guess.

With an override (`--encoding tcvn3|vni`) every cell without letters beyond 8 bits is
converted (cells with such letters are Unicode already: a column may mix them);
`--encoding unicode` converts nothing and refuses nothing.

Cells are converted raw, before `cell_text`: TCVN3's ư is U+00AD, which cleaning drops.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from dnmail.domain.legacy_text import (
    ENCODINGS,
    Detection,
    detect,
    is_vietnamese_syllable,
    to_unicode,
)
from dnmail.errors import Problem
from dnmail.i18n import _, ngettext

#: What `--encoding` accepts. tcvn3/vni/unicode say how the text was typed; utf-8,
#: utf-16 and cp1258 say how a CSV file's bytes are written (its text is Unicode).
ENCODING_CHOICES = ("tcvn3", "vni", "unicode", "utf-8", "utf-16", "cp1258")
EncodingChoice = Literal["tcvn3", "vni", "unicode", "utf-8", "utf-16", "cp1258"]
_NAMES = {"tcvn3": "TCVN3 (ABC, .VnTime)", "vni": "VNI (VNI-Times)"}

Rows = list[tuple[int, Sequence[object]]]


def text_override(encoding: str | None) -> str | None:
    """The text encoding an `--encoding` value imposes: 'tcvn3', 'vni', 'unicode' or
    None (detect per column)."""
    if encoding in ENCODINGS:
        return encoding
    return None if encoding is None else "unicode"


@dataclass(frozen=True)
class Where:
    """Where a converted or refused column is, for its Problem."""

    file: str
    sheet: str | None
    column: str | None  # "B (Họ và tên)"
    part: str = ""  # what the cells are when not a column: "the lines above the table"

    def problem(self, message: str) -> Problem:
        text = f"{self.part}: {message}" if self.part else message
        return Problem(text, file=self.file, sheet=self.sheet, column=self.column)


def legacy_header(
    cells: Sequence[object], matches: Callable[[Sequence[object]], bool], encoding: str | None
) -> Sequence[object] | None:
    """The header row read as TCVN3 or VNI when only that reading is a header row
    (`matches`); None when neither (or both) is. An override tries its encoding only;
    `unicode` none."""
    override = text_override(encoding)
    tries = ENCODINGS if override is None else (override,) if override in ENCODINGS else ()
    found = []
    for enc in tries:
        converted = [to_unicode(v, enc) if type(v) is str else v for v in cells]
        if converted != list(cells) and matches(converted):
            found.append(converted)
    return found[0] if len(found) == 1 else None


def convert_columns(
    rows: Rows,
    columns: Mapping[str, int],
    where: Callable[[str], Where],
    *,
    encoding: str | None,
    context: Sequence[object] = (),
) -> tuple[Rows, list[Problem], list[Problem]]:
    """(rows with legacy columns converted, warnings, problems) for the columns named.

    `where(field)` says how to name a column. Problems are the columns whose encoding
    is unclear: the caller refuses the file with them. A column with too few cells to
    decide alone (a short slip) follows the file: when the text of every column read
    here, with `context` (more cells of the same file), is clearly in one legacy
    encoding and no cell of the column reads better otherwise, the column is in it.
    """
    override = text_override(encoding)
    if override == "unicode":
        return rows, [], []
    if override in ENCODINGS:
        return _convert_all(rows, columns, where, override)
    detections = {
        name: detect(_texts(cells[index] for _, cells in rows if index < len(cells)))
        for name, index in columns.items()
    }
    whole: Detection | None = None
    if any(d.encoding == "unclear" for d in detections.values()):
        whole = detect(
            [*_texts(v for _, cells in rows for i in columns.values() if i < len(cells)
                     for v in (cells[i],)), *_texts(context)]
        )
    warnings: list[Problem] = []
    problems: list[Problem] = []
    for name, index in columns.items():
        detection = detections[name]
        verdict = _verdict(detection, whole)
        if verdict == "unclear":
            problems.append(_unclear(detection, where(name)))
        elif verdict in ENCODINGS:
            rows, changed, example = _convert(rows, index, verdict, forced=False)
            if changed:
                warnings.append(_converted(verdict, changed, example, where(name), detection))
    return rows, warnings, problems


def _texts(values: Iterable[object]) -> list[str]:
    return [v for v in values if type(v) is str]


def _verdict(column: Detection, whole: Detection | None) -> str:
    """The column's own verdict; an unclear one follows the whole file when nothing
    in the column disagrees with it (no cell Unicode or better in the other encoding)."""
    if column.encoding != "unclear" or whole is None or not whole.legacy:
        return column.encoding
    other = "vni" if whole.encoding == "tcvn3" else "tcvn3"
    if column.unicode or getattr(column, other):
        return "unclear"
    return whole.encoding


def _convert_all(
    rows: Rows, columns: Mapping[str, int], where: Callable[[str], Where], enc: str
) -> tuple[Rows, list[Problem], list[Problem]]:
    """--encoding tcvn3|vni: every cell without letters beyond 8 bits, converted."""
    warnings: list[Problem] = []
    for name, index in columns.items():
        rows, changed, example = _convert(rows, index, enc, forced=True)
        if changed:
            warnings.append(_converted(enc, changed, example, where(name), None))
    return rows, warnings, []


def convert_cells(
    values: Sequence[object],
    where: Where,
    *,
    encoding: str | None,
    context: Sequence[object] = (),
) -> tuple[list[object], list[Problem], list[Problem]]:
    """`convert_columns` for one group of cells read together (a slip's header block)."""
    rows: Rows = [(0, (v,)) for v in values]
    converted, warnings, problems = convert_columns(
        rows, {"": 0}, lambda _: where, encoding=encoding, context=context
    )
    return [cells[0] for _, cells in converted], warnings, problems


def eight_bit_reading(sample: bytes) -> str:
    """'cp1258' or 'latin-1' for an 8-bit CSV file: latin-1 (byte for byte, converted
    later per column) when more of its words read as Vietnamese syllables as TCVN3 or
    VNI bytes than as Windows-1258; ties go to Windows-1258."""
    words = [w for w in _WORD_BREAK.split(sample) if w and not w.isascii()][:_MAX_WORDS]
    if not words:
        return "cp1258"
    as_1258 = as_tcvn3 = as_vni = 0
    for word in words:
        text = word.decode("latin-1")
        as_1258 += is_vietnamese_syllable(
            unicodedata.normalize("NFC", word.decode("cp1258", "replace"))
        )
        as_tcvn3 += is_vietnamese_syllable(to_unicode(text, "tcvn3"))
        as_vni += is_vietnamese_syllable(to_unicode(text, "vni"))
    return "latin-1" if max(as_tcvn3, as_vni) > as_1258 else "cp1258"


_MAX_WORDS = 5000  # words of the sample judged: plenty, and bounded
# Words of an 8-bit sample: split at ASCII spaces, digits and punctuation only (the
# legacy encodings put letters on Latin-1 symbols).
_WORD_BREAK = re.compile(rb"[\s\x21-\x2f\x30-\x40\x5b-\x60\x7b-\x7e]+")


def _convert(
    rows: Rows, index: int, enc: str, *, forced: bool
) -> tuple[Rows, int, tuple[str, str] | None]:
    out: Rows = []
    changed = 0
    example: tuple[str, str] | None = None
    for number, cells in rows:
        value = cells[index] if index < len(cells) else None
        if type(value) is str and value and not value.isascii():
            if forced and _beyond_eight_bit(value):
                out.append((number, cells))
                continue
            text = to_unicode(value, enc)  # type: ignore[arg-type]
            if text != value:
                changed += 1
                example = example or (value, text)
                cells = [*cells[:index], text, *cells[index + 1 :]]
        out.append((number, cells))
    return out, changed, example


def _beyond_eight_bit(text: str) -> bool:
    """A letter or mark no 8-bit text read as cp1252 holds (ễ, ơ, đ …): typed in Unicode."""
    return any(
        ord(ch) > 0xFF and ch not in _CP1252 and unicodedata.category(ch)[0] in "LM" for ch in text
    )


_CP1252 = frozenset(bytes(range(0x80, 0xA0)).decode("cp1252", "ignore"))


def _converted(
    enc: str,
    changed: int,
    example: tuple[str, str] | None,
    where: Where,
    detection: Detection | None,
) -> Problem:
    message = ngettext(
        "{n} cell typed in {encoding} converted to Unicode",
        "{n} cells typed in {encoding} converted to Unicode",
        changed,
    ).format(n=changed, encoding=_NAMES[enc])
    if example:
        message += _(", e.g. {before!r} → {after!r}").format(before=example[0], after=example[1])
    if detection is None:
        how = _("as --encoding says")
    else:
        how = _("detected; --encoding unicode keeps the text as written")
    return where.problem(f"{message} ({how})")


def _unclear(detection: Detection, where: Where) -> Problem:
    counts = [
        _("{n} read as {encoding}").format(n=getattr(detection, key), encoding=label)
        for key, label in (("tcvn3", "TCVN3"), ("vni", "VNI"), ("unicode", "Unicode"))
        if getattr(detection, key)
    ]
    if detection.ambiguous:
        counts.append(_("{n} as either TCVN3 or VNI").format(n=detection.ambiguous))
    message = ngettext(
        "cannot tell whether this text was typed in Unicode or in an old Vietnamese "
        "encoding ({counts} of {n} cell)",
        "cannot tell whether this text was typed in Unicode or in an old Vietnamese "
        "encoding ({counts} of {n} cells)",
        detection.cells,
    ).format(counts=", ".join(counts), n=detection.cells)
    if detection.example:
        message += _("; e.g. {before!r} would become {after!r}").format(
            before=detection.example[0], after=detection.example[1]
        )
    hint = _("give --encoding tcvn3, --encoding vni or --encoding unicode")
    return where.problem(f"{message}: {hint}")
