"""Phone cells as spreadsheets hand them over: text, whole numbers, floats — and the
numbers no phone can be (NaN, infinities, negatives, fractions, too many digits), which
are refused with BadPhone, never an uncaught error."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dnmail.domain.phones import BadPhone, parse_phone


@pytest.mark.parametrize(
    ("cell", "number", "restored"),
    [
        ("0905 123 456", "0905123456", False),
        ("+84 905 123 456", "0905123456", False),
        (905123456, "0905123456", True),
        (905123456.0, "0905123456", True),
        ("905123456.0", "0905123456", True),
        (84905123456, "0905123456", False),
        (2363822111, "02363822111", True),
        (None, "", False),
        ("  ", "", False),
    ],
)
def test_phone_cells_read_as_vietnamese_numbers(cell, number, restored):
    assert parse_phone(cell) == type(parse_phone(cell))(number, restored)


@pytest.mark.parametrize(
    "cell",
    [float("inf"), float("-inf"), float("nan"), 1e300, -905123456.0, -905123456, 905123456.5,
     10**30, 10**12, True, False, "-", "12ab", "0905-123-456-789-000"],
)
def test_numbers_no_phone_can_be_are_refused(cell):
    with pytest.raises(BadPhone):
        parse_phone(cell)


@given(
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.text(max_size=30))
)
@example(float("inf"))
@example(-(10**40))
def test_any_cell_gives_a_number_or_bad_phone(cell):
    try:
        phone = parse_phone(cell)
    except BadPhone:
        return
    assert phone.number == "" or (phone.number.isdigit() and 10 <= len(phone.number) <= 11)
    assert phone.number == "" or phone.number.startswith("0")
    if isinstance(cell, float):
        assert math.isfinite(cell) and cell >= 0
