"""States of requests, mailboxes and staff, and the transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum

from dnmail.i18n import N_, later, translate


class Labelled(StrEnum):
    """An Enum whose members have a word for people: `label` in the interface's
    language, `label_vi` in Vietnamese whatever it is (documents a unit receives:
    exports, the slip template). Both come from the catalog (dnmail/i18n.py); the
    value stays the machine's code (JSON, database, audit)."""

    @property
    def label(self) -> str:
        return later(self._labels()[self.value])

    @property
    def label_vi(self) -> str:
        return translate(self._labels()[self.value], "vi")

    @property
    def word(self) -> str:
        """The member inside a sentence ("an open {kind} request"): its code in English,
        where messages have always said `create` or `pending`; its lower-case word in
        Vietnamese ("cấp mới", "chờ xử lý"), so that no English code shows there. The code
        is the message id (_WORDS)."""
        return later(self.value) if self.value in _WORDS else self.value

    @classmethod
    def _labels(cls) -> dict[str, str]:
        raise NotImplementedError


#: The codes that have a word inside a sentence (Labelled.word), marked for the catalog.
_WORDS = frozenset((
    N_("create"), N_("change"), N_("cancel"),
    N_("pending"), N_("done"), N_("rejected"), N_("failed"), N_("withdrawn"),
    N_("active"), N_("locked"),
    N_("retired"), N_("resigned"), N_("transferred"), N_("other"),
))


class RequestKind(Labelled):
    CREATE = "create"  # cấp mới
    CHANGE = "change"  # thay đổi
    CANCEL = "cancel"  # hủy bỏ

    @classmethod
    def _labels(cls) -> dict[str, str]:
        return {"create": N_("New mailbox"), "change": N_("Change"), "cancel": N_("Cancellation")}


class RequestState(Labelled):
    PENDING = "pending"
    DONE = "done"
    REJECTED = "rejected"
    FAILED = "failed"  # retryable; attempts are counted
    WITHDRAWN = "withdrawn"

    @classmethod
    def _labels(cls) -> dict[str, str]:
        return {
            "pending": N_("Pending"),
            "done": N_("Done"),
            "rejected": N_("Rejected"),
            "failed": N_("Failed, to be retried"),
            "withdrawn": N_("Withdrawn"),
        }


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


class MailboxState(Labelled):
    ACTIVE = "active"
    LOCKED = "locked"

    @classmethod
    def _labels(cls) -> dict[str, str]:
        return {"active": N_("Active"), "locked": N_("Locked")}


class LockReason(Labelled):
    RETIRED = "retired"  # nghỉ hưu
    RESIGNED = "resigned"  # thôi việc
    TRANSFERRED = "transferred"  # chuyển công tác (left the city's administration)
    OTHER = "other"

    @classmethod
    def _labels(cls) -> dict[str, str]:
        return {
            "retired": N_("Retired"),
            "resigned": N_("Resigned"),
            "transferred": N_("Transferred out"),
            "other": N_("Other"),
        }


class HrStatus(Labelled):
    ACTIVE = "active"  # Đang công tác
    TRANSFERRED = "transferred"  # Chuyển công tác: left the city's administration
    RETIRED = "retired"  # Nghỉ hưu
    RESIGNED = "resigned"  # Thôi việc

    @classmethod
    def _labels(cls) -> dict[str, str]:
        return {
            "active": N_("In service"),
            "transferred": N_("Transferred out"),
            "retired": N_("Retired"),
            "resigned": N_("Resigned"),
        }

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


class ItemOutcome(Labelled):
    """What `provision` did with one request."""

    DONE = "done"
    FAILED = "failed"  # the request stays open (failed, retried by the next run)
    WOULD_DO = "would-do"  # a dry run: what it would have done

    @classmethod
    def _labels(cls) -> dict[str, str]:
        return {"done": N_("Done"), "failed": N_("Failed"), "would-do": N_("Would do (dry run)")}


class SlipOutcome(Labelled):
    """What `request import` did with one slip file."""

    ACCEPTED = "accepted"
    REFUSED = "refused"
    WOULD_ACCEPT = "would-accept"  # a dry run

    @classmethod
    def _labels(cls) -> dict[str, str]:
        return {
            "accepted": N_("Accepted"),
            "refused": N_("Refused"),
            "would-accept": N_("Would accept (dry run)"),
        }
