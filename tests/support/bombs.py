"""Hostile files that cost a reader memory and time (issue 12 §3), built on the fly.

Nothing big is committed, nor held in memory: each bomb is compressed as it is
written, and its file is small.

* `deflate_bomb_pdf`: a signed slip whose signed revision holds a content stream that
  inflates to 1 GiB (a page's content: any reader of the page must inflate it);
* `shared_strings_xlsx`: a roster or slip workbook whose sharedStrings table unpacks
  to ~195 MiB of distinct strings, under the 200 MiB zip-bomb limit of
  readers/safety.py and under its compression-ratio limit, so only the parse pays.
"""

from __future__ import annotations

import io
import re
import shutil
import zipfile
import zlib
from pathlib import Path

GIB = 1024**3
MIB = 1024**2


_bomb_cache: dict[int, bytes] = {}


def deflate_bomb_stream(size: int = GIB) -> bytes:
    """A zlib (FlateDecode) payload that inflates to `size` bytes of PDF whitespace.

    One 4 MiB block is compressed once, ending with a full flush (so its bytes do not
    depend on what came before), and repeated: 1 GiB packs to ~1 MB in a fraction of a
    second. A final empty block and the Adler-32 of the whole make it a valid stream.
    """
    if size in _bomb_cache:
        return _bomb_cache[size]
    block = b" " * (4 * MIB)
    count, rest = divmod(size, len(block))
    packer = zlib.compressobj(9)
    first = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    header, body = first[:2], first[2:]
    tail_packer = zlib.compressobj(9)
    tail = (tail_packer.compress(block[:rest]) + tail_packer.flush(zlib.Z_FULL_FLUSH))[2:] \
        if rest else b""
    checksum = 1
    for _ in range(count):
        checksum = zlib.adler32(block, checksum)
    checksum = zlib.adler32(block[:rest], checksum)
    final_empty_block = b"\x03\x00"
    _bomb_cache[size] = (header + body * count + tail + final_empty_block
                         + checksum.to_bytes(4, "big"))
    return _bomb_cache[size]


def with_content_stream(pdf: bytes, payload: bytes, *, page: int = 0) -> bytes:
    """`pdf` with one more FlateDecode content stream (`payload`) on `page`, as an
    incremental update."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    stream = generic.StreamObject(
        {generic.pdf_name("/Filter"): generic.pdf_name("/FlateDecode")}, encoded_data=payload)
    writer.add_stream_to_page(page, writer.add_object(stream))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def deflate_bomb_pdf(signer, rows, *, size: int = GIB) -> bytes:
    """A slip signed by `signer` (a pki Identity) whose page 1 inflates to `size` bytes.

    The bomb is inside the signed revision: the signature covers it, so checking the
    signature first does not keep the reader away from it.
    """
    from support import pdfslips as ps

    slip = with_content_stream(ps.make_slip_pdf(rows), deflate_bomb_stream(size))
    return ps.sign_pdf(slip, signer)


_SST_OPEN = re.compile(rb"<sst\b[^>]*>")


def shared_strings_xlsx(path: Path, base: Path, *, size: int = 195 * MIB) -> Path:
    """A copy of the workbook `base` whose sharedStrings table grows to about `size` bytes.

    The strings `base` uses come first (its sheets still read the same), then distinct
    Vietnamese names, each a new shared string. Written member by member, the big one
    through zipfile's streaming writer. A `base` written by openpyxl (inline strings) is
    first given a shared-string table, as Excel writes it.
    """
    from support.workbooks import as_excel_writes_it

    path, base = Path(path), Path(base)
    with zipfile.ZipFile(base) as source:
        if "xl/sharedStrings.xml" not in source.namelist():
            base = as_excel_writes_it(Path(shutil.copyfile(base, path.with_suffix(".base.xlsx"))))
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED,
                                                          compresslevel=1) as target:
        names = source.namelist()
        for name in names:
            if name != "xl/sharedStrings.xml":
                target.writestr(source.getinfo(name), source.read(name))
        original = source.read("xl/sharedStrings.xml")
        head = _SST_OPEN.search(original)
        if head is None:
            raise ValueError("sharedStrings.xml without <sst>")
        opening = re.sub(rb'\s(?:count|uniqueCount)="\d+"', b"", head.group(0))
        body = original[head.end(): original.rindex(b"</sst>")]
        with target.open("xl/sharedStrings.xml", "w", force_zip64=True) as member:
            member.write(original[: head.start()] + opening + body)
            written = head.start() + len(opening) + len(body)
            n = 0
            batch: list[bytes] = []
            while written < size:
                entry = f"<si><t>Nguyễn Văn Số {n:09d} Phòng {n % 9973:05d}</t></si>".encode()
                batch.append(entry)
                written += len(entry)
                n += 1
                if len(batch) == 4096:
                    member.write(b"".join(batch))
                    batch.clear()
            member.write(b"".join(batch) + b"</sst>")
    return path
