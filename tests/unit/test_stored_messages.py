"""A failure reason is stored as its message id and values, shown in the reader's
language (domain/messages.py, docs/translations.md)."""

from __future__ import annotations

import pickle

from dnmail import i18n
from dnmail.domain.messages import Message, english, joined, label_of, message, shown, stored
from dnmail.domain.states import HrStatus
from dnmail.i18n import N_


def test_a_stored_reason_is_shown_in_either_language():
    reason = message(N_("requested address {local} is a reserved name"), local="admin")
    assert reason == "requested address admin is a reserved name"  # the suite runs in English
    kept = stored(reason)
    assert kept is not None and "admin" in kept and "reserved name" in kept
    assert shown(kept, "en") == "requested address admin is a reserved name"
    assert shown(kept, "vi") == "địa chỉ đề nghị admin là tên dành riêng"
    assert shown(kept) == "requested address admin is a reserved name"


def test_state_words_and_joined_parts_follow_the_language():
    status = message(
        N_("HR status is {status}; no mailbox is created"), status=label_of(HrStatus.RETIRED)
    )
    assert status == "HR status is Retired; no mailbox is created"
    assert shown(stored(status), "vi") == (
        "trạng thái hồ sơ nhân sự là Nghỉ hưu; không cấp mới hộp thư"
    )
    both = joined(
        [message(N_("moved from {old} to {new}"), old="snv", new="sgtvt"), "plain"]
    )
    assert both == "moved from snv to sgtvt; plain"
    assert shown(stored(both), "vi") == "đã chuyển từ snv sang sgtvt; plain"
    assert english(both) == "moved from snv to sgtvt; plain"


def test_plain_texts_are_kept_and_shown_as_they_are():
    for text in (None, "", "directory unreachable", "{not json", '{"reason": "a person typed"}'):
        assert stored(text) == text
        assert shown(text, "vi") == text


def test_a_message_crosses_the_workers_queue_whole():
    reason = message(N_("cannot create {address}: {error}"), address="a", error="b")
    back = pickle.loads(pickle.dumps(reason))
    assert isinstance(back, Message) and back == reason
    assert stored(back) == stored(reason)


def test_a_message_is_made_in_the_interface_language():
    try:
        i18n.set_language("vi")
        made = message(N_("created"))
        assert made == "đã cấp mới" and english(made) == "created"
    finally:
        i18n.set_language("en")
