"""Addresses from Vietnamese names, requested addresses and allocation (DESIGN §2)."""

from __future__ import annotations

import itertools
import random
import re
import time
import unicodedata

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from dnmail.domain.addresses import (
    DEFAULT_PATTERN,
    DEFAULT_RESERVED,
    MAX_BASE_LENGTH,
    MAX_LOCAL_LENGTH,
    address_base,
    allocate,
    allocate_many,
    candidates,
    split_name,
    validate_local_part,
)
from dnmail.errors import ConfigError, InvalidName, Refused
from support.names import (
    FAMILY_NAMES,
    GIVEN_NAMES_FEMALE,
    GIVEN_NAMES_MALE,
    MIDDLE_NAMES_FEMALE,
    MIDDLE_NAMES_MALE,
    MINORITY_NAMES,
    generate_names,
    name_variant,
)

ADDRESS = re.compile(r"[a-z][a-z0-9]*")


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# An oracle independent of the code under test: every Vietnamese letter, spelled out.
_VIET_LETTERS = {
    "a": "aàáảãạăằắẳẵặâầấẩẫậ",
    "d": "dđ",
    "e": "eèéẻẽẹêềếểễệ",
    "i": "iìíỉĩị",
    "o": "oòóỏõọôồốổỗộơờớởỡợ",
    "u": "uùúủũụưừứửữự",
    "y": "yỳýỷỹỵ",
}
_TO_ASCII = {
    variant: plain
    for plain, variants in _VIET_LETTERS.items()
    for lower in variants
    for variant in (lower, lower.upper())
}


def oracle_fold(word: str) -> str:
    out = []
    for ch in nfc(word):
        ch = _TO_ASCII.get(ch, ch).lower()
        if ch.isascii() and ch.isalnum():
            out.append(ch)
    return "".join(out)


def oracle_base(words: list[str]) -> str:
    folded = [oracle_fold(w) for w in words]
    folded = [f for f in folded if f]
    return (folded[-1] + "".join(f[0] for f in folded[:-1]))[:MAX_BASE_LENGTH]


def printable_message(exc: BaseException) -> str:
    message = str(exc)
    assert all(ch.isprintable() for ch in message), repr(message)
    return message


# --- the design's examples and friends ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Nguyễn Quang Thanh", "thanhnq"),
        ("Lê Thị Mỹ Hạnh", "hanhltm"),
        ("Trần Đức", "duct"),
        ("Đặng Văn Nam", "namdv"),
        ("Đặng", "dang"),
        ("Hoàng Thị Ánh Tuyết", "tuyethta"),
        ("Huỳnh Đỗ Đăng Khoa", "khoahdd"),
        ("Phan Thị Thu Thủy", "thuyptt"),
        ("Phan Thị Thu Thuỷ", "thuyptt"),  # old tone placement, another NFC string
        ("Võ Hòa", "hoav"),
        ("Võ Hoà", "hoav"),
        ("Tôn Nữ Thị Hà", "hatnt"),
        ("Ðặng Văn Nam", "namdv"),  # Icelandic eth from a legacy TCVN3 converter
        ("H'Hen Niê", "nieh"),  # apostrophe dropped, mechanical rule
        ("Bh'riu Liếc", "liecb"),
        ("Nguyễn-Trần Minh Anh", "anhnm"),  # hyphen dropped inside a word
        ("NGUYỄN QUANG THANH", "thanhnq"),
        ("nguyễn quang thanh", "thanhnq"),
        ("  Nguyễn \u00a0 Quang\tThanh \n", "thanhnq"),
        ("Nguyễn\u200b Quang Thanh", "thanhnq"),  # zero-width space dropped
        ("Nguyễn\u202e Quang Thanh", "thanhnq"),  # RTL override dropped
        ("Ｎｇｕｙễｎ Ｑｕａｎｇ Ｔｈａｎｈ", "thanhnq"),  # full-width from an IME
        ("Nguyễn Quang Thanh (Bé)", "benqt"),
        ("Nguyễn Quang Thanh -", "thanhnq"),  # punctuation-only word ignored
        ("Thanh", "thanh"),
        ("Nguyễn Văn A.", "anv"),
    ],
)
def test_examples(name: str, expected: str) -> None:
    assert address_base(name) == expected
    assert address_base(nfd(name)) == expected
    assert address_base(nfc(name)) == expected


def test_split_name() -> None:
    assert split_name("Lê Thị Mỹ Hạnh") == (["Lê", "Thị", "Mỹ"], "Hạnh")
    assert split_name(nfd("  Trần   Đức ")) == (["Trần"], "Đức")
    assert split_name("Thanh") == ([], "Thanh")
    assert split_name("Nguyễn Quang Thanh -") == (["Nguyễn", "Quang"], "Thanh")
    _family, given_name = split_name(nfd("Nguyễn Ánh"))
    assert unicodedata.is_normalized("NFC", given_name)


@pytest.mark.parametrize(
    "name",
    ["", "   ", "\u00a0\t", "-", "' - .", "李小龍", "Иван", "Nguyễn Văn Аnh", "محمد", None],
)
def test_names_that_give_nothing(name: object) -> None:
    with pytest.raises(InvalidName) as info:
        address_base(name)  # type: ignore[arg-type]
    message = printable_message(info.value)
    if name and name.strip(" -'.\u00a0\t"):
        assert name in message or "Аnh" in message


def test_mixed_script_is_refused_not_shortened() -> None:
    # a Cyrillic А in a Vietnamese name must not silently become "nhnv"
    with pytest.raises(InvalidName, match="no Latin"):
        address_base("Nguyễn Văn \u0410nh")


def test_name_starting_with_a_digit_is_refused() -> None:
    with pytest.raises(InvalidName, match="start with a letter"):
        address_base("Nguyễn Văn 3")


def test_error_message_is_short_and_has_no_control_characters() -> None:
    hostile = "\x1b[31m" + "李" * 500 + "\x00\u202e"
    with pytest.raises(InvalidName) as info:
        address_base(hostile)
    message = printable_message(info.value)
    assert "\x1b" not in message and "\x00" not in message
    assert len(message) < 300
    assert "…" in message


def test_long_names_are_cut_to_leave_room_for_a_suffix() -> None:
    base = address_base("Nguyễn Văn " + "A" * 200)
    assert len(base) == MAX_BASE_LENGTH == MAX_LOCAL_LENGTH - 5
    many_middles = " ".join(["Nguyễn"] + ["Văn"] * 100 + ["Thanh"])
    assert address_base(many_middles) == ("thanh" + "n" + "v" * 100)[:MAX_BASE_LENGTH]


# --- patterns --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        (DEFAULT_PATTERN, "Nguyễn Quang Thanh", "thanhnq"),
        ("{family}{given}", "Nguyễn Quang Thanh", "nguyenthanh"),
        ("{given}.{family}", "Nguyễn Quang Thanh", "thanhnguyen"),
        ("{given}-{family_initial}{middle_initials}", "Lê Thị Mỹ Hạnh", "hanhltm"),
        ("{given_initial}{family}", "Nguyễn Quang Thanh", "tnguyen"),
        ("{family_initial}{middle_initials}{given}", "Lê Thị Mỹ Hạnh", "ltmhanh"),
        ("{given}{middle}", "Lê Thị Mỹ Hạnh", "hanhthimy"),
        ("{family}{given}", "Thanh", "thanh"),  # one-word name: no family
        ("{family}_{given}", "Đặng Hữu Đạt", "dangdat"),
        ("{given}{{x}}", "Trần Đức", "ducx"),  # escaped braces are literal, then folded
        ("cb{given}", "Trần Đức", "cbduc"),
    ],
)
def test_pattern_tokens(pattern: str, name: str, expected: str) -> None:
    assert address_base(name, pattern) == expected


def test_pattern_giving_nothing_for_a_name() -> None:
    with pytest.raises(InvalidName, match="empty address"):
        address_base("Trần Đức", "{middle}")


@pytest.mark.parametrize(
    "pattern",
    [
        "{surname}",
        "{given}{Family}",
        "{0}",
        "{}",
        "{given!r}",
        "{given:>10}",
        "{given.upper}",
        "{given[0]}",
        "{given",
        "given}",
        "nopattern",
        "",
        "{given}李",
    ],
)
def test_bad_patterns_are_config_errors(pattern: str) -> None:
    with pytest.raises(ConfigError) as info:
        address_base("Nguyễn Quang Thanh", pattern)
    printable_message(info.value)


def test_unknown_token_is_named() -> None:
    with pytest.raises(ConfigError, match=r"\{surname\}.*\{given\}"):
        address_base("Nguyễn Quang Thanh", "{surname}{initials}")


# --- requested addresses ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thanhnq", "thanhnq"),
        ("ThanhNQ", "thanhnq"),
        ("thanhnq@danang.gov.vn", "thanhnq"),
        ("ThanhNQ@DaNang.Gov.VN", "thanhnq"),
        ("  thanhnq1 \u00a0", "thanhnq1"),
        ("thanhnq\n", "thanhnq"),
        ("a", "a"),
        ("a" * 64, "a" * 64),
        ("snv", "snv"),
    ],
)
def test_valid_requested_addresses(text: str, expected: str) -> None:
    assert validate_local_part(text) == expected


def test_domain_is_configurable() -> None:
    assert validate_local_part("abc@Example.ORG", domain="example.org") == "abc"
    with pytest.raises(InvalidName, match=r"not an address of example\.org"):
        validate_local_part("abc@danang.gov.vn", domain="example.org")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("*)(uid=*", r"'\*', '\)', '\(', '='.*only letters a-z and digits 0-9"),
        ("a,ou=admins", r"',', '='"),
        ("x\\", r"'\\'"),
        ("thanh\x00nq", r"control or invisible characters \(U\+0000\)"),
        ("\u202ethanhnq", r"control or invisible characters \(U\+202E\)"),
        ("thanh\u200bnq", r"U\+200B"),
        ("thanh\x1b[31mnq", r"U\+001B"),
        ("a" * 300, r"300 characters long \(at most 64\)"),
        ("a" * 65, r"65 characters long"),
        ("thanh.nq", r"'\.'.*no dots"),
        ("thanh-nq", r"'-'.*hyphens"),
        ("thanh_nq", r"'_'"),
        ("thanh nq", r"contains space"),
        ("1thanh", r"must start with a letter"),
        ("12345", r"must start with a letter"),
        ("thànhnq", r"diacritics.*\('à'\); did you mean 'thanhnq'\?"),
        (nfd("thànhnq"), r"did you mean 'thanhnq'\?"),
        ("đạtnv", r"did you mean 'datnv'\?"),
        ("thanhnq@gmail.com", r"is not an address of danang.gov.vn"),
        ("thanhnq@danang.gov.vn.evil.com", r"is not an address of danang.gov.vn"),
        ("a@b@danang.gov.vn", r"more than one '@'"),
        ("@danang.gov.vn", r"nothing before '@'"),
        ("thanhnq@", r"names no domain"),
        ("", r"empty"),
        ("   ", r"empty"),
        ("李小龍", r"non-ASCII"),
        ("thanhnq\u0430", r"non-ASCII characters \('а'\)"),  # Cyrillic а look-alike
    ],
)
def test_hostile_requested_addresses(text: str, reason: str) -> None:
    with pytest.raises(InvalidName) as info:
        validate_local_part(text)
    message = printable_message(info.value)
    assert re.search(reason, message), message
    assert len(message) < 400


def test_requested_address_must_be_text() -> None:
    with pytest.raises(InvalidName, match="must be text"):
        validate_local_part(None)  # type: ignore[arg-type]


def test_generated_bases_are_valid_requested_addresses() -> None:
    for name in generate_names(2000, seed=7, minority_rate=0.1):
        base = address_base(name)
        assert validate_local_part(base) == base
        assert validate_local_part(base + "@danang.gov.vn") == base


# --- allocation --------------------------------------------------------------------------


def test_candidates() -> None:
    assert list(itertools.islice(candidates("thanhnq"), 4)) == [
        "thanhnq",
        "thanhnq1",
        "thanhnq2",
        "thanhnq3",
    ]
    long = list(itertools.islice(candidates("a" * 64), 12))
    assert all(len(c) <= MAX_LOCAL_LENGTH for c in long)
    assert long[0] == "a" * 64 and long[1] == "a" * 63 + "1" and long[11] == "a" * 62 + "11"
    with pytest.raises(InvalidName):
        next(candidates("Bad.Base"))


def test_second_person_gets_suffix_one() -> None:
    first = address_base("Nguyễn Quang Thanh")
    second = address_base(nfd("Nguyễn  Quang Thanh"))
    assert allocate_many([first, second], set()) == ["thanhnq", "thanhnq1"]


def test_allocate_skips_taken_active_and_locked() -> None:
    active = {"thanhnq"}
    locked = {"thanhnq1"}  # an address is never reused, even after its owner left
    taken = active | locked
    assert allocate("thanhnq", taken.__contains__) == "thanhnq2"


def test_allocate_skips_reserved() -> None:
    never = lambda _address: False  # noqa: E731
    assert allocate("postmaster", never) == "postmaster1"
    assert allocate("admin", never) == "admin1"
    assert allocate("thanhnq", never, reserved=frozenset({"thanhnq"})) == "thanhnq1"
    # reserved names are compared folded, as addresses are
    assert allocate("noreply", never, reserved={"No-Reply"}) == "noreply1"
    assert {
        "noreply",
        "mailerdaemon",
        "postmaster",
        "abuse",
        "root",
        "webmaster",
    } <= DEFAULT_RESERVED
    assert all(ADDRESS.fullmatch(r) for r in DEFAULT_RESERVED)


def test_unit_accounts_are_taken() -> None:
    # a unit account (snv@danang.gov.vn) is in the caller's taken set
    assert allocate_many(["snv", "snv"], {"snv"}) == ["snv1", "snv2"]


def test_allocate_gives_up_with_refused() -> None:
    with pytest.raises(Refused, match="first 10 candidates"):
        allocate("thanhnq", lambda _a: True, limit=10)
    with pytest.raises(Refused):
        allocate_many(["a", "a", "a"], set(), limit=2)


def test_allocate_refuses_invalid_base() -> None:
    for bad in ("", "Thanh", "thanh.nq", "1abc", "a" * 65):
        with pytest.raises(InvalidName):
            allocate(bad, lambda _a: False)
        with pytest.raises(InvalidName):
            allocate_many([bad], set())


def test_allocate_many_updates_taken() -> None:
    taken = {"thanhnq", "postmaster1"}
    result = allocate_many(["thanhnq", "postmaster", "hanhltm", "thanhnq"], taken)
    assert result == ["thanhnq1", "postmaster2", "hanhltm", "thanhnq2"]
    assert taken >= set(result)


class CountingSet(set):
    lookups = 0

    def __contains__(self, item: object) -> bool:
        CountingSet.lookups += 1
        return super().__contains__(item)


def test_ten_thousand_identical_bases_are_linear_and_fast() -> None:
    n = 10_000
    taken = CountingSet({"thanhnq", "thanhnq7"})
    CountingSet.lookups = 0
    start = time.perf_counter()
    result = allocate_many(["thanhnq"] * n, taken)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0
    assert len(set(result)) == n
    assert "thanhnq" not in result and "thanhnq7" not in result
    assert result[:3] == ["thanhnq1", "thanhnq2", "thanhnq3"]
    # no rescan from 1: about one membership test per address handed out
    assert CountingSet.lookups <= n + 10


def test_hundred_thousand_realistic_names() -> None:
    names = generate_names(100_000, seed=271)
    start = time.perf_counter()
    addresses = allocate_many([address_base(n) for n in names], set())
    elapsed = time.perf_counter() - start
    assert len(set(addresses)) == len(names)
    assert elapsed < 10  # typically well under a second or two


# --- properties ----------------------------------------------------------------------

_ONSETS = [
    "", "b", "c", "ch", "d", "đ", "g", "gh", "gi", "h", "k", "kh", "l", "m", "n", "ng",
    "ngh", "nh", "p", "ph", "qu", "r", "s", "t", "th", "tr", "v", "x",
]  # fmt: skip
_CODAS = ["", "c", "ch", "m", "n", "ng", "nh", "p", "t", "u", "i", "o", "y"]
_VOWELS = "".join(_VIET_LETTERS[v] for v in "aeiouy")

syllables = st.builds(
    lambda onset, vowels, coda, title: (
        (onset + vowels + coda).title() if title else (onset + vowels + coda)
    ),
    st.sampled_from(_ONSETS),
    st.text(alphabet=_VOWELS, min_size=1, max_size=2),
    st.sampled_from(_CODAS),
    st.booleans(),
)
real_parts = st.sampled_from(
    sorted(
        set(FAMILY_NAMES)
        | set(MIDDLE_NAMES_MALE)
        | set(MIDDLE_NAMES_FEMALE)
        | set(GIVEN_NAMES_MALE)
        | set(GIVEN_NAMES_FEMALE)
    )
)
name_words = st.lists(st.one_of(real_parts, syllables), min_size=1, max_size=6).map(
    lambda parts: [w for p in parts for w in p.split()]
)
separators = st.text(alphabet=" \t\u00a0\u2009\u3000\u202f\n", min_size=1, max_size=3)


@st.composite
def dressed(draw: st.DrawFn, ws: list[str]) -> str:
    """The words as messy input: random spacing, case and normal form."""
    parts = []
    for w in ws:
        case = draw(st.sampled_from(["keep", "upper", "lower"]))
        parts.append(w.upper() if case == "upper" else w.lower() if case == "lower" else w)
    text = draw(st.text(alphabet=" \u00a0\t", max_size=2))
    for i, part in enumerate(parts):
        if i:
            text += draw(separators)
        text += part
    text += draw(st.text(alphabet=" \u00a0\n", max_size=2))
    return unicodedata.normalize(draw(st.sampled_from(["NFC", "NFD", "NFKC", "NFKD"])), text)


def outcome(text: object, pattern: str = DEFAULT_PATTERN) -> str:
    try:
        return address_base(text, pattern)  # type: ignore[arg-type]
    except InvalidName:
        return "<InvalidName>"


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(ws=name_words, data=st.data())
def test_vietnamese_names_follow_the_rule(ws: list[str], data: st.DataObject) -> None:
    assume(oracle_fold(ws[-1])[:1].isalpha())
    expected = oracle_base(ws)
    text = data.draw(dressed(ws))
    base = address_base(text)
    assert base == expected
    assert ADDRESS.fullmatch(base) and len(base) <= MAX_BASE_LENGTH
    assert address_base(nfc(text)) == address_base(nfd(text)) == base
    assert address_base(" ".join(ws)) == base


@settings(max_examples=300)
@given(seed=st.integers(0, 2**32 - 1))
def test_generated_names_and_their_variants(seed: int) -> None:
    rng = random.Random(seed)
    name = generate_names(1, seed=seed, minority_rate=0.2)[0]
    base = address_base(name)
    assert ADDRESS.fullmatch(base)
    for _ in range(3):
        assert address_base(name_variant(name, rng)) == base


@pytest.mark.parametrize("name", MINORITY_NAMES)
def test_minority_names_give_valid_addresses(name: str) -> None:
    assert ADDRESS.fullmatch(address_base(name))
    assert address_base(nfd(name)) == address_base(name)


patterns = st.lists(
    st.sampled_from(
        [
            "{given}",
            "{initials}",
            "{family}",
            "{middle}",
            "{family_initial}",
            "{middle_initials}",
            "{given_initial}",
            ".",
            "-",
            "x",
            "_",
        ]
    ),
    min_size=1,
    max_size=4,
).map("".join)


@settings(max_examples=500)
@given(text=st.text(), pattern=patterns)
@example(text="\x00", pattern=DEFAULT_PATTERN)
@example(text="ß Straße", pattern=DEFAULT_PATTERN)
@example(text="İstanbul", pattern=DEFAULT_PATTERN)
@example(text="ﬁ ½ ²", pattern=DEFAULT_PATTERN)
@example(text="a\u0301\u200b\u0301", pattern=DEFAULT_PATTERN)
def test_arbitrary_text_gives_an_address_or_invalid_name(text: str, pattern: str) -> None:
    try:
        base = address_base(text, pattern)
    except ConfigError:
        assert "{" not in pattern  # only a pattern without tokens is a config error
        return
    except InvalidName as exc:
        printable_message(exc)
        return
    assert ADDRESS.fullmatch(base), base
    assert len(base) <= MAX_BASE_LENGTH


@settings(max_examples=500)
@given(text=st.text())
def test_arbitrary_text_is_stable_under_normal_forms_and_spacing(text: str) -> None:
    result = outcome(text)
    assert outcome(nfc(text)) == result
    assert outcome(nfd(text)) == result
    assert outcome("\u00a0 " + "  \t".join(text.split()) + " \n") == result


@settings(max_examples=500)
@given(text=st.one_of(st.text(), st.text(alphabet="abcXYZ019.-_@ \u00e0\u0301", max_size=70)))
def test_arbitrary_requested_addresses(text: str) -> None:
    try:
        local = validate_local_part(text)
    except InvalidName as exc:
        message = printable_message(exc)
        assert len(message) < 600
        return
    assert ADDRESS.fullmatch(local) and len(local) <= MAX_LOCAL_LENGTH


bases = st.sampled_from(["thanhnq", "thanhnq1", "hanhltm", "postmaster", "admin", "a", "a1"])


@settings(max_examples=300)
@given(
    batch=st.lists(bases, max_size=40),
    preloaded=st.sets(st.one_of(bases, bases.map(lambda b: b + "2"), bases.map(lambda b: b + "1"))),
)
def test_allocation_never_reserved_never_duplicate(batch: list[str], preloaded: set[str]) -> None:
    taken = set(preloaded)
    result = allocate_many(batch, taken)
    assert len(result) == len(batch)
    assert len(set(result)) == len(result)
    assert not set(result) & DEFAULT_RESERVED
    assert not set(result) & preloaded
    assert taken == preloaded | set(result)
    # the same as handing them out one by one with allocate()
    reference = set(preloaded)
    for base, got in zip(batch, result, strict=True):
        one = allocate(base, reference.__contains__)
        reference.add(one)
        assert one == got
        assert got == base or (got.startswith(base) and got[len(base) :].isdigit())


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 300))
def test_allocation_over_generated_names(seed: int, size: int) -> None:
    names = generate_names(size, seed=seed, minority_rate=0.05)
    rng = random.Random(seed)
    preloaded = {address_base(n) for n in rng.sample(names, k=min(len(names), 20))}
    preloaded |= {"thanhnq", "thanhnq1"}
    taken = set(preloaded)
    result = allocate_many([address_base(name_variant(n, rng)) for n in names], taken)
    assert len(set(result)) == len(names)
    assert not set(result) & (DEFAULT_RESERVED | preloaded)
    assert all(ADDRESS.fullmatch(a) and len(a) <= MAX_LOCAL_LENGTH for a in result)


@pytest.mark.parametrize("pattern", [None, 42, ["{given}"]])
def test_pattern_must_be_text(pattern: object) -> None:
    with pytest.raises(ConfigError, match="must be text"):
        address_base("Trần Đức", pattern)  # type: ignore[arg-type]
