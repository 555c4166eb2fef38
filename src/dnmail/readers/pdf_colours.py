"""What colour a PDF paint operator lays down, and how colours compose and differ.

For readers/pdf_visibility.py: every colour space a page may use (Device Gray, RGB and
CMYK, ICC-based, Cal*, Lab, Indexed, Separation and DeviceN through their tint
functions — exponential, stitching, sampled and PostScript calculator — and patterns),
shadings reduced to their mean colour, the separable blend modes and alpha
compositing of ISO 32000 §11.3, and the CIE76 colour difference that says when two
colours look the same. Colours are sRGB triples of floats in 0..1.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pdfminer.pdftypes import PDFStream, resolve1
from pdfminer.psparser import PSLiteral

from dnmail.i18n import _

RGB = tuple[float, float, float]
#: A paint is an RGB colour (components 0..1); NOTHING when the operator lays down no
#: ink (colourant /None, an empty pattern cell); None when dnmail cannot tell.
Paint = tuple[float, ...] | None
NOTHING: tuple[float, ...] = ()
WHITE: RGB = (1.0, 1.0, 1.0)


def clamp(v: float) -> float:
    return 0.0 if not v > 0.0 else 1.0 if v > 1.0 else float(v)


def num(value: object, default: float = 0.0) -> float:
    value = resolve1(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return default


def nums(value: object) -> list[float]:
    value = resolve1(value)
    if not isinstance(value, (list, tuple)):
        return []
    return [num(v) for v in value]


def name_of(value: object) -> str | None:
    value = resolve1(value)
    if isinstance(value, PSLiteral):
        return value.name if isinstance(value.name, str) else value.name.decode("latin-1")
    return None


def dict_of(value: object) -> dict:
    value = resolve1(value)
    if isinstance(value, PDFStream):
        return value.attrs
    return value if isinstance(value, dict) else {}


def list_of(value: object) -> list:
    value = resolve1(value)
    return list(value) if isinstance(value, (list, tuple)) else []


def stream_bytes(value: object) -> bytes | None:
    value = resolve1(value)
    if isinstance(value, bytes):
        return value
    if isinstance(value, PDFStream):
        return value.get_data()
    return None


def _gray(c: Sequence[float]) -> Paint:
    g = clamp(c[0]) if c else 0.0
    return (g, g, g)


def _rgb(c: Sequence[float]) -> Paint:
    return tuple(clamp(x) for x in c[:3]) if len(c) >= 3 else None


def _cmyk(c: Sequence[float]) -> Paint:
    if len(c) < 4:
        return None
    k = clamp(c[3])
    return tuple((1 - clamp(x)) * (1 - k) for x in c[:3])


def _lab_space(white: Sequence[float]) -> Callable[[Sequence[float]], Paint]:
    xw, yw, zw = tuple(white[:3]) if len(white) >= 3 else (0.9505, 1.0, 1.089)

    def convert(c: Sequence[float]) -> Paint:
        if len(c) < 3:
            return None
        lum, a, b = c[:3]
        fy = (lum + 16) / 116
        fx, fz = fy + a / 500, fy - b / 200

        def g(t: float) -> float:
            return t**3 if t > 6 / 29 else 3 * (6 / 29) ** 2 * (t - 4 / 29)

        x, y, z = xw * g(fx), yw * g(fy), zw * g(fz)
        lin = (3.2406 * x - 1.5372 * y - 0.4986 * z, -0.9689 * x + 1.8758 * y + 0.0415 * z,
               0.0557 * x - 0.2040 * y + 1.0570 * z)
        return tuple(clamp(1.055 * v ** (1 / 2.4) - 0.055 if v > 0.0031308 else 12.92 * v)
                     for v in lin)

    return convert


@dataclass(frozen=True)
class ColourSpace:
    """A colour space: how many operands `sc`/`scn` take, and how they become a paint."""

    n: int
    to_paint: Callable[[Sequence[float]], Paint]
    initial: tuple[float, ...]
    pattern: bool = False
    base: ColourSpace | None = None  # uncoloured patterns: the space of their colour
    indexed: bool = False  # image samples are indices (default Decode [0 2^bpc-1])


DEVICE_GRAY = ColourSpace(1, _gray, (0.0,))
DEVICE_RGB = ColourSpace(3, _rgb, (0.0, 0.0, 0.0))
DEVICE_CMYK = ColourSpace(4, _cmyk, (0.0, 0.0, 0.0, 1.0))
PATTERN = ColourSpace(1, lambda c: None, (), pattern=True)
_DEVICE_NAMES = {
    "DeviceGray": DEVICE_GRAY, "G": DEVICE_GRAY, "CalGray": DEVICE_GRAY,
    "DeviceRGB": DEVICE_RGB, "RGB": DEVICE_RGB, "CalRGB": DEVICE_RGB,
    "DeviceCMYK": DEVICE_CMYK, "CMYK": DEVICE_CMYK, "Pattern": PATTERN,
}


def _unknown_space(n: int) -> ColourSpace:
    return ColourSpace(max(n, 1), lambda c: None, (0.0,) * max(n, 1))


def colour_space(spec: object, named: dict, depth: int = 0) -> ColourSpace:
    """The colour space `spec` (a name, maybe one of the resources', or an array)."""
    if depth > 8:
        return _unknown_space(1)
    spec = resolve1(spec)
    name = name_of(spec)
    if name is not None:
        if name in _DEVICE_NAMES:
            return _DEVICE_NAMES[name]
        if name in named:
            return colour_space(named[name], named, depth + 1)
        return _unknown_space(1)
    items = list_of(spec)
    kind = name_of(items[0]) if items else None
    if kind is None:
        return _unknown_space(1)
    if kind in _DEVICE_NAMES and kind != "Pattern":
        return _DEVICE_NAMES[kind]
    family = _FAMILIES.get(kind)
    if family is None or len(items) < family[0]:
        return _unknown_space(1)
    return family[1](kind, items, named, depth)


def _icc_based(kind: str, items: list, named: dict, depth: int) -> ColourSpace:
    attrs = dict_of(items[1])
    if "Alternate" in attrs:
        return colour_space(attrs["Alternate"], named, depth + 1)
    n = int(num(attrs.get("N"), 3))
    return {1: DEVICE_GRAY, 3: DEVICE_RGB, 4: DEVICE_CMYK}.get(n, _unknown_space(n))


def _lab_family(kind: str, items: list, named: dict, depth: int) -> ColourSpace:
    white = nums(dict_of(items[1]).get("WhitePoint")) if len(items) > 1 else []
    return ColourSpace(3, _lab_space(white), (0.0, 0.0, 0.0))


def _indexed(kind: str, items: list, named: dict, depth: int) -> ColourSpace:
    base = colour_space(items[1], named, depth + 1)
    hival = int(num(items[2]))
    table = stream_bytes(items[3]) or b""

    def indexed(c: Sequence[float]) -> Paint:
        i = min(max(int(c[0]) if c else 0, 0), hival)
        chunk = table[i * base.n:(i + 1) * base.n]
        if len(chunk) < base.n:
            return None
        return base.to_paint([v / 255 for v in chunk])

    return ColourSpace(1, indexed, (0.0,), indexed=True)


def _separation(kind: str, items: list, named: dict, depth: int) -> ColourSpace:
    """Separation and DeviceN: colourants through a tint function to an alternate."""
    if kind == "Separation":
        names = [name_of(items[1])]
    else:
        names = [name_of(v) for v in list_of(items[1])]
    n = len(names) or 1
    if all(nm == "None" for nm in names):
        return ColourSpace(n, lambda c: NOTHING, (1.0,) * n)
    if kind == "Separation" and names[0] == "All":
        return ColourSpace(1, lambda c: _gray([1 - c[0]]) if c else None, (1.0,))
    alternate = colour_space(items[2], named, depth + 1)
    function = pdf_function(items[3])

    def tinted(c: Sequence[float]) -> Paint:
        if function is None:
            return None
        out = function(list(c[:n]))
        return alternate.to_paint(out) if out is not None else None

    return ColourSpace(n, tinted, (1.0,) * n)


def _pattern(kind: str, items: list, named: dict, depth: int) -> ColourSpace:
    pattern_base = colour_space(items[1], named, depth + 1) if len(items) > 1 else None
    return ColourSpace(1 + (pattern_base.n if pattern_base else 0), lambda c: None, (),
                       pattern=True, base=pattern_base)


_Family = Callable[[str, list, dict, int], ColourSpace]
#: The colour space families given as an array: (the least items the array must hold,
#: how the space is made from them).
_FAMILIES: dict[str, tuple[int, _Family]] = {
    "ICCBased": (2, _icc_based),
    "Lab": (1, _lab_family),
    "Indexed": (4, _indexed),
    "I": (4, _indexed),
    "Separation": (4, _separation),
    "DeviceN": (4, _separation),
    "Pattern": (1, _pattern),
}


Function = Callable[[Sequence[float]], "list[float] | None"]


@dataclass(frozen=True)
class _FunctionSpec:
    """What every PDF function type shares: its dictionary, Domain and Range."""

    spec: object
    attrs: dict
    domain: list[float]
    rng: list[float]
    depth: int

    def clip_in(self, x: Sequence[float]) -> list[float]:
        domain = self.domain
        out = []
        for i in range(len(domain) // 2):
            v = x[i] if i < len(x) else domain[2 * i]
            out.append(min(max(v, domain[2 * i]), domain[2 * i + 1]))
        return out

    def clip_out(self, y: list[float] | None) -> list[float] | None:
        rng = self.rng
        if not rng or y is None:
            return y
        return [min(max(v, rng[2 * i]), rng[2 * i + 1]) if 2 * i + 1 < len(rng) else v
                for i, v in enumerate(y)]


def pdf_function(spec: object, depth: int = 0) -> Function | None:
    """A PDF function of type 0 (sampled), 2 (exponential), 3 (stitching) or 4
    (PostScript calculator), or an array of single-output ones; None else."""
    if depth > 4:
        return None
    spec = resolve1(spec)
    if isinstance(spec, list):  # one single-output function per component
        return _joined([pdf_function(f, depth + 1) for f in spec])
    attrs = dict_of(spec)
    make = _FUNCTION_TYPES.get(int(num(attrs.get("FunctionType"), -1)))
    if make is None:
        return None
    domain = nums(attrs.get("Domain")) or [0.0, 1.0]
    return make(_FunctionSpec(spec, attrs, domain, nums(attrs.get("Range")), depth))


def _joined(parts: list[Function | None]) -> Function | None:
    if any(p is None for p in parts):
        return None

    def joined(x: Sequence[float]) -> list[float] | None:
        outs = [p(x) for p in parts]  # type: ignore[misc]
        if any(o is None for o in outs):
            return None
        return [o[0] for o in outs]  # type: ignore[index]

    return joined


def _exponential(f: _FunctionSpec) -> Function | None:
    c0 = nums(f.attrs.get("C0")) or [0.0]
    c1 = nums(f.attrs.get("C1")) or [1.0]
    exponent = num(f.attrs.get("N"), 1.0)

    def exponential(x: Sequence[float]) -> list[float] | None:
        t = f.clip_in(x)[0]
        try:
            p = t**exponent
        except (OverflowError, ZeroDivisionError, ValueError):
            return None
        if isinstance(p, complex):
            return None
        return f.clip_out([a + p * (b - a) for a, b in zip(c0, c1, strict=False)])

    return exponential


def _stitching(f: _FunctionSpec) -> Function | None:
    parts = [pdf_function(g, f.depth + 1) for g in list_of(f.attrs.get("Functions"))]
    bounds = nums(f.attrs.get("Bounds"))
    encode = nums(f.attrs.get("Encode"))
    if not parts or any(p is None for p in parts) or len(encode) < 2 * len(parts):
        return None
    edges = [f.domain[0], *bounds, f.domain[1]]

    def stitched(x: Sequence[float]) -> list[float] | None:
        t = f.clip_in(x)[0]
        k = 0
        while k < len(parts) - 1 and t >= edges[k + 1]:
            k += 1
        lo, hi = edges[k], edges[k + 1]
        e0, e1 = encode[2 * k], encode[2 * k + 1]
        u = e0 if hi == lo else e0 + (t - lo) * (e1 - e0) / (hi - lo)
        return f.clip_out(parts[k]([u]))  # type: ignore[misc]

    return stitched


def _sampled(f: _FunctionSpec) -> Function | None:
    if not isinstance(f.spec, PDFStream) or len(f.domain) != 2:
        return None
    attrs, rng = f.attrs, f.rng
    size = [int(v) for v in nums(attrs.get("Size"))]
    bps = int(num(attrs.get("BitsPerSample"), 8))
    if len(size) != 1 or size[0] < 1 or size[0] > 65536 or bps not in (8, 16) or not rng:
        return None
    outputs = len(rng) // 2
    decode = nums(attrs.get("Decode")) or rng
    encode = nums(attrs.get("Encode")) or [0.0, size[0] - 1.0]
    data = f.spec.get_data()
    width = bps // 8
    top = float((1 << bps) - 1)

    def sampled(x: Sequence[float]) -> list[float] | None:
        t = f.clip_in(x)[0]
        d0, d1 = f.domain
        e = encode[0] + (t - d0) * (encode[1] - encode[0]) / ((d1 - d0) or 1)
        i = min(max(round(e), 0), size[0] - 1)
        out = []
        for j in range(outputs):
            at = (i * outputs + j) * width
            raw = data[at:at + width]
            if len(raw) < width:
                return None
            s = int.from_bytes(raw, "big")
            out.append(decode[2 * j] + s * (decode[2 * j + 1] - decode[2 * j]) / top)
        return f.clip_out(out)

    return sampled


def _calculator(f: _FunctionSpec) -> Function | None:
    if not isinstance(f.spec, PDFStream):
        return None
    program = _calculator_program(f.spec.get_data())
    if program is None:
        return None

    def calculated(x: Sequence[float]) -> list[float] | None:
        return f.clip_out(_run_calculator(program, f.clip_in(x)))

    return calculated


#: PDF function types (ISO 32000 §7.10) → how one is made from its dictionary.
_FUNCTION_TYPES: dict[int, Callable[[_FunctionSpec], Function | None]] = {
    0: _sampled,
    2: _exponential,
    3: _stitching,
    4: _calculator,
}


_CALC_MAX_STEPS = 10_000
_CALC_MAX_STACK = 100


def _calculator_program(source: bytes) -> list | None:
    """A type 4 (PostScript calculator) function's body as nested lists; None if bad."""
    tokens = re.findall(rb"[{}]|[^\s{}]+", source[:65536])
    stack: list[list] = [[]]
    for token in tokens:
        if token == b"{":
            stack.append([])
        elif token == b"}":
            if len(stack) < 2:
                return None
            done = stack.pop()
            stack[-1].append(done)
        else:
            try:
                stack[-1].append(float(token) if token[:1] in b"+-.0123456789" else
                                 token.decode("ascii"))
            except (ValueError, UnicodeDecodeError):
                return None
    if len(stack) != 1 or len(stack[0]) != 1 or not isinstance(stack[0][0], list):
        return None
    return stack[0][0]


def _run_calculator(program: list, inputs: Sequence[float]) -> list[float] | None:
    """Run a calculator program on a stack of inputs, with bounded steps and stack."""
    calc = _Calculator(inputs)
    try:
        calc.run(program)
        return [float(v) for v in calc.stack]
    except (ValueError, IndexError, ZeroDivisionError, OverflowError, TypeError):
        return None


_UNARY: dict[str, Callable[[float], Any]] = {
    "abs": abs, "neg": lambda a: -a, "ceiling": math.ceil, "floor": math.floor,
    "round": lambda a: math.floor(a + 0.5), "truncate": math.trunc, "sqrt": math.sqrt,
    "sin": lambda a: math.sin(math.radians(a)), "cos": lambda a: math.cos(math.radians(a)),
    "ln": math.log, "log": math.log10, "cvi": math.trunc, "cvr": float,
}
_BINARY: dict[str, Callable[[float, float], Any]] = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "idiv": lambda a, b: math.trunc(a / b),
    "mod": lambda a, b: math.fmod(a, b), "exp": lambda a, b: a**b,
    "atan": lambda a, b: math.degrees(math.atan2(a, b)) % 360,
    "bitshift": lambda a, b: int(a) << int(b) if b >= 0 else int(a) >> -int(b),
}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
}
#: and, or, xor: (on two booleans, on two integers bit by bit).
_LOGICAL: dict[str, tuple[Callable[[bool, bool], bool], Callable[[int, int], int]]] = {
    "and": (lambda a, b: a and b, lambda x, y: x & y),
    "or": (lambda a, b: a or b, lambda x, y: x | y),
    "xor": (lambda a, b: a != b, lambda x, y: x ^ y),
}


class _Calculator:
    """The stack machine of a type 4 function (ISO 32000 §7.10.5): every operator of
    the calculator subset, bounded in steps and stack depth; any error is a ValueError,
    IndexError, ZeroDivisionError, OverflowError or TypeError for the caller to catch."""

    def __init__(self, inputs: Sequence[float]) -> None:
        self.stack: list[Any] = list(inputs)
        self.steps = 0

    def number(self) -> float:
        v = self.stack.pop()
        if isinstance(v, bool):
            raise ValueError("a boolean where a number is needed")
        return float(v)

    def run(self, body: list) -> None:
        i = 0
        while i < len(body):
            self.steps += 1
            if self.steps > _CALC_MAX_STEPS or len(self.stack) > _CALC_MAX_STACK:
                raise ValueError("too long")
            item = body[i]
            if isinstance(item, float):
                self.stack.append(item)
            elif isinstance(item, list):
                i += self._conditional(item, body[i + 1:i + 3])
            else:
                self._operator(item)
            i += 1

    def _conditional(self, proc: list, after: list) -> int:
        """`{proc} if` or `{proc} {proc} ifelse`: how many items it took after `proc`."""
        if after[:1] == ["if"]:
            if self.stack.pop() is True:
                self.run(proc)
            return 1
        if len(after) == 2 and isinstance(after[0], list) and after[1] == "ifelse":
            self.run(proc if self.stack.pop() is True else after[0])
            return 2
        raise ValueError("a procedure outside if/ifelse")

    def _operator(self, name: str) -> None:
        stack = self.stack
        if name in _UNARY:
            stack.append(_UNARY[name](self.number()))
        elif name in _BINARY:
            b = self.number()
            stack.append(_BINARY[name](self.number(), b))
        elif name in _COMPARE:
            b, a = stack.pop(), stack.pop()
            stack.append(_COMPARE[name](a, b))
        elif name in _LOGICAL:
            b, a = stack.pop(), stack.pop()
            logical, bitwise = _LOGICAL[name]
            both = isinstance(a, bool) and isinstance(b, bool)
            stack.append(logical(a, b) if both else bitwise(int(a), int(b)))
        elif name in _STACK_OPERATORS:
            _STACK_OPERATORS[name](self)
        else:
            raise ValueError(f"operator {name!r}")

    def push_true(self) -> None:
        self.stack.append(True)

    def push_false(self) -> None:
        self.stack.append(False)

    def negate(self) -> None:
        a = self.stack.pop()
        self.stack.append(not a if isinstance(a, bool) else ~int(a))

    def dup(self) -> None:
        self.stack.append(self.stack[-1])

    def pop(self) -> None:
        self.stack.pop()

    def exch(self) -> None:
        self.stack[-1], self.stack[-2] = self.stack[-2], self.stack[-1]

    def copy(self) -> None:
        n = int(self.number())
        if n < 0 or n > len(self.stack):
            raise ValueError("copy")
        self.stack.extend(self.stack[len(self.stack) - n:] if n else [])

    def index(self) -> None:
        n = int(self.number())
        if n < 0 or n >= len(self.stack):
            raise ValueError("index")
        self.stack.append(self.stack[-1 - n])

    def roll(self) -> None:
        j, n = int(self.number()), int(self.number())
        stack = self.stack
        if n < 0 or n > len(stack):
            raise ValueError("roll")
        if n:
            part = stack[len(stack) - n:]
            j %= n
            stack[len(stack) - n:] = part[-j:] + part[:-j] if j else part


_STACK_OPERATORS: dict[str, Callable[[_Calculator], None]] = {
    "true": _Calculator.push_true, "false": _Calculator.push_false,
    "not": _Calculator.negate, "dup": _Calculator.dup, "pop": _Calculator.pop,
    "exch": _Calculator.exch, "copy": _Calculator.copy, "index": _Calculator.index,
    "roll": _Calculator.roll,
}


def mean_paint(paints: Sequence[Paint]) -> Paint:
    if any(p is None for p in paints):
        return None
    inked = [p for p in paints if p]
    if not inked:
        return NOTHING
    return tuple(sum(p[i] for p in inked) / len(inked) for i in range(3))  # type: ignore[index]


def shading_paint(spec: object, named: dict) -> Paint:
    """The mean colour of an axial, radial or function-based shading; None for meshes."""
    attrs = dict_of(spec)
    space = colour_space(attrs.get("ColorSpace"), named)
    stype = int(num(attrs.get("ShadingType"), 0))
    function = pdf_function(attrs.get("Function")) if "Function" in attrs else None
    if function is None:
        return None
    if stype in (2, 3):
        t0, t1 = (nums(attrs.get("Domain")) or [0.0, 1.0])[:2]
        points: list[list[float]] = [[t0 + (t1 - t0) * k / 4] for k in range(5)]
    elif stype == 1:
        d = nums(attrs.get("Domain"))
        if len(d) != 4:
            d = [0.0, 1.0, 0.0, 1.0]
        points = [[d[0] + (d[1] - d[0]) * i / 2, d[2] + (d[3] - d[2]) * j / 2]
                  for i in range(3) for j in range(3)]
    else:
        return None
    out = []
    for p in points:
        values = function(p)
        out.append(space.to_paint(values) if values is not None else None)
    return mean_paint(out)


@lru_cache(maxsize=4096)
def _lab(rgb: tuple[float, ...]) -> tuple[float, float, float]:
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in rgb)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.9505
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.089

    def f(t: float) -> float:
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    fx, fy, fz = f(x), f(y), f(z)
    return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))


def colour_difference(a: Sequence[float], b: Sequence[float]) -> float:
    """CIE76 ΔE between two sRGB colours (components 0..1)."""
    return math.dist(_lab(tuple(a)), _lab(tuple(b)))


def hex_colour(rgb: Paint) -> str:
    if not rgb:
        return _("no ink") if rgb == NOTHING else _("unknown")
    return "#" + "".join(f"{round(clamp(v) * 255):02x}" for v in rgb)


def _soft_light(b: float, s: float) -> float:
    if s <= 0.5:
        return b - (1 - 2 * s) * b * (1 - b)
    d = ((16 * b - 12) * b + 4) * b if b <= 0.25 else math.sqrt(b)
    return b + (2 * s - 1) * (d - b)


SEPARABLE_BLENDS: dict[str, Callable[[float, float], float]] = {
    "Normal": lambda b, s: s,
    "Compatible": lambda b, s: s,
    "Multiply": lambda b, s: b * s,
    "Screen": lambda b, s: b + s - b * s,
    "Overlay": lambda b, s: 2 * b * s if b <= 0.5 else 1 - 2 * (1 - b) * (1 - s),
    "Darken": min,
    "Lighten": max,
    "ColorDodge": lambda b, s: 0.0 if b == 0 else 1.0 if s >= 1 else min(1.0, b / (1 - s)),
    "ColorBurn": lambda b, s: 1.0 if b >= 1 else 0.0 if s <= 0 else 1 - min(1.0, (1 - b) / s),
    "HardLight": lambda b, s: 2 * b * s if s <= 0.5 else 1 - 2 * (1 - b) * (1 - s),
    "SoftLight": _soft_light,
    "Difference": lambda b, s: abs(b - s),
    "Exclusion": lambda b, s: b + s - 2 * b * s,
}


#: What has been painted at a point so far: its colour and how much it covers (alpha).
#: The page is an isolated group composed on white paper at the end (ISO 32000
#: §11.4.7), so a blend mode acts on what was painted before, never on the paper.
Layer = tuple[tuple[float, ...], float]
BARE: Layer = (WHITE, 0.0)


def over(under: Layer | None, paint: Paint, alpha: float | None, blend: str) -> Layer | None:
    """`paint` laid with opacity `alpha` and blend mode `blend` over `under` (§11.3.6)."""
    if under is None or paint is None or alpha is None:
        return None
    if not paint or alpha <= 0:
        return under
    mix = SEPARABLE_BLENDS.get(blend)
    if mix is None:
        return None
    colour, covered = under
    result = covered + alpha - covered * alpha
    k = alpha / result
    return (tuple((1 - k) * b + k * ((1 - covered) * s + covered * mix(b, s))
                  for b, s in zip(colour, paint, strict=False)), result)


def seen(layer: Layer) -> tuple[float, ...]:
    """The colour shown: the layer composed on white paper."""
    colour, covered = layer
    return tuple(covered * v + 1 - covered for v in colour)
