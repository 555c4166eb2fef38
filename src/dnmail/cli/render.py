"""Output: rich tables on a terminal, JSON or CSV for scripts (DESIGN §4).

`--format json` prints exactly one JSON document on stdout; every message and progress
bar goes to stderr. Results are frozen dataclasses (domain/results.py): `to_data` walks
them for JSON, `row_of` makes a table row of one.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from dnmail.clock import LOCAL_TZ
from dnmail.domain.results import OMIT_NONE, SECRET
from dnmail.i18n import _, later, translate


@dataclass
class Output:
    format: str = "table"
    quiet: bool = False
    verbose: bool = False

    # -- stderr -------------------------------------------------------------------
    @property
    def err(self) -> Any:
        """A rich console on stderr (progress bars, colours on a terminal)."""
        from rich.console import Console

        if not hasattr(self, "_err"):
            self._err = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._err

    def say(self, message: str, style: str | None = None) -> None:
        """A line on stderr: coloured on a terminal, plain text otherwise (cron, pipes),
        without loading rich for it."""
        if sys.stderr.isatty():
            self.err.print(message, style=style, markup=False)
        else:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()

    def info(self, message: str) -> None:
        if not self.quiet:
            self.say(message)

    def warn(self, message: str) -> None:
        self.say(_("warning: {message}").format(message=message), "yellow")

    def error(self, message: str) -> None:
        self.say(_("error: {message}").format(message=message), "bold red")

    # -- stdout -------------------------------------------------------------------
    def data(
        self,
        payload: Any,
        *,
        columns: Sequence[tuple[str, str]] = (),
        rows: Sequence[Any] | None = None,
        title: str | None = None,
        summary: str | None = None,
        secrets: bool = False,
    ) -> None:
        """Render a result: `payload` for JSON, `rows` (dicts or results) × `columns`
        (key, header) for table and CSV. `summary` is a line for people (stderr in table
        mode). `secrets`: include the fields marked secret (a password shown once).

        A header is an English message id marked with `N_`: a table shows it in the
        interface's language, CSV in Vietnamese whatever the language (the header row
        scripts read stays as it was). A header equal to its key is a machine name and
        is shown as it is."""
        if self.format == "json":
            write_json(payload, sys.stdout.write, secrets=secrets)
            sys.stdout.write("\n")
            return
        if rows is not None:
            rows = [r if isinstance(r, Mapping) else row_of(r, secrets=secrets) for r in rows]
        if self.format == "csv":
            w = csv.writer(sys.stdout, lineterminator="\n")
            w.writerow([h if h == k else translate(h, "vi") for k, h in columns])
            for r in rows or []:
                w.writerow([_cell(r.get(k)) for k, _ in columns])
            return
        if rows is not None and columns:
            columns = [(k, h if h == k else later(h)) for k, h in columns]
            if rows and (len(rows) > PLAIN_ABOVE or not sys.stdout.isatty()):
                # Long lists, and output to a file or a pipe: plain aligned text. Rich
                # lays out every cell first, which costs seconds for 10,000 rows.
                _plain_table(rows, columns, title)
            elif rows:
                from rich.console import Console
                from rich.table import Table

                # On a terminal, a column empty in every row only takes room.
                shown = [(k, h) for k, h in columns if any(_cell(r.get(k)) for r in rows)]
                t = Table(title=title, show_lines=False, header_style="bold")
                for _key, h in shown:
                    t.add_column(h, overflow="fold")
                for r in rows:
                    t.add_row(*[_cell(r.get(k), labels=True) for k, _ in shown])
                Console(highlight=False).print(t)
            elif not self.quiet and not summary:
                self.info(_("{title}: nothing to show").format(title=title or _("list")))
        if summary and not self.quiet:
            self.say(summary)


PLAIN_ABOVE = 500


def _plain_table(
    rows: Sequence[dict], columns: Sequence[tuple[str, str]], title: str | None
) -> None:
    shown = [(k, h) for k, h in columns if any(_cell(r.get(k)) for r in rows)]
    cells = [[_cell(r.get(k), labels=True).replace("\n", " ") for k, _ in shown] for r in rows]
    widths = [
        min(60, max([len(h)] + [len(c[i]) for c in cells])) for i, (_, h) in enumerate(shown)
    ]
    out = []
    if title:
        out.append(title)
    out.append("  ".join(h.ljust(w) for (_, h), w in zip(shown, widths, strict=True)).rstrip())
    out.append("  ".join("-" * w for w in widths))
    for c in cells:
        out.append("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())
    sys.stdout.write("\n".join(out) + "\n")


def _cell(v: Any, *, labels: bool = False) -> str:
    """A value as text; with `labels` (tables, for people) an Enum shows its word in
    the interface's language (`pending` → `Chờ xử lý`), CSV keeps the code."""
    if v is None:
        return ""
    if isinstance(v, datetime):
        # People read Vietnam time (UTC+7, no daylight saving); JSON keeps UTC.
        if v.tzinfo is not None:
            v = v.astimezone(LOCAL_TZ)
        return v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, Enum):
        label = getattr(v, "label", None) if labels else None
        return label if isinstance(label, str) else str(v.value)
    if isinstance(v, list | tuple):
        return ", ".join(_cell(x, labels=labels) for x in v)
    return str(v)


def row_of(result: Any, *, secrets: bool = False) -> dict[str, Any]:
    """A result's fields (and its `json_extra()`) as a dict, values as they are: the
    row of a table, or the object of a JSON document once `to_data` has walked it."""
    out: dict[str, Any] = {}
    for f in fields(result):
        value = getattr(result, f.name)
        if f.metadata.get(SECRET) and not (secrets and value):
            continue
        if f.metadata.get(OMIT_NONE) and value is None:
            continue
        out[f.name] = value
    extra = getattr(result, "json_extra", None)
    if extra is not None:
        out.update(extra())
    return out


def to_data(value: Any, *, secrets: bool = False) -> Any:
    """`value` as plain JSON data: results walked field by field (`row_of`), Enums as
    their value, dates in ISO 8601, paths as text, NamedTuples as objects."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        value = row_of(value, secrets=secrets)
    elif isinstance(value, tuple) and hasattr(value, "_asdict"):
        value = value._asdict()
    if isinstance(value, Mapping):
        return {str(k): to_data(v, secrets=secrets) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_data(v, secrets=secrets) for v in value]
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(data: Any) -> str:
    """A JSON document of plain data (`to_data`)."""
    return json.dumps(data, ensure_ascii=False, indent=2)


#: Lists longer than this are written item by item (`write_json`).
STREAM_ABOVE = 1000


def write_json(value: Any, write, *, secrets: bool = False, pad: str = "") -> None:
    """`dumps(to_data(value))`, written piece by piece: a list of more than
    STREAM_ABOVE results (100,000 directory entries) is walked and written one item at
    a time, never held whole as plain data and text. The text is the same."""
    if is_dataclass(value) and not isinstance(value, type):
        value = row_of(value, secrets=secrets)
    if isinstance(value, Mapping) and any(_long(v) for v in value.values()):
        inner = pad + "  "
        write("{")
        for n, (k, v) in enumerate(value.items()):
            write(("," if n else "") + "\n" + inner + json.dumps(str(k), ensure_ascii=False) + ": ")
            write_json(v, write, secrets=secrets, pad=inner)
        write("\n" + pad + "}")
    elif _long(value):
        inner = pad + "  "
        write("[")
        for n, item in enumerate(value):
            text = dumps(to_data(item, secrets=secrets)).replace("\n", "\n" + inner)
            write(("," if n else "") + "\n" + inner + text)
        write("\n" + pad + "]")
    else:
        write(dumps(to_data(value, secrets=secrets)).replace("\n", "\n" + pad))


def _long(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) > STREAM_ABOVE
