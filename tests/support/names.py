"""Realistic Vietnamese full names for tests and benchmarks.

    >>> import random
    >>> from support.names import random_name, generate_names
    >>> random_name(random.Random(1))            # one name
    >>> generate_names(100_000, seed=2016)       # deterministic list for a benchmark

Names are NFC, "Family [Middle…] Given". Family names follow their rough share in the
population (Nguyễn ≈ 38 %, Trần, Lê, Phạm, Hoàng/Huỳnh, Phan, Vũ/Võ, Đặng, Bùi, Đỗ, Hồ,
Ngô, Dương, Lý …), with the central region's Huỳnh/Võ and Huế's Tôn Thất / Tôn Nữ.
Middle and given names depend on gender; 0, 1 or 2 middle names. A small share of
names use the old tone placement (Thuỷ, Hoà — a different NFC string that must give
the same address as Thủy, Hòa) and a smaller share are ethnic-minority names of the
region (Cơ Tu of Đà Nẵng's Hòa Vang and Quảng Nam, Ê Đê) with apostrophes and
non-Kinh order. ``name_variant`` dresses a name the way real input arrives: NFD,
odd spacing, non-breaking spaces, upper case.
"""

from __future__ import annotations

import random
import unicodedata
from itertools import accumulate

__all__ = [
    "FAMILY_NAMES",
    "FAMILY_WEIGHTS",
    "GIVEN_NAMES_FEMALE",
    "GIVEN_NAMES_MALE",
    "MIDDLE_NAMES_FEMALE",
    "MIDDLE_NAMES_MALE",
    "MINORITY_NAMES",
    "OLD_TONE_PLACEMENT",
    "generate_names",
    "name_variant",
    "random_name",
]

# (family name, rough share in %)
_FAMILIES: tuple[tuple[str, float], ...] = (
    ("Nguyễn", 38.0), ("Trần", 11.0), ("Lê", 9.5), ("Phạm", 7.0), ("Hoàng", 3.5),
    ("Huỳnh", 2.5), ("Phan", 4.5), ("Vũ", 2.5), ("Võ", 2.5), ("Đặng", 2.1), ("Bùi", 2.0),
    ("Đỗ", 1.4), ("Hồ", 1.3), ("Ngô", 1.3), ("Dương", 1.0), ("Lý", 0.5), ("Đào", 0.5),
    ("Đoàn", 0.5), ("Trương", 0.5), ("Lâm", 0.4), ("Mai", 0.4), ("Cao", 0.4), ("Tô", 0.3),
    ("Hà", 0.3), ("Lương", 0.3), ("Trịnh", 0.3), ("Đinh", 0.3), ("Tạ", 0.2), ("Thái", 0.2),
    ("Châu", 0.2), ("Lưu", 0.2), ("Quách", 0.1), ("Kiều", 0.1), ("Văn", 0.1), ("Ông", 0.1),
    ("Tôn Thất", 0.1), ("Tôn Nữ", 0.05), ("Nguyễn Phước", 0.05),
)  # fmt: skip
FAMILY_NAMES: tuple[str, ...] = tuple(f for f, _ in _FAMILIES)
FAMILY_WEIGHTS: tuple[float, ...] = tuple(w for _, w in _FAMILIES)
_FAMILY_CUM = list(accumulate(FAMILY_WEIGHTS))

MIDDLE_NAMES_MALE: tuple[str, ...] = (
    "Văn", "Văn", "Văn", "Hữu", "Đức", "Minh", "Quang", "Công", "Thành", "Xuân", "Đình",
    "Ngọc", "Thanh", "Quốc", "Tuấn", "Anh", "Bá", "Trọng", "Gia", "Hoàng", "Việt", "Duy",
)  # fmt: skip
MIDDLE_NAMES_FEMALE: tuple[str, ...] = (
    "Thị", "Thị", "Thị", "Thị", "Ngọc", "Thanh", "Thu", "Mỹ", "Kim", "Bích", "Hồng",
    "Thùy", "Phương", "Diệu", "Khánh", "Ánh", "Lan", "Minh", "Bảo", "Hoài",
)  # fmt: skip
GIVEN_NAMES_MALE: tuple[str, ...] = (
    "Anh", "Bảo", "Bình", "Cường", "Dũng", "Duy", "Đạt", "Đức", "Dương", "Hải", "Hiếu",
    "Hòa", "Hoàng", "Hùng", "Huy", "Khang", "Khoa", "Khánh", "Kiên", "Lâm", "Long", "Luân",
    "Minh", "Nam", "Nghĩa", "Nhân", "Phong", "Phúc", "Quân", "Quang", "Sơn", "Tài", "Tâm",
    "Thắng", "Thành", "Thanh", "Thịnh", "Tiến", "Toàn", "Trí", "Trung", "Tuấn", "Tùng",
    "Việt", "Vinh", "Vũ", "Khôi", "Lộc", "Hưng", "Đông", "Hậu", "Quý", "Thuận", "Hiệp",
)  # fmt: skip
GIVEN_NAMES_FEMALE: tuple[str, ...] = (
    "Anh", "Ánh", "Bích", "Châu", "Chi", "Diệp", "Dung", "Duyên", "Giang", "Hà", "Hạnh",
    "Hằng", "Hiền", "Hoa", "Hồng", "Huệ", "Hương", "Lan", "Liên", "Linh", "Loan", "Mai",
    "My", "Nga", "Ngân", "Ngọc", "Nhung", "Nhi", "Oanh", "Phương", "Quyên", "Quỳnh", "Tâm",
    "Thảo", "Thu", "Thủy", "Thư", "Trang", "Trâm", "Tuyết", "Uyên", "Vân", "Vy", "Yến",
    "Xuân", "Hạ", "Hòa", "Nguyệt", "Thúy", "Lụa",
)  # fmt: skip
# New-style tone placement → the old style still common in HR data (another NFC string).
OLD_TONE_PLACEMENT: dict[str, str] = {
    "Thủy": "Thuỷ", "Hòa": "Hoà", "Thúy": "Thuý", "Thùy": "Thuỳ", "Quý": "Quí",
}  # fmt: skip
MINORITY_NAMES: tuple[str, ...] = (
    "H'Hen Niê", "Y Moan Ênuôl", "Ksor H'Ly", "H'Xíu Byă", "Alăng Thị Ngân", "Bh'riu Liếc",
    "Zơ Râm Ních", "Pơloong Plênh", "Ating Thị Đào", "Bríu Pố", "Clâu Blao", "Hồih Lép",
)  # fmt: skip


def random_name(
    rng: random.Random, *, minority_rate: float = 0.005, old_tone_rate: float = 0.05
) -> str:
    """One NFC full name drawn with ``rng`` (a seeded ``random.Random``)."""
    if rng.random() < minority_rate:
        return rng.choice(MINORITY_NAMES)
    family = rng.choices(FAMILY_NAMES, cum_weights=_FAMILY_CUM)[0]
    female = rng.random() < 0.5
    middles = MIDDLE_NAMES_FEMALE if female else MIDDLE_NAMES_MALE
    givens = GIVEN_NAMES_FEMALE if female else GIVEN_NAMES_MALE
    roll = rng.random()
    count = 0 if roll < 0.08 else (2 if roll > 0.78 else 1)
    parts = [family]
    for _ in range(count):
        middle = rng.choice(middles)
        if middle not in parts:
            parts.append(middle)
    given = rng.choice(givens)
    if rng.random() < old_tone_rate:
        given = OLD_TONE_PLACEMENT.get(given, given)
    parts.append(given)
    return " ".join(parts)


def generate_names(n: int, seed: int = 2016, **options: float) -> list[str]:
    """``n`` names, the same list for the same seed (for benchmarks: 100,000)."""
    rng = random.Random(seed)
    return [random_name(rng, **options) for _ in range(n)]


_SPACES = (" ", "  ", "\u00a0", " \u00a0", "\t", "\u2009", "\u3000")


def name_variant(name: str, rng: random.Random) -> str:
    """``name`` as it may arrive from a spreadsheet or a web form: NFD or NFC, spaces
    doubled or non-breaking, leading/trailing blanks, upper or lower case. Every
    variant must give the same address as the name itself."""
    words = name.split()
    case = rng.randrange(4)
    if case == 1:
        words = [w.upper() for w in words]
    elif case == 2:
        words = [w.lower() for w in words]
    text = words[0]
    for word in words[1:]:
        text += rng.choice(_SPACES) + word
    text = rng.choice(("", " ", "\u00a0", "\n")) + text + rng.choice(("", " ", "\u00a0", "\r\n"))
    return unicodedata.normalize(rng.choice(("NFC", "NFD")), text)
