"""One language at a time, Vietnamese by default (issue 13 §1): --lang > $DNMAIL_LANG >
[interface] language > vi, decided before Typer builds the help; nothing but the words
changes (exit codes, JSON)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dnmail import i18n


def dnmail(
    args: list[str], *, env: dict[str, str] | None = None, lang: str | None = None, cwd=None
):
    e = {k: v for k, v in os.environ.items() if k not in ("DNMAIL_LANG", "DNMAIL_CONFIG")}
    if lang is not None:
        e["DNMAIL_LANG"] = lang
    e.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "dnmail", *args],
        capture_output=True,
        text=True,
        env=e,
        timeout=60,
        cwd=cwd,
    )


def _config(tmp_path: Path, language: str) -> Path:
    tmp_path.mkdir(exist_ok=True)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite"}"\n'
        f'[interface]\nlanguage = "{language}"\n'
    )
    cfg.chmod(0o600)
    return cfg


def test_choose_follows_the_precedence(tmp_path):
    vi_cfg, en_cfg = _config(tmp_path / "a", "vi"), _config(tmp_path / "b", "en")
    none = {"DNMAIL_CONFIG_DIR": str(tmp_path / "nowhere")}
    assert i18n.choose([], none) == "vi"
    assert i18n.choose(["--config", str(en_cfg)], none) == "en"
    assert i18n.choose([f"--config={en_cfg}"], none) == "en"
    assert i18n.choose(["-c", str(en_cfg), "queue", "list"], none) == "en"
    assert i18n.choose([], {"DNMAIL_CONFIG": str(en_cfg)}) == "en"
    assert i18n.choose(["--config", str(en_cfg)], {**none, "DNMAIL_LANG": "vi"}) == "vi"
    assert (
        i18n.choose(["--lang", "en", "--config", str(vi_cfg)], {**none, "DNMAIL_LANG": "vi"})
        == "en"
    )
    assert i18n.choose(["--lang=vi"], {**none, "DNMAIL_LANG": "en"}) == "vi"
    # after the command, --lang is the command's own text, not the global option
    assert i18n.choose(["lock", "x", "--note", "--lang", "--lang", "en"], none) == "vi"
    # an unknown value counts as not said (the option's own check names it)
    assert i18n.choose([], {**none, "DNMAIL_LANG": "fr"}) == "vi"


def test_help_is_vietnamese_by_default_and_english_on_request():
    vi = dnmail(["--help"])
    assert vi.returncode == 0, vi.stderr
    assert "Quản lý hộp thư điện tử công vụ" in vi.stdout
    assert "Hiển thị trợ giúp này rồi thoát." in vi.stdout
    assert "Lifecycle of the official" not in vi.stdout
    for how in (["--lang", "en", "--help"], ["--help"]):
        en = dnmail(how, lang="en" if how == ["--help"] else "vi")
        assert en.returncode == 0, en.stderr
        assert "Lifecycle of the official @danang.gov.vn mailboxes" in en.stdout
        assert "Show this message and exit." in en.stdout


def test_configuration_chooses_and_bad_language_is_refused(tmp_path):
    cfg = _config(tmp_path, "en")
    p = dnmail(["--config", str(cfg), "--help"])
    assert "Lifecycle of the official" in p.stdout
    p = dnmail(["--lang", "fr", "unit", "list"])
    assert p.returncode == 2
    bad = _config(tmp_path / "x", "fr")
    p = dnmail(["--config", str(bad), "unit", "list"])
    assert p.returncode == 2
    assert "interface.language" in p.stderr


def test_only_the_words_change(tmp_path):
    """Exit codes and JSON are the machine's contract: the same in both languages."""
    cfg = _config(tmp_path, "vi")
    runs = {
        lang: dnmail(["--config", str(cfg), "--format", "json", "queue", "list"], lang=lang)
        for lang in ("vi", "en")
    }
    assert runs["vi"].returncode == runs["en"].returncode == 2  # not initialised
    assert runs["vi"].stdout == runs["en"].stdout
    assert runs["vi"].stderr.startswith("lỗi: ")
    assert runs["en"].stderr.startswith("error: ")


@pytest.mark.parametrize("lang,word", [("vi", "Chờ xử lý"), ("en", "Pending")])
def test_state_words_follow_the_language_codes_do_not(lang, word):
    from dnmail.domain.states import MailboxState, RequestState

    saved = i18n.language()
    try:
        i18n.set_language(lang)
        assert RequestState.PENDING.label == word
        assert RequestState.PENDING.value == "pending"
        assert MailboxState.LOCKED.label_vi == "Đã khóa"  # documents stay Vietnamese
        assert json.dumps(RequestState.PENDING) == '"pending"'
    finally:
        i18n.set_language(saved)
