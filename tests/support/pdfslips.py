"""Phụ lục II request slips as PDFs: draw (reportlab), sign (pyHanko), tamper.

`make_slip_pdf` draws the form of official letter 271/STTTT-CNTT (Phụ lục II): the
agency name and national motto, "PHIẾU YÊU CẦU", "Kính gửi", the requester fields,
the ruled table `STT | Họ và tên | Phòng ban/Đơn vị trực thuộc | Số điện thoại |
Tên hộp thư đề nghị tạo mới/thay đổi/hủy bỏ` and the signature block of the chief of
office. Vietnamese glyphs need a Unicode TTF: DejaVuSans by default, from
$DNMAIL_FONT_DIR or /usr/share/fonts/truetype/dejavu, or pass `font_path=`.

`sign_pdf` adds one signature as an incremental update (so a second signature can
follow), optionally claiming a signing time other than now (a backdated signature).

The tamper helpers produce the attacks the signature rule must refuse.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .pki import Identity

FONT_DIR = Path(os.environ.get("DNMAIL_FONT_DIR", "/usr/share/fonts/truetype/dejavu"))
TABLE_HEADERS = (
    "STT",
    "Họ và tên",
    "Phòng ban/Đơn vị trực thuộc",
    "Số điện thoại",
    "Tên hộp thư đề nghị tạo mới/thay đổi/hủy bỏ",
)


@dataclass(frozen=True)
class Person:
    """One row of the slip's table."""

    full_name: str
    department: str = ""
    phone: str = ""
    address: str = ""  # the requested mailbox name, may be empty
    seq: str | None = None  # STT; numbered 1, 2, … when None


def _as_person(row: Person | Sequence[str]) -> Person:
    if isinstance(row, Person):
        return row
    return Person(*row)


_registered: dict[tuple[str, str], tuple[str, str]] = {}


def register_fonts(font_path: str | Path | None = None,
                   bold_font_path: str | Path | None = None) -> tuple[str, str]:
    """Register a regular and a bold TTF with reportlab; return their font names."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    regular = Path(font_path) if font_path else FONT_DIR / "DejaVuSans.ttf"
    bold = Path(bold_font_path) if bold_font_path else (
        regular.with_name(regular.stem + "-Bold.ttf")
        if (regular.with_name(regular.stem + "-Bold.ttf")).exists() else regular
    )
    key = (str(regular), str(bold))
    if key not in _registered:
        n = len(_registered)
        names = (f"SlipFont{n}", f"SlipFont{n}-Bold")
        pdfmetrics.registerFont(TTFont(names[0], str(regular)))
        pdfmetrics.registerFont(TTFont(names[1], str(bold)))
        _registered[key] = names
    return _registered[key]


def make_slip_pdf(
    rows: Iterable[Person | Sequence[str]],
    *,
    unit_name: str = "Sở Nội vụ thành phố Đà Nẵng",
    requester_name: str = "Nguyễn Văn An",
    requester_position: str = "Chánh Văn phòng",
    requester_phone: str = "0236 3822 111",
    content: str = "Cấp mới hộp thư điện tử",
    details: str = "",
    date_line: str = "Đà Nẵng, ngày 20 tháng 11 năm 2026",
    signer_name: str | None = None,
    repeat_header: bool = True,
    blank_rows: int = 1,
    font_path: str | Path | None = None,
    bold_font_path: str | Path | None = None,
) -> bytes:
    """Draw a Phụ lục II slip; a long table flows onto following pages.

    `blank_rows` empty numbered rows follow the data (as in the official template).
    Text is drawn exactly as given (NFD stays NFD), so readers must normalise.
    """
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
    from reportlab.platypus.flowables import KeepTogether

    font, bold = register_fonts(font_path, bold_font_path)
    base = ParagraphStyle("base", fontName=font, fontSize=10.5, leading=14)
    cell = ParagraphStyle("cell", parent=base, fontSize=9.5, leading=12)
    head = ParagraphStyle("head", parent=cell, fontName=bold, alignment=TA_CENTER)
    center_bold = ParagraphStyle("cb", parent=base, fontName=bold, alignment=TA_CENTER)
    title = ParagraphStyle("title", parent=center_bold, fontSize=14, leading=18)
    center = ParagraphStyle("c", parent=base, alignment=TA_CENTER)

    def esc(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    people = [_as_person(r) for r in rows]
    story: list = []
    top = Table(
        [[Paragraph(f"Tên cơ quan: {esc(unit_name)}", base),
          Paragraph("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM<br/>Độc lập – Tự do – Hạnh phúc",
                    center_bold)]],
        colWidths=[70 * mm, 100 * mm],
    )
    top.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [top, Spacer(1, 8 * mm), Paragraph("PHIẾU YÊU CẦU", title), Spacer(1, 4 * mm),
              Paragraph("Kính gửi: Sở Thông tin và Truyền thông thành phố Đà Nẵng", center),
              Spacer(1, 5 * mm)]
    for label, value in (
        ("Họ và tên người yêu cầu", requester_name),
        ("Chức vụ", requester_position),
        ("Điện thoại liên lạc", requester_phone),
        ("Nội dung yêu cầu", content),
        ("Liệt kê cụ thể các yêu cầu (nếu có)", details),
    ):
        story.append(Paragraph(f"{label}: {esc(value)}", base))
    story.append(Spacer(1, 4 * mm))

    data: list[list] = [[Paragraph(h, head) for h in TABLE_HEADERS]]
    for i, p in enumerate(people, start=1):
        data.append([
            Paragraph(esc(p.seq if p.seq is not None else str(i)), cell),
            Paragraph(esc(p.full_name), cell),
            Paragraph(esc(p.department), cell),
            Paragraph(esc(p.phone), cell),
            Paragraph(esc(p.address), cell),
        ])
    for j in range(blank_rows):
        data.append([Paragraph(str(len(people) + j + 1), cell), "", "", "", ""])
    table = Table(
        data,
        colWidths=[12 * mm, 40 * mm, 45 * mm, 28 * mm, 45 * mm],
        repeatRows=1 if repeat_header else 0,
    )
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.6, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("FONTNAME", (0, 0), (-1, -1), font),
    ]))
    story += [table, Spacer(1, 8 * mm)]
    sign_block = Table(
        [["", Paragraph(esc(date_line), center)],
         ["", Paragraph("CHÁNH VĂN PHÒNG HOẶC<br/>TƯƠNG ĐƯƠNG", center_bold)],
         ["", Paragraph("(Ký chữ ký điện tử)", center)],
         ["", Spacer(1, 12 * mm)],
         ["", Paragraph(esc(signer_name or requester_name), center_bold)]],
        colWidths=[80 * mm, 90 * mm],
    )
    story.append(KeepTogether([sign_block]))

    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm,
                            topMargin=18 * mm, bottomMargin=18 * mm,
                            title="Phiếu yêu cầu cấp mới, thay đổi hoặc hủy bỏ hộp thư điện tử",
                            author=unit_name, invariant=1)
    doc.build(story)
    return out.getvalue()


# --- signing ------------------------------------------------------------------------


def pyhanko_signer(identity: Identity):
    """A pyHanko SimpleSigner for an Identity; the CA chain is embedded in the CMS."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    def load(c):
        return asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))

    key_der = identity.key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return signers.SimpleSigner(
        signing_cert=load(identity.cert),
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs([load(c) for c in identity.chain]),
    )


def sign_pdf(
    pdf_bytes: bytes,
    signer: Identity,
    *,
    field_name: str = "Sig1",
    timestamp: datetime | None = None,
    pades: bool = True,
    reason: str | None = "Phê duyệt phiếu yêu cầu",
) -> bytes:
    """Sign `pdf_bytes` in an incremental update (any earlier signature stays intact).

    `timestamp` is the signing time the signer *claims* (/M and the CMS signingTime);
    it defaults to now. It is no trusted timestamp: set it in the past to forge a
    backdated signature.
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    class _ClaimedTimeSigner(signers.PdfSigner):
        def init_signing_session(self, pdf_out, existing_fields_only=False):
            session = super().init_signing_session(pdf_out, existing_fields_only)
            if timestamp is not None:
                session.system_time = timestamp
            return session

    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES if pades
        else fields.SigSeedSubFilter.ADOBE_PKCS7_DETACHED,
        reason=reason,
        location="Đà Nẵng",
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf_bytes))
    out = io.BytesIO()
    _ClaimedTimeSigner(meta, signer=pyhanko_signer(signer)).sign_pdf(writer, output=out)
    return out.getvalue()


def add_document_timestamp(pdf_bytes: bytes, tsa: Identity) -> bytes:
    """Append a document timestamp (/DocTimeStamp) from an in-process dummy TSA."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    def load(c):
        return asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))

    key_der = tsa.key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    stamper = DummyTimeStamper(
        tsa_cert=load(tsa.cert), tsa_key=asn1_keys.PrivateKeyInfo.load(key_der),
        certs_to_embed=SimpleCertificateStore.from_certs([load(c) for c in tsa.chain]),
    )
    out = io.BytesIO()
    signers.PdfTimeStamper(stamper).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf_bytes)), "sha256", output=out
    )
    return out.getvalue()


# --- tampering ----------------------------------------------------------------------


def signed_ranges(data: bytes) -> list[tuple[int, int, int, int]]:
    """The /ByteRange arrays found in the file, in file order."""
    import re

    return [tuple(int(x) for x in m.groups()) for m in  # type: ignore[misc]
            re.finditer(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", data)]


def flip_byte_in_signed_content(data: bytes, *, which: int = 0) -> bytes:
    """Change one byte inside the first page's content stream (covered by every signature)."""
    import re

    m = re.search(rb"stream\r?\n", data[data.find(b"/Contents"):])
    start = data.find(b"/Contents") + (m.end() if m else 0)
    # the first content stream after the page's /Contents key: a byte in its payload
    pos = start + 40 + which
    end = signed_ranges(data)[0][1] if signed_ranges(data) else len(data)
    assert pos < end, "no signed content byte found to flip"
    return data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1 :]


def _fake_page_xobject(writer, fake_pdf: bytes):
    from pyhanko.pdf_utils.reader import PdfFileReader

    other = PdfFileReader(io.BytesIO(fake_pdf))
    return writer.import_page_as_xobject(other, 0)


def paint_over_table(
    data: bytes, new_rows: Iterable[Person | Sequence[str]], **slip_kwargs
) -> bytes:
    """Incremental update: a white box over the whole first page, then a new slip drawn on it.

    A viewer shows only the new rows; the signed revision still holds the originals.
    """
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    xobj = _fake_page_xobject(writer, make_slip_pdf(new_rows, **slip_kwargs))
    ops = b"q 1 1 1 rg 0 0 595.3 841.9 re f Q q /DnmOverlay Do Q"
    stream_ref = writer.add_object(generic.StreamObject(stream_data=ops))
    resources = generic.DictionaryObject(
        {
            generic.pdf_name("/XObject"): generic.DictionaryObject(
                {generic.pdf_name("/DnmOverlay"): xobj}
            )
        }
    )
    writer.add_stream_to_page(0, stream_ref, resources=resources)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def replace_page_content(
    data: bytes, new_rows: Iterable[Person | Sequence[str]], **slip_kwargs
) -> bytes:
    """Incremental update: the first page's /Contents and /Resources replaced by a new slip."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    xobj = _fake_page_xobject(writer, make_slip_pdf(new_rows, **slip_kwargs))
    page_ref, _ = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    page[generic.pdf_name("/Contents")] = writer.add_object(
        generic.StreamObject(stream_data=b"q /DnmPage Do Q")
    )
    page[generic.pdf_name("/Resources")] = generic.DictionaryObject(
        {
            generic.pdf_name("/XObject"): generic.DictionaryObject(
                {generic.pdf_name("/DnmPage"): xobj}
            )
        }
    )
    writer.mark_update(page_ref)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def update_metadata(data: bytes, *, title: str = "Phiếu yêu cầu (đã lưu lại)") -> bytes:
    """Incremental update touching only the document information dictionary."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    writer.set_info(
        generic.DictionaryObject({generic.pdf_name("/Title"): generic.TextStringObject(title)})
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def overlay_drawing(data: bytes, draw, *, page: int = 0, before: bytes = b"") -> bytes:
    """Incremental update: what `draw(canvas, font)` draws with reportlab (DejaVu as
    `font`) is painted over page `page`, as a form XObject.

    `before` is content run just before the form is painted: state the form inherits
    (e.g. b"1 g", a white fill for a drawing that sets no colour).
    """
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    font, _bold = register_fonts()
    drawing = io.BytesIO()
    c = canvas.Canvas(drawing, pagesize=A4, invariant=1)
    draw(c, font)
    c.showPage()
    c.save()
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    xobj = writer.import_page_as_xobject(PdfFileReader(io.BytesIO(drawing.getvalue())), 0)
    ops = b"q " + before + b" /DnmDrawing Do Q"
    stream_ref = writer.add_object(generic.StreamObject(stream_data=ops))
    resources = generic.DictionaryObject(
        {
            generic.pdf_name("/XObject"): generic.DictionaryObject(
                {generic.pdf_name("/DnmDrawing"): xobj}
            )
        }
    )
    writer.add_stream_to_page(page, stream_ref, resources=resources)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


#: Where the header line "Chức vụ: …" of make_slip_pdf sits: text hidden at this height,
#: right of the visible words, is read before the real "Nội dung yêu cầu" line.
HIDDEN_LINE_AT = (330.0, 646.2)


def add_hidden_text(
    data: bytes,
    text: str,
    *,
    at: tuple[float, float] = HIDDEN_LINE_AT,
    size: float = 10.5,
    page: int = 0,
) -> bytes:
    """Incremental update: `text` drawn white on white on page `page` (issue 12 §1).

    Whoever prepares the slip adds it before the chief signs: the viewer shows nothing,
    a text extractor reads it. With the default place, a hidden "Nội dung yêu cầu: Hủy
    bỏ" is the request content a reader finds first.
    """

    def draw(c, font):
        c.setFillColorRGB(1, 1, 1)
        c.setFont(font, size)
        c.drawString(at[0], at[1], text)

    return overlay_drawing(data, draw, page=page)


def append_after_eof(data: bytes, junk: bytes = b"\n% appended after signing\n") -> bytes:
    return data + junk


def truncate(data: bytes, keep: float = 0.6) -> bytes:
    return data[: int(len(data) * keep)]


SAMPLE_ROWS = (
    Person("Phạm Minh Tuấn", "Phòng Tổ chức", "0905123456", "tuanpm"),
    Person("Võ Thị Lan", "Văn phòng", "0914222333", ""),
)


def flip_byte_in_signature_dict(data: bytes, *, index: int = -1) -> bytes:
    """Change one letter of the /Reason of signature `index` (in file order).

    The byte lies inside that signature's ByteRange but after every earlier
    signature's, so only that signature breaks (the file stays parseable).
    """
    ranges = signed_ranges(data)
    i = range(len(ranges))[index]
    lo = ranges[i - 1][2] + ranges[i - 1][3] if i > 0 else 0
    _start, gap_start, gap_end, tail = ranges[i]
    pos = data.find(b"/Reason (", lo, gap_end + tail)
    assert pos >= 0 and not gap_start <= pos < gap_end, "no /Reason in the signature's revision"
    pos += len(b"/Reason (")
    while not (chr(data[pos]).isalpha() and data[pos - 1] != ord("\\")):
        pos += 1
    return data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1 :]


# --- form fields and timestamps (issue 12 §1, §2) --------------------------------------


def add_text_field(
    pdf_bytes: bytes,
    *,
    name: str = "Ghi chú",
    rect: tuple[float, float, float, float] = (60, 60, 400, 80),
) -> bytes:
    """An empty text form field on the first page (before signing, as a unit's form
    would carry one); `fill_text_field` fills it after signing."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(pdf_bytes))
    page_ref = w.root["/Pages"]["/Kids"][0]
    page = page_ref.get_object()
    ap = generic.StreamObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/XObject"),
            generic.NameObject("/Subtype"): generic.NameObject("/Form"),
            generic.NameObject("/BBox"): generic.ArrayObject(
                [
                    generic.FloatObject(0),
                    generic.FloatObject(0),
                    generic.FloatObject(rect[2] - rect[0]),
                    generic.FloatObject(rect[3] - rect[1]),
                ]
            ),
        },
        stream_data=b"",
    )
    field = generic.DictionaryObject(
        {
            generic.NameObject("/FT"): generic.NameObject("/Tx"),
            generic.NameObject("/T"): generic.pdf_string(name),
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Widget"),
            generic.NameObject("/Rect"): generic.ArrayObject(
                [generic.FloatObject(v) for v in rect]
            ),
            generic.NameObject("/P"): page_ref,
            generic.NameObject("/F"): generic.NumberObject(4),
            generic.NameObject("/DA"): generic.pdf_string("/Helv 10 Tf 0 g"),
            generic.NameObject("/AP"): generic.DictionaryObject(
                {generic.NameObject("/N"): w.add_object(ap)}
            ),
        }
    )
    field_ref = w.add_object(field)
    annots = page.get("/Annots")
    page[generic.NameObject("/Annots")] = generic.ArrayObject([*(annots or []), field_ref])
    w.update_container(page)
    w.root[generic.NameObject("/AcroForm")] = w.add_object(
        generic.DictionaryObject(
            {
                generic.NameObject("/Fields"): generic.ArrayObject([field_ref]),
            }
        )
    )
    w.update_root()
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def fill_text_field(pdf_bytes: bytes, value: str, *, name: str = "Ghi chú") -> bytes:
    """Fill the text field `name` in an incremental update after signing: what DocMDP
    lets anyone do to an approved slip (the viewer shows the value)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(pdf_bytes))
    for ref in w.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field.get("/T") == name:
            break
    else:
        raise KeyError(name)
    field[generic.NameObject("/V")] = generic.pdf_string(value)
    x0, y0, x1, y1 = (float(v) for v in field["/Rect"])
    ap = generic.StreamObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/XObject"),
            generic.NameObject("/Subtype"): generic.NameObject("/Form"),
            generic.NameObject("/BBox"): generic.ArrayObject(
                [
                    generic.FloatObject(0),
                    generic.FloatObject(0),
                    generic.FloatObject(x1 - x0),
                    generic.FloatObject(y1 - y0),
                ]
            ),
        },
        stream_data=b"/Tx BMC BT /Helv 10 Tf 2 6 Td ("
        + value.encode("latin-1", "replace")
        + b") Tj ET EMC",
    )
    field[generic.NameObject("/AP")] = generic.DictionaryObject(
        {generic.NameObject("/N"): w.add_object(ap)}
    )
    w.update_container(field)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def sign_pdf_timestamped(
    pdf_bytes: bytes,
    signer: Identity,
    tsa: Identity,
    *,
    tsa_time: datetime,
    claimed: datetime | None = None,
    field_name: str = "Sig1",
) -> bytes:
    """Sign with a signature timestamp token (RFC 3161) from an in-process TSA whose
    clock reads `tsa_time`; the signer claims `claimed` (default: the same time)."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    def load(c):
        return asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))

    key_der = tsa.key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    stamper = DummyTimeStamper(
        tsa_cert=load(tsa.cert),
        tsa_key=asn1_keys.PrivateKeyInfo.load(key_der),
        certs_to_embed=SimpleCertificateStore.from_certs([load(c) for c in tsa.chain]),
        fixed_dt=tsa_time,
    )
    when = claimed or tsa_time

    class _ClaimedTimeSigner(signers.PdfSigner):
        def init_signing_session(self, pdf_out, existing_fields_only=False):
            session = super().init_signing_session(pdf_out, existing_fields_only)
            session.system_time = when
            return session

    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason="Phê duyệt phiếu yêu cầu",
        location="Đà Nẵng",
    )
    out = io.BytesIO()
    _ClaimedTimeSigner(meta, signer=pyhanko_signer(signer), timestamper=stamper).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf_bytes)), output=out
    )
    return out.getvalue()
