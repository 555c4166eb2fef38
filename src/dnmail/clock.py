"""The one clock. Tests and time-dependent rules (certificate validity at import time,
lock dates) read "now" here; DNMAIL_NOW (ISO 8601) pins it for subprocess tests.

The database and JSON keep UTC; people read and type Vietnam time (UTC+7, no daylight
saving): `LOCAL_TZ`, and the days they type (`parse_day`, `start_of_day`).
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta, timezone

LOCAL_TZ = timezone(timedelta(hours=7), "ICT")


def now() -> datetime:
    pinned = os.environ.get("DNMAIL_NOW")
    if pinned:
        dt = datetime.fromisoformat(pinned)
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return datetime.now(UTC)


def parse_day(text: str, *, option: str = "--since") -> date:
    """A YYYY-MM-DD date from the command line; BadInput (exit 2) otherwise."""
    from dnmail.errors import BadInput

    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(f"{option} {text!r:.40}: expected a date as YYYY-MM-DD") from None


def start_of_day(day: date) -> datetime:
    """The UTC instant a day starts in Vietnam (UTC+7): dates typed by people are local."""
    return datetime.combine(day, time(0, 0), tzinfo=LOCAL_TZ).astimezone(UTC)
