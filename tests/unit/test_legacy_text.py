"""TCVN3 and VNI text (as an .xlsx or a cp1252 .csv hands it over) back to Unicode, and
the per-column detection that decides when to do it: legacy columns are recognised and
convert back to exactly the names they were made from; ASCII and Unicode Vietnamese are
never taken for legacy text; short or mixed columns are "unclear", never a guess."""

from __future__ import annotations

import random
import shutil
import subprocess
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dnmail.domain.legacy_text import (
    ENCODINGS,
    decode_cp1258,
    detect,
    from_unicode,
    is_vietnamese_syllable,
    to_unicode,
)
from dnmail.domain.text import name_key
from support.names import (
    FAMILY_NAMES,
    GIVEN_NAMES_FEMALE,
    GIVEN_NAMES_MALE,
    MIDDLE_NAMES_FEMALE,
    MIDDLE_NAMES_MALE,
    generate_names,
    name_variant,
)

TONES = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")  # none, huyền, sắc, hỏi, ngã, nặng
VOWELS = ("a", "ă", "â", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y")
#: 12 vowels x 6 tones = 72 lower-case vowel letters, then đ.
ITS_OWN_CODE = {"tcvn3": "ý", "vni": "íì"}
LETTERS = [unicodedata.normalize("NFC", v + t) for v in VOWELS for t in TONES] + ["đ"]

# Real Vietnamese prose in the words of the mailbox process: every word a syllable.
PROSE = """
Ủy ban nhân dân thành phố Đà Nẵng giao Sở Thông tin và Truyền thông cấp mới, thay đổi,
hủy bỏ hộp thư điện tử công vụ cho cán bộ, công chức, viên chức của các cơ quan, đơn vị
trên địa bàn thành phố. Đơn vị gửi phiếu đề nghị có chữ ký số của thủ trưởng; Trung tâm
Thông tin và Dịch vụ số kiểm tra hồ sơ nhân sự, cấp lại mật khẩu khi người dùng quên,
khóa tài khoản của người đã nghỉ hưu hoặc chuyển công tác. Mỗi tháng, bộ phận quản trị
đối chiếu danh sách với hồ sơ, báo cáo kết quả và lưu trữ nhật ký. Quý khách vui lòng
liên hệ số điện thoại trực tổng đài khi cần hỗ trợ. Những người được giao nhiệm vụ phải
bảo mật thông tin, không được tiết lộ mật khẩu cho bất kỳ ai. Phó giám đốc ký duyệt ngày
mười lăm tháng tám năm nay; chuyên viên khuyến khích các phường, xã như Hòa Vang, Hải
Châu, Sơn Trà, Ngũ Hành Sơn, Liên Chiểu, Cẩm Lệ, Thanh Khê tuyển dụng thêm người, khuya
cũng trực. Ước muốn của chúng tôi là phục vụ nhân dân tốt hơn, nhanh chóng, chính xác,
an toàn; huấn luyện, hướng dẫn, khuỷu tay, ngoằn ngoèo, khoảnh khắc, quỳnh, huỳnh, oái
oăm, giường, giếng, gìn giữ, thuở, xoong, boong, rượu, bướu, khuấy, nguệch ngoạc,
huých, tuýp, quyết, quốc, ngoẹo, gì, quí, thuỷ, hoà.
"""
WORDS = sorted({w.strip(".,;") for w in PROSE.split()})
NAME_WORDS = sorted(
    {
        part
        for group in (
            FAMILY_NAMES,
            MIDDLE_NAMES_MALE,
            MIDDLE_NAMES_FEMALE,
            GIVEN_NAMES_MALE,
            GIVEN_NAMES_FEMALE,
        )
        for name in group
        for part in name.split()
    }
)


def cp1252_round_trip(text: str) -> str:
    """What a .csv saved by an 8-bit office and read as cp1252 gives back."""
    return text.encode("cp1252").decode("cp1252")


# --- the tables ----------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("letter", LETTERS)
def test_every_letter_round_trips_in_lower_and_upper_case(encoding, letter):
    upper = letter.upper()
    cases = {
        f"t{letter}n": f"t{letter}n",  # inside a word
        f"T{upper}N": f"T{upper}N",  # inside a word in capitals
        f"Thanh {upper}nh": f"Thanh {upper}nh",  # starting a word in a name
        f"nhân {letter}n": f"nhân {letter}n",  # starting a word in lower-case text
        upper: upper,  # alone
    }
    for text in cases:
        legacy = from_unicode(text, encoding)
        # Only plain letters, and ý in TCVN3, í ì in VNI, are their own code.
        assert legacy != text or letter.isascii() or letter in ITS_OWN_CODE[encoding]
        assert cp1252_round_trip(legacy) == legacy  # an 8-bit byte each, as a file holds it
        assert to_unicode(legacy, encoding) == text


@pytest.mark.parametrize(
    ("legacy", "encoding", "unicode"),
    [
        ("NguyÔn Quang Thanh", "tcvn3", "Nguyễn Quang Thanh"),  # the examples
        ("Nguyeãn Quang Thanh", "vni", "Nguyễn Quang Thanh"),
        ("B¶o Th¾ng", "tcvn3", "Bảo Thắng"),  # place names in converters' own examples
        ("M\xadêng Kh\xad¬ng", "tcvn3", "Mường Khương"),
        ("B¸t X¸t", "tcvn3", "Bát Xát"),
        ("Xin chaøo caùc baïn", "vni", "Xin chào các bạn"),
        ("§µ N½ng", "tcvn3", "Đà Nẵng"),
        ("Ñaø Naüng", "vni", "Đà Nẵng"),
        ("¤ng Ých Khiªm", "tcvn3", "Ông Ích Khiêm"),
        ("ÑAØ NAÜNG", "vni", "ĐÀ NẴNG"),
        ("NGUYÔN V¡N §øC", "tcvn3", "NGUYỄN VĂN ĐỨC"),  # typed in capitals (.VnTimeH)
        ("NGUYÔN V¨N §øC", "tcvn3", "NGUYỄN VĂN ĐỨC"),  # capitals with the lower-case codes
        ("V¨n phßng ñy ban nh©n d©n", "tcvn3", "Văn phòng ủy ban nhân dân"),
        ("ñy ban nh©n d©n", "tcvn3", "Ủy ban nhân dân"),  # the cell's first letter
        ("NguyÔn ThÞ ¸nh", "tcvn3", "Nguyễn Thị Ánh"),  # a name is in title case
        ("Lª H¹", "tcvn3", "Lê Hạ"),
        ("Tr\xad¬ng Thuý", "tcvn3", "Trương Thuý"),
        ("SNV-0001 (§µ N½ng)", "tcvn3", "SNV-0001 (Đà Nẵng)"),
    ],
)
def test_known_legacy_text(legacy, encoding, unicode):
    assert to_unicode(legacy, encoding) == unicode
    assert unicodedata.is_normalized("NFC", to_unicode(legacy, encoding))


def test_tcvn3_table_agrees_with_the_standard_as_glibc_implements_it():
    """TCVN 5712:1993 as iconv knows it (VN1, of which the TCVN3 fonts use VN3)."""
    iconv = shutil.which("iconv")
    if iconv is None:
        pytest.skip("iconv is not installed")
    letters = [ch for letter in LETTERS for ch in {letter, letter.upper()}]
    codes = [from_unicode(ch, "tcvn3") for ch in letters]
    distinct = sorted({c for c in codes if not c.isascii()})
    done = subprocess.run(
        [iconv, "-f", "TCVN5712-1", "-t", "UTF-8"],
        input="".join(distinct).encode("latin-1"),
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("this iconv has no TCVN5712-1")
    glibc = unicodedata.normalize("NFC", done.stdout.decode("utf-8"))
    assert len(distinct) == 74  # 66 toned/shaped vowels, đ, and the capitals Ă Â Ê Ô Ơ Ư Đ
    assert [to_unicode(c, "tcvn3").lower() for c in distinct] == [g.lower() for g in glibc]
    assert [g for g in glibc if g.isupper()] == list("ĂÂÊÔƠƯĐ")


@pytest.mark.parametrize("letter", LETTERS)
def test_windows_1258_letters_with_combining_tones_come_back_nfc(letter):
    for ch in (letter, letter.upper()):
        # cp1258 has the base letters (â, ơ …) and the five tones as combining marks:
        # write the tone apart, as Windows does for the letters it has no code for.
        decomposed = unicodedata.normalize("NFD", ch)
        tone = "".join(m for m in decomposed if m in TONES[1:])
        base = unicodedata.normalize("NFC", "".join(m for m in decomposed if m not in TONES[1:]))
        data = (base + tone).encode("cp1258")
        assert decode_cp1258(data) == ch


def test_windows_1258_file_text():
    # ễ = ê + combining tilde (0xDE), ị = i + dot below (0xF2), ủ = u + hook (0xD2) …
    in_1258 = b"Nguy\xea\xden Thi\xf2 Thu\xd2y, \xd0a\xcc N\xe3\xdeng"
    assert decode_cp1258(in_1258) == "Nguyễn Thị Thủy, Đà Nẵng"
    with pytest.raises(UnicodeDecodeError) as bad:
        decode_cp1258(b"Nguy\xea\xden \x81")
    assert bad.value.start == 8


# --- syllables -----------------------------------------------------------------------


def test_every_word_of_real_vietnamese_is_a_syllable():
    assert [w for w in WORDS + NAME_WORDS if not is_vietnamese_syllable(w)] == []
    assert all(is_vietnamese_syllable(w.upper()) for w in WORDS)
    assert all(is_vietnamese_syllable(unicodedata.normalize("NFD", w)) for w in WORDS)


@pytest.mark.parametrize(
    "word",
    ["NguyÔn", "V¨n", "Hµ", "Nguyeãn", "Hoaøng", "Tuù", "Vuõ", "Leâ", "ầt", "at", "thànhh",
     "Smith", "SNV", "hóà", "xyz", ""],
)  # fmt: skip
def test_what_is_not_a_syllable(word):
    assert not is_vietnamese_syllable(word)


# --- whole columns -------------------------------------------------------------------


@pytest.fixture(scope="module")
def names() -> list[str]:
    return generate_names(10_000, seed=2016)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_roster_column_typed_in_a_legacy_encoding_is_detected_and_converts_back(names, encoding):
    column = [cp1252_round_trip(from_unicode(name, encoding)) for name in names]
    found = detect(column)
    assert found.encoding == encoding
    assert found.legacy
    assert found.cells == len(names)
    assert found.changed == sum(n != c for n, c in zip(names, column, strict=True))
    before, after = found.example
    assert before in column
    assert after == names[column.index(before)]
    # Nearly every cell speaks for the encoding on its own (the rest are plain ASCII or
    # read as valid Vietnamese either way, like "Vò", TCVN3 for "Vũ").
    assert getattr(found, encoding) >= 0.98 * len(names)
    assert [to_unicode(cell, encoding) for cell in column] == names


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_names_as_they_arrive_convert_to_the_same_person(encoding):
    rng = random.Random(5)
    originals = generate_names(2_000, seed=11)
    variants = [name_variant(name, rng) for name in originals]
    column = [from_unicode(v, encoding) for v in variants]
    assert detect(column).encoding == encoding
    converted = [to_unicode(cell, encoding) for cell in column]
    # The roster matches names by name_key (NFC, case and spaces ignored).
    assert [name_key(c) for c in converted] == [name_key(v) for v in variants]
    if encoding == "vni":  # VNI keeps every case
        assert converted == [unicodedata.normalize("NFC", v) for v in variants]


def test_the_same_names_in_unicode_are_unicode_and_left_alone(names):
    found = detect(names)
    assert found.encoding == "unicode"
    assert found.tcvn3 == found.vni == found.ambiguous == 0
    assert found.example is None


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_columns_of_five_names_or_more_are_always_detected(encoding):
    pool = generate_names(50_000, seed=99)
    rng = random.Random(1)
    for size in (5, 8, 20, 100):
        for _ in range(150 if size < 100 else 20):
            sample = rng.sample(pool, size)
            assert detect([from_unicode(n, encoding) for n in sample]).encoding == encoding
            assert detect(sample).encoding == "unicode"


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_column_too_short_to_tell_is_unclear_never_the_wrong_encoding(encoding):
    pool = generate_names(5_000, seed=3)
    rng = random.Random(2)
    seen = set()
    for _ in range(400):
        sample = rng.sample(pool, rng.choice((1, 2)))
        verdict = detect([from_unicode(n, encoding) for n in sample]).encoding
        seen.add(verdict)
        # A name of plain letters, or one that reads as Vietnamese either way, says nothing.
        assert verdict in ("unclear", "ascii", "unicode")
    assert "unclear" in seen
    found = detect([from_unicode("Nguyễn Văn Thanh", encoding)])
    assert found.encoding == "unclear"
    assert found.example == (from_unicode("Nguyễn Văn Thanh", encoding), "Nguyễn Văn Thanh")


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_mixed_column_is_unclear(names, encoding):
    other = "vni" if encoding == "tcvn3" else "tcvn3"
    legacy = [from_unicode(n, encoding) for n in names[:200]]
    assert detect(legacy[:100] + names[100:200]).encoding == "unclear"
    assert detect(legacy[:100] + [from_unicode(n, other) for n in names[100:200]]).encoding == (
        "unclear"
    )
    # One Unicode name pasted into a legacy roster: not one encoding, so no guess.
    found = detect([*legacy, names[500]])
    assert found.encoding == "unclear"
    assert found.example is not None


ASCII_COLUMNS = [
    ["Nguyen Van An", "Tran Thi Binh", "Le Minh", "Pham Thu Ha"],  # names without marks
    ["Director", "Head of unit", "Deputy head", "Accountant", "IT officer"],
    ["0905123456", "02363822111", "1", "3.14", "-7", "1e6"],
    ["an.nv@danang.gov.vn", "binh.tt@danang.gov.vn", "ha.pt+test@danang.gov.vn"],
    ["SNV-0001", "SNV-0002", "SNV-0003", "SNV-0004", "SNV-9999"],
]


@pytest.mark.parametrize("column", ASCII_COLUMNS)
def test_plain_ascii_is_ascii_and_never_changed(column):
    assert detect(column).encoding == "ascii"
    for encoding in ENCODINGS:
        assert [to_unicode(c, encoding) for c in column] == column


@pytest.mark.parametrize(
    "column",
    [
        ["Lê Tú", "Hà Anh", "Bá Tú", "Hoàng Anh", "Toàn", "Vô Tâm", "Lý Thái Tô"],
        ["José", "Müller", "François", "Zoë", "café", "São Paulo", "Crème brûlée", "Señor Peña"],
        ["Sở Thông tin và Truyền thông", "UBND quận Hải Châu", "Phòng Nội vụ"],
        ["Nguyễn Thị Thủy", "SNV-0001", "an.nv@danang.gov.vn", "0905123456"],
    ],
)
def test_unicode_text_is_unicode(column):
    found = detect(column)
    assert found.encoding == "unicode"
    assert not found.legacy


def test_empty_cells_are_not_counted():
    assert detect([]).encoding == "ascii"
    assert detect(["", "  ", "\n"]).cells == 0


def test_an_unknown_encoding_is_refused():
    with pytest.raises(ValueError, match="tcvn3"):
        to_unicode("x", "viqr")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="vni"):
        from_unicode("x", "cp1258")  # type: ignore[arg-type]


# --- properties ----------------------------------------------------------------------

_CASES = {
    "as is": lambda s: s,
    "upper": str.upper,
    "lower": str.lower,
    "title": str.title,
    "nfd": lambda s: unicodedata.normalize("NFD", s),
}
vietnamese_cell = st.builds(
    lambda words, case: _CASES[case](" ".join(words)),
    st.lists(st.sampled_from(WORDS + NAME_WORDS), min_size=1, max_size=6),
    st.sampled_from(sorted(_CASES)),
)


@given(st.lists(vietnamese_cell, min_size=1, max_size=30))
def test_unicode_vietnamese_is_never_detected_as_legacy(column):
    assert detect(column).encoding in ("unicode", "ascii")


@given(st.lists(vietnamese_cell, min_size=1, max_size=30))
def test_vni_round_trips_any_vietnamese_text(column):
    for cell in column:
        assert to_unicode(from_unicode(cell, "vni"), "vni") == unicodedata.normalize("NFC", cell)


@given(st.lists(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E)), max_size=20))
def test_ascii_is_never_converted(column):
    assert detect(column).encoding == "ascii"
    for encoding in ENCODINGS:
        assert [to_unicode(c, encoding) for c in column] == column


@given(st.lists(st.text(max_size=40), max_size=10))
def test_any_text_gives_a_verdict_and_nfc(column):
    found = detect(column)
    assert found.encoding in ("ascii", "unicode", "tcvn3", "vni", "unclear")
    assert found.cells == sum(1 for c in column if c.strip())
    for cell in column:
        for encoding in ENCODINGS:
            assert unicodedata.is_normalized("NFC", to_unicode(cell, encoding))
            assert unicodedata.is_normalized(
                "NFC", to_unicode(from_unicode(cell, encoding), encoding)
            )
