"""A slip is used once and not forever (issue 12 §2): the pure rules of
signatures/freshness.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dnmail.config import parse_config
from dnmail.errors import ConfigError
from dnmail.signatures.freshness import age_problem, signature_identity, signing_time

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_the_trusted_timestamp_counts_unless_the_claim_is_earlier():
    ts, claimed = NOW - timedelta(days=3), NOW - timedelta(days=1)
    assert signing_time(claimed, ts, "CN=TSA").source == "timestamp"
    assert signing_time(NOW - timedelta(days=9), ts).source == "claimed"  # timestamped anew
    assert signing_time(claimed, None).source == "claimed"
    assert signing_time(None, None).at is None


@pytest.mark.parametrize("days, refused", [(29, False), (30, False), (31, True), (400, True)])
def test_age_against_max_age_days(days, refused):
    why = age_problem(signing_time(NOW - timedelta(days=days), None), NOW, 30)
    assert (why is not None) == refused
    if refused:
        assert f"signed {days} days ago" in why and "freshly signed slip" in why
    assert age_problem(signing_time(NOW - timedelta(days=30, minutes=1), None), NOW, 30)


def test_no_time_and_a_future_time_are_refused():
    assert "states no signing time" in age_problem(signing_time(None, None), NOW, 30)
    assert age_problem(signing_time(NOW + timedelta(hours=20), None), NOW, 30) is None  # skew
    assert "in the future" in age_problem(signing_time(NOW + timedelta(days=2), None), NOW, 30)


def test_identity_is_what_was_signed():
    data = b"A" * 10 + b"<sig>" + b"B" * 10
    one = signature_identity("Sig1", data, (0, 10, 15, 10), b"value")
    assert one == signature_identity("Sig1", data + b"appended", (0, 10, 15, 10), b"value")
    assert one.signed_digest != signature_identity("Sig1", b"C" + data[1:], (0, 10, 15, 10),
                                                   b"value").signed_digest


@pytest.mark.parametrize("value", [0, -1, 5000])
def test_max_age_days_is_checked(value):
    with pytest.raises(ConfigError, match="signatures.max_age_days"):
        parse_config({"signatures": {"max_age_days": value}})
    assert parse_config({"signatures": {"max_age_days": 60}}).signatures.max_age_days == 60
