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


class RequestFilter(StrEnum):
    """Which requests a list shows: the open ones (the queue), one state, or all."""

    OPEN = "open"  # OPEN_REQUEST_STATES
    PENDING = "pending"
    FAILED = "failed"
    DONE = "done"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    ALL = "all"

    @property
    def states(self) -> tuple[RequestState, ...] | None:
        """The states shown (None: every state)."""
        if self is RequestFilter.OPEN:
            return OPEN_REQUEST_STATES
        if self is RequestFilter.ALL:
            return None
        return (RequestState(self.value),)

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


# --- outcomes of one item of a batch ----------------------------------------------------


class ItemOutcome(StrEnum):
    """What `provision` did with one request."""

    DONE = "done"
    FAILED = "failed"  # the request stays open (failed, retried by the next run)
    WOULD_DO = "would-do"  # a dry run: what it would have done


class SlipOutcome(StrEnum):
    """What `request import` did with one slip file."""

    ACCEPTED = "accepted"
    REFUSED = "refused"
    WOULD_ACCEPT = "would-accept"  # a dry run

    @property
    def label_vi(self) -> str:
        return {"accepted": "Đã nhận", "refused": "Từ chối", "would-accept": "Sẽ nhận (thử)"}[
            self.value
        ]
