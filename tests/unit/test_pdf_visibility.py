"""Only what the signer saw (issue 12 §1): every way of hiding text in a PDF is found,
with its page and its text, and a real slip yields nothing.

Each hiding trick is drawn alone on a page beside a visible line, with reportlab and
DejaVu as tests/support/pdfslips.py draws slips (and pyHanko for what reportlab cannot
write: patterns, layers, annotations). Where a renderer can show it, PDFium (pypdfium2,
which pdfplumber installs) renders the page and proves the trick really hides the text
from a viewer, while pdfplumber, the reader of slips, still extracts it.
"""

from __future__ import annotations

import io
import time

import pytest

from dnmail.errors import InvalidFile
from dnmail.readers.pdf_colours import colour_difference
from dnmail.readers.pdf_visibility import (
    HiddenText,
    HidingTrick,
    find_hidden_text,
    hidden_text_on_page,
)
from support import pdfslips as ps

A4 = (595.2756, 841.8898)
SHOWN = "Họ và tên: Phạm Minh Tuấn"
HIDDEN = "Lê Văn Ẩn 0905999999"
HIDDEN_KIND = "Nội dung yêu cầu: Hủy bỏ"


# --- drawing ---------------------------------------------------------------------------


def one_page(draw, *, cropbox=None, shown_at=(72, 780)) -> bytes:
    """An A4 page with SHOWN in black at `shown_at`, then whatever `draw(canvas, font)` adds."""
    from reportlab.pdfgen import canvas

    font, _bold = ps.register_fonts()
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4, invariant=1)
    if cropbox:
        c.setCropBox(cropbox)
    c.setFont(font, 11)
    c.drawString(*shown_at, SHOWN)
    draw(c, font)
    c.showPage()
    c.save()
    return out.getvalue()


def edit(pdf: bytes, change) -> bytes:
    """An incremental update made by `change(writer, page_dict, page_ref)`."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page_ref, _ = writer.find_page_for_modification(0)
    change(writer, page_ref.get_object(), page_ref)
    writer.mark_update(page_ref)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def add_resource(kind: str, name: str, value_of):
    """A `change` for edit(): page /Resources /kind /name = value_of(writer)."""
    from pyhanko.pdf_utils import generic

    def change(writer, page, _ref):
        resources = page["/Resources"]
        key = generic.pdf_name("/" + kind)
        if key not in resources:
            resources[key] = generic.DictionaryObject()
        resources[key][generic.pdf_name("/" + name)] = value_of(writer)

    return change


def text(c, font, words=HIDDEN, *, x=72, y=700, size=11, mode=None, scale=None):
    t = c.beginText(x, y)
    t.setFont(font, size)
    if mode is not None:
        t.setTextRenderMode(mode)
    if scale is not None:
        t.setHorizScale(scale)
    t.textOut(words)
    c.drawText(t)


def raw(c, ops: str) -> None:
    """PDF operators reportlab has no call for, written into the page's content."""
    c._code.append(ops)


# --- what a viewer shows: PDFium as the witness --------------------------------------


def ink_in(pdf: bytes, bbox, *, page=0, scale=2.0) -> int:
    """How many pixels in `bbox` (points from the top-left) differ from the area's paper."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    try:
        image = doc[page].render(scale=scale, may_draw_forms=True).to_pil().convert("RGB")
    finally:
        doc.close()
    x0, top, x1, bottom = bbox
    box = (int(x0 * scale) + 1, int(top * scale) + 1, int(x1 * scale) - 1, int(bottom * scale) - 1)
    region = image.crop(box)
    colours = region.getcolors(maxcolors=1 << 20) or []
    if not colours:
        return 0
    _count, paper = max(colours)
    return sum(n for n, c in colours if max(abs(a - b) for a, b in zip(c, paper, strict=True)) > 24)


def extracted(pdf: bytes) -> str:
    import pdfplumber

    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        return "\n".join(p.extract_text() or "" for p in doc.pages)


def found(pdf: bytes) -> list[tuple[int, str, HidingTrick]]:
    return [(f.page, f.text, f.trick) for f in find_hidden_text(pdf)]


# --- each trick, alone ------------------------------------------------------------------


def _white_rgb(c, font):
    c.setFillColorRGB(1, 1, 1)
    text(c, font)


def _white_gray(c, font):
    c.setFillGray(1)
    text(c, font)


def _white_cmyk(c, font):
    c.setFillColorCMYK(0, 0, 0, 0)
    text(c, font)


def _nearly_white(c, font):
    c.setFillColorRGB(0.96, 0.97, 0.96)
    text(c, font)


def _white_spot_colour(c, font):
    from reportlab.lib.colors import CMYKColorSep

    c.setFillColor(CMYKColorSep(0, 0, 0, 0, spotName="Trang", density=1))
    text(c, font)


def _same_as_box_under(c, font):
    c.setFillColorRGB(0.2, 0.4, 0.6)
    c.rect(60, 690, 320, 26, fill=1, stroke=0)
    c.setFillColorRGB(0.21, 0.4, 0.6)
    text(c, font)


def _cmyk_on_gray_box(c, font):
    c.setFillGray(0.5)
    c.rect(60, 690, 320, 26, fill=1, stroke=0)
    c.setFillColorCMYK(0, 0, 0, 0.5)  # the same grey, said in CMYK
    text(c, font)


def _render_mode_3(c, font):
    text(c, font, mode=3)


def _render_mode_7(c, font):
    c.saveState()
    text(c, font, mode=7)
    c.restoreState()


def _transparent(c, font):
    c.setFillAlpha(0)
    text(c, font)


def _blend_lighten(c, font):
    c.setFillColorRGB(1, 1, 1)  # a white box (blend modes act on what is painted, not paper)
    c.rect(60, 690, 320, 26, fill=1, stroke=0)
    c.setFillColorRGB(0, 0, 0)
    c.setBlendMode("Lighten")  # black lightened against white: white
    text(c, font)


def _covered_by_box(c, font):
    text(c, font)
    c.setFillColorRGB(1, 1, 1)
    c.rect(60, 690, 320, 26, fill=1, stroke=0)


def _covered_by_thick_stroke(c, font):
    text(c, font)
    c.setStrokeColorRGB(1, 1, 1)
    c.setLineWidth(30)
    c.line(60, 703, 380, 703)


def _covered_by_image(c, font):
    from PIL import Image
    from reportlab.lib.utils import ImageReader

    text(c, font)
    c.drawImage(ImageReader(Image.new("RGB", (8, 8), (255, 255, 255))), 60, 690, 320, 26)


def _covered_by_shading(c, font):
    from reportlab.lib.colors import white

    text(c, font)
    c.saveState()
    p = c.beginPath()
    p.rect(60, 690, 320, 26)
    c.clipPath(p, stroke=0, fill=0)
    c.linearGradient(60, 690, 380, 716, (white, white), extend=True)
    c.restoreState()


def _outside_page(c, font):
    text(c, font, x=-400)


def _outside_crop_box(c, font):
    text(c, font, y=700)  # the crop box ends at 600


def _clipped(c, font):
    c.saveState()
    p = c.beginPath()
    p.rect(0, 0, 50, 50)
    c.clipPath(p, stroke=0, fill=0)
    text(c, font)
    c.restoreState()


def _clipped_by_round_path(c, font):
    c.saveState()
    p = c.beginPath()
    p.circle(500, 100, 40)
    c.clipPath(p, stroke=0, fill=0)
    text(c, font)
    c.restoreState()


def _clipped_by_blank_text_clip(c, font):
    c.saveState()
    text(c, font, " ", mode=7)  # clip to the outline of a space: to nothing
    raw(c, "0 Tr")  # reportlab leaves mode 3 set after a clipping text object
    text(c, font)
    c.restoreState()


def _tiny_font(c, font):
    text(c, font, size=1)


def _squeezed(c, font):
    text(c, font, scale=4)


def _scaled_down(c, font):
    c.saveState()
    c.scale(0.1, 0.1)
    text(c, font, x=720, y=7000)
    c.restoreState()


def _colourant_none(c, font):
    raw(c, "/SepNone cs 1 scn")
    text(c, font)


def _layer_off(c, font):
    raw(c, "/OC /Hidden BDC")
    text(c, font)
    raw(c, "EMC")


def _white_tiling_pattern(c, font):
    raw(c, "/Pattern cs /White scn")
    text(c, font)


def _white_shading_pattern(c, font):
    raw(c, "/Pattern cs /Fade scn")
    text(c, font)


def _white_uncoloured_pattern(c, font):
    raw(c, "/PatternRGB cs 1 1 1 /Hatch scn")
    text(c, font)


def _sep_none(writer):
    from pyhanko.pdf_utils import generic

    fn = writer.add_object(generic.DictionaryObject({
        generic.pdf_name("/FunctionType"): generic.NumberObject(2),
        generic.pdf_name("/Domain"): generic.ArrayObject([generic.NumberObject(0),
                                                          generic.NumberObject(1)]),
        generic.pdf_name("/N"): generic.NumberObject(1),
    }))
    return generic.ArrayObject([generic.pdf_name("/Separation"), generic.pdf_name("/None"),
                                generic.pdf_name("/DeviceGray"), fn])


def _tiling(writer, *, paint_type=1, cell=b"1 1 1 rg 0 0 4 4 re f"):
    from pyhanko.pdf_utils import generic

    return writer.add_object(
        generic.StreamObject(
            {
                generic.pdf_name("/PatternType"): generic.NumberObject(1),
                generic.pdf_name("/PaintType"): generic.NumberObject(paint_type),
                generic.pdf_name("/TilingType"): generic.NumberObject(1),
                generic.pdf_name("/BBox"): generic.ArrayObject(
                    [generic.NumberObject(v) for v in (0, 0, 4, 4)]
                ),
                generic.pdf_name("/XStep"): generic.NumberObject(4),
                generic.pdf_name("/YStep"): generic.NumberObject(4),
                generic.pdf_name("/Resources"): generic.DictionaryObject(),
            },
            stream_data=cell,
        )
    )


def _shading_pattern(writer):
    from pyhanko.pdf_utils import generic

    def nums(*vs):
        return generic.ArrayObject([generic.FloatObject(v) for v in vs])

    shading = generic.DictionaryObject(
        {
            generic.pdf_name("/ShadingType"): generic.NumberObject(2),
            generic.pdf_name("/ColorSpace"): generic.pdf_name("/DeviceRGB"),
            generic.pdf_name("/Coords"): nums(0, 0, 600, 0),
            generic.pdf_name("/Function"): generic.DictionaryObject(
                {
                    generic.pdf_name("/FunctionType"): generic.NumberObject(2),
                    generic.pdf_name("/Domain"): nums(0, 1),
                    generic.pdf_name("/C0"): nums(1, 1, 1),
                    generic.pdf_name("/C1"): nums(0.98, 0.98, 0.98),
                    generic.pdf_name("/N"): generic.NumberObject(1),
                }
            ),
        }
    )
    return writer.add_object(
        generic.DictionaryObject(
            {
                generic.pdf_name("/PatternType"): generic.NumberObject(2),
                generic.pdf_name("/Shading"): shading,
            }
        )
    )


def _hidden_layer(pdf: bytes) -> bytes:
    from pyhanko.pdf_utils import generic

    def change(writer, page, ref):
        ocg = writer.add_object(
            generic.DictionaryObject(
                {
                    generic.pdf_name("/Type"): generic.pdf_name("/OCG"),
                    generic.pdf_name("/Name"): generic.TextStringObject("Ghi chú"),
                }
            )
        )
        add_resource("Properties", "Hidden", lambda w: ocg)(writer, page, ref)
        writer.root[generic.pdf_name("/OCProperties")] = generic.DictionaryObject(
            {
                generic.pdf_name("/OCGs"): generic.ArrayObject([ocg]),
                generic.pdf_name("/D"): generic.DictionaryObject(
                    {generic.pdf_name("/OFF"): generic.ArrayObject([ocg])}
                ),
            }
        )
        writer.update_root()

    return edit(pdf, change)


def _square_annotation_over(pdf: bytes) -> bytes:
    """A /Square annotation filled white over the hidden line, with its appearance."""
    from pyhanko.pdf_utils import generic

    def change(writer, page, _ref):
        def nums(*vs):
            return generic.ArrayObject([generic.FloatObject(v) for v in vs])

        appearance = writer.add_object(
            generic.StreamObject(
                {
                    generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
                    generic.pdf_name("/Subtype"): generic.pdf_name("/Form"),
                    generic.pdf_name("/BBox"): nums(0, 0, 320, 26),
                },
                stream_data=b"1 1 1 rg 0 0 320 26 re f",
            )
        )
        annot = writer.add_object(
            generic.DictionaryObject(
                {
                    generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
                    generic.pdf_name("/Subtype"): generic.pdf_name("/Square"),
                    generic.pdf_name("/Rect"): nums(60, 690, 380, 716),
                    generic.pdf_name("/IC"): nums(1, 1, 1),
                    generic.pdf_name("/F"): generic.NumberObject(4),
                    generic.pdf_name("/AP"): generic.DictionaryObject(
                        {generic.pdf_name("/N"): appearance}
                    ),
                }
            )
        )
        page[generic.pdf_name("/Annots")] = generic.ArrayObject([annot])

    return edit(pdf, change)


def _with(kind, name, value_of):
    return lambda pdf: edit(pdf, add_resource(kind, name, value_of))


def _pattern_rgb_space(writer):
    from pyhanko.pdf_utils import generic

    return generic.ArrayObject([generic.pdf_name("/Pattern"), generic.pdf_name("/DeviceRGB")])


def _both(*steps):
    def run(pdf):
        for step in steps:
            pdf = step(pdf)
        return pdf

    return run


#: (id, draw, expected trick, finishing touch, page options, can PDFium witness it?)
TRICKS = [
    ("white-rgb", _white_rgb, HidingTrick.SAME_COLOUR, None, {}, True),
    ("white-gray", _white_gray, HidingTrick.SAME_COLOUR, None, {}, True),
    ("white-cmyk", _white_cmyk, HidingTrick.SAME_COLOUR, None, {}, True),
    ("nearly-white", _nearly_white, HidingTrick.SAME_COLOUR, None, {}, True),
    ("white-spot-colour", _white_spot_colour, HidingTrick.SAME_COLOUR, None, {}, True),
    ("same-as-box-under", _same_as_box_under, HidingTrick.SAME_COLOUR, None, {}, True),
    ("cmyk-on-gray-box", _cmyk_on_gray_box, HidingTrick.SAME_COLOUR, None, {}, False),
    ("render-mode-3", _render_mode_3, HidingTrick.INVISIBLE_MODE, None, {}, True),
    ("render-mode-7", _render_mode_7, HidingTrick.INVISIBLE_MODE, None, {}, True),
    ("transparent", _transparent, HidingTrick.TRANSPARENT, None, {}, True),
    ("blend-lighten", _blend_lighten, HidingTrick.SAME_COLOUR, None, {}, True),
    ("covered-by-box", _covered_by_box, HidingTrick.COVERED, None, {}, True),
    ("covered-by-stroke", _covered_by_thick_stroke, HidingTrick.COVERED, None, {}, True),
    ("covered-by-image", _covered_by_image, HidingTrick.COVERED, None, {}, True),
    ("covered-by-shading", _covered_by_shading, HidingTrick.COVERED, None, {}, True),
    (
        "covered-by-annotation",
        lambda c, f: text(c, f),
        HidingTrick.COVERED,
        _square_annotation_over,
        {},
        True,
    ),
    ("outside-page", _outside_page, HidingTrick.OUTSIDE_PAGE, None, {}, False),
    (
        "outside-crop-box",
        _outside_crop_box,
        HidingTrick.OUTSIDE_PAGE,
        None,
        {"cropbox": (0, 0, 595, 600), "shown_at": (72, 500)},
        False,
    ),
    ("clipped", _clipped, HidingTrick.CLIPPED, None, {}, True),
    ("clipped-by-round-path", _clipped_by_round_path, HidingTrick.CLIPPED, None, {}, True),
    ("clipped-by-blank-text", _clipped_by_blank_text_clip, HidingTrick.CLIPPED, None, {}, True),
    ("tiny-font", _tiny_font, HidingTrick.TOO_SMALL, None, {}, False),
    ("squeezed", _squeezed, HidingTrick.TOO_SMALL, None, {}, False),
    ("scaled-down", _scaled_down, HidingTrick.TOO_SMALL, None, {}, False),
    (
        "colourant-none",
        _colourant_none,
        HidingTrick.TRANSPARENT,
        _with("ColorSpace", "SepNone", _sep_none),
        {},
        True,
    ),
    ("layer-off", _layer_off, HidingTrick.HIDDEN_LAYER, _hidden_layer, {}, True),
    (
        "white-tiling-pattern",
        _white_tiling_pattern,
        HidingTrick.SAME_COLOUR,
        _with("Pattern", "White", _tiling),
        {},
        True,
    ),
    (
        "white-shading-pattern",
        _white_shading_pattern,
        HidingTrick.SAME_COLOUR,
        _with("Pattern", "Fade", _shading_pattern),
        {},
        True,
    ),
    (
        "white-uncoloured-pattern",
        _white_uncoloured_pattern,
        HidingTrick.SAME_COLOUR,
        _both(
            _with("Pattern", "Hatch", lambda w: _tiling(w, paint_type=2, cell=b"0 0 4 4 re f")),
            _with("ColorSpace", "PatternRGB", _pattern_rgb_space),
        ),
        {},
        True,
    ),
]


@pytest.mark.parametrize(
    ("draw", "trick", "finish", "options", "witness"),
    [t[1:] for t in TRICKS],
    ids=[t[0] for t in TRICKS],
)
def test_each_hiding_trick_is_found_with_page_and_text(draw, trick, finish, options, witness):
    pdf = one_page(draw, **options)
    if finish is not None:
        pdf = finish(pdf)

    findings = find_hidden_text(pdf)

    assert [(f.page, f.text, f.trick) for f in findings] == [(1, HIDDEN, trick)], findings
    assert findings[0].detail
    assert HIDDEN in findings[0].message()
    if witness:  # a viewer really does not show it, and the line beside it is shown
        assert ink_in(pdf, findings[0].bbox) == 0
        assert ink_in(pdf, (72, A4[1] - 792, 200, A4[1] - 776)) > 0


def test_a_hidden_line_is_read_by_the_extractor_but_not_shown():
    """The premise of the issue: what pdfplumber reads is not what the viewer shows."""
    pdf = one_page(_white_rgb)
    assert HIDDEN in extracted(pdf)
    assert ink_in(pdf, find_hidden_text(pdf)[0].bbox) == 0


# --- the issue's example: a white "Hủy bỏ" on a real slip --------------------------------


def test_the_issues_white_cancel_on_a_change_slip_is_found():
    slip = ps.make_slip_pdf(ps.SAMPLE_ROWS, content="Thay đổi thông tin hộp thư")
    pdf = ps.add_hidden_text(slip, HIDDEN_KIND)

    findings = find_hidden_text(pdf)

    assert [(f.page, f.text, f.trick) for f in findings] == [
        (1, HIDDEN_KIND, HidingTrick.SAME_COLOUR)
    ]
    assert findings[0].detail == "#ffffff on #ffffff"
    problem = findings[0].as_problem("phieu.pdf")
    assert (problem.file, problem.page) == ("phieu.pdf", 1)
    assert HIDDEN_KIND in str(problem)
    assert HIDDEN_KIND in extracted(pdf)  # the text extractor reads it
    assert ink_in(pdf, findings[0].bbox) == 0  # the viewer shows nothing there


def test_white_inherited_by_a_form_from_the_page_is_found():
    """The form draws in its default colour; the page set white before painting it."""
    slip = ps.make_slip_pdf(ps.SAMPLE_ROWS)
    pdf = ps.overlay_drawing(
        slip, lambda c, font: text(c, font, HIDDEN_KIND, x=330, y=646.2), before=b"1 g"
    )

    assert found(pdf) == [(1, HIDDEN_KIND, HidingTrick.SAME_COLOUR)]
    assert ink_in(pdf, find_hidden_text(pdf)[0].bbox) == 0


def test_hidden_text_on_a_later_page_names_that_page():
    rows = [ps.Person(f"Nguyễn Văn {i}", "Văn phòng", f"0905{i:06d}") for i in range(60)]
    slip = ps.make_slip_pdf(rows)
    last = _page_count(slip)
    assert last >= 2

    pdf = ps.overlay_drawing(slip, _white_rgb, page=last - 1)

    assert found(pdf) == [(last, HIDDEN, HidingTrick.SAME_COLOUR)]


def _page_count(pdf: bytes) -> int:
    import pdfplumber

    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        return len(doc.pages)


# --- no false positive -------------------------------------------------------------------


def test_a_normal_slip_shows_everything():
    assert find_hidden_text(ps.make_slip_pdf(ps.SAMPLE_ROWS)) == []


def test_a_long_slip_over_many_pages_shows_everything():
    rows = [
        ps.Person(f"Trần Thị Mỹ Hạnh {i}", "Phòng Tổ chức", f"0914{i:06d}", f"hanh{i}")
        for i in range(80)
    ]
    slip = ps.make_slip_pdf(rows, repeat_header=True)
    assert _page_count(slip) >= 3
    assert find_hidden_text(slip) == []


def shaded_slip(rows=ps.SAMPLE_ROWS) -> bytes:
    """A slip as an office might style it: grey header row, light grey banded rows,
    a dark header bar with white text, underlined labels and a light grey note."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4 as RL_A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font, bold = ps.register_fonts()
    base = ParagraphStyle("b", fontName=font, fontSize=10.5, leading=14)
    cell = ParagraphStyle("c", parent=base, fontSize=9.5, leading=12)
    head = ParagraphStyle("h", parent=cell, fontName=bold)
    bar = ParagraphStyle("w", parent=base, fontName=bold, textColor=colors.white)
    faint = ParagraphStyle("f", parent=base, textColor=colors.Color(0.55, 0.55, 0.55))
    story = [
        Table(
            [[Paragraph("PHIẾU YÊU CẦU", bar)]],
            colWidths=[170 * mm],
            style=[("BACKGROUND", (0, 0), (-1, -1), colors.Color(0.1, 0.2, 0.45))],
        ),
        Spacer(1, 4 * mm),
        Paragraph("<u>Họ và tên người yêu cầu</u>: Nguyễn Văn An", base),
        Paragraph("Nội dung yêu cầu: Cấp mới hộp thư điện tử", base),
        Paragraph("(Ghi chú: điền đủ các cột)", faint),
        Spacer(1, 4 * mm),
    ]
    data = [[Paragraph(h, head) for h in ps.TABLE_HEADERS]]
    for i, p in enumerate(rows, start=1):
        data.append(
            [Paragraph(v, cell) for v in (str(i), p.full_name, p.department, p.phone, p.address)]
        )
    table = Table(data, colWidths=[12 * mm, 40 * mm, 45 * mm, 28 * mm, 45 * mm])
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.6, colors.black),
                ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.8, 0.8, 0.8)),
                (
                    "ROWBACKGROUNDS",
                    (0, 1),
                    (-1, -1),
                    [colors.Color(0.93, 0.93, 0.93), colors.white],
                ),
            ]
        )
    )
    story.append(table)
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=RL_A4, invariant=1).build(story)
    return out.getvalue()


def test_a_styled_slip_with_shading_and_a_dark_header_bar_shows_everything():
    pdf = shaded_slip()
    assert find_hidden_text(pdf) == []
    assert "Phạm Minh Tuấn" in extracted(pdf)


def test_a_signed_slip_with_a_visible_signature_box_shows_everything(tmp_path):
    from pyhanko.sign import fields, signers

    from support.pki import build_test_pki

    pki = build_test_pki()
    slip = shaded_slip()
    meta = signers.PdfSignatureMetadata(
        field_name="Sig1", md_algorithm="sha256", reason="Phê duyệt phiếu yêu cầu"
    )
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    # the box sits on the table's lower edge, over rules and white paper, as chiefs do
    spec = fields.SigFieldSpec("Sig1", box=(330, 560, 530, 620))
    out = io.BytesIO()
    signers.PdfSigner(meta, signer=ps.pyhanko_signer(pki.snv), new_field_spec=spec).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(slip)), output=out
    )
    signed = out.getvalue()
    end = ps.signed_ranges(signed)[0]
    signed_revision = signed[: end[2] + end[3]]

    assert ink_in(signed, (330, A4[1] - 620, 530, A4[1] - 560)) > 0  # the box is drawn
    assert find_hidden_text(signed_revision) == []
    assert find_hidden_text(signed) == []


def test_legible_colours_are_not_findings():
    def draw(c, font):
        for i, (r, g, b) in enumerate(
            [(0.5, 0.5, 0.5), (0.8, 0.1, 0.1), (0.1, 0.1, 0.8), (0.75, 0.75, 0.75)]
        ):
            c.setFillColorRGB(r, g, b)
            text(c, font, f"Dòng {i}", y=700 - 20 * i)
        c.setFillColorRGB(0.9, 0.9, 0.9)  # a light grey box, black text on it
        c.rect(60, 560, 300, 20, fill=1, stroke=0)
        c.setFillColorRGB(0, 0, 0)
        text(c, font, "Chữ đen trên nền xám", y=566)
        c.setFillColorRGB(0.1, 0.1, 0.4)  # white text on a dark box
        c.rect(60, 520, 300, 20, fill=1, stroke=0)
        c.setFillColorRGB(1, 1, 1)
        text(c, font, "Chữ trắng trên nền xanh", y=526)
        c.setFillColorRGB(0, 0, 0)
        text(c, font, "Gạch chân", y=486)
        c.setLineWidth(0.8)
        c.line(72, 484, 140, 484)  # an underline crossing the descenders
        c.setFillColorRGB(0, 0, 0)
        c.setFillAlpha(0.6)
        text(c, font, "Nửa trong suốt", y=460)
        c.setFillAlpha(1)
        c.setBlendMode("Lighten")  # on bare paper a blend mode changes nothing
        text(c, font, "Chế độ hòa trộn", y=440)

    assert find_hidden_text(one_page(draw)) == []


def _picture(c, colour, *, y=690):
    from PIL import Image
    from reportlab.lib.utils import ImageReader

    c.drawImage(ImageReader(Image.new("RGB", (16, 4), colour)), 60, y, 320, 26)


def test_text_on_a_picture_is_compared_with_the_pictures_colours():
    def draw(c, font):
        _picture(c, (255, 255, 255))
        c.setFillColorRGB(1, 1, 1)
        text(c, font)  # white on a white picture: hidden
        _picture(c, (255, 255, 255), y=590)
        c.setFillColorRGB(0, 0, 0)
        text(c, font, "Chữ đen trên ảnh trắng", y=600)  # black on it: shown
        _picture(c, (20, 30, 120), y=560)
        c.setFillColorRGB(1, 1, 1)
        text(c, font, "Chữ trắng trên ảnh xanh", y=570)  # white on dark blue: shown

    pdf = one_page(draw)
    assert found(pdf) == [(1, HIDDEN, HidingTrick.SAME_COLOUR)]
    assert ink_in(pdf, find_hidden_text(pdf)[0].bbox) == 0


# --- the API ---------------------------------------------------------------------------


def test_findings_are_structured_and_pages_can_be_checked_one_by_one():
    import pdfplumber

    pdf = one_page(_render_mode_3)
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        page = doc.pages[0]
        page.extract_words()  # the reader's own pass first: fonts are shared
        findings = hidden_text_on_page(page)
    assert findings == find_hidden_text(pdf)
    f = findings[0]
    assert isinstance(f, HiddenText)
    assert f.detail == "text render mode 3"
    x0, top, x1, bottom = f.bbox
    assert 60 < x0 < x1 < 300 and A4[1] - 720 < top < bottom < A4[1] - 690


def test_a_broken_pdf_is_refused_naming_the_file():
    with pytest.raises(InvalidFile) as exc:
        find_hidden_text(b"%PDF-1.7\n not a pdf", file_name="phieu.pdf")
    assert exc.value.problems[0].file == "phieu.pdf"


def test_words_of_one_hidden_run_keep_their_spaces_and_separate_runs_stay_apart():
    def draw(c, font):
        c.setFillColorRGB(1, 1, 1)
        text(c, font, "Hủy bỏ", y=700)
        c.setFillColorRGB(0, 0, 0)
        text(c, font, "hiện", y=680)
        text(c, font, "ẩn", y=660, mode=3)

    findings = find_hidden_text(one_page(draw))
    assert [(f.text, f.trick) for f in findings] == [
        ("Hủy bỏ", HidingTrick.SAME_COLOUR),
        ("ẩn", HidingTrick.INVISIBLE_MODE),
    ]


def test_colour_difference_is_cie76():
    assert colour_difference((1, 1, 1), (1, 1, 1)) == 0
    assert colour_difference((0, 0, 0), (1, 1, 1)) == pytest.approx(100, abs=0.01)


# --- cost ------------------------------------------------------------------------------


def test_cost_is_small_beside_reading_the_slip():
    """Checking a page costs less than pdfplumber reading its characters."""
    import pdfplumber

    rows = [
        ps.Person(f"Nguyễn Văn {i}", "Phòng Tổ chức", f"0905{i:06d}", f"user{i}")
        for i in range(120)
    ]
    slip = ps.make_slip_pdf(rows)

    def best(fn):
        times = []
        for _ in range(3):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    def read():
        with pdfplumber.open(io.BytesIO(slip)) as doc:
            for p in doc.pages:
                p.chars  # noqa: B018

    checking = best(lambda: find_hidden_text(slip))
    reading = best(read)
    assert checking < 2 * reading + 0.05


# --- odd but legal pages -----------------------------------------------------------------


def _rotated(pdf: bytes, degrees: int) -> bytes:
    from pyhanko.pdf_utils import generic

    def change(_writer, page, _ref):
        page[generic.pdf_name("/Rotate")] = generic.NumberObject(degrees)

    return edit(pdf, change)


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotated_pages_read_the_same(degrees):
    assert find_hidden_text(_rotated(ps.make_slip_pdf(ps.SAMPLE_ROWS), degrees)) == []
    assert found(_rotated(one_page(_white_rgb), degrees)) == [(1, HIDDEN, HidingTrick.SAME_COLOUR)]


def _nested_forms(pdf: bytes, depth: int, *, innermost=b"0 0 1 1 re f") -> bytes:
    """Page content painting a form that paints a form … `depth` deep."""
    from pyhanko.pdf_utils import generic

    def change(writer, page, _ref):
        inner = None
        for level in range(depth):
            resources = generic.DictionaryObject()
            if inner is not None:
                resources[generic.pdf_name("/XObject")] = generic.DictionaryObject(
                    {generic.pdf_name("/Fm"): inner}
                )
            inner = writer.add_object(
                generic.StreamObject(
                    {
                        generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
                        generic.pdf_name("/Subtype"): generic.pdf_name("/Form"),
                        generic.pdf_name("/BBox"): generic.ArrayObject(
                            [generic.NumberObject(v) for v in (0, 0, 600, 900)]
                        ),
                        generic.pdf_name("/Resources"): resources,
                    },
                    stream_data=b"/Fm Do" if level else innermost,
                )
            )
        page["/Resources"][generic.pdf_name("/XObject")] = generic.DictionaryObject(
            {generic.pdf_name("/Fm"): inner}
        )
        painter = writer.add_object(generic.StreamObject(stream_data=b"/Fm Do"))
        page[generic.pdf_name("/Contents")] = generic.ArrayObject(
            [page.raw_get("/Contents"), painter]
        )

    return edit(pdf, change)


def test_forms_nested_too_deep_are_refused_not_skipped():
    assert find_hidden_text(_nested_forms(one_page(lambda c, f: None), 10)) == []
    with pytest.raises(InvalidFile) as exc:
        find_hidden_text(_nested_forms(one_page(lambda c, f: None), 40), file_name="phieu.pdf")
    assert "nested" in str(exc.value) and "phieu.pdf" in str(exc.value)
