"""`dnmail --help` stays fast: the heavy libraries load only inside the commands that
need them (STYLE: lazy heavy imports). Timing itself is measured in bench/, not here."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("sqlalchemy.orm", "openpyxl", "pyhanko", "pdfplumber", "ldap3", "alembic", "psycopg")


def loaded_after(argv: list[str]) -> set[str]:
    code = (
        "import sys, json\n"
        "from dnmail.cli.main import invoke\n"
        f"invoke({argv!r})\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return set(json.loads(p.stderr.strip().splitlines()[-1]))


def test_help_loads_no_heavy_library():
    for argv in (["--help"], ["request", "--help"], ["export", "issued", "--help"]):
        mods = loaded_after(argv)
        heavy = sorted(m for m in mods for h in HEAVY if m == h or m.startswith(h + "."))
        assert heavy == [], f"dnmail {' '.join(argv)} imported {heavy[:5]}"


def test_module_entry_point_and_version():
    p = subprocess.run([sys.executable, "-m", "dnmail", "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("dnmail ")
    p = subprocess.run([sys.executable, "-m", "dnmail", "no-such-command"], capture_output=True, text=True)
    assert p.returncode == 2
