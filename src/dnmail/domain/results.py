"""What services return: frozen dataclasses, rendered by one walker in cli/render.py
(tables, CSV, JSON) — no result writes its own `to_dict`.

The walker emits every field (Enums as their value, datetimes in ISO 8601, paths as
text, NamedTuples as objects), then what the class's optional `json_extra()` adds
(derived values such as counts). Two marks in a field's metadata change that:

- `secret()`: a password shown once. It is emitted only where the command asks for
  it (`Output.data(..., secrets=True)`), never when it is None or empty.
- `omitted_if_none()`: left out of the output when None (optional details).
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

SECRET = "dnmail.secret"
OMIT_NONE = "dnmail.omit_if_none"


def secret() -> Any:
    """A field holding a secret (default None), hidden from repr and from output
    unless the command asks for it."""
    return field(default=None, repr=False, metadata={SECRET: True})


def omitted_if_none(default: Any = None) -> Any:
    """An optional field left out of the output when it is None."""
    return field(default=default, metadata={OMIT_NONE: True})
