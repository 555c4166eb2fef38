"""Checks a file must pass before a parser is allowed to open it; its sha256.

A PDF (a signed slip) must start as one: `check_pdf` refuses empty files and files
that are something else under a .pdf name before pyHanko or pdfplumber see a byte.

An .xlsx file (a roster, a slip) is looked at harder, as follows.

openpyxl parses XML through defusedxml when it is installed (it is one of our
dependencies), so entity tricks are already refused inside the parser; it has no
guard at all against a zip bomb. This module looks at the zip container first, with
nothing but the standard library:

- the file must be a zip that looks like an Office document (an old binary .xls, a
  password-protected workbook, an OpenDocument file or a text file renamed to .xlsx
  is refused with the reason);
- the sizes declared in the zip directory, summed over every member, must stay under
  a limit (Python's zipfile never inflates a member past its declared size, so the
  directory is a real bound for openpyxl too), and no member may claim a compression
  ratio no spreadsheet ever has;
- no member may carry a DOCTYPE or an ENTITY declaration (XXE, billion laughs), and
  no XML member may use an encoding in which those markers would not be visible as
  ASCII bytes (UTF-16, UTF-7, EBCDIC…): Excel and every other producer write UTF-8.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
import zlib
from pathlib import Path

from dnmail.errors import InvalidFile, Problem, UnsafeFile
from dnmail.i18n import _

DEFAULT_MAX_UNCOMPRESSED = 200 * 1024**2
DEFAULT_MAX_MEMBERS = 10_000

#: A member that inflates more than this many times is a bomb, not a spreadsheet.
#: (Deflate tops out near 1032:1; real sheet XML stays far below 100:1.)
MAX_RATIO = 200
#: ... but only members of some size are judged by their ratio: a tiny file of
#: repeated bytes may legitimately compress very well.
RATIO_MIN_SIZE = 1024**2

_CHUNK = 64 * 1024
_MARKERS = re.compile(rb"<!\s*(?:doctype|entity)", re.IGNORECASE)
_OVERLAP = 32  # bytes kept between chunks so a marker split across two reads is seen
_XML_DECL = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']", re.IGNORECASE)
_ASCII_COMPATIBLE = {"utf8", "usascii", "ascii"}
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_UTF16_32_STARTS = (
    b"\xff\xfe",  # UTF-16/32 LE BOM
    b"\xfe\xff",  # UTF-16 BE BOM
    b"\x00\x00\xfe\xff",  # UTF-32 BE BOM
    b"<\x00",  # '<' in UTF-16 LE / UTF-32 LE without BOM
    b"\x00<",  # '<' in UTF-16 BE
    b"\x00\x00\x00<",  # '<' in UTF-32 BE
    b"\x4c\x6f\xa7\x94",  # '<?xm' in EBCDIC
)


def _unsafe(name: str, why: str) -> UnsafeFile:
    return UnsafeFile(name, [Problem(why, file=name)])


def _not_xlsx(name: str, why: str) -> UnsafeFile:
    return _unsafe(name, _("not an Excel workbook (.xlsx): {why}").format(why=why))


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, lowercase hex, read in 1 MiB blocks (any size)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_pdf(data: bytes, file_name: str) -> None:
    """Refuse bytes that are no PDF: InvalidFile when empty, UnsafeFile when the
    '%PDF-' marker is missing from the first KiB (where readers look for it)."""
    if not data:
        raise InvalidFile(file_name, [Problem(_("the file is empty"), file=file_name)])
    if b"%PDF-" not in data[:1024]:
        start = data[:8]
        raise _unsafe(
            file_name,
            _("not a PDF file (it starts with {start!r}, not '%PDF-')").format(start=start),
        )


def old_excel_message(name: str) -> str:
    return _(
        "{file}: an Excel 97-2003 workbook (.xls) is not read; open it in Excel and "
        "save it as an Excel workbook (.xlsx)"
    ).format(file=name)


def check_spreadsheet(
    path: Path,
    *,
    max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> None:
    """Refuse an .xlsx that is not a workbook, a zip bomb, or XML with a DOCTYPE.

    Raises UnsafeFile (a kind of InvalidFile) naming the file and the reason; an old
    .xls file raises InvalidFile telling the user to save it as .xlsx. Returns None
    when openpyxl may open the file.
    """
    path = Path(path)
    name = path.name
    if path.suffix.lower() == ".xls":
        raise InvalidFile(name, [Problem(old_excel_message(name))], message=old_excel_message(name))
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise InvalidFile(
            name,
            [Problem(_("cannot read the file: {error}").format(error=exc.strerror or exc),
                     file=name)],
        ) from exc

    if head.startswith(_OLE2_MAGIC):
        raise _not_xlsx(
            name,
            _("this is an Excel 97-2003 (.xls) file or a password-protected workbook; "
              "open it in Excel and save it as .xlsx without a password"),
        )
    if not head.startswith(b"PK"):
        why = _("the file is empty") if not head else _("the file is not a zip container")
        raise _not_xlsx(name, why)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise _not_xlsx(name, _("damaged zip container ({error})").format(error=exc)) from exc
    with archive:
        members = archive.infolist()
        _check_directory(name, archive, members, max_uncompressed, max_members)
        for info in members:
            _scan_member(name, archive, info)


def _check_directory(
    name: str,
    archive: zipfile.ZipFile,
    members: list[zipfile.ZipInfo],
    max_uncompressed: int,
    max_members: int,
) -> None:
    if len(members) > max_members:
        raise _unsafe(name, _("zip bomb: {n} members (limit {limit})").format(
            n=f"{len(members):,}", limit=f"{max_members:,}"))
    total = sum(info.file_size for info in members)
    if total > max_uncompressed:
        raise _unsafe(
            name,
            _("zip bomb: the members unpack to {size} (limit {limit})").format(
                size=_mib(total), limit=_mib(max_uncompressed)),
        )
    for info in members:
        if info.flag_bits & 0x1:
            raise _not_xlsx(name, _("member {member!r} is encrypted").format(member=info.filename))
        if info.file_size >= RATIO_MIN_SIZE and info.file_size > MAX_RATIO * max(
            info.compress_size, 1
        ):
            raise _unsafe(
                name,
                _("zip bomb: member {member!r} unpacks {ratio} times its packed size "
                  "(limit {limit})").format(
                    member=info.filename,
                    ratio=f"{info.file_size // max(info.compress_size, 1):,}",
                    limit=MAX_RATIO,
                ),
            )
    names = {info.filename for info in members}
    if "[Content_Types].xml" not in names:
        if "mimetype" in names:
            try:
                mimetype = archive.read("mimetype")[:100]
            except (zipfile.BadZipFile, zlib.error, OSError, NotImplementedError, RuntimeError):
                mimetype = b""  # unreadable: simply not an OpenDocument file
            if mimetype.startswith(b"application/vnd.oasis.opendocument"):
                raise _not_xlsx(
                    name, _("an OpenDocument file (.ods); save it as an Excel workbook (.xlsx)")
                )
        raise _not_xlsx(name, _("a zip file, but not an Office document"))


def _scan_member(name: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Stream one member in bounded chunks looking for DOCTYPE / ENTITY declarations."""
    if info.is_dir() or info.file_size == 0:
        return
    member = info.filename
    try:
        with archive.open(info) as stream:
            first = stream.read(_CHUNK)
            _check_encoding(name, member, first)
            tail = b""
            chunk = first
            while chunk:
                window = tail + chunk
                if _MARKERS.search(window):
                    raise _unsafe(
                        name,
                        _("XML with a DOCTYPE or ENTITY declaration in {member!r} "
                          "(refused: external entities / entity expansion)").format(member=member),
                    )
                tail = window[-_OVERLAP:]
                chunk = stream.read(_CHUNK)
    except UnsafeFile:
        raise
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        NotImplementedError,
        RuntimeError,
        ValueError,
    ) as exc:
        raise _not_xlsx(
            name, _("member {member!r} is damaged ({error})").format(member=member, error=exc)
        ) from exc


def _check_encoding(name: str, member: str, first: bytes) -> None:
    if first.startswith(b"\xef\xbb\xbf"):  # UTF-8 BOM
        first = first[3:]
    if first.startswith(_UTF16_32_STARTS):
        raise _unsafe(name, _("XML member {member!r} is not UTF-8 (refused: Excel writes UTF-8)")
                      .format(member=member))
    if first.startswith(b"<?xml"):
        match = _XML_DECL.match(first[:400])
        if match:
            encoding = re.sub(rb"[^a-z0-9]", b"", match.group(1).lower()).decode("ascii")
            if encoding not in _ASCII_COMPATIBLE:
                raise _unsafe(
                    name,
                    _("XML member {member!r} declares encoding {encoding!r} "
                      "(refused: Excel writes UTF-8)").format(
                        member=member, encoding=match.group(1).decode("ascii")),
                )


def _mib(size: int) -> str:
    if size >= 1024**2:
        return f"{size / 1024**2:,.0f} MiB"
    if size >= 1024:
        return f"{size / 1024:,.0f} KiB"
    return _("{n} bytes").format(n=f"{size:,}")
