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
    p = subprocess.run(
        [sys.executable, "-m", "dnmail", "--version"], capture_output=True, text=True
    )
    assert p.returncode == 0 and p.stdout.startswith("dnmail ")
    p = subprocess.run(
        [sys.executable, "-m", "dnmail", "no-such-command"], capture_output=True, text=True
    )
    assert p.returncode == 2


def test_a_command_loads_its_own_module_only():
    """`dnmail queue list` builds the queue group alone: no other command module."""
    mods = loaded_after(["queue", "list", "--help"])
    commands = sorted(
        m
        for m in mods
        if m.startswith("dnmail.cli.")
        and m.removeprefix("dnmail.cli.") not in ("main", "common", "render", "params", "toolkit")
    )
    assert commands == ["dnmail.cli.requests"]


def test_queue_list_on_sqlite_loads_no_postgresql(tmp_path):
    from conftest import write_config
    from dnmail.db import migrate
    from dnmail.db.session import make_engine

    url = f"sqlite:///{tmp_path / 'dnmail.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    config = write_config(tmp_path / "config.toml", db_url=url)
    mods = loaded_after(["--config", str(config), "queue", "list"])
    assert "dnmail.services.queue" in mods  # it did list
    # Plain rows from the tables: neither the mapped classes nor the services that write.
    assert "dnmail.db.models" not in mods and "dnmail.services.requests" not in mods
    postgres = sorted(
        m for m in mods if m.startswith(("sqlalchemy.dialects.postgresql", "psycopg"))
    )
    assert postgres == []


def test_the_parts_are_the_whole_app():
    import typer

    from dnmail.cli import main

    whole = typer.main.get_command(main.build())
    assert sorted(p[0] for p in main.PARTS) == sorted(whole.commands)
    for name, _module, _group in main.PARTS:
        alone = typer.main.get_command(main.build(["-q", name, "x"])).commands
        assert name in alone and set(alone) < set(whole.commands)


def test_the_global_options_are_known_to_the_command_finder():
    """A global option missing from VALUED_OPTIONS/FLAG_OPTIONS would make every
    command line that uses it build the whole app (right, but slow)."""
    import typer

    from dnmail.cli import main

    root = typer.main.get_command(main.build([]))
    names = {n for p in root.params for n in (*p.opts, *p.secondary_opts)}
    takes_value = {n for p in root.params if not getattr(p, "is_flag", False) for n in p.opts}
    assert names - {"--help", "-h", "--version"} == main.VALUED_OPTIONS | main.FLAG_OPTIONS
    assert takes_value == main.VALUED_OPTIONS
    assert (
        main.command_named(["--config", "x.toml", "-q", "--format=json", "queue", "list"])
        == "queue"
    )
    assert main.command_named(["-qv", "queue"]) is None  # not understood: the whole app
    assert main.command_named(["--help", "queue"]) is None
