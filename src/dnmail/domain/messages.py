"""Messages that are kept and shown later, in whichever language is asked then.

A request's failure reason is written into the database (`requests.last_error`) by the
run that failed it and read by `queue list` — maybe in the other language — and by the
`Chờ cấp` export, which is always Vietnamese. So the database keeps the message's
English id and its values (`stored`), never a translated text, and each reader
translates it (`shown`): the database is the same whatever language the run spoke
(docs/translations.md).

`message(N_("…{x}…"), x=…)` is a `str` in the interface's language, like `_()`, that
also remembers its id and values; `joined` puts several together. A value that is itself
a `Message` (a state word: `label_of`) is kept the same way; any other value is kept as
it is (a server's own diagnostic, a name).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

from dnmail.i18n import translate

#: The key that tells a stored message from a plain text (a reason typed by a person).
_KEY = "msgid"


class Message(str):
    """A message in the interface's language that remembers how it was made."""

    msgid: str | None
    args: dict[str, object]
    parts: tuple[object, ...]
    sep: str

    def __new__(
        cls,
        text: str = "",
        msgid: str | None = None,
        args: Mapping[str, object] | None = None,
        parts: Iterable[object] = (),
        sep: str = "",
    ) -> Message:
        self = super().__new__(cls, text)
        self.msgid = msgid
        self.args = dict(args or {})
        self.parts = tuple(parts)
        self.sep = sep
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # across the workers' queue
        return (Message, (str(self), self.msgid, self.args, self.parts, self.sep))

    def in_language(self, language: str) -> str:
        """The same message in `language` ("vi" or "en")."""
        return _render(self.document(), language)

    def document(self) -> object:
        """The JSON-able form kept in the database."""
        if self.msgid is None:
            return {"join": self.sep, "parts": [_doc(p) for p in self.parts]}
        return {_KEY: self.msgid, "args": {k: _doc(v) for k, v in self.args.items()}}


def message(msgid: str, /, **args: object) -> Message:
    """`msgid` (an English text marked with `N_`) translated and formatted with `args`."""
    from dnmail.i18n import language

    doc = {_KEY: msgid, "args": {k: _doc(v) for k, v in args.items()}}
    return Message(_render(doc, language()), msgid, args)


def joined(parts: Iterable[object], sep: str = "; ") -> Message:
    """Several messages (or texts) one after the other, `sep` between them."""
    from dnmail.i18n import language

    parts = tuple(parts)
    doc = {"join": sep, "parts": [_doc(p) for p in parts]}
    return Message(_render(doc, language()), None, None, parts, sep)


def label_of(member: Enum) -> Message:
    """The word for a state or reason (`domain/states.py`), kept as its message."""
    labels = type(member)._labels()  # type: ignore[attr-defined]
    return message(labels[member.value])


def stored(text: str | None) -> str | None:
    """What the database keeps of `text`: a `Message` as JSON, any other text as is."""
    if isinstance(text, Message):
        return json.dumps(text.document(), ensure_ascii=False, sort_keys=True)
    return text


def shown(value: str | None, language: str | None = None) -> str | None:
    """A stored text in `language` (default: the interface's): a stored message is
    translated; a plain text (older rows, a person's words) is shown as it is."""
    if not value or not value.startswith("{"):
        return value
    try:
        doc = json.loads(value)
    except ValueError:
        return value
    if not isinstance(doc, dict) or not (_KEY in doc or "join" in doc):
        return value
    if language is None:
        from dnmail.i18n import language as current

        language = current()
    try:
        return _render(doc, language)
    except (KeyError, IndexError, TypeError, ValueError):
        return value


def _doc(value: object) -> object:
    if isinstance(value, Message):
        return value.document()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _render(doc: object, language: str) -> str:
    if isinstance(doc, dict) and _KEY in doc:
        args = {
            k: _render(v, language) if isinstance(v, dict) else v
            for k, v in doc.get("args", {}).items()
        }
        return translate(doc[_KEY], language).format(**args)
    if isinstance(doc, dict) and "join" in doc:
        return str(doc["join"]).join(_render(p, language) for p in doc.get("parts", []))
    return "" if doc is None else str(doc)


def english(text: str) -> str:
    """`text` in English when it is a `Message` (the audit trail's words), else as is."""
    return text.in_language("en") if isinstance(text, Message) else text
