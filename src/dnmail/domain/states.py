"""States of requests, mailboxes and staff, and the transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum


class RequestKind(StrEnum):
    CREATE = "create"  # cấp mới
    CHANGE = "change"  # thay đổi
    CANCEL = "cancel"  # hủy bỏ

    @property
    def label_vi(self) -> str:
        return {"create": "Cấp mới", "change": "Thay đổi", "cancel": "Hủy bỏ"}[self.value]


class RequestState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    REJECTED = "rejected"
    FAILED = "failed"  # retryable; attempts are counted
    WITHDRAWN = "withdrawn"

    @property
    def label_vi(self) -> str:
        return {
            "pending": "Chờ cấp",
            "done": "Đã xử lý",
            "rejected": "Từ chối",
            "failed": "Lỗi, chờ thử lại",
            "withdrawn": "Đã rút",
        }[self.value]


#: States in which a request still waits for IID (it may be picked up by `provision`).
OPEN_REQUEST_STATES = (RequestState.PENDING, RequestState.FAILED)

_REQUEST_TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    RequestState.PENDING: frozenset(
        {RequestState.DONE, RequestState.REJECTED, RequestState.FAILED, RequestState.WITHDRAWN}
    ),
    RequestState.FAILED: frozenset(
        {RequestState.DONE, RequestState.REJECTED, RequestState.FAILED, RequestState.WITHDRAWN}
    ),
    RequestState.DONE: frozenset(),
    RequestState.REJECTED: frozenset(),
    RequestState.WITHDRAWN: frozenset(),
}


def can_transition(current: RequestState | str, new: RequestState | str) -> bool:
    return RequestState(new) in _REQUEST_TRANSITIONS[RequestState(current)]


class MailboxState(StrEnum):
    ACTIVE = "active"
    LOCKED = "locked"

    @property
    def label_vi(self) -> str:
        return {"active": "Đã cấp email", "locked": "Đã khóa"}[self.value]


class LockReason(StrEnum):
    RETIRED = "retired"  # nghỉ hưu
    RESIGNED = "resigned"  # thôi việc
    TRANSFERRED = "transferred"  # chuyển công tác (left the city's administration)
    OTHER = "other"

    @property
    def label_vi(self) -> str:
        return {
            "retired": "Nghỉ hưu",
            "resigned": "Thôi việc",
            "transferred": "Chuyển công tác",
            "other": "Khác",
        }[self.value]


class HrStatus(StrEnum):
    ACTIVE = "active"  # Đang công tác
    TRANSFERRED = "transferred"  # Chuyển công tác: left the city's administration
    RETIRED = "retired"  # Nghỉ hưu
    RESIGNED = "resigned"  # Thôi việc

    @property
    def label_vi(self) -> str:
        return {
            "active": "Đang công tác",
            "transferred": "Chuyển công tác",
            "retired": "Nghỉ hưu",
            "resigned": "Thôi việc",
        }[self.value]

    @property
    def lock_reason(self) -> LockReason | None:
        """The lock reason an HR status implies, or None when the mailbox stays open."""
        return {
            "active": None,
            "transferred": LockReason.TRANSFERRED,
            "retired": LockReason.RETIRED,
            "resigned": LockReason.RESIGNED,
        }[self.value]
