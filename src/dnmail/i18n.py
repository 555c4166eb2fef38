"""The interface's language (issue 13 §1): Vietnamese by default, English on request.

Every human-facing string goes through `_()` (or `ngettext` where a count appears, or
`N_` where the text is defined before the language is known and translated where it
is shown). The message ids are the English texts; the catalogs are gettext's, under
`locale/{vi,en}/LC_MESSAGES/dnmail.{po,mo}`, extracted and compiled with Babel
(docs/translations.md). Only the `.mo` is read here, with the standard library, once,
on the first message: a command that prints nothing reads no catalog.

Which language: `--lang en|vi`, else `$DNMAIL_LANG`, else `[interface] language` of
the configuration file, else `vi` (`choose`). The CLI decides before its command
modules are imported, because Typer builds the help texts when they are.

Nothing else moves with the language: exit codes, JSON keys and state codes, file
formats and audit events are the machine's contract and stay as they are.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
ENV_LANG = "DNMAIL_LANG"
DOMAIN = "dnmail"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_language: str | None = None
_catalog: Any = None  # gettext.GNUTranslations of _language, read on first use


def set_language(language: str) -> None:
    """Use `language` ("vi" or "en") from now on; anything else is a ValueError."""
    global _language, _catalog
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r} (one of: {', '.join(LANGUAGES)})")
    if language != _language:
        _language, _catalog = language, None


def language() -> str:
    """The language in use: the one set, else the environment's choice, else vi."""
    if _language is None:
        set_language(_from_env() or DEFAULT_LANGUAGE)
    assert _language is not None
    return _language


def _from_env() -> str | None:
    value = os.environ.get(ENV_LANG, "").strip().lower()
    return value if value in LANGUAGES else None


def _translations() -> Any:
    global _catalog
    if _catalog is None:
        import gettext

        mo = LOCALE_DIR / language() / "LC_MESSAGES" / f"{DOMAIN}.mo"
        try:
            with open(mo, "rb") as f:
                _catalog = gettext.GNUTranslations(f)
        except OSError:  # a broken install: English, the message ids, rather than nothing
            _catalog = gettext.NullTranslations()
    return _catalog


def _(message: str) -> str:
    """`message` (an English message id) in the interface's language."""
    return _translations().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of `singular`/`plural` for the count `n` (Vietnamese has one form)."""
    return _translations().ngettext(singular, plural, n)


_others: dict[str, Any] = {}


def translate(message: str, language: str) -> str:
    """`message` in `language` whatever the interface's: for documents that are
    Vietnamese by nature (what a unit receives and files), read from the same catalog."""
    if language == _language:
        return _(message)
    if language not in _others:
        import gettext

        mo = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
        try:
            with open(mo, "rb") as f:
                _others[language] = gettext.GNUTranslations(f)
        except OSError:
            _others[language] = gettext.NullTranslations()
    return _others[language].gettext(message)


def N_(message: str) -> str:
    """Marks `message` for extraction without translating it (yet): for texts defined
    at import time, translated with `later()` where they are shown."""
    return message


def later(message: str) -> str:
    """A message marked with `N_` (a literal somewhere else), translated now."""
    return _translations().gettext(message)


# -- choosing the language before anything is built ----------------------------------

#: Global options that take a value (cli/main.py), to find the command in argv.
_VALUED = {"--config", "-c", "--format", "-f", "--as", "--lang"}


def choose(argv: list[str], environ: os._Environ[str] | dict[str, str] | None = None) -> str:
    """The language asked for by `argv` (the global options before the command),
    the environment, or the configuration file; `vi` when none says. An unknown
    value is left to the option's own check (--lang) or the config's (load_config),
    which name it; here it counts as not said."""
    env = os.environ if environ is None else environ
    given = _global_options(argv)
    lang = (given.get("--lang") or "").strip().lower()
    if lang in LANGUAGES:
        return lang
    lang = env.get(ENV_LANG, "").strip().lower()
    if lang in LANGUAGES:
        return lang
    lang = _from_config(given.get("--config") or given.get("-c"), env)
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def _global_options(argv: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-") or arg == "--":
            break  # the command: what follows is its own
        name, eq, value = arg.partition("=")
        if name in _VALUED:
            if not eq:
                i += 1
                value = argv[i] if i < len(argv) else ""
            found[name] = value
        elif arg.startswith("-c") and len(arg) > 2 and not arg.startswith("--"):
            found["-c"] = arg[2:]
        i += 1
    return found


def _from_config(explicit: str | None, env: os._Environ[str] | dict[str, str]) -> str:
    """`[interface] language` of the configuration file, read cheaply and without
    judging the file: load_config does that (ownership, mode, keys) when the command
    runs, and names what is wrong."""
    path: Path | None = None
    if explicit:
        path = Path(explicit)
    elif env.get("DNMAIL_CONFIG"):
        path = Path(env["DNMAIL_CONFIG"])
    elif env.get("DNMAIL_CONFIG_DIR"):  # config.user_config_dir, without importing
        path = Path(env["DNMAIL_CONFIG_DIR"]) / "config.toml"  # config.py (30 ms)
    else:
        from platformdirs import user_config_dir

        path = Path(user_config_dir("dnmail", appauthor=False)) / "config.toml"
    try:
        text = path.read_bytes()
    except OSError:
        return ""
    if b"interface" not in text:  # most files: no need to parse them twice
        return ""
    import tomllib

    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return ""
    section = data.get("interface")
    value = section.get("language") if isinstance(section, dict) else None
    return value.strip().lower() if isinstance(value, str) else ""
