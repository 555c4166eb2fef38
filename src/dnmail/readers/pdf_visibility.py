"""Only what the signer saw: the text of a PDF page that a viewer would not show.

A chief of office signs what the viewer shows. A text extractor (pdfplumber, pdfminer)
reads every glyph in the content stream, shown or not, so whoever prepares the slip
can add rows, or turn "Cấp mới" into "Hủy bỏ", that the chief never saw (issue 12 §1).
This module replays each page's drawing the way a viewer paints it and reports every
glyph that would not be visible, with its page and text, and why:

* it sits in an optional content layer (OCG) that is off in the default view;
* its text render mode is 3 (invisible) or 7 (clip only);
* it lies outside the page's visible box (CropBox within the MediaBox) or outside the
  clipping path in force (a rectangle, any path, a form's BBox, a text clip);
* it is too small to read: its em is under `MIN_GLYPH_HEIGHT` points high or under
  `MIN_GLYPH_WIDTH` wide (font size, text matrix, horizontal scaling and CTM together);
* it is (nearly) fully transparent (ExtGState `ca`/`CA`, the colourant /None);
* its colour is (nearly) that of what is under it: the paper, a filled shape, a
  shading, an image: colours in DeviceGray, RGB, CMYK, ICC-based, Cal*, Lab, Indexed,
  Separation and DeviceN (exponential, stitching and sampled tint functions), tiling
  patterns (the colours their cell paints) and shading patterns (their function),
  composed with the blend mode and opacity in force. "Nearly" is a CIE76 colour
  difference under `MIN_COLOUR_DIFFERENCE`;
* something drawn after it covers it: a filled or stroked path, an image (its soft
  mask and stencil decoded when they are Flate or uncompressed), a shading (`sh`),
  or the appearance of an annotation (a white /Square over the table);
* dnmail cannot tell: text painted with a colour it cannot work out (a PostScript tint
  function, a mesh shading), through a soft mask, or with a non-separable blend mode.
  Such text is reported too: a slip has no reason to be drawn that way.

A glyph counts as visible when at least half of `_SAMPLES` points spread over its body
are. Whitespace glyphs are never findings but join the words of a finding.

What the viewer shows is judged on screen (white paper; overprint ignored) and from
the drawing, not from pixels, so the reasons can be named. Not covered: text drawn over
a JPEG (or other undecodable) image is not compared with the picture's colours; glyph
outlines are not rasterised (a glyph whose outline is empty, or a ToUnicode map that
names other characters than the glyphs drawn, is not seen; text painted over text does
not count as covering it); Type 3 glyph procedures are not run.

Colours (spaces, tint functions, patterns, blending, difference) are worked out in
readers/pdf_colours.py. pdfminer's interpreter is the base (pdfplumber reads with it
too), extended where it does not track what decides visibility: clipping paths,
ExtGState opacity and blend modes, colour spaces beyond Gray/RGB/CMYK, the `F` fill
operator and shadings, the graphics state a form XObject inherits, optional content
and annotations. Importing this module loads pdfminer: import it inside the functions
that need it.
"""

from __future__ import annotations

import io
import itertools
import math
import struct
import unicodedata
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pdfminer.pdfdevice import PDFTextDevice
from pdfminer.pdffont import PDFUnicodeNotDefined
from pdfminer.pdfinterp import (
    LITERAL_FORM,
    LITERAL_IMAGE,
    PDFGraphicState,
    PDFPageInterpreter,
    PDFResourceManager,
)
from pdfminer.pdftypes import PDFObjRef, PDFStream, resolve1
from pdfminer.psparser import PSLiteral
from pdfminer.utils import MATRIX_IDENTITY, apply_matrix_pt, mult_matrix

from dnmail.domain.states import Labelled
from dnmail.errors import InvalidFile, Problem
from dnmail.i18n import N_, _
from dnmail.readers.pdf_colours import (
    BARE,
    DEVICE_CMYK,
    DEVICE_GRAY,
    DEVICE_RGB,
    NOTHING,
    SEPARABLE_BLENDS,
    WHITE,
    ColourSpace,
    Layer,
    Paint,
    clamp,
    colour_difference,
    colour_space,
    dict_of,
    hex_colour,
    list_of,
    mean_paint,
    name_of,
    num,
    nums,
    over,
    seen,
    shading_paint,
)

#: An em smaller than this (points, as the viewer shows it at 100 %) cannot be read.
MIN_GLYPH_HEIGHT = 3.0
MIN_GLYPH_WIDTH = 1.5
#: CIE76 ΔE below which text and what is under it look the same. Black on a #cccccc
#: header cell is 82; mid grey #808080 on white 46; #d9d9d9 on white 13 (faint but
#: seen); #e6e6e6 on white 8.7 and #fafafa 1.7 are refused.
MIN_COLOUR_DIFFERENCE = 10.0
#: An opacity at or under this shows nothing.
MAX_INVISIBLE_ALPHA = 0.05
#: Form XObjects nested deeper than this are refused (a chain of forms is no slip).
MAX_FORM_DEPTH = 24
#: Images larger than this (pixels) are not decoded to compare colours.
MAX_SAMPLED_PIXELS = 16_000_000
_GRID = 48.0  # side (points) of the cells of the spatial index of painted shapes
#: Where a glyph is probed, as (fraction of its advance, fraction of its em above the
#: baseline): the body of lowercase letters and the stems of capitals.
_SAMPLES = tuple((u, v) for v in (0.15, 0.3, 0.45) for u in (0.2, 0.5, 0.8))


class HidingTrick(Labelled):
    """Why a glyph would not be visible: the value a code, `label` the operator's
    wording in the interface's language."""

    HIDDEN_LAYER = "hidden-layer"
    INVISIBLE_MODE = "invisible-mode"
    OUTSIDE_PAGE = "outside-page"
    CLIPPED = "clipped"
    TOO_SMALL = "too-small"
    TRANSPARENT = "transparent"
    SAME_COLOUR = "same-colour"
    COVERED = "covered"
    UNCHECKABLE = "uncheckable"

    @classmethod
    def _labels(cls) -> dict[str, str]:
        return {
            "hidden-layer": N_("in an optional content layer that is off"),
            "invisible-mode": N_("drawn in an invisible text render mode"),
            "outside-page": N_("outside the visible page"),
            "clipped": N_("clipped away"),
            "too-small": N_("too small to read"),
            "transparent": N_("fully transparent"),
            "same-colour": N_("the same colour as what is under it"),
            "covered": N_("covered by something drawn over it"),
            "uncheckable": N_("painted in a way dnmail cannot check"),
        }


@dataclass(frozen=True)
class HiddenText:
    """A run of glyphs of one page that a viewer would not show, for one reason."""

    page: int  # 1-based
    text: str  # NFC, in drawing order, words separated by single spaces
    trick: HidingTrick
    detail: str  # the evidence, e.g. "#ffffff on #ffffff", "render mode 3"
    bbox: tuple[float, float, float, float]  # x0, top, x1, bottom: points from top-left

    def message(self) -> str:
        shown = self.text if len(self.text) <= 120 else self.text[:119] + "…"
        return _("text {text} would not be visible: {why} ({evidence})").format(
            text=repr(shown), why=self.trick.label, evidence=self.detail)

    def as_problem(self, file_name: str) -> Problem:
        return Problem(self.message(), file=file_name, page=self.page)


class _Refused(Exception):
    """The page cannot be checked at all (e.g. forms nested too deep)."""


# --- geometry ------------------------------------------------------------------------

Point = tuple[float, float]
Box = tuple[float, float, float, float]


def _bbox(points: Sequence[Point]) -> Box:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return (min(xs), min(ys), max(xs), max(ys))


def _box_of(polygons: Sequence[Sequence[Point]]) -> Box:
    return _bbox([p for poly in polygons for p in poly]) if any(polygons) else (0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class _Region:
    """Polygons in page space with a fill rule (a clipping path or a painted area)."""

    polygons: tuple[tuple[Point, ...], ...]
    evenodd: bool
    bbox: Box
    is_rect: bool  # one axis-aligned rectangle: its bbox says it all

    @classmethod
    def of(cls, polygons: Sequence[Sequence[Point]], evenodd: bool = False) -> _Region:
        polys = tuple(tuple(p) for p in polygons if len(p) >= 3)
        box = _box_of(polys) if polys else (0.0, 0.0, 0.0, 0.0)
        return cls(polys, evenodd, box, len(polys) == 1 and _is_rectangle(polys[0]))

    def contains(self, x: float, y: float) -> bool:
        x0, y0, x1, y1 = self.bbox
        if not (x0 <= x <= x1 and y0 <= y <= y1) or not self.polygons:
            return False
        if self.is_rect:
            return True
        winding = 0
        crossings = 0
        for poly in self.polygons:
            ax, ay = poly[-1]
            for bx, by in poly:
                if ay <= y < by or by <= y < ay:
                    side = (bx - ax) * (y - ay) - (x - ax) * (by - ay)
                    crossings += 1
                    if by > ay and side > 0:
                        winding += 1
                    elif by < ay and side < 0:
                        winding -= 1
                ax, ay = bx, by
        return crossings % 2 == 1 if self.evenodd else winding != 0

    def contains_box(self, box: Box) -> bool:
        """Whether the whole of `box` is inside (exact for rectangles only)."""
        if not self.is_rect:
            return False
        x0, y0, x1, y1 = self.bbox
        return x0 <= box[0] and y0 <= box[1] and box[2] <= x1 and box[3] <= y1


def _is_rectangle(poly: Sequence[Point]) -> bool:
    """Four corners (a fifth closing one allowed) joined by horizontal and vertical sides."""
    if len(poly) == 5 and poly[4] == poly[0]:
        poly = poly[:4]
    if len(poly) != 4:
        return False
    for i in range(4):
        (ax, ay), (bx, by) = poly[i], poly[(i + 1) % 4]
        if (abs(ax - bx) < 1e-6) == (abs(ay - by) < 1e-6):
            return False
    return True


def _flatten(path: Sequence[tuple], ctm: tuple) -> list[list[Point]]:
    """Subpaths of a pdfminer path in page space, Bézier curves as 8 segments."""
    subpaths: list[list[Point]] = []
    current: list[Point] = []
    start: Point = (0.0, 0.0)
    last: Point = (0.0, 0.0)

    def pt(x: object, y: object) -> Point:
        return apply_matrix_pt(ctm, (num(x), num(y)))

    for seg in path:
        op = seg[0]
        if op in ("m", "h"):  # a new subpath, or the current one closed
            if len(current) > 1:
                subpaths.append(current)
            if op == "m":
                start = pt(seg[1], seg[2])
            last = start
            current = [start]
        elif op == "l":
            last = pt(seg[1], seg[2])
            current.append(last)
        else:
            here = current[-1] if current else last
            controls = _curve_controls(seg, pt, here)
            if controls is not None:
                current.extend(_bezier(here, *controls))
                last = current[-1]
    if len(current) > 1:
        subpaths.append(current)
    return subpaths


def _curve_controls(seg: tuple, pt: Callable[[object, object], Point], here: Point
                    ) -> tuple[Point, Point, Point] | None:
    """The control points and end of a curve segment (c, v or y), in page space."""
    op = seg[0]
    if op == "c" and len(seg) >= 7:
        return pt(seg[1], seg[2]), pt(seg[3], seg[4]), pt(seg[5], seg[6])
    if op == "v" and len(seg) >= 5:  # the first control point is the current point
        return here, pt(seg[1], seg[2]), pt(seg[3], seg[4])
    if op == "y" and len(seg) >= 5:  # the second control point is the end
        end = pt(seg[3], seg[4])
        return pt(seg[1], seg[2]), end, end
    return None


def _bezier(p0: Point, p1: Point, p2: Point, p3: Point) -> list[Point]:
    """A cubic Bézier curve as 8 points after `p0` (its last is `p3`)."""
    points = []
    for k in range(1, 9):
        t = k / 8
        m = 1 - t
        points.append((
            m**3 * p0[0] + 3 * m * m * t * p1[0] + 3 * m * t * t * p2[0] + t**3 * p3[0],
            m**3 * p0[1] + 3 * m * m * t * p1[1] + 3 * m * t * t * p2[1] + t**3 * p3[1],
        ))
    return points


def _stroke_polygons(subpaths: Sequence[Sequence[Point]], width: float) -> list[list[Point]]:
    """Each segment of a stroked path as a quadrilateral `width` wide (joins ignored)."""
    half = max(width, 0.5) / 2  # a zero-width line is still one device pixel wide
    quads: list[list[Point]] = []
    for sub in subpaths:
        for (ax, ay), (bx, by) in itertools.pairwise(sub):
            dx, dy = bx - ax, by - ay
            length = math.hypot(dx, dy)
            if length == 0:
                quads.append([(ax - half, ay - half), (ax + half, ay - half),
                              (ax + half, ay + half), (ax - half, ay + half)])
                continue
            nx, ny = -dy / length * half, dx / length * half
            ex, ey = dx / length * half, dy / length * half  # projecting caps
            quads.append([(ax - nx - ex, ay - ny - ey), (bx - nx + ex, by - ny + ey),
                          (bx + nx + ex, by + ny + ey), (ax + nx - ex, ay + ny - ey)])
    return quads


def _matrix_scale(m: tuple) -> float:
    return math.sqrt(abs(m[0] * m[3] - m[1] * m[2]))


def _invert(m: tuple) -> tuple | None:
    a, b, c, d, e, f = m
    det = a * d - b * c
    if abs(det) < 1e-12:
        return None
    return (d / det, -b / det, -c / det, a / det, (c * f - d * e) / det, (b * e - a * f) / det)


# --- what gets painted -----------------------------------------------------------------


class _Picture:
    """An image XObject or inline image: its colour and opacity at a point of the page."""

    def __init__(self, stream: PDFStream, ctm: tuple, named: dict, fill: Paint):
        self.stream = stream
        self.inverse = _invert(ctm)
        self.named = named
        self.fill = fill  # the paint of a stencil mask
        self._pixels: Callable[[float, float], Paint] | None = None
        self._alpha: Callable[[float, float], float | None] | None = None
        self._ready = False

    def _get(self, *keys: str) -> Any:
        for k in keys:
            if k in self.stream.attrs:
                return resolve1(self.stream.attrs[k])
        return None

    def _prepare(self) -> None:
        self._ready = True
        stencil = self._get("ImageMask", "IM") is True
        if stencil:
            bits = _sampler(self.stream, 1, 1, [0.0, 1.0])
            decode = nums(self._get("Decode", "D")) or [0.0, 1.0]
            painted_when = 0.0 if decode[0] == 0 else 1.0
            fill = self.fill
            if bits is not None:
                self._pixels = lambda u, v: fill
                self._alpha = lambda u, v: None if (s := bits(u, v)) is None else (
                    1.0 if s[0] == painted_when else 0.0)
            return
        space = colour_space(self._get("ColorSpace", "CS"), self.named)
        bpc = int(num(self._get("BitsPerComponent", "BPC"), 8))
        decode = nums(self._get("Decode", "D")) or (
            [0.0, float((1 << bpc) - 1)] if space.indexed else [0.0, 1.0] * space.n)
        samples = _sampler(self.stream, space.n, bpc, decode)
        if samples is not None:
            self._pixels = lambda u, v: None if (s := samples(u, v)) is None else space.to_paint(s)
        smask = self._get("SMask")
        if isinstance(smask, PDFStream):
            alpha = _sampler(smask, 1, int(num(smask.attrs.get("BitsPerComponent"), 8)),
                             nums(smask.attrs.get("Decode")) or [0.0, 1.0])
            self._alpha = (lambda u, v: None if (s := alpha(u, v)) is None else s[0]) \
                if alpha is not None else (lambda u, v: None)
        elif self._get("Mask") is not None:
            self._alpha = lambda u, v: None  # colour-key or stencil mask: not decoded
        else:
            self._alpha = lambda u, v: 1.0

    def at(self, x: float, y: float) -> tuple[Paint, float | None] | None:
        """(paint, alpha) at page point (x, y), or None when the point is off the image."""
        if self.inverse is None:
            return None
        u, v = apply_matrix_pt(self.inverse, (x, y))
        if not (0.0 <= u <= 1.0 and 0.0 <= v <= 1.0):
            return None
        if not self._ready:
            self._prepare()
        paint = self._pixels(u, v) if self._pixels else None
        alpha = self._alpha(u, v) if self._alpha else None
        return paint, alpha


def _sampler(stream: PDFStream, ncomp: int, bpc: int, decode: Sequence[float]
             ) -> Callable[[float, float], list[float] | None] | None:
    """Decoded samples of an image at unit-square coordinates; None when not decodable."""
    attrs = stream.attrs
    width = int(num(resolve1(attrs.get("Width", attrs.get("W"))), 0))
    height = int(num(resolve1(attrs.get("Height", attrs.get("H"))), 0))
    if width <= 0 or height <= 0 or width * height > MAX_SAMPLED_PIXELS or \
            bpc not in (1, 2, 4, 8, 16):
        return None
    stride = (width * ncomp * bpc + 7) // 8
    data = _image_data(stream, (stride + 1) * height)
    if data is None or len(data) < stride * height:
        return None
    top = float((1 << bpc) - 1)
    dec = list(decode) + [0.0, 1.0] * ncomp

    def sample(u: float, v: float) -> list[float] | None:
        col = min(int(u * width), width - 1)
        row = min(int((1 - v) * height), height - 1)
        out = []
        for k in range(ncomp):
            bit = (col * ncomp + k) * bpc
            if bpc == 8:
                s = data[row * stride + bit // 8]
            elif bpc == 16:
                s = struct.unpack_from(">H", data, row * stride + bit // 8)[0]
            else:
                byte = data[row * stride + bit // 8]
                s = (byte >> (8 - bpc - bit % 8)) & ((1 << bpc) - 1)
            out.append(dec[2 * k] + s * (dec[2 * k + 1] - dec[2 * k]) / top)
        return out

    return sample


def _image_data(stream: PDFStream, limit: int) -> bytes | None:
    """An image's samples, inflating no more than `limit` bytes (an image's stream may
    be a bomb as well); None for what is not decoded here (JPEG, JBIG2, LZW…)."""
    from pdfminer.ascii85 import ascii85decode, asciihexdecode
    from pdfminer.pdftypes import (
        LITERALS_ASCII85_DECODE,
        LITERALS_ASCIIHEX_DECODE,
        LITERALS_FLATE_DECODE,
    )
    from pdfminer.utils import apply_png_predictor, apply_tiff_predictor

    if stream.data is not None:
        return stream.data
    data = stream.rawdata
    if data is None or stream.decipher is not None:
        return None
    try:
        for kind, raw_params in stream.get_filters():
            if kind in LITERALS_FLATE_DECODE:
                data = zlib.decompressobj().decompress(data, limit)
            elif kind in LITERALS_ASCII85_DECODE:
                data = ascii85decode(data)
            elif kind in LITERALS_ASCIIHEX_DECODE:
                data = asciihexdecode(data)
            else:
                return None
            params = dict_of(raw_params)
            predictor = int(num(params.get("Predictor"), 1))
            if predictor > 1:
                colors = int(num(params.get("Colors"), 1))
                columns = int(num(params.get("Columns"), 1))
                bits = int(num(params.get("BitsPerComponent"), 8))
                data = (apply_tiff_predictor(colors, columns, bits, data) if predictor == 2
                        else apply_png_predictor(predictor, colors, columns, bits, data))
    except Exception:  # zlib's, or pdfminer's (an unsupported predictor…): not decoded
        return None
    return data


@dataclass(slots=True)
class _Painted:
    """A shape, image or shading laid on the page, in drawing order."""

    seq: int
    kind: str  # "filled shape", "stroke", "image", "shading", "annotation Square"…
    bbox: Box
    region: _Region | None  # None: everywhere its clips allow (a shading, an image)
    paint: Paint
    alpha: float | None  # None: unknown (a mask dnmail does not decode)
    blend: str
    clips: tuple[_Region, ...]
    picture: _Picture | None = None

    def at(self, x: float, y: float) -> tuple[Paint, float | None] | None:
        if self.region is not None and not self.region.contains(x, y):
            return None
        for clip in self.clips:
            if not clip.contains(x, y):
                return None
        if self.picture is not None:
            laid = self.picture.at(x, y)
            if laid is None or laid[1] is None or self.alpha is None:
                return laid
            return laid[0], laid[1] * self.alpha  # an image is painted at the fill opacity
        return self.paint, self.alpha


@dataclass(slots=True)
class _Glyph:
    seq: int
    text: str
    matrix: tuple  # text space → page space, at the glyph's origin
    advance: float
    fontsize: float
    scaling: float
    rise: float
    vertical: bool
    box: Box  # in text space
    mode: int
    paints: tuple[tuple[Paint, float, str], ...]  # (paint, alpha, blend) per painting
    smask: bool
    clips: tuple[_Region, ...]
    layer: str | None  # the name of the optional content layer hiding it
    note: str  # how its colour was chosen, when that is a pattern
    page_box: Box = (0.0, 0.0, 0.0, 0.0)

    @property
    def blank(self) -> bool:
        return not self.text.strip()


class _State(PDFGraphicState):
    """pdfminer's graphics state plus what decides visibility."""

    def __init__(self) -> None:
        super().__init__()
        self.fill_space: ColourSpace = DEVICE_GRAY
        self.stroke_space: ColourSpace = DEVICE_GRAY
        self.fill: Paint = (0.0, 0.0, 0.0)
        self.stroke: Paint = (0.0, 0.0, 0.0)
        self.fill_note = ""  # how the fill was chosen when dnmail cannot check it
        self.stroke_note = ""
        self.fill_alpha = 1.0
        self.stroke_alpha = 1.0
        self.blend = "Normal"
        self.smask = False
        self.clips: tuple[_Region, ...] = ()

    def copy(self) -> _State:
        obj = _State.__new__(_State)
        obj.__dict__.update(self.__dict__)
        return obj


class _Device(PDFTextDevice):
    """Records glyphs and painted shapes in drawing order."""

    ctm: Any  # set by the interpreter (begin_page) before anything is painted

    def __init__(self, rsrcmgr: PDFResourceManager) -> None:
        super().__init__(rsrcmgr)
        self.glyphs: list[_Glyph] = []
        self.painted: list[_Painted] = []
        self.seq = 0
        self.layers: list[str | None] = []  # marked-content stack: a hidden layer's name
        self.annotation: str | None = None  # painting an annotation's appearance
        self.page_ctm: tuple = MATRIX_IDENTITY
        self.visible: Box = (-1e9, -1e9, 1e9, 1e9)
        self.page_height = 0.0
        self._mode = 0

    def begin_page(self, page: Any, ctm: tuple) -> None:
        self.page_ctm = ctm
        media = _bbox([apply_matrix_pt(ctm, p) for p in _corners(page.mediabox)])
        crop = _bbox([apply_matrix_pt(ctm, p) for p in _corners(page.cropbox)])
        self.visible = (max(media[0], crop[0]), max(media[1], crop[1]),
                        min(media[2], crop[2]), min(media[3], crop[3]))
        self.page_height = media[3] - media[1]

    def hidden_layer(self) -> str | None:
        for name in reversed(self.layers):
            if name is not None:
                return name
        return None

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _kind(self, what: str) -> str:
        """What is painted, as a finding names it: `what`, or the annotation it is part of."""
        if self.annotation:
            return _("annotation {name}").format(name=self.annotation)
        return what

    def render_string(self, textstate: Any, seq: Any, ncs: Any, graphicstate: Any) -> None:
        self._mode = textstate.render
        super().render_string(textstate, seq, ncs, graphicstate)

    def render_char(self, matrix: tuple, font: Any, fontsize: float, scaling: float,
                    rise: float, cid: int, ncs: Any, graphicstate: Any) -> float:
        advance = font.char_width(cid) * fontsize * scaling
        if self.annotation is not None:
            return advance  # text in an appearance stream is not extracted: never rows
        try:
            text = font.to_unichr(cid)
        except PDFUnicodeNotDefined:
            text = f"(cid:{cid})"
        state: _State = graphicstate
        mode = self._mode
        paints = []
        if mode in (0, 2, 4, 6) or not 0 <= mode <= 7:
            paints.append((state.fill, state.fill_alpha, state.blend))
        if mode in (1, 2, 5, 6):
            paints.append((state.stroke, state.stroke_alpha, state.blend))
        vertical = font.is_vertical()
        if vertical:
            vx, vy = font.char_disp(cid)
            vx = fontsize * 0.5 if vx is None else vx * fontsize * 0.001
            vy = (1000 - vy) * fontsize * 0.001
            box = (-vx, vy + rise + advance, -vx + fontsize, vy + rise)
        else:
            descent = font.get_descent() * fontsize
            box = (0.0, descent + rise, advance, descent + rise + fontsize)
        note = state.fill_note if mode in (0, 2, 4, 6) else state.stroke_note
        glyph = _Glyph(self._next(), text, matrix, advance, fontsize, scaling, rise, vertical,
                       box, mode, tuple(paints), state.smask, state.clips, self.hidden_layer(),
                       note)
        glyph.page_box = _bbox([apply_matrix_pt(matrix, p) for p in _corners(box)])
        self.glyphs.append(glyph)
        return advance

    def paint_path(self, graphicstate: Any, stroke: bool, fill: bool, evenodd: bool,
                   path: Sequence[tuple]) -> None:
        if self.hidden_layer() is not None or not path:
            return
        state: _State = graphicstate
        subpaths = _flatten(path, self.ctm)
        if not subpaths:
            return
        if fill and state.fill != NOTHING:
            region = _Region.of(subpaths, evenodd)
            self.painted.append(_Painted(self._next(), self._kind(_("filled shape")), region.bbox,
                                         region, state.fill, state.fill_alpha, state.blend,
                                         state.clips))
        if stroke and state.stroke != NOTHING:
            width = abs(state.linewidth) * _matrix_scale(self.ctm)
            region = _Region.of(_stroke_polygons(subpaths, width))
            if region.polygons:
                self.painted.append(_Painted(self._next(), self._kind(_("stroke")), region.bbox,
                                             region, state.stroke, state.stroke_alpha,
                                             state.blend, state.clips))

    def paint_image(self, stream: PDFStream, state: _State, named: dict) -> None:
        if self.hidden_layer() is not None:
            return
        ctm = self.ctm
        corners = [apply_matrix_pt(ctm, p) for p in ((0, 0), (1, 0), (1, 1), (0, 1))]
        picture = _Picture(stream, ctm, named, state.fill)
        self.painted.append(_Painted(self._next(), self._kind(_("image")), _bbox(corners), None,
                                     None, state.fill_alpha, state.blend, state.clips, picture))

    def paint_shading(self, paint: Paint, state: _State) -> None:
        if self.hidden_layer() is not None or paint == NOTHING:
            return
        box = self.visible
        for clip in state.clips:
            box = (max(box[0], clip.bbox[0]), max(box[1], clip.bbox[1]),
                   min(box[2], clip.bbox[2]), min(box[3], clip.bbox[3]))
        self.painted.append(_Painted(self._next(), self._kind(_("shading")), box, None, paint,
                                     state.fill_alpha, state.blend, state.clips))


def _corners(box: Sequence[float]) -> list[Point]:
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


class _OptionalContent:
    """Which optional content groups the default view hides (ISO 32000 §8.11)."""

    def __init__(self, catalog: dict) -> None:
        self.off: set[int] = set()
        props = dict_of(catalog.get("OCProperties"))
        self.active = bool(props)
        if not props:
            return
        config = dict_of(props.get("D"))
        base_off = name_of(config.get("BaseState")) == "OFF"
        on = {r.objid for r in list_of(config.get("ON")) if isinstance(r, PDFObjRef)}
        off = {r.objid for r in list_of(config.get("OFF")) if isinstance(r, PDFObjRef)}
        groups = {r.objid for r in list_of(props.get("OCGs")) if isinstance(r, PDFObjRef)}
        for oid in groups | on | off:
            if oid in off or (base_off and oid not in on):
                self.off.add(oid)
        # auto states for viewing: a group's /Usage /View /ViewState decides
        for entry in list_of(config.get("AS")):
            entry = dict_of(entry)
            if name_of(entry.get("Event")) != "View":
                continue
            if "View" not in {name_of(c) for c in list_of(entry.get("Category"))}:
                continue
            for ref in list_of(entry.get("OCGs")):
                if not isinstance(ref, PDFObjRef):
                    continue
                view = dict_of(dict_of(dict_of(ref).get("Usage")).get("View"))
                state = name_of(view.get("ViewState"))
                if state == "OFF":
                    self.off.add(ref.objid)
                elif state == "ON":
                    self.off.discard(ref.objid)

    def hidden(self, ref: object) -> str | None:
        """The name of the layer that hides content marked with `ref`, or None."""
        if not self.active or ref is None:
            return None
        return self._hidden(ref, 0)

    def _group_name(self, ref: object) -> str:
        raw = resolve1(dict_of(ref).get("Name"))
        if isinstance(raw, bytes):
            return raw.decode("utf-16") if raw[:2] in (b"\xfe\xff", b"\xff\xfe") \
                else raw.decode("latin-1")
        return str(raw) if raw is not None else "?"

    def _hidden(self, ref: object, depth: int) -> str | None:
        obj = dict_of(ref)
        kind = name_of(obj.get("Type"))
        if kind == "OCMD":
            return self._membership(obj, depth)
        if isinstance(ref, PDFObjRef) and ref.objid in self.off:
            return self._group_name(ref)
        return None

    def _membership(self, md: dict, depth: int) -> str | None:
        if depth > 8:
            return None
        if "VE" in md:
            visible = self._expression(md["VE"], depth + 1)
            if visible is None or visible:
                return None
            return _("visibility expression")
        groups = [r for r in (list_of(md.get("OCGs")) or [md.get("OCGs")]) if r is not None]
        if not groups:
            return None
        hidden = [self._hidden(r, depth + 1) for r in groups]
        shown = [h is None for h in hidden]
        policy = name_of(md.get("P")) or "AnyOn"
        visible = {"AllOn": all(shown), "AnyOn": any(shown), "AnyOff": not all(shown),
                   "AllOff": not any(shown)}.get(policy, any(shown))
        if visible:
            return None
        return next((h for h in hidden if h), _("membership policy"))

    def _expression(self, expr: object, depth: int) -> bool | None:
        if depth > 16:
            return None
        if isinstance(expr, PDFObjRef) and name_of(dict_of(expr).get("Type")) == "OCG":
            return self._hidden(expr, depth) is None
        items = list_of(expr)
        if not items:
            return None
        op = name_of(items[0])
        values = [self._expression(e, depth + 1) for e in items[1:]]
        if any(v is None for v in values):
            return None
        if op == "Not":
            return not values[0] if values else None
        if op == "And":
            return all(values)
        if op == "Or":
            return any(values)
        return None


#: Path-painting operators (each ends a path, and applies a pending clip); F is
#: handled apart: pdfminer ignores it where viewers fill.
_PAINT_OPS = ("n", "S", "s", "f", "f_a", "B", "B_a", "b", "b_a")


class _Interpreter(PDFPageInterpreter):
    """pdfminer's interpreter, tracking clips, opacity, colour spaces, forms and layers."""

    graphicstate: _State
    device: _Device

    def __init__(self, rsrcmgr: PDFResourceManager, device: _Device,
                 layers: _OptionalContent | None = None, depth: int = 0) -> None:
        super().__init__(rsrcmgr, device)
        self.layers = layers or _OptionalContent({})
        self.depth = depth
        self._pending_clip: tuple[list, bool] | None = None
        self._text_start = 0

    def dup(self) -> _Interpreter:
        return self.__class__(self.rsrcmgr, self.device, self.layers, self.depth + 1)

    # resources and state

    def init_resources(self, resources: dict) -> None:
        super().init_resources(resources)
        res = dict_of(resources)
        self.colour_spaces = {k: v for k, v in dict_of(res.get("ColorSpace")).items()}
        self.ext_states = dict_of(res.get("ExtGState"))
        self.patterns = dict_of(res.get("Pattern"))
        self.shadings = dict_of(res.get("Shading"))
        self.properties = dict_of(res.get("Properties"))

    def init_state(self, ctm: tuple) -> None:
        super().init_state(ctm)
        self.graphicstate = _State()
        self._pending_clip = None

    def do_gs(self, name: object) -> None:
        params = dict_of(self.ext_states.get(name_of(name) or ""))
        state = self.graphicstate
        for key, raw in params.items():
            value = resolve1(raw)
            if key == "ca":
                state.fill_alpha = clamp(num(value, 1.0))
            elif key == "CA":
                state.stroke_alpha = clamp(num(value, 1.0))
            elif key == "BM":
                modes = [name_of(v) for v in list_of(value)] or [name_of(value)]
                state.blend = next((m for m in modes if m in SEPARABLE_BLENDS),
                                   modes[0] or "Normal")
            elif key == "SMask":
                state.smask = name_of(value) != "None"
            elif key == "LW":
                state.linewidth = num(value, state.linewidth)
            elif key == "Font":
                spec = list_of(value)
                if len(spec) == 2:
                    ref = spec[0]
                    objid = ref.objid if isinstance(ref, PDFObjRef) else None
                    self.textstate.font = self.rsrcmgr.get_font(objid, dict_of(ref))
                    self.textstate.fontsize = num(spec[1], self.textstate.fontsize)

    # colours

    def _paint_with(self, space: ColourSpace, paint: Paint, stroking: bool, note: str = "") -> None:
        state = self.graphicstate
        if stroking:
            state.stroke_space, state.stroke, state.stroke_note = space, paint, note
        else:
            state.fill_space, state.fill, state.fill_note = space, paint, note

    def _set_space(self, name: object, stroking: bool) -> None:
        space = colour_space(name, self.colour_spaces)
        self._paint_with(space, NOTHING if space.pattern else space.to_paint(space.initial),
                         stroking)

    def do_CS(self, name: object) -> None:
        self._set_space(name, True)

    def do_cs(self, name: object) -> None:
        self._set_space(name, False)

    def _set_colour(self, stroking: bool) -> None:
        args = self.argstack
        pattern_name = name_of(args[-1]) if args and isinstance(args[-1], PSLiteral) else None
        end = len(args) - (1 if pattern_name is not None else 0)
        start = end
        while start > 0 and end - start < 32 and isinstance(args[start - 1], (int, float)):
            start -= 1
        values = [float(v) for v in args[start:end]]  # type: ignore[arg-type]  # numbers, checked above
        del args[start:]
        space = self.graphicstate.stroke_space if stroking else self.graphicstate.fill_space
        if not space.pattern:
            self._paint_with(space, space.to_paint(values), stroking)
        elif pattern_name is None:
            self._paint_with(space, None, stroking)
        else:
            self._paint_with(space, self._pattern_paint(pattern_name, space, values), stroking,
                             _("pattern /{name}").format(name=pattern_name))

    def do_SCN(self) -> None:
        self._set_colour(True)

    def do_scn(self) -> None:
        self._set_colour(False)

    def do_SC(self) -> None:
        self._set_colour(True)

    def do_sc(self) -> None:
        self._set_colour(False)

    def _device_colour(self, space: ColourSpace, values: Sequence[object], stroking: bool) -> None:
        self._paint_with(space, space.to_paint([num(v) for v in values]), stroking)

    def do_G(self, gray: object) -> None:
        self._device_colour(DEVICE_GRAY, [gray], True)

    def do_g(self, gray: object) -> None:
        self._device_colour(DEVICE_GRAY, [gray], False)

    def do_RG(self, r: object, g: object, b: object) -> None:
        self._device_colour(DEVICE_RGB, [r, g, b], True)

    def do_rg(self, r: object, g: object, b: object) -> None:
        self._device_colour(DEVICE_RGB, [r, g, b], False)

    def do_K(self, c: object, m: object, y: object, k: object) -> None:
        self._device_colour(DEVICE_CMYK, [c, m, y, k], True)

    def do_k(self, c: object, m: object, y: object, k: object) -> None:
        self._device_colour(DEVICE_CMYK, [c, m, y, k], False)

    def _pattern_paint(self, name: str, space: ColourSpace, values: Sequence[float]) -> Paint:
        ref = self.patterns.get(name)
        pattern = resolve1(ref)
        attrs = dict_of(pattern)
        ptype = int(num(attrs.get("PatternType"), 0))
        if ptype == 2:
            return shading_paint(attrs.get("Shading"), self.colour_spaces)
        if ptype != 1 or not isinstance(pattern, PDFStream):
            return None
        if int(num(attrs.get("PaintType"), 1)) == 2:  # uncoloured: the colour is given
            return space.base.to_paint(values) if space.base else None
        if self.depth >= 4:
            return None
        # a coloured tiling pattern: the colours its cell paints
        cell = _Device(self.rsrcmgr)
        cell.set_ctm(MATRIX_IDENTITY)
        interp = _Interpreter(self.rsrcmgr, cell, self.layers, self.depth + 1)
        interp.parent_stream_ids.update(self.parent_stream_ids | self.stream_ids)
        interp.render_contents(dict_of(attrs.get("Resources")), [pattern], ctm=MATRIX_IDENTITY)
        paints = [p.paint if p.picture is None else None for p in cell.painted]
        paints += [pa[0] for g in cell.glyphs for pa in g.paints]
        return mean_paint(paints)

    # paths and clips

    def do_W(self) -> None:
        self._pending_clip = (list(self.curpath), False)

    def do_W_a(self) -> None:
        self._pending_clip = (list(self.curpath), True)

    def _end_path(self) -> None:
        if self._pending_clip is None:
            return
        path, evenodd = self._pending_clip
        self._pending_clip = None
        region = _Region.of(_flatten(path, self.ctm), evenodd)
        self.graphicstate.clips = (*self.graphicstate.clips, region)

    def do_F(self) -> None:  # the obsolete F fills like f; pdfminer ignores it
        self.do_f()

    def do_sh(self, name: object) -> None:
        paint = shading_paint(self.shadings.get(name_of(name) or ""), self.colour_spaces)
        self.device.paint_shading(paint, self.graphicstate)

    # text

    def do_BT(self) -> None:
        super().do_BT()
        self._text_start = len(self.device.glyphs)

    def do_ET(self) -> None:
        super().do_ET()
        clipping = [g for g in self.device.glyphs[self._text_start:] if g.mode >= 4]
        if not clipping:
            return
        # the glyphs shown in modes 4-7 become the clip (their boxes; blanks clip to nothing)
        quads = []
        for g in clipping:
            if g.blank:
                continue
            pts = [apply_matrix_pt(g.matrix, p) for p in _corners(g.box)]
            area = sum(pts[i - 1][0] * pts[i][1] - pts[i][0] * pts[i - 1][1] for i in range(4))
            quads.append(pts if area >= 0 else pts[::-1])
        region = _Region.of(quads) if quads else _Region((), False, (0, 0, 0, 0), False)
        self.graphicstate.clips = (*self.graphicstate.clips, region)

    # marked content, forms, images

    def do_BMC(self, tag: object) -> None:
        self.device.layers.append(None)

    def do_BDC(self, tag: object, props: object) -> None:
        layer = None
        if name_of(tag) == "OC":
            ref = self.properties.get(name_of(props) or "") if name_of(props) else props
            layer = self.layers.hidden(ref)
        self.device.layers.append(layer)

    def do_EMC(self) -> None:
        if self.device.layers:
            self.device.layers.pop()

    def do_Do(self, xobjid_arg: object) -> None:
        name = name_of(xobjid_arg) or ""
        xobj = resolve1(self.xobjmap.get(name))
        if not isinstance(xobj, PDFStream):
            return
        subtype = resolve1(xobj.get("Subtype"))
        device: _Device = self.device
        device.layers.append(self.layers.hidden(xobj.get("OC")))
        try:
            if subtype is LITERAL_FORM and "BBox" in xobj:
                self._run_form(xobj, self.graphicstate.copy(), self.textstate.copy())
            elif subtype is LITERAL_IMAGE:
                device.paint_image(xobj, self.graphicstate, self.colour_spaces)
        finally:
            device.layers.pop()

    def _run_form(self, xobj: PDFStream, state: _State, textstate: Any,
                  matrix: tuple | None = None) -> None:
        if self.depth >= MAX_FORM_DEPTH:
            raise _Refused(_("form XObjects nested more than {depth} deep").format(
                depth=MAX_FORM_DEPTH))
        form_matrix = matrix or tuple(nums(xobj.get("Matrix")) or MATRIX_IDENTITY)
        if len(form_matrix) != 6:
            form_matrix = MATRIX_IDENTITY
        ctm = mult_matrix(form_matrix, self.ctm)
        bbox = nums(xobj.get("BBox"))
        resources = xobj.get("Resources")
        interp = self.subinterp()
        interp.init_resources(dict_of(resources) if resources else self.resources.copy())
        interp.init_state(ctm)
        interp.textstate = textstate
        if len(bbox) == 4:
            state.clips = (*state.clips,
                           _Region.of([[apply_matrix_pt(ctm, p) for p in _corners(bbox)]]))
        interp.graphicstate = state
        depth = len(self.device.layers)
        try:
            interp.execute([xobj])
        finally:
            del self.device.layers[depth:]
            self.device.set_ctm(self.ctm)

    def do_EI(self, obj: object) -> None:
        if isinstance(obj, PDFStream):
            self.device.paint_image(obj, self.graphicstate, self.colour_spaces)

    # annotations: drawn over the page, in the order of /Annots

    def render_annotations(self, page: Any) -> None:
        device: _Device = self.device
        for ref in list_of(page.annots):
            annot = dict_of(ref)
            flags = int(num(annot.get("F"), 0))
            if flags & (2 | 32):  # Hidden, NoView
                continue
            if self.layers.hidden(annot.get("OC")):
                continue
            appearance = resolve1(dict_of(annot.get("AP")).get("N"))
            if isinstance(appearance, dict) and not isinstance(appearance, PDFStream):
                appearance = resolve1(appearance.get(name_of(annot.get("AS")) or ""))
            if not isinstance(appearance, PDFStream):
                continue
            rect = nums(annot.get("Rect"))
            bbox = nums(appearance.get("BBox"))
            if len(rect) != 4 or len(bbox) != 4:
                continue
            form_matrix = tuple(nums(appearance.get("Matrix")) or MATRIX_IDENTITY)
            if len(form_matrix) != 6:
                form_matrix = MATRIX_IDENTITY
            tb = _bbox([apply_matrix_pt(form_matrix, p) for p in _corners(bbox)])
            rx0, ry0, rx1, ry1 = min(rect[0], rect[2]), min(rect[1], rect[3]), \
                max(rect[0], rect[2]), max(rect[1], rect[3])
            if tb[2] - tb[0] <= 0 or tb[3] - tb[1] <= 0 or rx1 - rx0 <= 0 or ry1 - ry0 <= 0:
                continue
            sx, sy = (rx1 - rx0) / (tb[2] - tb[0]), (ry1 - ry0) / (tb[3] - tb[1])
            fit = (sx, 0, 0, sy, rx0 - tb[0] * sx, ry0 - tb[1] * sy)
            self.init_state(device.page_ctm)
            device.set_ctm(device.page_ctm)
            device.annotation = name_of(annot.get("Subtype")) or "annotation"
            try:
                self._run_form(appearance, _State(), self.textstate.copy(),
                               matrix=mult_matrix(form_matrix, fit))
            finally:
                device.annotation = None


def _then_clip(op: str) -> Callable[[_Interpreter], None]:
    """pdfminer's painting operator `op`, then the clip a preceding W/W* asked for."""
    base = getattr(PDFPageInterpreter, f"do_{op}")

    def painting(self: _Interpreter) -> None:
        base(self)
        self._end_path()

    painting.__name__ = f"do_{op}"
    return painting


for _op in _PAINT_OPS:
    setattr(_Interpreter, f"do_{_op}", _then_clip(_op))


# --- judging each glyph --------------------------------------------------------------


class _Grid:
    """Painted things indexed by the cells of the page they may touch."""

    def __init__(self, painted: Sequence[_Painted], visible: Box) -> None:
        self.cells: dict[tuple[int, int], list[int]] = {}
        self.painted = painted
        lo_x, lo_y = visible[0] - 2 * _GRID, visible[1] - 2 * _GRID
        hi_x, hi_y = visible[2] + 2 * _GRID, visible[3] + 2 * _GRID
        for index, item in enumerate(painted):
            x0, y0, x1, y1 = item.bbox
            x0, y0 = max(x0, lo_x), max(y0, lo_y)
            x1, y1 = min(x1, hi_x), min(y1, hi_y)
            if x1 < x0 or y1 < y0:
                continue
            for cx in range(math.floor(x0 / _GRID), math.floor(x1 / _GRID) + 1):
                for cy in range(math.floor(y0 / _GRID), math.floor(y1 / _GRID) + 1):
                    self.cells.setdefault((cx, cy), []).append(index)

    def near(self, box: Box) -> list[_Painted]:
        found: set[int] = set()
        for cx in range(math.floor(box[0] / _GRID), math.floor(box[2] / _GRID) + 1):
            for cy in range(math.floor(box[1] / _GRID), math.floor(box[3] / _GRID) + 1):
                found.update(self.cells.get((cx, cy), ()))
        return [self.painted[i] for i in sorted(found)]


def _probe_points(g: _Glyph) -> list[Point]:
    x0, y0, x1, y1 = g.box
    width = x1 - x0 if x1 > x0 else 0.5 * g.fontsize * g.scaling
    if g.vertical:
        pts = [(x0 + u * (x1 - x0), y1 + v * (y0 - y1)) for u, v in _SAMPLES]
    else:
        pts = [(x0 + u * width, g.rise + v * g.fontsize) for u, v in _SAMPLES]
    return [apply_matrix_pt(g.matrix, p) for p in pts]


def _em_size(g: _Glyph) -> tuple[float, float]:
    a, b, c, d = g.matrix[:4]
    along = math.hypot(a, b)
    height = abs(g.fontsize) * (abs(a * d - b * c) / along if along else 0.0)
    width = abs(g.fontsize * g.scaling) * along
    return height, width


_Verdict = tuple[HidingTrick, str] | None


def _judge(g: _Glyph, grid: _Grid, visible: Box) -> _Verdict:
    verdict = _how_drawn(g, visible) or _how_inked(g)
    if verdict is not None:
        return verdict
    box = g.page_box
    near = [p for p in grid.near(box) if p.bbox[0] <= box[2] and box[0] <= p.bbox[2]
            and p.bbox[1] <= box[3] and box[1] <= p.bbox[3]]
    inside_page = visible[0] <= box[0] and visible[1] <= box[1] and box[2] <= visible[2] \
        and box[3] <= visible[3]
    clips = [c for c in g.clips if not c.contains_box(box)]
    if not near and not clips and inside_page:  # the common case: ink on white paper
        return _on_paper(g)
    verdicts = [_judge_point(g, x, y, near, clips, visible) for x, y in _probe_points(g)]
    return _most_said(verdicts)


def _how_drawn(g: _Glyph, visible: Box) -> _Verdict:
    """Hidden by how the glyph is drawn: its layer, render mode, place or size."""
    if g.layer is not None:
        return HidingTrick.HIDDEN_LAYER, _("layer {name}").format(name=repr(g.layer))
    if g.mode in (3, 7):
        return HidingTrick.INVISIBLE_MODE, _("text render mode {mode}").format(mode=g.mode)
    box = g.page_box
    if box[2] < visible[0] or box[0] > visible[2] or box[3] < visible[1] or box[1] > visible[3]:
        return HidingTrick.OUTSIDE_PAGE, _("at ({x}, {y}) points").format(
            x=f"{box[0]:.0f}", y=f"{box[1]:.0f}")
    height, width = _em_size(g)
    if height < MIN_GLYPH_HEIGHT:
        return HidingTrick.TOO_SMALL, _("{height} pt high").format(height=f"{height:.2g}")
    if width < MIN_GLYPH_WIDTH:
        return HidingTrick.TOO_SMALL, _("{width} pt wide per em").format(width=f"{width:.2g}")
    return None


def _how_inked(g: _Glyph) -> _Verdict:
    """Hidden, or not checkable, by its ink alone: no opacity, a soft mask, a blend mode
    dnmail does not compose."""
    if all(not p or a <= MAX_INVISIBLE_ALPHA for p, a, _b in g.paints):
        if all(p == NOTHING for p, _a, _b in g.paints):
            return HidingTrick.TRANSPARENT, _("no ink (colourant /None)")
        opacity = max((a for _p, a, _b in g.paints), default=0.0)
        return HidingTrick.TRANSPARENT, _("opacity {opacity}").format(opacity=f"{opacity:.2g}")
    if g.smask:
        return HidingTrick.UNCHECKABLE, _("drawn through a soft mask")
    if any(b not in SEPARABLE_BLENDS for _p, _a, b in g.paints):
        return HidingTrick.UNCHECKABLE, _("blend mode /{mode}").format(mode=g.paints[0][2])
    return None


def _on_paper(g: _Glyph) -> _Verdict:
    """A glyph with nothing near it, inside the page and its clips: ink on white paper."""
    contrast = _contrast_on_paper(g.paints)
    if contrast is None:
        return HidingTrick.UNCHECKABLE, _unknown_colour(g)
    if contrast >= MIN_COLOUR_DIFFERENCE:
        return None
    return HidingTrick.SAME_COLOUR, _colours(g, WHITE)


def _most_said(verdicts: Sequence[_Verdict]) -> _Verdict:
    """Hidden when more than half the probes are; then the reason most of them give
    (ties: the first in HidingTrick's order), with the first such probe's evidence."""
    hidden = [v for v in verdicts if v is not None]
    if len(hidden) * 2 <= len(verdicts):
        return None
    order = list(HidingTrick)
    counts: dict[HidingTrick, int] = {}
    for trick, _evidence in hidden:
        counts[trick] = counts.get(trick, 0) + 1
    top = max(counts, key=lambda t: (counts[t], -order.index(t)))
    return next(v for v in hidden if v[0] is top)


def _unknown_colour(g: _Glyph) -> str:
    if g.note:
        return _("painted with {how}").format(how=g.note)
    return _("its colour cannot be worked out")


def _colours(g: _Glyph, under: Paint) -> str:
    paint, alpha, blend = g.paints[0]
    colour = hex_colour(paint)
    if alpha < 1:
        colour = _("{colour} at opacity {opacity}").format(colour=colour, opacity=f"{alpha:.2g}")
    if blend not in ("Normal", "Compatible"):
        colour = _("{colour} in blend mode /{mode}").format(colour=colour, mode=blend)
    return _("{colour} on {under}").format(colour=colour, under=hex_colour(under))


@lru_cache(maxsize=256)
def _contrast_on_paper(paints: tuple[tuple[Paint, float, str], ...]) -> float | None:
    contrasts = [_contrast_on(BARE, p, a, b) for p, a, b in paints]
    return None if None in contrasts else max(contrasts)  # type: ignore[type-var]


def _contrast_on(under: Layer, paint: Paint, alpha: float, blend: str) -> float | None:
    painted = over(under, paint, alpha, blend)
    if painted is None:
        return None
    return colour_difference(seen(painted), seen(under))


def _judge_point(g: _Glyph, x: float, y: float, near: Sequence[_Painted],
                 clips: Sequence[_Region], visible: Box) -> _Verdict:
    if not (visible[0] <= x <= visible[2] and visible[1] <= y <= visible[3]):
        return HidingTrick.OUTSIDE_PAGE, _("outside the page's crop box")
    for clip in clips:
        if not clip.contains(x, y):
            return HidingTrick.CLIPPED, _("outside the clipping path in force")
    under = _under(g, x, y, near)
    if under is None:
        return None  # over a picture dnmail cannot decode: not judged (see the docstring)
    best = _glyph_over(g, under)
    cover = _Cover(best[1] if best else None, under)
    for item in near:
        if item.seq >= g.seq:
            cover.add(item, _laid_at(item, x, y))
    if best is None:  # the glyph's own colour is unknown: only a cover can decide
        if cover.factor < 0.05:
            return HidingTrick.COVERED, cover.evidence()
        return HidingTrick.UNCHECKABLE, _unknown_colour(g)
    drawn = best[0]
    if cover.with_glyph is None or cover.without is None:
        shown = drawn * cover.factor
    else:
        shown = colour_difference(seen(cover.with_glyph), seen(cover.without)) * cover.factor
    if shown >= MIN_COLOUR_DIFFERENCE:
        return None
    if drawn >= MIN_COLOUR_DIFFERENCE:
        return HidingTrick.COVERED, cover.evidence()
    return HidingTrick.SAME_COLOUR, _colours(g, seen(under))


def _laid_at(item: _Painted, x: float, y: float) -> tuple[Paint, float | None] | None:
    """What `item` lays at (x, y), or None where it lays nothing (no ink, no opacity)."""
    laid = item.at(x, y)
    if laid is None or laid[0] == NOTHING or laid[1] == 0:
        return None
    return laid


def _under(g: _Glyph, x: float, y: float, near: Sequence[_Painted]) -> Layer | None:
    """What was painted at (x, y) before the glyph (None: something dnmail cannot tell)."""
    under: Layer | None = BARE
    for item in near:
        if item.seq > g.seq:
            break
        laid = _laid_at(item, x, y)
        if laid is None:
            continue
        paint, alpha = laid
        if under is not None and paint is not None and alpha is not None:
            under = over(under, paint, alpha, item.blend)
        elif paint is not None and alpha is not None and alpha >= 0.999 \
                and item.blend in ("Normal", "Compatible"):
            under = (paint, 1.0)  # an opaque paint hides whatever dnmail could not tell
        else:
            under = None
    return under


def _glyph_over(g: _Glyph, under: Layer) -> tuple[float, Layer] | None:
    """How much the glyph shows over `under` (its most visible painting), and the
    layer it makes; None when no painting of it can be composed."""
    best: tuple[float, Layer] | None = None
    for paint, alpha, blend in g.paints:
        painted = over(under, paint, alpha, blend)
        if painted is not None:
            drawn = colour_difference(seen(painted), seen(under))
            if best is None or drawn > best[0]:
                best = (drawn, painted)
    return best


class _Cover:
    """What is drawn over a point after the glyph: the point composed with the glyph
    and without it, and what is left of the difference under covers dnmail cannot
    compose (`factor`)."""

    def __init__(self, with_glyph: Layer | None, without: Layer | None) -> None:
        self.with_glyph = with_glyph
        self.without = without
        self.factor = 1.0
        self.covering = ""

    def add(self, item: _Painted, laid: tuple[Paint, float | None] | None) -> None:
        if laid is None:
            return
        paint, alpha = laid
        self.covering = self.covering or item.kind
        if self.with_glyph is not None and self.without is not None and paint is not None \
                and alpha is not None and item.blend in SEPARABLE_BLENDS:
            self.with_glyph = over(self.with_glyph, paint, alpha, item.blend)
            self.without = over(self.without, paint, alpha, item.blend)
        else:
            self.factor *= 1 - (1.0 if alpha is None else alpha)

    def evidence(self) -> str:
        return _("by a {thing} drawn after it").format(thing=self.covering)


# --- the whole page --------------------------------------------------------------------


def _runs(glyphs: Sequence[_Glyph], verdicts: Sequence[_Verdict], page_no: int,
          page_height: float) -> list[HiddenText]:
    findings: list[HiddenText] = []
    run: list[_Glyph] = []
    run_verdict: _Verdict = None

    def close() -> None:
        nonlocal run, run_verdict
        while run and run[-1].blank:
            run.pop()
        if run and run_verdict is not None:
            parts: list[str] = []
            prev: _Glyph | None = None
            for g in run:
                if prev is not None and not g.blank and not prev.blank and _apart(prev, g):
                    parts.append(" ")
                parts.append(" " if g.blank else g.text)
                prev = g
            text = " ".join(unicodedata.normalize("NFC", "".join(parts)).split())
            x0 = min(g.page_box[0] for g in run)
            y0 = min(g.page_box[1] for g in run)
            x1 = max(g.page_box[2] for g in run)
            y1 = max(g.page_box[3] for g in run)
            findings.append(HiddenText(page_no, text, run_verdict[0], run_verdict[1],
                                       (round(x0, 1), round(page_height - y1, 1),
                                        round(x1, 1), round(page_height - y0, 1))))
        run, run_verdict = [], None

    for g, verdict in zip(glyphs, verdicts, strict=True):
        if g.blank:
            if run:
                run.append(g)
            continue
        if verdict is None:
            close()
            continue
        if run and run_verdict is not None and run_verdict[0] is not verdict[0]:
            close()
        if not run:
            run_verdict = verdict
        run.append(g)
    close()
    return findings


def _apart(a: _Glyph, b: _Glyph) -> bool:
    """Is there a word gap (or a new line) between two glyphs drawn one after the other?

    Measured along the writing direction of `a`, so rotated pages read the same.
    """
    size = _em_size(a)[0] or 1.0
    if a.vertical:
        ex, ey = apply_matrix_pt(a.matrix, (0.0, a.advance))
        ux, uy = -a.matrix[2], -a.matrix[3]
    else:
        ex, ey = apply_matrix_pt(a.matrix, (a.advance, 0.0))
        ux, uy = a.matrix[0], a.matrix[1]
    norm = math.hypot(ux, uy) or 1.0
    ux, uy = ux / norm, uy / norm
    dx, dy = b.matrix[4] - ex, b.matrix[5] - ey
    along = dx * ux + dy * uy
    across = dy * ux - dx * uy
    return abs(across) > 0.5 * size or along > 0.2 * size or along < -size


def _hidden_on(page: Any, page_no: int, rsrcmgr: PDFResourceManager,
               layers: _OptionalContent) -> list[HiddenText]:
    device = _Device(rsrcmgr)
    interp = _Interpreter(rsrcmgr, device, layers)
    interp.process_page(page)
    interp.render_annotations(page)
    grid = _Grid(device.painted, device.visible)
    verdicts = [None if g.blank else _judge(g, grid, device.visible) for g in device.glyphs]
    return _runs(device.glyphs, verdicts, page_no, device.page_height)


def hidden_text_on_page(page: Any, *, page_number: int | None = None) -> list[HiddenText]:
    """The hidden text of one open pdfplumber page (shares its fonts, so it costs less)."""
    doc = page.pdf.doc
    layers = _OptionalContent(dict_of(doc.catalog))
    return _hidden_on(page.page_obj, page_number or page.page_number, page.pdf.rsrcmgr, layers)


def iter_hidden_text(pdf_bytes: bytes) -> Iterator[HiddenText]:
    """Each run of hidden text, page by page. Raises pdfminer's errors on a broken PDF."""
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser

    doc = PDFDocument(PDFParser(io.BytesIO(pdf_bytes)))
    layers = _OptionalContent(dict_of(doc.catalog))
    rsrcmgr = PDFResourceManager(caching=True)
    for page_no, page in enumerate(PDFPage.create_pages(doc), start=1):
        yield from _hidden_on(page, page_no, rsrcmgr, layers)


def find_hidden_text(pdf_bytes: bytes, *, file_name: str = "document.pdf") -> list[HiddenText]:
    """Every run of text in the PDF that a viewer would not show (empty when none).

    Pass the signed revision's bytes. A PDF that cannot be read, or whose drawing
    cannot be followed (forms nested too deep), raises InvalidFile naming the file:
    what cannot be checked is refused, never passed.
    """
    with _refusing(file_name):
        found = list(iter_hidden_text(pdf_bytes))
    return found


def refuse_hidden_text(pages: Sequence[Any], *, file_name: str) -> None:
    """Raise InvalidFile with one problem (page and text) per run of hidden text on the
    open pdfplumber `pages`; return when every glyph is visible. Never filters: the
    caller refuses the file."""
    with _refusing(file_name):
        found: list[HiddenText] = []
        for number, page in enumerate(pages, start=1):
            found += hidden_text_on_page(page, page_number=number)
    if found:
        raise InvalidFile(file_name, [f.as_problem(file_name) for f in found])


@contextmanager
def _refusing(file_name: str) -> Iterator[None]:
    """Errors while following the drawing become InvalidFile naming the file."""
    try:
        yield
    except InvalidFile:
        raise
    except _Refused as exc:
        raise InvalidFile(file_name, [Problem(
            _("what the pages show cannot be checked: {reason}").format(reason=exc),
            file=file_name)]) from exc
    except RecursionError as exc:
        raise InvalidFile(file_name, [Problem(
            _("what the pages show cannot be checked: its drawing is nested too deep"),
            file=file_name)]) from exc
    except Exception as exc:
        raise InvalidFile(file_name, [Problem(
            _("not a readable PDF: {error}").format(error=str(exc).strip() or type(exc).__name__),
            file=file_name)]) from exc
