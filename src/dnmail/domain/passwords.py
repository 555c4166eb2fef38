"""Initial and reset passwords (DESIGN §2, "Passwords").

Generated with ``secrets``, from a policy in the config: length, an alphabet without
look-alikes (no ``0 O o 1 l I i |``), and the number of character classes (lower,
upper, digit, symbol) that must appear. A password that misses the classes is thrown
away and drawn again — never patched by forcing a character into a position, which
would make some positions predictable.

dnmail never hashes a password (the directory's ppolicy does) and never stores,
logs or puts one in an exception: nothing in this module formats a password into a
message, and ``PasswordPolicy``'s repr carries only the policy.
"""

from __future__ import annotations

import secrets
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations

from dnmail.errors import ConfigError
from dnmail.i18n import _

__all__ = [
    "CONFIG_SECTION",
    "DEFAULT_ALPHABET",
    "LOOK_ALIKES",
    "PasswordPolicy",
    "character_classes",
    "generate_password",
]

CONFIG_SECTION = "passwords"
LOOK_ALIKES = frozenset("0Oo1lIi|")
_LOWER = "abcdefghjkmnpqrstuvwxyz"  # no i l o
_UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I O
_DIGITS = "23456789"  # no 0 1
# A few symbols that are safe on a printed handout, in a terminal, in JSON/CSV and
# in a spreadsheet cell: none of = + - @ (formula starts), no quotes, backslash, $,
# backtick, comma, semicolon or space.
_SYMBOLS = "!#%*?"
DEFAULT_ALPHABET = _LOWER + _UPPER + _DIGITS + _SYMBOLS

MIN_LENGTH, MAX_LENGTH = 8, 128
MIN_ALPHABET = 16
# A policy whose random draw satisfies min_classes less often than this is refused:
# generation would spin (length 8, min_classes 4, one symbol in 94 characters…).
_MIN_SUCCESS_PROBABILITY = 1e-3
_MAX_ATTEMPTS = 100_000
_KNOWN_KEYS = ("length", "alphabet", "min_classes")


def _class_of(ch: str) -> str:
    if ch in string.ascii_lowercase:
        return "lower"
    if ch in string.ascii_uppercase:
        return "upper"
    if ch in string.digits:
        return "digit"
    return "symbol"


def character_classes(text: str) -> set[str]:
    """The classes (``lower``, ``upper``, ``digit``, ``symbol``) present in ``text``."""
    return {_class_of(ch) for ch in text}


def _success_probability(length: int, alphabet: str, min_classes: int) -> float:
    """Probability that ``length`` uniform draws from ``alphabet`` cover at least
    ``min_classes`` classes (inclusion–exclusion over the ≤ 4 classes)."""
    sizes: dict[str, int] = {}
    for ch in alphabet:
        sizes[_class_of(ch)] = sizes.get(_class_of(ch), 0) + 1
    names = list(sizes)
    total = len(alphabet)
    probability = 0.0
    for k in range(min_classes, len(names) + 1):
        for present in combinations(names, k):
            # P(the set of classes drawn is exactly `present`)
            exact = 0.0
            for j in range(len(present) + 1):
                for subset in combinations(present, j):
                    share = sum(sizes[c] for c in subset) / total
                    exact += (-1) ** (len(present) - j) * share**length
            probability += exact
    return probability


def _key(name: str) -> str:
    return f"{CONFIG_SECTION}.{name}"


def _validate(length: object, alphabet: object, min_classes: object) -> None:
    if isinstance(length, bool) or not isinstance(length, int):
        raise ConfigError(_("{key} must be a whole number, not {type}").format(
            key=_key("length"), type=type(length).__name__))
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ConfigError(_("{key} must be between {low} and {high}, not {value}").format(
            key=_key("length"), low=MIN_LENGTH, high=MAX_LENGTH, value=length))
    if not isinstance(alphabet, str):
        raise ConfigError(_("{key} must be text, not {type}").format(
            key=_key("alphabet"), type=type(alphabet).__name__))
    _validate_alphabet(alphabet)
    if isinstance(min_classes, bool) or not isinstance(min_classes, int):
        raise ConfigError(_("{key} must be a whole number, not {type}").format(
            key=_key("min_classes"), type=type(min_classes).__name__))
    available = character_classes(alphabet)
    if not 1 <= min_classes <= 4:
        raise ConfigError(_("{key} must be between {low} and {high}, not {value}").format(
            key=_key("min_classes"), low=1, high=4, value=min_classes))
    if min_classes > len(available):
        raise ConfigError(
            _("{key} is {value} but {alphabet} has only {n} classes ({classes})").format(
                key=_key("min_classes"), value=min_classes, alphabet=_key("alphabet"),
                n=len(available), classes=", ".join(sorted(available)))
        )
    if _success_probability(length, alphabet, min_classes) < _MIN_SUCCESS_PROBABILITY:
        raise ConfigError(
            _("{key} {length} is too short to bring {n} character classes out of {alphabet} "
              "reliably; raise the length or give each class more characters").format(
                key=_key("length"), length=length, n=min_classes, alphabet=_key("alphabet"))
        )


def _validate_alphabet(alphabet: str) -> None:
    key = _key("alphabet")
    bad = sorted({ch for ch in alphabet if not (ch.isascii() and ch.isprintable()) or ch == " "})
    if bad:
        shown = ", ".join(_("space") if c == " " else f"U+{ord(c):04X}" for c in bad[:8])
        raise ConfigError(
            _("{key} may hold only printable ASCII characters without space; it has {chars}")
            .format(key=key, chars=shown)
        )
    repeated = sorted({ch for ch in alphabet if alphabet.count(ch) > 1})
    if repeated:
        raise ConfigError(
            _("{key} repeats {chars!r}: a repeated character would be drawn more often than "
              "the others").format(key=key, chars="".join(repeated))
        )
    look_alikes = sorted(set(alphabet) & LOOK_ALIKES)
    if look_alikes:
        raise ConfigError(
            _("{key} contains look-alike characters {chars!r} (none of {all!r} may be used: "
              "they are misread on a handout)").format(
                key=key, chars="".join(look_alikes), all="".join(sorted(LOOK_ALIKES)))
        )
    if len(alphabet) < MIN_ALPHABET:
        raise ConfigError(_("{key} has {n} characters; at least {minimum} are needed").format(
            key=key, n=len(alphabet), minimum=MIN_ALPHABET))


@dataclass(frozen=True)
class PasswordPolicy:
    """How passwords are generated; validated on construction (ConfigError)."""

    length: int = 14
    alphabet: str = DEFAULT_ALPHABET
    min_classes: int = 3  # of lower, upper, digit, symbol

    def __post_init__(self) -> None:
        _validate(self.length, self.alphabet, self.min_classes)

    @classmethod
    def from_config(cls, table: Mapping | None) -> PasswordPolicy:
        """The policy from the config's ``[passwords]`` table; missing keys keep their
        defaults, unknown keys (a typo such as ``lenght``) are refused."""
        if table is None:
            return cls()
        if not isinstance(table, Mapping):
            raise ConfigError(_("[{section}] must be a table").format(section=CONFIG_SECTION))
        unknown = sorted(str(k) for k in table if k not in _KNOWN_KEYS)
        if unknown:
            raise ConfigError(
                _("unknown key {key} in [{section}]; known keys: {known}").format(
                    key=_key(unknown[0]), section=CONFIG_SECTION, known=", ".join(_KNOWN_KEYS))
            )
        return cls(**{k: table[k] for k in _KNOWN_KEYS if k in table})


def _draw(alphabet: str, length: int) -> str:
    """`length` characters drawn uniformly from `alphabet` with the OS CSPRNG: one
    `secrets.token_bytes` call, bytes at or above the largest multiple of the alphabet's
    size rejected (no modulo bias). A tenth of the cost of `secrets.choice` per character,
    which matters when a district is onboarded at once."""
    n = len(alphabet)
    limit = 256 - 256 % n
    out: list[str] = []
    while len(out) < length:
        for b in secrets.token_bytes(2 * length):
            if b < limit:
                out.append(alphabet[b % n])
                if len(out) == length:
                    break
    return "".join(out)


def generate_password(policy: PasswordPolicy = PasswordPolicy()) -> str:
    """A new random password (OS CSPRNG, uniform over the alphabet), NFC, with at least
    ``policy.min_classes`` classes. Draws whole passwords again until one fits."""
    alphabet = policy.alphabet
    if len(alphabet) > 256:  # pragma: no cover - validated alphabets are printable ASCII
        raise ConfigError(_("passwords.alphabet is too long"))
    for _attempt in range(_MAX_ATTEMPTS):
        candidate = _draw(alphabet, policy.length)
        if len(character_classes(candidate)) >= policy.min_classes:
            return unicodedata.normalize("NFC", candidate)
    # Unreachable for a validated policy (probability < 1e-43); the message names no password.
    raise ConfigError(_("password policy cannot be satisfied: {policy!r}").format(policy=policy))
