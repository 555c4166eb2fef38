"""A person's name holds letters (any script, normalised), spaces, apostrophes, hyphens
and dots — nothing else (issue 12 §5). The attack it stops: a formula behind invisible
characters (`\\t=1+1 Nguyễn`) reached the directory's `sn`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dnmail.domain.text import clean_text, person_name_problem
from dnmail.readers.tabular import CellError, cell_text

INVISIBLE_LEADS = ["\t", "   ", "\u200b", "\u3000", "\b", "\u00a0", "\r\n", "\u2066"]


@pytest.mark.parametrize("lead", INVISIBLE_LEADS)
def test_a_formula_behind_invisible_characters_is_a_formula(lead):
    with pytest.raises(CellError, match="cell holds a formula"):
        cell_text(f"{lead}=1+1 Nguyễn")
    assert person_name_problem(clean_text(f"{lead}=1+1 Nguyễn")) is not None


@pytest.mark.parametrize("name", [
    "Nguyễn Quang Thanh", "Lê Thị Mỹ Hạnh", "Tôn Nữ Thị Hoà", "Bh'riu Pố", "A-Lăng Thị Ê",
    "Nguyễn Văn A.", "Y’Moan Êban", "王小明", "สมชาย ใจดี", "राम कुमार", "Đinh Ʉ",
])
def test_names_of_any_script_are_accepted(name):
    assert person_name_problem(name) is None


@pytest.mark.parametrize("name, shown", [
    ("=1+1 Nguyễn", "'='"), ("Nguyễn Văn 3", "'3'"), ("Nguyễn *)(uid=*", "'*'"),
    ("Lê <b>An</b>", "'<'"), ("@Nguyễn", "'@'"), ("Trần_Văn", "'_'"), ("An 🙂", "'🙂'"),
    ("-Nguyễn", "'-'"), ("'Nguyễn", '"\'"'), ("Nguyễn, An", "','"), ("Lê+An", "'+'"),
])
def test_anything_else_is_refused_and_named(name, shown):
    why = person_name_problem(name)
    assert why is not None and "is not a person's name" in why and shown in why


@given(st.text(max_size=40))
def test_an_accepted_name_starts_with_a_letter_and_holds_no_sign(text):
    name = clean_text(text)
    if person_name_problem(name) is None:
        assert name[0].isalpha()
        assert not set(name) & set("=+@<>*()\\,;\"#$%&|/0123456789_")
