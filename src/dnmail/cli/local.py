"""`dnmail local …` (the throw-away slapd of the demo, tests and CI) and `dnmail deploy
render` (the same configuration for a production server). Both run dnmail.local."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from dnmail.cli.common import state
from dnmail.i18n import _
from dnmail.local import defaults

app = typer.Typer(
    help=_(
        "A throw-away OpenLDAP server with dnmail's configuration, for trials, demos and "
        "tests."
    ),
    no_args_is_help=True,
)
deploy_app = typer.Typer(
    help=_("Configuration files for a production directory server."), no_args_is_help=True
)


def register(main: typer.Typer) -> None:
    main.add_typer(app, name="local")
    main.add_typer(deploy_app, name="deploy")


_DIR_HELP = _(
    "Working directory of the server (configuration, data, log, passwords); "
    "default: slapd/ in dnmail's user data directory."
)


_TLS_CERT_HELP = _("Server certificate (PEM); with the other two --tls-* options.")
_TLS_KEY_HELP = _("Server private key (PEM); with the other two --tls-* options.")
_TLS_CA_HELP = _("CA certificate(s) (PEM); with the other two --tls-* options.")


def _dir_option() -> Path | None:
    return typer.Option(None, "--dir", file_okay=False, help=_DIR_HELP)


def _tls_option(flag: str, help: str) -> Path | None:
    return typer.Option(None, flag, dir_okay=False, help=help)


def _suffix_option() -> str:
    return typer.Option(
        defaults.DEFAULT_SUFFIX, "--suffix", help=_("Base DN of the directory (dc=…).")
    )


def _db_max_size_option() -> int:
    return typer.Option(
        defaults.DEFAULT_DB_MAX_SIZE,
        "--db-max-size",
        min=1,
        help=_("olcDbMaxSize in bytes: the memory map's limit, not space used."),
    )


def _layout_option(default: str | None = "by-unit") -> str | None:
    if default:
        help = _(
            "by-unit (a branch per unit) or flat (every mailbox under ou=people; unit "
            "officers' rights follow --unit-attribute). Use the layout of directory.layout."
        )
    else:
        help = _(
            "by-unit (a branch per unit) or flat (every mailbox under ou=people; unit "
            "officers' rights follow --unit-attribute). Use the layout of "
            "directory.layout; default by-unit, or the one DIR was built with."
        )
    return typer.Option(default, "--layout", help=help)


def _unit_attribute_option() -> str:
    return typer.Option(
        "", "--unit-attribute",
        help=_("The attribute naming a mailbox's unit (directory.unit_attribute); "
        "flat layout default: departmentNumber."),
    )


def _layout(kind: str | None, unit_attribute: str, people_dn: str = ""):
    from dnmail.errors import BadInput
    from dnmail.local.render import DirectoryLayout

    if kind is None:
        if unit_attribute:
            raise BadInput(_("--unit-attribute goes with --layout"))
        return None

    try:
        return DirectoryLayout(kind=kind, unit_attribute=unit_attribute, people_dn=people_dn)
    except ValueError as e:
        raise BadInput(str(e)) from None


def _workdir(directory: Path | None) -> Path:
    if directory is not None:
        return directory.resolve()
    from dnmail.config import user_data_dir

    return user_data_dir() / "slapd"


def _tls_files(cert: Path | None, key: Path | None, ca: Path | None):
    """The TLS files given, or None; some without the others is bad usage."""
    from dnmail.errors import BadInput
    from dnmail.local.render import TlsFiles

    given = [p for p in (cert, key, ca) if p is not None]
    if not given:
        return None
    if len(given) < 3:
        raise BadInput(_("--tls-cert, --tls-key and --tls-ca go together"))
    assert cert is not None and key is not None and ca is not None
    return TlsFiles(cert=cert, key=key, ca=ca)


@app.command("start", help=_(
    "Build (the first time) and start a throw-away slapd; print shell export lines.\n\n"
    'Use it as eval "$(dnmail local start --dir DIR)": the lines export '
    "DNMAIL_TEST_LDAP_URL, DNMAIL_BIND_DN, DNMAIL_BIND_PASSWORD and the other "
    "DNMAIL_TEST_* values (with --format json, one JSON object of the same names). The "
    "server keeps running after the command returns; a second start on a running DIR "
    "reuses it, and a stopped DIR restarts with its data and passwords."
))
def start(
    ctx: typer.Context,
    directory: Path | None = _dir_option(),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535,
        help=_("ldap:// port on 127.0.0.1 (default: a free one)."),
    ),
    tls_port: int | None = typer.Option(
        None,
        "--tls-port",
        min=1,
        max=65535,
        help=_("ldaps:// port with --tls-* (default: a free one)."),
    ),
    tls_cert: Path | None = _tls_option("--tls-cert", _TLS_CERT_HELP),
    tls_key: Path | None = _tls_option("--tls-key", _TLS_KEY_HELP),
    tls_ca: Path | None = _tls_option("--tls-ca", _TLS_CA_HELP),
    suffix: str = _suffix_option(),
    db_max_size: int = _db_max_size_option(),
    sync: bool = typer.Option(
        False, "--sync", help=_("Keep fsync on, as production does (four times slower writes).")
    ),
    timeout: float = typer.Option(
        10.0, "--timeout", min=0.1, help=_("Seconds to wait for the server to answer a bind.")
    ),
    layout: str | None = _layout_option(None),
    unit_attribute: str = _unit_attribute_option(),
) -> None:
    """Build (the first time) and start a throw-away slapd; print shell export lines.

    Use it as eval "$(dnmail local start --dir DIR)": the lines export
    DNMAIL_TEST_LDAP_URL, DNMAIL_BIND_DN, DNMAIL_BIND_PASSWORD and the other
    DNMAIL_TEST_* values (with --format json, one JSON object of the same names).
    The server keeps running after the command returns; a second start on a running
    DIR reuses it, and a stopped DIR restarts with its data and passwords.
    """
    from dnmail.local.slapd import start_detached

    out = state(ctx).output
    started = start_detached(
        _workdir(directory),
        port=port,
        tls=_tls_files(tls_cert, tls_key, tls_ca),
        tls_port=tls_port,
        suffix=suffix,
        db_max_size=db_max_size,
        nosync=not sync,
        timeout=timeout,
        layout=_layout(layout, unit_attribute),
    )
    info = started.info
    if started.reused:
        out.info(_("slapd already running from {dir} (pid {pid}); reusing it").format(
            dir=info.workdir, pid=info.pid
        ))
    else:
        out.info(_("slapd started from {dir} (pid {pid}) on {url}").format(
            dir=info.workdir, pid=info.pid, url=info.url
        ))
    if out.format == "json":
        out.data(info.env())
    else:
        sys.stdout.write(info.shell_exports())


@app.command("stop", help=_("Stop the throw-away slapd of DIR (nothing to do when none runs)."))
def stop(ctx: typer.Context, directory: Path | None = _dir_option()) -> None:
    """Stop the throw-away slapd of DIR (nothing to do when none runs)."""
    from dnmail.local.slapd import stop_detached

    workdir = _workdir(directory)
    pid = stop_detached(workdir)
    out = state(ctx).output
    if pid is None:
        out.info(_("no slapd running from {dir}").format(dir=workdir))
    else:
        out.info(_("slapd (pid {pid}) stopped").format(pid=pid))
    if out.format == "json":
        out.data({"dir": workdir, "stopped_pid": pid})


@app.command("status", help=_(
    "Say whether the throw-away slapd of DIR runs, and where: exit 0 if it does, 1 if not."
))
def status(ctx: typer.Context, directory: Path | None = _dir_option()) -> None:
    """Say whether the throw-away slapd of DIR runs, and where: exit 0 if it does, 1 if not."""
    from dnmail.local.slapd import status as server_status

    now = server_status(_workdir(directory))
    out = state(ctx).output
    info = now.info
    if out.format == "json":
        out.data(
            {
                "dir": now.workdir,
                "running": now.pid is not None,
                "pid": now.pid,
                "url": info.url if info else None,
                "ldaps_url": info.ldaps_url if info else None,
            }
        )
    elif now.pid is None:
        out.info(_("no slapd running from {dir}").format(dir=now.workdir))
    else:
        if info is None:
            line = _("slapd running from {dir} (pid {pid})")
        elif info.ldaps_url:
            line = _("slapd running from {dir} (pid {pid}) on {url} and {ldaps_url}")
        else:
            line = _("slapd running from {dir} (pid {pid}) on {url}")
        url, ldaps_url = (info.url, info.ldaps_url) if info else ("", "")
        text = line.format(dir=now.workdir, pid=now.pid, url=url, ldaps_url=ldaps_url)
        sys.stdout.write(text + "\n")
    if now.pid is None:
        raise typer.Exit(1)


@deploy_app.command("render", help=_(
    "Render the slapd configuration of a production server into OUT.\n\nWrites "
    "config.ldif, ppolicy-module.ldif, dnmail.ldif, tls.ldif (with --tls-*) and base.ldif, "
    "mode 0600, with production values (fsync on, stats logging, Debian's paths), and "
    "secrets.json with the three passwords: from DNMAIL_ROOT_PASSWORD, "
    "DNMAIL_SERVICE_PASSWORD and DNMAIL_MAILAUTH_PASSWORD, else generated. Prints the "
    "files written; deploy/slapd/README.md says how to load them."
))
def render(
    ctx: typer.Context,
    out_dir: Path = typer.Option(
        ..., "--out", file_okay=False,
        help=_("Directory for the LDIF files and secrets.json (0600)."),
    ),
    suffix: str = _suffix_option(),
    db_dir: Path = typer.Option(
        defaults.PRODUCTION_DB_DIR,
        "--db-dir",
        help=_("olcDbDirectory: where the server keeps its data."),
    ),
    run_dir: Path = typer.Option(
        defaults.PRODUCTION_RUN_DIR, "--run-dir",
        help=_("Where slapd writes its pid and args files."),
    ),
    db_max_size: int = _db_max_size_option(),
    module_dn: str = typer.Option(
        defaults.DEFAULT_MODULE_DN, "--module-dn", help=_("The server's module list entry.")
    ),
    database_dn: str = typer.Option(
        defaults.DEFAULT_DATABASE_DN, "--database-dn", help=_("The server's mdb database entry.")
    ),
    tls_cert: Path | None = _tls_option("--tls-cert", _(
        "Server certificate as slapd will read it (PEM); with the other two --tls-* options."
    )),
    tls_key: Path | None = _tls_option("--tls-key", _TLS_KEY_HELP),
    tls_ca: Path | None = _tls_option("--tls-ca", _TLS_CA_HELP),
    layout: str | None = _layout_option(),
    unit_attribute: str = _unit_attribute_option(),
    people_dn: str = typer.Option(
        "", "--people-dn",
        help=_("The mailboxes' branch (directory.people_dn); default ou=people,SUFFIX."),
    ),
) -> None:
    """Render the slapd configuration of a production server into OUT.

    Writes config.ldif, ppolicy-module.ldif, dnmail.ldif, tls.ldif (with --tls-*) and
    base.ldif, mode 0600, with production values (fsync on, stats logging, Debian's
    paths), and secrets.json with the three passwords: from DNMAIL_ROOT_PASSWORD,
    DNMAIL_SERVICE_PASSWORD and DNMAIL_MAILAUTH_PASSWORD, else generated. Prints the
    files written; deploy/slapd/README.md says how to load them.
    """
    from dnmail.local.openldap import Toolchain
    from dnmail.local.render import ProductionSettings, render_for_production

    tools = Toolchain.from_env()
    settings = ProductionSettings(
        suffix=suffix,
        db_dir=db_dir,
        run_dir=run_dir,
        db_max_size=db_max_size,
        module_dn=module_dn,
        database_dn=database_dn,
        module_dir=tools.module_dir,
        schema_dir=tools.schema_dir,
        tls=_tls_files(tls_cert, tls_key, tls_ca),
        layout=_layout(layout, unit_attribute, people_dn),
    )
    done = render_for_production(out_dir, settings)
    out = state(ctx).output
    for who, given in done.from_environment.items():
        if given:
            out.info(_("{who} password: from the environment").format(who=who))
        else:
            out.info(_("{who} password: generated").format(who=who))
    if out.format == "json":
        out.data({"files": done.files, "secrets": done.secrets_file})
    else:
        sys.stdout.write("".join(f"{path}\n" for path in done.files))
