"""The one clock. Time-dependent rules (certificate validity at the time of import, lock
dates, audit times) read "now" here, and nothing outside the process can move it: no
environment variable, config key or option changes the time a slip's certificates are
validated at (a unit officer could otherwise revive a signer whose certificate expired).
Tests move time inside their own process (time-machine) or give a Runtime its own `now`.

The database and JSON keep UTC; people read and type Vietnam time (UTC+7, no daylight
saving): `LOCAL_TZ`, and the days they type (`parse_day`, `start_of_day`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

LOCAL_TZ = timezone(timedelta(hours=7), "ICT")


def now() -> datetime:
    """The current time, aware, in UTC."""
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
