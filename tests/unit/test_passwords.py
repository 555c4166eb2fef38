"""Generated passwords and their policy (DESIGN §2, "Passwords")."""

from __future__ import annotations

import dataclasses
import re
import string
import unicodedata
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnmail.domain import passwords
from dnmail.domain.passwords import (
    DEFAULT_ALPHABET,
    LOOK_ALIKES,
    PasswordPolicy,
    character_classes,
    generate_password,
)
from dnmail.errors import ConfigError


def test_default_policy() -> None:
    policy = PasswordPolicy()
    assert policy.length == 14
    assert policy.min_classes == 3
    assert not set(policy.alphabet) & set("0Oo1lIi")
    assert len(set(policy.alphabet)) == len(policy.alphabet) >= 16
    assert character_classes(policy.alphabet) == {"lower", "upper", "digit", "symbol"}
    # nothing that a spreadsheet, shell, CSV or JSON would treat specially
    assert not set(policy.alphabet) & set(" '\"\\`$,;=+-@<>&|")


def test_default_passwords() -> None:
    seen = set()
    for _ in range(10_000):
        password = generate_password()
        assert len(password) == 14
        assert set(password) <= set(DEFAULT_ALPHABET)
        assert not set(password) & LOOK_ALIKES
        assert len(character_classes(password)) >= 3
        assert unicodedata.is_normalized("NFC", password)
        seen.add(password)
    assert len(seen) == 10_000


def test_every_character_is_drawn() -> None:
    counts = Counter("".join(generate_password() for _ in range(3000)))
    assert set(counts) == set(DEFAULT_ALPHABET)
    # 42,000 draws over 60 characters: ~700 each; retries reject few passwords, so no
    # character is starved or favoured by much
    assert min(counts.values()) > 450 and max(counts.values()) < 1000


def test_custom_policy() -> None:
    policy = PasswordPolicy.from_config(
        {"length": 20, "alphabet": "abcdefghjkmnpqrstuvwxyz23456789", "min_classes": 2}
    )
    for _ in range(500):
        password = generate_password(policy)
        assert len(password) == 20
        assert set(password) <= set(policy.alphabet)
        assert character_classes(password) == {"lower", "digit"}


def test_min_classes_four_is_guaranteed() -> None:
    policy = PasswordPolicy(length=8, min_classes=4)
    for _ in range(2000):
        assert character_classes(generate_password(policy)) == {"lower", "upper", "digit", "symbol"}


def test_from_config_defaults_and_partial_tables() -> None:
    assert PasswordPolicy.from_config({}) == PasswordPolicy()
    assert PasswordPolicy.from_config(None) == PasswordPolicy()
    assert PasswordPolicy.from_config({"length": 16}) == PasswordPolicy(length=16)


@pytest.mark.parametrize(
    ("table", "key", "reason"),
    [
        ({"length": 7}, "passwords.length", "between 8 and 128"),
        ({"length": 129}, "passwords.length", "between 8 and 128"),
        ({"length": "14"}, "passwords.length", "whole number"),
        ({"length": 14.0}, "passwords.length", "whole number"),
        ({"length": True}, "passwords.length", "whole number"),
        ({"alphabet": "abcdefghjkmnpqr"}, "passwords.alphabet", "at least 16"),
        ({"alphabet": "abcdefghjkmnpqrs "}, "passwords.alphabet", "space"),
        ({"alphabet": "abcdefghjkmnpqrsé"}, "passwords.alphabet", "U\\+00E9"),
        ({"alphabet": "abcdefghjkmnpqrs\x00"}, "passwords.alphabet", "U\\+0000"),
        ({"alphabet": "abcdefghjkmnpqrstt"}, "passwords.alphabet", "repeats 't'"),
        ({"alphabet": "abcdefghjkmnpqrsO0"}, "passwords.alphabet", "look-alike"),
        ({"alphabet": 42}, "passwords.alphabet", "must be text"),
        ({"min_classes": 0}, "passwords.min_classes", "between 1 and 4"),
        ({"min_classes": 5}, "passwords.min_classes", "between 1 and 4"),
        ({"min_classes": "3"}, "passwords.min_classes", "whole number"),
        (
            {"alphabet": "abcdefghjkmnpqrstuvwxyz", "min_classes": 2},
            "passwords.min_classes",
            "only 1 classes",
        ),
        ({"lenght": 14}, "passwords.lenght", "unknown key"),
    ],
)
def test_policy_validation(table: dict, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        PasswordPolicy.from_config(table)
    message = str(info.value)
    assert key in message, message
    assert re.search(reason, message), message


WORST_CASE = string.punctuation.replace("|", "") + "a" + "B" + "2"  # 30 symbols, 1 of each other


def test_hard_policies_still_generate() -> None:
    # the hardest policy the limits allow: ~1 % of draws bring all four classes
    policy = PasswordPolicy(length=8, alphabet=WORST_CASE, min_classes=4)
    assert 0.005 < passwords._success_probability(8, WORST_CASE, 4) < 0.02
    for _ in range(50):
        assert len(character_classes(generate_password(policy))) == 4


def test_policies_that_would_spin_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_MIN_SUCCESS_PROBABILITY", 0.5)
    with pytest.raises(ConfigError, match=r"passwords\.length 8 is too short"):
        PasswordPolicy.from_config({"length": 8, "alphabet": WORST_CASE, "min_classes": 4})
    PasswordPolicy.from_config({"length": 100, "alphabet": WORST_CASE, "min_classes": 4})


def test_policy_is_validated_on_construction_too() -> None:
    with pytest.raises(ConfigError, match=r"passwords\.length"):
        PasswordPolicy(length=4)
    with pytest.raises(ConfigError):
        dataclasses.replace(PasswordPolicy(), alphabet="short")


def test_policy_table_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError, match=r"\[passwords\]"):
        PasswordPolicy.from_config(["length", 14])  # type: ignore[arg-type]


def test_success_probability_is_exact_for_a_simple_case() -> None:
    # 16 lower + 16 upper, length 8, both classes: 1 - 2 * (1/2)^8
    alphabet = "abcdefghjkmnpqrs" + "ABCDEFGHJKLMNPQR"
    assert passwords._success_probability(8, alphabet, 2) == pytest.approx(1 - 2 / 256)
    assert passwords._success_probability(8, alphabet, 1) == pytest.approx(1.0)


def test_retries_rather_than_biasing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A draw that misses a class is thrown away whole, not patched."""
    policy = PasswordPolicy(length=8, alphabet="abcdefghjkmnpqrs" + "ABCD", min_classes=2)
    # 20 characters: bytes 240-255 would bias the draw and must be skipped.
    draws = iter([bytes(16), b"\xf5\xff" + bytes(7) + b"\x10" + bytes(6)])
    monkeypatch.setattr(passwords.secrets, "token_bytes", lambda _n: next(draws))
    assert generate_password(policy) == "aaaaaaaA"


def test_no_password_in_errors_or_repr() -> None:
    policy = PasswordPolicy()
    assert "alphabet" in repr(policy)
    password = generate_password(policy)
    assert password not in repr(policy)


@settings(max_examples=200, deadline=None)
@given(
    length=st.integers(8, 128),
    alphabet=st.sets(
        st.sampled_from(
            sorted(set(string.ascii_letters + string.digits + "!#%*?_-.") - LOOK_ALIKES)
        ),
        min_size=16,
    ).map(lambda s: "".join(sorted(s))),
    min_classes=st.integers(1, 4),
)
def test_any_accepted_policy_generates(length: int, alphabet: str, min_classes: int) -> None:
    try:
        policy = PasswordPolicy(length=length, alphabet=alphabet, min_classes=min_classes)
    except ConfigError:
        return
    password = generate_password(policy)
    assert len(password) == length
    assert set(password) <= set(alphabet)
    assert len(character_classes(password)) >= min_classes
