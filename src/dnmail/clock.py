"""The one clock. Tests and time-dependent rules (certificate validity at import time,
lock dates) read "now" here; DNMAIL_NOW (ISO 8601) pins it for subprocess tests."""

from __future__ import annotations

import os
from datetime import UTC, datetime


def now() -> datetime:
    pinned = os.environ.get("DNMAIL_NOW")
    if pinned:
        dt = datetime.fromisoformat(pinned)
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return datetime.now(UTC)
