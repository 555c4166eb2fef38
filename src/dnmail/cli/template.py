"""`dnmail template slip`: the blank request slip (Phụ lục II) a unit fills in."""

from __future__ import annotations

from pathlib import Path

import typer

from dnmail.cli.common import state
from dnmail.i18n import _, ngettext

app = typer.Typer(help=_("Blank forms: the request slip (Phụ lục II)."), no_args_is_help=True)


@app.command("slip", help=_(
    "Write a blank Phụ lục II request slip (.xlsx) that `request import` reads "
    "back.\n\nThe phone column is formatted as Text (Excel keeps the leading 0) and "
    "'Nội dung yêu cầu' offers Cấp mới / Thay đổi / Hủy bỏ. Sign the filled slip as a "
    "PDF (docs/signed-slips.md), or import the workbook itself with --unit."
))
def slip(
    ctx: typer.Context,
    output: Path = typer.Option(
        ..., "--output", "-o", dir_okay=False, help=_("The Excel workbook to write (.xlsx).")
    ),
    rows: int = typer.Option(10, "--rows", min=1, max=10_000, help=_("Numbered table rows.")),
    force: bool = typer.Option(False, "--force", help=_("Replace the file if it exists.")),
) -> None:
    """Write a blank Phụ lục II request slip (.xlsx) that `request import` reads back.

    The phone column is formatted as Text (Excel keeps the leading 0) and 'Nội dung
    yêu cầu' offers Cấp mới / Thay đổi / Hủy bỏ. Sign the filled slip as a PDF
    (docs/signed-slips.md), or import the workbook itself with --unit.
    """
    from dnmail.errors import BadInput, Refused
    from dnmail.exports.slip_template import write_slip_template

    if output.suffix.lower() != ".xlsx":
        raise BadInput(
            _("{file}: the template is an Excel workbook; name it FILE.xlsx").format(file=output)
        )
    if output.exists() and not force:
        raise Refused(_("{file} exists already; pass --force to replace it").format(file=output))
    try:
        write_slip_template(output, rows=rows)
    except OSError as exc:
        raise BadInput(_("{file}: cannot be written ({reason})").format(
            file=output, reason=exc.strerror or exc
        )) from None
    st = state(ctx)
    st.output.data(
        {"file": str(output), "rows": rows},
        summary=ngettext(
            "blank slip written to {file} ({n} row)", "blank slip written to {file} ({n} rows)",
            rows,
        ).format(file=output, n=rows),
    )
