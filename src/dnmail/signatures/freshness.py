"""A signed slip is used once, and not forever (issue 12 §2). Pure rules, no pyHanko.

* **What identifies a slip** is what its chief signed, not the file's bytes: the
  SHA-256 of each signature's signed byte ranges and of its signature value
  (`SignatureIdentity`). The same signed slip with one byte appended, or a
  metadata-only incremental update, has another file hash but the same identities, so
  it is refused as already imported.
* **When it was signed** (`SigningTime`): the time of a trusted signature timestamp
  (RFC 3161, from a TSA that chains to the configured roots) when the signature carries
  one; otherwise the signing time the signer states in the signed attributes. That
  claimed time is the signer's own word — dnmail never validates a certificate at it —
  but it is covered by the signature, so whoever prepares or forwards the PDF cannot
  change it. When both are there the earlier counts: a timestamp only proves that the
  signature existed by then, and an old slip can be timestamped anew. Every message
  says which of the two it used.
* **How old it may be**: `[signatures] max_age_days` (default 30). Older is refused,
  and so is a slip with no signing time at all or one claiming a time more than a day
  ahead of the import (which would never grow old). The mend: ask the unit for a
  freshly signed slip.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dnmail.i18n import _, ngettext

#: How far ahead of the import a claimed signing time may be (clocks and time zones of
#: the chief's computer); further, and the slip could never become too old.
CLOCK_SKEW = timedelta(days=1)


@dataclass(frozen=True)
class SignatureIdentity:
    """One embedded signature, by what it signed and by its value."""

    field_name: str
    signed_digest: str  # sha256 hex of the bytes its ByteRange covers
    value_digest: str  # sha256 hex of the signature value (SignerInfo.signature)


def signature_identity(field_name: str, data: bytes, byte_range, value: bytes) -> SignatureIdentity:
    """The identity of a signature whose ByteRange is `byte_range` in `data`."""
    start, length, start2, length2 = (int(v) for v in byte_range)
    h = hashlib.sha256()
    h.update(data[start : start + length])
    h.update(data[start2 : start2 + length2])
    return SignatureIdentity(field_name, h.hexdigest(), hashlib.sha256(value).hexdigest())


@dataclass(frozen=True)
class SigningTime:
    """When the counting signature was made, and on whose word."""

    at: datetime | None
    source: str  # "timestamp" (a trusted TSA's) | "claimed" (the signer's own) | "none"
    tsa: str | None = None  # the TSA's subject, for a timestamp

    def describe(self) -> str:
        """In English, whatever the interface's language: for the audit trail."""
        if self.at is None:
            return "no signing time"
        when = self.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        if self.source == "timestamp":
            return f"{when}, by a trusted timestamp of {self.tsa or 'a time stamping authority'}"
        return (
            f"{when}, the signing time the signer states (the slip carries no trusted "
            "timestamp that says otherwise)"
        )


    def shown(self) -> str:
        """`describe()` in the interface's language, for messages."""
        if self.at is None:
            return _("no signing time")
        when = self.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        if self.source == "timestamp":
            return _("{time}, by a trusted timestamp of {tsa}").format(
                time=when, tsa=self.tsa or _("a time stamping authority"))
        return _("{time}, the signing time the signer states (the slip carries no trusted "
                 "timestamp that says otherwise)").format(time=when)


def signing_time(
    claimed: datetime | None, timestamp: datetime | None, tsa: str | None = None
) -> SigningTime:
    """The signing time that counts (module docstring): the trusted timestamp's, or the
    claimed one when it is earlier or the only one."""
    claimed, timestamp = _aware(claimed), _aware(timestamp)
    if timestamp is not None and (claimed is None or timestamp <= claimed):
        return SigningTime(timestamp, "timestamp", tsa)
    if claimed is not None:
        return SigningTime(claimed, "claimed")
    return SigningTime(None, "none")


def age_problem(signed: SigningTime, now: datetime, max_age_days: int) -> str | None:
    """Why a slip signed at `signed` may not be imported at `now`, or None."""
    now = _aware(now) or now
    if signed.at is None:
        return _("the signature states no signing time and carries no trusted timestamp: its "
                 "age cannot be known; ask the unit for a freshly signed slip")
    if signed.at > now + CLOCK_SKEW:
        return _("the slip claims to be signed in the future ({when}); ask the unit for a "
                 "freshly signed slip signed on a computer with the right date").format(
            when=signed.shown())
    age = now - signed.at
    if age > timedelta(days=max_age_days):
        return ngettext(
            "the slip was signed {n} day ago ({when}), more than signatures.max_age_days "
            "({limit}); ask the unit for a freshly signed slip",
            "the slip was signed {n} days ago ({when}), more than signatures.max_age_days "
            "({limit}); ask the unit for a freshly signed slip",
            age.days,
        ).format(n=age.days, when=signed.shown(), limit=max_age_days)
    return None


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt
